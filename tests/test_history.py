"""History before the stream: the ``HistorySource`` protocol, the session feeding it through its
consumers and cache in all three run modes, the BarMaker continuing after it, and the simulator's
generated past (deterministic, whole, aggregating exactly, calibrated, joining the starting mid)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta

import numpy as np
import pytest

from mdx.cache import Cache
from mdx.clock import Clock, SimulatedClock
from mdx.config import Settings, history_ns
from mdx.consumer import Consumer
from mdx.errors import ConfigError, SourceError, SourceUnavailable
from mdx.events import Bar, Event, Trade
from mdx.session import HISTORY_ERROR, HISTORY_ORDER, Session
from mdx.sources import make_sources
from mdx.sources.base import HistorySource, paced
from mdx.sources.replay import ReplaySource
from mdx.sources.sim.history import SECOND_NS
from mdx.sources.sim.simulator import Simulator
from mdx.sources.sim.specs import TRADE_PROBS, symbol_spec
from mdx.stats import Rejections

S = SECOND_NS
MINUTE = 60 * S
T0 = 1_700_000_000 * S  # 20 s after a minute boundary, 200 s after a 5-minute one
EX, SYM = "hist", "BTC/USDT"
KEY = (EX, SYM)
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
M0 = T0 // MINUTE * MINUTE  # the open of the minute in which the stream starts


def bar(ts: int, close: float, tf: str = "1m", *, closed: bool = True, low: float | None = None) -> Bar:
    lo = close - 1.0 if low is None else low
    hi, qv = close + 1.0, 2.0 * close
    return Bar(EX, SYM, tf, ts, ts + MINUTE, close, hi, lo, close, 2.0, qv, close, 1.0, 1.0, 3, closed)


def trade(ts: int, price: float, i: int) -> Trade:
    return Trade(EX, SYM, ts, ts + 1_000_000, str(i), price, 0.5, "buy" if i % 2 else "sell")


class HistoryListSource:
    """An offline source over fixed trades, with a fixed history (or a failure instead)."""

    name = "hist"
    exchange = EX
    symbols = (SYM,)
    endless = False
    speed = 0.0

    def __init__(self, events: Sequence[Event], history: Sequence[Bar] | BaseException = ()) -> None:
        self.events = list(events)
        self.past = history
        self.calls: list[tuple[str, ...]] = []

    async def history(self, timeframes: Sequence[str], clock: Clock, rejections: Rejections) -> list[Bar]:
        self.calls.append(tuple(timeframes))
        await asyncio.sleep(0)  # a real await, as a network fetch has
        if isinstance(self.past, BaseException):
            raise self.past
        return list(self.past)

    def iter_events(self, rejections: Rejections) -> Iterator[Event]:
        return iter(self.events)

    def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        return paced(self.events, clock, 0.0)


class BarLog(Consumer):
    """A user's consumer taking bars: sees history bars like any other."""

    takes = (Bar,)

    def __init__(self) -> None:
        self.bars: list[Bar] = []

    def on_event(self, event: Bar) -> None:
        self.bars.append(event)


def history_until(end: int, n: int = 30) -> list[Bar]:
    """``n`` closed 1m bars ending at ``end`` (exclusive), closes 100, 101, ..."""
    return [bar(end - (n - i) * MINUTE, 100.0 + i) for i in range(n)]


def live_trades(start: int, n: int = 120, step: int = S) -> list[Trade]:
    return [trade(start + i * step, 200.0 + i % 5, i) for i in range(n)]


def open_times(session: Session, tf: str = "1m") -> list[int]:
    return [b.ts_event for b in session.cache.bars(KEY, tf, include_open=True)]


def assert_contiguous(times: list[int], step: int) -> None:
    assert all(b - a == step for a, b in itertools.pairwise(times)), [
        (a, b) for a, b in itertools.pairwise(times) if b - a != step
    ]


# -- the protocol --------------------------------------------------------------------------------------


