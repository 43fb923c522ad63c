"""The live source: the real ccxt.pro binance client against the loopback fake exchange (fake_binance.py)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mdx.backoff import Backoff
from mdx.clock import Clock, LiveClock, SimulatedClock
from mdx.errors import ConfigError, MdxError, SourceError, SourceUnavailable, UnknownSymbol
from mdx.events import BookSnapshot, CheckedLevels, Event, Quote, Trade
from mdx.market.book import OrderBook
from mdx.session import Session
from mdx.sources.live.ccxt_source import LiveSource
from mdx.stats import Rejections
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.timeout(20)

T = TypeVar("T")
FAST = Backoff(initial=0.02, factor=2.0, cap=0.1, jitter=0.2)
SYMBOL = "BTC/USDT"
KEY = ("binance", SYMBOL)


def run(coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Harness:
    """Consumes a LiveSource's stream in a task; records events, statuses and the error it ended with."""

    def __init__(self, source: LiveSource, clock: Clock) -> None:
        self.source = source
        self.clock = clock
        self.events: list[Event] = []
        self.statuses: list[tuple[str, str, int, int]] = []
        self.rejections = Rejections()
        self.error: MdxError | None = None
        source.on_status = self._on_status
        self.task = asyncio.create_task(self._consume())

    def _on_status(self, state: str, reason: str = "", attempt: int = 0, next_retry_ns: int = 0) -> None:
        self.statuses.append((state, reason, attempt, next_retry_ns))

    async def _consume(self) -> None:
        try:
            async for event in self.source.stream(self.clock, self.rejections):
                self.events.append(event)
        except MdxError as error:
            self.error = error

    def of(self, kind: type[T]) -> list[T]:
        return [event for event in self.events if isinstance(event, kind)]

    @property
    def state(self) -> str:
        return self.statuses[-1][0] if self.statuses else ""

    async def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 8.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if self.task.done() and not predicate():
                raise AssertionError(f"stream ended ({self.error!r}) while waiting for {what}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; statuses {self.statuses[-5:]}")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@asynccontextmanager
async def live(
    fake: FakeBinance, symbols: tuple[str, ...] = (SYMBOL,), clock: Clock | None = None, **kwargs: Any
) -> AsyncIterator[Harness]:
    options = kwargs.pop("exchange_options", None) or fake.ccxt_config()
    kwargs.setdefault("backoff", FAST)
    kwargs.setdefault("rng", random.Random(7))
    source = LiveSource("binance", symbols, exchange_options=options, **kwargs)
    harness = Harness(source, clock or LiveClock())
    try:
        yield harness
    finally:
        await harness.stop()


@asynccontextmanager
async def live_book(depth: int = 100, **kwargs: Any) -> AsyncIterator[tuple[FakeBinance, Harness]]:
    """A fake exchange with a BTCUSDT ladder around 100.0 and a live source that received its first book."""
    async with FakeBinance() as fake:
        fake.ladder("BTCUSDT", 100.0)
        async with live(fake, depth=depth, **kwargs) as h:
            await subscribed(fake)
            await h.wait(book_matches(h, fake, depth), "the initial book")
            yield fake, h


async def subscribed(fake: FakeBinance, symbol: str = "BTCUSDT") -> None:
    await fake.wait_subscribed(f"{symbol.lower()}@trade", f"{symbol.lower()}@depth@100ms")


def book_matches(h: Harness, fake: FakeBinance, depth: int) -> Callable[[], bool]:
    def check() -> bool:
        books = h.of(BookSnapshot)
        if not books or books[-1].seq != fake.books["BTCUSDT"].last_update_id:
            return False
        bids, asks = fake.top("BTCUSDT", depth)
        return list(books[-1].bids) == bids and list(books[-1].asks) == asks

    return check


# -- backoff ----------------------------------------------------------------------------------------


