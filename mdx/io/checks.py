"""The value rules every reader applies to the events it builds: one rule per event kind.

A reader rejects an event (``InvalidValue``, counted as a rejection) when its values are impossible:

- ``Trade``: the one trade rule, ``mdx.market.trades.valid_trade`` (price and amount > 0, finite notional),
  and a side of ``"buy"``, ``"sell"`` or ``""`` (unknown);
- ``BookSnapshot`` / ``BookDelta``: every level has ``0 < price < inf`` and ``0 <= amount < inf``
  (``valid_level``; an amount of 0 deletes the level in a delta);
- ``Quote``: ``0 < bid, ask < inf`` and ``0 <= sizes < inf`` (``valid_quote``).

Other kinds (``Bar`` and registered ones) have no value rule here: a bar may carry a NaN vwap, and
recordings round-trip such values exactly. The Binance reader applies the same predicates inline on its
hot path (``mdx.io.binance``); the recording reader calls ``check_event`` on every decoded event.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import InvalidValue
from ..events import BookDelta, BookSnapshot, Levels, Quote, Trade
from ..market.trades import check_trade, valid_trade

INF = math.inf
SIDES = ("buy", "sell", "")


def valid_level(price: float, amount: float) -> bool:
    """True for a book level with ``0 < price < inf`` and ``0 <= amount < inf`` (NaN fails)."""
    return 0.0 < price < INF and 0.0 <= amount < INF


def valid_quote(bid: float, bid_size: float, ask: float, ask_size: float) -> bool:
    """True when both prices are finite and > 0 and both sizes finite and >= 0 (NaN fails)."""
    return 0.0 < bid < INF and 0.0 < ask < INF and 0.0 <= bid_size < INF and 0.0 <= ask_size < INF


def check_levels(levels: Levels, what: str) -> None:
    """Raise ``InvalidValue`` naming the first level of ``levels`` that breaks ``valid_level``."""
    for price, amount in levels:
        if not 0.0 < price < INF or not 0.0 <= amount < INF:
            raise InvalidValue(f"{what} level price {price!r} amount {amount!r}")


def _check_trade(trade: Trade) -> None:
    check_trade(trade)
    if trade.side not in SIDES:
        raise InvalidValue(
            f"{trade.exchange} trade {trade.id!r} on {trade.symbol}: side {trade.side!r} must be "
            "'buy', 'sell' or '' (unknown)"
        )


def _check_book(event: Any) -> None:
    where = f"{event.exchange} {event.symbol} book at {event.seq}"
    check_levels(event.bids, f"{where}: bid")
    check_levels(event.asks, f"{where}: ask")


def _check_quote(q: Quote) -> None:
    if not valid_quote(q.bid, q.bid_size, q.ask, q.ask_size):
        raise InvalidValue(
            f"{q.exchange} quote on {q.symbol} at {q.seq}: {q.bid!r} x {q.bid_size!r} / {q.ask!r} x "
            f"{q.ask_size!r}: prices must be finite and > 0, sizes finite and >= 0"
        )


CHECKS: dict[type, Callable[[Any], None]] = {
    Trade: _check_trade,
    BookSnapshot: _check_book,
    BookDelta: _check_book,
    Quote: _check_quote,
}


def check_event(event: Any) -> None:
    """Raise ``InvalidValue`` when ``event`` breaks the value rule of its kind (kinds without one pass)."""
    check = CHECKS.get(type(event))
    if check is not None:
        check(event)


__all__ = ["CHECKS", "SIDES", "check_event", "check_levels", "valid_level", "valid_quote", "valid_trade"]
