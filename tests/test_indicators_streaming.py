"""The new indicators: streaming equals batch bit for bit (with NaN and inf gaps), batch equals pandas,
``compute`` over a frame of bars, exports from ``mdx`` and specific errors for bad input."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import mdx
from mdx.analytics import indicators as ind
from mdx.errors import ConfigError, DataError, InvalidTimeframe

Columns = dict[str, np.ndarray]


def bars(n: int = 2_000, seed: int = 11, gaps: bool = True) -> Columns:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    high = close * (1 + np.abs(rng.normal(0, 0.004, n)))
    low = close * (1 - np.abs(rng.normal(0, 0.004, n)))
    volume = rng.uniform(0.0, 5.0, n)
    buy = volume * rng.uniform(0, 1, n)
    ts = np.int64(1_704_067_200 * 10**9) + np.arange(n, dtype=np.int64) * 3_600 * 10**9
    columns = {"ts": ts, "high": high, "low": low, "close": close, "volume": volume, "buy": buy,
               "sell": volume - buy, "other": 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))}  # fmt: skip
    if gaps:
        close[[0, 5, 6, 400]] = np.nan
        high[[7, 900]] = np.inf
        low[1_500] = -np.inf
        volume[[30, 31]] = [np.nan, np.inf]
        columns["sell"][77] = np.nan
        columns["other"][[3, 1_200]] = [np.nan, -np.inf]
        close[1_000:1_050] = close[999]  # a flat run longer than every window
    return columns


HLC = ("high", "low", "close")
# name -> (batch over columns, the streaming indicator, its input columns)
CASES: dict[str, tuple[Callable[[Columns], object], Callable[[], ind.Indicator], tuple[str, ...]]] = {
    "wma": (lambda c: ind.wma(c["close"], 10), lambda: ind.WMA(10), ("close",)),
    "wma1": (lambda c: ind.wma(c["close"], 1), lambda: ind.WMA(1), ("close",)),
    "macd": (lambda c: ind.macd(c["close"], 12, 26, 9), lambda: ind.MACD(12, 26, 9), ("close",)),
    "macd_2_3_1": (lambda c: ind.macd(c["close"], 2, 3, 1), lambda: ind.MACD(2, 3, 1), ("close",)),
    "rolling_mean": (lambda c: ind.rolling_mean(c["close"], 7), lambda: ind.RollingMean(7), ("close",)),
    "rolling_std": (lambda c: ind.rolling_std(c["close"], 7), lambda: ind.RollingStd(7), ("close",)),
    "rolling_std0": (lambda c: ind.rolling_std(c["close"], 300, 0), lambda: ind.RollingStd(300, 0),
                     ("close",)),
    "volatility_1h": (lambda c: ind.rolling_volatility(c["close"], 20, "1h"),
                      lambda: ind.RollingVolatility(20, "1h"), ("close",)),
    "true_range": (lambda c: ind.true_range(c["high"], c["low"], c["close"]), ind.TrueRange, HLC),
    "atr": (lambda c: ind.atr(c["high"], c["low"], c["close"], 14), lambda: ind.ATR(14), HLC),
    "stoch": (lambda c: ind.stoch(c["high"], c["low"], c["close"]), lambda: ind.Stoch(), HLC),
    "stoch_1_1_1": (lambda c: ind.stoch(c["high"], c["low"], c["close"], 1, 1, 1), lambda: ind.Stoch(1, 1, 1),
                    HLC),
    "adx": (lambda c: ind.adx(c["high"], c["low"], c["close"], 14), lambda: ind.ADX(14), HLC),
    "adx2": (lambda c: ind.adx(c["high"], c["low"], c["close"], 2), lambda: ind.ADX(2), HLC),
    "obv": (lambda c: ind.obv(c["close"], c["volume"]), ind.OBV, ("close", "volume")),
    "vwap": (lambda c: ind.vwap(c["close"], c["volume"]), ind.VWAP, ("close", "volume")),
    "anchored_vwap": (lambda c: ind.anchored_vwap(c["close"], c["volume"], c["ts"], "1d"),
                      lambda: ind.AnchoredVWAP("1d"), ("ts", "close", "volume")),
    "rolling_vwap": (lambda c: ind.rolling_vwap(c["close"], c["volume"], 24), lambda: ind.RollingVWAP(24),
                     ("close", "volume")),
    "volume_delta": (lambda c: ind.volume_delta(c["buy"], c["sell"]), ind.VolumeDelta, ("buy", "sell")),
    "cvd": (lambda c: ind.cumulative_volume_delta(c["buy"], c["sell"]), ind.CumulativeVolumeDelta,
            ("buy", "sell")),
    "correlation": (lambda c: ind.correlation(c["close"], c["other"], 30), lambda: ind.Correlation(30),
                    ("close", "other")),
    "beta": (lambda c: ind.beta(c["other"], c["close"], 20), lambda: ind.Beta(20), ("other", "close")),
}  # fmt: skip


@pytest.mark.parametrize("gaps", [False, True], ids=["dense", "nan-inf-flat"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_streaming_equals_batch(name: str, gaps: bool) -> None:
    batch, make, inputs = CASES[name]
    columns = bars(gaps=gaps)
    expected = batch(columns)
    expected = expected.to_numpy() if isinstance(expected, pd.DataFrame) else np.asarray(expected)
    indicator = make()
    rows = [indicator.update(*step) for step in zip(*[columns[i].tolist() for i in inputs], strict=True)]
    np.testing.assert_array_equal(np.array(rows, dtype=float).reshape(expected.shape), expected)
    assert indicator.ready
    indicator.reset()
    assert not indicator.ready
    again = indicator.run(*[columns[i] for i in inputs])
    np.testing.assert_array_equal(again.reshape(expected.shape), expected)
    if gaps:
        assert np.isfinite(expected[-200:]).all()  # it recovers: no NaN long after the gaps


# the compiled loops run in blocks of 2,048 values (ATR: 2,048 pairs) and look for a non-finite input only
# in a block that ends with a non-finite state: gaps far into the series, in several blocks, and a
# length that is neither a whole number of blocks nor even
LONG_GAPS = {"close": [2_047, 2_048, 6_001, 9_999], "high": [4_095, 4_096, 8_193], "low": [4_097, 11_000],
             "volume": [3_000, 10_240], "other": [5_555]}  # fmt: skip
LONG_CASES = ("macd", "macd_2_3_1", "rolling_mean", "rolling_std", "rolling_std0", "atr", "stoch", "obv",
              "wma", "correlation", "beta", "true_range")  # fmt: skip


@pytest.mark.parametrize("name", LONG_CASES)
def test_streaming_equals_batch_across_blocks(name: str) -> None:
    batch, make, inputs = CASES[name]
    columns = bars(n=12_345, seed=5, gaps=False)
    for column, rows in LONG_GAPS.items():
        columns[column][rows] = [np.nan, np.inf, -np.inf, np.nan][: len(rows)]
    expected = batch(columns)
    expected = expected.to_numpy() if isinstance(expected, pd.DataFrame) else np.asarray(expected)
    streamed = make().run(*[columns[i] for i in inputs])
    np.testing.assert_array_equal(streamed.reshape(expected.shape), expected)
    assert np.isfinite(expected[-100:]).all()


@pytest.mark.parametrize("series", ["ema", "sma", "rsi"])
def test_moving_averages_equal_streaming_across_blocks(series: str) -> None:
    batch, make = {"ema": (lambda x: ind.ema(x, 20), lambda: ind.EMA(20)),
                   "sma": (lambda x: ind.sma(x, 20), lambda: ind.SMA(20)),
                   "rsi": (lambda x: ind.rsi(x, 14), lambda: ind.RSI(14))}[series]  # fmt: skip
    x = bars(n=9_001, seed=6, gaps=False)["close"]
    x[[2_100, 4_200, 4_201, 8_999]] = [np.nan, np.inf, np.nan, -np.inf]
    np.testing.assert_array_equal(make().run(x), batch(x))


@pytest.mark.parametrize("fastk", [1, 2, 5, 14, 33])
@pytest.mark.parametrize("size", [40, 97, 1_000])
def test_stoch_window_extremes_equal_pandas(fastk: int, size: int) -> None:
    """The block-wise highest high / lowest low (van Herk / Gil-Werman) at every block position."""
    c = bars(n=size, seed=fastk, gaps=False)
    h, lo, close = pd.Series(c["high"]), pd.Series(c["low"]), pd.Series(c["close"])
    hh, ll = h.rolling(fastk).max(), lo.rolling(fastk).min()
    expected = (100 * (close - ll) / (hh - ll)).rolling(2).mean()
    ours = ind.stoch(h, lo, close, fastk, 2, 1)["k"]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_skipped_inputs_equal_the_indicator_on_the_rows_kept() -> None:
    c = bars(gaps=True)
    keep = np.isfinite(c["high"]) & np.isfinite(c["low"]) & np.isfinite(c["close"])
    full = ind.adx(c["high"], c["low"], c["close"], 14).to_numpy()
    kept = ind.adx(c["high"][keep], c["low"][keep], c["close"][keep], 14).to_numpy()
    assert np.isnan(full[~keep]).all()
    np.testing.assert_array_equal(full[keep], kept)


def test_batch_equals_pandas() -> None:
    c = bars(gaps=False)
    s, other, v = pd.Series(c["close"]), pd.Series(c["other"]), pd.Series(c["volume"])
    n = 10
    weights = np.arange(1, n + 1)
    pd_wma = s.rolling(n).apply(lambda w: (w * weights).sum() / weights.sum(), raw=True)
    np.testing.assert_allclose(ind.wma(s, n), pd_wma, rtol=1e-12)
    np.testing.assert_allclose(ind.rolling_std(s, 20), s.rolling(20).std(), rtol=1e-9)
    np.testing.assert_allclose(ind.correlation(s, other, 30), s.rolling(30).corr(other), rtol=0, atol=1e-11)
    rx, ry = other.pct_change(), s.pct_change()
    np.testing.assert_allclose(
        ind.beta(other, s, 20), rx.rolling(20).cov(ry) / rx.rolling(20).var(), rtol=1e-8
    )
    np.testing.assert_allclose(ind.rolling_vwap(s, v, 24), (s * v).rolling(24).sum() / v.rolling(24).sum(),
                               rtol=1e-9)  # fmt: skip
    np.testing.assert_allclose(
        ind.cumulative_volume_delta(c["buy"], c["sell"]), np.cumsum(c["buy"] - c["sell"])
    )
    times = pd.to_datetime(c["ts"], utc=True)
    day = times.floor("1D")
    pv = (s * v).groupby(day).cumsum() / v.groupby(day).cumsum()
    np.testing.assert_allclose(ind.anchored_vwap(s.set_axis(times), v.set_axis(times)), pv, rtol=1e-12)
    per_bar = ind.rolling_volatility(s, 20)
    np.testing.assert_allclose(ind.rolling_volatility(s, 20, "1h"), per_bar * math.sqrt(365 * 24))


def test_types_index_and_names_are_kept() -> None:
    c = bars(300, gaps=False)
    index = pd.date_range("2024-01-01", periods=300, freq="h", tz="UTC")
    close = pd.Series(c["close"], index=index, name="px")
    out = ind.wma(close, 5)
    assert isinstance(out, pd.Series) and out.name == "px" and out.index.equals(index)
    assert isinstance(ind.wma(c["close"], 5), np.ndarray)
    frame = ind.macd(close)
    assert list(frame.columns) == ["macd", "signal", "histogram"] and frame.index.equals(index)
    high, low = pd.Series(c["high"], index=index), pd.Series(c["low"], index=index)
    assert list(ind.adx(high, low, close).columns) == ["adx", "plus_di", "minus_di"]
    assert list(ind.stoch(high, low, close).columns) == ["k", "d"]
    assert ind.MACD().update(1.0)._fields == ("macd", "signal", "histogram")


def test_compute_adds_columns_equal_to_the_functions() -> None:
    c = bars(500, gaps=False)
    frame = pd.DataFrame({"open": c["close"], "high": c["high"], "low": c["low"], "close": c["close"],
                          "volume": c["volume"], "vwap": c["close"], "buy_volume": c["buy"],
                          "sell_volume": c["sell"]},
                         index=pd.DatetimeIndex(c["ts"].view("datetime64[ns]"), tz="UTC",
                                                name="timestamp"))  # fmt: skip
    out = mdx.indicators.compute(frame, ["ema:20", "rsi:14", "macd:12,26,9", "bb:20,2", "atr", "stoch:14,3,3",
                                         "adx:14", "obv", "avwap:1d", "cvd", "volatility:20,1h",
                                         "wma:9"])  # fmt: skip
    assert out.index.equals(frame.index) and list(out.columns[: len(frame.columns)]) == list(frame.columns)
    np.testing.assert_array_equal(out["ema_20"], ind.ema(frame["close"], 20))
    np.testing.assert_array_equal(out["macd_12_26_9_signal"], ind.macd(frame["close"])["signal"])
    np.testing.assert_array_equal(out["bollinger_20_2_lower"], ind.bollinger(frame["close"], 20, 2)["lower"])
    np.testing.assert_array_equal(out["atr_14"], ind.atr(frame["high"], frame["low"], frame["close"]))
    np.testing.assert_array_equal(
        out["adx_14_minus_di"], ind.adx(frame["high"], frame["low"], frame["close"])["minus_di"]
    )
    np.testing.assert_array_equal(out["anchoredvwap_1d"], ind.anchored_vwap(frame["vwap"], frame["volume"]))
    assert {
        "rsi_14",
        "stoch_14_3_3_k",
        "obv",
        "cumulativevolumedelta",
        "rollingvolatility_20_1h",
        "wma_9",
    } <= set(out)
    assert "ema_20" not in frame  # the input is not modified


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("foo:3", "unknown indicator 'foo'"),
        ("ema:x", "n must be int"),
        ("ema:2.5", "n must be int"),
        ("ema:0", "must be an integer >= 1"),
        ("macd:12,26,9,4", "takes fast, slow, signal; got 4"),
        ("macd:26,12,9", "fast < slow"),
        ("bb:20,-2", "band width"),
        ("volatility:20,7q", "unknown timeframe"),
        ("obv:3", "takes no parameters"),
        ("", "non-empty"),
        ("corr:20", "two series"),
    ],
)
def test_compute_rejects_bad_specs(spec: str, message: str) -> None:
    frame = pd.DataFrame({"close": np.arange(50.0), "volume": np.ones(50)})
    with pytest.raises(ConfigError, match=message):
        ind.compute(frame, [spec])


def test_bad_input_errors() -> None:
    x = np.arange(1.0, 40.0)
    with pytest.raises(DataError, match="needs at least 20 values"):
        ind.wma(x[:5], 20)
    with pytest.raises(DataError, match="needs at least 34 values"):
        ind.macd(x[:33])
    with pytest.raises(DataError, match="needs at least 28 values"):
        ind.adx(x[:10], x[:10], x[:10], 14)
    with pytest.raises(DataError, match=r"one length.*high 39, low 38"):
        ind.atr(x, x[1:], x, 5)
    with pytest.raises(DataError, match="one length"):
        ind.correlation(x, x[:-1], 5)
    with pytest.raises(DataError, match="needs column"):
        ind.compute(pd.DataFrame({"close": x}), ["atr:5"])
    with pytest.raises(DataError, match="needs ts"):
        ind.anchored_vwap(x, x)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError):
            ind.atr(x, x, x, bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            ind.Stoch(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="fast < slow"):
        ind.MACD(26, 12)
    with pytest.raises(InvalidTimeframe):
        ind.RollingVolatility(20, "7q")


def test_streaming_warm_up_matches_talib_lookbacks() -> None:
    c = bars(200, gaps=False)
    hlc = [c[k].tolist() for k in HLC]
    adx = ind.ADX(5)
    first_di = first_adx = None
    for i, step in enumerate(zip(*hlc, strict=True)):
        value = adx.update(*step)
        if first_di is None and not math.isnan(value.plus_di):
            first_di = i
        if first_adx is None and not math.isnan(value.adx):
            first_adx = i
    assert (first_di, first_adx) == (5, 9)
    macd = ind.MACD(3, 6, 4)
    firsts = [i for i, x in enumerate(c["close"].tolist()) if not math.isnan(macd.update(x).macd)]
    assert firsts[0] == 6 + 4 - 2


def test_exports() -> None:
    for name in ("wma", "macd", "atr", "true_range", "obv", "stoch", "adx", "anchored_vwap", "rolling_vwap",
                 "volume_delta", "cumulative_volume_delta", "rolling_mean", "rolling_std", "correlation",
                 "beta", "WMA", "MACD", "ATR", "TrueRange", "OBV", "Stoch", "ADX", "AnchoredVWAP",
                 "RollingVWAP", "VolumeDelta", "CumulativeVolumeDelta", "RollingMean", "RollingStd",
                 "Correlation", "Beta"):  # fmt: skip
        assert getattr(mdx, name) is getattr(ind, name), name
    assert mdx.indicators is ind and mdx.indicators.compute is ind.compute
