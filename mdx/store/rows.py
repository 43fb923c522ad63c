"""Events -> the rows the store writes (in ``schema.COLUMNS`` order), each checked first.

A row the database would refuse (a NaN or non-positive price, a negative amount, high below low) raises
``InvalidValue`` here, before it reaches SQLite: callers count it as a rejection; nothing else of the
batch is lost. ``Bar`` rows carry the bar's ``source``: ``mdx`` (built from trades) or ``exchange``.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import InvalidValue

Row = tuple[Any, ...]
SOURCES = ("mdx", "exchange")
INF = math.inf


def trade_row(t: Any) -> Row:
    """(exchange, symbol, id, ts, ts_recv, price, amount, side) of a ``Trade``, its values as they are:
    ``Trade``'s types (str, int ns, float) are what SQLite stores, so nothing is converted on this hot
    path (half its cost). A value of another type (a numpy scalar, a ``Decimal``) is refused by the
    STRICT ``trade_rows`` table or by the binding, and ``Store.commit`` then retries the batch row by row
    through ``typed_trade_row``, which converts it."""
    if not (0.0 < t.price < INF and 0.0 < t.amount < INF) or not t.id:
        raise InvalidValue(
            f"{t.exchange} {t.symbol} trade {t.id!r}: price {t.price!r} amount {t.amount!r} "
            "(prices and amounts must be finite and > 0, ids not empty): not stored"
        )
    return (t.exchange, t.symbol, t.id, t.ts_event, t.ts_recv, t.price, t.amount, t.side)


def typed_trade_row(row: Row) -> Row:
    """A trade row with each value converted to the type it is stored as (the slow path: rows with
    values of other types); ``InvalidValue`` when one cannot be."""
    try:
        exchange, symbol, id_, ts, ts_recv, price, amount, side = row
        return (exchange, symbol, str(id_), int(ts), int(ts_recv), float(price), float(amount), side)
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidValue(f"trade row {row!r}: {error}") from None


def bar_row(b: Any, source: str = "mdx") -> Row:
    """The row of a closed ``Bar``; an open bar, a bad source or impossible prices raise."""
    where = f"{b.exchange} {b.symbol} {b.timeframe} bar at {b.ts_event}"
    if not b.closed:
        raise InvalidValue(f"{where} is still open: only closed bars are stored")
    if source not in SOURCES:
        raise InvalidValue(f"{where}: source {source!r} must be one of {SOURCES}")
    o, h, lo, c = b.open, b.high, b.low, b.close
    if not (0.0 < lo < INF and 0.0 < h < INF and lo <= min(o, c) and h >= max(o, c) and o > 0 and c > 0):
        raise InvalidValue(f"{where}: open {o!r} high {h!r} low {lo!r} close {c!r} are not a bar")
    if not (0.0 <= b.volume < INF) or b.count < 0:
        raise InvalidValue(f"{where}: volume {b.volume!r} count {b.count!r} must be >= 0")
    return (
        b.exchange,
        b.symbol,
        b.timeframe,
        int(b.ts_event),
        source,
        float(o),
        float(h),
        float(lo),
        float(c),
        float(b.volume),
        float(b.quote_volume),
        float(b.vwap),
        float(b.buy_volume),
        float(b.sell_volume),
        int(b.count),
        int(b.ts_recv),
    )


def book_top_row(view: Any) -> Row | None:
    """The top of a ``BookView``: (exchange, symbol, ts, ts_recv, bid, ask, bid size, ask size, mid,
    spread_bps, imbalance); None when a side is empty or the book is out of sync (nothing to store)."""
    if not view.in_sync or not len(view.bids) or not len(view.asks):
        return None
    bid, bid_size = (float(x) for x in view.bids[0])
    ask, ask_size = (float(x) for x in view.asks[0])
    if not (0.0 < bid < INF and 0.0 < ask < INF and 0.0 <= bid_size < INF and 0.0 <= ask_size < INF):
        raise InvalidValue(
            f"{view.exchange} {view.symbol} book top at {view.ts_event}: {bid!r} x {bid_size!r} / "
            f"{ask!r} x {ask_size!r}: not stored"
        )
    return (
        view.exchange,
        view.symbol,
        int(view.ts_event),
        int(view.ts_recv),
        bid,
        ask,
        bid_size,
        ask_size,
        float(view.mid),
        float(view.spread_bps),
        float(view.imbalance),
    )


def alert_row(a: Any) -> Row:
    """(rule, ts, ts_recv, exchange, symbol, kind, value, threshold, text) of an ``Alert``."""
    if not (math.isfinite(a.value) and math.isfinite(a.threshold)):
        raise InvalidValue(f"alert {a.rule!r} at {a.ts_event}: value {a.value!r} threshold {a.threshold!r}")
    return (
        a.rule,
        int(a.ts_event),
        int(a.ts_recv),
        a.exchange,
        a.symbol,
        a.kind,
        float(a.value),
        float(a.threshold),
        a.text,
    )


__all__ = ["SOURCES", "Row", "alert_row", "bar_row", "book_top_row", "trade_row", "typed_trade_row"]