def test_backoff_grows_by_factor_is_jittered_within_bounds_and_capped() -> None:
    backoff = Backoff(initial=0.5, factor=2, cap=30, jitter=0.2)
    assert [backoff.base_delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.base_delay(10_000) == 30
    rng = random.Random(42)
    for attempt in range(1, 40):
        delay = backoff.delay(attempt, rng)
        base = backoff.base_delay(attempt)
        assert base * 0.8 <= delay <= min(base * 1.2, 30)
    again = [Backoff().delay(n, random.Random(3)) for n in range(1, 6)]
    assert again == [Backoff().delay(n, random.Random(3)) for n in range(1, 6)]
    assert Backoff(jitter=0).delay(3) == 2.0


@pytest.mark.parametrize(
    "kwargs", [{"initial": 0}, {"factor": 0.5}, {"cap": 0.1}, {"jitter": 1.0}, {"jitter": -0.1}]
)
def test_backoff_rejects_settings_that_cannot_work(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        Backoff(**kwargs)


def test_live_source_validates_its_arguments_and_never_shows_secrets() -> None:
    with pytest.raises(ConfigError, match=r"binanse.*did you mean.*binance"):
        LiveSource("binanse", [SYMBOL])
    with pytest.raises(ConfigError, match="book_limit"):
        LiveSource("binance", [SYMBOL], depth=100, book_limit=50)
    source = LiveSource(
        "binance", [SYMBOL, SYMBOL], exchange_options={"apiKey": "KEY-123", "secret": "S3CR3T"}
    )
    assert source.symbols == (SYMBOL,) and source.name == source.exchange == "binance"
    assert source.on_status is None
    text = repr(source)
    assert "KEY-123" not in text and "S3CR3T" not in text and "apiKey" in text
    assert source.redact("auth failed for KEY-123 / S3CR3T") == "auth failed for *** / ***"


# -- data -------------------------------------------------------------------------------------------


def test_trades_arrive_as_normalized_trades_with_the_fakes_ids_and_prices() -> None:
    async def main() -> None:
        async with FakeBinance() as fake, live(fake) as h:
            await subscribed(fake)
            sent = [
                await fake.push_trade("BTCUSDT", 61837.63, 0.02, buyer_is_maker=True, trade_id=3735683259),
                await fake.push_trade("BTCUSDT", 61837.64, 0.5, buyer_is_maker=False),
            ]
            await h.wait(lambda: len(h.of(Trade)) == 2, "two trades")
            first, second = h.of(Trade)
            assert first == Trade(
                "binance",
                SYMBOL,
                sent[0]["T"] * 1_000_000,
                first.ts_recv,
                "3735683259",
                61837.63,
                0.02,
                "sell",
            )
            assert (second.id, second.price, second.amount, second.side) == (
                "3735683260",
                61837.64,
                0.5,
                "buy",
            )
            assert second.ts_recv >= first.ts_recv > 0
            assert h.state == "connected" and h.rejections.total == 0

    run(main())


def test_book_snapshots_and_quotes_reproduce_the_fakes_book() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0, levels=50)
            async with live(fake, depth=5) as h:
                await subscribed(fake)
                await h.wait(book_matches(h, fake, 5), "the initial snapshot")
                await fake.push_depth("BTCUSDT", bids=[(99.75, 2.0), (99.5, 0.0)], asks=[(100.5, 7.0)])
                await fake.push_depth("BTCUSDT", asks=[(100.25, 0.3)])
                await h.wait(book_matches(h, fake, 5), "the book after two diffs")
                last = h.of(BookSnapshot)[-1]
                assert len(last.bids) == len(last.asks) == 5
                assert type(last.bids) is type(last.asks) is CheckedLevels  # the session's book trusts them
                assert last.bids[0] == (99.75, 2.0) and last.asks[0] == (100.25, 0.3)
                quote = h.of(Quote)[-1]
                assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (99.75, 2.0, 100.25, 0.3)
                assert quote.seq == last.seq == fake.books["BTCUSDT"].last_update_id
                seqs = [book.seq for book in h.of(BookSnapshot)]
                assert seqs == sorted(set(seqs))  # one snapshot per update id, in order
            # the REST snapshot asked for ccxt's default 1000 levels (ccxt truncates its book to the limit)
            assert [q.get("limit") for p, q in fake.requests if p == "/api/v3/depth"] == ["1000"]

    run(main())


def test_book_sides_are_checked_once_at_the_source() -> None:
    """ccxt's sides become ``CheckedLevels`` (the book takes them without a second check); a side with bad
    levels keeps its good ones in order, counted; a side out of order is handed on plain, for the book to
    check."""
    source = LiveSource("binance", [SYMBOL], depth=3)
    side = [[100.0, 1.0], [99.0, 2.0], [98.0, 3.0], [97.0, 4.0]]
    top, bad = source.book_levels(side, descending=True)
    assert type(top) is CheckedLevels and top == ((100.0, 1.0), (99.0, 2.0), (98.0, 3.0)) and bad == 0
    with_bad = [[100.0, float("nan")], [99.0, 2.0], ["x", 1.0], [98.0, 3.0]]
    top, bad = source.book_levels(with_bad, descending=True)
    assert type(top) is CheckedLevels and top == ((99.0, 2.0), (98.0, 3.0)) and bad == 2
    top, bad = source.book_levels([[100.0, 1.0], [99.0, 2.0]], descending=False)  # asks must rise
    assert type(top) is tuple and top == ((100.0, 1.0), (99.0, 2.0)) and bad == 0
    book = OrderBook("binance", SYMBOL)  # the book orders a plain side itself, and its views follow it
    book.apply(BookSnapshot("binance", SYMBOL, 1, 1, 1, ((98.0, 1.0),), top))
    assert book.best_ask == (99.0, 2.0) and book.view(50).ask_levels == ((99.0, 2.0), (100.0, 1.0))


# -- failures ---------------------------------------------------------------------------------------


def test_a_disconnect_reports_reconnecting_then_connected_and_data_resumes() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            async with live(fake) as h:
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 100.1, 1.0)
                await h.wait(lambda: len(h.of(Trade)) == 1 and h.state == "connected", "first trade")
                before = h.clock.now_ns()
                assert await fake.disconnect() == 2
                await h.wait(lambda: h.state == "reconnecting", "reconnecting")
                _, reason, attempt, next_retry_ns = h.statuses[-1]
                assert "closed by remote server" in reason and "binance" in reason
                assert attempt == 1 and before < next_retry_ns <= before + int(0.2e9)
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 100.2, 2.0)
                await h.wait(lambda: len(h.of(Trade)) == 2, "a trade after the reconnect")
                # each stream is back once it delivered again: the book (new snapshot) and the trades
                await h.wait(lambda: h.state == "connected", "connected again")
                assert h.of(Trade)[-1].price == 100.2 and fake.ws_opened == 4

    run(main())


