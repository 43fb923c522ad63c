"""The consumers that keep market state in a session: trade checks, order books, bars.

Trade ──► TradeGuard (validity, recent-id de-duplication; rejects) ──► BarMaker ──► Bar (closed, open)
history Bar ──► BarMaker.follow (checks it; the first trade's bar follows the last one) ──► the session
BookSnapshot / BookDelta ──► BookKeeper (OrderBook per symbol; rejects gaps) ──► BookView (throttled)
Quote ──► BookKeeper (a book that stays behind the venue's quotes falls out of sync)

Rejecting (raising a ``DataError``) drops the whole event: TradeGuard and BookKeeper do that. BarMaker
never does: a trade late for one timeframe's open bar can be fine for another's, and it must still
reach the cache; it counts late trades and time jumps per builder in its ``rejections`` counter.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Collection, Iterable
from datetime import UTC, datetime

from ..cache import Key
from ..consumer import Consumer
from ..errors import BookOutOfSync, CrossedBook, DataError, InvalidValue, MalformedFrame
from ..events import Bar, BookDelta, BookSnapshot, Quote, Trade
from ..stats import Rejections
from .bars import DEFAULT_MAX_GAP, LATE_TRADE, BarBuilder, bar_open_ns, bar_origin_ns, max_gap_bars
from .book import OrderBook
from .timeframes import timeframe_ns
from .trades import RECENT_TRADE_IDS, RecentTradeIds, check_trade

log = logging.getLogger("mdx")

Slot = tuple[Key, str]  # ((exchange, symbol), timeframe)


class TradeGuard(Consumer):
    """Rejects invalid trades (``InvalidValue``) and trade ids seen among the last ``recent_ids`` of
    their symbol (``DuplicateTrade``), before anything else sees them."""

    takes = (Trade,)

    def __init__(self, recent_ids: int = RECENT_TRADE_IDS) -> None:
        self.recent_ids = recent_ids
        self._ids: dict[Key, RecentTradeIds] = {}

    def on_event(self, trade: Trade) -> None:
        check_trade(trade)
        key = (trade.exchange, trade.symbol)
        ids = self._ids.get(key)
        if ids is None:
            ids = self._ids[key] = RecentTradeIds(self.recent_ids)
        ids.check(trade)


class BookKeeper(Consumer):
    """One ``OrderBook`` per (exchange, symbol). Rejects what the book rejects (the book says why): deltas
    that break the sync rules (the book is then out of sync until the next snapshot), deltas dropped
    while it is out of sync (``BookOutOfSync``, so a desync shows in the session's rejections), stale
    snapshots (``StaleSnapshot``) and levels with NaN / infinite / negative values (``InvalidValue``).
    Emits a ``BookView`` of ``depth`` levels at most every ``interval_ns`` of event time per symbol, and at
    once when the book (re)syncs or falls out of sync, so a stream of snapshots (ccxt's live books) is
    throttled like a stream of deltas.

    Quotes are the venue's own word on its book (``Quote.seq`` is the update id the top reflects): a
    book that stays behind a quote's ``seq`` for more than ``max_lag_ns`` of receive time is missing its
    depth stream (e.g. every diff rejected upstream) and is marked out of sync (see
    ``OrderBook.check_lag``)."""

    takes = (BookSnapshot, BookDelta, Quote)

    def __init__(
        self, interval_ns: int = 100_000_000, depth: int = 50, max_lag_ns: int = 10_000_000_000
    ) -> None:
        self.interval_ns = interval_ns
        self.depth = depth
        self.max_lag_ns = max_lag_ns
        self.books: dict[Key, OrderBook] = {}
        self._due: dict[Key, int] = {}

    def on_event(self, event: BookSnapshot | BookDelta | Quote) -> None:
        if type(event) is Quote:
            key = (event.exchange, event.symbol)
            book = self.books.get(key)
            # a quote in four frames comes here: check_lag runs at most every max_lag / 100 of each book
            if book is None or event.ts_recv < book.lag_check_due:
                return
            if book.check_lag(event.seq, event.ts_recv, self.max_lag_ns):
                log.warning(
                    "%s %s: book stuck at update %d while quotes reached update %d: out of sync until "
                    "the next snapshot (is the depth stream rejected upstream?)",
                    key[0], key[1], book.seq, event.seq,
                )  # fmt: skip
                self._emit_view(key, book, event.ts_event)
            return
        key = (event.exchange, event.symbol)
        book = self.books.get(key)
        if book is None:
            book = self.books[key] = OrderBook(key[0], key[1])
        was_in_sync = book.in_sync
        dropped = book.dropped
        try:
            changed = book.apply(event)  # type: ignore[arg-type]
        except DataError as error:  # a view when the book falls out of sync or a sync rule broke
            if book.in_sync != was_in_sync or isinstance(error, BookOutOfSync | CrossedBook):
                self._emit_view(key, book, event.ts_event)
            raise
        if not changed:
            if book.dropped != dropped:
                raise BookOutOfSync(
                    f"{event.symbol}: delta u={event.seq} dropped: the book is out of sync after update "
                    f"{book.seq} and waits for a snapshot"
                )
            return
        if event.ts_event >= self._due.get(key, 0) or not was_in_sync:
            self._emit_view(key, book, event.ts_event)

    def _emit_view(self, key: Key, book: OrderBook, ts_event: int) -> None:
        self._due[key] = ts_event + self.interval_ns
        self.emit(book.view(self.depth))


class BarMaker(Consumer):
    """Bars of every timeframe for every symbol, by event time: emits each closed bar (gap-filled empty
    bars included), then the open bar after every trade (after every batch of trades while the session
    holds open bars: ``hold_open_bars``).

    ``max_gap``: see ``mdx.market.bars`` (time jumps). Late trades and time jumps are counted per builder
    (so per timeframe) in ``rejections`` (reasons ``LateTrade`` and ``TimeJump``) without rejecting the
    trade, which still reaches the other timeframes, the cache and later consumers; a session passes
    its own ``rejections``.
    ``close()`` (the end of a session's run) rejects trades still held as a possible time jump.

    History: the session hands every closed bar a source had from before its stream (``HistorySource``)
    to ``follow`` before caching it, oldest first. The first trade of that (symbol, timeframe) then
    opens the bar after the last one: the bars between are filled empty with its close, as after any
    pause (none beyond ``max_gap``: a hole), and a trade in a bar the history already closed is late
    (``LateTrade``). So the cached bars run on from history to stream with no repeated open time.
    ``check_history_bar`` is the check a history bar passes first (the session runs it)."""

    takes = (Trade,)

    def __init__(
        self,
        timeframes: Iterable[str] = ("1m",),
        *,
        max_gap: str | None = DEFAULT_MAX_GAP,
        rejections: Rejections | None = None,
    ) -> None:
        self.timeframes = tuple(timeframes)
        for tf in self.timeframes:
            max_gap_bars(max_gap, timeframe_ns(tf))  # raises InvalidTimeframe / ConfigError early
        self.max_gap = max_gap
        self.rejections = rejections if rejections is not None else Rejections()
        self.builders: dict[Slot, BarBuilder] = {}
        self._follows: dict[Slot, Bar] = {}  # the last history bar of a slot, until its first trade
        self._held: dict[Slot, BarBuilder] | None = None  # open bars updated while held (hold_open_bars)

    def on_event(self, trade: Trade) -> None:
        emit = self.emit
        held = self._held
        key = (trade.exchange, trade.symbol)
        for tf in self.timeframes:
            slot = (key, tf)
            builder = self.builders.get(slot)
            if builder is None:
                builder = self._first_builder(slot, trade)
                if builder is None:
                    continue
            for bar in builder.update(trade):
                emit(bar)
            if held is not None:
                held[slot] = builder
                continue
            current = builder.current
            if current is not None:
                emit(current)

    def hold_open_bars(self) -> None:
        """Until ``release_open_bars``, a trade updates its open bars without emitting them (closed bars
        are emitted as they close): the session holds them over a batch of trades (one read of a
        ``BatchSource``), so a sweep of 500 trades makes one open bar per timeframe, not 500."""
        if self._held is None:
            self._held = {}

    def release_open_bars(self) -> None:
        """Emit the open bar of every (symbol, timeframe) a trade updated since ``hold_open_bars``."""
        held, self._held = self._held, None
        for builder in (held or {}).values():
            current = builder.current
            if current is not None:
                self.emit(current)

    def _first_builder(self, slot: Slot, trade: Trade) -> BarBuilder | None:
        """The builder of a slot's first trade. After history it first emits the empty bars between the
        last history bar and the trade's; None (the trade counted late) when history closed its bar."""
        builder = BarBuilder(
            trade.exchange, trade.symbol, slot[1], max_gap=self.max_gap, rejections=self.rejections
        )
        last = self._follows.get(slot)
        if last is not None:
            start = bar_open_ns(trade.ts_event, builder.tf_ns, builder.origin_ns)
            if start <= last.ts_event:
                self.rejections.add(
                    LATE_TRADE,
                    f"{trade.exchange} {trade.symbol} {slot[1]} bars: trade {trade.id!r} at "
                    f"{_iso(trade.ts_event)} falls in the history's bars (the last opens at "
                    f"{_iso(last.ts_event)}): left out of the bars",
                )
                return None
            del self._follows[slot]
            if (start - last.ts_event) // builder.tf_ns - 1 <= builder.max_gap_bars:
                for bar in _empty_bars(last, start, builder.tf_ns, trade.ts_recv):
                    self.emit(bar)
        self.builders[slot] = builder
        return builder

    def follow(self, bar: Bar) -> bool:
        """Take a closed history ``bar`` (oldest first, checked by ``check_history_bar``): the stream's
        bars of its (symbol, timeframe) will follow it. False when that slot already has this bar or a
        later one (from an earlier history, or the stream's open bar): it is not to be cached again.
        History at or after the stream's open bar (a stream restarted after a pause) replaces it: the
        stream's next trade opens a new bar after the history."""
        slot = ((bar.exchange, bar.symbol), bar.timeframe)
        builder = self.builders.get(slot)
        if builder is not None:
            current = builder.current
            if current is not None and bar.ts_event < current.ts_event:
                return False  # the stream has built past it
            del self.builders[slot]
        last = self._follows.get(slot)
        if last is not None and bar.ts_event <= last.ts_event:
            return False
        self._follows[slot] = bar
        return True

    def close(self) -> None:
        self.release_open_bars()
        for builder in self.builders.values():
            builder.flush()


def check_history_bar(bar: Bar, timeframes: Collection[str]) -> None:
    """Raise ``MalformedFrame`` unless ``bar`` is a closed ``Bar`` of one of ``timeframes`` aligned on
    it, and ``InvalidValue`` unless its prices are finite and > 0 with low <= open, close <= high and
    its volume finite and >= 0."""
    if not isinstance(bar, Bar):
        raise MalformedFrame(f"a history holds Bar events, not {type(bar).__name__}")
    if not bar.closed:
        raise MalformedFrame(f"{_history_bar(bar)} is still open: a history holds closed bars only")
    if bar.timeframe not in timeframes:
        raise MalformedFrame(
            f"{_history_bar(bar)}: the session builds no {bar.timeframe} bars, only {list(timeframes)}"
        )
    tf_ns, origin = _alignment(bar.timeframe)
    if (bar.ts_event - origin) % tf_ns:
        raise MalformedFrame(f"{_history_bar(bar)} does not open on a {bar.timeframe} boundary")
    o, h, lo, c = bar.open, bar.high, bar.low, bar.close
    try:  # comparisons with NaN are False; with a non-number, a TypeError
        if not 0.0 < lo <= min(o, c) <= max(o, c) <= h < math.inf:
            raise InvalidValue(
                f"{_history_bar(bar)}: prices must be finite and > 0 with low <= open, close <= high, "
                f"got open {o!r} high {h!r} low {lo!r} close {c!r}"
            )
        if not 0.0 <= bar.volume < math.inf:
            raise InvalidValue(f"{_history_bar(bar)}: volume {bar.volume!r} must be finite and >= 0")
    except TypeError:
        raise InvalidValue(f"{_history_bar(bar)}: prices and volume must be numbers") from None


@functools.lru_cache(maxsize=64)
def _alignment(timeframe: str) -> tuple[int, int]:
    """(length, origin) of a timeframe's bars in ns."""
    return timeframe_ns(timeframe), bar_origin_ns(timeframe)


def _history_bar(bar: Bar) -> str:
    return f"{_where(bar)}: history bar at {_iso(bar.ts_event)}"


def _empty_bars(last: Bar, start: int, tf_ns: int, recv: int) -> list[Bar]:
    """The empty bars after ``last`` and before ``start``: its close, no volume (a pause)."""
    c = last.close
    ex, sym, tf = last.exchange, last.symbol, last.timeframe
    return [
        Bar(ex, sym, tf, ts, recv, c, c, c, c, 0.0, 0.0, c, 0.0, 0.0, 0, True)
        for ts in range(last.ts_event + tf_ns, start, tf_ns)
    ]


def _where(bar: Bar) -> str:
    return f"{bar.exchange} {bar.symbol} {bar.timeframe} bars"


def _iso(ts_ns: int) -> str:
    """A UTC time for messages (the raw ns when out of range)."""
    try:
        return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError, OSError):
        return f"{ts_ns} ns"


__all__ = ["BarMaker", "BookKeeper", "TradeGuard", "check_history_bar"]
