"""Indicators: µs per streaming update, and batch time side by side with TA-Lib and pandas. Prints tables.

    .venv/bin/python bench/bench_indicators.py [--updates 200000] [--values 1000000] [--rounds 15]

Seeded random-walk bars. Batch: for each function the contenders run *interleaved*: round r calls mdx,
mdx Series and TA-Lib in an order rotated by r, then pandas (which leaves caches and allocator cold for
whoever runs next: each of the others follows it equally often), so drifting CPU frequency, cache warmth
and allocator state hit all of them alike. Each figure is the median of its rounds; the garbage
collector is off while timing; each contender is called twice first (numba kernels compiled or loaded
from their cache, outputs' memory mapped). mdx and TA-Lib get the same numpy arrays (numpy out);
"mdx Series" is mdx on pandas Series (Series / DataFrame out, index kept), compared with the pandas
equivalent on the same Series. Targets (issue 9): mdx <= 1.5x TA-Lib and pandas >= 5x slower than mdx
Series. The load average is printed with the figures: on a loaded machine, rerun.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
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


TARGETS = ("sma(20)", "ema(20)", "rsi(14)", "macd(12, 26, 9)", "bollinger(20, 2)", "rolling_std(20)",
           "atr(14)", "obv")  # fmt: skip


def interleaved(
    contenders: dict[str, tuple[Callable[[], object], int]], last: str = "pandas"
) -> dict[str, float]:
    """Median seconds per call of each contender: ``{name: (fn, rounds)}``. Round r calls every contender
    with more than r rounds: the others in an order rotated by r, then ``last`` (pandas, which leaves the
    caches and the allocator cold for whoever runs next: each of the others follows it equally often).
    Two untimed calls each first; the garbage collector is off while timing."""
    for fn, _ in contenders.values():
        fn()
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = [name for name in contenders if name != last]
    gc.collect()
    gc.disable()
    try:
        for r in range(max(rounds for _, rounds in contenders.values())):
            order = names[r % len(names) :] + names[: r % len(names)] + ([last] if last in contenders else [])
            for name in order:
                fn, rounds = contenders[name]
                if r < rounds:
                    started = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - started)
    finally:
        gc.enable()
    return {name: statistics.median(t) for name, t in times.items()}


def pandas_rounds(fn: Callable[[], object], rounds: int) -> int:
    """Fewer rounds for a slow pandas twin (``rolling.apply``): about half a second of calls."""
    started = time.perf_counter()
    fn()
    return max(1, min(rounds, int(0.5 / max(time.perf_counter() - started, 1e-9))))


def bench_batch(frame: Frame, rounds: int) -> dict[str, tuple[float, float | None, float, float | None]]:
    size = len(frame["close"])
    arrays = {"c": frame["close"].to_numpy(), "h": frame["high"].to_numpy(), "l": frame["low"].to_numpy(),
              "v": frame["volume"].to_numpy()}  # fmt: skip
    as_numpy = {"close": arrays["c"], "high": arrays["h"], "low": arrays["l"], "volume": arrays["v"]} | arrays
    as_series = frame | arrays  # type: ignore[operator]
    small = {k: v[:500] for k, v in frame.items()}
    for ours, _, _ in BATCH.values():  # compile or load the kernels
        ours(small)
    print(f"\nbatch: {size:,} bars; median of {rounds} interleaved rounds; load average {load()}")
    print("mdx and TA-Lib on the same numpy arrays; mdx Series and pandas on the same pandas Series")
    head = f"{'function':<24} {'mdx ms':>8} {'TA-Lib ms':>10} {'x TA-Lib':>9} {'Series ms':>10}"
    print(f"{head} {'pandas ms':>10} {'pandas/mdx':>11}")
    results = {}
    for name, (ours, theirs, pandas) in BATCH.items():
        contenders = {
            "mdx": (lambda f=ours: f(as_numpy), rounds),
            "series": (lambda f=ours: f(as_series), rounds),
        }
        if theirs is not None and talib is not None:
            contenders["talib"] = (lambda f=theirs: f(as_numpy), rounds)
        if pandas is not None:
            call = lambda f=pandas: f(as_series)  # noqa: E731
            contenders["pandas"] = (call, pandas_rounds(call, rounds))
        t = interleaved(contenders)
        t_talib, t_pandas = t.get("talib"), t.get("pandas")
        results[name] = (t["mdx"], t_talib, t["series"], t_pandas)
        print(row(name, *results[name]))
    return results


def row(name: str, ours: float, talib_: float | None, series: float, pandas: float | None) -> str:
    shown = f"{talib_ * 1e3:>10.2f} {ours / talib_:>8.2f}x" if talib_ else f"{'-':>10} {'-':>9}"
    speed = f"{pandas * 1e3:>10.2f} {pandas / series:>10.1f}x" if pandas else f"{'-':>10} {'-':>11}"
    return f"{name:<24} {ours * 1e3:>8.2f} {shown} {series * 1e3:>10.2f} {speed}"


def verdict(results: dict[str, tuple[float, float | None, float, float | None]]) -> None:
    """The issue-9 targets for the eight listed indicators: <= 1.5x TA-Lib, >= 5x faster than pandas."""
    misses = []
    for name in TARGETS:
        ours, talib_, series, pandas = results[name]
        if talib_ is not None and ours > 1.5 * talib_:
            misses.append(f"{name} {ours / talib_:.2f}x TA-Lib")
        if pandas is not None and pandas < 5 * series:
            misses.append(f"{name} only {pandas / series:.1f}x faster than pandas")
    print(
        f"\ntargets (<= 1.5x TA-Lib, >= 5x pandas) for {', '.join(TARGETS)}: "
        + ("all met" if not misses else "missed: " + "; ".join(misses))
        + f"; load average {load()}"
    )


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-streaming", action="store_true", help="the batch table only")
    args = parser.parse_args()
    frame = make_bars(max(args.updates, args.values))
    if not args.no_streaming:
        bench_streaming(frame, args.updates)
    verdict(bench_batch({k: v.iloc[: args.values] for k, v in frame.items()}, args.rounds))


if __name__ == "__main__":
    main()