def test_the_simulator_has_history_and_a_replay_has_none() -> None:
    assert isinstance(Simulator(start_ns=T0), HistorySource)
    assert isinstance(HistoryListSource([]), HistorySource)
    assert not hasattr(ReplaySource, "history")  # a replay shows what its files hold


# -- the session -----------------------------------------------------------------------------------------


def run_three_ways(make: type | object) -> list[Session]:
    """The same source run synchronously, awaited and in the background thread."""
    sessions = []
    synchronous = Session(make(), clock=SimulatedClock(T0), consumers=[BarLog()])  # type: ignore[operator]
    sessions.append(synchronous.run_until_done())
    awaited = Session(make(), clock=SimulatedClock(T0), consumers=[BarLog()])  # type: ignore[operator]
    asyncio.run(awaited.run())
    sessions.append(awaited)
    threaded = Session(make(), clock=SimulatedClock(T0), consumers=[BarLog()])  # type: ignore[operator]
    threaded.start()
    assert threaded.wait_for(lambda: threaded.status.state == "done", timeout=30)
    threaded.stop()
    sessions.append(threaded)
    return sessions


def test_every_run_mode_sends_history_through_consumers_and_cache_before_the_stream() -> None:
    past = history_until(M0)

    def make() -> HistoryListSource:
        return HistoryListSource(live_trades(T0), past)

    for session in run_three_ways(make):
        source = session.sources[0]
        assert source.calls == [("1m",)]  # asked once, for the session's timeframes
        assert session.history_loaded == {"hist": 30}
        logged = session.consumers[-1].bars
        assert [b for b in logged if b.ts_event < M0] == past  # history first, in order, through a consumer
        closed = session.cache.bars(KEY, "1m")
        assert closed[:30] == past
        assert session.events_processed == 120  # history bars are not source events
        assert session.rejections.total == 0


def test_the_stream_continues_after_the_last_history_bar_without_repeats_or_invented_gaps() -> None:
    session = Session(HistoryListSource(live_trades(T0), history_until(M0)), clock=SimulatedClock(T0))
    session.run_until_done()
    times = open_times(session)
    assert_contiguous(times, MINUTE)  # no repeated open time, no hole
    bars = session.cache.bars(KEY, "1m", include_open=True)
    assert bars[29].ts_event == M0 - MINUTE and bars[30].ts_event == M0  # the stream's first bar follows
    assert bars[30].count == 40 and bars[30].open == 200.0  # its own trades only (from T0 = M0 + 20 s)


def test_a_pause_between_history_and_stream_is_filled_empty_with_the_last_close() -> None:
    session = Session(
        HistoryListSource(live_trades(M0 + 3 * MINUTE), history_until(M0)), clock=SimulatedClock(T0)
    )
    session.run_until_done()
    times = open_times(session)
    assert_contiguous(times, MINUTE)
    empty = session.cache.bars(KEY, "1m")[30:33]
    assert [b.ts_event for b in empty] == [M0, M0 + MINUTE, M0 + 2 * MINUTE]
    assert all(b.count == 0 and b.volume == 0 and b.close == b.open == b.vwap == 129.0 for b in empty)


def test_a_trade_in_a_bar_history_closed_is_late_and_the_next_one_opens_the_following_bar() -> None:
    late = trade(M0 - 30 * S, 150.0, 999)  # inside the last history bar
    session = Session(
        HistoryListSource([late, *live_trades(T0)], history_until(M0)), clock=SimulatedClock(T0)
    )
    session.run_until_done()
    assert session.rejections.by_reason == {"LateTrade": 1}
    assert session.cache.trade(KEY) is not None  # the trade itself still reached the cache
    assert_contiguous(open_times(session), MINUTE)
    assert session.cache.bars(KEY, "1m")[29] == history_until(M0)[-1]  # the history bar is unchanged


