"""A dashboard kernel's side: a source that reads what ``mdx collect`` publishes to Redis.

``RedisSource("redis://HOST:PORT/DB", symbols)`` (``--source redis://...``, ``MDX_SOURCE``) streams the
events of its symbols from the collector's streams (``keys``) instead of an exchange, so N viewers make
one exchange connection, not N. Its session builds books, bars and indicators from them as from any
source (the same maths as the collector's).

Joining (``start="latest"``, the default): for each market the collector publishes (``mdx:markets``)
that it wants, the source starts from the latest values — the collector's book view (a ``BookSnapshot``
keyed with the id of the book entry it includes, so the deltas after it chain on), the last trade and
the last quote — and reads each stream after those ids. ``history()`` gives the last closed bars the
collector keeps (``HistorySource``), so charts open warm. ``start="first"`` reads every entry the
streams still hold instead (tests, research: the exact sequence).

The source remembers the last id it read of each stream (``offsets``) and asks for the entries after
it (``XREAD BLOCK``), so a collector restart or a Redis outage costs no event and repeats none: the
collector keeps its ids (see ``publisher``). It reads over its own lean connection (``wire``): a
publisher round in one round trip, handed to the session as one batch (``batches``; the session takes a
``BatchSource`` a read at a time), so twenty dashboard kernels on two cores keep up with a sweep.

Redis going away is reported like an exchange going away (``on_status``: ``reconnecting`` with the
redacted reason, the attempt and the next try) and retried with ``backoff``; the next answer makes it
``connected`` again. A read that waited ``block_ms`` for nothing while the collector's heartbeat key is
gone says ``stale``: "no collector is publishing". The URL's password never shows: the source's ``name``
and every reason use ``redact_url``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from ...backoff import Backoff
from ...clock import Clock
from ...errors import ConfigError, DataError, SourceUnavailable
from ...events import Bar, Event
from ...io.recording import decode
from ...stats import Rejections
from ..base import each_event
from .connection import CONNECTION_ERRORS, Redactor, check_url, connect, describe
from .keys import CHANNEL_NAMES, COLLECTOR_KEY, ENTRY_FIELD, MARKETS_KEY, bars_key, book_key, stream_key
from .wire import Wire

log = logging.getLogger("mdx.sources.redis")

T = TypeVar("T")
StatusCallback = Callable[..., None]
STARTS = ("latest", "first")
FIRST_ID = "0-0"
_FAILED: Any = object()  # what a guarded call gives back when Redis was away
EXCHANGE_LOOKUP_S = 0.5  # the timeout of the lazy, synchronous lookup of ``exchange``
_FIELD = ENTRY_FIELD.encode()


class RedisSource:
    """Events from a collector's Redis streams. See the module docstring."""

    def __init__(
        self,
        url: str,
        symbols: Iterable[str],
        *,
        exchange: str = "",
        start: str = "latest",
        block_ms: int = 1000,
        count: int = 5000,
        backoff: Backoff = Backoff(initial=0.2, cap=10.0),  # noqa: B008 - frozen
        rng: random.Random | None = None,
        history_ns: int | None = None,
    ) -> None:
        """``exchange``: read only this exchange's markets ("": every exchange publishing the symbols).
        ``block_ms``: the longest wait of one read. ``history_ns``: how far back ``history()`` reaches
        (None: every bar the collector keeps; 0: none)."""
        self.url = check_url(url)
        self.symbols: tuple[str, ...] = tuple(dict.fromkeys(symbols))
        if not self.symbols:
            raise ConfigError(f"redis source {Redactor(url).url}: no symbols")
        if start not in STARTS:
            raise ConfigError(f"redis source start must be one of {', '.join(STARTS)}, got {start!r}")
        self.redact = Redactor(url)
        self.name = self.redact.url
        self.start = start
        self.block_ms = int(block_ms)
        self.count = int(count)
        self.backoff = backoff
        self.history_ns = history_ns
        self.on_status: StatusCallback | None = None
        self.state = ""
        self.offsets: dict[str, str] = {}  # stream -> the last entry id read
        self.markets: list[tuple[str, str]] = []  # (exchange, symbol) being read
        self._exchange = exchange
        self._rng = rng or random.Random()
        self._lookup_after = 0.0
        self._attempt = 0
        self._discovered_at = 0.0
        self.reads = 0  # reads that brought entries
        self.entries = 0  # entries read

    def __repr__(self) -> str:
        return f"RedisSource({self.name!r}, {self.symbols!r}, start={self.start!r})"

    @property
    def exchange(self) -> str:
        """The exchange(s) read, joined by ``,``: the one given, else those found (on first access a
        short synchronous look at the collector's market list, like a replay peeking at its files), else,
        while Redis cannot say, the source's redacted ``name``."""
        if self._exchange:
            return self._exchange
        found = ",".join(dict.fromkeys(e for e, _ in self.markets))
        return found or self._lookup_exchange() or self.name  # never empty: callers fall back to the URL

    def _lookup_exchange(self) -> str:
        now = time.monotonic()
        if now < self._lookup_after:
            return ""
        self._lookup_after = now + 10 * EXCHANGE_LOOKUP_S
        import redis

        try:
            client = redis.Redis.from_url(
                self.url, socket_connect_timeout=EXCHANGE_LOOKUP_S, socket_timeout=EXCHANGE_LOOKUP_S
            )
            try:
                members = client.smembers(MARKETS_KEY)
            finally:
                client.close()
        except (*CONNECTION_ERRORS, ValueError) as error:
            log.debug("exchange lookup: %s", describe(error, self.redact))
            return ""
        return ",".join(dict.fromkeys(e for e, _ in self._wanted(members)))

    def _wanted(self, members: Iterable[bytes | str]) -> list[tuple[str, str]]:
        wanted = []
        for member in members:
            try:
                exchange, symbol = json.loads(member)
            except (ValueError, TypeError):
                continue
            if symbol in self.symbols and (not self._exchange or exchange == self._exchange):
                wanted.append((str(exchange), str(symbol)))
        return sorted(wanted, key=lambda m: (self.symbols.index(m[1]), m[0]))

    # -- status -------------------------------------------------------------------------------------

    def _report(self, state: str, reason: str = "", attempt: int = 0, next_retry_ns: int = 0) -> None:
        self.state = state
        if self.on_status is not None:
            self.on_status(state, reason, attempt, next_retry_ns)

    async def _guarded(self, call: Awaitable[T], clock: Clock) -> T:
        """``await call``; when Redis is away: report, back off, and give ``_FAILED``."""
        try:
            return await call
        except CONNECTION_ERRORS as error:
            _raise_if_cancelled()  # a cancel the client turned into an error is still a cancel
            self._attempt += 1
            delay = self.backoff.delay(self._attempt, self._rng)
            next_retry_ns = clock.now_ns() + int(delay * 1e9)
            reason = describe(error, self.redact)
            log.warning("%s; retry %d in %.2f s", reason, self._attempt, delay)
            self._report("reconnecting", reason, self._attempt, next_retry_ns)
            await clock.sleep_until(next_retry_ns)
            return _FAILED  # type: ignore[no-any-return]

    # -- the stream ---------------------------------------------------------------------------------

    def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        """The collector's events as they are published, from the latest values on (or the first)."""
        return each_event(self.batches(clock, rejections))

    async def batches(self, clock: Clock, rejections: Rejections) -> AsyncIterator[list[Event]]:
        """The events of ``stream``, a read at a time (``BatchSource``)."""
        self._attempt = 0
        self._report("connecting")
        wire: Wire | None = None
        try:
            while True:
                _raise_if_cancelled()
                if wire is None:
                    wire = await self._guarded(Wire.open(self.url), clock)
                    if wire is _FAILED:
                        wire = None
                        continue
                if len(self.markets) < len(self.symbols) and time.monotonic() >= self._discovered_at:
                    joined = await self._guarded(self._discover(wire, rejections), clock)
                    if joined is _FAILED:
                        wire = None
                        continue
                    if joined:
                        yield joined
                if not self.offsets:
                    if self.state != "connecting" or self._attempt:
                        self._report("connecting", f"waiting for a collector to publish on {self.name}")
                        self._attempt = 0
                    await asyncio.sleep(self.block_ms / 1000)
                    continue
                reply = await self._guarded(self._read(wire), clock)
                if reply is _FAILED:
                    wire = None
                    continue
                if self._attempt:  # Redis answered again
                    log.warning("redis %s is back after %d retries", self.name, self._attempt)
                    self._attempt = 0
                    self._report("connected")
                if not reply:  # a quiet spell: is anyone publishing?
                    alive = await self._guarded(wire.call("EXISTS", COLLECTOR_KEY), clock)
                    if alive is _FAILED:
                        wire = None
                        continue
                    if not alive and self.state != "stale":
                        self._report(
                            "stale", f"no collector is publishing on {self.name} (is mdx collect running?)"
                        )
                    elif alive and self.state != "connected":
                        self._report("connected")
                    continue
                if self.state != "connected":
                    self._report("connected")
                self.reads += 1
                yield self._events(reply, rejections)
        finally:
            if wire is not None:
                await wire.close()

    def _events(self, reply: list[Any], rejections: Rejections) -> list[Event]:
        """The events of an ``XREAD`` reply, stream after stream; ``offsets`` move past its entries."""
        events: list[Event] = []
        append = events.append
        for stream, entries in reply:
            for _, fields in entries:
                event = _decode(fields, rejections)
                if event is not None:
                    append(event)
            if entries:
                self.offsets[stream.decode()] = entries[-1][0].decode()
                self.entries += len(entries)
        return events

    async def _read(self, wire: Wire) -> list[Any] | None:
        """The entries after ``offsets``, waiting up to ``block_ms`` for the first. Two commands in one
        write: a blocking ``XREAD COUNT 1`` that returns as soon as anything is there, then (Redis runs
        it only after the first returned) a ``XREAD`` of everything the streams then hold — a whole
        publisher flush in one round trip, not its first entry."""
        streams = list(self.offsets)
        ids = [self.offsets[s] for s in streams]
        first, everything = await wire.pipeline(
            [
                ("XREAD", "COUNT", 1, "BLOCK", self.block_ms, "STREAMS", *streams, *ids),
                ("XREAD", "COUNT", self.count, "STREAMS", *streams, *ids),
            ],
            timeout_s=self.block_ms / 1000 + 10,
        )
        return everything or first  # type: ignore[no-any-return]

    async def _discover(self, wire: Wire, rejections: Rejections) -> list[Event]:
        """Join the wanted markets the collector publishes that are not read yet: their latest values
        (``start="latest"``) and where each stream is to be read from. Returns the latest values."""
        self._discovered_at = time.monotonic() + 1.0
        members = await wire.call("SMEMBERS", MARKETS_KEY)
        joined: list[Event] = []
        for market in self._wanted(members):
            if market in self.markets:
                continue
            offsets, events = await self._join(wire, market, rejections)
            self.offsets.update(offsets)
            self.markets.append(market)
            joined += events
        return joined

    async def _join(
        self, wire: Wire, market: tuple[str, str], rejections: Rejections
    ) -> tuple[dict[str, str], list[Event]]:
        streams = {channel: stream_key(*market, channel) for channel in CHANNEL_NAMES}
        offsets = dict.fromkeys(streams.values(), FIRST_ID)
        if self.start == "first":
            return offsets, []
        view, *lasts = await wire.pipeline(
            [
                ("GET", book_key(*market)),
                *(("XREVRANGE", streams[channel], "+", "-", "COUNT", 1) for channel in ("trades", "quotes")),
            ]
        )
        events: list[Event] = []
        if view is not None:
            try:
                found = json.loads(view)
                snapshot = decode(found["e"].encode())
                offsets[streams["book"]] = str(found["id"])
                events.append(snapshot)
            except DataError as error:
                rejections.add(error)
            except (ValueError, KeyError, TypeError, AttributeError):
                rejections.add("MalformedFrame", f"{book_key(*market)}: not a book view")
        for channel, last in zip(("trades", "quotes"), lasts, strict=True):
            if last:
                entry_id, fields = last[0]
                offsets[streams[channel]] = entry_id.decode()
                event = _decode(fields, rejections)
                if event is not None:
                    events.append(event)
        events.sort(key=lambda e: e.ts_recv)
        return offsets, events

    # -- history ------------------------------------------------------------------------------------

    async def history(self, timeframes: Sequence[str], clock: Clock, rejections: Rejections) -> list[Bar]:
        """The closed bars the collector keeps for the wanted markets (``HistorySource``), oldest first
        per (symbol, timeframe), within ``history_ns`` of now; ``SourceUnavailable`` when Redis is away."""
        if self.history_ns == 0 or not timeframes:
            return []
        client = connect(self.url)
        failure = ""
        try:
            members = await client.smembers(MARKETS_KEY)
            pipe = client.pipeline(transaction=False)
            slots = [(m, tf) for m in self._wanted(members) for tf in timeframes]
            for market, tf in slots:
                pipe.zrange(bars_key(*market, tf), 0, -1)
            replies = await pipe.execute() if slots else []
        except CONNECTION_ERRORS as error:
            failure = describe(error, self.redact)
        finally:
            await client.aclose()
        if failure:  # raised outside the except block: the redis error is not chained
            raise SourceUnavailable(failure)
        since = clock.now_ns() - self.history_ns if self.history_ns else None
        bars: list[Bar] = []
        for payloads in replies:
            for payload in payloads:
                bar = _decode([_FIELD, payload], rejections)
                if isinstance(bar, Bar) and bar.closed and (since is None or bar.ts_event >= since):
                    bars.append(bar)
        return bars


def _raise_if_cancelled() -> None:
    """Raise ``CancelledError`` when this task was cancelled (``Session.stop``) and something below
    swallowed it: the stream must end, not read on."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _decode(fields: list[bytes], rejections: Rejections) -> Event | None:
    """The event of a stream entry's fields (``[b"e", payload]``, as Redis sends them)."""
    if len(fields) == 2 and fields[0] == _FIELD:
        payload = fields[1]
    else:
        found = [v for f, v in zip(fields[::2], fields[1::2], strict=False) if f == _FIELD]
        if not found:
            rejections.add("MalformedFrame", f"stream entry without the field {ENTRY_FIELD!r}")
            return None
        payload = found[0]
    try:
        return decode(payload)
    except DataError as error:
        rejections.add(error)
        return None


__all__ = ["RedisSource"]
