"""The session: wires sources to consumers, the cache and the hub. The only place that knows the graph.

    sources ──► process ──► consumers taking the event's type, in wiring order:
      (one task each)         TradeGuard ─► BarMaker ─► Bar (closed, open)         each may reject (counted)
                              BookKeeper ─► BookView (throttled)                   or emit derived events,
                              ... your consumers (indicators, alerts, stores)      which take the same path
                        ──► cache.put(event) ──► hub.publish(topic, event)          write before publish

Run it three ways:
- ``await session.run()`` on the caller's loop;
- ``session.start()`` in a background thread with its own loop (notebooks: cells never block), then
  ``session.stop()``;
- ``session.run_until_done()`` synchronously as fast as possible (offline sources; tests, research).

Several sources (``Session([Simulator(), ReplaySource(...)])``, or two exchanges) run side by side, each
with its own status; ``status`` sums them up and ``statuses`` has each.

History: in every run mode, a source with a ``history`` method (``mdx.sources.base.HistorySource``: the
simulator, live exchanges) is asked once, before its stream, for closed bars of the session's timeframes
(not at all when it builds none).
Each goes to ``BarMaker.follow`` (checked; the stream's bars follow the last one, with no repeated open
time) and then, like the bars the BarMaker emits, through the consumers taking ``Bar``, the cache and
the hub, so charts and indicators open warm. At most the cache's window of each (symbol, timeframe) is
sent; bars the session already has (a second run) are skipped. ``history_loaded`` counts them per source;
bad bars (open, unaligned, impossible prices) and bars out of order ("LateBar") are counted rejections.
A history that fails (an ``MdxError``, a bug, or no answer within ``history_timeout_s``) is logged and
counted in ``rejections`` as "HistoryError"; the stream starts all the same. History bars are not source
events: they do not count in ``events_processed`` nor move ``last_recv_ns``. Once a source's history is in,
a live source that hands over a read at a time (``BatchSource``: exchanges, a Redis collector) runs with
the garbage collector settled for a long feed (``mdx.gc_tuning``: start-up's objects frozen out of full
collections, the young generation collected less often). Offline sources (the simulator, replays) keep
the interpreter's defaults: under Voilà, the simulator dashboard's mid chart sometimes stayed empty with
the settled collector (a browser-test finding not yet explained).

The statuses tell the truth about the engine:

- ``stop()`` returns True once the engine has stopped. When it is still running after ``timeout`` (a source
  or consumer blocking the engine's thread), ``stop()`` returns False, ``running`` stays True, and every
  source's status is "error" with the reason ("engine did not stop within 5 s; busy in X.on_event ...")
  until the engine ends; ``stop()`` may be called again to wait longer.
- A source that ends with an ``MdxError``, or crashes with any other exception (a bug), is "error" with
  the reason (the traceback is logged); the other sources go on. An awaited ``run()`` raises it when every
  source failed. No source is left "connected" by an engine that is gone.
- Every dropped item is counted in ``rejections`` by reason: a ``DataError`` raised by a source's reader
  or a consumer (its class name), and "ConsumerError" for a consumer that raised anything else (a bug:
  the event still goes on to the other consumers, the cache and the hub; the first few are logged with
  their traceback, the rest counted, also in ``consumer_errors``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from . import gc_tuning
from .cache import Cache, Key
from .clock import Clock, LiveClock
from .consumer import Consumer
from .errors import ConfigError, DataError, MdxError, SourceUnavailable
from .events import KINDS, Bar, EventKind, topic_of
from .hub import Hub
from .market.consumers import BarMaker, BookKeeper, TradeGuard, check_history_bar
from .sources.base import BatchSource, HistorySource, OfflineSource, Source, open_stream
from .sources.merge import merge_by_recv
from .stats import Rejections

if TYPE_CHECKING:
    from os import PathLike

    from .store import Store, StoreWriter

log = logging.getLogger("mdx.session")

# worst first: what a summary of several sources' states shows
STATE_RANK = ("error", "reconnecting", "stale", "connecting", "connected", "done", "stopped", "idle")
FINAL_STATES = frozenset({"done", "stopped", "error"})  # what a source's status may be once the engine ended
CONSUMER_ERROR = "ConsumerError"  # the rejections reason of a consumer that raised something not a DataError
TICK_S = 1.0  # how often time-driven consumers are ticked on a live clock
HISTORY_ERROR = "HistoryError"  # the rejections reason of a source's history that failed
HISTORY_ORDER = "LateBar"  # the rejections reason of a history bar not after the one before it
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What the status line shows. ``state`` is one of: idle, connecting, connected, reconnecting,
    stale, done, stopped, error."""

    state: str = "idle"
    source: str = ""
    reason: str = ""
    attempt: int = 0
    next_retry_ns: int = 0


