"""The public channels a live source can follow besides trades and the book, and how each is read.

Each channel has a websocket method (``watch_*``), a REST method to poll (``fetch_*``), or both; what the
exchange offers (``exchange.has``) decides, per channel, at the start of a stream::

    channel          websocket              REST (polled every ``poll_s``)   events
    ticker           watch_ticker           fetch_ticker                     Ticker
    ohlcv            watch_ohlcv            fetch_ohlcv                      ExchangeBar (open, then closed)
    funding          watch_funding_rate     fetch_funding_rate               Funding (+ MarkPrice if given)
    mark             watch_mark_price       fetch_mark_price                 MarkPrice
    open_interest    -                      fetch_open_interest              OpenInterest
    liquidations     watch_liquidations     -                                Liquidation

``funding``, ``mark``, ``open_interest`` and ``liquidations`` exist for contracts (perpetuals, futures)
only: a spot symbol skips them quietly. A channel the exchange offers in neither form is reported once
(a warning naming the exchange and channel) and skipped, never retried.

The ``*_events`` functions turn one ccxt structure into events; a value that is missing or impossible is
a ``DataError`` for the caller to count, never a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...channel_events import (
    ExchangeBar,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Ticker,
    check_exchange_bar,
    check_funding,
    check_liquidation,
    check_mark_price,
    check_open_interest,
    check_ticker,
)
from ...errors import ConfigError, MalformedFrame
from .history import finite_number

CORE_CHANNELS = ("trades", "book")
NAN = math.nan


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    watch: str  # the ccxt ``has`` key of its websocket method ("" none)
    fetch: str  # the ccxt ``has`` key of its REST method ("" none)
    poll_s: float  # the polling interval when it is read over REST
    contracts_only: bool


CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel("ticker", "watchTicker", "fetchTicker", 2.0, False),
        Channel("ohlcv", "watchOHLCV", "fetchOHLCV", 5.0, False),
        Channel("funding", "watchFundingRate", "fetchFundingRate", 30.0, True),
        Channel("mark", "watchMarkPrice", "fetchMarkPrice", 3.0, True),
        Channel("open_interest", "", "fetchOpenInterest", 15.0, True),
        Channel("liquidations", "watchLiquidations", "", 0.0, True),
    )
}
ALL_CHANNELS = (*CORE_CHANNELS, *CHANNELS)


def check_channels(channels: tuple[str, ...]) -> tuple[str, ...]:
    """``channels`` without repeats, or a ``ConfigError`` naming an unknown one."""
    unknown = [c for c in channels if c not in ALL_CHANNELS]
    if unknown:
        raise ConfigError(
            f"unknown channel(s) {', '.join(map(repr, unknown))}; known: {', '.join(ALL_CHANNELS)}"
        )
    return tuple(dict.fromkeys(channels))


# exchanges whose websocket ticker of a contract carries these channels too (Bybit's linear ``tickers``
# frames hold the mark, index, funding rate, next funding time and open interest, 10 times a second)
TICKER_CARRIES: dict[str, frozenset[str]] = {"bybit": frozenset({"funding", "mark", "open_interest"})}


def mode_of(channel: Channel, has: Mapping[str, Any], *, websocket: bool = True, exchange: str = "") -> str:
    """``"watch"``, ``"ticker"`` (read from the websocket ticker), ``"poll"`` or ``""`` (the exchange
    offers none of them) for ``channel``."""
    if websocket and channel.watch and has.get(channel.watch):
        return "watch"
    if websocket and channel.name in TICKER_CARRIES.get(exchange, ()) and has.get("watchTicker"):
        return "ticker"
    if channel.fetch and has.get(channel.fetch):
        return "poll"
    return ""


def from_ticker(name: str) -> Normalizer:
    """The events of channel ``name`` in a ccxt ticker whose venue carries them (``TICKER_CARRIES``):
    the unified ``markPrice`` / ``indexPrice``, and the venue's own ``fundingRate``, ``nextFundingTime``,
    ``openInterest``, ``openInterestValue`` (in ``info``). Nothing when the ticker has none of them."""

    def events(exchange: str, symbol: str, raw: object, ts_recv: int) -> list[Any]:
        t = _structure(raw, f"{exchange} ticker {symbol}")
        info = t.get("info") if isinstance(t.get("info"), Mapping) else {}
        if name == "mark":
            return mark_events(exchange, symbol, t, ts_recv) if finite_number(t.get("markPrice")) else []
        if name == "funding":
            if finite_number(info.get("fundingRate")) is None:
                return []
            next_ms = finite_number(info.get("nextFundingTime"))
            fields = {"timestamp": t.get("timestamp"), "fundingRate": info["fundingRate"],
                      "nextFundingTimestamp": int(next_ms) if next_ms else None}  # fmt: skip
            return funding_events(exchange, symbol, fields, ts_recv)
        amount, value = finite_number(info.get("openInterest")), finite_number(info.get("openInterestValue"))
        if amount is None and value is None:
            return []
        fields = {"timestamp": t.get("timestamp"), "openInterestAmount": amount, "openInterestValue": value}
        return open_interest_events(exchange, symbol, fields, ts_recv)

    return events


def _ms(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _event_ns(raw: Mapping[str, Any], ts_recv: int) -> int:
    """The structure's ``timestamp`` (ms) in ns, else the receive time (some venues send none)."""
    stamp = _ms(raw.get("timestamp"))
    return stamp * 1_000_000 if stamp else ts_recv


def _number(value: object) -> float:
    number = finite_number(value)
    return NAN if number is None else number


