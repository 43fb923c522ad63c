"""The TTL cache: memory and a real redis-server; TTLs on an injected clock, never by sleeping."""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from mdx.errors import CacheError, CacheUnavailable, ConfigError, SourceUnavailable
from mdx.store.cache import NAMESPACE, MemoryBackend, RedisBackend, TTLCache
from tests.redis_server import RedisServer, redis_binary

pytestmark = pytest.mark.timeout(60)

PASSWORD = "pw-Zq81-secret"


class FakeClock:
    """Seconds that move only when told to."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Counter:
    """A fetch that counts its calls and returns ``value`` (or raises ``error`` when set)."""

    def __init__(self, value: Any = "v", error: BaseException | None = None) -> None:
        self.value, self.error, self.calls = value, error, 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.value


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


# -- memory ----------------------------------------------------------------------------------------------


def test_hits_misses_and_ttl_expiry_on_the_injected_clock() -> None:
    clock = FakeClock()
    cache = TTLCache(clock=clock)
    fetch = Counter({"bid": 100.0})
    assert cache.get_or_fetch("ticker", fetch, ttl=5) == {"bid": 100.0}
    clock.advance(4.999)
    assert cache.get_or_fetch("ticker", fetch, ttl=5) == {"bid": 100.0} and fetch.calls == 1
    found = cache.lookup("ticker", fetch, ttl=5)
    assert (found.status, found.age_s) == ("hit", pytest.approx(4.999))
    assert cache.lookup("ticker", fetch, ttl=2).status == "fetched"  # the caller's ttl decides
    clock.advance(5.0)
    fetch.value = {"bid": 101.0}
    assert cache.get_or_fetch("ticker", fetch, ttl=5) == {"bid": 101.0} and fetch.calls == 3
    metrics = cache.metrics()
    assert (metrics.hits, metrics.misses, metrics.fetches, metrics.stale, metrics.errors) == (2, 3, 3, 0, 0)
    assert metrics.hit_rate == pytest.approx(2 / 5)
    assert math.isnan(TTLCache().metrics().hit_rate)
    with pytest.raises(ConfigError, match="ttl must be > 0"):
        cache.get_or_fetch("x", fetch, ttl=0)


def test_fetch_latency_percentiles() -> None:
    timer = FakeClock(0.0)
    cache = TTLCache(clock=FakeClock(), timer=timer)
    for i in range(100):  # fetches of 1 ms .. 100 ms (by the injected timer)

        def fetch(i: int = i) -> int:
            timer.advance((i + 1) / 1000)
            return i

        cache.get_or_fetch(f"k{i}", fetch, ttl=1)
    metrics = cache.metrics()
    assert metrics.fetches == 100
    assert metrics.fetch_p50_ms == pytest.approx(50.0) and metrics.fetch_p99_ms == pytest.approx(99.0)


def test_stale_if_error_serves_the_last_value_with_its_age_then_gives_up() -> None:
    clock = FakeClock()
    cache = TTLCache(clock=clock, stale_s=60)
    cache.get_or_fetch("markets", Counter(["BTC/USDT"]), ttl=10)
    clock.advance(25)
    down = Counter(error=SourceUnavailable("binance: HTTP 503"))
    found = cache.lookup("markets", down, ttl=10)
    assert (found.value, found.status, found.stale, found.age_s) == (["BTC/USDT"], "stale", True, 25.0)
    assert isinstance(found.error, SourceUnavailable)
    assert cache.get_or_fetch("markets", down, ttl=10) == ["BTC/USDT"]  # the plain call gets the value
    clock.advance(50)  # 75 s old: past ttl + stale_s
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        cache.get_or_fetch("markets", down, ttl=10)
    with pytest.raises(SourceUnavailable):  # nothing kept at all: the fetch's own error
        cache.get_or_fetch("never", down, ttl=10)
    metrics = cache.metrics()
    assert (metrics.stale, metrics.errors, metrics.fetches) == (2, 4, 5)


def test_memory_keeps_at_most_max_entries() -> None:
    cache = TTLCache(MemoryBackend(max_entries=3), clock=FakeClock())
    for key in "abcd":
        cache.get_or_fetch(key, Counter(key), ttl=60)
    fetch = Counter("A")
    assert cache.get_or_fetch("a", fetch, ttl=60) == "A" and fetch.calls == 1  # the oldest went first
    assert cache.get_or_fetch("d", fetch, ttl=60) == "d"
    with pytest.raises(ConfigError):
        MemoryBackend(max_entries=0)


def test_100_threads_missing_one_key_cause_one_fetch() -> None:
    cache = TTLCache()
    calls = []

    def fetch() -> str:
        calls.append(1)
        wait_for(lambda: cache.metrics().misses == 100, "every thread to miss")  # all wait on this fetch
        return "value"

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_fetch("k", fetch, ttl=60)))
        for _ in range(100)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(calls) == 1 and results == ["value"] * 100
    metrics = cache.metrics()
    assert (metrics.misses, metrics.coalesced, metrics.fetches, metrics.hits) == (100, 99, 1, 0)


def test_a_failing_shared_fetch_fails_every_waiter_once() -> None:
    cache = TTLCache()
    calls = []

    def fetch() -> str:
        calls.append(1)
        wait_for(lambda: cache.metrics().misses == 20, "every thread to miss")
        raise SourceUnavailable("exchange down")

    errors: list[BaseException] = []

    def call() -> None:
        try:
            cache.get_or_fetch("k", fetch, ttl=60)
        except SourceUnavailable as error:
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(calls) == 1 and len(errors) == 20
    assert cache.get_or_fetch("k", Counter("back"), ttl=60) == "back"  # the next miss fetches again


def test_100_coroutines_missing_one_key_cause_one_fetch() -> None:
    cache = TTLCache()
    calls = []

    async def fetch() -> dict[str, float]:
        calls.append(1)
        while cache.metrics().misses < 100:
            await asyncio.sleep(0)
        return {"last": 1.5}

    async def main() -> list[dict[str, float]]:
        return await asyncio.gather(*(cache.aget_or_fetch("t", fetch, ttl=60) for _ in range(100)))

    assert asyncio.run(main()) == [{"last": 1.5}] * 100 and len(calls) == 1
    assert cache.metrics().coalesced == 99

    async def again() -> Any:
        return await cache.alookup("t", fetch, ttl=60)

    assert asyncio.run(again()).status == "hit"


# -- redis ---------------------------------------------------------------------------------------------------


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server that wants a password."""
    server = RedisServer(redis_binary(), tmp_path, password=PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def redis_cache(url: str, clock: FakeClock, **kwargs: Any) -> TTLCache:
    return TTLCache(RedisBackend(url, clock=clock, down_s=5.0), clock=clock, **kwargs)


def test_redis_values_are_shared_between_caches_and_expire_by_the_clock(redis_url: str) -> None:
    clock = FakeClock()
    one, two = redis_cache(redis_url, clock), redis_cache(redis_url, clock)
    book = {"bids": [[100.5, 1.25]], "asks": [[101.0, 2.0]], "nonce": 7, "ok": True, "none": None}
    fetch = Counter(book)
    assert one.get_or_fetch("book", fetch, ttl=3) == book
    clock.advance(2)
    found = two.lookup("book", fetch, ttl=3)  # another cache (another process): from redis
    assert (found.value, found.status, found.age_s, fetch.calls) == (book, "hit", 2.0, 1)
    clock.advance(1)
    assert two.lookup("book", fetch, ttl=3).status == "fetched" and fetch.calls == 2
    # kept on the server ttl + stale_s, as JSON (orjson), never pickled
    client = redis.Redis.from_url(redis_url)
    raw = client.get(NAMESPACE + "book")
    assert (
        raw is not None and raw.startswith(b"{") and 3_590_000 < client.pttl(NAMESPACE + "book") <= 3_603_000
    )
    assert one.get_or_fetch("arr", lambda: np.arange(3.0), ttl=5) is not None
    assert two.get_or_fetch("arr", Counter(), ttl=5) == [0.0, 1.0, 2.0]  # numpy arrays come back as lists
    with pytest.raises(CacheError, match="values are stored as JSON, never pickled"):
        one.get_or_fetch("obj", lambda: object(), ttl=5)
    client.set(NAMESPACE + "junk", b"\x80\x04not json")  # what another program left there: a miss
    assert one.get_or_fetch("junk", Counter("mine"), ttl=5) == "mine"
    assert one.metrics().backend_errors == 1
    # stale-if-error across caches: the value on redis, with its age
    clock.advance(60)
    stale = two.lookup("book", Counter(error=SourceUnavailable("HTTP 503")), ttl=3)
    assert (stale.status, stale.age_s, stale.value) == ("stale", 60.0, book)  # stored when refetched
    assert client.keys(NAMESPACE + "lock:*") == []  # every fetch lock given back, failed fetches too
    one.invalidate("book")
    assert client.get(NAMESPACE + "book") is None
    client.close()
    one.close()
    two.close()


def _process_worker(url: str, results: Any) -> None:
    """In another process: 10 threads miss the same key; the fetch counts itself on redis."""
    counter = redis.Redis.from_url(url)

    def fetch() -> dict[str, int]:
        n = int(counter.incr("fetches"))
        time.sleep(0.3)  # long enough for every process to miss meanwhile
        return {"fetch": n}

    cache = TTLCache(RedisBackend(url))
    got: list[Any] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get_or_fetch("shared", fetch, ttl=60)))
        for _ in range(10)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    results.put((got, cache.metrics().fetches))


