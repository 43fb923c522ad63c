"""What a market-data source is, and pacing of offline sources.

A source yields normalized events (``mdx.events``). Offline sources (the simulator, replay) also
offer ``iter_events`` so the session can run them synchronously as fast as possible; the session
paces them against a clock for real-time x ``speed`` playback. Bad input is counted on the
``Rejections`` the session passes in, never raised out of the iterator.

A source may also know its past (``HistorySource``): ``await source.history(timeframes, clock,
rejections)`` returns closed bars from before its stream, which the session sends through its
consumers and cache before the stream starts, so charts and indicators open warm. The simulator
generates them, a live exchange fetches them (ccxt ``fetch_ohlcv``); a replay has none (it shows what
its files hold, from their first trade).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from ..clock import Clock
from ..events import Bar, Event
from ..stats import Rejections


@runtime_checkable
class Source(Protocol):
    name: str
    exchange: str
    symbols: tuple[str, ...]

    def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        """Events as they arrive (live) or paced (offline)."""
        ...


@runtime_checkable
class OfflineSource(Source, Protocol):
    def iter_events(self, rejections: Rejections) -> Iterator[Event]:
        """Every event in event-time order, as fast as possible (may be endless for the simulator)."""
        ...


@runtime_checkable
class BatchSource(Source, Protocol):
    """A live source that can hand its events over a read at a time (optional).

    ``batches`` yields lists of events, each what one read brought (a Redis ``XREAD``, an exchange
    message), in order; ``stream`` yields the same events one by one. The session takes a batch in one
    go: one step of the stream per read, not per event, and one open bar per timeframe and symbol per
    batch (``BarMaker.hold_open_bars``), not one per trade. A sweep of hundreds of trades arriving
    together then costs each of twenty dashboard kernels a few ms, not tens.
    """

    def batches(self, clock: Clock, rejections: Rejections) -> AsyncIterator[list[Event]]:
        """Lists of events as they arrive, one per read."""
        ...


async def each_event(batches: AsyncIterator[list[Event]]) -> AsyncIterator[Event]:
    """The events of ``batches`` one by one (a ``BatchSource``'s ``stream``); closes ``batches`` however
    the caller's loop ends."""
    async with contextlib.aclosing(batches):  # type: ignore[type-var]
        async for batch in batches:
            for event in batch:
                yield event


@runtime_checkable
class HistorySource(Protocol):
    """A source that can give the bars before its stream (optional; any source may add it).

    ``history`` returns closed bars (``Bar`` with ``closed=True``) of the requested ``timeframes`` (ccxt
    strings, those the session builds) for each of the source's symbols: oldest first per (symbol,
    timeframe), ending before the bar in which the stream starts (so the first bar the session builds
    from the stream follows the last one; a bar left out between them is filled empty, like a pause).
    It may return fewer timeframes or none (``[]``). A failure is an ``MdxError`` (``SourceError``
    when the venue refused, ``SourceUnavailable`` on network trouble): the session logs and counts it
    and streams without history. Bad bars are counted as rejections and left out, never stop anything.

    The session calls it once per run, before the source's stream, with its clock and rejections, and
    keeps at most the cache's window of bars (``Cache.maxlen(Bar)``) of each (symbol, timeframe).
    """

    async def history(self, timeframes: Sequence[str], clock: Clock, rejections: Rejections) -> list[Bar]:
        """Closed bars before the stream, oldest first per (symbol, timeframe)."""
        ...


async def paced(
    events: Iterable[Event], clock: Clock, speed: float, *, yield_every: int = 256
) -> AsyncIterator[Event]:
    """Play ``events`` at real time x ``speed`` against ``clock`` (``speed <= 0`` or ``inf``: no waiting).

    Pacing follows the receive time of the events, which is monotone in captures and recordings.
    Control goes back to the loop at least every ``yield_every`` events so other tasks keep running.
    """
    unpaced = speed <= 0 or speed == float("inf")
    origin_event: int | None = None
    origin_clock = clock.now_ns()
    count = 0
    for event in events:
        count += 1
        if not unpaced:
            if origin_event is None:
                origin_event = event.ts_recv
            due = origin_clock + int((event.ts_recv - origin_event) / speed)
            if due > clock.now_ns():
                await clock.sleep_until(due)
                count = 0
        if count >= yield_every:
            count = 0
            await asyncio.sleep(0)
        yield event


def open_stream(
    source: Source, clock: Clock, rejections: Rejections, speed: float | None = None
) -> AsyncIterator[Event]:
    """The one place that tells offline from live: an offline source is paced at ``speed`` (None: the
    source's own ``speed``, else real time) against ``clock``; a live one streams as events arrive."""
    if isinstance(source, OfflineSource):
        pace = float(speed if speed is not None else getattr(source, "speed", 1.0))
        return paced(source.iter_events(rejections), clock, pace)
    return source.stream(clock, rejections)


__all__ = ["BatchSource", "HistorySource", "OfflineSource", "Source", "each_event", "open_stream", "paced"]
