"""The collector's side: a session consumer that publishes what the session accepted to Redis.

``RedisPublisher(url)`` takes trades, book snapshots and deltas, quotes and bars. Each event gets its
entry id at once (``keys.StreamIds``: from its receive time, so the same events always get the same
ids) and waits in a bounded buffer; ``run()`` (a task on the engine's loop) writes the buffer in
pipelined batches (``XADD ... MAXLEN ~ maxlen`` per stream; latest values, the book view and the
collector's heartbeat with ``SET ... EX ttl``; closed bars into a sorted set of the last ``bars_kept``).

Restarts and outages, and why consumers see every event once:

- Before its first write to a stream the publisher asks Redis for the stream's newest id and skips
  every entry at or below it (``skipped``): a restarted collector that sees events again does not
  publish them twice, and their ids are their old ones.
- Redis going away (refused, reset, timeout) is retried with ``backoff``; the status says
  ``reconnecting`` with the redacted reason, the attempt and the next try (``on_status``, ``state``),
  and events keep arriving into the buffer (at most ``buffer``; beyond it the oldest are dropped and
  counted in ``dropped``). Back online: ``connected``, and the buffer is written in order.
- A Redis that came back empty (restarted without persistence) is refilled: after a reconnect, the last
  ``resend`` entries of each stream that Redis no longer has are written again with their ids, the
  bars and the market list too. A consumer asks for the ids after the last one it read, so it gets what
  it had not read, once.

Every ``keyframe_s`` of event time the book stream also gets a ``BookSnapshot`` of the collector's book
(a keyframe): a consumer whose book fell out of sync — a stream trimmed under a slow reader, a collector
restarted on a venue whose update ids started over — resyncs on the next one. Writes wait ``linger_ms``
after an idle spell so that one pipeline carries many events (and 20 readers wake once, not 20 times).

The URL's password is never logged or shown (``connection.Redactor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from redis.exceptions import ResponseError

from ...backoff import Backoff
from ...cache import Key
from ...consumer import Consumer
from ...errors import ConfigError
from ...events import Bar, BookDelta, BookSnapshot, Quote, Trade
from ...io.recording import encode
from .connection import CONNECTION_ERRORS, Redactor, connect, describe
from .keys import (
    CHANNELS,
    COLLECTOR_KEY,
    ENTRY_FIELD,
    LATEST,
    MARKETS_KEY,
    EntryId,
    StreamIds,
    bars_key,
    book_key,
    format_id,
    latest_key,
    parse_id,
    stream_key,
)

log = logging.getLogger("mdx.sources.redis")

StatusCallback = Callable[..., None]
# a buffered item: (stream, entry id, encoded event, book view key: "" for a stream entry)
_Item = tuple[str, EntryId, bytes, str]


async def top_ids(client: Any, streams: list[str]) -> dict[str, EntryId | None]:
    """The newest entry id of each stream in Redis (None: empty or missing), in one round trip."""
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xrevrange(stream, count=1)
    replies = await pipe.execute()
    return {s: parse_id(r[0][0]) if r else None for s, r in zip(streams, replies, strict=True)}


class RedisPublisher(Consumer):
    """Publishes a session's events to Redis; see the module docstring. Wire it as a session consumer
    and run ``run()`` on the session's loop (``Collector`` does both)."""

    takes = (Trade, BookSnapshot, BookDelta, Quote, Bar)

    def __init__(
        self,
        url: str,
        *,
        maxlen: int = 100_000,
        ttl_s: float = 60.0,
        bars_kept: int = 500,
        bars_ttl_s: float = 86_400.0,
        book_interval_ms: float = 1000.0,
        keyframe_s: float = 10.0,
        linger_ms: float = 5.0,
        heartbeat_s: float = 1.0,
        book_depth: int = 1000,
        batch: int = 5000,
        buffer: int = 1_000_000,
        resend: int = 20_000,
        backoff: Backoff = Backoff(initial=0.2, cap=10.0),  # noqa: B008 - frozen
        rng: random.Random | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        sizes = {"maxlen": maxlen, "bars_kept": bars_kept, "batch": batch, "buffer": buffer}
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"RedisPublisher {name} must be an int >= 1, got {value!r}")
        if not ttl_s > 0 or not bars_ttl_s > 0:
            raise ConfigError(f"RedisPublisher ttls must be > 0 s, got {ttl_s!r}, {bars_ttl_s!r}")
        self.url = url
        self.redact = Redactor(url)
        self.maxlen, self.batch, self.buffer, self.resend = maxlen, batch, buffer, resend
        self.ttl_ms = int(ttl_s * 1000)
        self.bars_kept, self.bars_ttl_ms = bars_kept, int(bars_ttl_s * 1000)
        self.book_interval_ns, self.book_depth = int(book_interval_ms * 1e6), book_depth
        self.keyframe_ns = int(keyframe_s * 1e9)
        self.linger_s = max(linger_ms, 0.0) / 1000
        if not heartbeat_s > 0:
            raise ConfigError(f"RedisPublisher heartbeat_s must be > 0, got {heartbeat_s!r}")
        self.heartbeat_s = heartbeat_s  # the collector key lives 5 heartbeats: consumers see it go
        self.backoff = backoff
        self.meta: dict[str, Any] = {"pid": os.getpid(), **(meta or {})}
        self.books: Mapping[Key, Any] = {}  # the session's OrderBooks (engine thread only): for book views
        self.on_status: StatusCallback | None = None
        self.state, self.reason = "connecting", ""
        self.published = 0  # entries written to streams
        self.skipped = 0  # entries Redis already had (a restart seeing events again)
        self.dropped = 0  # entries lost to a full buffer during a long outage
        self.resent = 0  # entries written again to a Redis that had lost them
        self._rng = rng or random.Random()
        self._ids = StreamIds()
        self._pending: deque[_Item] = deque()
        self._latest: dict[str, bytes] = {}
        self._bars: dict[str, dict[int, bytes]] = {}  # bars key -> {open time: encoded}, the last bars_kept
        self._dirty_bars: dict[str, dict[int, bytes]] = {}
        self._markets: set[tuple[str, str]] = set()
        self._new_markets: set[tuple[str, str]] = set()
        self._floors: dict[str, EntryId | None] = {}
        self._sent: dict[str, deque[tuple[EntryId, bytes]]] = {}
        self._view_due: dict[Key, int] = {}
        self._keyframe_due: dict[Key, int] = {}
        self._wake = asyncio.Event()
        self._ever_connected = False
        self._inflight = 0  # items taken by the round being written

    def __repr__(self) -> str:
        return f"RedisPublisher({self.redact.url!r}, state={self.state!r}, published={self.published})"

    # -- the engine's side --------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        cls = type(event)
        exchange, symbol = event.exchange, event.symbol
        if cls is Bar:
            self._take_bar(event)
            return
        market = (exchange, symbol)
        if market not in self._markets:
            self._markets.add(market)
            self._new_markets.add(market)
        stream = stream_key(exchange, symbol, CHANNELS[cls])
        payload = encode(event)
        self._put((stream, self._ids.next(stream, event.ts_recv), payload, ""))
        tag = LATEST.get(cls)
        if tag is not None:
            self._latest[latest_key(exchange, symbol, tag)] = payload
        else:  # a book event: now and then the view, and a snapshot in the stream (a keyframe)
            if event.ts_event >= self._view_due.get(market, 0):
                self._take_view(market, stream, event.ts_event)
            if self.keyframe_ns and event.ts_event >= self._keyframe_due.get(market, 0):
                self._take_keyframe(market, stream, event)
        self._wake.set()

    def _put(self, item: _Item) -> None:
        self._pending.append(item)
        if len(self._pending) > self.buffer:
            self._pending.popleft()
            self.dropped += 1

    def _take_bar(self, bar: Bar) -> None:
        if not bar.closed:
            self._latest[latest_key(bar.exchange, bar.symbol, "bar", bar.timeframe)] = encode(bar)
            return
        key = bars_key(bar.exchange, bar.symbol, bar.timeframe)
        kept = self._bars.setdefault(key, {})
        kept[bar.ts_event] = self._dirty_bars.setdefault(key, {})[bar.ts_event] = encode(bar)
        if len(kept) > self.bars_kept:
            for ts in sorted(kept)[: len(kept) - self.bars_kept]:
                del kept[ts]

    def _snapshot(self, market: Key) -> BookSnapshot | None:
        """The collector's book of ``market`` (``book_depth`` levels) as a BookSnapshot; None when it is
        not in sync."""
        book = self.books.get(market)
        if book is None or not book.in_sync:
            return None
        view = book.view(self.book_depth)
        return BookSnapshot(
            market[0], market[1], view.ts_event, view.ts_recv, view.seq, view.bid_levels, view.ask_levels
        )

    def _take_view(self, market: Key, stream: str, ts_event: int) -> None:
        """The whole book after the entry just buffered, keyed with that entry's id: where a late joiner
        starts its book (the deltas after that id chain on)."""
        snapshot = self._snapshot(market)
        last = self._ids.last(stream)
        if snapshot is not None and last is not None:
            self._view_due[market] = ts_event + self.book_interval_ns
            self._put((stream, last, encode(snapshot), book_key(*market)))

    def _take_keyframe(self, market: Key, stream: str, event: Any) -> None:
        """A snapshot of the book in the stream every ``keyframe_s`` of event time: a consumer whose book
        fell out of sync (a stream trimmed under it, a collector restarted with new update ids) resyncs
        on it; one in sync takes it as it is (same update id, same levels)."""
        if market not in self._keyframe_due:  # the first comes one interval after the stream's start
            self._keyframe_due[market] = event.ts_event + self.keyframe_ns
            return
        snapshot = self._snapshot(market)
        if snapshot is None:
            return
        self._keyframe_due[market] = event.ts_event + self.keyframe_ns
        snapshot = replace(snapshot, ts_event=event.ts_event, ts_recv=event.ts_recv)
        self._put((stream, self._ids.next(stream, event.ts_recv), encode(snapshot), ""))

    # -- the writer's side ----------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Entries not written yet (buffered, or in the round being written)."""
        return len(self._pending) + self._inflight

    @property
    def idle(self) -> bool:
        """Everything taken so far is in Redis."""
        return not (self.pending or self._latest or self._dirty_bars or self._new_markets)

    def _report(self, state: str, reason: str = "", attempt: int = 0, next_retry_ns: int = 0) -> None:
        self.state, self.reason = state, reason
        if self.on_status is not None:
            self.on_status(state, reason, attempt, next_retry_ns)

    async def run(self) -> None:
        """Write the buffer to Redis until cancelled, backing off while Redis is away."""
        client = connect(self.url)
        attempt = 0
        recover = False
        idle_s = self.heartbeat_s  # a round at least this often keeps the collector key alive
        try:
            while True:
                if not self._pending:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), idle_s)
                    if self.linger_s and len(self._pending) < self.batch:
                        await asyncio.sleep(self.linger_s)  # a few ms more make one write of many events
                try:
                    if recover:
                        await self._recover(client)
                        recover = False
                    await self._flush(client)
                except CONNECTION_ERRORS as error:
                    attempt += 1
                    delay = self.backoff.delay(attempt, self._rng)
                    reason = describe(error, self.redact)
                    log.warning("publisher: %s; retry %d in %.2f s (%d events waiting)",
                                reason, attempt, delay, len(self._pending))  # fmt: skip
                    self._report("reconnecting", reason, attempt, time.time_ns() + int(delay * 1e9))
                    recover = self._ever_connected
                    await asyncio.sleep(delay)
                    continue
                self._ever_connected = True
                if self.state != "connected":
                    if attempt:
                        log.warning("publisher: redis %s is back after %d retries", self.redact.url, attempt)
                    self._report("connected")
                attempt = 0
        finally:
            await client.aclose()

    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait until the buffer is written (True) or ``timeout`` s passed (False); ``run()`` must run."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.idle or self.state != "connected":
            if loop.time() >= deadline:
                return False
            self._wake.set()
            await asyncio.sleep(0.01)
        return True

    async def _flush(self, client: Any) -> None:
        """One pipelined round: a batch of entries, the latest values, new bars, markets, the heartbeat."""
        items = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))]
        self._inflight = len(items)
        latest, self._latest = self._latest, {}
        bars, self._dirty_bars = self._dirty_bars, {}
        markets, self._new_markets = self._new_markets, set()
        try:
            unknown = list(dict.fromkeys(s for s, _, _, view in items if not view and s not in self._floors))
            if unknown:
                self._floors.update(await top_ids(client, unknown))
            # MULTI/EXEC: a reader blocked on the streams wakes once for the round, not at its first entry
            pipe = client.pipeline(transaction=True)
            written: list[tuple[str, EntryId, bytes]] = []
            for stream, entry_id, payload, view in items:
                if view:
                    value = json.dumps({"id": format_id(entry_id), "e": payload.decode()})
                    pipe.set(view, value, px=self.ttl_ms)
                    continue
                floor = self._floors[stream]
                if floor is not None and entry_id <= floor:
                    self.skipped += 1
                    continue
                pipe.xadd(stream, {ENTRY_FIELD: payload}, id=format_id(entry_id), maxlen=self.maxlen)
                written.append((stream, entry_id, payload))
            for key, payload in latest.items():
                pipe.set(key, payload, px=self.ttl_ms)
            self._write_bars(pipe, bars, replace=False)
            if markets:
                pipe.sadd(MARKETS_KEY, *(json.dumps(m) for m in sorted(markets)))
            pipe.set(COLLECTOR_KEY, json.dumps(self.meta), px=int(self.heartbeat_s * 5000))
            replies = await pipe.execute(raise_on_error=False)
        except BaseException:
            self._inflight = 0
            self._pending.extendleft(reversed(items))  # in order, before what came meanwhile
            self._latest = {**latest, **self._latest}
            for key, kept in bars.items():
                self._dirty_bars[key] = {**kept, **self._dirty_bars.get(key, {})}
            self._new_markets |= markets
            raise
        self._inflight = 0
        self._check(replies)
        self.published += len(written)
        for stream, entry_id, payload in written:
            ring = self._sent.get(stream)
            if ring is None:
                ring = self._sent[stream] = deque(maxlen=max(self.resend, 1))
            ring.append((entry_id, payload))

    def _write_bars(self, pipe: Any, bars: Mapping[str, Mapping[int, bytes]], *, replace: bool) -> None:
        for key, kept in bars.items():
            if replace:
                pipe.delete(key)
            for ts, payload in sorted(kept.items()):
                if not replace:
                    pipe.zremrangebyscore(key, ts, ts)
                pipe.zadd(key, {payload: ts})
            pipe.zremrangebyrank(key, 0, -(self.bars_kept + 1))
            pipe.pexpire(key, self.bars_ttl_ms)

    def _check(self, replies: list[Any]) -> None:
        for reply in replies:
            if not isinstance(reply, Exception):
                continue
            if isinstance(reply, CONNECTION_ERRORS):
                raise reply
            if isinstance(reply, ResponseError) and "equal or smaller" in str(reply):
                self.skipped += 1  # another writer got there first: Redis keeps its entry
                continue
            log.error("publisher: redis refused a write: %s", self.redact(str(reply)))

    async def _recover(self, client: Any) -> None:
        """After a reconnect: write again the recent entries Redis no longer has, and the bars and markets
        (a Redis restarted without persistence comes back empty)."""
        streams = list(self._sent)
        tops = await top_ids(client, streams) if streams else {}
        pipe = client.pipeline(transaction=False)
        again = 0
        for stream in streams:
            top = tops[stream]
            for entry_id, payload in self._sent[stream]:
                if top is None or entry_id > top:
                    pipe.xadd(stream, {ENTRY_FIELD: payload}, id=format_id(entry_id), maxlen=self.maxlen)
                    again += 1
        self._write_bars(pipe, self._bars, replace=True)
        if self._markets:
            pipe.sadd(MARKETS_KEY, *(json.dumps(m) for m in sorted(self._markets)))
        self._check(await pipe.execute(raise_on_error=False))
        self._dirty_bars.clear()
        if again:
            self.resent += again
            log.warning("publisher: redis had lost %d recent entries; written again with their ids", again)


__all__ = ["RedisPublisher", "top_ids"]
