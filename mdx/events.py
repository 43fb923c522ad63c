"""Normalized market events.

All events are frozen, slotted dataclasses. Times are ``int`` nanoseconds since the Unix epoch (UTC):
``ts_event`` is the exchange's time for the event (or the best estimate of it), ``ts_recv`` the local
time the frame was received. Symbols are ccxt unified symbols (``BTC/USDT``, ``BTC/USDT:USDT``).
Book levels are tuples of ``(price, amount)`` floats; in a ``BookDelta`` the amount is absolute and
``0.0`` deletes the level.

``KINDS`` is the one table that says, per event class, its hub topic, how the cache keeps it, its
recording tag and its value rule (``check``). A new event type is one ``register_event`` call next to its
class (any frozen dataclass with ``exchange``, ``symbol``, ``ts_event`` and ``ts_recv``): the session,
cache, hub and recordings then handle it with no edit of their own.

Value rules (``EventKind.check``, run by ``check_event`` on every event a recording yields; the Binance
reader applies the same predicates inline on its hot path):

- ``Trade``: the one trade rule, ``mdx.market.trades.check_trade`` (price and amount > 0, finite notional),
  and a side of ``"buy"``, ``"sell"`` or ``""`` (unknown);
- ``BookSnapshot`` / ``BookDelta``: every level has ``0 < price < inf`` and ``0 <= amount < inf``
  (``valid_level``; an amount of 0 deletes the level in a delta);
- ``Quote``: ``0 < bid, ask < inf`` and ``0 <= sizes < inf`` (``valid_quote``).

``Bar`` has no value rule (a bar may carry a NaN vwap; recordings round-trip such values exactly).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import ConfigError, InvalidValue

Level = tuple[float, float]
Levels = tuple[Level, ...]


class CheckedLevels(tuple):  # type: ignore[type-arg]
    """One side of a book as a source checked it: ``(price, amount)`` float pairs with ``0 < price < inf``
    and ``0 < amount < inf`` (none deleting), best first, each price strictly beyond the one before. Only
    ``checked_levels`` makes them. ``OrderBook`` takes them without a second check, and a view of a book
    that is just such a snapshot shares them (a live book of 50 levels a side comes as a ccxt snapshot per
    frame). Equal to, and recorded as, the plain tuple."""

    __slots__ = ()


_PAIR = operator.itemgetter(0, 1)


def checked_levels(pairs: Iterable[Any], *, descending: bool) -> CheckedLevels | None:
    """``pairs`` (``(price, amount)`` sequences, e.g. a ccxt book side) copied as ``CheckedLevels``, or
    None when any is not a pair of floats with ``0 < price < inf`` and ``0 < amount < inf``, or the prices
    do not strictly fall (``descending``: bids) or rise (asks). The caller then sorts the good levels from
    the bad."""
    try:
        levels = CheckedLevels(map(_PAIR, pairs))
    except (TypeError, IndexError, KeyError):
        return None
    inf = INF
    last = inf if descending else 0.0
    for price, amount in levels:
        if not (type(price) is float and type(amount) is float and 0.0 < amount < inf):
            return None
        if not (0.0 < price < last if descending else last < price < inf):
            return None
        last = price
    return levels


@dataclass(frozen=True, slots=True)
class Trade:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    id: str
    price: float
    amount: float
    side: str  # "buy" or "sell": the aggressor (taker) side; "" when unknown


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    seq: int  # the last update id the snapshot includes
    bids: Levels  # best first
    asks: Levels  # best first


@dataclass(frozen=True, slots=True)
class BookDelta:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    first_seq: int  # first update id in the delta (Binance ``U``)
    seq: int  # last update id in the delta (Binance ``u``)
    bids: Levels
    asks: Levels
    prev_seq: int = -1  # the previous delta's ``seq`` when the venue says it (Binance futures ``pu``)


@dataclass(frozen=True, slots=True)
class Quote:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    seq: int  # book update id this top of book reflects
    bid: float
    bid_size: float
    ask: float
    ask_size: float


@dataclass(frozen=True, slots=True)
class Bar:
    exchange: str
    symbol: str
    timeframe: str
    ts_event: int  # bar open time
    ts_recv: int  # receive time of the last trade in the bar
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    vwap: float
    buy_volume: float
    sell_volume: float
    count: int
    closed: bool  # False while the bar is still open (partial)


E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class EventKind:
    """How the engine handles one event class.

    ``tag``: its name in recordings (and in ``Cache(maxlen=...)``). ``topic``: the hub topic root;
    events are published on ``{topic}.{exchange}.{symbol}`` plus ``.{value of sub}`` when ``sub`` names
    a field (bars: ``bars.binance.BTC/USDT.1m``). ``cached``: the cache keeps the latest value per key;
    ``history``: and a bounded history. ``open_flag`` names a bool field that is False while the event is
    still being built (an open bar): such an event is the key's latest value, is never appended to the
    history, and is published on ``open_topic``. ``recorded``: recordings may hold it. ``check``: the
    kind's value rule, a function that raises a ``DataError`` (``InvalidValue``) for an event whose values
    are impossible (None: no rule); readers count such events as rejections (see ``check_event``).
    """

    cls: type
    tag: str
    topic: str
    cached: bool = True
    history: bool = True
    sub: str = ""
    open_flag: str = ""
    open_topic: str = ""
    recorded: bool = True
    check: Callable[[Any], None] | None = None


KINDS: dict[type, EventKind] = {}
KINDS_BY_TAG: dict[str, EventKind] = {}


def register_event(
    cls: type, tag: str, topic: str, *, check: Callable[[Any], None] | None = None, **options: Any
) -> EventKind:
    """Add an event class to the table (options: the fields of ``EventKind``); returns its entry.
    ``check`` is the kind's value rule: it raises a ``DataError`` for an impossible event."""
    if check is not None and not callable(check):
        raise ConfigError(f"{cls.__name__}: check must be a function of the event, got {check!r:.60}")
    known = KINDS_BY_TAG.get(tag)
    if known is not None and known.cls is not cls:
        raise ConfigError(f"event tag {tag!r} is taken by {known.cls.__name__}")
    for name in ("exchange", "symbol", "ts_event", "ts_recv"):
        if name not in getattr(cls, "__dataclass_fields__", {}):
            raise ConfigError(f"{cls.__name__} cannot be an mdx event: it has no field {name!r}")
    kind = EventKind(cls, tag, topic, check=check, **options)
    KINDS[cls] = KINDS_BY_TAG[tag] = kind
    return kind


