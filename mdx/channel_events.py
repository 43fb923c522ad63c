"""Events of an exchange's public channels beyond trades and the book: ticker, the exchange's own
candles, funding, mark and index price, open interest and liquidations.

Frozen, slotted, registered in ``mdx.events.KINDS`` like the core events (times in ns since the epoch,
``ts_event`` the exchange's time, ``ts_recv`` the local receive time; symbols in ccxt's unified form, so
``BTC/USDT:USDT`` for Binance's and Bybit's USDT-margined perpetuals). A value the venue does not give is
``nan`` (floats) or ``0`` (times), never a made-up number. ``mdx.sources.live.channels`` builds them from
ccxt's unified structures; ``check_*`` are their value rules (run on every recorded one read back).

``ExchangeBar`` carries the fields of ``Bar`` but is its own class: a candle as the exchange built it
(``watch_ohlcv``), shown beside mdx's own bars and stored as exchange-built, never mixed into the bars mdx
builds from trades (consumers of ``Bar`` do not receive it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InvalidValue
from .events import register_event

INF = math.inf
LIQUIDATION_SIDES = ("buy", "sell", "")


@dataclass(frozen=True, slots=True)
class Ticker:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    last: float
    bid: float  # nan: not in this venue's ticker
    ask: float
    change_pct: float  # change over the venue's 24 h window, in percent
    volume: float  # 24 h volume in the base currency
    quote_volume: float  # 24 h volume in the quote currency


@dataclass(frozen=True, slots=True)
class ExchangeBar:
    exchange: str
    symbol: str
    timeframe: str
    ts_event: int  # candle open time
    ts_recv: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool  # False while the exchange's candle is still forming


@dataclass(frozen=True, slots=True)
class Funding:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    rate: float  # the current (predicted) funding rate, e.g. 0.0001 = 0.01 % per interval
    next_funding_ns: int  # when it is next charged (0: not given)


@dataclass(frozen=True, slots=True)
class MarkPrice:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    mark: float
    index: float  # nan: not given


@dataclass(frozen=True, slots=True)
class OpenInterest:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    amount: float  # in contracts or base currency, as the venue counts it (nan: not given)
    value: float  # in the quote currency (nan: not given)


@dataclass(frozen=True, slots=True)
class Liquidation:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    price: float
    amount: float
    side: str  # "buy" / "sell" as ccxt reports it (Binance: the liquidation order's side, so "sell" means a
    # long was closed; Bybit: the liquidated position's side); "" unknown


def _positive(value: float) -> bool:
    return 0.0 < value < INF


def _positive_or_nan(value: float) -> bool:
    return math.isnan(value) or _positive(value)


def _non_negative_or_nan(value: float) -> bool:
    return math.isnan(value) or 0.0 <= value < INF


def _where(event: object, what: str) -> str:
    return f"{event.exchange} {what} on {event.symbol} at {event.ts_event}"  # type: ignore[attr-defined]


def check_ticker(t: Ticker) -> None:
    if not _positive(t.last) or not (_positive_or_nan(t.bid) and _positive_or_nan(t.ask)):
        raise InvalidValue(f"{_where(t, 'ticker')}: last {t.last!r} bid {t.bid!r} ask {t.ask!r}")
    if not (_non_negative_or_nan(t.volume) and _non_negative_or_nan(t.quote_volume)):
        raise InvalidValue(f"{_where(t, 'ticker')}: volume {t.volume!r} quote volume {t.quote_volume!r}")
    if t.change_pct in (INF, -INF):
        raise InvalidValue(f"{_where(t, 'ticker')}: change {t.change_pct!r} %")


def check_exchange_bar(b: ExchangeBar) -> None:
    prices = (b.open, b.high, b.low, b.close)
    if not all(_positive(p) for p in prices) or b.high < max(prices) or b.low > min(prices):
        raise InvalidValue(f"{_where(b, 'candle ' + b.timeframe)}: o/h/l/c {prices!r}")
    if not 0.0 <= b.volume < INF:
        raise InvalidValue(f"{_where(b, 'candle ' + b.timeframe)}: volume {b.volume!r}")


def check_funding(f: Funding) -> None:
    if not -1.0 < f.rate < 1.0 or f.next_funding_ns < 0:  # a rate of +-100 % per interval is not one
        raise InvalidValue(f"{_where(f, 'funding')}: rate {f.rate!r} next {f.next_funding_ns!r}")


def check_mark_price(m: MarkPrice) -> None:
    if not _positive(m.mark) or not _positive_or_nan(m.index):
        raise InvalidValue(f"{_where(m, 'mark price')}: mark {m.mark!r} index {m.index!r}")


def check_open_interest(o: OpenInterest) -> None:
    if not (_non_negative_or_nan(o.amount) and _non_negative_or_nan(o.value)):
        raise InvalidValue(f"{_where(o, 'open interest')}: amount {o.amount!r} value {o.value!r}")
    if math.isnan(o.amount) and math.isnan(o.value):
        raise InvalidValue(f"{_where(o, 'open interest')}: neither amount nor value given")


def check_liquidation(q: Liquidation) -> None:
    if not _positive(q.price) or not _positive(q.amount) or q.side not in LIQUIDATION_SIDES:
        raise InvalidValue(f"{_where(q, 'liquidation')}: {q.side!r} {q.amount!r} @ {q.price!r}")


register_event(Ticker, "ticker", "tickers", check=check_ticker)
register_event(
    ExchangeBar, "xbar", "exchange_bars", sub="timeframe", open_flag="closed", open_topic="exchange_bar_open",
    check=check_exchange_bar,
)  # fmt: skip
register_event(Funding, "funding", "funding", check=check_funding)
register_event(MarkPrice, "mark", "marks", check=check_mark_price)
register_event(OpenInterest, "open_interest", "open_interest", check=check_open_interest)
register_event(Liquidation, "liquidation", "liquidations", check=check_liquidation)

CHANNEL_EVENTS = (Ticker, ExchangeBar, Funding, MarkPrice, OpenInterest, Liquidation)

__all__ = [
    "CHANNEL_EVENTS",
    "ExchangeBar",
    "Funding",
    "Liquidation",
    "MarkPrice",
    "OpenInterest",
    "Ticker",
    "check_exchange_bar",
    "check_funding",
    "check_liquidation",
    "check_mark_price",
    "check_open_interest",
    "check_ticker",
]
