"""Book sequence checks for exchanges whose ccxt.pro client applies book deltas without checking them.

ccxt.pro's ``binance`` checks every depth update's ids against the last and raises ``InvalidNonce`` on a
gap (then resyncs from a REST snapshot). Its ``bybit`` does not: it applies each ``orderbook`` delta
whatever its update id ``u``, and sets no ``nonce`` on the book, so a lost, repeated or reordered frame
leaves a wrong book that still looks healthy. ``guard_books(exchange)`` wraps such a client's book handler:

- a snapshot (a subscription's first frame, or a service restart, which sends ``u`` = 1) starts the count;
- a delta carrying the last ``u`` again (a repeated frame) is dropped;
- a delta must carry the last ``u`` + 1; anything else (a gap, a reordering), and a frame ccxt's
  parser chokes on, fails the connection with ``InvalidNonce`` through ccxt's own error path: the watchers
  raise it, mdx says "reconnecting" with the reason, and the new subscription's snapshot resyncs the book;
- the book's ``nonce`` is set to ``u``, so mdx's ``BookSnapshot.seq`` is the venue's update id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import ccxt

log = logging.getLogger("mdx.sources.live")

PARSE_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError)


def guard_bybit_books(exchange: Any) -> None:
    """Check the update ids of a ccxt.pro ``bybit`` client's ``orderbook.*`` frames (module docstring)."""
    handle = exchange.handle_order_book
    last: dict[tuple[str, str], int] = {}  # (connection url, topic) -> last update id applied

    def checked(client: Any, message: dict[str, Any]) -> None:
        topic = str(message.get("topic", ""))
        data = message.get("data") if isinstance(message.get("data"), dict) else {}
        update = data.get("u")
        key = (str(client.url), topic)
        if message.get("type") == "snapshot":
            last.pop(key, None)
        elif key in last and update == last[key]:
            return  # the same delta again: applied once (its amounts are absolute, but so it stays so)
        elif key not in last or not isinstance(update, int) or update != last[key] + 1:
            before = last.pop(key, None)
            _fail(
                client, f"bybit {topic}: update {update!r} after {before!r}: book sequence broken; resyncing"
            )
            return
        try:
            handle(client, message)
        except PARSE_ERRORS as error:
            last.pop(key, None)
            _fail(
                client, f"bybit {topic}: a book frame ccxt could not read ({type(error).__name__}: {error})"
            )
            return
        if isinstance(update, int):
            last[key] = update
            _set_nonce(exchange, client, data, update)

    exchange.handle_order_book = checked


def _set_nonce(exchange: Any, client: Any, data: dict[str, Any], update: int) -> None:
    market_type = "spot" if "spot" in str(client.url) else "contract"
    symbol = exchange.safe_market(data.get("s"), None, None, market_type)["symbol"]
    book = exchange.orderbooks.get(symbol)
    if book is not None:
        book["nonce"] = update


def _fail(client: Any, reason: str) -> None:
    log.warning("%s", reason)
    client.on_error(ccxt.InvalidNonce(reason))


SEQUENCE_GUARDS: dict[str, Callable[[Any], None]] = {"bybit": guard_bybit_books}

__all__ = ["SEQUENCE_GUARDS", "guard_bybit_books"]
