"""The session wires a source to books, bars, cache and hub, three ways: awaited, threaded, synchronous."""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mdx.clock import Clock, LiveClock, SimulatedClock
from mdx.consumer import Consumer
from mdx.errors import ConfigError, DataError, InvalidValue, SourceError
from mdx.events import BookDelta, BookSnapshot, Event, Quote, Trade, register_event
from mdx.io.recording import read_recording, write_recording
from mdx.session import Session
from mdx.sources.base import paced
from mdx.stats import Rejections

S = 1_000_000_000
T0 = 1_700_000_000 * S  # 2023-11-14 22:13:20 UTC, a whole minute boundary + 20 s
EX, SYM = "sim", "BTC/USDT"


class ListSource:
    """An offline source over a fixed list of events."""

    name = "list"
    exchange = EX
    symbols = (SYM,)
    endless = False

    def __init__(self, events: list[Event], speed: float = 0.0) -> None:
        self.events = events
        self.speed = speed

    def iter_events(self, rejections: Rejections) -> Iterator[Event]:
        return iter(self.events)

    def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        return paced(self.events, clock, self.speed)


def market(n_trades: int = 200) -> list[Event]:
    events: list[Event] = [
        BookSnapshot(EX, SYM, T0, T0, 100, ((100.0, 1.0), (99.0, 2.0)), ((101.0, 1.5), (102.0, 3.0)))
    ]
    seq = 100
    for i in range(n_trades):
        ts = T0 + i * S // 2  # two trades a second: 100 s of market
        price = 100.0 + (i % 7) - 3
        events.append(Trade(EX, SYM, ts, ts + 1000, str(i), price, 0.1 + i % 3, "buy" if i % 2 else "sell"))
        if i % 10 == 0:
            seq += 1
            events.append(BookDelta(EX, SYM, ts, ts + 1000, seq, seq, ((100.0, 1.0 + i / 100),), ()))
            events.append(Quote(EX, SYM, ts, ts + 1000, seq, 100.0, 1.0 + i / 100, 101.0, 1.5))
    return events


def test_run_until_done_feeds_books_bars_cache_and_hub() -> None:
    events = market()
    session = Session(ListSource(events), timeframes=("1m", "10s"), clock=SimulatedClock())
    topics: list[str] = []
    session.hub.subscribe("bars.*", lambda topic, bar: topics.append(topic))
    session.run_until_done()

    key = (EX, SYM)
    assert session.events_processed == len(events)
    assert session.rejections.total == 0
    book = session.books[key]
    assert book.in_sync and book.best_bid == (100.0, 1.0 + 190 / 100) and book.best_ask == (101.0, 1.5)
    assert session.cache.quote(key) == [e for e in events if isinstance(e, Quote)][-1]
    last_trade = session.cache.trade(key)
    assert last_trade is not None and last_trade.id == "199"
    bars_10s = session.cache.bars(key, "10s")
    assert [b.ts_event for b in bars_10s] == [T0 + i * 10 * S for i in range(len(bars_10s))]
    assert all(b.count == 20 for b in bars_10s) and len(bars_10s) == 9  # the 10th bar is still open
    assert session.cache.open_bar(key, "10s").count == 20
    assert topics.count(f"bars.{EX}.{SYM}.10s") == 9 and topics.count(f"bars.{EX}.{SYM}.1m") == 1
    assert session.status.state == "done"
    view = session.cache.book(key)
    assert view.in_sync and math.isclose(view.mid, 100.5)


def test_bad_events_are_counted_and_the_pipeline_keeps_going() -> None:
    events = market(40)
    events.insert(5, Trade(EX, SYM, T0 + 2 * S, T0 + 2 * S, "nan", float("nan"), 1.0, "buy"))
    events.insert(6, Trade(EX, SYM, T0 + 2 * S, T0 + 2 * S, "neg", 100.0, -1.0, "buy"))
    events.insert(6, Trade(EX, SYM, T0 + 2 * S, T0 + 2 * S, "big", 1e300, 1e10, "buy"))  # notional overflows
    events.insert(8, events[1])  # a duplicated trade frame (trade "0")
    events.insert(7, BookDelta(EX, "ETH/USDT", T0, T0, 5, 5, ((1.0, 1.0),), ()))  # delta before any snapshot
    events.append(BookDelta(EX, SYM, T0 + 30 * S, T0 + 30 * S, 500, 500, ((100.0, 1.0),), ()))  # a gap
    session = Session(ListSource(events), timeframes=("1m",), clock=SimulatedClock()).run_until_done()
    assert session.rejections.by_reason["InvalidValue"] == 3
    cached_ids = {t.id for t in session.cache.trades((EX, SYM))}
    assert {"nan", "neg", "big"}.isdisjoint(cached_ids) and "39" in cached_ids  # rejected before caching
    assert session.rejections.by_reason["BookOutOfSync"] == 2
    assert session.rejections.by_reason["DuplicateTrade"] == 1
    assert not session.books[(EX, SYM)].in_sync  # a gap is never silently wrong
    assert session.cache.book((EX, SYM)).in_sync is False
    assert session.cache.trade((EX, SYM)).id == "39"  # trades after the bad ones still arrived


