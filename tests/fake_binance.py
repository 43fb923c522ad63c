"""A loopback fake of the Binance spot API: the subset ccxt.pro's ``binance`` needs, plus fault injection.

It serves on 127.0.0.1 (a free port) so the real ccxt client runs end to end in tests::

    async with FakeBinance() as fake:
        exchange = ccxt.pro.binance(fake.ccxt_config())     # urls point here
        fake.set_book("BTCUSDT", bids=[(100.0, 1.0)], asks=[(101.0, 2.0)])
        await fake.push_trade("BTCUSDT", 100.5, 0.1)

REST (what ``load_markets``, the order-book sync and history use):
``GET /api/v3/exchangeInfo`` (spot symbols with realistic filters), ``/api/v3/depth?symbol=&limit=``
(the fake's current book with ``lastUpdateId``), ``/api/v3/klines?symbol=&interval=&limit=`` (the
candles set with ``set_klines``, Binance's 12-field arrays, newest last; ``startTime`` / ``endTime`` /
``limit`` page like Binance's, at most 1000 a page; leave rows out for holes in the history),
``/api/v3/aggTrades?symbol=&startTime=&endTime=&fromId=&limit=`` (the past trades set with
``set_agg_trades``, rows as ``agg_trade`` makes them; start and end at most an hour apart), ``/api/v3/time``,
``/api/v3/ping``; the USD-M and COIN-M ``exchangeInfo`` answer with no symbols so ccxt's default
``fetchMarkets`` types also work offline.
The one signed endpoint ccxt calls on its own (``/sapi/v1/capital/config/getall``, when keys are set)
rejects every key with Binance's -2015 error, echoing the key so tests can check it is redacted.

Websocket (``ws_url``, what ccxt puts in ``urls['api']['ws']['spot']``): ccxt connects to
``<ws_url>/<stream index>`` and sends ``{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}``; the fake
acknowledges with ``{"result":null,"id":1}`` and from then on pushes raw (not combined-stream-wrapped)
``trade`` and ``depthUpdate`` frames for the subscribed streams. The path must contain ``/stream``:
ccxt's binance tells spot from futures frames by that substring of the connection url.

Faults on command: a sequence gap (``gap``), duplicate frames (``duplicate=True``), a disconnect
(``disconnect``), refused websocket handshakes (``refuse_ws``, answered with ``refuse_ws_status``), REST
and frame delays (``rest_delay``, ``frame_delay``), malformed frames (``send_raw``), HTTP 429, 451
(Binance's answer from a restricted region, with its body) or other statuses (``fail_rest``, also after
``after`` good answers: 400 is a final ``BadRequest`` to ccxt, 500 a retryable one).
Recorded sessions (``<recv_ns> <raw json>`` gzip lines, see ../shared/data) drive it via
``load_recording`` + ``play``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from tests.loopback import LoopbackServer

Side = dict[float, float]

RATE_LIMIT_BODY = {
    "code": -1003,
    "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API.",
}

BAD_REQUEST_BODY = {"code": -1100, "msg": "Illegal characters found in a parameter."}
MAX_PAGE = 1000  # Binance's largest klines / aggTrades page
HOUR_MS = 3_600_000

# (symbol, base, quote, tickSize, stepSize, minQty, maxQty)
RESTRICTED_BODY = {
    "code": 0,
    "msg": "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you received this "
    "message in error.",
}

# Binance kline intervals and their length in ms (months are not served)
INTERVAL_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}

DEFAULT_MARKETS: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("BTCUSDT", "BTC", "USDT", "0.01000000", "0.00001000", "0.00001000", "9000.00000000"),
    ("ETHUSDT", "ETH", "USDT", "0.01000000", "0.00010000", "0.00010000", "9000.00000000"),
    ("SOLUSDT", "SOL", "USDT", "0.01000000", "0.00100000", "0.00100000", "90000.00000000"),
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def fmt(value: float) -> str:
    return f"{value:.8f}"


def ccxt_config_for(rest: str, ws: str, **extra: Any) -> dict[str, Any]:
    """Constructor config that points ``ccxt.pro.binance`` at ``rest`` (``http://host:port``) and ``ws``
    (``ws://host:port/stream/ws``): this fake, or an address nothing answers on. ``extra`` options are
    merged in (dicts one level deep)."""
    config: dict[str, Any] = {
        "urls": {
            "api": {
                "public": f"{rest}/api/v3",
                "private": f"{rest}/api/v3",
                "v1": f"{rest}/api/v1",
                "sapi": f"{rest}/sapi/v1",
                "fapiPublic": f"{rest}/fapi/v1",
                "dapiPublic": f"{rest}/dapi/v1",
                "ws": {"spot": ws, "margin": ws},
            }
        },
        "options": {"fetchMarkets": {"types": ["spot"]}},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def kline(
    open_ms: int,
    interval: str,
    ohlc: tuple[float, float, float, float],
    volume: float,
    *,
    quote_volume: float | None = None,
    trades: int = 0,
    taker_buy: float = 0.0,
) -> list:
    """One Binance kline: ``[openTime, "o", "h", "l", "c", "v", closeTime, "quoteVolume", trades,
    "takerBuyBase", "takerBuyQuote", "0"]`` (quote volume defaults to ``volume * close``)."""
    o, h, low, c = ohlc
    quote = volume * c if quote_volume is None else quote_volume
    buy_quote = quote * taker_buy / volume if volume else 0.0
    close_ms = open_ms + INTERVAL_MS[interval] - 1
    prices = [fmt(o), fmt(h), fmt(low), fmt(c), fmt(volume)]
    return [open_ms, *prices, close_ms, fmt(quote), trades, fmt(taker_buy), fmt(buy_quote), "0"]


def agg_trade(
    trade_id: int, trade_ms: int, price: float, amount: float, *, buyer_is_maker: bool = False
) -> dict:
    """One Binance aggregate trade (``/api/v3/aggTrades``): ``a`` its id, ``T`` its time in ms, ``m`` true
    when the seller was the aggressor."""
    return {
        "a": trade_id,
        "p": fmt(price),
        "q": fmt(amount),
        "f": trade_id,
        "l": trade_id,
        "T": trade_ms,
        "m": buyer_is_maker,
        "M": True,
    }


def symbol_info(symbol: str, base: str, quote: str, tick: str, step: str, min_qty: str, max_qty: str) -> dict:
    """One ``symbols[]`` entry of ``/api/v3/exchangeInfo``, shaped like Binance's."""
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "1000000.00000000",
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": min_qty, "maxQty": max_qty, "stepSize": step},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "100.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


@dataclass
class FakeBook:
    """The fake's authoritative book for one symbol; ``last_update_id`` is Binance's ``u``."""

    bids: Side = field(default_factory=dict)
    asks: Side = field(default_factory=dict)
    last_update_id: int = 1000

    def apply(self, bids: Iterable[Sequence[Any]], asks: Iterable[Sequence[Any]]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, amount in ((float(level[0]), float(level[1])) for level in levels):
                if amount == 0:
                    side.pop(price, None)
                else:
                    side[price] = amount

    def top(self, limit: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        bids = sorted(self.bids.items(), key=lambda level: -level[0])[:limit]
        asks = sorted(self.asks.items())[:limit]
        return bids, asks


@dataclass
class Recording:
    """A recorded Binance spot session for one symbol: the REST snapshot and the frames after it."""

    symbol: str
    snapshot: dict
    frames: list[tuple[int, str, dict]]  # (recv_ns, stream, data) in file order

    @property
    def trade_ids(self) -> list[int]:
        return [data["t"] for _, stream, data in self.frames if stream.endswith("@trade")]


class Connection:
    """One accepted websocket and the streams it subscribed to."""

    def __init__(self, ws: web.WebSocketResponse, path: str) -> None:
        self.ws = ws
        self.path = path
        self.streams: set[str] = set()

    def wants(self, stream: str) -> bool:
        return stream in self.streams


class FakeBinance(LoopbackServer):
    name = "fake binance"
    retry_after: str | None = "1"  # the Retry-After header of the failures fail_rest injects (None: none)

    def __init__(
        self,
        markets: Sequence[tuple[str, str, str, str, str, str, str]] = DEFAULT_MARKETS,
        *,
        heartbeat: float | None = None,
    ) -> None:
        """``heartbeat``: ping every websocket this often (s), as Binance does every 20 s; None: never."""
        super().__init__()
        self.heartbeat = heartbeat
        self.markets = {row[0]: row for row in markets}
        self.books: dict[str, FakeBook] = {symbol: FakeBook() for symbol in self.markets}
        self.next_trade_id: dict[str, int] = dict.fromkeys(self.markets, 1)
        self.klines: dict[tuple[str, str], list[list]] = {}  # (symbol, interval) -> rows, oldest first
        self.agg_trades: dict[str, list[dict]] = {}  # symbol -> aggregate trades, oldest first
        # observability
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.ws_opened = 0
        self.ws_closed = 0
        self.subscribe_messages: list[dict] = []
        self.connections: list[Connection] = []
        # faults
        self.rest_delay = 0.0
        self.frame_delay = 0.0
        self.refuse_ws = 0  # refuse this many websocket handshakes with HTTP refuse_ws_status
        self.refuse_ws_status = 503
        self._rest_failures: Counter[str] = Counter()
        self._rest_failure_status: dict[str, int] = {}
        self._rest_failures_after: Counter[str] = Counter()  # good answers left before the failures start

    # -- lifecycle ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/api/v3/klines", self._klines)
        app.router.add_get("/api/v3/aggTrades", self._agg_trades)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/sapi/v1/capital/config/getall", self._signed)
        app.router.add_get("/fapi/v1/exchangeInfo", self._empty_exchange_info)
        app.router.add_get("/dapi/v1/exchangeInfo", self._empty_exchange_info)
        app.router.add_get("/stream/ws", self._websocket)
        app.router.add_get("/stream/ws/{index}", self._websocket)
        return app

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream/ws"

    def ccxt_config(self, **extra: Any) -> dict[str, Any]:
        """Constructor config that points ``ccxt.pro.binance`` at this fake (REST and websocket)."""
        return ccxt_config_for(self.base_url, self.ws_url, **extra)

    # -- market state -------------------------------------------------------------------------------

    def set_book(
        self,
        symbol: str,
        bids: Iterable[tuple[float, float]],
        asks: Iterable[tuple[float, float]],
        last_update_id: int = 1000,
    ) -> None:
        self.books[symbol] = FakeBook(dict(bids), dict(asks), last_update_id)

    def ladder(
        self, symbol: str, mid: float, levels: int = 50, tick: float = 0.5, amount: float = 1.0
    ) -> None:
        """A simple symmetric book around ``mid`` (level i has amount ``amount + i / 100``)."""
        bids = [(mid - tick * (i + 1), round(amount + i / 100, 8)) for i in range(levels)]
        asks = [(mid + tick * (i + 1), round(amount + i / 100, 8)) for i in range(levels)]
        self.set_book(symbol, bids, asks, self.books[symbol].last_update_id)

    def set_klines(self, symbol: str, interval: str, rows: Iterable[list]) -> None:
        """The candles ``/api/v3/klines`` serves for ``symbol`` and ``interval``, oldest first: rows as
        ``kline`` makes them, or anything else (served as is: malformed candles)."""
        self.klines[(symbol, interval)] = list(rows)

    def kline_requests(self, symbol: str | None = None) -> list[dict[str, str]]:
        return [
            query
            for path, query in self.requests
            if path == "/api/v3/klines" and (symbol is None or query.get("symbol") == symbol)
        ]

    def set_agg_trades(self, symbol: str, rows: Iterable[dict]) -> None:
        """The past trades ``/api/v3/aggTrades`` serves for ``symbol`` (``agg_trade`` rows), oldest first."""
        self.agg_trades[symbol] = sorted(rows, key=lambda row: (row["T"], row["a"]))

    def trade_requests(self, symbol: str | None = None) -> list[dict[str, str]]:
        return [
            query
            for path, query in self.requests
            if path == "/api/v3/aggTrades" and (symbol is None or query.get("symbol") == symbol)
        ]

    def top(
        self, symbol: str, limit: int = 1000
    ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        return self.books[symbol].top(limit)

    # -- pushing frames -----------------------------------------------------------------------------

    async def push_depth(
        self,
        symbol: str,
        bids: Iterable[tuple[float, float]] = (),
        asks: Iterable[tuple[float, float]] = (),
        *,
        event_ms: int | None = None,
        duplicate: bool = False,
        silent: bool = False,
    ) -> dict:
        """Apply a diff to the fake's book and push it as one ``depthUpdate`` (``U = last + 1``).

        ``silent=True`` applies it without sending: subscribers see a sequence gap on the next frame.
        """
        book = self.books[symbol]
        bid_list = [[fmt(p), fmt(a)] for p, a in bids]
        ask_list = [[fmt(p), fmt(a)] for p, a in asks]
        first = book.last_update_id + 1
        last = book.last_update_id + max(1, len(bid_list) + len(ask_list))
        book.apply(bid_list, ask_list)
        book.last_update_id = last
        frame = {
            "e": "depthUpdate",
            "E": event_ms if event_ms is not None else now_ms(),
            "s": symbol,
            "U": first,
            "u": last,
            "b": bid_list,
            "a": ask_list,
        }
        if not silent:
            await self.broadcast(f"{symbol.lower()}@depth@100ms", frame, copies=2 if duplicate else 1)
        return frame

    async def gap(self, symbol: str) -> dict:
        """Change the book without telling anyone: the next pushed diff leaves a sequence gap."""
        bids, _ = self.books[symbol].top(1)
        price, amount = bids[0] if bids else (1.0, 0.0)
        return await self.push_depth(symbol, bids=[(price, amount + 0.5)], silent=True)

    async def push_trade(
        self,
        symbol: str,
        price: float,
        amount: float,
        *,
        buyer_is_maker: bool = False,
        trade_id: int | None = None,
        trade_ms: int | None = None,
        duplicate: bool = False,
    ) -> dict:
        """Push one ``trade`` frame (``m`` true means the seller was the aggressor)."""
        if trade_id is None:
            trade_id = self.next_trade_id[symbol]
        self.next_trade_id[symbol] = trade_id + 1
        ts = trade_ms if trade_ms is not None else now_ms()
        frame = {
            "e": "trade",
            "E": ts + 1,
            "s": symbol,
            "t": trade_id,
            "p": fmt(price),
            "q": fmt(amount),
            "T": ts,
            "m": buyer_is_maker,
            "M": True,
        }
        await self.broadcast(f"{symbol.lower()}@trade", frame, copies=2 if duplicate else 1)
        return frame

    async def broadcast(self, stream: str, frame: dict | str, copies: int = 1) -> int:
        """Send a frame to every connection subscribed to ``stream``; returns how many got it."""
        text = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
        if self.frame_delay:
            await asyncio.sleep(self.frame_delay)
        sent = 0
        for connection in list(self.connections):
            if connection.wants(stream) and not connection.ws.closed:
                for _ in range(copies):
                    await connection.ws.send_str(text)
                sent += 1
        return sent

    async def send_raw(self, text: str, stream: str | None = None) -> int:
        """Send ``text`` as is (malformed frames) to subscribers of ``stream``, or to every connection."""
        sent = 0
        for connection in list(self.connections):
            if (stream is None or connection.wants(stream)) and not connection.ws.closed:
                await connection.ws.send_str(text)
                sent += 1
        return sent

    async def disconnect(self, code: int = WSCloseCode.GOING_AWAY) -> int:
        """Close every websocket from the server side; returns how many were open."""
        connections, self.connections = list(self.connections), []
        for connection in connections:
            await connection.ws.close(code=code, message=b"fake disconnect")
        return len(connections)

    def fail_rest(self, path: str, times: int = 1, status: int = 429, *, after: int = 0) -> None:
        """Answer the next ``times`` requests to ``path`` (e.g. ``/api/v3/exchangeInfo``) with ``status``,
        once ``after`` more requests to it were answered as usual (an interruption mid-way)."""
        self._rest_failures[path] += times
        self._rest_failure_status[path] = status
        self._rest_failures_after[path] = after

    # -- waiting ------------------------------------------------------------------------------------

    def subscribed(self, stream: str) -> bool:
        return any(connection.wants(stream) for connection in self.connections)

    @property
    def open_connections(self) -> int:
        return sum(1 for connection in self.connections if not connection.ws.closed)

    async def wait_subscribed(self, *streams: str, timeout: float = 5.0) -> None:
        await self.wait_until(
            lambda: all(self.subscribed(s) for s in streams), timeout, f"subscriptions {streams}"
        )

    def depth_requests(self, symbol: str) -> int:
        return sum(
            1 for path, query in self.requests if path == "/api/v3/depth" and query.get("symbol") == symbol
        )

    # -- recordings ---------------------------------------------------------------------------------

    @staticmethod
    def load_recording(path: Path, max_lines: int | None = None) -> Recording:
        """Read a ``<recv_ns> <raw json>`` gzip capture: its REST snapshot and the frames after it."""
        snapshot: dict | None = None
        frames: list[tuple[int, str, dict]] = []
        symbol = ""
        with gzip.open(path, "rt") as lines:
            for number, line in enumerate(lines):
                if max_lines is not None and number >= max_lines:
                    break
                recv, _, raw = line.partition(" ")
                message = json.loads(raw)
                if "stream" not in message:
                    snapshot = message
                    continue
                data = message["data"]
                symbol = data.get("s", symbol)
                frames.append((int(recv), message["stream"], data))
        if snapshot is None:
            raise ValueError(f"{path}: no REST depth snapshot in the first {max_lines} lines")
        return Recording(symbol, snapshot, frames)

    def use_recording(self, recording: Recording) -> None:
        """Start the fake's book from the recording's REST snapshot and its trade ids after it."""
        snap = recording.snapshot
        self.books[recording.symbol] = FakeBook(
            {float(p): float(a) for p, a in snap["bids"]},
            {float(p): float(a) for p, a in snap["asks"]},
            int(snap["lastUpdateId"]),
        )

    async def play(self, recording: Recording, *, kinds: tuple[str, ...] = ("depthUpdate", "trade")) -> int:
        """Push the recording's frames (raw, unmodified) as they come; depth frames already in the
        snapshot are skipped, the others also move the fake's book. Returns frames sent."""
        book = self.books[recording.symbol]
        sent = 0
        for _, stream, data in recording.frames:
            kind = data.get("e")
            if kind not in kinds:
                continue
            if kind == "depthUpdate":
                if data["u"] <= book.last_update_id:
                    continue
                book.apply(data["b"], data["a"])
                book.last_update_id = data["u"]
            await self.broadcast(stream, data)
            sent += 1
            if sent % 64 == 0:
                await asyncio.sleep(0)  # let the client read
        return sent

    # -- handlers -----------------------------------------------------------------------------------

    async def _before(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.path, dict(request.query)))
        if self.rest_delay:
            await asyncio.sleep(self.rest_delay)
        if self._rest_failures[request.path] > 0 and self._rest_failures_after[request.path] > 0:
            self._rest_failures_after[request.path] -= 1
        elif self._rest_failures[request.path] > 0:
            self._rest_failures[request.path] -= 1
            status = self._rest_failure_status[request.path]
            body = {429: RATE_LIMIT_BODY, 451: RESTRICTED_BODY, 400: BAD_REQUEST_BODY}.get(
                status, {"code": -1001, "msg": "Internal error; unable to process."}
            )
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.json_response(body, status=status, headers=headers)
        return None

    async def _exchange_info(self, request: web.Request) -> web.Response:
        if (failure := await self._before(request)) is not None:
            return failure
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": now_ms(),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    },
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
                ],
                "exchangeFilters": [],
                "symbols": [symbol_info(*row) for row in self.markets.values()],
            }
        )

    async def _empty_exchange_info(self, request: web.Request) -> web.Response:
        if (failure := await self._before(request)) is not None:
            return failure
        return web.json_response({"timezone": "UTC", "serverTime": now_ms(), "rateLimits": [], "symbols": []})

    async def _depth(self, request: web.Request) -> web.Response:
        if (failure := await self._before(request)) is not None:
            return failure
        symbol = request.query.get("symbol", "")
        if symbol not in self.books:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        limit = int(request.query.get("limit", "100"))
        book = self.books[symbol]
        bids, asks = book.top(min(limit, 5000))
        return web.json_response(
            {
                "lastUpdateId": book.last_update_id,
                "bids": [[fmt(p), fmt(a)] for p, a in bids],
                "asks": [[fmt(p), fmt(a)] for p, a in asks],
            }
        )

    async def _klines(self, request: web.Request) -> web.Response:
        """Binance's klines: the newest ``limit`` (default 500, at most 1000) rows, or those from
        ``startTime`` / up to ``endTime`` when given."""
        if (failure := await self._before(request)) is not None:
            return failure
        symbol, interval = request.query.get("symbol", ""), request.query.get("interval", "")
        if symbol not in self.markets:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        if interval not in INTERVAL_MS:
            return web.json_response({"code": -1120, "msg": "Invalid interval."}, status=400)
        limit = int(request.query.get("limit", "500"))
        if not 1 <= limit <= 1000:
            return web.json_response(
                {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}, status=400
            )
        rows = self.klines.get((symbol, interval), [])
        start, end = request.query.get("startTime"), request.query.get("endTime")
        if start is not None:
            rows = [row for row in rows if _open_ms(row) >= int(start)][:limit]
        if end is not None:
            rows = [row for row in rows if _open_ms(row) <= int(end)]
        return web.json_response(rows[-limit:])

    async def _agg_trades(self, request: web.Request) -> web.Response:
        """Binance's aggTrades: from ``fromId``, or within ``startTime`` .. ``endTime`` (both inclusive, at
        most an hour apart), the first ``limit`` (default 500, at most 1000); neither: the newest."""
        if (failure := await self._before(request)) is not None:
            return failure
        query = request.query
        symbol = query.get("symbol", "")
        if symbol not in self.markets:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        limit = int(query.get("limit", "500"))
        if not 1 <= limit <= MAX_PAGE:
            return web.json_response(
                {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}, status=400
            )
        start, end, from_id = query.get("startTime"), query.get("endTime"), query.get("fromId")
        if start is not None and end is not None and int(end) - int(start) > HOUR_MS:
            return web.json_response(
                {"code": -1127, "msg": "More than 1 hours between startTime and endTime."}, status=400
            )
        rows = self.agg_trades.get(symbol, [])
        if from_id is not None:
            rows = [row for row in rows if row["a"] >= int(from_id)]
        if start is not None:
            rows = [row for row in rows if row["T"] >= int(start)]
        if end is not None:
            rows = [row for row in rows if row["T"] <= int(end)]
        if from_id is None and start is None and end is None:
            return web.json_response(rows[-limit:])
        return web.json_response(rows[:limit])

    async def _time(self, request: web.Request) -> web.Response:
        if (failure := await self._before(request)) is not None:
            return failure
        return web.json_response({"serverTime": now_ms()})

    async def _ping(self, request: web.Request) -> web.Response:
        if (failure := await self._before(request)) is not None:
            return failure
        return web.json_response({})

    async def _signed(self, request: web.Request) -> web.Response:
        """Every API key is invalid here; the key is echoed back so tests can check it gets redacted."""
        if (failure := await self._before(request)) is not None:
            return failure
        key = request.headers.get("X-MBX-APIKEY", "")
        message = f"Invalid API-key, IP, or permissions for action. (key {key})"
        return web.json_response({"code": -2015, "msg": message}, status=401)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        if self.refuse_ws > 0:
            self.refuse_ws -= 1
            status = self.refuse_ws_status
            body = RESTRICTED_BODY if status == 451 else {"code": -1001, "msg": "Service unavailable"}
            return web.json_response(body, status=status)
        ws = web.WebSocketResponse(autoping=True, heartbeat=self.heartbeat)
        await ws.prepare(request)
        connection = Connection(ws, request.path)
        self.connections.append(connection)
        self.ws_opened += 1
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_client_message(connection, message.data)
        finally:
            self.ws_closed += 1
            if connection in self.connections:
                self.connections.remove(connection)
        return ws

    async def _on_client_message(self, connection: Connection, text: str) -> None:
        try:
            request = json.loads(text)
            method, request_id = request["method"], request["id"]
        except (ValueError, KeyError, TypeError):
            await connection.ws.send_str(
                json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            )
            return
        params = request.get("params") or []
        if method == "SUBSCRIBE":
            self.subscribe_messages.append(request)
            connection.streams.update(params)
            await connection.ws.send_str(json.dumps({"result": None, "id": request_id}))
        elif method == "UNSUBSCRIBE":
            connection.streams.difference_update(params)
            await connection.ws.send_str(json.dumps({"result": None, "id": request_id}))
        elif method == "LIST_SUBSCRIPTIONS":
            await connection.ws.send_str(json.dumps({"result": sorted(connection.streams), "id": request_id}))
        else:
            await connection.ws.send_str(
                json.dumps(
                    {
                        "error": {"code": 2, "msg": f"Invalid request: unknown method {method}"},
                        "id": request_id,
                    }
                )
            )


def _open_ms(row: Any) -> int:
    """A kline row's open time (0 for a malformed row, which then sorts first)."""
    try:
        return int(row[0])
    except (TypeError, ValueError, IndexError, KeyError):
        return 0


__all__ = [
    "DEFAULT_MARKETS",
    "INTERVAL_MS",
    "FakeBinance",
    "FakeBook",
    "Recording",
    "agg_trade",
    "ccxt_config_for",
    "kline",
]
