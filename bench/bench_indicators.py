"""Indicators: µs per streaming update, and batch throughput vs the pandas equivalents. Prints tables.

    .venv/bin/python bench/bench_indicators.py [--updates 200000] [--values 1000000]

Seeded random-walk input. The numba kernels are compiled (or loaded from their cache) by a warm-up
call before anything is timed; each figure is the best of several runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import pandas as pd
from timing import best_of

from mdx.analytics import indicators as ind


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
}

BATCH: dict[str, tuple[Callable[[pd.Series], object], Callable[[pd.Series], object]]] = {
    "sma(20)": (lambda s: ind.sma(s, 20), lambda s: s.rolling(20).mean()),
    "ema(20)": (lambda s: ind.ema(s, 20), lambda s: pd_ema(s, 20)),
    "rsi(14)": (lambda s: ind.rsi(s, 14), lambda s: pd_rsi(s, 14)),
    "returns": (lambda s: ind.returns(s), lambda s: s.pct_change()),
    "returns(log)": (lambda s: ind.returns(s, log=True), lambda s: np.log(s / s.shift())),
    "rolling_volatility(20)": (
        lambda s: ind.rolling_volatility(s, 20),
        lambda s: np.log(s / s.shift()).rolling(20).std(),
    ),
    "zscore(20)": (lambda s: ind.zscore(s, 20), lambda s: (s - s.rolling(20).mean()) / s.rolling(20).std()),
    "bollinger(20, 2)": (lambda s: ind.bollinger(s, 20, 2.0), lambda s: pd_bollinger(s, 20, 2.0)),
    "vwap (price x volume)": (
        lambda s: ind.vwap(s, s * 1e-4),
        lambda s: (s * (s * 1e-4)).cumsum() / (s * 1e-4).cumsum(),
    ),
}


def pd_bollinger(s: pd.Series, n: int, k: float) -> pd.DataFrame:
    middle, width = s.rolling(n).mean(), k * s.rolling(n).std(ddof=0)
    return pd.DataFrame({"upper": middle + width, "middle": middle, "lower": middle - width})


class _Noop:
    def update(self, x: float) -> float:
        return x


def feed(make: Callable[[], object], values: list[float]) -> None:
    update = make().update  # type: ignore[attr-defined]
    for v in values:
        update(v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--values", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    walk = 30_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, max(args.updates, args.values))))

    values = walk[: args.updates].tolist()
    empty = best_of(lambda: feed(_Noop, values), 3) / len(values) * 1e6
    print(
        f"streaming: {args.updates:,} updates with plain Python floats (a no-op update costs {empty:.2f} µs)"
    )
    print(f"{'indicator':<24} {'µs/update':>10}")
    for name, make in STREAMING.items():
        seconds = best_of(lambda m=make: feed(m, values), 3)
        print(f"{name:<24} {seconds / len(values) * 1e6:>10.2f}")

    s = pd.Series(walk[: args.values])
    for ours, _ in BATCH.values():  # warm-up: compile or load the kernels
        ours(s.iloc[:500])
    print()
    print(f"batch: {args.values:,} values (pandas Series in, Series out)")
    print(f"{'function':<24} {'mdx ms':>8} {'pandas ms':>10} {'mdx M/s':>9} {'speed-up':>9}")
    for name, (ours, theirs) in BATCH.items():
        t_ours = best_of(lambda f=ours: f(s), 5)
        t_pandas = best_of(lambda f=theirs: f(s), 3)
        print(
            f"{name:<24} {t_ours * 1e3:>8.2f} {t_pandas * 1e3:>10.2f} {args.values / t_ours / 1e6:>9.1f}"
            f" {t_pandas / t_ours:>8.1f}x"
        )


if __name__ == "__main__":
    main()