def check_event(event: Any) -> None:
    """Raise the ``DataError`` of the value rule of ``event``'s kind (``EventKind.check``); kinds without
    a rule, and classes outside the table, pass."""
    kind = KINDS.get(type(event))
    if kind is not None and kind.check is not None:
        kind.check(event)


def topic_of(event: Any, kind: EventKind) -> str:
    """The hub topic ``event`` is published on (see ``EventKind``)."""
    root = kind.topic
    if kind.open_flag and not getattr(event, kind.open_flag):
        root = kind.open_topic
    if kind.sub:
        return f"{root}.{event.exchange}.{event.symbol}.{getattr(event, kind.sub)}"
    return f"{root}.{event.exchange}.{event.symbol}"


def fast_constructor(cls: type[E]) -> Callable[..., E]:
    """A constructor for a frozen slotted dataclass, about 4x faster than ``cls(...)``: it fills a
    mutable twin with the same slots, then sets ``__class__`` (the frozen ``__init__`` pays an
    ``object.__setattr__`` call per field). Every field must be passed; the result is a real ``cls``."""
    names: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    twin = type(f"_Mutable{cls.__name__}", (), {"__slots__": names})
    body = "".join(f"    o.{n} = {n}\n" for n in names)
    source = f"def make({', '.join(names)}):\n    o = new(twin)\n{body}    o.__class__ = cls\n    return o\n"
    scope: dict[str, Any] = {"new": object.__new__, "twin": twin, "cls": cls}
    exec(source, scope)
    make: Callable[..., E] = scope["make"]
    make.__qualname__ = make.__name__ = f"make_{cls.__name__}"
    return make


# -- the value rules of the core kinds ---------------------------------------------------------------------

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


def valid_trade(price: float, amount: float) -> bool:
    """True when ``price`` and ``amount`` are > 0 and their product is finite (NaN fails)."""
    return price > 0.0 and amount > 0.0 and price * amount < INF


def trade_error(trade: Trade) -> InvalidValue:
    """The error naming what of ``trade`` breaks the ``Trade`` rule (its price and amount, else its side)."""
    if not valid_trade(trade.price, trade.amount):
        return InvalidValue(
            f"{trade.exchange} trade {trade.id!r} on {trade.symbol}: price {trade.price!r} and "
            f"amount {trade.amount!r} must be finite and > 0"
        )
    return InvalidValue(
        f"{trade.exchange} trade {trade.id!r} on {trade.symbol}: side {trade.side!r} must be "
        "'buy', 'sell' or '' (unknown)"
    )


def check_trade_values(trade: Trade) -> None:
    """The ``Trade`` rule: ``valid_trade`` and a known side."""
    if not (valid_trade(trade.price, trade.amount) and trade.side in SIDES):
        raise trade_error(trade)


def check_book_values(event: BookSnapshot | BookDelta) -> None:
    """The ``BookSnapshot`` / ``BookDelta`` rule: every level passes ``valid_level``."""
    where = f"{event.exchange} {event.symbol} book at {event.seq}"
    check_levels(event.bids, f"{where}: bid")
    check_levels(event.asks, f"{where}: ask")


def check_quote_values(q: Quote) -> None:
    """The ``Quote`` rule: ``valid_quote``."""
    if not valid_quote(q.bid, q.bid_size, q.ask, q.ask_size):
        raise InvalidValue(
            f"{q.exchange} quote on {q.symbol} at {q.seq}: {q.bid!r} x {q.bid_size!r} / {q.ask!r} x "
            f"{q.ask_size!r}: prices must be finite and > 0, sizes finite and >= 0"
        )


Event = Trade | BookSnapshot | BookDelta | Quote | Bar
MARKET_EVENTS = (Trade, BookSnapshot, BookDelta, Quote)

register_event(Trade, "trade", "trades", check=check_trade_values)
register_event(BookSnapshot, "snapshot", "book", cached=False, check=check_book_values)
register_event(BookDelta, "delta", "book", cached=False, check=check_book_values)
register_event(Quote, "quote", "quotes", check=check_quote_values)
register_event(Bar, "bar", "bars", sub="timeframe", open_flag="closed", open_topic="bar_open")

# the other public channels (ticker, exchange candles, funding, mark, open interest, liquidations) register
# themselves there; imported here so that reading any recording knows their tags
from . import channel_events  # noqa: E402, F401

__all__ = [
    "KINDS",
    "KINDS_BY_TAG",
    "MARKET_EVENTS",
    "SIDES",
    "Bar",
    "BookDelta",
    "BookSnapshot",
    "CheckedLevels",
    "Event",
    "EventKind",
    "Level",
    "Levels",
    "Quote",
    "Trade",
    "check_book_values",
    "check_event",
    "check_levels",
    "check_quote_values",
    "check_trade_values",
    "checked_levels",
    "fast_constructor",
    "register_event",
    "topic_of",
    "trade_error",
    "valid_level",
    "valid_quote",
    "valid_trade",
]