def test_processes_missing_one_key_on_redis_cause_one_fetch(redis_url: str) -> None:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_process_worker, args=(redis_url, results)) for _ in range(4)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=40) for _ in processes]
    for process in processes:
        process.join(10)
    assert all(process.exitcode == 0 for process in processes)
    assert redis.Redis.from_url(redis_url).get("fetches") == b"1"
    assert all(got == [{"fetch": 1}] * 10 for got, _ in outcomes)
    assert sorted(fetches for _, fetches in outcomes) == [0, 0, 0, 1]


def test_redis_going_away_gives_the_last_value_or_a_clear_error_and_never_its_password(
    secured: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    url = secured.url
    assert PASSWORD in url
    cache = redis_cache(url, clock)
    strict = redis_cache(url, clock, fetch_when_down=False)
    with caplog.at_level(logging.DEBUG, logger="mdx"):
        assert cache.get_or_fetch("ticker", Counter(1.5), ttl=5) == 1.5
        assert strict.get_or_fetch("ticker", Counter(9.9), ttl=5) == 1.5  # from redis
        secured.stop()
        clock.advance(10)
        # the last value this process saw, as stale, when the fetch fails too
        found = cache.lookup("ticker", Counter(error=SourceUnavailable("exchange down")), ttl=5)
        assert (found.value, found.status, found.age_s) == (1.5, "stale", 10.0)
        # fetch_when_down (the default): the cache fetches directly
        assert cache.get_or_fetch("ticker", Counter(1.6), ttl=5) == 1.6
        # fetch_when_down=False: the last value, else a clear error
        assert strict.lookup("ticker", Counter(0.0), ttl=5).status == "stale"
        with pytest.raises(CacheUnavailable, match=r"redis at redis://\*\*\*@127.0.0.1") as unavailable:
            strict.get_or_fetch("other", Counter(0.0), ttl=5)
        assert unavailable.value.__cause__ is None and unavailable.value.__context__ is None
        # back: used again once down_s has passed on the backend's clock
        secured.start()
        clock.advance(6)
        assert strict.get_or_fetch("other", Counter("fresh"), ttl=5) == "fresh"
    texts = [
        str(unavailable.value),
        repr(cache),
        repr(cache.backend),
        *(r.getMessage() for r in caplog.records),
    ]
    assert not [text for text in texts if PASSWORD in text]
    assert "***" in repr(cache.backend) and cache.metrics().backend_errors >= 1
    cache.close()
    strict.close()


def test_a_redis_that_never_answers_costs_one_timeout_then_is_skipped() -> None:
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"redis://:{PASSWORD}@127.0.0.1:{silent.getsockname()[1]}/0"
        clock = FakeClock()
        cache = TTLCache(RedisBackend(url, timeout_s=0.2, clock=clock), clock=clock, fetch_when_down=False)
        with pytest.raises(CacheUnavailable, match="Timeout") as first:
            cache.get_or_fetch("k", Counter(), ttl=5)
        with pytest.raises(CacheUnavailable, match="is down") as second:  # skipped: no second timeout
            cache.get_or_fetch("k", Counter(), ttl=5)
        assert PASSWORD not in str(first.value) + str(second.value)
        fallback = TTLCache(RedisBackend(url, timeout_s=0.2, clock=clock), clock=clock)
        assert fallback.get_or_fetch("k", Counter("direct"), ttl=5) == "direct"
        cache.close()
        fallback.close()


def test_async_lookups_on_redis(redis_url: str) -> None:
    clock = FakeClock()
    cache = redis_cache(redis_url, clock)
    calls = []

    async def fetch() -> list[int]:
        calls.append(1)
        await asyncio.sleep(0.05)
        return [1, 2]

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(cache.aget_or_fetch("a", fetch, ttl=5) for _ in range(30)))

    assert asyncio.run(main()) == [[1, 2]] * 30 and len(calls) == 1
    assert redis_cache(redis_url, clock).get_or_fetch("a", Counter(), ttl=5) == [1, 2]
    cache.close()


def test_from_env_picks_redis_only_when_configured(redis_url: str) -> None:
    assert isinstance(TTLCache.from_env({}).backend, MemoryBackend)
    on_redis = TTLCache.from_env({"MDX_REDIS_URL": redis_url})
    assert isinstance(on_redis.backend, RedisBackend)
    on_redis.close()
    with pytest.raises(ConfigError, match="not a redis URL"):
        RedisBackend(f"http://:{PASSWORD}@host/0")
