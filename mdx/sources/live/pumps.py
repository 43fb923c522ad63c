"""The per-(channel, symbol) loops of ``LiveSource`` other than the websocket trade and book watchers:
REST polling (for exchanges or channels without a websocket, and for trades and the book after
``ws_failures_before_polling`` websocket failures in a row), the other public channels, and the trade gap
fill after a reconnect.

Polling runs within ccxt's rate limiter (``enableRateLimit``); an HTTP 429 / 418 waits at least the
``Retry-After`` the exchange asked for (``LiveSource.retrying``). Each stream's mode ("websocket" or
"polling") is kept in ``LiveSource.modes`` and said in the status when it changes.

Trade continuity: after a websocket reconnect, the trades since the last one seen are fetched over REST
(``fetch_trades(since=...)``, paged) and sent before the new websocket trades, each trade id once. Where
the REST trades carry other ids than the websocket's (Binance's REST history is of aggregate trades),
the last trade seen is found by time instead: REST trades after its millisecond and before the first new
websocket trade fill the gap. When the exchange's REST history does not reach back to the last trade
seen, the gap is counted as a ``TradeGap`` rejection with its length instead of being papered over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ...clock import Clock
from ...errors import DataError, MdxError, SourceUnavailable
from ...events import BookSnapshot, Quote, Trade
from ...market.trades import RecentTradeIds
from ...stats import Rejections
from .channels import CHANNELS, NORMALIZERS, CandleFollower, from_ticker, mode_of

if TYPE_CHECKING:
    from .ccxt_source import LiveSource

log = logging.getLogger("mdx.sources.live")

TRADE_GAP = "TradeGap"  # the rejections reason of trades a reconnect may have lost
GAP_PAGES = 20  # at most this many fetch_trades pages to fill one gap
Queue = asyncio.Queue[Any]


class Polling:
    """A stream's websocket/REST mode: polling after ``after`` websocket failures in a row, the websocket
    tried again ``retry_s`` later."""

    def __init__(self, source: LiveSource, key: str, clock: Clock, *, websocket: bool) -> None:
        self.source, self.key, self.clock = source, key, clock
        self.always = not websocket  # no websocket for this stream: polled throughout
        self.until_ns = 0  # polling until then (0: on the websocket)
        source.modes[key] = "websocket" if websocket else "polling"

    @property
    def active(self) -> bool:
        return self.always or self.until_ns > self.clock.now_ns()

    def start(self, reason: str) -> None:
        source = self.source
        self.until_ns = self.clock.now_ns() + int(source.websocket_retry_s * 1e9)
        source.set_mode(self.key, "polling", f"{reason}; polling REST every {self.poll_s:g} s")

    def stop(self) -> None:
        if self.until_ns:
            self.until_ns = 0
            self.source.set_mode(self.key, "websocket", "back on the websocket")

    @property
    def poll_s(self) -> float:
        return self.source.poll_s[self.key.split(" ", 1)[0]]

    async def wait(self) -> None:
        await self.clock.sleep_until(self.clock.now_ns() + int(self.poll_s * 1e9))


async def watch_or_poll(
    source: LiveSource,
    polling: Polling,
    what: str,
    clock: Clock,
    rejections: Rejections,
    watch: Callable[[], Awaitable[Any]],
) -> Any | None:
    """One websocket result, or None when the websocket failed ``ws_failures_before_polling`` times in
    a row (polling then starts for ``websocket_retry_s``)."""
    limit = source.ws_failures_before_polling
    try:
        return await source.retrying(polling.key, what, clock, rejections, watch, give_up_after=limit)
    except SourceUnavailable as error:
        if limit is None or (source.max_attempts is not None and source.max_attempts <= limit):
            raise  # max_attempts says when to give up altogether
        polling.start(f"{what}: the websocket failed {limit} times in a row ({error})")
        return None


async def poll_trades(
    source: LiveSource,
    exchange: Any,
    symbol: str,
    since_ms: int | None,
    clock: Clock,
    rejections: Rejections,
    key: str,
) -> list[Trade]:
    """One ``fetch_trades`` page since ``since_ms`` (ms; None: the latest ones), normalized; bad ones
    counted."""
    raw = await source.retrying(
        key, f"fetch_trades {symbol}", clock, rejections, lambda: exchange.fetch_trades(symbol, since_ms)
    )
    ts_recv = clock.now_ns()
    trades: list[Trade] = []
    for item in raw or ():
        try:
            trades.append(source.trade_of(symbol, item, ts_recv))
        except DataError as error:
            rejections.add(error)
    trades.sort(key=lambda t: t.ts_event)
    return trades


async def fill_gap(
    source: LiveSource,
    exchange: Any,
    symbol: str,
    last: Trade,
    until_ns: int,
    seen: RecentTradeIds,
    clock: Clock,
    rejections: Rejections,
    key: str,
) -> list[Trade]:
    """The trades after ``last`` (the last one sent before a reconnect) and before ``until_ns`` (the first
    new websocket trade), not sent yet, oldest first; a gap the REST history does not cover is counted."""
    if not exchange.has.get("fetchTrades"):
        _gap(rejections, source, symbol, last.ts_event, until_ns, "the exchange has no trade history")
        return []
    since_ms = last.ts_event // 1_000_000
    filled: list[Trade] = []
    reached = False
    for _ in range(GAP_PAGES):
        try:
            page = await poll_trades(source, exchange, symbol, since_ms, clock, rejections, key)
        except MdxError as error:
            _gap(rejections, source, symbol, last.ts_event, until_ns, f"fetch_trades failed ({error})")
            return filled
        early = [t for t in page if t.ts_event <= last.ts_event]
        same_ids = any(t.id in seen for t in early)
        if early:
            reached = True
            if not same_ids:  # REST ids are not the websocket's (Binance's aggregate trades): what the
                # websocket sent is told by time, not id
                page = [t for t in page if t.ts_event > last.ts_event]
        # with the websocket's ids, trades in the first new trade's millisecond are told apart by id
        end = until_ns + 1 if same_ids else until_ns
        fresh = [t for t in page if t.ts_event < end and (not t.id or seen.add(t.id))]
        filled.extend(fresh)
        newest = page[-1].ts_event // 1_000_000 if page else since_ms
        if not page or page[-1].ts_event >= until_ns or newest <= since_ms:
            break
        since_ms = newest
    if not reached:
        start = filled[0].ts_event if filled else until_ns
        _gap(rejections, source, symbol, last.ts_event, start, "the REST history does not reach back to it")
    return filled


def _gap(rejections: Rejections, source: LiveSource, symbol: str, from_ns: int, to_ns: int, why: str) -> None:
    seconds = max(0, to_ns - from_ns) / 1e9
    rejections.add(
        TRADE_GAP,
        f"{source.exchange} {symbol}: trades in {seconds:.3f} s after a reconnect may be missing: {why}",
    )


async def poll_book(
    source: LiveSource, exchange: Any, symbol: str, clock: Clock, rejections: Rejections, key: str
) -> BookSnapshot:
    """The book over REST (``fetch_order_book``) as a snapshot."""

    def fetch() -> Awaitable[Any]:
        return exchange.fetch_order_book(symbol, source.book_limit)

    book = await source.retrying(
        key, f"fetch_order_book {symbol}", clock, rejections,
        lambda: source.cached(f"book:{symbol}", fetch, source.poll_s["book"] / 2),
    )  # fmt: skip
    ts_recv = clock.now_ns()
    bids, _ = source.book_levels(book.get("bids") or (), descending=True)
    asks, _ = source.book_levels(book.get("asks") or (), descending=False)
    nonce = book.get("nonce")
    timestamp = book.get("timestamp")
    ts_event = timestamp * 1_000_000 if isinstance(timestamp, int) and timestamp > 0 else ts_recv
    seq = int(nonce) if isinstance(nonce, int) else 0
    return BookSnapshot(source.exchange, symbol, ts_event, ts_recv, seq, bids, asks)


def quote_of(book: BookSnapshot) -> Quote | None:
    if not (book.bids and book.asks):
        return None
    (bid, bid_size), (ask, ask_size) = book.bids[0], book.asks[0]
    return Quote(
        book.exchange, book.symbol, book.ts_event, book.ts_recv, book.seq, bid, bid_size, ask, ask_size
    )


def channel_plan(source: LiveSource, exchange: Any, name: str, symbol: str) -> str:
    """How ``name`` is read for ``symbol`` ("watch", "poll"), or "" to skip it (said once, with why)."""
    channel = CHANNELS[name]
    market: Mapping[str, Any] = (exchange.markets or {}).get(symbol) or {}
    if channel.contracts_only and not market.get("contract"):
        log.debug("%s %s: %s is for contracts only; not for this spot market", source.exchange, symbol, name)
        return ""
    mode = mode_of(channel, exchange.has, websocket=source.websocket, exchange=source.exchange)
    if not mode:
        forms = " or ".join(m for m in (channel.watch, channel.fetch) if m)
        source.skip(f"{name} {symbol}", f"{source.exchange} offers no {forms} in ccxt: {name} not followed")
    return mode


async def pump_channel(
    source: LiveSource,
    exchange: Any,
    name: str,
    symbol: str,
    mode: str,
    clock: Clock,
    rejections: Rejections,
    queue: Queue,
) -> None:
    """Follow one channel of one symbol until cancelled; a channel the exchange refuses (an exchange error,
    e.g. ``NotSupported``) is said once and left, while the other streams go on."""
    key = f"{name} {symbol}"
    call = _call(exchange, name, symbol, mode, source.ohlcv_timeframe)
    if mode == "poll":  # kernels sharing a cache share each poll
        fetch, ttl = call, source.poll_s[name] / 2
        call = lambda: source.cached(f"{name}:{symbol}", fetch, ttl)  # noqa: E731
    candles = CandleFollower(source.exchange, symbol, source.ohlcv_timeframe) if name == "ohlcv" else None
    normalize = from_ticker(name) if mode == "ticker" else NORMALIZERS.get(name)
    last: Sequence[Any] = ()
    source.set_mode(key, "polling" if mode == "poll" else "websocket", "")
    while True:
        what = {"watch": f"watch {key}", "ticker": f"watch_ticker {symbol}"}.get(mode, f"fetch {key}")
        try:
            raw = await source.retrying(key, what, clock, rejections, call)
        except SourceUnavailable:
            raise
        except MdxError as error:  # refused for good: this channel only
            source.skip(key, f"{source.exchange} {key}: {error}; not followed")
            return
        ts_recv = clock.now_ns()
        try:
            if candles is not None:
                events = candles.events(raw, ts_recv)
            else:
                assert normalize is not None
                events = normalize(source.exchange, symbol, raw, ts_recv)
        except DataError as error:
            rejections.add(error)
            events = []
        if mode == "poll":  # a poll repeats what did not change: send what is new
            seen = [replace(e, ts_recv=0) for e in events]
            events = [e for e, same in zip(events, seen, strict=True) if same not in last]
            last = seen
        for event in events:
            await queue.put(event)
        if mode == "poll":
            await clock.sleep_until(clock.now_ns() + int(source.poll_s[name] * 1e9))


def _call(exchange: Any, name: str, symbol: str, mode: str, timeframe: str) -> Callable[[], Awaitable[Any]]:
    if name == "ohlcv":
        if mode == "watch":
            return lambda: exchange.watch_ohlcv(symbol, timeframe)
        return lambda: exchange.fetch_ohlcv(symbol, timeframe, None, 2)
    if mode == "ticker":
        return lambda: exchange.watch_ticker(symbol)
    method = {
        ("ticker", "watch"): "watch_ticker",
        ("ticker", "poll"): "fetch_ticker",
        ("funding", "watch"): "watch_funding_rate",
        ("funding", "poll"): "fetch_funding_rate",
        ("mark", "watch"): "watch_mark_price",
        ("mark", "poll"): "fetch_mark_price",
        ("open_interest", "poll"): "fetch_open_interest",
        ("liquidations", "watch"): "watch_liquidations",
    }[(name, mode)]
    bound = getattr(exchange, method)
    return lambda: bound(symbol)


__all__ = [
    "GAP_PAGES",
    "TRADE_GAP",
    "Polling",
    "channel_plan",
    "fill_gap",
    "poll_book",
    "poll_trades",
    "pump_channel",
    "quote_of",
    "watch_or_poll",
]
