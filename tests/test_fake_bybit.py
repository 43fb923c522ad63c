"""The loopback fake Bybit (fake_bybit.py) against the real ccxt.pro bybit client and mdx's LiveSource.

What ccxt.pro's bybit does and does not check matters here: it applies ``orderbook`` deltas without looking
at their update id ``u`` (the book it returns has no ``nonce``), so a sequence gap or a reordering of book
frames is not noticed by ccxt, and LiveSource (which learns of gaps only through ccxt's ``InvalidNonce`` /
``ChecksumError``) reports nothing. The gap tests show the fault is on the wire, and one strict xfail states
what mdx should do about it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
import ccxt.pro
import pytest

from mdx.backoff import Backoff
from mdx.clock import Clock, LiveClock, SimulatedClock
from mdx.errors import ExchangeBlocked, SourceError, UnknownSymbol
from mdx.events import BookSnapshot, Quote, Trade
from mdx.session import Session
from mdx.sources.live.ccxt_source import LiveSource
from mdx.stats import Rejections
from tests.conftest import SHARED_DATA, require
from tests.fake_bybit import Capture, FakeBybit, zstd_available
from tests.test_live import Harness

pytestmark = pytest.mark.timeout(30)
FAST = Backoff(initial=0.02, factor=2.0, cap=0.1, jitter=0.2)

T = TypeVar("T")
PERP = "BTC/USDT:USDT"
SPOT = "BTC/USDT"
CAPTURE = SHARED_DATA / "exchange-captures" / "BYBIT.jsonl.zst"
ADVICE = "try --source sim or a replay (--source replay:PATH)"


def run(coro: Coroutine[Any, Any, T], timeout: float = 25.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def category_of(symbol: str) -> str:
    return "linear" if ":" in symbol else "spot"


@asynccontextmanager
async def live(
    fake: FakeBybit, symbols: tuple[str, ...] = (PERP,), clock: Clock | None = None, **kwargs: Any
) -> AsyncIterator[Harness]:
    options = kwargs.pop("exchange_options", None) or fake.ccxt_config()
    kwargs.setdefault("backoff", FAST)
    kwargs.setdefault("rng", random.Random(7))
    source = LiveSource("bybit", symbols, exchange_options=options, **kwargs)
    harness = Harness(source, clock or LiveClock())
    try:
        yield harness
    finally:
        await harness.stop()


async def subscribed(fake: FakeBybit, symbol: str = PERP, depth: int = 50) -> None:
    market_id = symbol.split("/")[0] + "USDT"
    await fake.wait_subscribed(
        f"publicTrade.{market_id}", f"orderbook.{depth}.{market_id}", category=category_of(symbol)
    )


def books_of(h: Harness, symbol: str) -> list[BookSnapshot]:
    return [book for book in h.of(BookSnapshot) if book.symbol == symbol]


def book_matches(h: Harness, fake: FakeBybit, depth: int, symbol: str = PERP) -> Callable[[], bool]:
    """mdx's last book of ``symbol`` has exactly the fake's top ``depth`` levels."""
    market_id = symbol.split("/")[0] + "USDT"

    def check() -> bool:
        books = books_of(h, symbol)
        if not books:
            return False
        bids, asks = fake.top(market_id, depth, category_of(symbol))
        return list(books[-1].bids) == bids and list(books[-1].asks) == asks

    return check


def trades_reach(h: Harness, symbol: str, count: int) -> Callable[[], bool]:
    return lambda: sum(1 for trade in h.of(Trade) if trade.symbol == symbol) >= count


@asynccontextmanager
async def live_book(depth: int = 20, **kwargs: Any) -> AsyncIterator[tuple[FakeBybit, Harness]]:
    """A fake with a BTCUSDT perpetual ladder around 65000 and a live source that has its first book."""
    async with FakeBybit() as fake:
        fake.ladder("BTCUSDT", 65000.0)
        async with live(fake, depth=depth, **kwargs) as h:
            await subscribed(fake)
            await h.wait(book_matches(h, fake, depth), "the initial book")
            yield fake, h


@asynccontextmanager
async def raw_socket(
    fake: FakeBybit, category: str = "linear"
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A plain websocket client on the fake (to see the frames themselves, as Bybit sends them)."""
    async with aiohttp.ClientSession() as session, session.ws_connect(fake.ws_url(category)) as ws:
        yield ws


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.receive(), 5)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    parsed: dict[str, Any] = json.loads(message.data)
    return parsed


