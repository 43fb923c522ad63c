"""Signals: the baseline z-score signal and anomaly flags, batch against streaming and against pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdx.analytics.signals import (
    Anomalies,
    VolatilityRatio,
    ZScoreSignal,
    anomalies,
    volatility_ratio,
    zscore_signal,
)
from mdx.errors import ConfigError, DataError
from mdx.events import Trade
from mdx.io.capture import read_capture
from mdx.market.bars import resample_trades, trades_to_frame


@pytest.fixture
def closes(shared_data: Path) -> pd.Series:
    path = shared_data / "binance-spot-l2-trades" / "btcusdt_20240808.gz"
    trades = [e for e in read_capture(path) if isinstance(e, Trade)]
    return resample_trades(trades_to_frame(trades), "1s")["close"]


def walk(size: int = 3000, seed: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0, 0.001, size)))


def test_zscore_signal_thresholds_and_its_streaming_twin(closes: pd.Series) -> None:
    batch = zscore_signal(closes, 20, 1.5)
    assert batch.index.equals(closes.index)
    z = (closes - closes.rolling(20).mean()) / closes.rolling(20).std()
    np.testing.assert_allclose(batch["zscore"], z, rtol=1e-9, atol=1e-12, equal_nan=True)
    expected = np.where(z < -1.5, 1, np.where(z > 1.5, -1, 0))
    np.testing.assert_array_equal(batch["signal"], expected)
    assert {1, -1, 0} <= set(batch["signal"])
    stream = ZScoreSignal(20, 1.5)
    values = [stream.update(c) for c in closes]
    np.testing.assert_array_equal([v.zscore for v in values], batch["zscore"])
    assert [v.signal for v in values] == batch["signal"].tolist()
    assert {v.label for v in values} == {"BUY", "SELL", "NEUTRAL"}


def test_volatility_ratio_median_of_the_previous_values_equals_pandas() -> None:
    close = walk()
    got = volatility_ratio(close, 10, 60)
    vol = pd.Series(np.log(close)).diff().rolling(10).std()
    median = vol.rolling(60, min_periods=30).median().shift(1)
    np.testing.assert_allclose(got["volatility"], vol, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got["median"], median, rtol=1e-12, equal_nan=True)
    stream = VolatilityRatio(10, 60)
    rows = np.array([tuple(stream.update(c)) for c in close])
    np.testing.assert_array_equal(rows, got.to_numpy())


def test_anomalies_flag_a_jump_and_a_burst_of_volatility() -> None:
    close = 100.0 + np.random.default_rng(3).normal(0, 0.01, 400)  # calm, mean-reverting
    close[300:] *= 1.02  # one jump
    burst = close.copy()
    burst[350:360] *= np.exp(np.random.default_rng(1).normal(0, 0.02, 10))  # then a volatile spell
    frame = anomalies(burst, n=50, z=4.5, short=5, long=100, k=3.0)
    assert frame["z_anomaly"].iloc[300] and not frame["z_anomaly"].iloc[:299].any()
    assert frame["volatility_spike"].iloc[350:362].any() and not frame["volatility_spike"].iloc[:299].any()
    stream = Anomalies(n=50, z=4.5, short=5, long=100, k=3.0)
    rows = [stream.update(c) for c in burst]
    assert [r.z_anomaly for r in rows] == frame["z_anomaly"].tolist()
    assert [r.volatility_spike for r in rows] == frame["volatility_spike"].tolist()


def test_non_finite_closes_are_skipped_alike() -> None:
    close = walk(500)
    close[[100, 101, 250]] = [np.nan, np.inf, np.nan]
    batch = anomalies(close, short=5, long=40)
    stream = Anomalies(short=5, long=40)
    rows = np.array([[float(v) for v in stream.update(c)] for c in close])
    np.testing.assert_array_equal(rows, batch.to_numpy(dtype=np.float64))


def test_bad_parameters_and_short_input_are_specific() -> None:
    with pytest.raises(ConfigError, match="entry"):
        zscore_signal(walk(50), 20, 0)
    with pytest.raises(ConfigError, match="longer than short"):
        volatility_ratio(walk(50), 10, 10)
    with pytest.raises(ConfigError, match="k must be"):
        anomalies(walk(50), k=float("nan"))
    with pytest.raises(DataError):
        zscore_signal([1.0, 2.0], 20)
