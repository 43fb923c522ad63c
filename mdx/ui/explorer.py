"""``IndicatorExplorer``: pick a symbol, a timeframe, an indicator and its parameters; the charts redraw.

    session = mdx.Session(mdx.Simulator(("BTC/USDT", "ETH/USDT")), timeframes=("1m", "5m")).start()
    explorer = IndicatorExplorer(session, indicator="macd")
    explorer            # shows it (last expression of a cell)
    explorer.start()    # redraws from the cache at ``hz`` (<= 10) on the kernel's loop; returns at once
    explorer.stop()

The indicator is computed by the batch indicators (``mdx.analytics.spec``, as ``compute``) over the
last ``window`` bars of the cache (the open bar included): the explorer holds no maths of its own.
Indicators in price units (moving averages, Bollinger, VWAP) are drawn over the close; the others (RSI,
MACD, ATR, stochastic, ADX, OBV) in a pane below. Changing any control recomputes and redraws at once;
``series`` is what is drawn. Marks are created once and updated in place; warm-up rows (NaN) are left
out of the marks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..analytics.spec import parse
from ..errors import ConfigError, DataError
from ..market.bars import bars_to_frame
from . import theme
from .base import Panel, html, set_html, vbox
from .charts import figure, price_axis, set_ticks, time_axis, y_axis
from .data import EMPTY_F, EMPTY_T, to_datetime
from .refresh import Refresher
from .ticks import time_ticks, value_ticks

COLORS = (theme.EMA, theme.BOLLINGER, theme.VWAP)  # the outputs of one indicator, in order


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of an indicator and its slider."""

    name: str
    default: float
    low: float
    high: float
    step: float = 1.0

    @property
    def whole(self) -> bool:
        return float(self.step).is_integer() and float(self.default).is_integer()


@dataclass(frozen=True, slots=True)
class Choice:
    """An indicator the explorer offers: its spec name (``mdx.analytics.spec.SPECS``), its parameters in
    spec order, and whether it is drawn over the price (same units) or in the pane below."""

    spec: str
    label: str
    params: tuple[Param, ...] = ()
    overlay: bool = False


def _period(default: int, high: int = 200) -> tuple[Param, ...]:
    return (Param("n", default, 2, high),)


CHOICES: dict[str, Choice] = {
    "ema": Choice("ema", "EMA", _period(20), overlay=True),
    "sma": Choice("sma", "SMA", _period(20), overlay=True),
    "wma": Choice("wma", "WMA", _period(20), overlay=True),
    "bollinger": Choice(
        "bollinger", "Bollinger", (Param("n", 20, 2, 200), Param("k", 2.0, 0.5, 4.0, 0.25)), overlay=True
    ),
    "vwap": Choice("vwap", "VWAP (per UTC day)", overlay=True),
    "rsi": Choice("rsi", "RSI", _period(14, 100)),
    "macd": Choice(
        "macd", "MACD", (Param("fast", 12, 2, 50), Param("slow", 26, 3, 100), Param("signal", 9, 2, 50))
    ),
    "atr": Choice("atr", "ATR", _period(14, 100)),
    "stoch": Choice(
        "stoch", "Stochastic", (Param("fastk", 14, 2, 99), Param("slowk", 3, 1, 20), Param("slowd", 3, 1, 20))
    ),
    "adx": Choice("adx", "ADX", _period(14, 100)),
    "obv": Choice("obv", "OBV"),
}


def choice(name: str) -> Choice:
    """The explorer's entry for ``name``; ``ConfigError`` naming the known ones."""
    found = CHOICES.get(name)
    if found is None:
        raise ConfigError(f"the explorer has no indicator {name!r}; known: {', '.join(CHOICES)}")
    return found


def spec_string(name: str, values: Mapping[str, float] | None = None) -> str:
    """The spec string (``"macd:12,26,9"``) of indicator ``name`` with ``values`` (defaults elsewhere)."""
    entry = choice(name)
    given = dict(values or {})
    parts = []
    for p in entry.params:
        value = given.get(p.name, p.default)
        parts.append(str(int(value)) if p.whole else f"{float(value):g}")
    return entry.spec + (":" + ",".join(parts) if parts else "")