def test_a_failing_history_is_logged_and_counted_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cases = (
        (SourceUnavailable("venue down"), "failed", logging.WARNING),  # offline: the status says more
        (SourceError("bad answer"), "failed", logging.ERROR),
        (RuntimeError("a bug"), "crashed", logging.ERROR),
    )
    for error, word, level in cases:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mdx"):
            session = Session(HistoryListSource(live_trades(T0), error), clock=SimulatedClock(T0))
            session.run_until_done()
        assert session.rejections.by_reason == {HISTORY_ERROR: 1}
        assert f"history {word}" in session.rejections.last_message[HISTORY_ERROR]
        assert any(f"history {word}" in r.getMessage() and r.levelno == level for r in caplog.records)
        assert session.events_processed == 120 and session.status.state == "done"
        assert open_times(session)[0] == M0  # bars from the stream alone


class SilentHistory(HistoryListSource):
    """A venue that never answers the history request."""

    async def history(self, timeframes: Sequence[str], clock: Clock, rejections: Rejections) -> list[Bar]:
        await asyncio.Event().wait()
        return []


def test_a_history_that_never_answers_times_out_and_the_stream_goes_on() -> None:
    session = Session(SilentHistory(live_trades(T0)), clock=SimulatedClock(T0), history_timeout_s=0.01)
    asyncio.run(session.run())
    assert session.rejections.by_reason == {HISTORY_ERROR: 1}
    assert "timed out after 0.01 s" in session.rejections.last_message[HISTORY_ERROR]
    assert session.events_processed == 120 and session.status.state == "done"


def test_a_synchronous_run_inside_a_running_loop_still_loads_history() -> None:
    async def cell() -> Session:  # a notebook cell: the kernel's loop is running
        source = HistoryListSource(live_trades(T0), history_until(M0))
        return Session(source, clock=SimulatedClock(T0)).run_until_done()

    session = asyncio.run(cell())
    assert session.history_loaded == {"hist": 30}
    assert_contiguous(open_times(session), MINUTE)


def test_bad_history_bars_are_counted_and_left_out() -> None:
    past = history_until(M0, 5)
    bad = [
        bar(M0 - 10 * MINUTE, 50.0, closed=False),  # still open
        bar(M0 - 10 * MINUTE + S, 50.0),  # not on a minute boundary
        bar(M0 - 10 * MINUTE, 50.0, low=60.0),  # low above the close
        bar(M0 - 10 * MINUTE, float("nan")),  # no price
        bar(M0 - 10 * MINUTE, 50.0, "4h"),  # a timeframe the session does not build
    ]
    unordered = [past[0], past[2], past[1], past[3], past[4], past[4]]
    session = Session(HistoryListSource(live_trades(T0), [*bad, *unordered]), clock=SimulatedClock(T0))
    session.run_until_done()
    reasons = session.rejections.by_reason
    assert reasons == {"MalformedFrame": 3, "InvalidValue": 2, HISTORY_ORDER: 2}
    assert session.history_loaded == {"hist": 4}
    assert_contiguous(open_times(session)[1:], MINUTE)  # past[0], then past[2] onwards
    assert open_times(session)[:2] == [past[0].ts_event, past[2].ts_event]


def test_at_most_the_cache_window_of_history_is_sent() -> None:
    cache = Cache(maxlen={"bar": 10})
    session = Session(
        HistoryListSource(live_trades(T0), history_until(M0)), clock=SimulatedClock(T0), cache=cache
    )
    session.run_until_done()
    assert session.history_loaded == {"hist": 10}
    assert session.cache.bars(KEY, "1m")[0].ts_event == M0 - 10 * MINUTE + 2 * MINUTE  # window moved on by 2


def test_a_second_run_does_not_cache_history_twice() -> None:
    session = Session(HistoryListSource(live_trades(T0, 30), history_until(M0)), clock=SimulatedClock(T0))
    session.run_until_done()
    first = open_times(session)
    session.run_until_done()  # the same trades again: late, counted; the history is already there
    assert session.history_loaded == {"hist": 30}
    assert open_times(session) == first


# -- the simulator's history ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def past() -> list[Bar]:
    return Simulator(SYMBOLS, seed=7, start_ns=T0).past_bars(("1s", "1m", "5m"))