def load_capture() -> Capture:
    require(CAPTURE, "the Bybit capture")
    if not zstd_available():
        message = "no zstd decompressor: pip install zstandard, or install the zstd command"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return FakeBybit.load_capture(CAPTURE)


# -- the protocol, as a plain client and as ccxt sees it -----------------------------------------------------


def test_ccxt_loads_spot_and_linear_markets_and_every_public_rest_endpoint_answers() -> None:
    async def main() -> None:
        async with FakeBybit() as fake:
            fake.ladder("BTCUSDT", 65010.0, category="spot", tick=0.1)
            fake.set_klines("BTCUSDT", "1", [["1786310700000", "1", "2", "0.5", "1.5", "10", "15"]])
            exchange = ccxt.pro.bybit(fake.ccxt_config())
            try:
                await exchange.load_markets()
                assert sorted(exchange.markets) == [
                    "BTC/USDT",
                    "BTC/USDT:USDT",
                    "DOGE/USDT:USDT",
                    "ETH/USDT",
                    "ETH/USDT:USDT",
                    "SOL/USDT:USDT",
                ]
                perp = exchange.market(PERP)
                assert (perp["id"], perp["swap"], perp["linear"], perp["precision"]["price"]) == (
                    "BTCUSDT",
                    True,
                    True,
                    0.1,
                )
                assert exchange.market(SPOT)["spot"]
                # no keys: no coin query (fetch_currencies), only the instruments
                assert [q.get("category") for p, q in fake.requests] == ["spot", "linear", "linear"]
                assert fake.count_requests("/v5/market/instruments-info", status="PreLaunch") == 1
                book = await exchange.fetch_order_book(SPOT, 5)
                assert book["bids"][0] == [65009.9, 1.0] and book["asks"][0] == [65010.1, 1.0]
                await fake.push_trade("BTCUSDT", 65000.5, 0.25, side="Sell")
                [trade] = await exchange.fetch_trades(PERP)
                assert (trade["price"], trade["amount"], trade["side"]) == (65000.5, 0.25, "sell")
                assert await exchange.fetch_ohlcv(PERP, "1m") == [[1786310700000, 1.0, 2.0, 0.5, 1.5, 10.0]]
                await fake.push_ticker("BTCUSDT", lastPrice=65001.5, fundingRate="0.0002")
                ticker = await exchange.fetch_ticker(PERP)
                assert ticker["last"] == 65001.5 and ticker["info"]["fundingRate"] == "0.0002"
                assert isinstance(await exchange.fetch_time(), int)
            finally:
                await exchange.close()

    run(main())


def test_the_websocket_speaks_bybit_v5_subscribe_snapshot_delta_and_ping() -> None:
    async def main() -> None:
        async with FakeBybit() as fake, raw_socket(fake) as ws:
            fake.ladder("BTCUSDT", 100.0, levels=3, tick=1.0)
            await ws.send_json({"op": "subscribe", "req_id": 7, "args": ["orderbook.1.BTCUSDT"]})
            ack = await receive(ws)
            assert (ack["success"], ack["op"], ack["req_id"]) == (True, "subscribe", 7)
            snapshot = await receive(ws)
            assert snapshot["type"] == "snapshot" and snapshot["topic"] == "orderbook.1.BTCUSDT"
            assert snapshot["data"]["b"] == [["99", "1"]] and snapshot["data"]["a"] == [["101", "1"]]
            u = snapshot["data"]["u"]
            # a change below the top-1 window is an empty delta; a new best bid replaces the old one
            await fake.push_depth("BTCUSDT", bids=[(97.0, 5.0)])
            await fake.push_depth("BTCUSDT", bids=[(99.5, 2.0)])
            first, second = await receive(ws), await receive(ws)
            assert (first["data"]["u"], first["data"]["b"], first["data"]["a"]) == (u + 1, [], [])
            assert second["type"] == "delta" and second["data"]["u"] == u + 2
            assert second["data"]["b"] == [["99", "0"], ["99.5", "2"]]
            await ws.send_json({"op": "ping", "req_id": 8})
            pong = await receive(ws)
            assert (pong["op"], pong["req_id"]) == ("pong", 8)
            await ws.send_json({"op": "subscribe", "req_id": 9, "args": ["orderbook.7.BTCUSDT"]})
            refused = await receive(ws)
            assert refused["success"] is False and "orderbook.7.BTCUSDT" in refused["ret_msg"]
        async with FakeBybit() as fake, raw_socket(fake, "spot") as ws:
            await ws.send_json({"op": "ping", "req_id": 1})
            pong = await receive(ws)
            assert (pong["success"], pong["ret_msg"], pong["op"]) == (True, "pong", "ping")

    run(main())