def test_awaited_run_on_the_callers_loop_paces_with_the_clock() -> None:
    events = market(20)  # 10 s of market
    clock = SimulatedClock(T0)
    session = Session(ListSource(events, speed=1.0), clock=clock)
    asyncio.run(session.run())
    assert session.events_processed == len(events)
    assert clock.now_ns() - T0 == pytest.approx(events[-1].ts_recv - events[0].ts_recv, abs=1)


def test_background_thread_runs_while_the_caller_is_idle_and_stops_cleanly() -> None:
    events = market(2000)  # 1000 s of market at 100x: about ten seconds, stopped long before the end
    session = Session(ListSource(events, speed=100.0), clock=LiveClock()).start()
    try:
        assert session.running
        assert session.wait_for(lambda: session.events_processed > 100, timeout=30)
        first = session.events_processed
        assert first < len(events)  # still going, so there is progress left to see
        # the caller does nothing but watch; the engine keeps going
        assert session.wait_for(lambda: session.events_processed > first, timeout=30), (
            f"no progress past {first} events"
        )
    finally:
        session.stop()
    assert not session.running and session.status.state == "stopped"
    stopped_at = session.events_processed  # the thread has ended (stop() joined it): nothing counts now
    session.stop()  # again: joins the already finished thread
    assert not session.running and session.events_processed == stopped_at


def test_run_until_done_refuses_endless_sources_without_a_limit() -> None:
    source = ListSource(market(5))
    source.endless = True  # type: ignore[misc]
    with pytest.raises(ConfigError, match="never ends"):
        Session(source, clock=SimulatedClock()).run_until_done()
    assert Session(source, clock=SimulatedClock()).run_until_done(max_events=3).events_processed == 3


# -- consumers, event types, several sources, write-before-publish, threads ------------------------------


class CountTrades(Consumer):
    takes = (Trade,)

    def __init__(self) -> None:
        self.count = 0

    def on_event(self, event: Trade) -> None:
        self.count += 1


def test_a_consumer_plugs_in_without_touching_the_session() -> None:
    events = market(40)
    events.insert(3, events[1])  # a duplicated trade: the guard rejects it before our consumer sees it
    counter = CountTrades()
    session = Session(ListSource(events), clock=SimulatedClock(), consumers=[counter]).run_until_done()
    assert counter.count == 40 and session.rejections.by_reason["DuplicateTrade"] == 1
    with pytest.raises(ConfigError, match="not a consumer"):
        session.add(object())


@dataclass(frozen=True, slots=True)
class Funding:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    rate: float


register_event(Funding, "funding_test", "funding")


class FundingAlarm(Consumer):
    """Emits a derived event and rejects impossible ones: both through the session's one path."""

    takes = (Funding,)

    def on_event(self, event: Funding) -> None:
        if not -1.0 < event.rate < 1.0:
            raise InvalidValue(f"funding rate {event.rate}")


def test_a_new_event_type_is_one_registration(tmp_path: Path) -> None:
    fundings = [Funding(EX, SYM, T0 + i, T0 + i, 0.0001 * i) for i in range(3)]
    events: list[Any] = [*market(5), *fundings, Funding(EX, SYM, T0 + 9, T0 + 9, 5.0)]
    session = Session(ListSource(events), clock=SimulatedClock(), consumers=[FundingAlarm()])
    seen: list[tuple[str, Any]] = []
    session.hub.subscribe("funding.*", lambda topic, event: seen.append((topic, event)))
    session.run_until_done()
    assert session.cache.latest(Funding, (EX, SYM)) == fundings[-1]
    assert session.cache.history("funding_test", (EX, SYM)) == fundings
    assert seen == [(f"funding.{EX}.{SYM}", f) for f in fundings]
    assert session.rejections.by_reason["InvalidValue"] == 1
    path = tmp_path / "funding.mdx.jsonl.gz"
    write_recording(path, fundings)
    assert list(read_recording(path)) == fundings


