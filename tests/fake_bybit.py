"""A loopback fake of Bybit v5 public market data: the subset ccxt.pro's ``bybit`` needs, and fault injection.

It serves on 127.0.0.1 (a free port) so the real ccxt client runs end to end in tests::

    async with FakeBybit() as fake:
        exchange = ccxt.pro.bybit(fake.ccxt_config())      # urls point here (REST and websocket)
        fake.ladder("BTCUSDT", 65000.0)                      # category "linear" unless said otherwise
        await fake.wait_subscribed("publicTrade.BTCUSDT")
        await fake.push_trade("BTCUSDT", 65000.5, 0.1)

Markets are ``(category, symbol)`` pairs: Bybit lists ``BTCUSDT`` both as a spot pair (``BTC/USDT``) and
as a USDT perpetual (``BTC/USDT:USDT``), with separate books, trades and websocket endpoints.

REST (``base_url``; ccxt's ``urls['api']`` ``public`` / ``spot`` / ``futures`` / ``v2``), Bybit's envelope
``{"retCode":0,"retMsg":"OK","result":{...},"retExtInfo":{},"time":ms}``:

- ``/v5/market/instruments-info?category=`` — what ``load_markets`` reads: the spot and linear instruments
  (shaped like Bybit's), an empty list for ``status=PreLaunch`` (ccxt asks for linear pre-launch markets too)
  and for ``inverse`` / ``option``, so ccxt's default ``fetchMarkets`` types also work offline;
- ``/v5/market/time``, ``/v5/market/orderbook`` (the fake's book, ``u`` / ``seq``),
  ``/v5/market/recent-trade`` (the trades pushed, newest first), ``/v5/market/kline`` (candles from
  ``set_klines`` / ``push_kline``, newest first), ``/v5/market/tickers`` (the state from ``push_ticker``);
- ``/v5/asset/coin/query-info`` — the one signed endpoint ccxt calls on its own (``fetch_currencies``
  inside ``load_markets``, only when keys are set; without keys ccxt skips it): every key is rejected with
  Bybit's ``retCode`` 10003, echoing the key so tests can check mdx redacts it.

Websocket (``ws_url(category)`` = ``ws://127.0.0.1:port/v5/public/<category>``, what ccxt puts in
``urls['api']['ws']['public'][category]``): ``{"op":"subscribe","req_id":N,"args":[topics]}`` is
acknowledged like Bybit (``{"success":true,"ret_msg":"","conn_id":..,"req_id":N,"op":"subscribe"}``; an
unknown topic gets ``success: false``); ``orderbook.<depth>.<SYMBOL>`` then gets a snapshot of the fake's
book (top ``depth`` levels) and a ``delta`` per change, each with the book's update id ``u`` (+1 per update)
and cross sequence ``seq``; each depth topic sees the changes of its own top-``depth`` window (levels that
leave the window are deleted, levels that enter it are inserted, as on Bybit; a change outside the window is
an empty delta, so ``u`` stays contiguous). Also ``publicTrade.<SYMBOL>``, ``tickers.<SYMBOL>`` (a snapshot
on subscribe when the fake has ticker state, then ``snapshot`` / ``delta`` frames),
``kline.<interval>.<SYMBOL>`` and, for linear, ``allLiquidation.<SYMBOL>`` / ``liquidation.<SYMBOL>``.
``{"op":"ping"}`` gets Bybit's pong (linear: ``{"op":"pong","args":[ms]}``; spot:
``{"success":true,"ret_msg":"pong","op":"ping"}``).
ccxt tells spot frames from contract frames by the substring ``spot`` in the connection url.

Faults on command: a sequence gap (``gap``: the book changes, no frame is sent, the next delta's ``u``
skips), duplicates (``duplicate=True`` on a push: the frame is sent twice), reordering (``hold=True`` on
pushes queues their frames, ``release(reverse=True)`` sends them in the opposite order), a disconnect
(``disconnect``), a service restart (``resnapshot(restart=True)``: a new snapshot with ``u`` = 1), refused
websocket handshakes (``refuse_ws`` with ``refuse_ws_status``), delays (``rest_delay``, ``frame_delay``),
malformed frames (``send_raw``), and REST failures (``fail_rest``): HTTP 429 (``retCode`` 10006 "Too many
visits!"), 403 with the CloudFront geo-block page Bybit really answers from a restricted country
(``GEO_BLOCK_PAGE``), 451 with the same page, or any other status.

Recordings: ``load_capture`` reads a ``*.jsonl.zst`` capture (``../shared/data/exchange-captures``: a header,
then ``{"t": "http"|"connect"|"send"|"recv", "conn", "ts", "data"}``), ``use_capture`` takes its instruments
and its first book and ticker snapshots as the fake's state (what a subscriber then gets first), and
``play`` pushes the rest of its frames, raw and unmodified, to the subscribers of their topic.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from tests.loopback import LoopbackServer

CATEGORIES = ("spot", "linear", "inverse", "option")
BOOK_DEPTHS = frozenset({1, 50, 200, 1000})  # the orderbook topic depths Bybit serves (spot and linear)
KLINE_INTERVALS = frozenset({"1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M"})
KLINE_MS = {"1": 60_000, "3": 180_000, "5": 300_000, "15": 900_000, "30": 1_800_000, "60": 3_600_000}

RATE_LIMIT_BODY = {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}}
INVALID_KEY_BODY = {"retCode": 10003, "retMsg": "API key is invalid.", "result": {}, "retExtInfo": {}}
# What Bybit's CloudFront edge answers from a country Bybit does not serve (HTTP 403, text/html)
GEO_BLOCK_PAGE = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">
<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">
<TITLE>ERROR: The request could not be satisfied</TITLE>
</HEAD><BODY>
<H1>403 ERROR</H1>
<H2>The request could not be satisfied.</H2>
<HR noshade size="1px">
The Amazon CloudFront distribution is configured to block access from your country.
We can't connect to the server for this app or website at this time. There might be too much traffic or a \
configuration error. Try again later, or contact the app or website owner.
<BR clear="all">
<HR noshade size="1px">
<PRE>
Generated by cloudfront (CloudFront)
Request ID: fake-bybit
</PRE>
</BODY></HTML>
"""