def test_tickers_candles_and_liquidations_reach_ccxt() -> None:
    async def main() -> None:
        async with FakeBybit() as fake:
            fake.ladder("BTCUSDT", 65000.0)
            exchange = ccxt.pro.bybit(fake.ccxt_config())
            try:
                await exchange.load_markets()
                watching = asyncio.create_task(exchange.watch_ticker(PERP))
                await fake.wait_subscribed("tickers.BTCUSDT", category="linear")
                await fake.push_ticker("BTCUSDT", lastPrice=65000.5, markPrice=65001.25, openInterest=1234.5)
                ticker = await watching
                assert (ticker["last"], ticker["markPrice"]) == (65000.5, 65001.25)
                assert (
                    ticker["info"]["openInterest"] == "1234.5" and ticker["info"]["fundingRate"] == "0.0001"
                )
                await fake.push_ticker("BTCUSDT", delta=True, markPrice=65002.0)
                ticker = await exchange.watch_ticker(PERP)
                assert (ticker["last"], ticker["markPrice"]) == (65000.5, 65002.0)  # the delta merged in
                watching = asyncio.create_task(exchange.watch_ohlcv(SPOT, "1m"))
                await fake.wait_subscribed("kline.1.BTCUSDT", category="spot")
                await fake.push_kline("BTCUSDT", 1786310760000, (1.0, 2.0, 0.5, 1.5), 10.0, category="spot")
                assert await watching == [[1786310760000, 1.0, 2.0, 0.5, 1.5, 10.0]]
                watching = asyncio.create_task(exchange.watch_liquidations(PERP))
                await fake.wait_subscribed("allLiquidation.BTCUSDT", category="linear")
                await fake.push_liquidation("BTCUSDT", 64000.0, 0.5, side="Sell")
                [liquidation] = await watching
                assert (liquidation["price"], liquidation["contracts"], liquidation["side"]) == (
                    64000.0,
                    0.5,
                    "sell",
                )
            finally:
                await exchange.close()

    run(main())


# -- the recorded session ------------------------------------------------------------------------------------


@pytest.mark.data
def test_replaying_the_bybit_capture_through_ccxt_gives_the_captured_trades() -> None:
    capture = load_capture()
    assert len(capture.markets()) == 6

    async def main() -> None:
        async with FakeBybit() as fake:
            fake.use_capture(capture)
            exchange = ccxt.pro.bybit(fake.ccxt_config())
            got: dict[str, list[tuple[str, float, float, str]]] = {}

            async def watch(symbol: str) -> None:
                got[symbol] = []
                while True:
                    trades = await exchange.watch_trades(symbol)
                    got[symbol] += [(t["id"], t["price"], t["amount"], t["side"]) for t in trades]

            try:
                await exchange.load_markets()
                symbols = {
                    (market["type"] == "spot", market["id"]): market["symbol"]
                    for market in exchange.markets.values()
                }
                assert len(symbols) == 6
                tasks = [asyncio.create_task(watch(symbol)) for symbol in symbols.values()]
                for category, topic in capture.topics("publicTrade"):
                    await fake.wait_subscribed(topic, category=category)
                await fake.play(capture, kinds=["publicTrade"])
                expected = {
                    symbols[(category == "spot", market_id)]: [
                        (t["i"], float(t["p"]), float(t["v"]), t["S"].lower())
                        for t in capture.trades(category, market_id)
                    ]
                    for category, market_id in capture.markets()
                }
                assert sum(len(trades) for trades in expected.values()) == 347
                await fake.wait_until(
                    lambda: all(len(got[s]) >= len(trades) for s, trades in expected.items()),
                    10,
                    "every trade",
                )
                assert got == expected
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                await exchange.close()

    run(main())