def select(bars: list[Bar], symbol: str, tf: str) -> list[Bar]:
    return [b for b in bars if b.symbol == symbol and b.timeframe == tf]


def test_simulated_history_covers_the_window_in_whole_closed_bars_before_the_start_bar(
    past: list[Bar],
) -> None:
    for symbol in SYMBOLS:
        for tf, step, n in (("1s", S, 2000), ("1m", MINUTE, 363), ("5m", 5 * MINUTE, 72)):
            bars = select(past, symbol, tf)
            assert len(bars) == n  # 1s: the cache's window; 1m and 5m: the 6 h (from a 5m boundary)
            assert all(b.closed and b.exchange == "sim" and b.ts_event % step == 0 for b in bars)
            assert_contiguous([b.ts_event for b in bars], step)
            assert bars[-1].ts_event + step == T0 // step * step  # ends where the start's bar opens
            assert bars[0].ts_event >= T0 - 6 * 3600 * S - 5 * MINUTE


def test_simulated_bars_are_sane_and_coarser_ones_aggregate_finer_ones_exactly() -> None:
    bars = Simulator(SYMBOLS, seed=7, start_ns=T0, history="1h", history_bars=4000).past_bars(
        ("1s", "1m", "5m")
    )
    for symbol in SYMBOLS:
        spec = symbol_spec(symbol)
        for b in select(bars, symbol, "1s"):
            assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
            assert b.low <= b.vwap <= b.high and b.count >= 0 and b.volume >= 0
            assert b.buy_volume + b.sell_volume == pytest.approx(b.volume, rel=1e-9)
            assert round(b.close / spec.tick) * spec.tick == pytest.approx(b.close, abs=1e-9)
            assert b.count > 0 or (b.volume == 0 and b.open == b.high == b.low == b.close)
        for fine, coarse in (("1s", "1m"), ("1m", "5m")):
            parts = select(bars, symbol, fine)
            step = parts[1].ts_event - parts[0].ts_event
            for big in select(bars, symbol, coarse):
                small = [
                    b
                    for b in parts
                    if big.ts_event <= b.ts_event < big.ts_event + (60 if coarse == "1m" else 300) * S
                ]
                assert len(small) * step == (60 if coarse == "1m" else 300) * S
                traded = [b for b in small if b.count] or small
                assert big.open == traded[0].open and big.close == traded[-1].close
                assert big.high == max(b.high for b in traded) and big.low == min(b.low for b in traded)
                assert big.count == sum(b.count for b in small)
                for name in ("volume", "quote_volume", "buy_volume", "sell_volume"):
                    assert getattr(big, name) == pytest.approx(
                        sum(getattr(b, name) for b in small), rel=1e-12
                    )
                assert big.vwap == pytest.approx(big.quote_volume / big.volume, rel=1e-12)


def test_simulated_history_follows_the_calibrated_spec(past: list[Bar]) -> None:
    probs = np.linspace(0.0, 1.0, 200_001)
    for symbol in SYMBOLS:
        spec = symbol_spec(symbol)
        fills = np.interp(probs, TRADE_PROBS, spec.fills_per_order).astype(np.int64).mean()
        notional = np.exp(np.interp(probs, TRADE_PROBS, np.log(spec.fill_notional))).mean()
        bars = select(past, symbol, "1m")
        count = np.mean([b.count for b in bars]) / 60
        quote = np.mean([b.quote_volume for b in bars]) / 60
        returns = np.diff(np.log([b.close for b in bars]))
        assert count == pytest.approx(spec.order_rate * fills, rel=0.05)  # trades per second
        assert quote == pytest.approx(spec.order_rate * fills * notional, rel=0.25)  # heavy-tailed sizes
        assert returns.std() == pytest.approx(spec.vol / math.sqrt(365 * 24 * 60), rel=0.15)
        buy = sum(b.buy_volume for b in bars) / sum(b.volume for b in bars)
        assert 0.4 < buy < 0.6


