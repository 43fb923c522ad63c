"""Indicators: µs per streaming update, and batch time side by side with TA-Lib and pandas. Prints tables.

    .venv/bin/python bench/bench_indicators.py [--updates 200000] [--values 1000000]

Seeded random-walk bars. The numba kernels are compiled (or loaded from their cache) by a warm-up
call before anything is timed; each figure is the best of several runs. The batch table times mdx on
pandas Series (Series out), TA-Lib on the same values as numpy arrays, and the pandas equivalent; the
targets (issue 9) are mdx <= 1.5x TA-Lib and >= 5x faster than pandas.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import pandas as pd
from timing import best_of

from mdx.analytics import indicators as ind

try:
    import talib
except ImportError:  # a test dependency: pip install -e '.[test]'
    talib = None


def pd_ema(s: pd.Series, n: int) -> pd.Series:
    seed = pd.Series([s.iloc[:n].mean()], index=s.index[n - 1 : n])
    return pd.concat([seed, s.iloc[n:]]).ewm(span=n, adjust=False).mean()


def pd_rsi(s: pd.Series, n: int) -> pd.Series:
    d = s.diff().iloc[1:]
    gain, loss = d.clip(lower=0), (-d).clip(lower=0)
    g = pd.concat([pd.Series([gain.iloc[:n].mean()]), gain.iloc[n:]]).ewm(alpha=1 / n, adjust=False).mean()
    lo = pd.concat([pd.Series([loss.iloc[:n].mean()]), loss.iloc[n:]]).ewm(alpha=1 / n, adjust=False).mean()
    return 100 * g / (g + lo)


STREAMING: dict[str, Callable[[], object]] = {
    "SMA(20)": lambda: ind.SMA(20),
    "SMA(200)": lambda: ind.SMA(200),
    "EMA(20)": lambda: ind.EMA(20),
    "RSI(14)": lambda: ind.RSI(14),
    "Returns()": lambda: ind.Returns(),
    "Returns(log=True)": lambda: ind.Returns(log=True),
    "RollingVolatility(20)": lambda: ind.RollingVolatility(20),
    "ZScore(20)": lambda: ind.ZScore(20),
    "ZScore(200)": lambda: ind.ZScore(200),
    "Bollinger(20, 2)": lambda: ind.Bollinger(20, 2.0),
    "WMA(20)": lambda: ind.WMA(20),
    "MACD(12, 26, 9)": lambda: ind.MACD(12, 26, 9),
    "RollingStd(20)": lambda: ind.RollingStd(20),
}

# streaming indicators over bars: fed (high, low, close) or (close, volume) tuples
STREAMING_BARS: dict[str, tuple[Callable[[], object], tuple[str, ...]]] = {
    "ATR(14)": (lambda: ind.ATR(14), ("high", "low", "close")),
    "ADX(14)": (lambda: ind.ADX(14), ("high", "low", "close")),
    "Stoch(14, 3, 3)": (lambda: ind.Stoch(14, 3, 3), ("high", "low", "close")),
    "OBV()": (lambda: ind.OBV(), ("close", "volume")),
    "RollingVWAP(20)": (lambda: ind.RollingVWAP(20), ("close", "volume")),
    "Correlation(30)": (lambda: ind.Correlation(30), ("close", "volume")),
}

Frame = dict[str, pd.Series]
Timed = Callable[[Frame], object]
# name -> (mdx, TA-Lib, pandas); None where there is no such twin
BATCH: dict[str, tuple[Timed, Timed | None, Timed | None]] = {
    "sma(20)": (
        lambda f: ind.sma(f["close"], 20),
        lambda f: talib.SMA(f["c"], 20),
        lambda f: f["close"].rolling(20).mean(),
    ),
    "ema(20)": (
        lambda f: ind.ema(f["close"], 20),
        lambda f: talib.EMA(f["c"], 20),
        lambda f: pd_ema(f["close"], 20),
    ),
    "rsi(14)": (
        lambda f: ind.rsi(f["close"], 14),
        lambda f: talib.RSI(f["c"], 14),
        lambda f: pd_rsi(f["close"], 14),
    ),
    "macd(12, 26, 9)": (
        lambda f: ind.macd(f["close"]),
        lambda f: talib.MACD(f["c"], 12, 26, 9),
        lambda f: pd_macd(f["close"]),
    ),
    "bollinger(20, 2)": (
        lambda f: ind.bollinger(f["close"], 20, 2.0),
        lambda f: talib.BBANDS(f["c"], 20, 2, 2),
        lambda f: pd_bollinger(f["close"], 20, 2.0),
    ),
    "rolling_std(20)": (
        lambda f: ind.rolling_std(f["close"], 20, 0),
        lambda f: talib.STDDEV(f["c"], 20, 1),
        lambda f: f["close"].rolling(20).std(ddof=0),
    ),
    "atr(14)": (
        lambda f: ind.atr(f["high"], f["low"], f["close"], 14),
        lambda f: talib.ATR(f["h"], f["l"], f["c"], 14),
        lambda f: pd_atr(f, 14),
    ),
    "obv": (
        lambda f: ind.obv(f["close"], f["volume"]),
        lambda f: talib.OBV(f["c"], f["v"]),
        lambda f: (np.sign(f["close"].diff()).fillna(1) * f["volume"]).cumsum(),
    ),
    "wma(20)": (
        lambda f: ind.wma(f["close"], 20),
        lambda f: talib.WMA(f["c"], 20),
        lambda f: f["close"].rolling(20).apply(lambda w: (w * WEIGHTS).sum() / WEIGHTS.sum(), raw=True),
    ),
    "stoch(14, 3, 3)": (
        lambda f: ind.stoch(f["high"], f["low"], f["close"]),
        lambda f: talib.STOCH(f["h"], f["l"], f["c"], 14, 3, 0, 3, 0),
        lambda f: pd_stoch(f),
    ),
    "adx(14)": (
        lambda f: ind.adx(f["high"], f["low"], f["close"], 14),
        lambda f: talib.ADX(f["h"], f["l"], f["c"], 14),
        None,
    ),
    "correlation(30)": (
        lambda f: ind.correlation(f["close"], f["volume"], 30),
        lambda f: talib.CORREL(f["c"], f["v"], 30),
        lambda f: f["close"].rolling(30).corr(f["volume"]),
    ),
    "returns(log)": (
        lambda f: ind.returns(f["close"], log=True),
        None,
        lambda f: np.log(f["close"] / f["close"].shift()),
    ),
    "rolling_volatility(20)": (
        lambda f: ind.rolling_volatility(f["close"], 20),
        None,
        lambda f: np.log(f["close"] / f["close"].shift()).rolling(20).std(),
    ),
    "zscore(20)": (
        lambda f: ind.zscore(f["close"], 20),
        None,
        lambda f: (f["close"] - f["close"].rolling(20).mean()) / f["close"].rolling(20).std(),
    ),
    "vwap": (
        lambda f: ind.vwap(f["close"], f["volume"]),
        None,
        lambda f: (f["close"] * f["volume"]).cumsum() / f["volume"].cumsum(),
    ),
}
WEIGHTS = np.arange(1.0, 21.0)


def pd_macd(s: pd.Series) -> pd.DataFrame:
    line = pd_ema(s.iloc[14:], 12) - pd_ema(s, 26)
    signal = pd_ema(line.dropna(), 9)
    return pd.DataFrame({"macd": line, "signal": signal, "histogram": line - signal})


def pd_true_range(f: Frame) -> pd.Series:
    prev = f["close"].shift()
    return pd.concat([f["high"] - f["low"], (f["high"] - prev).abs(), (f["low"] - prev).abs()], axis=1).max(
        axis=1
    )


def pd_atr(f: Frame, n: int) -> pd.Series:
    tr = pd_true_range(f).iloc[1:]
    seed = pd.Series([tr.iloc[:n].mean()], index=tr.index[n - 1 : n])
    return pd.concat([seed, tr.iloc[n:]]).ewm(alpha=1 / n, adjust=False).mean()


def pd_stoch(f: Frame) -> pd.DataFrame:
    low, high = f["low"].rolling(14).min(), f["high"].rolling(14).max()
    k = (100 * (f["close"] - low) / (high - low)).rolling(3).mean()
    return pd.DataFrame({"k": k, "d": k.rolling(3).mean()})


def pd_bollinger(s: pd.Series, n: int, k: float) -> pd.DataFrame:
    middle, width = s.rolling(n).mean(), k * s.rolling(n).std(ddof=0)
    return pd.DataFrame({"upper": middle + width, "middle": middle, "lower": middle - width})


class _Noop:
    def update(self, *x: float) -> float:
        return x[0]


def feed(make: Callable[[], object], rows: list[tuple[float, ...]] | list[float]) -> None:
    update = make().update  # type: ignore[attr-defined]
    if rows and isinstance(rows[0], tuple):
        for row in rows:
            update(*row)
    else:
        for v in rows:
            update(v)


def make_bars(size: int) -> Frame:
    rng = np.random.default_rng(42)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, size)))
    high = close * (1 + np.abs(rng.normal(0, 1e-3, size)))
    low = close * (1 - np.abs(rng.normal(0, 1e-3, size)))
    volume = rng.uniform(0.0, 5.0, size)
    return {
        "close": pd.Series(close),
        "high": pd.Series(high),
        "low": pd.Series(low),
        "volume": pd.Series(volume),
    }


def bench_streaming(frame: Frame, updates: int) -> None:
    values = frame["close"].iloc[:updates].tolist()
    empty = best_of(lambda: feed(_Noop, values), 3) / len(values) * 1e6
    print(f"streaming: {updates:,} updates with plain Python floats (a no-op update costs {empty:.2f} µs)")
    print(f"{'indicator':<24} {'µs/update':>10}")
    for name, make in STREAMING.items():
        seconds = best_of(lambda m=make: feed(m, values), 3)
        print(f"{name:<24} {seconds / len(values) * 1e6:>10.2f}")
    for name, (make, inputs) in STREAMING_BARS.items():
        rows = list(zip(*[frame[i].iloc[:updates].tolist() for i in inputs], strict=True))
        seconds = best_of(lambda m=make, r=rows: feed(m, r), 3)
        print(f"{name:<24} {seconds / len(rows) * 1e6:>10.2f}")


def bench_batch(frame: Frame) -> None:
    size = len(frame["close"])
    arrays = {"c": frame["close"].to_numpy(), "h": frame["high"].to_numpy(), "l": frame["low"].to_numpy(),
              "v": frame["volume"].to_numpy()}  # fmt: skip
    timed = frame | arrays  # type: ignore[operator]
    small = {k: v[:500] for k, v in frame.items()}
    for ours, _, _ in BATCH.values():  # warm-up: compile or load the kernels
        ours(small)
    print(f"\nbatch: {size:,} bars (mdx: pandas Series in and out; TA-Lib: numpy arrays)")
    header = f"{'function':<24} {'mdx ms':>8} {'TA-Lib ms':>10} {'pandas ms':>10} {'pandas/mdx':>11}"
    print(f"{header} {'x TA-Lib':>9}")
    for name, (ours, theirs, pandas) in BATCH.items():
        t_ours = best_of(lambda f=ours: f(timed), 7)
        t_talib = best_of(lambda f=theirs: f(timed), 7) if theirs is not None and talib is not None else None
        t_pandas = best_of(lambda f=pandas: f(timed), 1 if name.startswith("wma") else 3) if pandas else None
        ratio = f"{t_ours / t_talib:>8.2f}x" if t_talib else f"{'-':>9}"
        shown = f"{t_talib * 1e3:>10.2f}" if t_talib else f"{'-':>10}"
        speed = f"{t_pandas * 1e3:>10.2f} {t_pandas / t_ours:>10.1f}x" if t_pandas else f"{'-':>10} {'-':>11}"
        print(f"{name:<24} {t_ours * 1e3:>8.2f} {shown} {speed} {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--values", type=int, default=1_000_000)
    args = parser.parse_args()
    frame = make_bars(max(args.updates, args.values))
    bench_streaming(frame, args.updates)
    bench_batch({k: v.iloc[: args.values] for k, v in frame.items()})


if __name__ == "__main__":
    main()
