"""Confluence and consensus: µs per streaming update on a closed bar, and batch throughput. Prints a table.

    .venv/bin/python bench/bench_signals.py [--bars 100000] [--updates 20000] [--rounds 5]

Seeded random-walk bars with buy/sell volume and book columns (every dimension but sentiment has data).
Streaming: ``ConfluenceScore.update(bar, book)`` on ``--updates`` bars after its warm-up (target of issue 9:
at most 100 µs per closed bar), ``MultiTimeframeConsensus.update`` over four timeframes, and the whole
``ConfluenceMaker`` path in a session consumer (both scores, both events; the session's own cost aside).
Batch: ``confluence`` over ``--bars`` bars and ``consensus`` over 1m/5m/15m/1h frames, best of ``--rounds``.
The load average is printed with the figures: on a loaded machine, rerun.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from timing import best_of

from mdx.analytics.confluence import ConfluenceScore, confluence
from mdx.analytics.consensus import MultiTimeframeConsensus, consensus
from mdx.analytics.live import ConfluenceMaker
from mdx.events import Bar
from mdx.market.timeframes import timeframe_ns

MINUTE = timeframe_ns("1m")


def make_bars(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, n))
    volume = rng.gamma(2.0, 5.0, n)
    buy = volume * rng.beta(2, 2, n)
    index = pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": open_, "high": high, "low": low, "close": close, "volume": volume,
            "vwap": (high + low + close) / 3, "buy_volume": buy, "sell_volume": volume - buy,
            "book_imbalance": rng.uniform(-1, 1, n), "book_depth_ratio": rng.uniform(0, 1, n),
        },
        index=index,
    )  # fmt: skip


def as_bars(frame: pd.DataFrame, timeframe: str = "1m") -> list[Bar]:
    starts = frame.index.as_unit("ns").asi8.tolist()
    rows = zip(starts, *(frame[c].tolist() for c in ("open", "high", "low", "close", "volume", "vwap",
                                                      "buy_volume", "sell_volume")), strict=True)  # fmt: skip
    return [
        Bar("bench", "X/USDT", timeframe, ts, ts, o, h, lo, c, v, v * vw, vw, b, s, 1, True)
        for ts, o, h, lo, c, v, vw, b, s in rows
    ]


def per_update_us(fn: Callable[[], None], count: int) -> float:
    gc.disable()
    try:
        started = time.perf_counter()
        fn()
        return (time.perf_counter() - started) / count * 1e6
    finally:
        gc.enable()


def bench_confluence_update(bars: list[Bar], books: list[tuple[float, float]]) -> float:
    scorer = ConfluenceScore()
    warm = scorer.params.warmup
    for bar, book in zip(bars[:warm], books[:warm], strict=True):
        scorer.update(bar, book)
    rest = list(zip(bars[warm:], books[warm:], strict=True))
    update = scorer.update

    def run() -> None:
        for bar, book in rest:
            update(bar, book)

    return per_update_us(run, len(rest))


def bench_consensus_update(count: int) -> float:
    state = MultiTimeframeConsensus(("1m", "5m", "15m", "1h"))
    rng = np.random.default_rng(2)
    steps = list(
        zip(rng.choice(state.timeframes, count).tolist(), rng.uniform(0, 100, count).tolist(), strict=True)
    )
    update = state.update

    def run() -> None:
        for tf, score in steps:
            update(tf, score)

    return per_update_us(run, count)


def bench_maker(bars: list[Bar]) -> float:
    maker = ConfluenceMaker(("1m",))
    maker.bind(lambda event: None)
    on_event = maker.on_event

    def run() -> None:
        for bar in bars:
            on_event(bar)
            maker.flush()

    return per_update_us(run, len(bars))


def show(what: str, value: float, unit: str) -> None:
    print(f"{what:<48}{value:>9.2f} {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    frame = make_bars(args.updates)
    bars = as_bars(frame)
    books = list(zip(frame["book_imbalance"].tolist(), frame["book_depth_ratio"].tolist(), strict=True))
    big = make_bars(args.bars, seed=3)
    frames = {tf: big.resample(tf.replace("m", "min")).agg({
        "open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum", "vwap": "mean",
        "buy_volume": "sum", "sell_volume": "sum"}) for tf in ("1m", "5m", "15m", "1h")}  # fmt: skip
    confluence(big)  # compile / load the kernels first
    batch_s = best_of(lambda: confluence(big), args.rounds)
    consensus_s = best_of(lambda: consensus(frames), args.rounds)
    rows_consensus = sum(len(f) for f in frames.values())
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores)")
    print(f"{'what':<48}{'figure':>14}")
    show("confluence streaming update (closed bar + book)", bench_confluence_update(bars, books), "µs")
    show("consensus streaming update (4 timeframes)", bench_consensus_update(args.updates), "µs")
    show("ConfluenceMaker per closed bar (both + events)", bench_maker(bars), "µs")
    show(f"confluence batch, {len(big):,} bars", len(big) / batch_s / 1e6, "M bars/s")
    show(f"consensus batch, {rows_consensus:,} bars (4 tf)", rows_consensus / consensus_s / 1e6, "M bars/s")
    print("target (issue 9): confluence update on a closed bar <= 100 µs")


if __name__ == "__main__":
    main()