def test_the_last_close_joins_the_starting_mid_and_the_stream_is_unchanged(past: list[Bar]) -> None:
    for symbol in SYMBOLS:
        spec = symbol_spec(symbol)
        last = select(past, symbol, "1s")[-1]
        assert last.count > 0
        assert abs(last.close - spec.price) <= spec.spread_ticks * spec.tick  # bid or ask around it
    with_history = Simulator(SYMBOLS, seed=7, start_ns=T0)
    without = Simulator(SYMBOLS, seed=7, start_ns=T0, history=None)
    assert without.past_bars(("1m",)) == []
    streams = [itertools.islice(s.iter_events(Rejections()), 3_000) for s in (with_history, without)]
    assert list(streams[0]) == list(streams[1])


def test_simulated_history_is_seeded_and_a_longer_window_extends_the_same_past(past: list[Bar]) -> None:
    assert Simulator(SYMBOLS, seed=7, start_ns=T0).past_bars(("1s", "1m", "5m")) == past
    assert Simulator(SYMBOLS, seed=8, start_ns=T0).past_bars(("1m",)) != select(past, "BTC/USDT", "1m")
    hour = Simulator(SYMBOLS, seed=7, start_ns=T0, history=timedelta(hours=1)).past_bars(("1m",))
    btc = select(hour, "BTC/USDT", "1m")
    assert btc == select(past, "BTC/USDT", "1m")[-len(btc) :] and len(btc) >= 60
    alone = Simulator(("ETH/USDT",), seed=7, start_ns=T0).past_bars(("5m",))
    assert alone == select(past, "ETH/USDT", "5m")  # each symbol's own past, whoever else is simulated


def test_a_simulator_session_runs_on_from_its_history_in_every_timeframe() -> None:
    timeframes = ("1s", "1m", "5m")
    session = Session(Simulator(SYMBOLS, start_ns=T0), timeframes=timeframes, clock=SimulatedClock(T0))
    session.run_until_done(until_ns=T0 + 10 * S)
    assert session.rejections.total == 0 and session.history_loaded == {"sim": 3 * (2000 + 363 + 72)}
    for symbol in SYMBOLS:
        for tf, step in zip(timeframes, (S, MINUTE, 5 * MINUTE), strict=True):
            bars = session.cache.bars(("sim", symbol), tf, include_open=True)
            assert_contiguous([b.ts_event for b in bars], step)
            assert not bars[-1].closed and bars[-1].ts_event == (T0 + 9 * S) // step * step


@pytest.mark.parametrize("value", [None, 0, "0", "", "off", timedelta(0)])
def test_no_history(value: object) -> None:
    assert Simulator(start_ns=T0, history=value).past_bars(("1m",)) == []  # type: ignore[arg-type]


def test_history_lengths_are_checked() -> None:
    assert history_ns("90m") == 90 * MINUTE and history_ns(timedelta(hours=2)) == 7200 * S
    for bad in ("6 hours", "-1h", -5, 1.5, True):
        with pytest.raises(ConfigError, match="history"):
            history_ns(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="history_bars"):
        Simulator(history_bars=-1)
    assert Simulator(start_ns=T0, history_bars=0).past_bars(("1m",)) == []


def test_settings_carry_history_to_the_simulator() -> None:
    assert Settings().history == "6h"
    settings = Settings(history="2h")
    assert Settings.from_env(settings.to_env()).history == "2h"
    assert Settings.from_env({"MDX_HISTORY": "0"}).history == "0"
    assert Settings.from_env({}).history == "6h"
    (sim,) = make_sources(settings)
    assert isinstance(sim, Simulator) and sim.history_ns == 2 * 3600 * S
    (live,) = make_sources(Settings(source="binance", history="0"))
    assert live.history_bars == 0  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="history"):
        Settings(history="two hours")
    with pytest.raises(ConfigError, match="history"):
        Settings.from_env({"MDX_HISTORY": "6 h"})
