"""Every indicator TA-Lib has equals TA-Lib (1e-9 relative after the warm-up, same warm-up) on generated
and real bars; streaming equals batch bit for bit for the new indicators; where a published reference
file and TA-Lib agree, mdx agrees with both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdx.analytics import indicators as ind

talib = pytest.importorskip("talib", reason="ta-lib is a test dependency: pip install -e '.[test]'")

Bars = dict[str, np.ndarray]


def generated_bars(n: int = 3_000, seed: int = 7) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    high = close * (1 + np.abs(rng.normal(0, 0.004, n)))
    low = close * (1 - np.abs(rng.normal(0, 0.004, n)))
    volume = rng.uniform(0.5, 5.0, n)
    buy = volume * rng.uniform(0, 1, n)
    return {"high": high, "low": low, "close": close, "volume": volume, "buy": buy, "sell": volume - buy}


def btc_bars(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "indicator-references" / "btcusdt-1h" / "btcusdt-1h.csv")


# name -> (mdx on bars, TA-Lib on bars); each returns a 2-D array (rows, outputs)
PAIRS: dict[str, tuple[Callable[[Bars], object], Callable[[Bars], object]]] = {
    "sma": (lambda b: ind.sma(b["close"], 20), lambda b: talib.SMA(b["close"], 20)),
    "ema": (lambda b: ind.ema(b["close"], 20), lambda b: talib.EMA(b["close"], 20)),
    "wma": (lambda b: ind.wma(b["close"], 20), lambda b: talib.WMA(b["close"], 20)),
    "rsi": (lambda b: ind.rsi(b["close"], 14), lambda b: talib.RSI(b["close"], 14)),
    "macd": (lambda b: ind.macd(b["close"], 12, 26, 9), lambda b: talib.MACD(b["close"], 12, 26, 9)),
    "macd_5_35_5": (lambda b: ind.macd(b["close"], 5, 35, 5), lambda b: talib.MACD(b["close"], 5, 35, 5)),
    "bollinger": (lambda b: ind.bollinger(b["close"], 20, 2.0), lambda b: talib.BBANDS(b["close"], 20, 2, 2)),
    "rolling_std": (lambda b: ind.rolling_std(b["close"], 20, 0), lambda b: talib.STDDEV(b["close"], 20, 1)),
    "true_range": (lambda b: ind.true_range(b["high"], b["low"], b["close"]), lambda b: talib.TRANGE(
        b["high"], b["low"], b["close"])),
    "atr": (lambda b: ind.atr(b["high"], b["low"], b["close"], 14), lambda b: talib.ATR(
        b["high"], b["low"], b["close"], 14)),
    "obv": (lambda b: ind.obv(b["close"], b["volume"]), lambda b: talib.OBV(b["close"], b["volume"])),
    "stoch": (lambda b: ind.stoch(b["high"], b["low"], b["close"], 14, 3, 3), lambda b: talib.STOCH(
        b["high"], b["low"], b["close"], 14, 3, 0, 3, 0)),
    "stoch_fast": (lambda b: ind.stoch(b["high"], b["low"], b["close"], 5, 1, 3), lambda b: talib.STOCH(
        b["high"], b["low"], b["close"], 5, 1, 0, 3, 0)),
    "adx": (lambda b: ind.adx(b["high"], b["low"], b["close"], 14), lambda b: [f(
        b["high"], b["low"], b["close"], 14) for f in (talib.ADX, talib.PLUS_DI, talib.MINUS_DI)]),
    "correlation": (lambda b: ind.correlation(b["high"], b["volume"], 30), lambda b: talib.CORREL(
        b["high"], b["volume"], 30)),
    "beta": (lambda b: ind.beta(b["close"], b["high"], 5), lambda b: talib.BETA(b["close"], b["high"], 5)),
}  # fmt: skip


def as_columns(result: object) -> np.ndarray:
    if isinstance(result, pd.DataFrame):
        return result.to_numpy()
    if isinstance(result, tuple | list):
        return np.column_stack([np.asarray(r, dtype=float) for r in result])
    return np.asarray(result, dtype=float).reshape(-1, 1)


def assert_equals_talib(ours: object, theirs: object) -> None:
    a, e = as_columns(ours), as_columns(theirs)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e))  # the same warm-up
    np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_equals_talib_on_generated_bars(name: str) -> None:
    ours, theirs = PAIRS[name]
    bars = generated_bars()
    assert_equals_talib(ours(bars), theirs(bars))


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_equals_talib_on_real_bars(shared_data: Path, name: str) -> None:
    """Binance BTCUSDT 1h, January 2025 (the indicator-references bars)."""
    frame = btc_bars(shared_data)
    bars = {c: frame[c].to_numpy(dtype=float) for c in ("high", "low", "close", "volume")}
    ours, theirs = PAIRS[name]
    assert_equals_talib(ours(bars), theirs(bars))


REFERENCES: dict[str, tuple[list[str], Callable[[pd.DataFrame], pd.DataFrame], Callable[[Bars], object]]] = {
    "macd-12-26-9-close": (["macd", "signal", "histogram"], lambda f: ind.macd(f["close"]),
                           lambda b: talib.MACD(b["close"], 12, 26, 9)),
    "atr-14": (["expected"], lambda f: ind.atr(f["high"], f["low"], f["close"], 14).to_frame(),
               lambda b: talib.ATR(b["high"], b["low"], b["close"], 14)),
    "obv-close": (["expected"], lambda f: ind.obv(f["close"], f["volume"]).to_frame(),
                  lambda b: talib.OBV(b["close"], b["volume"])),
    "adx-14": (["adx", "plus_di", "minus_di"], lambda f: ind.adx(f["high"], f["low"], f["close"], 14),
               lambda b: [g(b["high"], b["low"], b["close"], 14) for g in (talib.ADX, talib.PLUS_DI,
                                                                            talib.MINUS_DI)]),
    "stoch-14-1-3": (["k", "d"], lambda f: ind.stoch(f["high"], f["low"], f["close"], 14, 1, 3),
                     lambda b: talib.STOCH(b["high"], b["low"], b["close"], 14, 1, 0, 3, 0)),
}  # fmt: skip


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_agrees_with_reference_and_talib_where_they_agree(shared_data: Path, name: str) -> None:
    """quantedge-ta's files (10 decimals) follow TA-Lib or TradingView seeds; after the seeds are
    forgotten they agree with TA-Lib, and there mdx equals both (ATR's reference seeds one bar earlier)."""
    columns, ours, theirs = REFERENCES[name]
    frame = btc_bars(shared_data).set_index("open_time")
    bars = {c: frame[c].to_numpy(dtype=float) for c in ("high", "low", "close", "volume")}
    reference = pd.read_csv(shared_data / "indicator-references" / "btcusdt-1h" / f"{name}.csv",
                            index_col="open_time")[columns]  # fmt: skip
    talib_values = pd.DataFrame(as_columns(theirs(bars)), index=frame.index, columns=columns).loc[
        reference.index
    ]
    mdx_values = ours(frame).set_axis(columns, axis=1).loc[reference.index]
    agree = np.isclose(talib_values, reference, rtol=0, atol=1e-8).all(axis=1)
    assert agree.sum() > len(reference) // 2, f"{name}: TA-Lib and the reference agree on {agree.sum()} rows"
    np.testing.assert_allclose(mdx_values[agree], reference[agree], rtol=0, atol=1e-8)
    np.testing.assert_allclose(mdx_values[agree], talib_values[agree], rtol=1e-9)


@pytest.mark.data
def test_anchored_vwap_equals_the_daily_typical_price_reference(shared_data: Path) -> None:
    frame = btc_bars(shared_data)
    times = pd.to_datetime(frame["open_time"], unit="us", utc=True)
    typical = pd.Series(((frame["high"] + frame["low"] + frame["close"]) / 3).to_numpy(), index=times)
    ours = ind.anchored_vwap(typical, pd.Series(frame["volume"].to_numpy(), index=times))
    reference = pd.read_csv(shared_data / "indicator-references" / "btcusdt-1h" / "vwap-day-hlc3.csv")
    np.testing.assert_allclose(ours.to_numpy(), reference["expected"].to_numpy(), rtol=0, atol=1e-8)