@pytest.mark.data
def test_replaying_the_captured_tickers_and_candles_through_ccxt_gives_the_captured_values() -> None:
    capture = load_capture()

    async def main() -> None:
        async with FakeBybit() as fake:
            fake.use_capture(capture)
            exchange = ccxt.pro.bybit(fake.ccxt_config())

            async def watch(symbol: str) -> None:
                while True:
                    await exchange.watch_ticker(symbol)
                    await exchange.watch_ohlcv(symbol, "1m")

            try:
                await exchange.load_markets()
                symbols = {(m["type"] == "spot", m["id"]): m["symbol"] for m in exchange.markets.values()}
                tasks = [asyncio.create_task(watch(symbol)) for symbol in symbols.values()]
                for category, topic in capture.topics("tickers") + capture.topics("kline"):
                    await fake.wait_subscribed(topic, category=category)
                assert await fake.play(capture, kinds=["tickers", "kline"]) > 900
                last_candle = {
                    (frame.category, frame.symbol): frame.message["data"][-1]
                    for frame in capture.frames
                    if frame.kind == "kline"
                }

                def caught_up() -> bool:
                    for (category, market_id), symbol in (
                        (k, symbols[(k[0] == "spot", k[1])]) for k in last_candle
                    ):
                        ticker = exchange.tickers.get(symbol) or {}
                        candles = (exchange.ohlcvs.get(symbol) or {}).get("1m") or [[0]]
                        if ticker.get("info") != fake.tickers[(category, market_id)]:
                            return False
                        if candles[-1][0] != last_candle[(category, market_id)]["start"]:
                            return False
                    return True

                await fake.wait_until(caught_up, 10, "the last ticker and candle of every market")
                for (category, market_id), candle in last_candle.items():
                    symbol = symbols[(category == "spot", market_id)]
                    assert exchange.ohlcvs[symbol]["1m"][-1][1:] == [
                        float(candle[name]) for name in ("open", "high", "low", "close", "volume")
                    ]
                perp = exchange.tickers[PERP][
                    "info"
                ]  # the linear ticker merged from its deltas, as Bybit means
                assert {"markPrice", "indexPrice", "fundingRate", "nextFundingTime", "openInterest"} <= set(
                    perp
                )
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                await exchange.close()

    run(main())


@pytest.mark.data
@pytest.mark.parametrize("book_limit", [200, 50])
def test_replaying_the_capture_through_the_live_source_keeps_its_books_equal_to_the_fakes(
    book_limit: int,
) -> None:
    """200: the recorded ``orderbook.200`` frames as they are; 50: top-50 window deltas the fake derives."""
    capture = load_capture()

    async def main() -> None:
        async with FakeBybit() as fake:
            fake.use_capture(capture)
            async with live(fake, (PERP, SPOT), depth=50, book_limit=book_limit) as h:
                await subscribed(fake, PERP, book_limit)
                await subscribed(fake, SPOT, book_limit)
                await h.wait(book_matches(h, fake, 50, PERP), "the recorded linear snapshot")
                await h.wait(book_matches(h, fake, 50, SPOT), "the recorded spot snapshot")
                played = await fake.play(capture, kinds=["orderbook", "publicTrade"])
                assert played > 1500
                for symbol, category in ((PERP, "linear"), (SPOT, "spot")):
                    ids = [t["i"] for t in capture.trades(category, "BTCUSDT")]
                    await h.wait(trades_reach(h, symbol, len(ids)), f"every {symbol} trade")
                    assert [t.id for t in h.of(Trade) if t.symbol == symbol] == ids
                    await h.wait(book_matches(h, fake, 50, symbol), f"the {symbol} book after the deltas")
                    last = books_of(h, symbol)[-1]
                    assert last.bids[0][0] < last.asks[0][0] and len(last.bids) == len(last.asks) == 50
                assert h.rejections.total == 0 and h.state == "connected"

    run(main())


