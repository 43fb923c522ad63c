"""Pairs analytics against pandas and statsmodels, on real Coinbase 4h BTC/ETH candles and generated pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdx.analytics.pairs import (
    PairSpread,
    cointegration,
    correlation_matrix,
    half_life,
    pair_spread,
)
from mdx.errors import CaptureError, ConfigError, DataError
from mdx.io.candles import read_coinbase_candles


@pytest.fixture
def closes(shared_data: Path) -> pd.DataFrame:
    folder = shared_data / "coinbase-4h-btc-eth"
    btc = read_coinbase_candles(folder / "Coinbase-BTC-USD-PT4H-20160518_20251028.json")
    eth = read_coinbase_candles(folder / "Coinbase-ETH-USD-PT4H-20160518_20251028.json")
    return pd.DataFrame({"BTC": btc["close"], "ETH": eth["close"]}).dropna()


def cointegrated_pair(
    size: int = 3000, beta: float = 2.0, phi: float = 0.9, seed: int = 5
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = 100.0 + np.cumsum(rng.normal(0, 1, size))
    noise = np.zeros(size)
    for t in range(1, size):  # AR(1): half-life -ln2/ln(phi) bars
        noise[t] = phi * noise[t - 1] + rng.normal(0, 1)
    return 5.0 + beta * x + noise, x


def exact_fit(y: np.ndarray, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling OLS (alpha, beta) by two passes over each window in extended precision: the reference."""
    wy = np.lib.stride_tricks.sliding_window_view(y.astype(np.longdouble), n)
    wx = np.lib.stride_tricks.sliding_window_view(x.astype(np.longdouble), n)
    dx = wx - wx.mean(axis=1, keepdims=True)
    beta = (dx * (wy - wy.mean(axis=1, keepdims=True))).sum(axis=1) / (dx * dx).sum(axis=1)
    alpha = wy.mean(axis=1) - beta * wx.mean(axis=1)
    pad = np.full(n - 1, np.nan)
    return np.concatenate((pad, alpha.astype(np.float64))), np.concatenate((pad, beta.astype(np.float64)))


def test_rolling_hedge_ratio_and_zscore_on_real_btc_eth(closes: pd.DataFrame) -> None:
    y, x = np.log(closes["ETH"]), np.log(closes["BTC"])
    n = 90
    got = pair_spread(y, x, n)
    assert got.index.equals(closes.index)
    alpha, beta = exact_fit(y.to_numpy(), x.to_numpy(), n)
    np.testing.assert_allclose(got["beta"], beta, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got["alpha"], alpha, rtol=1e-11, atol=1e-12, equal_nan=True)
    spread = y - alpha - beta * x
    z = (spread - spread.rolling(n).mean()) / spread.rolling(n).std()
    np.testing.assert_allclose(got["spread"], spread, rtol=1e-9, atol=1e-11, equal_nan=True)
    np.testing.assert_allclose(got["zscore"], z, rtol=1e-7, atol=1e-9, equal_nan=True)
    # pandas' rolling moments are updated online and drift (~1e-9 here); mdx recomputes each window
    pandas_beta = y.rolling(n).cov(x) / x.rolling(n).var()
    np.testing.assert_allclose(got["beta"], pandas_beta, rtol=1e-7, equal_nan=True)
    assert got["beta"].iloc[-1] > 0  # ETH moves with BTC


def test_streaming_equals_batch_bit_for_bit_with_gaps() -> None:
    y, x = cointegrated_pair(600)
    y[[50, 51, 300]] = np.nan
    x[[120]] = np.inf
    batch = pair_spread(y, x, 40)
    stream = PairSpread(40)
    rows = np.array([stream.update(a, b) for a, b in zip(y, x, strict=True)])
    np.testing.assert_array_equal(rows, batch.to_numpy())  # NaN positions and bits alike
    assert stream.ready and np.isnan(rows[50]).all()


def test_cointegration_finds_a_generated_pair_and_rejects_independent_walks() -> None:
    y, x = cointegrated_pair(beta=2.0, phi=0.9)
    result = cointegration(y, x)
    assert result.cointegrated and result.p_value < 0.01
    assert result.hedge_ratio == pytest.approx(2.0, abs=0.01)
    assert result.half_life == pytest.approx(-math.log(2) / math.log(0.9), rel=0.25)  # 6.6 bars
    assert result.critical_values[0] < result.critical_values[1] < result.critical_values[2]
    rng = np.random.default_rng(11)
    walks = np.cumsum(rng.normal(0, 1, (2, 3000)), axis=1) + 500
    assert not cointegration(walks[0], walks[1]).cointegrated


def test_half_life_of_an_ar1_and_of_a_random_walk() -> None:
    rng = np.random.default_rng(2)
    s = np.zeros(20_000)
    for t in range(1, s.shape[0]):
        s[t] = 0.8 * s[t - 1] + rng.normal()
    assert half_life(s) == pytest.approx(-math.log(2) / math.log(0.8), rel=0.05)
    assert half_life(np.arange(100.0) ** 1.5) == math.inf  # drifting away: never reverts
    with pytest.raises(DataError, match="at least 3"):
        half_life([1.0, np.nan])


def test_correlation_matrix_of_real_returns(closes: pd.DataFrame) -> None:
    matrix = correlation_matrix(closes)
    returns = np.log(closes).diff()
    assert matrix.loc["BTC", "BTC"] == pytest.approx(1.0)
    assert matrix.loc["BTC", "ETH"] == pytest.approx(returns["BTC"].corr(returns["ETH"]), rel=1e-12)
    assert 0.5 < matrix.loc["BTC", "ETH"] < 0.95


def test_bad_input_is_specific() -> None:
    with pytest.raises(DataError, match="one length"):
        pair_spread([1.0, 2.0], [1.0], 2)
    with pytest.raises(ConfigError, match=">= 2"):
        pair_spread([1.0, 2.0], [1.0, 2.0], 1)
    with pytest.raises(DataError, match="at least 30"):
        cointegration(np.arange(10.0), np.arange(10.0))
    with pytest.raises(DataError, match="constant"):
        cointegration(np.arange(40.0), np.ones(40))
    with pytest.raises(ConfigError, match="level"):
        cointegration(np.arange(40.0), np.arange(40.0), level=5)
    with pytest.raises(DataError, match="two columns"):
        correlation_matrix(pd.DataFrame({"a": [1.0, 2.0]}))


def test_candle_reader_checks_every_candle(tmp_path: Path) -> None:
    good = {"start": "100", "low": "1", "high": "3", "open": "2", "close": "2.5", "volume": "7"}
    bad = [
        ({**good, "high": "0.5"}, "do not bound"),
        ({**good, "close": "abc"}, "not a number"),
        ({k: v for k, v in good.items() if k != "volume"}, "no 'volume'"),
        ({**good, "low": "-1"}, "> 0"),
    ]
    for candle, match in bad:
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"candles": [good, {**candle, "start": "200"}]}))
        with pytest.raises(CaptureError, match=match):
            read_coinbase_candles(path)
        frame = read_coinbase_candles(path, skip_bad=True)
        assert len(frame) == 1 and frame.attrs["rejected"] == 1
    path.write_text(json.dumps({"candles": [good, good]}))
    with pytest.raises(CaptureError, match="seen before"):
        read_coinbase_candles(path)
    path.write_text("[1, 2]")
    with pytest.raises(CaptureError, match="not a Coinbase candle file"):
        read_coinbase_candles(path)