Route = tuple[tuple[Any, ...], EventKind]


class Session:
    """Sources wired to consumers (trade checks, books, bars, then ``consumers``), the cache and the hub.

    ``timeframes``: bars built per symbol (ccxt strings). ``clock``: live by default; tests and research
    pass a ``SimulatedClock``. ``speed``: playback speed of offline sources (None: each source's own
    ``speed``, else real time). A ``BookView`` of ``book_view_depth`` levels is cached at most every
    ``book_view_interval_ms`` of event time per symbol. ``stale_after_s``: a source's status turns
    "stale" when no event arrived from it for that long. ``consumers`` run after the built-in ones.
    ``history_timeout_s``: how long a source's ``history`` may take (loop time) before the stream starts
    without it. ``store``: an ``mdx.Store`` (or its path) the session persists trades, closed bars, book
    tops and alerts to, through a ``StoreWriter`` wired after ``consumers`` (``store_writer``); the
    bars of a source's history are stored as built by the exchange (``source="exchange"``).
    ``store_history_s``: a live source's history also takes the store's bars of its exchange from that
    far back (its own bars win at the same time), so charts open with what was stored (0: off).
    """

    def __init__(
        self,
        sources: Source | Sequence[Source],
        *,
        timeframes: Iterable[str] = ("1m",),
        clock: Clock | None = None,
        speed: float | None = None,
        book_view_interval_ms: float = 100.0,
        book_view_depth: int = 50,
        stale_after_s: float = 5.0,
        cache: Cache | None = None,
        hub: Hub | None = None,
        consumers: Iterable[Consumer] = (),
        history_timeout_s: float = 30.0,
        store: Store | str | PathLike[str] | None = None,
        store_history_s: float = 0.0,
    ) -> None:
        self.sources: tuple[Source, ...] = (
            tuple(sources) if isinstance(sources, Sequence) and not isinstance(sources, str) else (sources,)
        )
        if not self.sources:
            raise ConfigError("a session needs at least one source")
        self.names = _unique_names(self.sources)
        self.book_keeper = BookKeeper(int(book_view_interval_ms * 1e6), book_view_depth)
        self.clock: Clock = clock or LiveClock()
        if speed is None and len(self.sources) == 1:
            speed = getattr(self.sources[0], "speed", 1.0)
        self.speed = None if speed is None else float(speed)  # None: each source at its own speed
        self.cache = cache or Cache()
        self.hub = hub or Hub()
        self.rejections = Rejections()
        self.bar_maker = BarMaker(timeframes, rejections=self.rejections)  # counts late trades, jumps
        self.consumers: list[Any] = []
        self._routes: dict[type, Route] = {}
        for consumer in (TradeGuard(), self.book_keeper, self.bar_maker, *consumers):
            self.add(consumer)
        self.store_writer: StoreWriter | None = None
        if store is not None:
            from .store import StoreWriter, open_store

            self.store_writer = self.add(
                StoreWriter(open_store(store), clock=self.clock, rejections=self.rejections)
            )
        self.history_timeout_s = float(history_timeout_s)
        if not store_history_s >= 0:
            raise ConfigError(f"store_history_s must be >= 0, got {store_history_s!r}")
        self.store_history_ns = int(store_history_s * 1e9) if store is not None else 0
        self.consumer_errors = 0
        self.history_loaded: dict[str, int] = {}  # history bars sent through the session, per source name
        self.events_processed = 0
        self.last_recv_ns = 0
        self.last_event_at_ns = 0  # clock time at which the last event was processed
        self._last_at: dict[str, int] = {}  # per source name
        self._stale_after_ns = int(stale_after_s * 1e9)
        self._statuses: dict[str, SessionStatus] = {name: SessionStatus(source=name) for name in self.names}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the run in progress
        self._task: asyncio.Task[None] | None = None  # the run in progress: what stop() cancels
        self._engine_ident: int | None = None  # the thread it runs on
        self._idle = threading.Event()  # set while no run() is in progress
        self._idle.set()
        self._overdue = ""  # set when stop() timed out: the engine is still running
        self._stop_requested = threading.Event()
        self._halted = False

    # -- the graph ---------------------------------------------------------------------------------------

    def add(self, consumer: Any) -> Any:
        """Wire another consumer (see ``mdx.consumer``) after the ones already there; returns it."""
        takes = tuple(getattr(consumer, "takes", ()))
        if not takes or not callable(getattr(consumer, "on_event", None)):
            raise ConfigError(
                f"{consumer!r} is not a consumer: it needs `takes` (event types) and on_event()"
            )
        unknown = [cls.__name__ for cls in takes if cls not in KINDS]
        if unknown:
            raise ConfigError(f"{type(consumer).__name__} takes unregistered event types {unknown}")
        bind = getattr(consumer, "bind", None)
        if bind is not None:
            bind(self.emit)
        self.consumers.append(consumer)
        self._routes.clear()  # rebuilt lazily, per event type
        return consumer

    def _route(self, cls: type) -> Route:
        kind = KINDS.get(cls)
        if kind is None:
            raise ConfigError(f"{cls.__name__} is not a registered event type (mdx.events.register_event)")
        route = (tuple(c.on_event for c in self.consumers if issubclass(cls, tuple(c.takes))), kind)
        self._routes[cls] = route
        return route

    def process(self, event: Any) -> None:
        """One event from a source: through the consumers, the cache and the hub; bad ones are counted."""
        self.events_processed += 1
        self.last_event_at_ns = self.clock.now_ns()
        if event.ts_recv > self.last_recv_ns:
            self.last_recv_ns = event.ts_recv
        self.emit(event)

    def emit(self, event: Any) -> None:
        """Send ``event`` through the consumers that take its type, then cache and publish it."""
        route = self._routes.get(type(event)) or self._route(type(event))
        handlers, kind = route
        for on_event in handlers:
            try:
                on_event(event)
            except DataError as error:
                self.rejections.add(error)
                return
            except Exception as error:  # a broken consumer must not stop the feed; it is counted and logged
                self._consumer_failed(on_event, type(event).__name__, error)
        if kind.cached:
            self.cache.put(event)
        if self.hub.active:
            self.hub.publish(topic_of(event, kind), event)

    def _consumer_failed(self, call: Callable[..., Any], what: str, error: Exception) -> None:
        """Count a consumer's bug where the monitor shows it (``rejections``, as "ConsumerError")."""
        self.consumer_errors += 1
        name = getattr(call, "__qualname__", None) or repr(call)
        self.rejections.add(
            CONSUMER_ERROR,
            f"{name} failed on {what}: {type(error).__name__}: {error}",
            level=logging.ERROR,
            exc_info=error,
        )

    @property
    def books(self) -> dict[Key, Any]:
        """The live ``OrderBook`` objects. Only for the engine's own thread or after a synchronous run:
        other threads read ``cache.book(key)``, an immutable ``BookView``."""
        return self.book_keeper.books

    @property
    def bar_builders(self) -> dict[tuple[Key, str], Any]:
        return self.bar_maker.builders

    @property
    def timeframes(self) -> tuple[str, ...]:
        return self.bar_maker.timeframes

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every source's symbols, in order, without repeats."""
        return tuple(dict.fromkeys(s for source in self.sources for s in source.symbols))

    @property
    def exchanges(self) -> tuple[str, ...]:
        names = (e for source in self.sources for e in str(source.exchange).split(",") if e)
        return tuple(dict.fromkeys(names))

    @property
    def name(self) -> str:
        return "+".join(self.names)

    # -- status -----------------------------------------------------------------------------------------

    @property
    def statuses(self) -> dict[str, SessionStatus]:
        """Each source's status by name (with "stale" when it went quiet, and "error" for all while an
        engine that was told to stop runs on)."""
        overdue = self._overdue if self._overdue and self.running else ""
        return {
            name: (
                SessionStatus("error", name, overdue)
                if overdue and status.state != "error"
                else self._with_staleness(name, status)
            )
            for name, status in list(self._statuses.items())
        }

    @property
    def status(self) -> SessionStatus:
        """One status for the whole session: a single source's own, or the worst of several with each
        source that is not "connected" named in the reason."""
        statuses = self.statuses
        if len(statuses) == 1:
            return next(iter(statuses.values()))
        worst = min(statuses.values(), key=lambda s: _rank(s.state))
        notes = [
            f"{name}: {s.state}" + (f" ({s.reason})" if s.reason else "")
            for name, s in statuses.items()
            if s.state != "connected"
        ]
        return replace(worst, source=self.name, reason="; ".join(notes))

    def _with_staleness(self, name: str, status: SessionStatus) -> SessionStatus:
        last = self._last_at.get(name) or self.last_event_at_ns
        if status.state == "connected" and last:
            age = self.clock.now_ns() - last
            if age > self._stale_after_ns:
                return replace(status, state="stale", reason=f"no data for {age / 1e9:.1f} s")
        return status

    def data_age_ns(self) -> int:
        """Clock time since the last event was processed (0 before the first)."""
        return self.clock.now_ns() - self.last_event_at_ns if self.last_event_at_ns else 0

    def set_status(
        self, state: str, reason: str = "", attempt: int = 0, next_retry_ns: int = 0, *, source: str = ""
    ) -> None:
        """Sources report connection state here (reconnecting with attempt and next try, errors).
        ``source``: the source's name in ``names``; empty means every source."""
        for name in [source] if source else self.names:
            self._statuses[name] = SessionStatus(state, name, reason, attempt, next_retry_ns)

    def _settle(self, state: str, reason: str = "") -> int:
        """Give every source not in a final state (done, stopped, error) ``state``: once the engine has
        ended, no source may still claim to be connecting or connected. Returns how many changed."""
        changed = 0
        for name, status in list(self._statuses.items()):
            if status.state not in FINAL_STATES:
                self._statuses[name] = SessionStatus(state, name, reason)
                changed += 1
        return changed

    # -- running ----------------------------------------------------------------------------------------

    async def run(self, *, max_events: int | None = None, until_ns: int | None = None) -> None:
        """Stream every source on the running loop until they end, ``stop()`` is called, or a limit is hit.
        Raises the source's ``MdxError`` (or, from a source that crashed, its exception) when every source
        failed. ``stop()`` ends it normally; cancelling the task awaiting it cancels it."""
        if not self._idle.is_set():
            raise ConfigError(f"session {self.name!r} is already running")
        inner = asyncio.create_task(self._run(max_events, until_ns), name=f"mdx-session-{self.name}")
        self._idle.clear()
        self._loop, self._task, self._engine_ident = asyncio.get_running_loop(), inner, threading.get_ident()
        if self._stop_requested.is_set():  # stop() came before there was a task to cancel
            inner.cancel()
        try:
            await inner
        except asyncio.CancelledError:
            current = asyncio.current_task()
            stopped = inner.cancelled() and self._stop_requested.is_set()
            if not stopped or (current is not None and current.cancelling()):
                raise  # our caller was cancelled, not stopped by stop()
        finally:
            self._loop = self._task = None
            self._idle.set()

    async def _run(self, max_events: int | None, until_ns: int | None) -> None:
        self._halted = False
        tasks = [
            asyncio.create_task(self._pump(source, name, max_events, until_ns), name=f"mdx-source-{name}")
            for source, name in zip(self.sources, self.names, strict=True)
        ]
        # time-driven consumers on a live clock (a simulated one only moves with the events)
        ticks = asyncio.create_task(self._tick_consumers()) if isinstance(self.clock, LiveClock) else None
        try:
            pending: set[asyncio.Task[Exception | None]] = set(tasks)
            while pending:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if self._halted:
                    break
        finally:
            for task in [*tasks, *([ticks] if ticks else [])]:
                task.cancel()
            await asyncio.gather(*tasks, *([ticks] if ticks else []), return_exceptions=True)
            self._close_consumers()
        errors = [task.result() for task in tasks if not task.cancelled() and task.result() is not None]
        if errors and len(errors) == len(tasks):
            raise errors[0]

    async def _tick_consumers(self) -> None:
        """Call ``tick(now_ns)`` on the consumers that have one every ``TICK_S`` of live time, so rules
        that fire on the absence of data (the alert engine's stale-feed rules) fire when nothing arrives."""
        while True:
            await asyncio.sleep(TICK_S)
            now = self.clock.now_ns()
            for tick in [c.tick for c in self.consumers if callable(getattr(c, "tick", None))]:
                try:
                    tick(now)
                except Exception as error:  # a consumer's bug: counted and logged, the ticks go on
                    self._consumer_failed(tick, "tick", error)

    async def _pump(
        self, source: Source, name: str, max_events: int | None, until_ns: int | None
    ) -> Exception | None:
        """Stream one source; returns the exception it ended with (already in its status and the log)."""
        redact: Callable[[str], str] = getattr(source, "redact", None) or _same  # sources holding secrets
        self.set_status("connecting", source=name)
        if hasattr(source, "on_status"):  # live sources report reconnects and errors themselves
            source.on_status = functools.partial(self.set_status, source=name)
        try:
            if self.timeframes:
                own = await self._fetch_history(source, name) if isinstance(source, HistorySource) else []
                bars, kept = await self._with_stored_bars(source, name, own)
                if bars:
                    self._take_history(bars, name, kept)
            if isinstance(source, BatchSource) and not isinstance(source, OfflineSource):
                gc_tuning.settle()  # start-up's objects out of full collections; young ones less often
                try:
                    await self._stream_batches(source, name, max_events, until_ns)
                finally:
                    gc_tuning.release()
            else:
                await self._stream_events(source, name, max_events, until_ns)
        except asyncio.CancelledError:
            self.set_status("stopped", source=name)
            raise
        except MdxError as error:
            if isinstance(error, DataError):  # the item the source choked on is dropped: count it too
                self.rejections.add(error)
            reason = redact(str(error))
            self.set_status("error", reason, source=name)
            log.error("source %s failed: %s", name, reason)
            return error
        except Exception as error:  # a bug in the source or below: this source ends and says why
            reason = redact(f"crashed: {type(error).__name__}: {error}")
            self.set_status("error", reason, source=name)
            trace = redact("".join(traceback.format_exception(error)).rstrip())
            log.error("source %s %s\n%s", name, reason, trace)
            return error
        self.set_status("stopped" if self._stop_requested.is_set() else "done", source=name)
        return None

    async def _stream_events(
        self, source: Source, name: str, max_events: int | None, until_ns: int | None
    ) -> None:
        stream = open_stream(source, self.clock, self.rejections, self.speed)
        if isinstance(source, OfflineSource):
            self.set_status("connected", source=name)
        last_at = self._last_at
        async with contextlib.aclosing(stream):  # closes exchange connections however the loop ends
            async for event in stream:
                if until_ns is not None and event.ts_event > until_ns:
                    break
                self.process(event)
                last_at[name] = self.last_event_at_ns
                if self._stop_requested.is_set() or (
                    max_events is not None and self.events_processed >= max_events
                ):
                    self._halted = True
                    break

    async def _stream_batches(
        self, source: BatchSource, name: str, max_events: int | None, until_ns: int | None
    ) -> None:
        batches = source.batches(self.clock, self.rejections)
        async with contextlib.aclosing(batches):  # closes connections however the loop ends
            async for batch in batches:
                if self._take_batch(batch, name, max_events, until_ns):
                    break

    def _take_batch(self, batch: list[Any], name: str, max_events: int | None, until_ns: int | None) -> bool:
        """Process one read of a ``BatchSource`` with its open bars held to the end of it; True when
        the stream is to end (``until_ns`` passed, ``max_events`` reached, ``stop()``)."""
        bar_maker = self.bar_maker
        bar_maker.hold_open_bars()
        try:
            for event in batch:
                if until_ns is not None and event.ts_event > until_ns:
                    return True
                self.process(event)
                if self._stop_requested.is_set() or (
                    max_events is not None and self.events_processed >= max_events
                ):
                    self._halted = True
                    return True
        finally:
            bar_maker.release_open_bars()
            if batch:
                self._last_at[name] = self.last_event_at_ns
        return False

    # -- history ----------------------------------------------------------------------------------------

    async def _fetch_history(self, source: HistorySource, name: str) -> list[Bar]:
        """The source's bars from before its stream; [] (logged, counted) when it fails or takes longer
        than ``history_timeout_s``."""
        timeout = self.history_timeout_s
        try:
            return list(
                await asyncio.wait_for(source.history(self.timeframes, self.clock, self.rejections), timeout)
            )
        except TimeoutError:
            self._history_failed(source, name, f"timed out after {timeout:g} s")
        except SourceUnavailable as error:  # offline: the stream's own status and retries say the rest
            what = f"failed ({type(error).__name__}: {error})"
            self._history_failed(source, name, what, level=logging.WARNING)
        except MdxError as error:
            self._history_failed(source, name, f"failed ({type(error).__name__}: {error})")
        except Exception as error:  # a bug in the source: logged with its traceback; stream without it
            self._history_failed(source, name, f"crashed ({type(error).__name__}: {error})", error)
        return []

    async def _with_stored_bars(
        self, source: Source, name: str, own: list[Bar]
    ) -> tuple[list[Bar], frozenset[int]]:
        """A live source's history with the store's bars of its exchange under it (``store_history_s``
        back from now): the source's own bar wins at the same open time; stored ones fill the rest, so a
        monitor opened with ``--db`` shows the last hours even when the exchange's candles do not come.
        Returns the bars and the ids of those that came from the store (not written to it again)."""
        exchange = getattr(source, "exchange", None)
        if self.store_writer is None or not self.store_history_ns or _offline(source) or not exchange:
            return own, frozenset()
        from .store.history import stored_bars

        now = self.clock.now_ns()
        try:
            stored = await asyncio.to_thread(
                stored_bars, self.store_writer.store.path, exchange, getattr(source, "symbols", ()),
                self.timeframes, now - self.store_history_ns, now,
            )  # fmt: skip
        except MdxError as error:
            self._history_failed(source, name, f"from the store failed ({error})")
            return own, frozenset()
        taken = {(b.symbol, b.timeframe, b.ts_event) for b in own}
        extra = [b for b in stored if (b.symbol, b.timeframe, b.ts_event) not in taken]
        return sorted(own + extra, key=lambda bar: bar.ts_event), frozenset(map(id, extra))

    def _history_failed(
        self, source: Any, name: str, what: str, bug: Exception | None = None, level: int = logging.ERROR
    ) -> None:
        redact: Callable[[str], str] = getattr(source, "redact", None) or _same  # sources holding secrets
        self.rejections.add(
            HISTORY_ERROR,
            redact(f"source {name}: history {what}; streaming without it"),
            level=level,
            exc_info=bug,
        )

    def _take_history(self, bars: Sequence[Bar], name: str, kept: frozenset[int] = frozenset()) -> int:
        """Send history bars through ``BarMaker.follow``, the consumers, the cache and the hub: the newest
        cache window of each (exchange, symbol, timeframe); bad ones and ones out of order are counted
        and left out, ones the session already has (an earlier run's) skipped; ``kept``: ids of bars read
        from the store, which are not written to it again. Returns how many went."""
        valid: list[Bar] = []
        for bar in bars:
            try:
                check_history_bar(bar, self.timeframes)
            except DataError as error:
                self.rejections.add(error)
                continue
            valid.append(bar)
        sent = 0
        previous: dict[tuple[str, str, str], int] = {}
        for bar in _newest(valid, self.cache.maxlen(Bar)):
            slot = (bar.exchange, bar.symbol, bar.timeframe)
            before = previous.get(slot)
            if before is not None and bar.ts_event <= before:
                self.rejections.add(
                    HISTORY_ORDER,
                    f"source {name}: {slot[0]} {slot[1]} {slot[2]} history bar at {bar.ts_event} ns is not "
                    f"after the one before it ({before} ns): left out",
                )
                continue
            previous[slot] = bar.ts_event
            if self.bar_maker.follow(bar):
                with self._history_bars(stored=id(bar) in kept):
                    self.emit(bar)
                sent += 1
        self.history_loaded[name] = self.history_loaded.get(name, 0) + sent
        return sent

    def _history_bars(self, stored: bool = False) -> contextlib.AbstractContextManager[None]:
        """While a source's own bars go through: the store keeps them as built by the exchange (bars that
        came from the store are not written again)."""
        writer = self.store_writer
        if writer is None:
            return contextlib.nullcontext()
        return writer.bars_from("" if stored else "exchange")

    def run_until_done(self, *, max_events: int | None = None, until_ns: int | None = None) -> Session:
        """Process offline sources synchronously, merged by receive time, as fast as possible."""
        live = [name for source, name in zip(self.sources, self.names, strict=True) if not _offline(source)]
        if live:
            raise ConfigError(f"source {live[0]!r} is live; use start() or await run()")
        if (
            max_events is None
            and until_ns is None
            and any(getattr(s, "endless", False) for s in self.sources)
        ):
            raise ConfigError(f"source {self.name!r} never ends; pass max_events or until_ns")
        self.set_status("connected")
        for source, name in zip(self.sources, self.names, strict=True):
            if isinstance(source, HistorySource) and self.timeframes:
                self._take_history(_run_to_end(self._fetch_history(source, name)), name)
        try:
            iterators = [source.iter_events(self.rejections) for source in self.sources]  # type: ignore[attr-defined]
            events = iterators[0] if len(iterators) == 1 else merge_by_recv(iterators)
            for event in events:
                if until_ns is not None and event.ts_event > until_ns:
                    break
                self.process(event)
                if max_events is not None and self.events_processed >= max_events:
                    break
        except MdxError as error:  # a strict reader: the run ends here, and says so
            if isinstance(error, DataError):
                self.rejections.add(error)
            self.set_status("error", str(error))
            raise
        except Exception as error:
            self.set_status("error", f"crashed: {type(error).__name__}: {error}")
            raise
        finally:
            self._close_consumers()
        self.set_status("done")
        return self

    def _close_consumers(self) -> None:
        """Every consumer's ``close()``, each once, whatever the others do (failures are counted)."""
        for consumer in self.consumers:
            close = getattr(consumer, "close", None)
            if close is None:
                continue
            try:
                close()
            except DataError as error:
                self.rejections.add(error)
            except Exception as error:
                self._consumer_failed(close, "close", error)

    def start(self) -> Session:
        """Run in a background thread with its own event loop; returns at once."""
        if self.running:
            return self
        self._stop_requested.clear()
        self._overdue = ""
        started = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            crash: BaseException | None = None
            try:
                task = loop.create_task(self.run())
                started.set()
                loop.run_until_complete(task)
            except (asyncio.CancelledError, MdxError):
                pass  # stopped, or a source's error: already in the statuses and the log
            except BaseException as error:  # a crash: whatever it is, the statuses must say so
                crash = error
            finally:
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                except Exception as error:
                    crash = crash or error
                finally:
                    loop.close()
                    started.set()
                self._engine_ended(crash)

        self._thread = threading.Thread(target=main, name=f"mdx-session-{self.name}", daemon=True)
        self._thread.start()
        started.wait(5)
        return self

    def _engine_ended(self, crash: BaseException | None) -> None:
        """The engine thread's last word: no source is left looking alive."""
        if crash is not None:
            reason = f"engine crashed: {type(crash).__name__}: {crash}"
            if self._settle("error", reason):  # not already reported by the source that crashed
                trace = "".join(traceback.format_exception(crash)).rstrip()
                log.error("session %s: %s\n%s", self.name, reason, trace)
        elif self._stop_requested.is_set():
            self._settle("stopped")
        else:
            self._settle("error", "engine ended unexpectedly")

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the engine (the background thread, or an awaited ``run()``) and wait up to ``timeout`` s.

        Returns True once it has stopped (every source "stopped", or "done" / "error" if it had already
        ended). Returns False when it is still running: something blocks the engine's thread (a consumer
        or source that never yields); the statuses then say "error" ("engine did not stop within ..."),
        ``running`` stays True, and calling ``stop()`` again waits again. Also False, at once, when called
        from the engine's own loop (a task next to an awaited ``run()``), which cannot wait for itself:
        the run ends at its next await."""
        self._stop_requested.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(task.cancel)
        if threading.get_ident() == self._engine_ident and self.running:
            return False  # waiting here would block the very thread that has to finish
        if self._thread is not None:
            self._thread.join(timeout)
        if not self._idle.is_set():  # an awaited run() on another thread's loop
            self._idle.wait(timeout)
        if self.running:
            self._overdue = f"engine did not stop within {timeout:g} s{self._engine_whereabouts()}"
            log.error("session %s: %s", self.name, self._overdue)
            return False
        self._overdue = ""
        self._settle("stopped")
        return True

    def _engine_whereabouts(self) -> str:
        """Where the engine's thread is stuck: the call the session made (a consumer or a source) and the
        innermost frame; the full stack goes to the log at DEBUG."""
        ident = self._engine_ident
        frame = sys._current_frames().get(ident) if ident is not None else None
        if frame is None:
            return ""
        log.debug("session %s engine stack:\n%s", self.name, "".join(traceback.format_stack(frame)))
        frames = []
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
        frames.reverse()  # outermost first
        ours = [i for i, f in enumerate(frames[:-1]) if f.f_code.co_filename == __file__]
        where = "; busy in " + _frame_text(frames[ours[-1] + 1]) if ours else ""
        return where + ", at " + _frame_text(frames[-1])

    @property
    def running(self) -> bool:
        """True while the engine runs: the background thread is alive, or an awaited ``run()`` goes on."""
        return (self._thread is not None and self._thread.is_alive()) or not self._idle.is_set()

    def wait_for(self, predicate: object, timeout: float = 10.0) -> bool:
        """Block (outside notebooks: tests, scripts) until ``predicate()`` is true or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(predicate) and predicate():
                return True
            time.sleep(0.01)
        return bool(callable(predicate) and predicate())


