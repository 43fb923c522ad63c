"""A TTL cache for lookups that cost a request (markets, tickers, order-book snapshots), with metrics.

    cache = TTLCache()               # in memory; TTLCache.from_env(): on Redis when MDX_REDIS_URL is set
    markets = cache.get_or_fetch("binance:markets", exchange.fetch_markets, ttl=3600)
    found = cache.lookup("binance:ticker:BTC/USDT", fetch, ttl=2)   # a Lookup: value, age_s, status, error
    ticker = await cache.aget_or_fetch(key, async_fetch, ttl=2)      # the same from a coroutine
    cache.metrics()                                      # hits, misses, hit_rate, fetch p50 / p99, ...

- **TTL**: a value is fresh for ``ttl`` seconds after it was stored, by the cache's ``clock`` (injected:
  tests move time instead of sleeping). Each call gives its own ``ttl``; the value is kept ``stale_s``
  longer for the next point.
- **Stale-if-error**: when the fetch raises and a value of the key is still kept, that value is served
  instead: ``get_or_fetch`` returns it (logged, counted in ``metrics().stale``); ``lookup`` returns it in a
  ``Lookup`` with ``status == "stale"``, its ``age_s`` and the ``error``. With nothing kept the fetch's
  own exception propagates.
- **Single-flight**: concurrent misses of one key cause one fetch; the others wait for its result — threads
  (``get_or_fetch``) and coroutines of a loop (``aget_or_fetch``) in this process, and on Redis, other
  processes too: the fetching process holds a short lock (``SET lock NX PX lock_ms``); the others poll
  for the value until it is there or the lock is gone (then one of them fetches).
- **Redis** (``RedisBackend``, ``MDX_REDIS_URL``): values are stored as JSON (orjson) — dicts, lists,
  strings, numbers, booleans, None, numpy arrays — never pickled: unpickling what another process wrote
  to a shared server would run whatever code it holds. A value JSON cannot hold is a ``CacheError``;
  values come back as JSON types (tuples as lists). The URL's password never appears in reprs, logs or
  errors. Every call has socket timeouts (``timeout_s``) and no retries, so a server that is down or
  hangs costs at most that: the backend is then skipped for ``down_s`` seconds. While it is down the
  cache fetches directly (``fetch_when_down=True``, the default; the last value this process saw is the
  stale fallback), or raises ``CacheUnavailable`` unless such a value is there (``fetch_when_down=False``).

Metrics are per ``TTLCache`` object (per process): a dashboard kernel shows its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import orjson
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..config import redact_url
from ..errors import CacheError, CacheUnavailable, ConfigError

log = logging.getLogger("mdx.store.cache")

V = TypeVar("V")
Status = Literal["hit", "fetched", "stale"]
Clock = Callable[[], float]
NAMESPACE = "mdx:cache:"
LATENCY_SAMPLES = 2048  # fetch latencies kept for the percentiles


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored value and when it was stored (seconds, by the cache's clock)."""

    value: Any
    stored_at: float


@dataclass(frozen=True, slots=True)
class Lookup(Generic[V]):
    """What ``TTLCache.lookup`` found: the ``value``, how old it is (``age_s``, 0 when just fetched), and
    ``status``: ``hit`` (fresh from the cache), ``fetched`` (this call or a concurrent one fetched it) or
    ``stale`` (the fetch failed with ``error``; the last value kept is served)."""

    value: V
    age_s: float
    status: Status
    error: BaseException | None = None

    @property
    def stale(self) -> bool:
        return self.status == "stale"


@dataclass(frozen=True, slots=True)
class CacheMetrics:
    """Counts since the cache was made: ``hits`` (fresh values served), ``misses`` (lookups that were
    not), ``fetches`` (fetch calls), ``coalesced`` (misses that waited for a concurrent fetch instead),
    ``stale`` (stale values served), ``errors`` (failed fetches), ``backend_errors`` (Redis unreachable
    or a value it could not read); fetch latency percentiles in ms over the last fetches (NaN: none)."""

    hits: int
    misses: int
    fetches: int
    coalesced: int
    stale: int
    errors: int
    backend_errors: int
    fetch_p50_ms: float
    fetch_p99_ms: float

    @property
    def hit_rate(self) -> float:
        """hits / (hits + misses); NaN before the first lookup."""
        total = self.hits + self.misses
        return self.hits / total if total else math.nan


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of sorted values; NaN for none."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