def test_every_event_is_cached_before_it_is_published() -> None:
    session = Session(ListSource(market(200)), timeframes=("10s",), clock=SimulatedClock())
    cache, key = session.cache, (EX, SYM)
    checks: dict[str, int] = {}

    def check(topic: str, event: Any) -> None:
        root = topic.split(".")[0]
        latest = {
            "trades": lambda: cache.trade(key),
            "quotes": lambda: cache.quote(key),
            "book_views": lambda: cache.book(key),
            "bars": lambda: cache.bars(key, "10s")[-1],
            "bar_open": lambda: cache.open_bar(key, "10s"),
        }.get(root)
        if latest is not None:
            assert latest() is event, topic
            checks[root] = checks.get(root, 0) + 1
        else:  # an accepted book event: the view its snapshot produced is already there
            assert cache.book(key) is not None and cache.book(key).seq <= event.seq

    session.hub.subscribe("*", check)
    session.run_until_done()
    assert checks["trades"] == 200 and checks["bars"] == 9 and checks["bar_open"] == 200
    assert checks["book_views"] >= 1 and checks["quotes"] == 20


def test_a_stream_of_book_snapshots_is_throttled_like_deltas() -> None:
    """ccxt's live books arrive as one snapshot per update: views still come at most every 100 ms."""
    bids, asks = ((100.0, 1.0),), ((101.0, 1.0),)
    snapshots = [BookSnapshot(EX, SYM, T0 + i * 10_000_000, T0, 100 + i, bids, asks) for i in range(100)]
    session = Session(ListSource(snapshots), clock=SimulatedClock())
    views: list[Any] = []
    session.hub.subscribe("book_views.*", lambda topic, view: views.append(view))
    session.run_until_done()
    assert [v.seq for v in views] == list(range(100, 200, 10))  # one per 100 ms of event time


class FailingSource:
    """A live source whose exchange refuses us at once."""

    name = "broken"
    exchange = "broken"
    symbols = ("XYZ/USDT",)

    def __init__(self) -> None:
        self.on_status: Any = None

    async def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        raise SourceError("broken: exchange refused the connection")
        yield  # pragma: no cover - makes this an async generator


def test_several_sources_run_together_each_with_its_own_status() -> None:
    other = [
        Trade("replay", "ETH/USDT", T0 + i * S, T0 + i * S, str(i), 3000.0 + i, 1.0, "buy") for i in range(30)
    ]
    first, second = ListSource(market(50)), ListSource(other)
    second.name, second.exchange, second.symbols = "list2", "replay", ("ETH/USDT",)  # type: ignore[misc]
    session = Session([first, second, FailingSource()], clock=SimulatedClock(T0))
    asyncio.run(session.run())
    assert (
        session.cache.trade((EX, SYM)).id == "49" and session.cache.trade(("replay", "ETH/USDT")).id == "29"
    )
    assert {name: s.state for name, s in session.statuses.items()} == {
        "list": "done",
        "list2": "done",
        "broken": "error",
    }
    summary = session.status
    assert summary.state == "error" and summary.source == "list+list2+broken"
    assert "broken: error (broken: exchange refused the connection)" in summary.reason
    assert session.symbols == (SYM, "ETH/USDT", "XYZ/USDT")
    synchronous = Session([ListSource(market(50)), second], clock=SimulatedClock()).run_until_done()
    assert synchronous.events_processed == len(market(50)) + 30  # merged by receive time
    with pytest.raises(SourceError, match="refused"):  # every source failed: run() says why
        asyncio.run(Session(FailingSource(), clock=SimulatedClock()).run())


def test_other_threads_read_only_immutable_values_while_the_engine_runs() -> None:
    from mdx.sources.sim import Simulator

    session = Session(Simulator(("BTC/USDT", "ETH/USDT"), speed=math.inf), timeframes=("1s",)).start()
    key = ("sim", "BTC/USDT")
    errors: list[BaseException] = []
    reads = 0
    try:
        assert session.wait_for(lambda: session.cache.book(key) is not None, timeout=30)
        while reads < 20_000 and session.running:
            try:
                view = session.cache.book(key)
                assert view.bids[0, 0] < view.asks[0, 0] and not view.bids.flags.writeable
                bars = session.cache.bars(key, "1s", include_open=True)
                assert all(a.ts_event < b.ts_event for a, b in itertools.pairwise(bars))
                trades = session.cache.trades(key, 50)
                assert all(isinstance(t, Trade) for t in trades)
            except Exception as error:  # collected: the assertion below shows the first
                errors.append(error)
            reads += 1
        processed = session.events_processed
    finally:
        session.stop()
    assert errors == [] and reads == 20_000 and processed > 0