# -- the live source -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", [PERP, SPOT])
def test_the_live_source_streams_bybit_trades_and_books_equal_to_the_fakes(symbol: str) -> None:
    category = category_of(symbol)

    async def main() -> None:
        async with FakeBybit() as fake:
            fake.ladder("BTCUSDT", 65000.0, category=category)
            async with live(fake, (symbol,), depth=5) as h:
                await subscribed(fake, symbol)
                await h.wait(book_matches(h, fake, 5, symbol), "the snapshot")
                sent = await fake.push_trade("BTCUSDT", 65000.5, 0.02, side="Sell", category=category)
                await fake.push_trade("BTCUSDT", 65001.0, 0.5, category=category)
                await h.wait(lambda: len(h.of(Trade)) == 2, "two trades")
                first, second = h.of(Trade)
                assert first == Trade(
                    "bybit", symbol, sent["T"] * 1_000_000, first.ts_recv, sent["i"], 65000.5, 0.02, "sell"
                )
                assert (second.price, second.amount, second.side) == (65001.0, 0.5, "buy")
                # a new best bid, and the best ask taken: the next ask enters the 5-level window
                await fake.push_depth(
                    "BTCUSDT", bids=[(64999.75, 2.0)], asks=[(65000.5, 0.0)], category=category
                )
                await h.wait(book_matches(h, fake, 5, symbol), "the book after a delta")
                last = books_of(h, symbol)[-1]
                assert last.bids[0] == (64999.75, 2.0) and last.asks[0] == (65001.0, 1.01)
                quote = h.of(Quote)[-1]
                assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (
                    64999.75,
                    2.0,
                    65001.0,
                    1.01,
                )
                # ccxt's bybit book carries no update id: mdx's sequence guard sets Bybit's `u` as the seq
                seqs = [book.seq for book in h.of(BookSnapshot)]
                assert seqs == sorted(seqs) and seqs[0] > 0 and len(set(seqs)) == len(seqs)
                assert h.state == "connected" and h.rejections.total == 0

    run(main())


def test_a_session_over_the_bybit_live_source_keeps_its_book_in_sync_and_equal_to_the_fakes() -> None:
    async def main() -> None:
        async with FakeBybit() as fake:
            fake.ladder("BTCUSDT", 65000.0, levels=30)
            source = LiveSource("bybit", [PERP], exchange_options=fake.ccxt_config(), depth=50)
            session = Session(source, timeframes=("1m",), book_view_interval_ms=0)

            async def expect(count: int) -> None:
                await fake.wait_until(lambda: session.events_processed >= count, what=f"{count} events")

            async def drive() -> None:
                await subscribed(fake)
                await expect(2)  # the snapshot and its quote
                await fake.push_depth("BTCUSDT", bids=[(64999.75, 2.0)])  # a new best bid: book + quote
                await expect(4)
                await fake.push_depth("BTCUSDT", asks=[(65015.0, 0.0), (65014.25, 3.0)])  # deep: book only
                await expect(5)
                await fake.push_trade("BTCUSDT", 64999.75, 0.5, side="Sell")
                await fake.push_trade("BTCUSDT", 65000.5, 0.25)

            driver = asyncio.create_task(drive())
            await session.run(max_events=7)
            await driver
            book = session.books[("bybit", PERP)]
            bids, asks = fake.top("BTCUSDT", 50)
            view = book.view(50)
            assert book.in_sync
            assert [tuple(level) for level in view.bids.tolist()] == bids
            assert [tuple(level) for level in view.asks.tolist()] == asks
            assert session.cache.trade(("bybit", PERP)).price == 65000.5
            assert session.rejections.total == 0 and session.status.state == "done"
            await fake.wait_until(lambda: fake.open_connections == 0, what="the source closed")

    run(main())


