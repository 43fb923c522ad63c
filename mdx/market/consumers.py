"""The consumers that keep market state in a session: trade checks, order books, bars.

Trade ──► TradeGuard (validity, recent-id de-duplication; rejects) ──► BarMaker ──► Bar (closed, open)
BookSnapshot / BookDelta ──► BookKeeper (OrderBook per symbol; rejects gaps) ──► BookView (throttled)
Quote ──► BookKeeper (a book that stays behind the venue's quotes falls out of sync)

Rejecting (raising a ``DataError``) drops the whole event: TradeGuard and BookKeeper do that. BarMaker
never does: a trade late for one timeframe's open bar can be fine for another's, and it must still
reach the cache; it counts late trades and time jumps per builder in its ``rejections`` counter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..cache import Key
from ..consumer import Consumer
from ..errors import BookOutOfSync, CrossedBook, DataError
from ..events import BookDelta, BookSnapshot, Quote, Trade
from ..stats import Rejections
from .bars import DEFAULT_MAX_GAP, BarBuilder, max_gap_bars
from .book import OrderBook
from .timeframes import timeframe_ns
from .trades import RECENT_TRADE_IDS, RecentTradeIds, check_trade

log = logging.getLogger("mdx")


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
    bars included), then the open bar after every trade.

    ``max_gap``: see ``mdx.market.bars`` (time jumps). Late trades and time jumps are counted per builder
    (so per timeframe) in ``rejections`` (reasons ``LateTrade`` and ``TimeJump``) without rejecting the
    trade, which still reaches the other timeframes, the cache and later consumers; a session passes
    its own ``rejections``.
    ``close()`` (the end of a session's run) rejects trades still held as a possible time jump."""

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
        self.builders: dict[tuple[Key, str], BarBuilder] = {}

    def on_event(self, trade: Trade) -> None:
        emit = self.emit
        for tf in self.timeframes:
            builder = self.builders.get(((trade.exchange, trade.symbol), tf))
            if builder is None:
                builder = self.builders[((trade.exchange, trade.symbol), tf)] = BarBuilder(
                    trade.exchange, trade.symbol, tf, max_gap=self.max_gap, rejections=self.rejections
                )
            for bar in builder.update(trade):
                emit(bar)
            current = builder.current
            if current is not None:
                emit(current)

    def close(self) -> None:
        for builder in self.builders.values():
            builder.flush()


__all__ = ["BarMaker", "BookKeeper", "TradeGuard"]