Key = tuple[str, str]  # (category, symbol)
Levels = list[tuple[float, float]]


@dataclass(frozen=True)
class Market:
    """One instrument: ``tick`` is the price step, ``step`` the amount step (spot: ``basePrecision``)."""

    category: str
    symbol: str
    base: str
    quote: str
    tick: str
    step: str
    min_qty: str
    max_qty: str

    def instrument(self) -> dict[str, Any]:
        """The market's ``/v5/market/instruments-info`` entry, shaped like Bybit's."""
        lot: dict[str, Any]
        if self.category == "spot":
            lot = {
                "basePrecision": self.step,
                "quotePrecision": "0.0000001",
                "minOrderQty": self.min_qty,
                "maxOrderQty": self.max_qty,
                "minOrderAmt": "5",
                "maxOrderAmt": "8000000",
            }
            return {
                "symbol": self.symbol,
                "baseCoin": self.base,
                "quoteCoin": self.quote,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": lot,
                "priceFilter": {"tickSize": self.tick},
                "riskParameters": {"priceLimitRatioX": "0.005", "priceLimitRatioY": "0.01"},
            }
        lot = {
            "maxOrderQty": self.max_qty,
            "minOrderQty": self.min_qty,
            "qtyStep": self.step,
            "postOnlyMaxOrderQty": self.max_qty,
            "maxMktOrderQty": self.max_qty,
            "minNotionalValue": "5",
        }
        return {
            "symbol": self.symbol,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": self.base,
            "quoteCoin": self.quote,
            "launchTime": "1584230400000",
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(max(0, len(self.tick.partition(".")[2]))),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": self.tick, "maxPrice": "1999999.80", "tickSize": self.tick},
            "lotSizeFilter": lot,
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": self.quote,
            "copyTrading": "both",
        }


