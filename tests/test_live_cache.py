"""Live sources share their REST lookups through the TTL cache: the markets are downloaded once for every
source (every dashboard kernel, on Redis), and what is polled is fetched once per half interval."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from mdx.clock import LiveClock, SimulatedClock
from mdx.events import BookSnapshot
from mdx.sources.live import LiveSource
from mdx.stats import Rejections
from mdx.store.cache import TTLCache
from tests.fake_binance import FakeBinance
from tests.test_live import FAST, SYMBOL, Harness, subscribed

INFO = ("/api/v3/exchangeInfo", {})


def run(coro: Any, timeout: float = 30.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def source(fake: FakeBinance, cache: TTLCache, **kwargs: Any) -> LiveSource:
    return LiveSource("binance", [SYMBOL], exchange_options=fake.ccxt_config(), backoff=FAST,
                      rng=random.Random(3), cache=cache, **kwargs)  # fmt: skip


async def first_books(fake: FakeBinance, *sources: LiveSource) -> list[Harness]:
    harnesses = [Harness(s, LiveClock()) for s in sources]
    for h in harnesses:
        await h.wait(lambda h=h: bool(h.of(BookSnapshot)), "a first book")
    return harnesses


def test_two_sources_on_one_cache_download_the_markets_once() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            cache = TTLCache()
            harnesses = await first_books(fake, source(fake, cache), source(fake, cache))
            await subscribed(fake)
            assert fake.requests.count(INFO) == 1
            metrics = cache.metrics()
            assert metrics.fetches == 1 and metrics.hits + metrics.coalesced >= 1
            for h in harnesses:
                await h.stop()

    run(main())


def test_kernels_on_one_redis_download_the_markets_once(redis_url: str) -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            # two caches, as two kernels have: they meet on Redis
            first, second = TTLCache.from_url(redis_url), TTLCache.from_url(redis_url)
            harnesses = await first_books(fake, source(fake, first))
            harnesses += await first_books(fake, source(fake, second))
            assert fake.requests.count(INFO) == 1
            assert second.metrics().hits == 1 and second.metrics().fetches == 0
            for h in harnesses:
                await h.stop()
            first.close()
            second.close()

    run(main())


def test_polled_books_are_fetched_once_per_half_interval_for_all_sources() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            cache = TTLCache()
            kwargs = {"channels": ("book",), "ws_failures_before_polling": 1, "poll_s": {"book": 0.4}}
            fake.refuse_ws = 10**6  # no websocket: both poll the book over REST
            a, b = source(fake, cache, **kwargs), source(fake, cache, **kwargs)
            harnesses = [Harness(a, LiveClock()), Harness(b, LiveClock())]
            for h in harnesses:
                await h.wait(lambda h=h: len(h.of(BookSnapshot)) >= 6, "books polled", 20)
            polled = fake.depth_requests("BTCUSDT")
            books = sum(len(h.of(BookSnapshot)) for h in harnesses)
            assert polled < books  # each fetch served both sources (and the same source twice per interval)
            metrics = cache.metrics()  # served from the cache, or joined to a fetch under way
            assert metrics.hits + metrics.coalesced >= books - polled - 2
            for h in harnesses:
                await h.stop()

    run(main())


def test_the_history_loads_the_markets_through_the_cache_too() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            cache = TTLCache()
            await source(fake, cache).history(("1m",), SimulatedClock(10**18), Rejections())
            await source(fake, cache).history(("1m",), SimulatedClock(10**18), Rejections())
            assert fake.requests.count(INFO) == 1
            assert cache.metrics().fetches == 1 and cache.metrics().hits == 1

    run(main())
