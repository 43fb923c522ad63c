"""The one trade-validity rule and the one trade-id de-duplication, used by every reader and the session.

A trade is valid when its price and amount are > 0 and ``price * amount`` is finite: NaN (which fails
every comparison), infinities, zeros, negatives and an overflowing notional are rejected (``valid_trade``,
which lives beside the other value rules in ``mdx.events``). The compiled
twin for batch bars is ``mdx.market.bar_kernel._valid`` (tests assert they agree).
"""

from __future__ import annotations

from collections import deque

from ..errors import DuplicateTrade
from ..events import Trade, trade_error, valid_trade

RECENT_TRADE_IDS = 4096  # per symbol: enough to catch frames replayed after a reconnect


def check_trade(trade: Trade) -> None:
    """Raise ``InvalidValue`` naming the trade when its price or amount breaks ``valid_trade``."""
    if not valid_trade(trade.price, trade.amount):
        raise trade_error(trade)


class RecentTradeIds:
    """The last ``size`` trade ids of one (exchange, symbol), to drop duplicated frames."""

    __slots__ = ("_order", "_seen", "size")

    def __init__(self, size: int = RECENT_TRADE_IDS) -> None:
        self._order: deque[str] = deque()
        self._seen: set[str] = set()
        self.size = size

    def add(self, trade_id: str) -> bool:
        """Remember ``trade_id``; False when it was seen among the last ``size`` ids."""
        if trade_id in self._seen:
            return False
        self._seen.add(trade_id)
        self._order.append(trade_id)
        if len(self._order) > self.size:
            self._seen.discard(self._order.popleft())
        return True

    def __contains__(self, trade_id: object) -> bool:
        return trade_id in self._seen

    def check(self, trade: Trade) -> None:
        """Raise ``DuplicateTrade`` when ``trade``'s id was seen recently (trades without an id pass)."""
        if trade.id and not self.add(trade.id):
            raise DuplicateTrade(f"{trade.exchange} {trade.symbol}: trade id {trade.id} seen twice")


__all__ = ["RECENT_TRADE_IDS", "RecentTradeIds", "check_trade", "valid_trade"]
