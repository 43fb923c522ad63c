"""The indicator explorer: its controls drive what it computes (the batch indicators over the cache's bars),
on a simulator session run to a fixed event time with a simulated clock."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mdx
from mdx.errors import ConfigError
from mdx.ui.explorer import CHOICES, IndicatorExplorer, indicator_series, spec_string

S = 1_000_000_000
T0 = 1_700_000_000 * S


@pytest.fixture(scope="module")
def session() -> mdx.Session:
    sim = mdx.Simulator(("BTC/USDT", "ETH/USDT"), seed=3, start_ns=T0, history="6h")
    session = mdx.Session(sim, timeframes=("1m", "5m"), clock=mdx.SimulatedClock(T0))
    return session.run_until_done(until_ns=T0 + 30 * S)


def expected(session: mdx.Session, symbol: str, timeframe: str, spec: str, window: int = 300) -> pd.DataFrame:
    bars = mdx.bars_to_frame(session.cache.bars(("sim", symbol), timeframe, include_open=True, n=window))
    out = mdx.indicators.compute(bars.drop(columns="vwap") if spec == "vwap" else bars, spec)
    return out[[c for c in out.columns if c not in bars.columns or c == spec]]


def test_changing_a_widget_changes_the_computed_series(session: mdx.Session) -> None:
    explorer = IndicatorExplorer(session)
    explorer.refresh()
    assert explorer.spec == "ema:20" and list(explorer.series.columns) == ["ema_20"]
    pd.testing.assert_frame_equal(explorer.series, expected(session, "BTC/USDT", "1m", "ema:20"))
    before = explorer.series["ema_20"].copy()
    explorer.sliders["n"].value = 50  # the slider: another period
    assert list(explorer.series.columns) == ["ema_50"]
    assert not np.allclose(before.iloc[-5:], explorer.series["ema_50"].iloc[-5:])
    pd.testing.assert_frame_equal(explorer.series, expected(session, "BTC/USDT", "1m", "ema:50"))
    explorer.indicator.value = "macd"  # another indicator: its own sliders, its pane
    assert set(explorer.sliders) == {"fast", "slow", "signal"} and explorer.spec == "macd:12,26,9"
    assert explorer.series.shape[1] == 3 and explorer._pane_fig.layout.display is None
    explorer.sliders["fast"].value = 5
    pd.testing.assert_frame_equal(explorer.series, expected(session, "BTC/USDT", "1m", "macd:5,26,9"))
    explorer.timeframe.value = "5m"
    pd.testing.assert_frame_equal(explorer.series, expected(session, "BTC/USDT", "5m", "macd:5,26,9"))
    explorer.symbol.value = "ETH/USDT"
    eth = expected(session, "ETH/USDT", "5m", "macd:5,26,9")
    pd.testing.assert_frame_equal(explorer.series, eth)
    # the marks hold the defined values only (no NaN ever reaches bqplot)
    drawn = [line for line in explorer._panes if line.visible]
    assert len(drawn) == 3 and not np.isnan(drawn[0].y).any()
    assert len(drawn[0].y) == eth.iloc[:, 0].notna().sum()
    assert not explorer.refresh()  # nothing changed: nothing redrawn


def test_every_choice_computes_and_bad_settings_say_so(session: mdx.Session) -> None:
    explorer = IndicatorExplorer(session, indicator="bollinger")
    for name in CHOICES:
        explorer.indicator.value = name
        assert not explorer.series.empty and explorer.series.notna().any().all(), name
    explorer.indicator.value = "macd"
    explorer.sliders["fast"].value = 40  # fast >= slow: a ConfigError, shown, nothing drawn
    assert explorer.series.empty and "needs fast &lt; slow" in explorer.legend.value
    assert spec_string("bollinger", {"k": 2.5}) == "bollinger:20,2.5"
    with pytest.raises(ConfigError, match="no indicator"):
        spec_string("foo")
    with pytest.raises(ConfigError, match="no indicator"):
        IndicatorExplorer(session, indicator="foo")
    short = mdx.bars_to_frame(session.cache.bars(("sim", "BTC/USDT"), "1m", n=5))
    assert indicator_series(short, "rsi").empty  # too few bars: no rows yet