def test_history_reads_bybit_candles_newest_first_into_closed_bars() -> None:
    async def main() -> None:
        async with FakeBybit() as fake:
            start = 1_786_310_400_000
            rows = [
                [str(start + i * 60_000), f"{100 + i}", f"{101 + i}", f"{99 + i}", f"{100.5 + i}", "2", "201"]
                for i in range(5)
            ]
            fake.set_klines("BTCUSDT", "1", rows)
            source = LiveSource("bybit", [PERP], exchange_options=fake.ccxt_config(), history_bars=3)
            now = SimulatedClock((start + 4 * 60_000 + 30_000) * 1_000_000)  # the 5th bar is still open
            bars = await source.history(["1m"], now, Rejections())
            assert [(b.ts_event // 1_000_000, b.open, b.close, b.volume) for b in bars] == [
                (start + i * 60_000, 100.0 + i, 100.5 + i, 2.0) for i in (1, 2, 3)
            ]
            assert all(b.closed and b.symbol == PERP and b.timeframe == "1m" for b in bars)
            [request] = [q for p, q in fake.requests if p == "/v5/market/kline"]
            assert (request["category"], request["symbol"], request["interval"]) == ("linear", "BTCUSDT", "1")

    run(main())


def test_deep_changes_keep_the_book_equal_while_levels_enter_and_leave_the_window() -> None:
    async def main() -> None:
        async with live_book(depth=50, book_limit=50) as (fake, h):
            rng = random.Random(3)
            for _ in range(40):
                bids, _ = fake.top("BTCUSDT", 60)
                gone = rng.choice(bids)[0]
                fresh = 65000.0 - rng.randrange(1, 130) * 0.5
                await fake.push_depth("BTCUSDT", bids=[(gone, 0.0), (fresh, round(rng.uniform(0.1, 9), 3))])
            await h.wait(book_matches(h, fake, 50), "the book after 40 deltas")

    run(main())


# -- faults --------------------------------------------------------------------------------------------------


def test_a_disconnect_reconnects_and_resyncs_the_book_from_the_new_snapshot() -> None:
    async def main() -> None:
        async with live_book() as (fake, h):
            await fake.push_trade("BTCUSDT", 65000.5, 1.0)
            await h.wait(lambda: len(h.of(Trade)) == 1, "the first trade")
            fake.ladder("BTCUSDT", 65100.0)  # the book moves while nobody listens
            assert await fake.disconnect() == 1  # trades and book share one linear connection
            await h.wait(lambda: h.state == "reconnecting", "reconnecting")
            assert "bybit" in h.statuses[-1][1] and h.statuses[-1][2] == 1
            await h.wait(book_matches(h, fake, 20), "the book from the snapshot after the reconnect")
            await subscribed(fake)
            await fake.push_trade("BTCUSDT", 65100.5, 2.0)
            await h.wait(lambda: len(h.of(Trade)) == 2, "a trade after the reconnect")
            await h.wait(lambda: h.state == "connected", "connected again")
            assert fake.ws_opened == 2

    run(main())


def test_a_snapshot_after_a_bybit_service_restart_resets_the_book() -> None:
    async def main() -> None:
        async with live_book() as (fake, h):
            fake.ladder("BTCUSDT", 64000.0)  # the venue's book after its restart, not yet sent
            assert await fake.resnapshot("BTCUSDT", restart=True) == 1
            await h.wait(book_matches(h, fake, 20), "the book from the restart snapshot")
            assert await fake.push_depth("BTCUSDT", bids=[(63999.75, 2.0)]) == 2
            await h.wait(book_matches(h, fake, 20), "the book after the first delta from u=1")
            assert h.state == "connected" and h.rejections.total == 0

    run(main())


def test_a_sequence_gap_is_on_the_wire_as_a_skipped_update_id() -> None:
    async def main() -> None:
        async with FakeBybit() as fake, raw_socket(fake) as ws:
            fake.ladder("BTCUSDT", 100.0, levels=5, tick=1.0)
            await ws.send_json({"op": "subscribe", "req_id": 1, "args": ["orderbook.50.BTCUSDT"]})
            await receive(ws)
            u = (await receive(ws))["data"]["u"]
            await fake.gap("BTCUSDT")
            await fake.push_depth("BTCUSDT", asks=[(103.0, 9.0)])
            assert (await receive(ws))["data"]["u"] == u + 2

    run(main())


def test_a_sequence_gap_makes_the_live_source_resync_the_book() -> None:
    async def main() -> None:
        async with live_book() as (fake, h):
            await fake.gap("BTCUSDT")  # the best bid's amount changes; that delta is never sent
            await fake.push_depth("BTCUSDT", asks=[(65000.5, 9.0)])
            await h.wait(lambda: books_of(h, PERP)[-1].asks[0] == (65000.5, 9.0), "the delta after the gap")
            # what should happen: the gap is noticed, the book resyncs, and it is never out of sync unflagged
            assert any(state == "reconnecting" for state, *_ in h.statuses), "the gap went unnoticed"
            await h.wait(book_matches(h, fake, 20), "the book after the resync")

    run(main())


def test_duplicate_frames_give_one_trade_each_and_leave_the_book_equal() -> None:
    async def main() -> None:
        async with live_book() as (fake, h):
            await fake.push_depth("BTCUSDT", bids=[(64999.75, 1.0)], duplicate=True)
            await fake.push_trade("BTCUSDT", 65000.5, 1.0, duplicate=True)
            await fake.push_trade("BTCUSDT", 65000.5, 2.0)
            await h.wait(lambda: len(h.of(Trade)) == 2, "two trades")
            await h.wait(book_matches(h, fake, 20), "the book")
            assert [t.amount for t in h.of(Trade)] == [1.0, 2.0]
            assert h.rejections.by_reason["DuplicateTrade"] == 1

    run(main())


def test_reordered_trades_arrive_reordered() -> None:
    async def main() -> None:
        async with live_book() as (fake, h):
            first = await fake.push_trade("BTCUSDT", 65000.5, 1.0, hold=True)
            second = await fake.push_trade("BTCUSDT", 65000.5, 2.0, hold=True)
            assert await fake.release(reverse=True) == 2
            await h.wait(lambda: len(h.of(Trade)) == 2, "two trades")
            assert [t.id for t in h.of(Trade)] == [second["i"], first["i"]]

    run(main())


def test_reordered_book_frames_resync_and_trades_lost_in_the_resync_come_back_from_rest() -> None:
    async def main() -> None:
        async with live_book() as (fake, h):
            first = await fake.push_trade("BTCUSDT", 65000.5, 1.0)
            await h.wait(lambda: len(h.of(Trade)) == 1, "a first trade")
            second = await fake.push_trade("BTCUSDT", 65000.5, 2.0, hold=True)
            await fake.push_depth("BTCUSDT", bids=[(64999.75, 1.0)], hold=True)
            await fake.push_depth("BTCUSDT", asks=[(65000.25, 1.0)], hold=True)
            assert await fake.release(reverse=True) == 3  # the later book update first: out of order
            await h.wait(lambda: any("sequence broken" in s[1] for s in h.statuses), "the reorder noticed")
            await h.wait(book_matches(h, fake, 20), "the book after the resync")
            await subscribed(fake)
            third = await fake.push_trade("BTCUSDT", 65001.0, 3.0)
            await h.wait(lambda: len(h.of(Trade)) >= 3, "three trades")
            # the second trade's frame went down with the connection: the REST history gives it back, once
            assert [t.id for t in h.of(Trade)] == [first["i"], second["i"], third["i"]]

    run(main())


def test_malformed_frames_are_counted_or_survived_and_never_stop_the_stream() -> None:
    async def main() -> None:
        async with live_book(stall_timeout=1.0) as (fake, h):
            await fake.send_raw("not json at all", "publicTrade.BTCUSDT")
            bad = {
                "topic": "publicTrade.BTCUSDT",
                "type": "snapshot",
                "ts": 1,
                "data": [
                    {
                        "T": 1786310819680,
                        "s": "BTCUSDT",
                        "S": "Buy",
                        "v": "1",
                        "p": None,
                        "i": "x-1",
                        "BT": False,
                    }
                ],
            }
            await fake.send_raw(json.dumps(bad), "publicTrade.BTCUSDT")  # no price: a counted rejection
            await fake.push_trade("BTCUSDT", 65000.5, 1.0)
            await h.wait(lambda: any(t.price == 65000.5 for t in h.of(Trade)), "a good trade")
            assert h.rejections.by_reason["InvalidValue"] == 1
            # a book level ccxt cannot parse, then a truncated frame: the stream survives (a resync or the
            # watchdog's reconnect), and the book ends equal to the fake's
            u = fake.books[("linear", "BTCUSDT")].u + 1
            level = {
                "topic": "orderbook.50.BTCUSDT",
                "type": "delta",
                "ts": 1,
                "data": {"s": "BTCUSDT", "b": [["abc", "1"]], "a": [], "u": u, "seq": 1},
            }
            await fake.send_raw(json.dumps(level), "orderbook.50.BTCUSDT")
            await fake.send_raw('{"topic":"publicTrade.BTCUSDT","type":', "publicTrade.BTCUSDT")
            deadline = asyncio.get_running_loop().time() + 12
            while not any(t.price == 65002.5 for t in h.of(Trade)):
                assert asyncio.get_running_loop().time() < deadline, h.statuses[-3:]
                if fake.subscribed("publicTrade.BTCUSDT"):
                    await fake.push_trade("BTCUSDT", 65002.5, 1.0)
                await asyncio.sleep(0.1)
            await fake.push_depth("BTCUSDT", bids=[(64999.75, 4.0)])
            await h.wait(book_matches(h, fake, 20), "the book after the bad frames")
            assert not h.task.done() and all(t.price > 0 for t in h.of(Trade))
            # ccxt's bybit raises on that level inside its receive callback: mdx's sequence guard catches it
            # and resyncs (without it the connection would go silent until the stall watchdog)
            resyncs = [s[1] for s in h.statuses if s[0] == "reconnecting"]
            assert resyncs and all("a book frame ccxt could not read" in reason for reason in resyncs)

    run(main())


def test_a_slow_rest_answer_times_out_and_the_source_retries_until_it_is_fast_again() -> None:
    async def main() -> None:
        async with FakeBybit() as fake:
            fake.ladder("BTCUSDT", 65000.0)
            fake.rest_delay = 0.5
            options = fake.ccxt_config(timeout=100)
            clock = SimulatedClock(1_000_000_000)
            async with live(fake, clock=clock, depth=20, exchange_options=options) as h:
                await h.wait(
                    lambda: len([s for s in h.statuses if s[0] == "reconnecting"]) >= 2, "two retries"
                )
                assert all("timed out" in s[1] for s in h.statuses if s[0] == "reconnecting")
                fake.rest_delay = 0.0
                await subscribed(fake)
                await h.wait(book_matches(h, fake, 20), "the book once REST is fast")
                await h.wait(lambda: h.state == "connected", "connected")

    run(main())


def test_delayed_frames_still_arrive_in_order() -> None:
    async def main() -> None:
        async with live_book() as (fake, h):
            fake.frame_delay = 0.05
            sent = [await fake.push_trade("BTCUSDT", 65000.5 + i, 1.0) for i in range(3)]
            await h.wait(lambda: len(h.of(Trade)) == 3, "three delayed trades")
            assert [t.id for t in h.of(Trade)] == [s["i"] for s in sent]

    run(main())


def test_http_429_is_retried_with_backoff_until_the_markets_load() -> None:
    async def main() -> None:
        async with FakeBybit() as fake:
            fake.ladder("BTCUSDT", 65000.0)
            # one load_markets asks three times (spot, linear, linear pre-launch); fail two rounds or more
            fake.fail_rest("/v5/market/instruments-info", times=6, status=429)
            async with live(fake, clock=SimulatedClock(1_000_000_000)) as h:
                await h.wait(lambda: h.state == "connected", "connected after the 429s")
                retries = [s for s in h.statuses if s[0] == "reconnecting"]
                assert 2 <= len(retries) <= 6 and [s[2] for s in retries] == list(range(1, len(retries) + 1))
                assert all("RateLimitExceeded" in s[1] and "Too many visits" in s[1] for s in retries)

    run(main())


@pytest.mark.parametrize("status", [451, 403])
def test_a_geo_block_is_a_final_exchange_blocked_error(status: int) -> None:
    async def main() -> None:
        async with FakeBybit() as fake:
            fake.fail_rest("/v5/market/instruments-info", times=5, status=status)
            async with live(fake, clock=SimulatedClock()) as h:
                await h.task
                assert isinstance(h.error, ExchangeBlocked)
                message = f"bybit is blocked in this region (HTTP {status}); {ADVICE}"
                assert str(h.error) == message
                assert [s[0] for s in h.statuses] == ["connecting", "error"] and h.statuses[-1][1] == message
            # one attempt to load the markets, no retry storm, no websocket
            assert fake.count_requests("/v5/market/instruments-info") <= 3 and fake.ws_opened == 0

    run(main())


def test_a_geo_blocked_websocket_handshake_is_the_same_final_error() -> None:
    async def main() -> None:
        async with FakeBybit() as fake:
            fake.refuse_ws, fake.refuse_ws_status = 10, 451
            async with live(fake, clock=SimulatedClock()) as h:
                await h.task
                assert isinstance(h.error, ExchangeBlocked)
                assert str(h.error) == f"bybit is blocked in this region (HTTP 451); {ADVICE}"

    run(main())


def test_an_invalid_key_is_a_clear_source_error_without_the_key() -> None:
    async def main() -> None:
        async with FakeBybit() as fake:
            options = fake.ccxt_config(apiKey="KEY-123", secret="S3CR3T-456")
            async with live(fake, exchange_options=options) as h:
                await h.task
                assert isinstance(h.error, SourceError) and not isinstance(h.error, UnknownSymbol)
                assert "AuthenticationError" in str(h.error) and "API key is invalid" in str(h.error)
                assert "KEY-123" not in str(h.error) and "***" in str(h.error)
            assert fake.count_requests("/v5/asset/coin/query-info") == 1

    run(main())


def test_an_unlisted_symbol_is_unknown_and_names_the_close_matches() -> None:
    async def main() -> None:
        async with FakeBybit() as fake, live(fake, ("BTC/USDC:USDC",)) as h:
            await h.task
            assert isinstance(h.error, UnknownSymbol) and "'BTC/USDC:USDC'" in str(h.error)
            assert "bybit" in str(h.error) and fake.ws_opened == 0

    run(main())