def test_http_429_backs_off_with_growing_jittered_capped_delays() -> None:
    async def main() -> None:
        clock = SimulatedClock(1_000_000_000)  # backoff sleeps jump this clock: no real waiting
        backoff = Backoff(initial=0.01, factor=2.0, cap=0.05, jitter=0.2)
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            fake.retry_after = None  # the schedule alone (a Retry-After is honoured: the test below)
            fake.fail_rest("/api/v3/exchangeInfo", times=6, status=429)
            async with live(fake, clock=clock, backoff=backoff, rng=random.Random(11)) as h:
                await h.wait(lambda: h.state == "connected", "connected after the 429s")
                retries = [s for s in h.statuses if s[0] == "reconnecting"]
                assert [s[2] for s in retries] == [1, 2, 3, 4, 5, 6]
                assert all("DDoSProtection" in s[1] and "429" in s[1] for s in retries)
                times = [1_000_000_000] + [s[3] for s in retries]
                delays = [(b - a) / 1e9 for a, b in itertools.pairwise(times)]
                rng = random.Random(11)
                expected = [backoff.delay(n, rng) for n in range(1, 7)]
                assert delays == pytest.approx(expected, abs=1e-9)
                assert delays[0] < delays[1] < delays[2]  # 0.01, 0.02, 0.04 (+-20 %)
                assert all(d <= 0.05 for d in delays) and delays[-1] >= 0.04  # then capped
                assert h.statuses[0][0] == "connecting"
                # the depth snapshot rate-limited too: ccxt retries it 3 times at once, then mdx backs off
                fake.fail_rest("/api/v3/depth", times=4, status=429)
                await fake.disconnect()
                await h.wait(
                    lambda: any("watch_order_book" in s[1] and "DDoSProtection" in s[1] for s in h.statuses),
                    "a rate-limited depth snapshot",
                )
                await h.wait(book_matches(h, fake, 100), "the book after the rate limit")

    run(main())