# -- the engine tells the truth: stops that did not happen, crashes, consumers' failures, drops ----------


class Blocker(Consumer):
    """A consumer that blocks the engine's thread on its first trade until the test releases it."""

    takes = (Trade,)

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def on_event(self, event: Trade) -> None:
        self.entered.set()
        self.release.wait(60)


class LiveLike:
    """A source with only ``stream`` (no ``iter_events``): the session treats it as live."""

    name = "livelike"
    exchange = EX
    symbols = (SYM,)

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.on_status: Any = None


class BlockingSource(LiveLike):
    """A source whose stream blocks the engine's thread (a synchronous call inside a coroutine)."""

    name = "blocking"

    def __init__(self) -> None:
        super().__init__(market(5))
        self.entered = threading.Event()
        self.release = threading.Event()

    async def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        yield self.events[0]
        self.entered.set()
        self.release.wait(60)
        for event in self.events[1:]:
            yield event


@pytest.mark.parametrize("blocked_in", ["consumer", "source"])
def test_stop_says_so_when_the_engine_does_not_stop(blocked_in: str) -> None:
    blocker, consumers, where = Blocker(), [], "Blocker.on_event"
    source: Any = ListSource(market(50))
    if blocked_in == "consumer":
        consumers.append(blocker)
    else:
        source = blocker = BlockingSource()
        where = "BlockingSource.stream"
    session = Session(source, clock=SimulatedClock(T0), consumers=consumers).start()
    try:
        assert blocker.entered.wait(30)
        assert session.stop(timeout=0.05) is False  # the engine is blocked: no stop happened
        assert session.running
        status = session.status
        assert status.state == "error" and "engine did not stop within 0.05 s" in status.reason
        assert f"busy in {where}" in status.reason  # names what blocks it
        assert session.statuses[session.names[0]].state == "error"
    finally:
        blocker.release.set()
    assert session.stop(timeout=30) is True  # the block ends, the cancellation goes through
    assert not session.running and session.status.state == "stopped" and session.status.reason == ""


class QuietSource(LiveLike):
    """A live-like source that connects and then sends nothing."""

    name = "quiet"

    async def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        await asyncio.Event().wait()
        yield self.events[0]  # pragma: no cover


def test_stop_ends_an_awaited_run_on_another_thread_and_waits_for_it() -> None:
    session = Session(QuietSource([]), clock=SimulatedClock(T0))
    ended: list[str] = []
    runner = threading.Thread(target=lambda: (asyncio.run(session.run()), ended.append("returned")))
    runner.start()
    assert session.wait_for(lambda: session.running and session.status.state == "connecting", timeout=30)
    assert session.stop(timeout=30) is True  # once said a stop it had not waited for
    runner.join(30)
    assert ended == ["returned"] and not session.running and session.status.state == "stopped"


def test_stop_from_the_engines_own_loop_cannot_wait_and_says_so() -> None:
    session = Session(QuietSource([]), clock=SimulatedClock(T0))

    async def main() -> bool:
        run = asyncio.create_task(session.run())
        while not session.running:
            await asyncio.sleep(0)
        stopped = session.stop()
        await run  # ends normally at its next await
        return stopped

    assert asyncio.run(main()) is False
    assert not session.running and session.status.state == "stopped"


class CrashingSource(ListSource):
    """A source with a bug: a few events, then an exception that is not an MdxError."""

    name = "crashing"

    def iter_events(self, rejections: Rejections) -> Iterator[Event]:
        yield from self.events[:5]
        raise RuntimeError("bug in the source")