def indicator_series(
    bars: pd.DataFrame, name: str, values: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """The output columns of indicator ``name`` over ``bars`` (the batch indicator ``spec_string`` names,
    as ``compute`` adds them); no rows while the bars are fewer than one output needs."""
    indicator = parse(spec_string(name, values))
    try:
        out = indicator.batch(bars)
    except DataError:
        return pd.DataFrame(index=bars.index[:0])
    return out.to_frame() if isinstance(out, pd.Series) else out


class IndicatorExplorer(Panel):
    """Widgets for symbol, timeframe, indicator and parameters over two charts (see the module docstring)."""

    def __init__(
        self,
        session: Any,
        *,
        symbols: Sequence[str] | None = None,
        timeframes: Sequence[str] | None = None,
        indicator: str = "ema",
        window: int = 300,
        hz: float = 2.0,
    ) -> None:
        choice(indicator)
        self.session = session
        self.window = window
        symbols = tuple(symbols or session.symbols)
        timeframes = tuple(timeframes or session.timeframes)
        if not symbols or not timeframes:
            raise ConfigError("the explorer needs at least one symbol and one timeframe")
        self.symbol = widgets.Dropdown(options=symbols, description="symbol")
        self.timeframe = widgets.Dropdown(options=timeframes, description="timeframe")
        self.indicator = widgets.Dropdown(
            options=[(c.label, name) for name, c in CHOICES.items()], value=indicator, description="indicator"
        )
        self.sliders: dict[str, widgets.IntSlider | widgets.FloatSlider] = {}
        self._params = widgets.HBox()
        self._params.add_class("mdx-controls")
        self.legend = html("mdx-legend mdx-explorer-legend")
        self.series = pd.DataFrame()
        self._drawn: tuple[Any, ...] = ()
        self._build_charts()
        controls = widgets.HBox([self.symbol, self.timeframe, self.indicator])
        controls.add_class("mdx-controls")
        self.widget = vbox("mdx-card mdx-explorer", controls, self._params, self.legend, self._price_fig,
                           self._pane_fig)  # fmt: skip
        self._make_sliders()
        for control in (self.symbol, self.timeframe):
            control.observe(self._changed, "value")
        self.indicator.observe(self._indicator_changed, "value")
        self._refresher = Refresher(self.refresh, hz)

    # -- controls --------------------------------------------------------------------------------------------

    def _make_sliders(self) -> None:
        self.sliders = {}
        for p in choice(self.indicator.value).params:
            kind = widgets.IntSlider if p.whole else widgets.FloatSlider
            slider = kind(value=p.default, min=p.low, max=p.high, step=p.step, description=p.name,
                          continuous_update=False)  # fmt: skip
            slider.observe(self._changed, "value")
            self.sliders[p.name] = slider
        self._params.children = tuple(self.sliders.values())

    def _indicator_changed(self, _: Any) -> None:
        self._make_sliders()
        self.refresh(force=True)

    def _changed(self, _: Any) -> None:
        self.refresh(force=True)

    @property
    def spec(self) -> str:
        """The spec string the controls give, e.g. ``"bollinger:20,2"``."""
        return spec_string(self.indicator.value, {name: s.value for name, s in self.sliders.items()})

    # -- data ------------------------------------------------------------------------------------------------

    def _key(self) -> tuple[str, str] | None:
        symbol = self.symbol.value
        for key in self.session.cache.keys("bar"):
            if key[1] == symbol:
                return key
        return None

    def refresh(self, force: bool = False) -> bool:
        """Recompute and redraw when the bars or the controls changed (``force``: anyway); True when drawn."""
        key = self._key()
        cache = self.session.cache
        bars = cache.bars(key, self.timeframe.value, include_open=True, n=self.window) if key else []
        spec = self.spec
        stamp = (key, self.timeframe.value, spec, len(bars), bars[-1] if bars else None)
        if stamp == self._drawn and not force:
            return False
        self._drawn = stamp
        if not bars:
            self.series = pd.DataFrame()
            set_html(self.legend, f"<b>{escape(self.symbol.value)}</b> waiting for data…")
            return True
        frame = bars_to_frame(bars)
        try:
            self.series = indicator_series(frame, self.indicator.value, self._values())
        except ConfigError as error:  # e.g. MACD fast >= slow: say so, keep the controls usable
            self.series = pd.DataFrame(index=frame.index[:0])
            set_html(self.legend, f"<span class='mdx-warn-text'>{escape(str(error))}</span>")
            self._draw(frame)
            return True
        self._draw(frame)
        last = self.series.dropna(how="any").tail(1)
        shown = ", ".join(f"{c} <b>{v:,.4g}</b>" for c, v in last.iloc[0].items()) if len(last) else "warm-up"
        set_html(self.legend, f"<b>{escape(self.symbol.value)} {escape(self.timeframe.value)}</b> "
                              f"{escape(spec)}: {shown} ({len(frame)} bars)")  # fmt: skip
        return True

    def _values(self) -> dict[str, float]:
        return {name: s.value for name, s in self.sliders.items()}

    # -- charts ----------------------------------------------------------------------------------------------

    def _build_charts(self) -> None:
        self._x = bq.DateScale()
        self._y, self._pane_y = bq.LinearScale(), bq.LinearScale()
        self._time_axis = time_axis(self._x)
        self._price_axis, self._pane_axis = y_axis(self._y), y_axis(self._pane_y)
        self._pane_time_axis = time_axis(self._x)
        self._close = bq.Lines(x=EMPTY_T, y=EMPTY_F, scales={"x": self._x, "y": self._y}, colors=[theme.MID],
                               stroke_width=1.5)  # fmt: skip
        self._overlays = [self._line(color, self._y) for color in COLORS]
        self._panes = [self._line(color, self._pane_y) for color in COLORS]
        self._price_fig = figure([self._close, *self._overlays], [self._time_axis, self._price_axis], 260,
                                 bottom=22)  # fmt: skip
        self._pane_fig = figure(self._panes, [self._pane_time_axis, self._pane_axis], 150, bottom=22)

    def _line(self, color: str, scale: bq.LinearScale) -> bq.Lines:
        scales = {"x": self._x, "y": scale}
        return bq.Lines(x=EMPTY_T, y=EMPTY_F, scales=scales, colors=[color], visible=False)

    def _draw(self, frame: pd.DataFrame) -> None:
        ts = frame.index.as_unit("ns").asi8
        close = frame["close"].to_numpy(np.float64)
        with self._close.hold_sync():
            self._close.x, self._close.y = to_datetime(ts), close
        overlay = choice(self.indicator.value).overlay
        lines, unused = (self._overlays, self._panes) if overlay else (self._panes, self._overlays)
        lo, hi = float(close.min()), float(close.max())
        pane_lo, pane_hi = np.inf, -np.inf
        for k, line in enumerate(lines):
            column = self.series.iloc[:, k] if k < self.series.shape[1] else None
            defined = column.notna().to_numpy() if column is not None else np.zeros(0, bool)
            with line.hold_sync():
                if column is None or not defined.any():
                    line.visible = False
                    continue
                values = column.to_numpy(np.float64)[defined]
                line.x, line.y = to_datetime(ts[defined]), values
                line.visible = True
            if overlay:
                lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
            else:
                pane_lo, pane_hi = min(pane_lo, float(values.min())), max(pane_hi, float(values.max()))
        for line in unused:
            line.visible = False
        self._pane_fig.layout.display = "none" if overlay else None
        step = int(np.median(np.diff(ts))) if len(ts) > 1 else 60_000_000_000
        lo_ns, hi_ns = int(ts[0]) - step, int(ts[-1]) + 2 * step
        domain = (np.datetime64(lo_ns // 1_000_000, "ms"), np.datetime64(hi_ns // 1_000_000, "ms"))
        ticks = time_ticks(lo_ns, hi_ns, max_ticks=6, min_step_ns=step)
        for axis in (self._time_axis, self._pane_time_axis):
            set_ticks(axis, ticks.values, tick_format=ticks.tick_format, scale=self._x, domain=domain)
        price_axis(self._price_axis, self._y, lo, hi, 2)
        if pane_lo <= pane_hi:
            pad = max((pane_hi - pane_lo) * 0.06, 1e-9)
            values, step_v = value_ticks(pane_lo - pad, pane_hi + pad, max_ticks=4, min_ticks=2)
            decimals = max(0, -int(np.floor(np.log10(step_v)))) if step_v > 0 else 2
            set_ticks(self._pane_axis, values, tick_format=f",.{decimals}f", scale=self._pane_y,
                      domain=(pane_lo - pad, pane_hi + pad))  # fmt: skip

    # -- live ------------------------------------------------------------------------------------------------

    def start(self) -> IndicatorExplorer:
        """Redraw from the cache at ``hz`` on the running (kernel's) loop; returns at once."""
        self.refresh(force=True)
        self._refresher.start()
        return self

    def stop(self) -> None:
        self._refresher.stop()


__all__ = ["CHOICES", "Choice", "IndicatorExplorer", "Param", "choice", "indicator_series", "spec_string"]