def test_a_retry_after_is_waited_at_least() -> None:
    async def main() -> None:
        clock = SimulatedClock(1_000_000_000)
        backoff = Backoff(initial=0.01, factor=2.0, cap=0.05, jitter=0.2)
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            fake.retry_after = "7"
            fake.fail_rest("/api/v3/exchangeInfo", times=2, status=429)
            async with live(fake, clock=clock, backoff=backoff, rng=random.Random(11)) as h:
                await h.wait(lambda: h.state == "connected", "connected after the 429s")
                retries = [s for s in h.statuses if s[0] == "reconnecting"]
                assert len(retries) == 2 and all("asked to wait 7 s" in s[1] for s in retries)
                times = [1_000_000_000] + [s[3] for s in retries]
                assert [(b - a) / 1e9 for a, b in itertools.pairwise(times)] == [7.0, 7.0]

    run(main())


def test_max_attempts_gives_up_with_source_unavailable() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.fail_rest("/api/v3/exchangeInfo", times=5, status=503)
            async with live(fake, clock=SimulatedClock(), max_attempts=2) as h:
                await h.task
                assert isinstance(h.error, SourceUnavailable) and "gave up after 2 retries" in str(h.error)
                assert [s[0] for s in h.statuses] == ["connecting", "reconnecting", "reconnecting", "error"]
                assert fake.requests.count(("/api/v3/exchangeInfo", {})) == 3

    run(main())


def test_an_unknown_symbol_is_said_and_left_out_while_the_others_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            async with live(fake, symbols=(SYMBOL, "DOGE/EUR")) as h:
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 100.5, 0.1)
                await h.wait(lambda: len(h.of(Trade)) == 1, "a trade of the listed symbol")
                assert h.error is None and h.source.unknown_symbols == ("DOGE/EUR",)
                assert h.rejections.by_reason["UnknownSymbol"] == 1
                said = h.rejections.last_message["UnknownSymbol"]
                assert "'DOGE/EUR' is not listed on binance" in said and "streaming BTC/USDT" in said
            assert any("DOGE/EUR" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)

    run(main())


def test_no_listed_symbol_raises_unknown_symbol_naming_each_and_the_closest_match() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            async with live(fake, symbols=("DOGE/EUR", "BTCUSDT")) as h:
                await h.task
                assert isinstance(h.error, UnknownSymbol)
                assert "'DOGE/EUR'" in str(h.error) and "binance" in str(h.error)
                assert "did you mean 'BTC/USDT'" in str(h.error)
                assert h.statuses[-1][0] == "error" and "DOGE/EUR" in h.statuses[-1][1]
            assert fake.ws_opened == 0

    run(main())


def test_refused_websocket_handshakes_are_retried_with_backoff() -> None:
    async def main() -> None:
        async with live_book() as (fake, h):
            fake.refuse_ws = 4  # HTTP 503 on the next four handshakes
            await fake.disconnect()
            await h.wait(lambda: fake.refuse_ws == 0, "four refused handshakes")
            await subscribed(fake)
            await fake.push_trade("BTCUSDT", 100.3, 1.0)
            await h.wait(lambda: h.state == "connected" and len(h.of(Trade)) == 1, "recovered")
            retries = [s for s in h.statuses if s[0] == "reconnecting"]
            assert max(s[2] for s in retries) >= 2 and any("503" in s[1] for s in retries)

    run(main())


def test_an_auth_error_is_a_clear_source_error_and_secrets_stay_out_of_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            options = fake.ccxt_config(apiKey="KEY-123", secret="S3CR3T-456")
            async with live(fake, exchange_options=options) as h:
                await h.task
                assert isinstance(h.error, SourceError) and not isinstance(h.error, UnknownSymbol)
                message = str(h.error)
                assert "AuthenticationError" in message and "Invalid API-key" in message
                assert "KEY-123" not in message and "***" in message
                # the ccxt error it replaces quotes the key: it is not kept as __cause__ or __context__
                assert h.error.__cause__ is None and h.error.__context__ is None
                assert h.statuses[-1][0] == "error" and "KEY-123" not in h.statuses[-1][1]
                assert "S3CR3T" not in repr(h.source)

    with caplog.at_level("DEBUG"):
        run(main())
    assert any(r.name == "ccxt.base.exchange" for r in caplog.records)  # ccxt logs request headers...
    assert not any(
        "KEY-123" in r.getMessage() or "S3CR3T" in r.getMessage() for r in caplog.records
    )  # masked


