"""Pages of an exchange's past candles and trades through ccxt's async REST client, for the backfill.

``mdx.store.backfill`` pages through history with this (only ``mdx/sources/live`` imports ccxt)::

    async with HistoryPages("binance", {"urls": ...}) as pages:   # enableRateLimit: ccxt spaces requests
        await pages.load("BTC/USDT", "1m")                          # markets, symbol and timeframe checked
        bars = await pages.candles("BTC/USDT", "1m", since_ms, until_ms)     # closed Bars, oldest first
        trades = await pages.trades("BTC/USDT", since_ms, until_ms)          # Trades, oldest first

Candles come from ``fetch_ohlcv`` (``[ms, o, h, l, c, v]``: quote volume, VWAP and buy / sell volume
unknown, see ``history.py``) or, on Binance spot, its own klines, which also carry quote volume, trade
count and taker-buy volume. Trades come from ``fetch_trades(symbol, since, limit, {"until": ...})`` (on
Binance spot: ``/api/v3/aggTrades`` with ``startTime`` / ``endTime``, at most an hour apart). Bad rows are
counted in ``rejections``, never raised.

ccxt errors become mdx errors, redacted (credentials in the config never show) and not chained to the
ccxt exception (which may quote them): HTTP 429 / 418 -> ``RateLimited`` (with the ``Retry-After`` the
exchange sent), other network trouble -> ``SourceUnavailable`` (retryable), never reached ->
``ExchangeUnreachable``, HTTP 451 -> ``ExchangeBlocked``, ``BadSymbol`` -> ``UnknownSymbol``, any other
exchange error -> ``SourceError`` (final).
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import ccxt
import ccxt.async_support as ccxt_async

from ...config import CREDENTIAL_KEYS
from ...errors import (
    ConfigError,
    DataError,
    ExchangeBlocked,
    ExchangeUnreachable,
    MalformedFrame,
    MdxError,
    RateLimited,
    SourceError,
    SourceUnavailable,
    UnknownSymbol,
)
from ...events import Bar, Trade
from ...stats import Rejections
from .failures import blocked_message, blocked_status, is_unreachable, retry_after_s, unreachable_message
from .history import BarReader, ccxt_trade, kline_bar, ohlcv_bar

T = TypeVar("T")

NATIVE_KLINES = frozenset({"binance"})  # spot klines with quote volume, trade count and taker-buy volume
DEFAULT_PAGE = 500  # rows per request when ccxt does not know the exchange's maximum
TRADE_WINDOW_MS = 3_600_000  # Binance's aggTrades: startTime and endTime at most an hour apart
PARSE_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError)
REASON_MAX = 300


class HistoryPages:
    """One ccxt async REST client for ``exchange_id`` (``config``: what ``Settings.ccxt_config`` gives:
    urls, options, credentials), with ``enableRateLimit`` on; use it as an async context manager (the
    client is always closed). ``native_klines``: Binance spot's own klines rather than plain OHLCV."""

    def __init__(
        self, exchange_id: str, config: Mapping[str, Any] | None = None, *, native_klines: bool = True
    ) -> None:
        if exchange_id not in ccxt_async.exchanges:
            close = difflib.get_close_matches(exchange_id, ccxt_async.exchanges, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown exchange {exchange_id!r}: not a ccxt exchange id{hint}")
        self.exchange_id = exchange_id
        self.native_klines = native_klines
        self._config: dict[str, Any] = {**dict(config or {}), "enableRateLimit": True}
        self._secrets = tuple(
            str(v) for k, v in self._config.items() if k in CREDENTIAL_KEYS and v not in (None, "")
        )
        self._client: Any = None

    def __repr__(self) -> str:
        return f"HistoryPages({self.exchange_id!r}, options={sorted(self._config)})"  # keys, never values

    async def __aenter__(self) -> HistoryPages:
        self._client = getattr(ccxt_async, self.exchange_id)(self._config)
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    @property
    def client(self) -> Any:
        if self._client is None:
            raise SourceError(f"{self.exchange_id}: HistoryPages used outside 'async with'")
        return self._client

    # -- what the exchange offers --------------------------------------------------------------------

    async def load(self, symbol: str, timeframe: str | None = None) -> None:
        """Load the markets; ``UnknownSymbol`` / ``SourceError`` when the symbol, the timeframe or candles
        are not there."""
        client = self.client
        await self._call("load markets", client.load_markets())
        if symbol not in (client.markets or {}):
            close = difflib.get_close_matches(symbol, list(client.markets or {}), n=3)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise UnknownSymbol(f"{symbol!r} is not listed on {self.exchange_id}{hint}")
        if timeframe is None:
            return
        if not client.has.get("fetchOHLCV"):
            raise SourceError(f"{self.exchange_id} has no candles in ccxt (fetchOHLCV)")
        if timeframe not in (client.timeframes or {}):
            offered = ", ".join(client.timeframes or {}) or "none"
            raise SourceError(f"{self.exchange_id} has no {timeframe} candles (it has: {offered})")

    @property
    def has_trade_history(self) -> bool:
        """True when the exchange gives past trades from a start time (``fetchTrades`` with ``since``)."""
        return bool(self.client.has.get("fetchTrades"))

    def page_limit(self, kind: str = "fetchOHLCV") -> int:
        """The most rows one request gives (``kind``: ``fetchOHLCV`` or ``fetchTrades``), as ccxt knows it."""
        if self.exchange_id in NATIVE_KLINES:
            return 1000
        features = (getattr(self.client, "features", None) or {}).get("spot") or {}
        limit = (features.get(kind) or {}).get("limit")
        return int(limit) if isinstance(limit, int) and limit > 0 else DEFAULT_PAGE

    # -- pages ---------------------------------------------------------------------------------------

    async def candles(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int,
        until_ms: int,
        limit: int,
        ts_recv: int,
        rejections: Rejections,
    ) -> list[Bar]:
        """Up to ``limit`` closed bars opening in ``[since_ms, until_ms]``, oldest first; bad rows are
        counted in ``rejections`` and left out."""
        client = self.client
        market = client.market(symbol)
        reader: BarReader
        if self.native_klines and client.id in NATIVE_KLINES and market.get("spot"):
            request = {
                "symbol": market["id"],
                "interval": client.timeframes[timeframe],
                "startTime": since_ms,
                "endTime": until_ms,
                "limit": limit,
            }
            rows = await self._call(f"klines {symbol} {timeframe}", client.publicGetKlines(request))
            reader = kline_bar
        else:
            call = client.fetch_ohlcv(symbol, timeframe, since_ms, limit, {"until": until_ms})
            rows = await self._call(f"fetch_ohlcv {symbol} {timeframe}", call)
            reader = ohlcv_bar
        if not isinstance(rows, list):
            rejections.add(MalformedFrame(f"{self.exchange_id} {symbol} candles: not a list: {rows!r}"[:300]))
            return []
        bars: list[Bar] = []
        for row in rows:
            try:
                bar = reader(self.exchange_id, symbol, timeframe, row, ts_recv)
            except DataError as error:
                rejections.add(error)
                continue
            if since_ms * 1_000_000 <= bar.ts_event <= until_ms * 1_000_000:
                bars.append(bar)
        bars.sort(key=lambda bar: bar.ts_event)
        return bars

    async def trades(
        self, symbol: str, since_ms: int, until_ms: int, limit: int, ts_recv: int, rejections: Rejections
    ) -> tuple[list[Trade], int]:
        """Trades at ``[since_ms, until_ms]`` (at most an hour apart on Binance), oldest first, and how many
        rows the exchange sent (a full page, ``== limit``, means there may be more in the window)."""
        call = self.client.fetch_trades(symbol, since_ms, limit, {"until": until_ms})
        rows = await self._call(f"fetch_trades {symbol}", call)
        if not isinstance(rows, list):
            rejections.add(MalformedFrame(f"{self.exchange_id} {symbol} trades: not a list: {rows!r}"[:300]))
            return [], 0
        trades: list[Trade] = []
        for raw in rows:
            try:
                trade = self._trade(symbol, raw, ts_recv)
            except DataError as error:
                rejections.add(error)
                continue
            if since_ms * 1_000_000 <= trade.ts_event <= until_ms * 1_000_000:
                trades.append(trade)
        trades.sort(key=lambda trade: trade.ts_event)
        return trades, len(rows)

    def _trade(self, symbol: str, raw: Any, ts_recv: int) -> Trade:
        return ccxt_trade(self.exchange_id, symbol, raw, ts_recv, need_id=True)

    # -- errors --------------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def _call(self, what: str, call: Awaitable[T]) -> T:
        """``await call`` with ccxt's errors turned into mdx's (raised outside the ``except`` block, so
        the unredacted ccxt error is not chained)."""
        failure: MdxError
        try:
            return await call
        except (ccxt.BaseError, *PARSE_ERRORS) as error:
            failure = self._failure(what, error)
        raise failure

    def _failure(self, what: str, error: BaseException) -> MdxError:
        name = self.exchange_id
        detail = self.redact(f"{type(error).__name__}: {error}")
        detail = detail if len(detail) <= REASON_MAX else detail[: REASON_MAX - 3] + "..."
        status = blocked_status(error)
        if status is not None:
            return ExchangeBlocked(self.redact(blocked_message(name, status)))
        if isinstance(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return RateLimited(f"{name} {what}: rate limited: {detail}", self._retry_after())
        if isinstance(error, ccxt.BadSymbol):
            return UnknownSymbol(f"{name} {what}: {detail}")
        if isinstance(error, ccxt.ExchangeError):
            return SourceError(f"{name} {what} failed: {detail}")
        if is_unreachable(error):
            return ExchangeUnreachable(self.redact(unreachable_message(name, error)))
        if isinstance(error, (ccxt.OperationFailed, *PARSE_ERRORS)):
            return SourceUnavailable(f"{name} {what} failed: {detail}")
        return SourceError(f"{name} {what} failed: {detail}")

    def _retry_after(self) -> float | None:
        """The ``Retry-After`` of the last response, in seconds."""
        return retry_after_s(getattr(self._client, "last_response_headers", None))


__all__ = ["DEFAULT_PAGE", "TRADE_WINDOW_MS", "HistoryPages"]
