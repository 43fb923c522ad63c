"""The consumers that keep market state in a session: trade checks, order books, bars.

Trade ──► TradeGuard (validity, recent-id de-duplication; rejects) ──► BarMaker ──► Bar (closed, open)
BookSnapshot / BookDelta ──► BookKeeper (OrderBook per symbol; rejects gaps) ──► BookView (throttled)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..cache import Key
from ..consumer import Consumer
from ..errors import BookError
from ..events import BookDelta, BookSnapshot, Trade
from .bars import BarBuilder
from .book import OrderBook
from .timeframes import timeframe_ns
from .trades import RECENT_TRADE_IDS, RecentTradeIds, check_trade


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
    """One ``OrderBook`` per (exchange, symbol). Rejects deltas that break the sync rules (the book says
    why, and is out of sync until the next snapshot). Emits a ``BookView`` of ``depth`` levels at most
    every ``interval_ns`` of event time per symbol, and at once when the book (re)syncs or falls out of
    sync, so a stream of snapshots (ccxt's live books) is throttled like a stream of deltas."""

    takes = (BookSnapshot, BookDelta)

    def __init__(self, interval_ns: int = 100_000_000, depth: int = 50) -> None:
        self.interval_ns = interval_ns
        self.depth = depth
        self.books: dict[Key, OrderBook] = {}
        self._due: dict[Key, int] = {}

    def on_event(self, event: BookSnapshot | BookDelta) -> None:
        key = (event.exchange, event.symbol)
        book = self.books.get(key)
        if book is None:
            book = self.books[key] = OrderBook(key[0], key[1])
        was_in_sync = book.in_sync
        try:
            changed = book.apply(event)
        except BookError:
            self._emit_view(key, book, event.ts_event)
            raise
        if changed and (event.ts_event >= self._due.get(key, 0) or not was_in_sync):
            self._emit_view(key, book, event.ts_event)

    def _emit_view(self, key: Key, book: OrderBook, ts_event: int) -> None:
        self._due[key] = ts_event + self.interval_ns
        self.emit(book.view(self.depth))


class BarMaker(Consumer):
    """Bars of every timeframe for every symbol, by event time: emits each closed bar (gap-filled empty
    bars included), then the open bar after every trade."""

    takes = (Trade,)

    def __init__(self, timeframes: Iterable[str] = ("1m",)) -> None:
        self.timeframes = tuple(timeframes)
        for tf in self.timeframes:
            timeframe_ns(tf)  # raises InvalidTimeframe early, with the bad value in the message
        self.builders: dict[tuple[Key, str], BarBuilder] = {}

    def on_event(self, trade: Trade) -> None:
        emit = self.emit
        for tf in self.timeframes:
            builder = self.builders.get(((trade.exchange, trade.symbol), tf))
            if builder is None:
                builder = self.builders[((trade.exchange, trade.symbol), tf)] = BarBuilder(
                    trade.exchange, trade.symbol, tf
                )
            for bar in builder.update(trade):
                emit(bar)
            emit(builder.current)


__all__ = ["BarMaker", "BookKeeper", "TradeGuard"]
