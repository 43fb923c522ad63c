"""``StoreWriter``: the session consumer that persists trades, closed bars, book tops and alerts.

    session = mdx.Session(source, store="market.db")        # or session.add(StoreWriter(store))

It never blocks the engine. On the engine thread it turns events into rows and gathers them; every
``flush_interval`` of the session's clock (wall time live; a simulated clock's time in a replay) or
every ``batch_rows`` rows, whichever comes first, it hands the batch to its writer thread, which
commits it in one transaction and applies the store's retention by event time (counting back from the
newest event seen, or the clock when it is later). Between events the
thread hands over a batch that is due by itself, so a quiet feed is still stored within about a second.

Nothing is dropped silently: a row the store refuses (a NaN price, a negative amount) is counted in
``rejections`` as "StoreRejected"; when more than ``max_queued_rows`` rows wait for the disk, a new
batch is dropped and counted as "StoreQueueFull"; a batch SQLite cannot write (disk full, locked for
too long) is counted as "StoreWriteFailed". ``stats()`` has all of it per table. Open bars are not
stored; a book top is kept at most once per ``Store.book_top_interval`` of event time per symbol.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..alerts.alert import Alert
from ..clock import Clock, LiveClock
from ..consumer import Consumer
from ..errors import InvalidValue, MdxError
from ..events import Bar, Trade
from ..market.book import BookView
from ..stats import Rejections
from .rows import Row, alert_row, bar_row, book_top_row, trade_row
from .store import Store, duration_ns

log = logging.getLogger("mdx.store")

REJECTED = "StoreRejected"
QUEUE_FULL = "StoreQueueFull"
WRITE_FAILED = "StoreWriteFailed"
_STOP = object()


@dataclass(frozen=True, slots=True)
class StoreStats:
    """A snapshot of what a ``StoreWriter`` did, per table (``trades``, ``bars``, ``book_tops``,
    ``alerts``): rows ``stored``, ``duplicates`` (already there), ``rejected`` (refused), ``dropped``
    (queue full), ``failed`` (SQLite error), ``deleted`` (retention); ``queued`` rows wait for the disk,
    ``pending`` rows for the next hand-over; ``commits`` transactions."""

    stored: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    pending: int = 0
    commits: int = 0


@dataclass(slots=True)
class _Batch:
    rows: dict[str, list[Row]]
    size: int
    now_ns: int


def _add(counts: dict[str, int], more: dict[str, int]) -> None:
    for table, n in more.items():
        counts[table] = counts.get(table, 0) + n


class StoreWriter(Consumer):
    """Persists what a session sees into ``store`` (see the module docstring).

    ``clock``: the session's (a ``Session`` given ``store=`` passes its own); ``rejections``: where
    refused and dropped rows are counted (the session's). ``flush_interval``: "1s" by default;
    ``batch_rows``: rows per transaction at most; ``max_queued_rows``: rows waiting for the disk at most.
    """

    takes = (Trade, Bar, BookView, Alert)

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        rejections: Rejections | None = None,
        flush_interval: str | int = "1s",
        batch_rows: int = 20_000,
        max_queued_rows: int = 1_000_000,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or LiveClock()
        self.rejections = rejections if rejections is not None else Rejections()
        self.flush_interval_ns = duration_ns(flush_interval, "flush_interval")
        self.batch_rows = int(batch_rows)
        self.max_queued_rows = int(max_queued_rows)
        self.bar_source = "mdx"  # "exchange" while a source's own bars (its history) go through
        self._handlers: dict[type, Callable[[Any], Row | None]] = {
            Trade: trade_row,
            Bar: self._bar_row,
            BookView: self._book_top_row,
            Alert: alert_row,
        }
        self._tables = {Trade: "trades", Bar: "bars", BookView: "book_tops", Alert: "alerts"}
        self._routes = {kind: (to_row, self._tables[kind]) for kind, to_row in self._handlers.items()}
        self._top_slots: dict[tuple[str, str], int] = {}  # (exchange, symbol) -> last book-top interval
        self._lock = threading.Lock()  # guards the pending rows and the counters below
        self._done = threading.Condition(self._lock)
        self._pending: dict[str, list[Row]] = {}
        self._pending_rows = 0
        self._newest_ns = 0
        self._due_ns: int | None = None
        self._queued = 0
        self._handed = 0  # batches handed to the thread
        self._finished = 0  # batches the thread is done with (committed or failed)
        self._counts = StoreStats()  # its dicts are updated in place, under the lock
        self._commits = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    # -- the engine side -----------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        route = self._routes.get(type(event))  # the hot path: one lookup, no method calls but the row's
        if route is None:
            return
        to_row, table = route
        try:
            row = to_row(event)
        except InvalidValue as error:
            self._reject(table, str(error))
            return
        if row is None:
            return
        ts = event.ts_event
        if ts > self._newest_ns:  # retention counts back from the newest event time
            self._newest_ns = ts
        now = self.clock.now_ns()
        with self._lock:
            rows = self._pending.get(table)
            if rows is None:
                rows = self._pending[table] = []
            rows.append(row)
            self._pending_rows += 1
            if self._due_ns is None:
                self._due_ns = now + self.flush_interval_ns
            if self._pending_rows >= self.batch_rows or now >= self._due_ns:
                self._hand_over_locked(now)

    def _bar_row(self, bar: Bar) -> Row | None:
        if not bar.closed or not self.bar_source:  # open bars are not stored, nor the store's own
            return None
        return bar_row(bar, self.bar_source)

    def _book_top_row(self, view: BookView) -> Row | None:
        slot = view.ts_event // self.store.book_top_interval_ns
        key = (view.exchange, view.symbol)
        if self._top_slots.get(key) == slot:
            return None
        row = book_top_row(view)
        if row is not None:
            self._top_slots[key] = slot
        return row

    @contextlib.contextmanager
    def bars_from(self, source: str) -> Iterator[None]:
        """Bars that go through while inside are stored with ``source`` ("exchange": a source's own; "":
        not stored, e.g. bars read back from the store as history)."""
        before, self.bar_source = self.bar_source, source
        try:
            yield
        finally:
            self.bar_source = before

    def _now(self, ts_event: int) -> int:
        """The flush clock: the session's (a fast replay on a clock that stands still flushes every
        ``batch_rows``). Also notes the newest event time, which retention counts back from."""
        if ts_event > self._newest_ns:
            self._newest_ns = ts_event
        return self.clock.now_ns()

    def _reject(self, table: str, message: str) -> None:
        self.rejections.add(REJECTED, message)
        with self._lock:
            _add(self._counts.rejected, {table: 1})

    def _hand_over_locked(self, now: int) -> None:
        """Send the pending rows to the writer thread (or count them dropped when the queue is full)."""
        rows, size = self._pending, self._pending_rows
        self._pending, self._pending_rows, self._due_ns = {}, 0, None
        if not size:
            return
        if self._queued + size > self.max_queued_rows:
            _add(self._counts.dropped, {t: len(r) for t, r in rows.items()})
            detail = ", ".join(f"{len(r)} {t}" for t, r in rows.items())
            self.rejections.add(
                QUEUE_FULL,
                f"store {self.store.path}: {self._queued} rows already wait for the disk "
                f"(max_queued_rows={self.max_queued_rows}); dropped {detail}",
            )
            return
        self._queued += size
        self._handed += 1
        self._ensure_thread()
        self._queue.put(_Batch(rows, size, max(now, self._newest_ns)))

    def flush(self, wait: bool = True, timeout: float = 30.0) -> bool:
        """Hand the pending rows over now; with ``wait``, return once the thread is done with every batch
        handed so far (True), or False after ``timeout`` seconds."""
        with self._lock:
            self._hand_over_locked(self._now(0))
            target = self._handed
            if not wait:
                return True
            return self._done.wait_for(lambda: self._finished >= target, timeout)

    def close(self) -> None:
        """Store what is pending and stop the writer thread (it starts again with the next rows)."""
        self.flush(wait=True)
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(30.0)
            if thread.is_alive():
                log.error("store writer for %s did not stop within 30 s", self.store.path)
            self._thread = None

    def stats(self) -> StoreStats:
        with self._lock:
            c = self._counts
            return StoreStats(
                dict(c.stored),
                dict(c.duplicates),
                dict(c.rejected),
                dict(c.dropped),
                dict(c.failed),
                dict(c.deleted),
                self._queued,
                self._pending_rows,
                self._commits,
            )

    # -- the writer thread -------------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="mdx-store-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        poll_s = self.flush_interval_ns / 1e9
        while True:
            try:
                item = self._queue.get(timeout=poll_s)
            except queue.Empty:
                self._hand_over_if_due()
                continue
            if item is _STOP:
                return
            self._commit(item)

    def _hand_over_if_due(self) -> None:
        """A quiet feed: hand over rows whose flush time has come though no event arrived since."""
        with self._lock:
            now = self.clock.now_ns()
            if self._due_ns is not None and now >= self._due_ns:
                self._hand_over_locked(now)

    def _commit(self, batch: _Batch) -> None:
        try:
            result = self.store.commit(batch.rows, now_ns=batch.now_ns)
        except MdxError as error:
            self._failed(batch, str(error))
        except Exception as error:  # a bug below: the batch is counted as failed, the thread goes on
            log.exception("store writer crashed on a batch")
            self._failed(batch, f"{type(error).__name__}: {error}")
        else:
            refused = sum(result.rejected.values())
            for i in range(refused):  # rows the database refused past the checks of mdx.store.rows
                self.rejections.add(REJECTED, result.errors[min(i, len(result.errors) - 1)])
            with self._lock:
                c = self._counts
                _add(c.stored, result.stored)
                _add(c.duplicates, result.duplicates)
                _add(c.rejected, result.rejected)
                _add(c.deleted, result.deleted)
                self._commits += 1
        finally:
            with self._lock:
                self._queued -= batch.size
                self._finished += 1
                self._done.notify_all()

    def _failed(self, batch: _Batch, reason: str) -> None:
        with self._lock:
            _add(self._counts.failed, {t: len(r) for t, r in batch.rows.items()})
        self.rejections.add(WRITE_FAILED, f"{batch.size} rows not stored: {reason}", level=logging.ERROR)


__all__ = ["QUEUE_FULL", "REJECTED", "WRITE_FAILED", "StoreStats", "StoreWriter"]