def _same(text: str) -> str:
    return text


def _newest(bars: list[Bar], limit: int) -> list[Bar]:
    """The last ``limit`` bars of each (exchange, symbol, timeframe), in the given order."""
    seen: dict[tuple[str, str, str], int] = {}
    keep: list[Bar] = []
    for bar in reversed(bars):
        slot = (bar.exchange, bar.symbol, bar.timeframe)
        count = seen[slot] = seen.get(slot, 0) + 1
        if count <= limit:
            keep.append(bar)
    keep.reverse()
    return keep


def _run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end from synchronous code: on a loop of its own, or on a worker thread's
    when this thread already runs one (``run_until_done`` in a notebook cell)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coroutine)
        finally:
            loop.close()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mdx-history") as pool:
        return pool.submit(_run_to_end, coroutine).result()


def _frame_text(frame: Any) -> str:
    code = frame.f_code
    name = getattr(code, "co_qualname", code.co_name)
    return f"{name} ({code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno})"


def _offline(source: Source) -> bool:
    return isinstance(source, OfflineSource)


def _rank(state: str) -> int:
    return STATE_RANK.index(state) if state in STATE_RANK else len(STATE_RANK)


def _unique_names(sources: Sequence[Source]) -> tuple[str, ...]:
    names: list[str] = []
    for source in sources:
        name = str(source.name)
        while name in names:
            name = f"{source.name}#{len(names) + 1}"
        names.append(name)
    return tuple(names)


__all__ = ["Session", "SessionStatus"]
