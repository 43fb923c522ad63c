"""The session wires a source to books, bars, cache and hub, three ways: awaited, threaded, synchronous."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from mdx.clock import Clock, LiveClock, SimulatedClock
from mdx.errors import ConfigError
from mdx.events import BookDelta, BookSnapshot, Event, Quote, Trade
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
    assert session.cache.latest("quote", key) == [e for e in events if isinstance(e, Quote)][-1]
    last_trade = session.cache.latest("trade", key)
    assert last_trade is not None and last_trade.id == "199"
    bars_10s = session.cache.history("bars.10s", key)
    assert [b.ts_event for b in bars_10s] == [T0 + i * 10 * S for i in range(len(bars_10s))]
    assert all(b.count == 20 for b in bars_10s) and len(bars_10s) == 9  # the 10th bar is still open
    assert session.cache.latest("bar_open.10s", key).count == 20
    assert topics.count(f"bars.{EX}.{SYM}.10s") == 9 and topics.count(f"bars.{EX}.{SYM}.1m") == 1
    assert session.status.state == "done"
    view = session.cache.latest("book", key)
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
    cached_ids = {t.id for t in session.cache.history("trades", (EX, SYM))}
    assert {"nan", "neg", "big"}.isdisjoint(cached_ids) and "39" in cached_ids  # rejected before caching
    assert session.rejections.by_reason["BookOutOfSync"] == 2
    assert session.rejections.by_reason["DuplicateTrade"] == 1
    assert not session.books[(EX, SYM)].in_sync  # a gap is never silently wrong
    assert session.cache.latest("book", (EX, SYM)).in_sync is False
    assert session.cache.latest("trade", (EX, SYM)).id == "39"  # trades after the bad ones still arrived


def test_awaited_run_on_the_callers_loop_paces_with_the_clock() -> None:
    events = market(20)  # 10 s of market
    clock = SimulatedClock(T0)
    session = Session(ListSource(events, speed=1.0), clock=clock)
    asyncio.run(session.run())
    assert session.events_processed == len(events)
    assert clock.now_ns() - T0 == pytest.approx(events[-1].ts_recv - events[0].ts_recv, abs=1)


def test_background_thread_runs_while_the_caller_is_idle_and_stops_cleanly() -> None:
    events = market(2000)  # 1000 s of market at 1000x: about a second
    session = Session(ListSource(events, speed=1000.0), clock=LiveClock()).start()
    try:
        assert session.running
        assert session.wait_for(lambda: session.events_processed > 100, timeout=5)
        first = session.events_processed
        time.sleep(0.2)  # the caller does nothing; the engine keeps going
        assert session.events_processed > first
    finally:
        session.stop()
    assert not session.running and session.status.state == "stopped"
    stopped_at = session.events_processed
    time.sleep(0.1)
    assert session.events_processed == stopped_at


def test_run_until_done_refuses_endless_sources_without_a_limit() -> None:
    source = ListSource(market(5))
    source.endless = True  # type: ignore[misc]
    with pytest.raises(ConfigError, match="never ends"):
        Session(source, clock=SimulatedClock()).run_until_done()
    assert Session(source, clock=SimulatedClock()).run_until_done(max_events=3).events_processed == 3
