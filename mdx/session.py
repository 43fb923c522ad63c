"""The session: wires one source to the hub and the consumers. The only place that knows the graph.

    source ──► Session.process ──► book (per symbol) ──► cache "book_views" ──► hub "book.*"
                               ├─► bars (per symbol x timeframe) ──► cache "bars" ──► hub "bars.*"
                               └─► cache "trades" / "quotes" ──► hub "trades.*" / "quotes.*"

Run it three ways:
- ``await session.run()`` on the caller's loop;
- ``session.start()`` in a background thread with its own loop (notebooks: cells never block), then
  ``session.stop()``;
- ``session.run_until_done()`` synchronously as fast as possible (offline sources; tests, research).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .cache import Cache, Key
from .clock import Clock, LiveClock
from .errors import BookError, ConfigError, DataError, DuplicateTrade, InvalidValue, MdxError
from .events import Bar, BookDelta, BookSnapshot, Event, Quote, Trade
from .hub import Hub
from .market.bars import BarBuilder
from .market.book import BookView, OrderBook
from .market.timeframes import timeframe_ns
from .sources.base import OfflineSource, Source, paced
from .stats import Rejections

log = logging.getLogger("mdx.session")

RECENT_TRADE_IDS = 1024  # per symbol: enough to catch replayed frames after a reconnect


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What the status line shows. ``state`` is one of: idle, connecting, connected, reconnecting,
    stale, done, stopped, error."""

    state: str = "idle"
    source: str = ""
    reason: str = ""
    attempt: int = 0
    next_retry_ns: int = 0