def test_a_crash_in_the_engine_thread_is_an_error_not_connected_then_stale(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = SimulatedClock(T0)
    session = Session(CrashingSource(market(20)), clock=clock, stale_after_s=5).start()
    assert session.wait_for(lambda: not session.running, timeout=30)
    clock.advance(3600 * S)  # once "connected", then "stale": never the truth
    status = session.status
    assert status.state == "error" and "RuntimeError: bug in the source" in status.reason
    assert session.events_processed == 5
    assert any(
        "bug in the source" in r.getMessage() and "Traceback" in r.getMessage() for r in caplog.records
    )
    assert session.stop() is True and session.status.state == "error"  # stop() keeps what happened

    awaited = Session(CrashingSource(market(20)), clock=SimulatedClock(T0))
    with pytest.raises(RuntimeError, match="bug in the source"):  # every source failed: run() says why
        asyncio.run(awaited.run())
    assert awaited.status.state == "error" and not awaited.running

    synchronous = Session(CrashingSource(market(20)), clock=SimulatedClock(T0))
    with pytest.raises(RuntimeError, match="bug in the source"):
        synchronous.run_until_done()
    assert synchronous.status.state == "error" and "bug in the source" in synchronous.status.reason


def test_a_crash_outside_any_source_still_ends_in_an_error_status() -> None:
    session = Session(ListSource(market(5)), clock=SimulatedClock(T0))

    async def broken(max_events: int | None, until_ns: int | None) -> None:
        raise RuntimeError("bug in the session")

    session._run = broken  # type: ignore[method-assign]  # the engine's own code failing
    session.start()
    assert session.wait_for(lambda: not session.running, timeout=30)
    assert session.status.state == "error" and "engine crashed: RuntimeError" in session.status.reason


class Broken(Consumer):
    takes = (Trade,)

    def on_event(self, event: Trade) -> None:
        raise ZeroDivisionError("division by zero in a consumer")


def test_a_broken_consumer_is_counted_where_the_monitor_shows_it(caplog: pytest.LogCaptureFixture) -> None:
    from mdx.config import Settings
    from mdx.ui.model import MonitorModel

    counter = CountTrades()
    session = Session(ListSource(market(40)), clock=SimulatedClock(), consumers=[Broken(), counter])
    session.run_until_done()
    assert session.consumer_errors == 40 and session.rejections.by_reason["ConsumerError"] == 40
    assert (
        "Broken.on_event failed on Trade: ZeroDivisionError"
        in session.rejections.last_message["ConsumerError"]
    )
    assert counter.count == 40 and session.cache.trade((EX, SYM)).id == "39"  # the feed went on
    logged = [r for r in caplog.records if "ConsumerError" in r.getMessage()]
    assert len(logged) == 3 and all(r.exc_info for r in logged)  # the first few, with the traceback
    info = MonitorModel(Settings(symbols=(SYM,)), session=session).frame(force=True).info
    assert info.rejected == 40 and info.rejected_reason == "ConsumerError"


class Implausible(DataError):
    """A new kind of rejection, as the market consumers add them."""


class Derived(Consumer):
    """Emits a derived event for every trade; the consumer after it rejects some of those."""

    takes = (Trade,)

    def on_event(self, event: Trade) -> None:
        self.emit(Funding(event.exchange, event.symbol, event.ts_event, event.ts_recv, float(event.id)))


class RejectOdd(Consumer):
    takes = (Funding,)

    def on_event(self, event: Funding) -> None:
        if event.rate % 2:
            raise Implausible(f"odd {event.rate}")


class FlushFails(Consumer):
    takes = (Trade,)

    def __init__(self, error: Exception) -> None:
        self.error = error

    def on_event(self, event: Trade) -> None:
        pass

    def close(self) -> None:
        raise self.error


class BadFrameSource(ListSource):
    """A source whose reader raises a DataError mid-stream (a strict reader)."""

    name = "strict"

    def iter_events(self, rejections: Rejections) -> Iterator[Event]:
        yield self.events[0]
        raise InvalidValue("price NaN in line 2")


def test_every_dropped_item_is_counted_by_the_session() -> None:
    consumers = [
        Derived(),
        RejectOdd(),
        FlushFails(Implausible("late at close")),
        FlushFails(OSError("disk")),
    ]
    session = Session(ListSource(market(10)), clock=SimulatedClock(), consumers=consumers)
    session.run_until_done()
    by_reason = session.rejections.by_reason
    assert by_reason["Implausible"] == 5 + 1  # derived events rejected, and the one a close() dropped
    assert by_reason["ConsumerError"] == 1 and "close" in session.rejections.last_message["ConsumerError"]
    assert session.status.state == "done"  # every consumer was closed, whatever the others did
    assert [f.rate for f in session.cache.history("funding_test", (EX, SYM))] == [0.0, 2.0, 4.0, 6.0, 8.0]

    for run in ("awaited", "synchronous"):
        strict = Session(BadFrameSource(market(3)), clock=SimulatedClock())
        with pytest.raises(InvalidValue):
            asyncio.run(strict.run()) if run == "awaited" else strict.run_until_done()
        assert strict.rejections.by_reason["InvalidValue"] == 1, run  # the item it choked on
        assert strict.status.state == "error" and "price NaN" in strict.status.reason, run
