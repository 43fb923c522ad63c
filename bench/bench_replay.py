"""Replay throughput on the real Binance BTCUSDT spot capture (0808 + 0809, ~99.6k frames).

    .venv/bin/python bench/bench_replay.py [--repeat 3]

Rows (frames/s, best of ``--repeat``):
  gunzip + split       decompress and split lines only
  (a) orjson bare      + orjson.loads of every frame
  (b) dict book        + a minimal dict book (floats, no event objects, no sync checks)
  mdx normalize        read_capture + merge: every frame to a frozen event
  (c) mdx end-to-end   normalize + OrderBook (sync checks) + BarBuilder("1m") on trades
  session              Session.run_until_done (book, 1m bars, cache, hub, book views)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from orjson import loads

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mdx.clock import SimulatedClock  # noqa: E402
from mdx.events import BookDelta, BookSnapshot, Trade  # noqa: E402
from mdx.market.book import OrderBook  # noqa: E402
from mdx.sources.replay import ReplaySource  # noqa: E402
from mdx.stats import Rejections  # noqa: E402

DATA = Path(os.environ.get("MDX_SHARED_DATA", ROOT.parent / "shared" / "data")) / "binance-spot-l2-trades"
FILES = [DATA / "btcusdt_20240808.gz", DATA / "btcusdt_20240809.gz"]


def lines() -> Iterator[bytes]:
    for path in FILES:
        yield from zlib.decompress(path.read_bytes(), 31).split(b"\n")


def gunzip_split() -> int:
    return sum(1 for line in lines() if line)


def orjson_bare() -> int:
    n = 0
    for line in lines():
        if line:
            loads(line.partition(b" ")[2])
            n += 1
    return n


def dict_book() -> int:
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    n = 0
    for line in lines():
        if not line:
            continue
        n += 1
        ts, _, raw = line.partition(b" ")
        int(ts)
        msg = loads(raw)
        data = msg.get("data")
        if data is None:
            bids = {float(p): float(q) for p, q in msg["bids"]}
            asks = {float(p): float(q) for p, q in msg["asks"]}
            continue
        kind = data.get("e")
        if kind == "depthUpdate":
            for side, levels in ((bids, data["b"]), (asks, data["a"])):
                for p, q in levels:
                    price, amount = float(p), float(q)
                    if amount == 0.0:
                        side.pop(price, None)
                    else:
                        side[price] = amount
        elif kind == "trade":
            float(data["p"]), float(data["q"])
        else:
            float(data["b"]), float(data["B"]), float(data["a"]), float(data["A"])
    return n


def mdx_normalize() -> int:
    return sum(1 for _ in ReplaySource(FILES).iter_events(Rejections()))


def mdx_end_to_end() -> int:
    from mdx.market.bars import BarBuilder

    book = OrderBook("binance", "BTC/USDT")
    builder = BarBuilder("binance", "BTC/USDT", "1m")
    apply, update = book.apply, builder.update
    n = bars = 0
    for event in ReplaySource(FILES).iter_events(Rejections()):
        n += 1
        kind = type(event)
        if kind is Trade:
            bars += len(update(event))
        elif kind is BookDelta or kind is BookSnapshot:
            apply(event)
    assert book.in_sync and bars == 11, (book, bars)
    return n


def session() -> int:
    from mdx.session import Session

    s = Session(ReplaySource(FILES), timeframes=("1m",), clock=SimulatedClock()).run_until_done()
    assert s.rejections.total == 0
    return s.events_processed


def best_of(fn: Callable[[], int], repeat: int) -> tuple[int, float]:
    best = float("inf")
    n = 0
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - start)
    return n, best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not all(path.exists() for path in FILES):
        sys.exit(f"missing {FILES} (recorded data lives in ../shared/data)")
    rows = [
        ("gunzip + split", gunzip_split),
        ("(a) orjson bare", orjson_bare),
        ("(b) dict book", dict_book),
        ("mdx normalize", mdx_normalize),
        ("(c) mdx end-to-end", mdx_end_to_end),
        ("session (1m bars)", session),
    ]
    print(f"{'stage':<22}{'frames':>10}{'seconds':>10}{'frames/s':>12}")
    for name, fn in rows:
        n, seconds = best_of(fn, args.repeat)
        print(f"{name:<22}{n:>10,}{seconds:>10.3f}{n / seconds:>12,.0f}")


if __name__ == "__main__":
    main()
