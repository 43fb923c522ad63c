"""The TTL cache: a hit in memory and on a loopback Redis, beside a bare dict lookup and a bare redis-py GET.

Run: ``python bench/bench_cache.py`` (needs ``redis-server`` on the PATH: it starts its own on a free
loopback port in a temp folder and stops it by its pid). Targets: a memory hit at most 2 µs, a Redis hit
at most 300 µs. Figures are per call: the mean of the best of a few runs, and the p50 / p99 of single
calls timed one by one (the Redis hit is one GET round trip plus an orjson decode).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import redis
from timing import best_of

from mdx.store.cache import NAMESPACE, RedisBackend, TTLCache

TICKER = {"symbol": "BTC/USDT", "bid": 61_850.1, "ask": 61_850.2, "last": 61_850.15, "baseVolume": 1234.5}


def per_call_us(fn: Callable[[], object], calls: int, runs: int = 5) -> float:
    """µs per call: the best of ``runs`` loops of ``calls`` calls."""

    def loop() -> None:
        for _ in range(calls):
            fn()

    return best_of(loop, runs) / calls * 1e6


def single_calls_us(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """(p50, p99) in µs of ``calls`` calls timed one by one."""
    times = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - started) / 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def start_redis(folder: Path) -> tuple[object, str]:
    """A redis-server on a free loopback port: tests' ``RedisServer`` (the same starter the tests use)."""
    from tests.redis_server import RedisServer

    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (Debian package redis-server)")
    server = RedisServer(binary, folder)
    server.start()
    return server, server.url


def main() -> None:
    rows: list[tuple[str, float, float, float, str]] = []

    memory = TTLCache()
    memory.get_or_fetch("ticker", lambda: TICKER, ttl=3600)
    plain: dict[str, object] = {"ticker": TICKER}
    rows.append(("bare dict.get", per_call_us(lambda: plain.get("ticker"), 200_000), *(0.0, 0.0), ""))
    hit = lambda: memory.get_or_fetch("ticker", dict, ttl=3600)  # noqa: E731
    rows.append(("memory get_or_fetch hit", per_call_us(hit, 200_000), *single_calls_us(hit, 20_000), "<= 2"))
    look = lambda: memory.lookup("ticker", dict, ttl=3600)  # noqa: E731
    rows.append(("memory lookup hit", per_call_us(look, 100_000), *single_calls_us(look, 20_000), ""))

    with tempfile.TemporaryDirectory() as folder:
        server, url = start_redis(Path(folder))
        try:
            cache = TTLCache(RedisBackend(url))
            cache.get_or_fetch("ticker", lambda: TICKER, ttl=3600)
            client = redis.Redis.from_url(url)
            key = NAMESPACE + "ticker"
            bare = lambda: client.get(key)  # noqa: E731
            rows.append(("bare redis-py GET", per_call_us(bare, 5_000, 3), *single_calls_us(bare, 5_000), ""))
            decoded = lambda: orjson.loads(client.get(key))  # noqa: E731
            rows.append(
                (
                    "bare GET + orjson.loads",
                    per_call_us(decoded, 5_000, 3),
                    *single_calls_us(decoded, 5_000),
                    "",
                )
            )
            hit = lambda: cache.get_or_fetch("ticker", dict, ttl=3600)  # noqa: E731
            rows.append(
                ("redis get_or_fetch hit", per_call_us(hit, 5_000, 3), *single_calls_us(hit, 5_000), "<= 300")
            )
            assert cache.metrics().fetches == 1, cache.metrics()
            client.close()
            cache.close()
        finally:
            server.stop()  # type: ignore[attr-defined]

    print(f"{'per call':28} {'mean µs':>9} {'p50 µs':>8} {'p99 µs':>8}  target µs")
    for name, mean, p50, p99, target in rows:
        single = f"{p50:8.2f} {p99:8.2f}" if p50 else f"{'':8} {'':8}"
        print(f"{name:28} {mean:9.2f} {single}  {target}")


if __name__ == "__main__":
    main()