def test_malformed_frames_are_counted_and_never_stop_the_stream() -> None:
    async def main() -> None:
        # no server pings: the watchdog probes quiet connections
        async with live_book(stall_timeout=1.0) as (fake, h):

            async def trade_gets_through(price: float) -> None:
                await h.wait(lambda: fake.subscribed("btcusdt@trade"), "trade subscription")
                await fake.push_trade("BTCUSDT", price, 1.0)
                await h.wait(lambda: any(t.price == price for t in h.of(Trade)), f"trade at {price}")

            bad_trade = '{"e":"trade","E":1,"s":"BTCUSDT","t":%d,"p":%s,"q":"1","T":1,"m":false}'
            await fake.send_raw("not json at all", "btcusdt@trade")
            await fake.send_raw(bad_trade % (900, "null"), "btcusdt@trade")  # price None: rejected
            await trade_gets_through(101.0)
            assert h.rejections.by_reason["InvalidValue"] == 1
            # "NaN" makes ccxt's parser raise inside its receive callback: that connection goes silent;
            # the stall watchdog fails it and the watcher reconnects
            await fake.send_raw(bad_trade % (901, '"NaN"'), "btcusdt@trade")
            await fake.send_raw('{"e":"trade","s":"BTCUSDT",', "btcusdt@trade")  # truncated JSON
            deadline = asyncio.get_running_loop().time() + 8
            while not any(t.price == 102.0 for t in h.of(Trade)):
                assert asyncio.get_running_loop().time() < deadline, h.statuses[-3:]
                if fake.subscribed("btcusdt@trade"):
                    await fake.push_trade("BTCUSDT", 102.0, 1.0)
                await asyncio.sleep(0.05)
            stalls = [s[1] for s in h.statuses if "stalled" in s[1]]
            assert stalls and all("watch_trades" in reason for reason in stalls)  # the quiet book's
            # connection answered the watchdog's ping, so it was left alone
            # a depth level ccxt cannot parse: a counted MalformedFrame, then a resync
            u = fake.books["BTCUSDT"].last_update_id + 1
            await fake.send_raw(
                f'{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":{u},"u":{u},"b":[["abc","1"]],"a":[]}}',
                "btcusdt@depth@100ms",
            )
            await h.wait(lambda: h.rejections.by_reason["MalformedFrame"] >= 1, "a MalformedFrame rejection")
            await h.wait(lambda: fake.depth_requests("BTCUSDT") >= 2, "a new depth snapshot")
            await fake.push_depth("BTCUSDT", bids=[(99.9, 4.0)])
            await h.wait(book_matches(h, fake, 100), "the book after the resync")
            assert not h.task.done()
            assert all(t.price > 0 for t in h.of(Trade))

    run(main())


def test_a_sequence_gap_resyncs_the_book_from_a_new_rest_snapshot() -> None:
    async def main() -> None:
        async with live_book(depth=10) as (fake, h):
            await fake.gap("BTCUSDT")  # the book changes, the diff is never sent
            await fake.push_depth("BTCUSDT", asks=[(100.5, 9.0)])
            await h.wait(lambda: h.state == "reconnecting", "a resync")
            assert "ChecksumError" in h.statuses[-1][1]
            await h.wait(book_matches(h, fake, 10), "the book after the resync")
            assert fake.depth_requests("BTCUSDT") == 2
            assert h.of(BookSnapshot)[-1].bids[0] == (99.5, 1.5)  # the change the gap hid
            await h.wait(lambda: h.state == "connected", "connected")

    run(main())