def _structure(raw: object, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedFrame(f"{what}: expected a ccxt structure, got {type(raw).__name__}")
    return raw


def ticker_events(exchange: str, symbol: str, raw: object, ts_recv: int) -> list[Any]:
    t = _structure(raw, f"{exchange} ticker {symbol}")
    last = _number(t.get("last"))
    if math.isnan(last):
        last = _number(t.get("close"))
    event = Ticker(
        exchange, symbol, _event_ns(t, ts_recv), ts_recv, last, _number(t.get("bid")), _number(t.get("ask")),
        _number(t.get("percentage")), _number(t.get("baseVolume")), _number(t.get("quoteVolume")),
    )  # fmt: skip
    check_ticker(event)
    return [event]


def funding_events(exchange: str, symbol: str, raw: object, ts_recv: int) -> list[Any]:
    f = _structure(raw, f"{exchange} funding {symbol}")
    rate = finite_number(f.get("fundingRate"))
    if rate is None:
        raise MalformedFrame(f"{exchange} funding {symbol}: no funding rate in {sorted(f)[:12]}")
    ts_event = _event_ns(f, ts_recv)
    next_ms = _ms(f.get("nextFundingTimestamp")) or _ms(f.get("fundingTimestamp"))
    funding = Funding(exchange, symbol, ts_event, ts_recv, rate, next_ms * 1_000_000)
    check_funding(funding)
    events: list[Any] = [funding]
    mark = finite_number(f.get("markPrice"))
    if mark is not None:  # Binance's and Bybit's funding answers carry the mark and index too
        events.append(_mark(exchange, symbol, ts_event, ts_recv, mark, _number(f.get("indexPrice"))))
    return events


def mark_events(exchange: str, symbol: str, raw: object, ts_recv: int) -> list[Any]:
    m = _structure(raw, f"{exchange} mark price {symbol}")
    mark = finite_number(m.get("markPrice"))
    if mark is None:
        raise MalformedFrame(f"{exchange} mark price {symbol}: no markPrice")
    return [_mark(exchange, symbol, _event_ns(m, ts_recv), ts_recv, mark, _number(m.get("indexPrice")))]


def _mark(exchange: str, symbol: str, ts_event: int, ts_recv: int, mark: float, index: float) -> MarkPrice:
    event = MarkPrice(exchange, symbol, ts_event, ts_recv, mark, index)
    check_mark_price(event)
    return event


def open_interest_events(exchange: str, symbol: str, raw: object, ts_recv: int) -> list[Any]:
    o = _structure(raw, f"{exchange} open interest {symbol}")
    amount = _number(o.get("openInterestAmount"))
    event = OpenInterest(
        exchange, symbol, _event_ns(o, ts_recv), ts_recv, amount, _number(o.get("openInterestValue"))
    )
    check_open_interest(event)
    return [event]


def liquidation_events(exchange: str, symbol: str, raw: object, ts_recv: int) -> list[Any]:
    items = raw if isinstance(raw, list) else [raw]
    events: list[Any] = []
    for item in items:
        q = _structure(item, f"{exchange} liquidation {symbol}")
        amount = finite_number(q.get("contracts"))
        size = finite_number(q.get("contractSize"))
        base = finite_number(q.get("baseValue"))
        if base is not None:
            amount = base
        elif amount is not None and size is not None:
            amount *= size
        side = q.get("side")
        event = Liquidation(
            exchange, symbol, _event_ns(q, ts_recv), ts_recv, _number(q.get("price")), _number(amount),
            side if side in ("buy", "sell") else "",
        )  # fmt: skip
        check_liquidation(event)
        events.append(event)
    return events


class CandleFollower:
    """Exchange candles (ccxt OHLCV rows, oldest first) as ``ExchangeBar`` events: the forming candle as
    an open bar on each update, and a candle as closed once a later one has begun."""

    def __init__(self, exchange: str, symbol: str, timeframe: str) -> None:
        self.exchange, self.symbol, self.timeframe = exchange, symbol, timeframe
        self._last: list[float] | None = None  # the newest row seen, still forming

    def events(self, rows: object, ts_recv: int) -> list[Any]:
        if not isinstance(rows, list):
            raise MalformedFrame(
                f"{self.exchange} candles {self.symbol}: expected rows, got {type(rows).__name__}"
            )
        out: list[Any] = []
        for row in rows:
            if not isinstance(row, list | tuple) or len(row) < 6 or not _ms(row[0]):
                raise MalformedFrame(f"{self.exchange} candle {self.symbol}: bad row {row!r:.80}")
            last = self._last
            if last is not None and row[0] < last[0]:
                continue  # older than the forming one: already closed and sent
            if last is not None and row[0] > last[0]:
                out.append(self._bar(last, ts_recv, closed=True))
            self._last = list(row)
        if self._last is not None:
            out.append(self._bar(self._last, ts_recv, closed=False))
        return out

    def _bar(self, row: list[float], ts_recv: int, *, closed: bool) -> ExchangeBar:
        o, h, low, c, v = (_number(x) for x in row[1:6])
        bar = ExchangeBar(
            self.exchange, self.symbol, self.timeframe, int(row[0]) * 1_000_000, ts_recv, o, h, low, c,
            0.0 if math.isnan(v) else v, closed,
        )  # fmt: skip
        check_exchange_bar(bar)
        return bar


Normalizer = Callable[[str, str, object, int], list[Any]]
NORMALIZERS: dict[str, Normalizer] = {
    "ticker": ticker_events,
    "funding": funding_events,
    "mark": mark_events,
    "open_interest": open_interest_events,
    "liquidations": liquidation_events,
}

__all__ = [
    "ALL_CHANNELS",
    "CHANNELS",
    "CORE_CHANNELS",
    "NORMALIZERS",
    "CandleFollower",
    "Channel",
    "check_channels",
    "from_ticker",
    "mode_of",
]