class Session:
    """One source wired to books, bar builders, the cache and the hub.

    ``timeframes``: bars built per symbol (ccxt strings). ``clock``: live by default; tests and research
    pass a ``SimulatedClock``. ``speed``: playback speed of offline sources (None: the source's own
    ``speed``, else real time). A ``BookView`` of ``book_view_depth`` levels is cached at most every
    ``book_view_interval_ms`` of event time per symbol. ``stale_after_s``: status turns "stale" when no
    event arrived for that long.
    """

    def __init__(
        self,
        source: Source,
        *,
        timeframes: Iterable[str] = ("1m",),
        clock: Clock | None = None,
        speed: float | None = None,
        book_view_interval_ms: float = 100.0,
        book_view_depth: int = 50,
        stale_after_s: float = 5.0,
        cache: Cache | None = None,
        hub: Hub | None = None,
    ) -> None:
        self.source = source
        self.timeframes = tuple(timeframes)
        for tf in self.timeframes:
            timeframe_ns(tf)  # raises InvalidTimeframe early, with the bad value in the message
        self.clock: Clock = clock or LiveClock()
        self.speed = float(speed if speed is not None else getattr(source, "speed", 1.0))
        self.cache = cache or Cache()
        self.hub = hub or Hub()
        self.rejections = Rejections()
        self.books: dict[Key, OrderBook] = {}
        self.bar_builders: dict[tuple[Key, str], BarBuilder] = {}
        self._recent_trade_ids: dict[Key, tuple[deque[str], set[str]]] = {}
        self.events_processed = 0
        self.last_recv_ns = 0
        self.last_event_at_ns = 0  # clock time at which the last event was processed
        self._book_view_interval_ns = int(book_view_interval_ms * 1e6)
        self._book_view_depth = book_view_depth
        self._book_view_due: dict[Key, int] = {}
        self._stale_after_ns = int(stale_after_s * 1e9)
        self._status = SessionStatus(source=source.name)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = threading.Event()

    # -- consumers ---------------------------------------------------------------------------------

    def process(self, event: Event) -> None:
        """Apply one event to every consumer; bad events are counted, never raised."""
        self.events_processed += 1
        self.last_event_at_ns = self.clock.now_ns()
        if event.ts_recv > self.last_recv_ns:
            self.last_recv_ns = event.ts_recv
        key = (event.exchange, event.symbol)
        try:
            if isinstance(event, Trade):
                self._on_trade(key, event)
            elif isinstance(event, BookDelta | BookSnapshot):
                self._on_book(key, event)
            elif isinstance(event, Quote):
                self.cache.set_latest("quote", key, event)
                self.cache.append("quotes", key, event)
                self.hub.publish(f"quotes.{key[0]}.{key[1]}", event)
            elif isinstance(event, Bar):
                self._publish_bar(key, event)
        except DataError as error:
            self.rejections.add(error)

    def _on_trade(self, key: Key, trade: Trade) -> None:
        price, amount = trade.price, trade.amount
        if not (price > 0.0 and amount > 0.0 and price * amount < math.inf):  # NaN fails every comparison
            raise InvalidValue(
                f"trade {trade.id} on {trade.symbol}: price {trade.price!r} amount {trade.amount!r}"
            )
        self._remember_trade_id(key, trade)
        self.cache.set_latest("trade", key, trade)
        self.cache.append("trades", key, trade)
        self.hub.publish(f"trades.{key[0]}.{key[1]}", trade)
        for tf in self.timeframes:
            builder = self.bar_builders.get((key, tf))
            if builder is None:
                builder = self.bar_builders[(key, tf)] = BarBuilder(key[0], key[1], tf)
            for bar in builder.update(trade):
                self._publish_bar(key, bar)
            partial = builder.current
            if partial is not None:
                self.cache.set_latest(f"bar_open.{tf}", key, partial)

    def _remember_trade_id(self, key: Key, trade: Trade) -> None:
        """Reject a trade id seen among the last ``RECENT_TRADE_IDS`` of its symbol."""
        recent = self._recent_trade_ids.get(key)
        if recent is None:
            recent = self._recent_trade_ids[key] = (deque(), set())
        order, seen = recent
        if trade.id in seen:
            raise DuplicateTrade(f"{trade.exchange} {trade.symbol}: trade id {trade.id} seen twice")
        order.append(trade.id)
        seen.add(trade.id)
        if len(order) > RECENT_TRADE_IDS:
            seen.discard(order.popleft())

    def _publish_bar(self, key: Key, bar: Bar) -> None:
        self.cache.append(f"bars.{bar.timeframe}", key, bar)
        self.hub.publish(f"bars.{key[0]}.{key[1]}.{bar.timeframe}", bar)

    def _on_book(self, key: Key, event: BookSnapshot | BookDelta) -> None:
        book = self.books.get(key)
        if book is None:
            book = self.books[key] = OrderBook(key[0], key[1])
        try:
            changed = book.apply(event)
        except BookError:
            self._publish_book_view(key, book, event.ts_event)
            raise
        if changed:
            self.hub.publish(f"book.{key[0]}.{key[1]}", event)
            if event.ts_event >= self._book_view_due.get(key, 0) or isinstance(event, BookSnapshot):
                self._publish_book_view(key, book, event.ts_event)

    def _publish_book_view(self, key: Key, book: OrderBook, ts_event: int) -> None:
        view: BookView = book.view(self._book_view_depth)
        self._book_view_due[key] = ts_event + self._book_view_interval_ns
        self.cache.set_latest("book", key, view)
        self.cache.append("book_views", key, view)

    # -- status -------------------------------------------------------------------------------------

    @property
    def status(self) -> SessionStatus:
        status = self._status
        if status.state == "connected" and self.last_event_at_ns:
            age = self.data_age_ns()
            if age > self._stale_after_ns:
                return replace(status, state="stale", reason=f"no data for {age / 1e9:.1f} s")
        return status

    def data_age_ns(self) -> int:
        """Clock time since the last event was processed (0 before the first)."""
        return self.clock.now_ns() - self.last_event_at_ns if self.last_event_at_ns else 0

    def set_status(self, state: str, reason: str = "", attempt: int = 0, next_retry_ns: int = 0) -> None:
        """Sources report connection state here (reconnecting with attempt and next try, errors)."""
        self._status = SessionStatus(state, self.source.name, reason, attempt, next_retry_ns)

    # -- running ------------------------------------------------------------------------------------

    async def run(self, *, max_events: int | None = None, until_ns: int | None = None) -> None:
        """Stream the source on the running loop until it ends, ``stop()`` is called, or a limit is hit."""
        self.set_status("connecting")
        if hasattr(self.source, "on_status"):
            self.source.on_status = self.set_status  # live sources report reconnects and errors
        try:
            if isinstance(self.source, OfflineSource):
                stream = paced(self.source.iter_events(self.rejections), self.clock, self.speed)
                self.set_status("connected")
            else:  # live sources report "connected" themselves once data flows
                stream = self.source.stream(self.clock, self.rejections)
            async with contextlib.aclosing(stream):  # closes exchange connections however the loop ends
                async for event in stream:
                    if until_ns is not None and event.ts_event > until_ns:
                        break
                    self.process(event)
                    if self._stop_requested.is_set() or (
                        max_events is not None and self.events_processed >= max_events
                    ):
                        break
        except asyncio.CancelledError:
            self.set_status("stopped")
            raise
        except MdxError as error:
            self.set_status("error", str(error))
            log.error("source %s failed: %s", self.source.name, error)
            raise
        self.set_status("stopped" if self._stop_requested.is_set() else "done")

    def run_until_done(self, *, max_events: int | None = None, until_ns: int | None = None) -> Session:
        """Process an offline source synchronously, as fast as possible. Returns the session."""
        if not isinstance(self.source, OfflineSource):
            raise ConfigError(f"source {self.source.name!r} is live; use start() or await run()")
        if max_events is None and until_ns is None and getattr(self.source, "endless", False):
            raise ConfigError(f"source {self.source.name!r} never ends; pass max_events or until_ns")
        self.set_status("connected")
        for event in self.source.iter_events(self.rejections):
            if until_ns is not None and event.ts_event > until_ns:
                break
            self.process(event)
            if max_events is not None and self.events_processed >= max_events:
                break
        self.set_status("done")
        return self

    def start(self) -> Session:
        """Run in a background thread with its own event loop; returns at once."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop_requested.clear()
        started = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._task = loop.create_task(self.run())
            started.set()
            try:
                loop.run_until_complete(self._task)
            except asyncio.CancelledError:
                pass
            except MdxError:
                pass  # already in status and the log
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name=f"mdx-session-{self.source.name}", daemon=True)
        self._thread.start()
        started.wait(5)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread (or a running ``run()``) and wait for it."""
        self._stop_requested.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout)
        self.set_status("stopped")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_for(self, predicate: object, timeout: float = 10.0) -> bool:
        """Block (outside notebooks: tests, scripts) until ``predicate()`` is true or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(predicate) and predicate():
                return True
            time.sleep(0.01)
        return bool(callable(predicate) and predicate())


__all__ = ["Session", "SessionStatus"]