def test_duplicate_frames_give_one_event_each() -> None:
    async def main() -> None:
        async with live_book() as (fake, h):
            await fake.push_depth("BTCUSDT", bids=[(99.8, 1.0)], duplicate=True)
            await fake.push_trade("BTCUSDT", 100.1, 1.0, duplicate=True)
            await fake.push_trade("BTCUSDT", 100.2, 1.0)
            await h.wait(lambda: len(h.of(Trade)) == 2, "two trades")
            await h.wait(book_matches(h, fake, 100), "the book")
            assert [t.id for t in h.of(Trade)] == ["1", "2"]
            assert h.rejections.by_reason["DuplicateTrade"] == 1
            seqs = [b.seq for b in h.of(BookSnapshot)]
            assert len(seqs) == len(set(seqs))

    run(main())


def test_stopping_the_stream_closes_the_exchange_websockets() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            source = LiveSource("binance", [SYMBOL, "ETH/USDT"], exchange_options=fake.ccxt_config())
            stream = source.stream(LiveClock(), Rejections())
            assert isinstance(await anext(stream), BookSnapshot | Quote | Trade)
            await subscribed(fake, "ETHUSDT")
            assert fake.open_connections == 4
            await stream.aclose()  # the consumer stops
            await fake.wait_until(lambda: fake.ws_closed == fake.ws_opened == 4, what="websockets closed")
            # and when the consuming task is cancelled
            async with live(fake) as h:
                await subscribed(fake)
                await h.wait(lambda: len(h.events) > 0, "an event")
            await fake.wait_until(lambda: fake.ws_closed == fake.ws_opened == 6, what="websockets closed")
            assert fake.open_connections == 0

    run(main())


# -- through the session ----------------------------------------------------------------------------


def test_a_session_over_the_live_source_keeps_its_book_in_sync_with_the_fake() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0, levels=30)
            source = LiveSource("binance", [SYMBOL], exchange_options=fake.ccxt_config(), depth=50)
            session = Session(source, timeframes=("1m",), book_view_interval_ms=0)

            async def expect(count: int) -> None:
                await fake.wait_until(lambda: session.events_processed >= count, what=f"{count} events")

            async def drive() -> None:
                await subscribed(fake)
                await expect(2)  # initial snapshot + quote
                await fake.push_depth("BTCUSDT", bids=[(99.75, 2.0)])  # new best bid: snapshot + quote
                await expect(4)
                await fake.push_depth("BTCUSDT", asks=[(110.0, 0.0), (109.25, 3.0)])  # deep: snapshot
                await expect(5)
                await fake.push_trade("BTCUSDT", 99.75, 0.5, buyer_is_maker=True)
                await fake.push_trade("BTCUSDT", 100.5, 0.25)

            driver = asyncio.create_task(drive())
            await session.run(max_events=7)
            await driver
            book = session.books[KEY]
            bids, asks = fake.top("BTCUSDT", 50)
            view = book.view(50)
            assert book.in_sync and view.seq == fake.books["BTCUSDT"].last_update_id
            assert [tuple(level) for level in view.bids.tolist()] == bids
            assert [tuple(level) for level in view.asks.tolist()] == asks
            assert session.cache.trade(KEY).price == 100.5
            assert session.rejections.total == 0 and session.status.state == "done"
            await fake.wait_until(lambda: fake.open_connections == 0, what="the source closed")

    run(main())


# -- recorded frames --------------------------------------------------------------------------------


@pytest.mark.data
def test_recorded_binance_frames_reach_the_source_book_and_trades_intact(shared_data: Path) -> None:
    recording = FakeBinance.load_recording(
        shared_data / "binance-spot-l2-trades" / "btcusdt_20240808.gz", max_lines=4000
    )

    async def main() -> None:
        async with FakeBinance() as fake:
            fake.use_recording(recording)
            async with live(fake, depth=20) as h:
                await subscribed(fake)
                await h.wait(book_matches(h, fake, 20), "the recorded snapshot")
                sent = await fake.play(recording)
                assert sent > 500
                await h.wait(lambda: len(h.of(Trade)) == len(recording.trade_ids), "every recorded trade")
                await h.wait(book_matches(h, fake, 20), "the book after the recorded diffs")
                assert [int(t.id) for t in h.of(Trade)] == recording.trade_ids
                assert h.rejections.total == 0 and h.state == "connected"
                last = h.of(BookSnapshot)[-1]
                assert last.bids[0][0] < last.asks[0][0]

    run(main())