# -- backends --------------------------------------------------------------------------------------------


class MemoryBackend:
    """Entries in a dict of this process, at most ``max_entries`` (the oldest stored go first). Reads
    take no lock (a dict lookup is atomic); writes are serialized."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ConfigError(f"max_entries must be >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self.entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryBackend({len(self.entries)} entries)"

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def set(self, key: str, entry: Entry, keep_s: float) -> None:
        entries = self.entries
        with self._lock:
            entries.pop(key, None)  # re-inserted last: the eviction order is the storing order
            entries[key] = entry
            while len(entries) > self.max_entries:
                del entries[next(iter(entries))]

    def delete(self, key: str) -> None:
        with self._lock:
            self.entries.pop(key, None)


class RedisBackend:
    """Entries on a Redis server (``url``: ``redis://[:password@]host:port/db``), under ``namespace``.

    ``timeout_s``: the connect and read timeout of every call (no retries); after a failure the server is
    skipped for ``down_s`` seconds (``CacheUnavailable`` at once), so an outage never stalls callers.
    ``lock_ms``: how long the single-flight lock of a fetching process lives at most."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = NAMESPACE,
        timeout_s: float = 0.25,
        down_s: float = 1.0,
        lock_ms: int = 5_000,
        clock: Clock = time.monotonic,
    ) -> None:
        self.safe_url = redact_url(url)
        self._password = urlsplit(url).password or ""
        if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"not a redis URL: {self.safe_url!r} (redis://host:port/db)")
        self.namespace = namespace
        self.down_s = down_s
        self.lock_ms = lock_ms
        self._clock = clock
        self._down_until = -math.inf
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )
        self._release = self._client.register_script(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
        )

    def __repr__(self) -> str:
        return f"RedisBackend({self.safe_url!r}, namespace={self.namespace!r})"

    def close(self) -> None:
        self._client.close()

    def _redact(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """``call()`` against the server; a connection problem becomes ``CacheUnavailable`` (redacted, not
        chained to redis-py's error) and marks the server down for ``down_s``."""
        if self._clock() < self._down_until:
            raise CacheUnavailable(f"redis at {self.safe_url} is down (retrying in a moment)")
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            detail = self._redact(f"{type(error).__name__}: {error}")
        except redis.RedisError as error:  # AUTH refused, a read-only replica, ...
            detail = self._redact(f"{type(error).__name__}: {error}")
        self._down_until = self._clock() + self.down_s
        raise CacheUnavailable(f"redis at {self.safe_url}: {what} failed: {detail}")

    def get(self, key: str) -> Entry | None:
        raw = self._call("GET", lambda: self._client.get(self.namespace + key))
        if raw is None:
            return None
        try:
            stored = orjson.loads(raw)
            return Entry(stored["v"], float(stored["t"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise CacheError(
                f"redis at {self.safe_url}: the value of {key!r} is not an mdx cache entry"
            ) from None

    def set(self, key: str, entry: Entry, keep_s: float) -> None:
        try:
            raw = orjson.dumps({"t": entry.stored_at, "v": entry.value}, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError as error:
            raise CacheError(
                f"cannot store {key!r} on redis: {error} (values are stored as JSON, never pickled)"
            ) from None
        px = max(1, int(keep_s * 1000))
        self._call("SET", lambda: self._client.set(self.namespace + key, raw, px=px))

    def delete(self, key: str) -> None:
        self._call("DEL", lambda: self._client.delete(self.namespace + key))

    def acquire(self, key: str) -> str | None:
        """The single-flight lock of ``key`` for ``lock_ms`` (``SET NX PX``): its token, or None when
        another process holds it."""
        token = secrets.token_hex(8)
        lock = f"{self.namespace}lock:{key}"
        taken = self._call("SET NX", lambda: self._client.set(lock, token, nx=True, px=self.lock_ms))
        return token if taken else None

    def release(self, key: str, token: str) -> None:
        """Drop the lock of ``key`` if it still is ours (it may have expired and be someone else's)."""
        lock = f"{self.namespace}lock:{key}"
        self._call("release", lambda: self._release(keys=[lock], args=[token]))

    def locked(self, key: str) -> bool:
        return bool(self._call("EXISTS", lambda: self._client.exists(f"{self.namespace}lock:{key}")))


Backend = MemoryBackend | RedisBackend


# -- the cache ---------------------------------------------------------------------------------------------


class _Flight:
    """One fetch in progress in this process, which the other threads missing the same key wait for."""

    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Lookup[Any] | None = None
        self.error: BaseException | None = None


class TTLCache:
    """``get_or_fetch`` / ``lookup`` / ``aget_or_fetch`` / ``alookup`` over a backend (see the module
    docstring). ``clock``: seconds, for the TTLs and ages (wall time: ages are compared across processes
    on Redis); ``timer``: for the fetch latencies; ``stale_s``: how long past its TTL a value is kept
    for stale-if-error; ``wait_s``: the longest a miss waits for a concurrent fetch (then it fetches)."""

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        clock: Clock = time.time,
        timer: Clock = time.perf_counter,
        stale_s: float = 3600.0,
        wait_s: float = 30.0,
        fetch_when_down: bool = True,
    ) -> None:
        if stale_s < 0 or wait_s <= 0:
            raise ConfigError(f"stale_s must be >= 0 and wait_s > 0, got {stale_s!r}, {wait_s!r}")
        self.backend: Backend = backend or MemoryBackend()
        self._remote = self.backend if isinstance(self.backend, RedisBackend) else None
        self._local = self.backend if isinstance(self.backend, MemoryBackend) else MemoryBackend()
        self._entries = self._local.entries  # the hot path reads the dict directly
        self.clock = clock
        self.timer = timer
        self.stale_s = stale_s
        self.wait_s = wait_s
        self.fetch_when_down = fetch_when_down
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._aflights: dict[tuple[int, str], asyncio.Future[Lookup[Any]]] = {}
        self._hits = self._misses = self._fetches = self._coalesced = 0
        self._stale = self._errors = self._backend_errors = 0
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)

    @classmethod
    def from_url(cls, redis_url: str | None, **kwargs: Any) -> TTLCache:
        """On the Redis at ``redis_url`` (e.g. ``Settings.redis_url``), or in memory when it is empty."""
        url = (redis_url or "").strip()
        return cls(RedisBackend(url) if url else None, **kwargs)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> TTLCache:
        """On Redis when ``MDX_REDIS_URL`` is set, else in memory."""
        return cls.from_url((os.environ if environ is None else environ).get("MDX_REDIS_URL"), **kwargs)

    def __repr__(self) -> str:
        return f"TTLCache({self.backend!r})"

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()

    # -- reading --------------------------------------------------------------------------------------

    def get_or_fetch(self, key: str, fetch: Callable[[], V], ttl: float) -> V:
        """The value of ``key``: fresh from the cache, else ``fetch()``-ed and stored for ``ttl`` seconds;
        the last value kept when the fetch fails (see ``lookup`` for its age)."""
        if self._remote is None:  # the hot path: a fresh value in memory
            entry = self._entries.get(key)
            if entry is not None and self.clock() - entry.stored_at < ttl:
                with self._lock:
                    self._hits += 1
                return entry.value  # type: ignore[no-any-return]
        return self.lookup(key, fetch, ttl).value

    def lookup(self, key: str, fetch: Callable[[], V], ttl: float) -> Lookup[V]:
        """Like ``get_or_fetch``, with the value's age and where it came from (``Lookup``)."""
        _check_ttl(ttl)
        entry, down = self._read(key)
        found = self._fresh(entry, ttl)
        if found is not None:
            return found
        with self._lock:
            self._misses += 1
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
            else:
                self._coalesced += 1
        if not leader:
            if flight.done.wait(self.wait_s):
                if flight.error is not None:
                    raise flight.error
                assert flight.result is not None
                return flight.result
            log.warning("cache %s: waited %.1f s for a concurrent fetch; fetching", key, self.wait_s)
            return self._fill(key, fetch, ttl, entry, down)
        try:
            again = self._fetched_meanwhile(self._local.get(key), ttl) if self._remote is None else None
            flight.result = again or self._fill(key, fetch, ttl, entry, down)
            return flight.result
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.done.set()

    async def aget_or_fetch(self, key: str, fetch: Callable[[], Awaitable[V]], ttl: float) -> V:
        """``get_or_fetch`` for a coroutine ``fetch``; concurrent misses of a loop share one fetch."""
        if self._remote is None:
            entry = self._entries.get(key)
            if entry is not None and self.clock() - entry.stored_at < ttl:
                with self._lock:
                    self._hits += 1
                return entry.value  # type: ignore[no-any-return]
        return (await self.alookup(key, fetch, ttl)).value

    async def alookup(self, key: str, fetch: Callable[[], Awaitable[V]], ttl: float) -> Lookup[V]:
        """``lookup`` for a coroutine ``fetch``; Redis calls run in a worker thread (the loop goes on)."""
        _check_ttl(ttl)
        if self._remote is None:
            entry, down = self._read(key)
        else:
            entry, down = await asyncio.to_thread(self._read, key)
        found = self._fresh(entry, ttl)
        if found is not None:
            return found
        loop = asyncio.get_running_loop()
        flight_key = (id(loop), key)
        with self._lock:
            self._misses += 1
            future = self._aflights.get(flight_key)
            if future is not None:
                self._coalesced += 1
        if future is not None:
            return await asyncio.shield(future)
        future = loop.create_future()
        self._aflights[flight_key] = future
        try:
            again = self._fetched_meanwhile(self._local.get(key), ttl) if self._remote is None else None
            if again is not None:
                result: Lookup[V] = again
            elif self._remote is not None and down is None:
                owner = await asyncio.to_thread(self._take_turn, key, ttl)
                if isinstance(owner, Lookup):
                    result = owner
                else:
                    result = await self._afetch(key, fetch, ttl, entry, owner)
            else:
                result = await self._afetch(key, fetch, ttl, entry, None, down)
            future.set_result(result)
            return result
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._aflights[flight_key]

    def invalidate(self, key: str) -> None:
        """Forget ``key`` (here and on Redis)."""
        self._local.delete(key)
        if self._remote is not None:
            self._remote.delete(key)

    def metrics(self) -> CacheMetrics:
        with self._lock:
            latencies = sorted(self._latencies)
            counts = (self._hits, self._misses, self._fetches, self._coalesced)
            more = (self._stale, self._errors, self._backend_errors)
        p50, p99 = (_percentile(latencies, q) * 1000 for q in (0.5, 0.99))
        return CacheMetrics(*counts, *more, p50, p99)

    # -- the parts ------------------------------------------------------------------------------------

    def _read(self, key: str) -> tuple[Entry | None, CacheUnavailable | None]:
        """The entry kept for ``key`` (on Redis: its, else the last this process saw when it is down)."""
        if self._remote is None:
            return self._local.get(key), None
        try:
            entry = self._remote.get(key)
        except CacheUnavailable as error:
            self._count_backend_error(error)
            return self._local.get(key), error
        except CacheError as error:  # a value that is not ours: a miss
            self._count_backend_error(error)
            return None, None
        if entry is not None:
            self._local.set(key, entry, 0)
        return entry, None

    def _fresh(self, entry: Entry | None, ttl: float) -> Lookup[Any] | None:
        """A hit (counted) when ``entry`` is fresh."""
        if entry is None:
            return None
        age = self.clock() - entry.stored_at
        if age >= ttl:
            return None
        with self._lock:
            self._hits += 1
        return Lookup(entry.value, max(age, 0.0), "hit")

    def _fetched_meanwhile(self, entry: Entry | None, ttl: float) -> Lookup[Any] | None:
        """``entry`` when it is fresh after all: a miss whose value a concurrent fetch just stored."""
        if entry is None or self.clock() - entry.stored_at >= ttl:
            return None
        return Lookup(entry.value, max(self.clock() - entry.stored_at, 0.0), "fetched")

    def _fill(
        self, key: str, fetch: Callable[[], V], ttl: float, entry: Entry | None, down: CacheUnavailable | None
    ) -> Lookup[V]:
        """The leader's part of a miss: on Redis take the cross-process turn first, then fetch and store."""
        token: str | None = None
        if self._remote is not None and down is None:
            turn = self._take_turn(key, ttl)
            if isinstance(turn, Lookup):
                return turn
            token = turn
        elif down is not None and not self.fetch_when_down:
            return self._stale_or_raise(key, entry, down, ttl)
        started = self.timer()
        try:
            value = fetch()
        except Exception as error:
            self._fetched(started, failed=True)
            self._give_back(key, token)
            return self._stale_or_raise(key, entry, error, ttl)
        self._fetched(started)
        self._store(key, value, ttl, token)
        return Lookup(value, 0.0, "fetched")

    async def _afetch(
        self,
        key: str,
        fetch: Callable[[], Awaitable[V]],
        ttl: float,
        entry: Entry | None,
        token: str | None,
        down: CacheUnavailable | None = None,
    ) -> Lookup[V]:
        if down is not None and not self.fetch_when_down:
            return self._stale_or_raise(key, entry, down, ttl)
        started = self.timer()
        try:
            value = await fetch()
        except Exception as error:
            self._fetched(started, failed=True)
            if token is not None:
                await asyncio.to_thread(self._give_back, key, token)
            return self._stale_or_raise(key, entry, error, ttl)
        self._fetched(started)
        if self._remote is None:
            self._store(key, value, ttl, None)
        else:
            await asyncio.to_thread(self._store, key, value, ttl, token)
        return Lookup(value, 0.0, "fetched")

    def _take_turn(self, key: str, ttl: float) -> str | Lookup[Any] | None:
        """On Redis: the lock token when this process is to fetch (None: Redis went away, fetch anyway),
        or the value another process fetched meanwhile (a ``Lookup``)."""
        remote = self._remote
        assert remote is not None
        deadline = time.monotonic() + self.wait_s
        pause = 0.002
        while True:
            try:
                token = remote.acquire(key)
                if token is None:  # another process fetches: wait for its value, or for its lock to go
                    time.sleep(pause)
                    pause = min(pause * 2, 0.05)
                found = self._fetched_meanwhile(_peek(remote, key), ttl)
                if found is not None:
                    if token is not None:
                        remote.release(key, token)
                    return found
                if token is not None:
                    return token
            except CacheError as error:
                self._count_backend_error(error)
                return None
            if time.monotonic() > deadline:
                log.warning("cache %s: another process held the fetch lock for %.1f s", key, self.wait_s)
                return None

    def _store(self, key: str, value: Any, ttl: float, token: str | None) -> None:
        entry = Entry(value, self.clock())
        keep_s = ttl + self.stale_s
        self._local.set(key, entry, keep_s)
        if self._remote is None:
            return
        try:
            self._remote.set(key, entry, keep_s)
        except CacheUnavailable as error:
            self._count_backend_error(error)
        finally:
            self._give_back(key, token)

    def _give_back(self, key: str, token: str | None) -> None:
        if token is None or self._remote is None:
            return
        try:
            self._remote.release(key, token)
        except CacheUnavailable as error:  # the lock expires by itself
            self._count_backend_error(error)

    def _fetched(self, started: float, *, failed: bool = False) -> None:
        elapsed = self.timer() - started
        with self._lock:
            self._fetches += 1
            self._latencies.append(elapsed)
            if failed:
                self._errors += 1

    def _stale_or_raise(self, key: str, entry: Entry | None, error: BaseException, ttl: float) -> Lookup[Any]:
        """The last value kept for ``key`` (as stale) when it is not older than ``ttl + stale_s``, else
        ``error`` raised."""
        entry = entry or self._local.get(key)
        if entry is not None:
            age = self.clock() - entry.stored_at
            if age < ttl + self.stale_s:
                with self._lock:
                    self._stale += 1
                log.warning("cache %s: serving a value %.1f s old: %s", key, age, error)
                return Lookup(entry.value, max(age, 0.0), "stale", error)
        raise error

    def _count_backend_error(self, error: CacheError) -> None:
        with self._lock:
            self._backend_errors += 1
            first = self._backend_errors == 1
        (log.warning if first else log.debug)("cache: %s", error)


def _peek(remote: RedisBackend, key: str) -> Entry | None:
    """The entry of ``key`` on Redis; None for a value that is not an mdx entry (counted when first read);
    ``CacheUnavailable`` when Redis is gone."""
    try:
        return remote.get(key)
    except CacheUnavailable:
        raise
    except CacheError:
        return None


def _check_ttl(ttl: float) -> None:
    if not ttl > 0:
        raise ConfigError(f"ttl must be > 0 s, got {ttl!r}")


__all__ = [
    "NAMESPACE",
    "CacheMetrics",
    "Entry",
    "Lookup",
    "MemoryBackend",
    "RedisBackend",
    "TTLCache",
]
