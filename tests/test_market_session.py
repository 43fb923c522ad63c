"""Market state inside a session: late trades, time jumps and book desyncs are counted rejections, with
a reason, and never stall the stream, drop the trade from the cache, or leave a book claiming sync."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pandas as pd

from mdx.clock import Clock, SimulatedClock
from mdx.events import BookDelta, BookSnapshot, Event, Quote, Trade
from mdx.market.bars import bars_to_frame, resample_trades, trades_to_frame
from mdx.market.consumers import BarMaker
from mdx.session import Session
from mdx.sources.base import paced
from mdx.sources.replay import ReplaySource
from mdx.stats import Rejections

S = 1_000_000_000
T0 = 1_700_000_040 * S  # 2023-11-14 22:14:00 UTC, a minute boundary
EX, SYM = "sim", "BTC/USDT"
KEY = (EX, SYM)
YEAR = 365 * 86_400 * S


class ListSource:
    name = "list"
    exchange = EX
    symbols = (SYM,)
    endless = False
    speed = 0.0

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    def iter_events(self, rejections: Rejections) -> Iterator[Event]:
        return iter(self.events)

    def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        return paced(self.events, clock, 0.0)


def trades(n: int = 240, start: int = T0) -> list[Trade]:
    """Two trades a second for two minutes."""
    return [
        Trade(
            EX, SYM, start + i * S // 2, start + i * S // 2 + 1_000, f"{start}-{i}", 100.0 + i % 7, 1.0, "buy"
        )
        for i in range(n)
    ]


def run(events: list[Event], timeframes: tuple[str, ...] = ("1m", "10s")) -> Session:
    return Session(ListSource(events), timeframes=timeframes, clock=SimulatedClock()).run_until_done()


def session_bars(session: Session, timeframe: str) -> pd.DataFrame:
    return bars_to_frame(session.cache.bars(KEY, timeframe, include_open=True))


def test_a_late_trade_is_a_counted_rejection_yet_reaches_the_other_timeframes_and_the_cache() -> None:
    """The original failure: late trades were only counted in ``builder.late``, never in the session."""
    events = trades()
    late = Trade(EX, SYM, T0 + 5 * S, T0 + 30 * S, "late", 150.0, 2.0, "sell")  # 25 s late: 10s bar closed
    events.insert(61, late)
    session = run(events)
    assert session.rejections.by_reason == {"LateTrade": 1}  # once: for the 10s bars only
    assert (
        "'late'" in session.rejections.last_message["LateTrade"]
        and "10s" in session.rejections.last_message["LateTrade"]
    )
    assert "late" in {t.id for t in session.cache.trades(KEY)}  # not rejected as a trade
    minute = session_bars(session, "1m")
    pd.testing.assert_frame_equal(minute, resample_trades(trades_to_frame(events), "1m"))  # in the 1m bar
    assert session_bars(session, "10s")["count"].sum() == len(events) - 1
    builder = session.bar_builders[(KEY, "10s")]
    assert builder.late == 1 and session.bar_builders[(KEY, "1m")].late == 0


def test_a_trade_a_year_ahead_is_rejected_per_timeframe_without_stalling_the_session() -> None:
    """The original failure: BarBuilder filled 31.5M one-second bars (minutes, GBs); a day ahead made
    every later real trade late and silently dropped."""
    events = trades()
    clean = run(list(events), ("1s", "1m"))
    events.insert(100, Trade(EX, SYM, T0 + YEAR, T0 + 50 * S, "far", 100.0, 1.0, "buy"))
    events.insert(150, Trade(EX, SYM, T0 + 86_400 * S, T0 + 75 * S, "day", 100.0, 1.0, "buy"))
    started = time.perf_counter()
    session = run(events, ("1s", "1m"))
    assert time.perf_counter() - started < 10
    assert session.rejections.by_reason == {"TimeJump": 4}  # two bad trades x two timeframes
    assert all(b.late == 0 and b.jumps == 2 for b in session.bar_builders.values())
    for timeframe in ("1s", "1m"):
        pd.testing.assert_frame_equal(session_bars(session, timeframe), session_bars(clean, timeframe))


def test_a_real_pause_is_not_a_rejection_and_trades_held_at_the_end_are() -> None:
    before = trades(20)
    after = trades(20, start=T0 + 8 * 3600 * S)  # 8 h later, the receive clock too: a real pause
    session = run([*before, *after])
    assert session.rejections.total == 0
    assert session_bars(session, "1m")["count"].sum() == 40
    stuck = [
        Trade(t.exchange, t.symbol, t.ts_event, before[-1].ts_recv, t.id, t.price, 1.0, "") for t in after[:2]
    ]
    session = run([*before, *stuck])  # two far trades the receive clock does not back: held, then rejected
    assert session.rejections.by_reason == {"TimeJump": 4}  # at close: 2 trades x 2 timeframes
    assert session_bars(session, "1m")["count"].sum() == 20


def test_a_bar_maker_given_a_counter_keeps_its_own_count() -> None:
    mine = Rejections()
    events = trades(40)
    events.append(Trade(EX, SYM, T0, T0 + 30 * S, "late", 100.0, 1.0, "buy"))
    session = Session(ListSource(events), timeframes=(), clock=SimulatedClock())
    session.add(BarMaker(("10s",), rejections=mine))
    session.run_until_done()
    assert mine.by_reason == {"LateTrade": 1} and session.rejections.total == 0


def book_events() -> list[Event]:
    snap = BookSnapshot(EX, SYM, T0, T0, 100, ((100.0, 1.0), (99.0, 2.0)), ((101.0, 1.5),))
    return [
        snap,
        *(BookDelta(EX, SYM, T0 + u, T0 + u, u, u, ((99.0, 2.0 + u / 1000),), ()) for u in range(101, 111)),
    ]


def test_book_rejections_in_a_session_have_reasons_and_the_view_tells_the_truth() -> None:
    events = book_events()
    events.insert(5, BookSnapshot(EX, SYM, T0 + 5, T0 + 5, 90, ((50.0, 1.0),), ((51.0, 1.0),)))  # older
    session = run(events)
    assert session.rejections.by_reason == {"StaleSnapshot": 1}
    book = session.books[KEY]
    assert book.in_sync and book.seq == 110 and book.stale == 1 and session.cache.book(KEY).in_sync

    events = book_events()
    events.insert(4, BookDelta(EX, SYM, T0, T0, 104, 104, ((float("nan"), 1.0),), ()))  # garbage level
    session = run(events)
    # the bad delta, then the next one shows the gap it left, then 6 deltas dropped while out of sync
    assert session.rejections.by_reason == {"InvalidValue": 1, "BookOutOfSync": 7}
    assert (
        "dropped: the book is out of sync after update 103"
        in session.rejections.last_message["BookOutOfSync"]
    )
    view = session.cache.book(KEY)
    assert not view.in_sync and view.bids[0].tolist() == [100.0, 1.0] and view.seq == 103


def test_a_book_whose_depth_stream_is_lost_falls_out_of_sync_behind_the_quotes() -> None:
    events: list[Event] = [book_events()[0]]
    for i in range(1, 40):  # a quote a second, the venue's book moving on; no delta ever arrives
        events.append(Quote(EX, SYM, T0 + i * S, T0 + i * S, 100 + i, 100.0, 1.0, 101.0, 1.5))
    session = run(events)
    assert not session.books[KEY].in_sync and session.cache.book(KEY).in_sync is False
    in_step = [book_events()[0]]
    for i in range(1, 40):  # the same with the depth stream: always in sync
        in_step.append(BookDelta(EX, SYM, T0 + i * S, T0 + i * S, 100 + i, 100 + i, ((99.0, 1.0 + i),), ()))
        in_step.append(Quote(EX, SYM, T0 + i * S, T0 + i * S, 100 + i, 100.0, 1.0, 101.0, 1.5))
    assert run(in_step).books[KEY].in_sync


def test_a_spot_capture_read_as_usdm_does_not_leave_a_book_claiming_sync(shared_data: Path) -> None:
    """The original failure: every diff was rejected upstream (no ``pu``) while the book stayed in sync
    at the REST snapshot for the whole capture. Now the reader sees the wrong market on the first frame and
    stops with one counted error naming the right one: no book, no per-frame noise."""
    path = shared_data / "binance-spot-l2-trades" / "btcusdt_20240808.gz"
    session = Session(ReplaySource([path], market="usdm"), timeframes=(), clock=SimulatedClock())
    session.run_until_done()
    assert session.rejections.by_reason == {"CaptureError": 1}
    assert "looks like spot data" in session.rejections.last_message["CaptureError"]
    assert ("binanceusdm", "BTC/USDT:USDT") not in session.books
    right = Session(ReplaySource([path]), timeframes=(), clock=SimulatedClock()).run_until_done()
    assert right.rejections.total == 0 and right.books[("binance", "BTC/USDT")].in_sync