DEFAULT_MARKETS: tuple[Market, ...] = (
    Market("spot", "BTCUSDT", "BTC", "USDT", "0.1", "0.000001", "0.000001", "230"),
    Market("spot", "ETHUSDT", "ETH", "USDT", "0.01", "0.00001", "0.00001", "4000"),
    Market("linear", "BTCUSDT", "BTC", "USDT", "0.10", "0.001", "0.001", "1500.000"),
    Market("linear", "ETHUSDT", "ETH", "USDT", "0.01", "0.01", "0.01", "7240.00"),
    Market("linear", "SOLUSDT", "SOL", "USDT", "0.010", "0.1", "0.1", "79770.0"),
    Market("linear", "DOGEUSDT", "DOGE", "USDT", "0.00001", "1", "1", "43678900"),
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def fmt(value: float) -> str:
    """A number as Bybit writes it: a decimal string without exponent or trailing zeros."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"


def ccxt_config_for(rest: str, ws: str, **extra: Any) -> dict[str, Any]:
    """Constructor config pointing ``ccxt.pro.bybit`` at ``rest`` (``http://host:port``) and ``ws``
    (``ws://host:port/v5/public``; ``/<category>`` is appended): this fake, or an address nothing answers on.
    Only spot and linear markets are loaded. ``extra`` is merged in (dicts one level deep)."""
    config: dict[str, Any] = {
        "urls": {
            "api": {
                "spot": rest,
                "futures": rest,
                "v2": rest,
                "public": rest,
                "private": rest,
                "ws": {"public": {category: f"{ws}/{category}" for category in CATEGORIES}},
            }
        },
        "options": {"fetchMarkets": {"types": ["spot", "linear"]}},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@dataclass
class FakeBook:
    """The fake's authoritative book of one market: ``u`` is Bybit's update id, ``seq`` its cross sequence."""

    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    u: int = 1000
    seq: int = 7_000_000_000
    ts: int = 0  # ms of the last change

    def apply(self, bids: Iterable[Sequence[Any]], asks: Iterable[Sequence[Any]]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, amount in ((float(level[0]), float(level[1])) for level in levels):
                if amount == 0:
                    side.pop(price, None)
                else:
                    side[price] = amount

    def top(self, limit: int) -> tuple[Levels, Levels]:
        bids = sorted(self.bids.items(), key=lambda level: -level[0])[:limit]
        asks = sorted(self.asks.items())[:limit]
        return bids, asks


def _window_delta(before: Levels, after: Levels) -> list[list[str]]:
    """The levels that turn the window ``before`` into ``after`` (absolute amounts; ``"0"`` deletes)."""
    old, new = dict(before), dict(after)
    changes = [[fmt(price), "0"] for price in old if price not in new]
    changes += [[fmt(price), fmt(amount)] for price, amount in after if old.get(price) != amount]
    return changes


# -- recordings ----------------------------------------------------------------------------------------------


def zstd_lines(path: Path) -> Iterator[str]:
    """The text lines of a zstd file, through ``zstandard``, Python 3.14's ``compression.zstd`` or the
    ``zstd`` command, whichever is there; ``RuntimeError`` when none is."""
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as reader:
            yield from (line.decode() for line in reader.read().splitlines())
        return
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        with zstd.open(path, "rt") as lines:
            yield from (line.rstrip("\n") for line in lines)
        return
    command = shutil.which("zstd")
    if command is None:
        raise RuntimeError(f"{path}: no zstd decompressor (pip install zstandard, Python >= 3.14, or zstd)")
    text = subprocess.run([command, "-dcq", str(path)], check=True, capture_output=True).stdout.decode()
    yield from text.splitlines()


def zstd_available() -> bool:
    """True when ``zstd_lines`` can decompress (a module or the ``zstd`` command)."""
    for module in ("zstandard", "compression.zstd"):
        try:
            __import__(module)
        except ImportError:
            continue
        return True
    return shutil.which("zstd") is not None


@dataclass(frozen=True)
class CaptureFrame:
    """A received websocket frame of a capture: its connection's category, receive time (s), topic, text."""

    category: str
    ts: float
    topic: str
    text: str
    message: dict[str, Any]

    @property
    def kind(self) -> str:
        """The topic's channel: ``orderbook``, ``publicTrade``, ``tickers``, ``kline``, ``allLiquidation``."""
        return self.topic.partition(".")[0]

    @property
    def symbol(self) -> str:
        return self.topic.rpartition(".")[2]


@dataclass
class Capture:
    """A recorded Bybit session: instruments per category (the REST answers) and data frames in order."""

    instruments: dict[str, list[dict[str, Any]]]
    frames: list[CaptureFrame]

    def markets(self) -> list[Key]:
        """The ``(category, symbol)`` pairs with data frames, in order of first appearance."""
        return list(dict.fromkeys((frame.category, frame.symbol) for frame in self.frames))

    def topics(self, kind: str | None = None) -> list[tuple[str, str]]:
        """The ``(category, topic)`` pairs with frames (of channel ``kind``), in order of first appearance."""
        return list(
            dict.fromkeys(
                (frame.category, frame.topic) for frame in self.frames if kind is None or frame.kind == kind
            )
        )

    def trades(self, category: str, symbol: str) -> list[dict[str, Any]]:
        """The raw trade records of one market, in the order they were received."""
        return [
            trade
            for frame in self.frames
            if frame.kind == "publicTrade" and frame.category == category and frame.symbol == symbol
            for trade in frame.message.get("data") or ()
        ]


def _category_of(url: str) -> str:
    tail = urlsplit(url).path.rstrip("/").rpartition("/")[2]
    return tail if tail in CATEGORIES else ""


class Connection:
    """One accepted websocket, its category (from the path) and the topics it subscribed to."""

    def __init__(self, ws: web.WebSocketResponse, category: str, conn_id: str) -> None:
        self.ws = ws
        self.category = category
        self.conn_id = conn_id
        self.topics: set[str] = set()


class FakeBybit(LoopbackServer):
    name = "fake bybit"

    def __init__(
        self, markets: Sequence[Market] = DEFAULT_MARKETS, *, heartbeat: float | None = None
    ) -> None:
        """``heartbeat``: send websocket pings this often (s); None: never (Bybit waits for client pings)."""
        super().__init__()
        self.heartbeat = heartbeat
        self.instruments: dict[Key, dict[str, Any]] = {
            (market.category, market.symbol): market.instrument() for market in markets
        }
        self.books: dict[Key, FakeBook] = {key: FakeBook() for key in self.instruments}
        self.tickers: dict[Key, dict[str, Any]] = {}
        self.klines: dict[tuple[str, str, str], list[list[str]]] = {}  # (category, symbol, interval) -> rows
        self.trades: dict[Key, list[dict[str, Any]]] = {}  # REST recent-trade records, oldest first
        self._trade_numbers: Counter[Key] = Counter()
        self.held: list[tuple[str, str, str]] = []  # (category, topic, text) queued by hold=True
        # observability
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.ws_opened = 0
        self.ws_closed = 0
        self.client_messages: list[tuple[str, dict[str, Any]]] = []  # (category, parsed op message)
        self.connections: list[Connection] = []
        # faults
        self.rest_delay = 0.0
        self.frame_delay = 0.0
        self.refuse_ws = 0  # refuse this many websocket handshakes with HTTP refuse_ws_status
        self.refuse_ws_status = 403
        self._rest_failures: Counter[str] = Counter()
        self._rest_failure_status: dict[str, int] = {}
        self._skip: set[int] = set()  # ids of capture frames use_capture turned into state

    # -- lifecycle --------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        routes = {
            "/v5/market/instruments-info": self._instruments_info,
            "/v5/market/time": self._time,
            "/v5/market/orderbook": self._orderbook,
            "/v5/market/recent-trade": self._recent_trade,
            "/v5/market/kline": self._kline,
            "/v5/market/tickers": self._tickers,
            "/v5/asset/coin/query-info": self._signed,
        }
        for path, handler in routes.items():
            app.router.add_get(path, handler)
        app.router.add_get("/v5/public/{category}", self._websocket)
        return app

    def ws_url(self, category: str = "linear") -> str:
        return f"ws://127.0.0.1:{self.port}/v5/public/{category}"

    def ccxt_config(self, **extra: Any) -> dict[str, Any]:
        """Constructor config that points ``ccxt.pro.bybit`` at this fake (REST and websocket)."""
        return ccxt_config_for(self.base_url, f"ws://127.0.0.1:{self.port}/v5/public", **extra)

    # -- market state -----------------------------------------------------------------------------------

    def _market(self, symbol: str, category: str) -> Key:
        key = (category, symbol)
        if key not in self.instruments:
            raise KeyError(f"fake bybit lists no {category} market {symbol}")
        return key

    def set_book(
        self,
        symbol: str,
        bids: Iterable[tuple[float, float]],
        asks: Iterable[tuple[float, float]],
        *,
        category: str = "linear",
        u: int | None = None,
    ) -> None:
        """Replace a book (sent to nobody: subscribers see it as a snapshot when they (re)subscribe)."""
        key = self._market(symbol, category)
        old = self.books[key]
        self.books[key] = FakeBook(dict(bids), dict(asks), old.u if u is None else u, old.seq, now_ms())

    def ladder(
        self,
        symbol: str,
        mid: float,
        *,
        category: str = "linear",
        levels: int = 60,
        tick: float = 0.5,
        amount: float = 1.0,
    ) -> None:
        """A symmetric book around ``mid`` (level i has amount ``amount + i / 100``)."""
        bids = [(mid - tick * (i + 1), round(amount + i / 100, 8)) for i in range(levels)]
        asks = [(mid + tick * (i + 1), round(amount + i / 100, 8)) for i in range(levels)]
        self.set_book(symbol, bids, asks, category=category)

    def top(self, symbol: str, limit: int = 1000, category: str = "linear") -> tuple[Levels, Levels]:
        return self.books[(category, symbol)].top(limit)

    def set_klines(
        self, symbol: str, interval: str, rows: Iterable[list[str]], category: str = "linear"
    ) -> None:
        """The candles ``/v5/market/kline`` serves, oldest first, as
        ``[start_ms, o, h, l, c, volume, turnover]`` strings (anything else is served as is: bad candles)."""
        self.klines[(category, symbol, interval)] = list(rows)

    # -- pushing frames ---------------------------------------------------------------------------------

    def _subscribed_depths(self, category: str, symbol: str) -> list[int]:
        depths = set()
        for connection in self.connections:
            if connection.category != category:
                continue
            for topic in connection.topics:
                parts = topic.split(".")
                if len(parts) == 3 and parts[0] == "orderbook" and parts[2] == symbol:
                    depths.add(int(parts[1]))
        return sorted(depths)

    async def push_depth(
        self,
        symbol: str,
        bids: Iterable[tuple[float, float]] = (),
        asks: Iterable[tuple[float, float]] = (),
        *,
        category: str = "linear",
        duplicate: bool = False,
        hold: bool = False,
        silent: bool = False,
    ) -> int:
        """Apply a change to the book (amount 0 deletes a level), ``u`` + 1, and send each subscribed depth
        topic its window's delta. ``silent=True`` applies it without sending (a gap). Returns the new u."""
        key = self._market(symbol, category)
        book = self.books[key]
        depths = self._subscribed_depths(category, symbol)
        before = {depth: book.top(depth) for depth in depths}
        book.apply([[price, amount] for price, amount in bids], [[price, amount] for price, amount in asks])
        book.u += 1
        book.seq += 7
        book.ts = now_ms()
        if silent:
            return book.u
        for depth in depths:
            after = book.top(depth)
            frame = self._book_frame(
                symbol,
                depth,
                book,
                "delta",
                _window_delta(before[depth][0], after[0]),
                _window_delta(before[depth][1], after[1]),
            )
            await self._emit(category, f"orderbook.{depth}.{symbol}", frame, 2 if duplicate else 1, hold)
        return book.u

    async def gap(self, symbol: str, category: str = "linear") -> int:
        """Change the best bid's amount without telling anyone: the next delta's ``u`` skips one."""
        bids, _ = self.top(symbol, 1, category)
        price, amount = bids[0] if bids else (1.0, 0.0)
        return await self.push_depth(
            symbol, bids=[(price, round(amount + 0.5, 8))], category=category, silent=True
        )

    async def resnapshot(self, symbol: str, category: str = "linear", *, restart: bool = False) -> int:
        """Send every subscribed depth topic a fresh snapshot of the book, as Bybit does after a restart of
        its service (``restart=True``: ``u`` starts again at 1, as Bybit's does). Returns the book's ``u``."""
        key = self._market(symbol, category)
        book = self.books[key]
        if restart:
            book.u = 1
        book.ts = now_ms()
        for depth in self._subscribed_depths(category, symbol):
            await self._emit(
                category, f"orderbook.{depth}.{symbol}", self._snapshot_frame(category, symbol, depth)
            )
        return book.u

    @staticmethod
    def _book_frame(
        symbol: str, depth: int, book: FakeBook, kind: str, bids: list[list[str]], asks: list[list[str]]
    ) -> dict[str, Any]:
        data = {"s": symbol, "b": bids, "a": asks, "u": book.u, "seq": book.seq}
        return {
            "topic": f"orderbook.{depth}.{symbol}",
            "type": kind,
            "ts": book.ts,
            "data": data,
            "cts": book.ts,
        }

    def _snapshot_frame(self, category: str, symbol: str, depth: int) -> dict[str, Any]:
        book = self.books[(category, symbol)]
        bids, asks = book.top(depth)
        return self._book_frame(
            symbol,
            depth,
            book,
            "snapshot",
            [[fmt(p), fmt(a)] for p, a in bids],
            [[fmt(p), fmt(a)] for p, a in asks],
        )

    def _next_trade_id(self, key: Key) -> str:
        """Linear trade ids are UUIDs, spot ones large decimal numbers, as on Bybit."""
        self._trade_numbers[key] += 1
        number = self._trade_numbers[key]
        if key[0] == "spot":
            return str(2_290_000_000_000_000_000 + number)
        return str(uuid.UUID(int=number))

    async def push_trade(
        self,
        symbol: str,
        price: float,
        amount: float,
        *,
        side: str = "Buy",
        category: str = "linear",
        trade_id: str | None = None,
        trade_ms: int | None = None,
        duplicate: bool = False,
        hold: bool = False,
    ) -> dict[str, Any]:
        """Push one ``publicTrade`` frame (``side``: the taker's, ``Buy`` or ``Sell``); returns its record."""
        key = self._market(symbol, category)
        ts = trade_ms if trade_ms is not None else now_ms()
        record = {
            "T": ts,
            "s": symbol,
            "S": side,
            "v": fmt(amount),
            "p": fmt(price),
            "L": "PlusTick" if side == "Buy" else "MinusTick",
            "i": trade_id if trade_id is not None else self._next_trade_id(key),
            "BT": False,
            "RPI": False,
            "seq": self.books[key].seq,
        }
        self.trades.setdefault(key, []).append(record)
        frame = {"topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": ts, "data": [record]}
        await self._emit(category, f"publicTrade.{symbol}", frame, 2 if duplicate else 1, hold)
        return record

    async def push_ticker(
        self, symbol: str, *, category: str = "linear", delta: bool = False, **fields: Any
    ) -> dict[str, Any]:
        """Update the ticker state with ``fields`` (``lastPrice``, ``markPrice``, ``indexPrice``,
        ``fundingRate``, ``nextFundingTime``, ``openInterest``, ``bid1Price``...; numbers become strings;
        the first push starts from a full ticker priced from the book) and push it: the whole
        state (``snapshot``) or only ``fields`` (``delta``, as linear tickers do). Returns the frame."""
        key = self._market(symbol, category)
        values = {name: value if isinstance(value, str) else fmt(value) for name, value in fields.items()}
        state = self.tickers.setdefault(key, self._ticker_template(key))
        state.update(values)
        ts = now_ms()
        data = {"symbol": symbol, **values} if delta else dict(state)
        kind = "delta" if delta else "snapshot"
        frame = {
            "topic": f"tickers.{symbol}",
            "type": kind,
            "data": data,
            "cs": self.books[key].seq,
            "ts": ts,
        }
        await self._emit(category, f"tickers.{symbol}", frame)
        return frame

    def _ticker_template(self, key: Key) -> dict[str, Any]:
        """A ticker's full field set as Bybit sends it (ccxt tells contract tickers by ``openInterestValue``,
        spot ones by ``usdIndexPrice``), priced from the fake's book."""
        bids, asks = self.books[key].top(1)
        bid, bid_size = bids[0] if bids else (0.0, 0.0)
        ask, ask_size = asks[0] if asks else (0.0, 0.0)
        last = fmt((bid + ask) / 2 if bids and asks else bid or ask)
        state = {
            "symbol": key[1],
            "lastPrice": last,
            "prevPrice24h": last,
            "highPrice24h": last,
            "lowPrice24h": last,
            "price24hPcnt": "0",
            "volume24h": "0",
            "turnover24h": "0",
        }
        if key[0] == "spot":
            return {**state, "usdIndexPrice": last}
        return {
            **state,
            "tickDirection": "ZeroPlusTick",
            "prevPrice1h": last,
            "markPrice": last,
            "indexPrice": last,
            "openInterest": "0",
            "openInterestValue": "0",
            "nextFundingTime": str((now_ms() // 28_800_000 + 1) * 28_800_000),
            "fundingRate": "0.0001",
            "bid1Price": fmt(bid),
            "bid1Size": fmt(bid_size),
            "ask1Price": fmt(ask),
            "ask1Size": fmt(ask_size),
        }

    async def push_kline(
        self,
        symbol: str,
        start_ms: int,
        ohlc: tuple[float, float, float, float],
        volume: float,
        *,
        category: str = "linear",
        interval: str = "1",
        turnover: float | None = None,
        confirm: bool = False,
    ) -> dict[str, Any]:
        """Push one ``kline`` frame (and keep the candle for ``/v5/market/kline``); returns the frame."""
        self._market(symbol, category)
        o, h, low, c = ohlc
        value = volume * c if turnover is None else turnover
        end = start_ms + KLINE_MS.get(interval, 60_000) - 1
        candle = {
            "start": start_ms,
            "end": end,
            "interval": interval,
            "open": fmt(o),
            "close": fmt(c),
            "high": fmt(h),
            "low": fmt(low),
            "volume": fmt(volume),
            "turnover": fmt(value),
            "confirm": confirm,
            "timestamp": now_ms(),
        }
        rows = self.klines.setdefault((category, symbol, interval), [])
        row = [str(start_ms), fmt(o), fmt(h), fmt(low), fmt(c), fmt(volume), fmt(value)]
        rows[:] = [r for r in rows if r[0] != row[0]] + [row]
        frame = {
            "topic": f"kline.{interval}.{symbol}",
            "data": [candle],
            "ts": candle["timestamp"],
            "type": "snapshot",
        }
        await self._emit(category, frame["topic"], frame)
        return frame

    async def push_liquidation(
        self, symbol: str, price: float, size: float, *, side: str = "Buy", legacy: bool = False
    ) -> dict[str, Any]:
        """Push a linear liquidation: ``allLiquidation.<SYMBOL>`` (a list of ``{T, s, S, v, p}``) or, with
        ``legacy``, the older ``liquidation.<SYMBOL>`` (one ``{price, side, size, symbol, updatedTime}``)."""
        self._market(symbol, "linear")
        ts = now_ms()
        if legacy:
            data: Any = {
                "price": fmt(price),
                "side": side,
                "size": fmt(size),
                "symbol": symbol,
                "updatedTime": ts,
            }
            topic = f"liquidation.{symbol}"
        else:
            data = [{"T": ts, "s": symbol, "S": side, "v": fmt(size), "p": fmt(price)}]
            topic = f"allLiquidation.{symbol}"
        frame = {"topic": topic, "type": "snapshot", "ts": ts, "data": data}
        await self._emit("linear", topic, frame)
        return frame

    async def _emit(
        self, category: str, topic: str, frame: dict[str, Any] | str, copies: int = 1, hold: bool = False
    ) -> int:
        text = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
        if hold:
            self.held.extend([(category, topic, text)] * copies)
            return 0
        return await self.broadcast(category, topic, text, copies)

    async def release(self, *, reverse: bool = True) -> int:
        """Send the frames queued with ``hold=True``, in reverse order (a reordering) or as queued."""
        held, self.held = self.held, []
        sent = 0
        for category, topic, text in reversed(held) if reverse else held:
            sent += await self.broadcast(category, topic, text)
        return sent

    async def broadcast(self, category: str, topic: str, text: str, copies: int = 1) -> int:
        """Send ``text`` to every ``category`` connection subscribed to ``topic``; returns how many got it."""
        if self.frame_delay:
            await asyncio.sleep(self.frame_delay)
        sent = 0
        for connection in list(self.connections):
            if connection.category == category and topic in connection.topics and not connection.ws.closed:
                for _ in range(copies):
                    await connection.ws.send_str(text)
                sent += 1
        return sent

    async def send_raw(self, text: str, topic: str | None = None, category: str = "linear") -> int:
        """Send ``text`` as is (malformed frames) to ``category`` subscribers of ``topic``, or to every
        ``category`` connection."""
        sent = 0
        for connection in list(self.connections):
            if connection.category != category or connection.ws.closed:
                continue
            if topic is None or topic in connection.topics:
                await connection.ws.send_str(text)
                sent += 1
        return sent

    async def disconnect(self, code: int = WSCloseCode.GOING_AWAY, category: str | None = None) -> int:
        """Close every websocket (of ``category``) from the server side; returns how many were open."""
        closing = [c for c in self.connections if category is None or c.category == category]
        self.connections = [c for c in self.connections if c not in closing]
        for connection in closing:
            await connection.ws.close(code=code, message=b"fake disconnect")
        return len(closing)

    def fail_rest(self, path: str, times: int = 1, status: int = 429) -> None:
        """Answer the next ``times`` requests to ``path`` (``/v5/market/kline``...) with HTTP ``status``:
        429 with Bybit's "Too many visits!", 403 / 451 with the CloudFront geo-block page, others with a
        system error."""
        self._rest_failures[path] += times
        self._rest_failure_status[path] = status

    # -- waiting ----------------------------------------------------------------------------------------

    def subscribed(self, topic: str, category: str | None = None) -> bool:
        return any(
            topic in c.topics and (category is None or c.category == category) for c in self.connections
        )

    @property
    def open_connections(self) -> int:
        return sum(1 for connection in self.connections if not connection.ws.closed)

    async def wait_subscribed(self, *topics: str, category: str | None = None, timeout: float = 5.0) -> None:
        await self.wait_until(
            lambda: all(self.subscribed(t, category) for t in topics), timeout, f"subscriptions {topics}"
        )

    def count_requests(self, path: str, **query: str) -> int:
        return sum(
            1
            for seen, params in self.requests
            if seen == path and all(params.get(k) == v for k, v in query.items())
        )

    # -- recordings -------------------------------------------------------------------------------------

    @staticmethod
    def load_capture(path: Path) -> Capture:
        """Read a ``*.jsonl.zst`` capture: its instruments answers and its received data frames."""
        instruments: dict[str, list[dict[str, Any]]] = {}
        categories: dict[str, str] = {}
        frames: list[CaptureFrame] = []
        for number, line in enumerate(zstd_lines(path)):
            if not line.strip():
                continue
            record = json.loads(line)
            kind = record.get("t")
            if kind == "http" and "instruments-info" in record.get("url", ""):
                category = parse_qs(urlsplit(record["url"]).query).get("category", [""])[0]
                body = json.loads(record["data"])
                instruments.setdefault(category, []).extend(body["result"]["list"])
            elif kind == "connect":
                categories[record["conn"]] = _category_of(record.get("addr", ""))
            elif kind == "recv":
                message = json.loads(record["data"])
                topic = message.get("topic") if isinstance(message, dict) else None
                if not topic:
                    continue  # subscription acks, pongs
                category = categories.get(record["conn"], "")
                if not category:
                    raise ValueError(f"{path}:{number + 1}: a frame on {record['conn']}, never connected")
                frames.append(CaptureFrame(category, float(record["ts"]), topic, record["data"], message))
        return Capture(instruments, frames)

    def use_capture(self, capture: Capture) -> None:
        """Take the capture's instruments (only its markets with frames) and each book's and ticker's first
        snapshot as the fake's state: subscribers get those first, and ``play`` skips them."""
        wanted = set(capture.markets())
        self.instruments = {
            (category, entry["symbol"]): entry
            for category, entries in capture.instruments.items()
            for entry in entries
            if (category, entry["symbol"]) in wanted
        }
        self.books = {key: self.books.get(key, FakeBook()) for key in self.instruments}
        seen: set[tuple[str, str]] = set()
        self._skip = set()
        for frame in capture.frames:
            key = (frame.category, frame.symbol)
            if (frame.category, frame.topic) in seen or frame.message.get("type") != "snapshot":
                seen.add((frame.category, frame.topic))
                continue
            if frame.kind == "orderbook":
                data = frame.message["data"]
                book = FakeBook(u=int(data["u"]), seq=int(data["seq"]), ts=int(frame.message["ts"]))
                book.apply(data["b"], data["a"])
                self.books[key] = book
            elif frame.kind == "tickers":
                self.tickers[key] = dict(frame.message["data"])
            else:
                continue
            seen.add((frame.category, frame.topic))
            self._skip.add(id(frame))

    async def play(self, capture: Capture, *, kinds: Iterable[str] | None = None, pace: int = 64) -> int:
        """Push the capture's frames (raw, unmodified) in order to the subscribers of their topic (frames
        ``use_capture`` took as state are skipped; book frames also move the fake's book, and subscribers of
        another depth of that book get their window's delta). ``kinds``: only these channels (``orderbook``,
        ``publicTrade``, ``tickers``, ``kline``, ``allLiquidation``, ...). Returns the frames played."""
        wanted = None if kinds is None else set(kinds)
        played = 0
        for frame in capture.frames:
            if id(frame) in self._skip or (wanted is not None and frame.kind not in wanted):
                continue
            if frame.kind == "orderbook":
                await self._play_book(frame)
            else:
                if frame.kind == "tickers":
                    self._play_ticker(frame)
                await self.broadcast(frame.category, frame.topic, frame.text)
            played += 1
            if played % pace == 0:
                await asyncio.sleep(0)  # let the client read
        return played

    def _play_ticker(self, frame: CaptureFrame) -> None:
        state = self.tickers.setdefault((frame.category, frame.symbol), {})
        if frame.message.get("type") == "snapshot":
            state.clear()
        state.update(frame.message.get("data") or {})

    async def _play_book(self, frame: CaptureFrame) -> None:
        key = (frame.category, frame.symbol)
        book = self.books.setdefault(key, FakeBook())
        data = frame.message["data"]
        recorded = int(frame.topic.split(".")[1])
        others = [depth for depth in self._subscribed_depths(*key) if depth != recorded]
        before = {depth: book.top(depth) for depth in others}
        if frame.message.get("type") == "snapshot":
            book.bids.clear()
            book.asks.clear()
        book.apply(data.get("b") or (), data.get("a") or ())
        book.u, book.seq, book.ts = int(data["u"]), int(data["seq"]), int(frame.message["ts"])
        await self.broadcast(frame.category, frame.topic, frame.text)
        for depth in others:
            after = book.top(depth)
            derived = self._book_frame(
                frame.symbol,
                depth,
                book,
                "delta",
                _window_delta(before[depth][0], after[0]),
                _window_delta(before[depth][1], after[1]),
            )
            await self.broadcast(frame.category, derived["topic"], json.dumps(derived, separators=(",", ":")))

    # -- REST handlers ----------------------------------------------------------------------------------

    @staticmethod
    def _ok(result: Any) -> web.Response:
        body = {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms()}
        return web.json_response(body)

    @staticmethod
    def _error(code: int, message: str, status: int = 200) -> web.Response:
        body = {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": now_ms()}
        return web.json_response(body, status=status)

    async def _before(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.path, dict(request.query)))
        if self.rest_delay:
            await asyncio.sleep(self.rest_delay)
        if self._rest_failures[request.path] > 0:
            self._rest_failures[request.path] -= 1
            return self._failure(self._rest_failure_status[request.path])
        return None

    def _failure(self, status: int) -> web.Response:
        if status in (403, 451):
            return web.Response(text=GEO_BLOCK_PAGE, status=status, content_type="text/html")
        if status == 429:
            return web.json_response({**RATE_LIMIT_BODY, "time": now_ms()}, status=429)
        return self._error(10016, "System error. Please try again later.", status)

    def _query_market(self, request: web.Request) -> tuple[Key | None, web.Response | None]:
        category, symbol = request.query.get("category", ""), request.query.get("symbol", "")
        if category not in CATEGORIES:
            return None, self._error(10001, "Illegal category")
        if (category, symbol) not in self.instruments:
            return None, self._error(10001, "Not supported symbols")
        return (category, symbol), None

    async def _instruments_info(self, request: web.Request) -> web.Response:
        if (failure := await self._before(request)) is not None:
            return failure
        category = request.query.get("category", "")
        if category not in CATEGORIES:
            return self._error(10001, "Illegal category")
        status = request.query.get("status", "Trading")
        rows = [] if status != "Trading" else [e for (c, _), e in self.instruments.items() if c == category]
        result: dict[str, Any] = {"category": category, "list": rows}
        if category != "spot":
            result["nextPageCursor"] = ""
        return self._ok(result)

    async def _time(self, request: web.Request) -> web.Response:
        if (failure := await self._before(request)) is not None:
            return failure
        ns = time.time_ns()
        return self._ok({"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)})

    async def _orderbook(self, request: web.Request) -> web.Response:
        if (failure := await self._before(request)) is not None:
            return failure
        key, error = self._query_market(request)
        if key is None:
            return error or self._error(10001, "params error")
        limit = int(request.query.get("limit", "25"))
        book = self.books[key]
        bids, asks = book.top(max(1, min(limit, 1000)))
        return self._ok(
            {
                "s": key[1],
                "b": [[fmt(p), fmt(a)] for p, a in bids],
                "a": [[fmt(p), fmt(a)] for p, a in asks],
                "ts": book.ts or now_ms(),
                "u": book.u,
                "seq": book.seq,
                "cts": book.ts or now_ms(),
            }
        )

    async def _recent_trade(self, request: web.Request) -> web.Response:
        if (failure := await self._before(request)) is not None:
            return failure
        key, error = self._query_market(request)
        if key is None:
            return error or self._error(10001, "params error")
        limit = int(request.query.get("limit", "60" if key[0] == "spot" else "500"))
        rows = [
            {
                "execId": t["i"],
                "symbol": t["s"],
                "price": t["p"],
                "size": t["v"],
                "side": t["S"],
                "time": str(t["T"]),
                "isBlockTrade": False,
                "isRPITrade": False,
                "seq": str(t["seq"]),
            }
            for t in reversed(self.trades.get(key, []))
        ][:limit]
        return self._ok({"category": key[0], "list": rows})

    async def _kline(self, request: web.Request) -> web.Response:
        """The newest ``limit`` (default 200, at most 1000) candles from ``start`` to ``end``, newest 1st."""
        if (failure := await self._before(request)) is not None:
            return failure
        key, error = self._query_market(request)
        if key is None:
            return error or self._error(10001, "params error")
        interval = request.query.get("interval", "")
        if interval not in KLINE_INTERVALS:
            return self._error(10001, "Invalid period!")
        limit = max(1, min(int(request.query.get("limit", "200")), 1000))
        rows = self.klines.get((key[0], key[1], interval), [])
        start, end = request.query.get("start"), request.query.get("end")
        if start is not None:
            rows = [row for row in rows if _start_ms(row) >= int(start)]
        if end is not None:
            rows = [row for row in rows if _start_ms(row) <= int(end)]
        return self._ok({"category": key[0], "symbol": key[1], "list": list(reversed(rows[-limit:]))})

    async def _tickers(self, request: web.Request) -> web.Response:
        if (failure := await self._before(request)) is not None:
            return failure
        key, error = self._query_market(request)
        if key is None:
            return error or self._error(10001, "params error")
        return self._ok({"category": key[0], "list": [dict(self.tickers.get(key, {"symbol": key[1]}))]})

    async def _signed(self, request: web.Request) -> web.Response:
        """Every API key is invalid here; the key is echoed back so tests can check it gets redacted."""
        if (failure := await self._before(request)) is not None:
            return failure
        key = request.headers.get("X-BAPI-API-KEY", "")
        return self._error(10003, f"API key is invalid. (key {key})", status=401)

    # -- websocket --------------------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        category = request.match_info["category"]
        if category not in CATEGORIES:
            return web.Response(status=404, text="404 page not found")
        if self.refuse_ws > 0:
            self.refuse_ws -= 1
            return self._failure(self.refuse_ws_status)
        ws = web.WebSocketResponse(autoping=True, heartbeat=self.heartbeat)
        await ws.prepare(request)
        self.ws_opened += 1
        connection = Connection(ws, category, f"fake-{category}-{self.ws_opened}")
        self.connections.append(connection)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_client_message(connection, message.data)
        finally:
            self.ws_closed += 1
            if connection in self.connections:
                self.connections.remove(connection)
        return ws

    def _valid_topic(self, category: str, topic: str) -> bool:
        parts = topic.split(".")
        symbol = parts[-1]
        if (category, symbol) not in self.instruments:
            return False
        if parts[0] == "orderbook":
            return len(parts) == 3 and parts[1].isdigit() and int(parts[1]) in BOOK_DEPTHS
        if parts[0] == "kline":
            return len(parts) == 3 and parts[1] in KLINE_INTERVALS
        if parts[0] in ("allLiquidation", "liquidation"):
            return len(parts) == 2 and category == "linear"
        return len(parts) == 2 and parts[0] in ("publicTrade", "tickers")

    async def _reply(self, connection: Connection, message: Mapping[str, Any]) -> None:
        if not connection.ws.closed:
            await connection.ws.send_str(json.dumps(message, separators=(",", ":")))

    async def _on_client_message(self, connection: Connection, text: str) -> None:
        try:
            request = json.loads(text)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            await self._reply(
                connection, {"success": False, "ret_msg": "error:invalid op", "conn_id": connection.conn_id}
            )
            return
        self.client_messages.append((connection.category, request))
        req_id = request.get("req_id", "")
        answer = {"success": True, "ret_msg": "", "conn_id": connection.conn_id, "req_id": req_id, "op": op}
        args = request.get("args") or []
        if op == "ping":
            if connection.category == "spot":
                await self._reply(connection, {**answer, "ret_msg": "pong"})
            else:
                pong = {
                    "req_id": req_id,
                    "op": "pong",
                    "args": [str(now_ms())],
                    "conn_id": connection.conn_id,
                }
                await self._reply(connection, pong)
        elif op == "subscribe":
            bad = [
                topic
                for topic in args
                if not isinstance(topic, str) or not self._valid_topic(connection.category, topic)
            ]
            if bad:
                await self._reply(
                    connection,
                    {**answer, "success": False, "ret_msg": f"error:handler not found,topic:{bad[0]}"},
                )
                return
            connection.topics.update(args)
            await self._reply(
                connection, {**answer, "ret_msg": "subscribe" if connection.category == "spot" else ""}
            )
            for topic in args:
                await self._first_frame(connection, topic)
        elif op == "unsubscribe":
            connection.topics.difference_update(args)
            await self._reply(connection, answer)
        else:
            await self._reply(connection, {**answer, "success": False, "ret_msg": f"error:invalid op {op}"})

    async def _first_frame(self, connection: Connection, topic: str) -> None:
        """What Bybit sends right after a subscription: the book's snapshot, the ticker's snapshot."""
        parts = topic.split(".")
        key = (connection.category, parts[-1])
        if parts[0] == "orderbook":
            await self._reply(connection, self._snapshot_frame(key[0], key[1], int(parts[1])))
        elif parts[0] == "tickers" and key in self.tickers:
            frame = {
                "topic": topic,
                "type": "snapshot",
                "data": dict(self.tickers[key]),
                "cs": self.books[key].seq,
                "ts": now_ms(),
            }
            await self._reply(connection, frame)


def _start_ms(row: Any) -> int:
    """A candle row's start time (0 for a malformed row)."""
    try:
        return int(row[0])
    except (TypeError, ValueError, IndexError, KeyError):
        return 0


__all__ = [
    "DEFAULT_MARKETS",
    "GEO_BLOCK_PAGE",
    "Capture",
    "CaptureFrame",
    "FakeBook",
    "FakeBybit",
    "Market",
    "ccxt_config_for",
    "zstd_available",
    "zstd_lines",
]
