"""A source that hands over a read at a time (``BatchSource``), and the garbage collector's settings."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from mdx import gc_tuning
from mdx.clock import Clock
from mdx.consumer import Consumer
from mdx.events import Bar, Event, Trade
from mdx.session import Session
from mdx.sources.base import BatchSource
from mdx.stats import Rejections
from tests.test_session import EX, SYM, ListSource, market

BATCH = 37  # trades of one read: batches cut across bar boundaries


class BatchedSource:
    """A live source whose reads bring ``size`` events each."""

    name = "batched"
    exchange = EX
    symbols = (SYM,)

    def __init__(self, events: list[Event], size: int = BATCH) -> None:
        self.reads = [events[i : i + size] for i in range(0, len(events), size)]
        self.on_status: Any = None

    async def batches(self, clock: Clock, rejections: Rejections) -> AsyncIterator[list[Event]]:
        for read in self.reads:
            await asyncio.sleep(0)
            yield list(read)

    async def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        for read in self.reads:
            for event in read:
                yield event


class Seen(Consumer):
    takes = (Trade, Bar)

    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)


def trades(n: int) -> list[Event]:
    return [e for e in market(n) if isinstance(e, Trade)]


def run(source: Any, **options: Any) -> tuple[Session, Seen]:
    seen = Seen()
    session = Session(source, timeframes=("5s", "1m"), consumers=[seen], **options)
    asyncio.run(session.run())
    return session, seen


def test_a_batch_source_is_read_a_batch_at_a_time_with_one_open_bar_per_batch() -> None:
    events = trades(400)
    source = BatchedSource(events)
    assert isinstance(source, BatchSource)
    batched, seen = run(source)
    offline, every = run(ListSource(events))

    assert batched.events_processed == offline.events_processed == len(events)
    assert [e for e in seen.events if isinstance(e, Trade)] == events
    closed = [e for e in seen.events if isinstance(e, Bar) and e.closed]
    assert closed == [e for e in every.events if isinstance(e, Bar) and e.closed]  # the same bars, in order
    for tf in ("5s", "1m"):  # the open bars: one per batch, each the state after the batch's last trade
        opened = [e for e in seen.events if isinstance(e, Bar) and not e.closed and e.timeframe == tf]
        assert len(opened) == len(source.reads)
        assert opened[-1] == batched.cache.open_bar((EX, SYM), tf) == offline.cache.open_bar((EX, SYM), tf)
    # each open bar comes after its batch's trades, and after a bar the batch closed
    last_trade = {id(e): i for i, e in enumerate(seen.events) if isinstance(e, Trade)}
    ends = [last_trade[id(read[-1])] for read in source.reads]
    opens = [i for i, e in enumerate(seen.events) if isinstance(e, Bar) and not e.closed]
    assert opens == [i for end in ends for i in (end + 1, end + 2)]


@pytest.mark.parametrize("limit", ["max_events", "until_ns"])
def test_a_limit_inside_a_batch_stops_at_the_event_and_still_sends_the_open_bars(limit: str) -> None:
    events = trades(300)
    stop_at = 2 * BATCH + 5  # inside the third batch
    options = {"max_events": stop_at} if limit == "max_events" else {"until_ns": events[stop_at - 1].ts_event}
    seen = Seen()
    session = Session(BatchedSource(events), timeframes=("1m",), consumers=[seen])
    asyncio.run(session.run(**options))
    assert session.events_processed == stop_at
    assert [e for e in seen.events if isinstance(e, Trade)] == events[:stop_at]
    last = seen.events[-1]
    assert isinstance(last, Bar) and not last.closed and last == session.cache.open_bar((EX, SYM), "1m")
    assert last.count == sum(1 for e in events[:stop_at] if e.ts_event >= last.ts_event)


@pytest.fixture
def gc_thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    assert gc_tuning.running() == 0
    yield saved
    gc.set_threshold(*saved)
    while gc_tuning.running():
        gc_tuning.release()


def test_settling_the_collector_raises_the_young_threshold_and_never_lowers_it(
    gc_thresholds: tuple[int, int, int],
) -> None:
    _, middle, old = gc_thresholds
    gc.set_threshold(700, middle, old)
    gc_tuning.settle()
    assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, middle, old)
    assert gc.get_freeze_count() > 0
    gc.set_threshold(10 * gc_tuning.YOUNG_THRESHOLD, middle, old)
    gc_tuning.settle()
    assert gc.get_threshold()[0] == 10 * gc_tuning.YOUNG_THRESHOLD
    gc.set_threshold(0, middle, old)  # collection turned off stays off
    gc_tuning.settle()
    assert gc.get_threshold()[0] == 0
    assert gc_tuning.running() == 3
    gc_tuning.release()
    gc_tuning.release()
    assert gc.get_freeze_count() > 0  # one stream still runs
    gc_tuning.release()
    assert gc.get_freeze_count() == 0 and gc_tuning.running() == 0


class FreezeSeen(Consumer):
    takes = (Trade,)

    def __init__(self) -> None:
        self.frozen: list[int] = []

    def on_event(self, event: Any) -> None:
        self.frozen.append(gc.get_freeze_count())


def test_a_stream_runs_settled_and_gives_the_collector_everything_back_when_it_ends(
    gc_thresholds: tuple[int, int, int],
) -> None:
    gc.set_threshold(700, *gc_thresholds[1:])
    seen = FreezeSeen()
    asyncio.run(Session(BatchedSource(trades(50)), timeframes=("1m",), consumers=[seen]).run())
    assert seen.frozen and min(seen.frozen) > 0  # frozen while the stream ran
    assert gc.get_threshold()[0] == gc_tuning.YOUNG_THRESHOLD
    assert gc.get_freeze_count() == 0 and gc_tuning.running() == 0  # and given back once it ended

    class App:  # an object with a reference cycle, made before a stream starts and dropped while it runs
        def __init__(self) -> None:
            self.me = self

    app = App()
    probe = weakref.ref(app)
    gc_tuning.settle()
    del app
    gc.collect()
    assert probe() is not None  # frozen: kept while the stream runs
    gc_tuning.release()
    gc.collect()
    assert probe() is None  # collected once it ended
