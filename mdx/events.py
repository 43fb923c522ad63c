"""Normalized market events.

All events are frozen, slotted dataclasses. Times are ``int`` nanoseconds since the Unix epoch (UTC):
``ts_event`` is the exchange's time for the event (or the best estimate of it), ``ts_recv`` the local
time the frame was received. Symbols are ccxt unified symbols (``BTC/USDT``, ``BTC/USDT:USDT``).
Book levels are tuples of ``(price, amount)`` floats; in a ``BookDelta`` the amount is absolute and
``0.0`` deletes the level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

Level = tuple[float, float]
Levels = tuple[Level, ...]


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


Event = Trade | BookSnapshot | BookDelta | Quote | Bar
MARKET_EVENTS = (Trade, BookSnapshot, BookDelta, Quote)

__all__ = [
    "MARKET_EVENTS",
    "Bar",
    "BookDelta",
    "BookSnapshot",
    "Event",
    "Level",
    "Levels",
    "Quote",
    "Trade",
    "fast_constructor",
]
