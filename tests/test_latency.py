"""LatencyTracker: clock offset separated from delay per (exchange, channel), bounded memory, bad times
counted; synthetic streams with known skew and delay (no wall clock)."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest

from mdx.clock import SimulatedClock
from mdx.errors import ConfigError, DataError
from mdx.events import KINDS, Bar, Quote, Trade
from mdx.io.recording import encode
from mdx.market.latency import (
    ALL_SYMBOLS,
    CHANNEL_TAGS,
    DEFAULT_KINDS,
    Latency,
    LatencyTracker,
    source_kinds,
)
from mdx.session import Session
from mdx.sources.sim import Simulator
from mdx.stats import Rejections

MS = 1_000_000
T0 = 1_700_000_000_000 * MS


def trade(exchange: str, ts_event: int, ts_recv: int, symbol: str = "BTC/USDT") -> Trade:
    return Trade(exchange, symbol, ts_event, ts_recv, "1", 100.0, 1.0, "buy")


def quote(exchange: str, ts_event: int, ts_recv: int) -> Quote:
    return Quote(exchange, "BTC/USDT", ts_event, ts_recv, 1, 99.0, 1.0, 101.0, 1.0)


def stream(
    exchange: str, n: int, skew_ns: int, *, seed: int = 1, floor_ns: int = 0, mean_ns: int = 3 * MS
) -> tuple[list[Trade], list[int]]:
    """``n`` trades every 10 ms whose local receive time is the exchange time + ``skew_ns`` + a delay of
    ``floor_ns`` + an exponential of mean ``mean_ns``; returns the trades and the delays."""
    rng = random.Random(seed)
    events, delays = [], []
    for k in range(n):
        ts = T0 + k * 10 * MS
        delay = floor_ns + int(rng.expovariate(1.0 / mean_ns))
        delays.append(delay)
        events.append(trade(exchange, ts, ts + skew_ns + delay))
    return events, delays


def tracker(**options: Any) -> tuple[LatencyTracker, list[Any]]:
    out: list[Any] = []
    t = LatencyTracker(**options)
    t.bind(out.append)
    return t, out


def feed(t: LatencyTracker, events: list[Any]) -> None:
    for event in events:
        t.on_event(event)


def nearest_rank(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@pytest.mark.parametrize("skew_ns", [250 * MS, -40 * MS, 0])
def test_a_known_skew_is_separated_from_the_delay(skew_ns: int) -> None:
    t, _ = tracker()
    events, delays = stream("x", 5000, skew_ns)
    feed(t, events)
    stats = t.stats()[("x", "trade")]
    assert stats.exchange == "x" and stats.symbol == ALL_SYMBOLS and stats.channel == "trade"
    assert abs(stats.offset_ns - skew_ns) < 0.2 * MS  # the floor of an exponential delay is ~0
    error = stats.offset_ns - skew_ns
    window = delays[-1024:]
    assert stats.count == 1024 and stats.total == 5000
    # the delays reported are the raw ones less the offset: the true ones up to the offset's error
    assert stats.delay_p50_ns == nearest_rank(window, 0.50) - error
    assert stats.delay_p99_ns == nearest_rank(window, 0.99) - error
    assert stats.delay_max_ns == max(window) - error
    assert stats.delay_p50_ns == pytest.approx(3 * MS * math.log(2), rel=0.15)


def test_the_floor_of_the_path_goes_to_the_offset_unless_it_is_known() -> None:
    events, _ = stream("x", 3000, 100 * MS, floor_ns=20 * MS)
    plain, _ = tracker()
    feed(plain, events)
    told, _ = tracker(floor_ns=20 * MS)
    feed(told, events)
    a, b = plain.stats()[("x", "trade")], told.stats()[("x", "trade")]
    assert abs(a.offset_ns - 120 * MS) < 0.2 * MS  # skew + floor: one-way timing cannot tell them apart
    assert abs(b.offset_ns - 100 * MS) < 0.2 * MS
    assert b.delay_p50_ns - a.delay_p50_ns == 20 * MS


def test_a_few_wrong_exchange_times_do_not_move_the_offset() -> None:
    events, _ = stream("x", 2048, 250 * MS)
    for k in (100, 700, 1500):  # three events stamped a second in the future: raw delay ~ -750 ms
        e = events[k]
        events[k] = trade("x", e.ts_event + 1000 * MS, e.ts_recv)
    t, _ = tracker()
    feed(t, events)
    assert abs(t.stats()[("x", "trade")].offset_ns - 250 * MS) < 0.2 * MS


def test_the_offset_follows_a_stepped_clock_within_a_window() -> None:
    before, _ = stream("x", 2000, 250 * MS, seed=2)
    after, _ = stream("x", 2000, 100 * MS, seed=3)
    shift = 2000 * 10 * MS
    after = [trade("x", e.ts_event + shift, e.ts_recv + shift) for e in after]
    t, _ = tracker(window=1024, block=64)
    feed(t, before)
    assert abs(t.stats()[("x", "trade")].offset_ns - 250 * MS) < 0.2 * MS
    feed(t, after[:1024])
    assert abs(t.stats()[("x", "trade")].offset_ns - 100 * MS) < 0.2 * MS


def test_channels_and_exchanges_are_kept_apart_and_memory_is_bounded() -> None:
    t, _ = tracker(window=256, block=32)
    rng = random.Random(5)
    for k in range(20_000):
        ts = T0 + k * MS
        t.on_event(trade("a", ts, ts + 10 * MS + int(rng.expovariate(1 / MS))))
        t.on_event(quote("a", ts, ts + 30 * MS + int(rng.expovariate(1 / MS))))  # a slower channel
        t.on_event(quote("b", ts, ts - 5 * MS + int(rng.expovariate(1 / MS))))
    stats = t.stats()
    assert set(stats) == {("a", "trade"), ("a", "quote"), ("b", "quote")}
    assert abs(stats[("a", "trade")].offset_ns - 10 * MS) < 0.2 * MS
    assert abs(stats[("a", "quote")].offset_ns - 30 * MS) < 0.2 * MS
    assert abs(stats[("b", "quote")].offset_ns + 5 * MS) < 0.2 * MS
    offset = t.exchange_offset_ns("a")
    assert offset == stats[("a", "trade")].offset_ns and t.exchange_offset_ns("z") is None
    for channel in t._channels.values():
        assert len(channel.ring) == 256 and len(channel.mins) <= 8


def test_untimed_events_are_left_out_and_bad_times_counted() -> None:
    rejections = Rejections(log_first=0)
    t, _ = tracker(rejections=rejections)
    events, _ = stream("x", 500, 50 * MS)
    feed(t, events)
    for k in range(100):  # the source fell back to the receive time: no exchange time
        ts = T0 + k * MS
        t.on_event(trade("x", ts, ts))
    t.on_event(trade("x", math.nan, T0))  # type: ignore[arg-type]
    t.on_event(trade("x", None, T0))  # type: ignore[arg-type]
    t.on_event(trade("y", T0 + 0.5, T0))  # type: ignore[arg-type]  # a first event with float time
    t.on_event(trade("y", T0, T0 + MS))
    stats = t.stats()[("x", "trade")]
    assert stats.untimed == 100 and stats.total == 500
    assert abs(stats.offset_ns - 50 * MS) < 0.2 * MS
    assert dict(rejections.by_reason) == {"InvalidValue": 3}
    assert t.stats()[("y", "trade")].total == 1


def test_reports_are_emitted_by_receive_time_cached_and_deterministic() -> None:
    events, _ = stream("x", 1000, 50 * MS)  # 10 s of receive time

    def run() -> list[Latency]:
        t, out = tracker(report_every_ms=2000)
        feed(t, events)
        return out

    first = run()
    assert first == run()
    assert len(first) == 5 and all(type(e) is Latency for e in first)
    gaps = [b.ts_recv - a.ts_recv for a, b in itertools.pairwise(first)]
    assert all(2000 * MS <= gap < 2030 * MS for gap in gaps)  # the first event 2 s after the last report
    assert first[0].count == 1 and [e.count for e in first] == [e.total for e in first]
    t, out = tracker(report_every_ms=0)
    feed(t, events)
    assert out == [] and t.latest() == {}
    t.stats()
    assert t.for_exchange("x") == t.latest()[("x", "trade")]  # no quote channel: the busiest one
    assert t.for_exchange("nope") is None
    assert KINDS[Latency].tag == "latency" and not KINDS[Latency].recorded
    with pytest.raises(DataError):
        encode(first[0])


def test_bad_settings_are_config_errors() -> None:
    for options in ({"window": 0}, {"block": 0}, {"window": 10, "block": 11}, {"floor_ns": -1},
                    {"report_every_ms": -1}, {"kinds": ()}, {"kinds": (int,)}):  # fmt: skip
        with pytest.raises(ConfigError):
            LatencyTracker(**options)
    assert LatencyTracker(kinds=(Bar,)).takes == (Bar,)
    default = LatencyTracker().takes
    assert default == source_kinds() and default[:4] == DEFAULT_KINDS and Bar not in default
    assert {KINDS[cls].tag for cls in default[4:]} <= set(CHANNEL_TAGS)  # channel events, when registered


def test_in_a_session_the_reports_reach_the_cache() -> None:
    sim = Simulator(("BTC/USDT",), seed=4, start_ns=T0, exchange="sima", history=None)
    t = LatencyTracker(report_every_ms=1000)
    session = Session(sim, timeframes=(), clock=SimulatedClock(T0), consumers=[t])
    session.run_until_done(until_ns=T0 + 5_000 * MS)
    cached = session.cache.latest(Latency, ("sima", ALL_SYMBOLS), "quote")
    assert cached is not None and cached == t.latest()[("sima", "quote")]
    # the simulator receives 1.5 ms + an exponential of 0.5 ms after the event time
    assert 1.4 * MS <= cached.offset_ns <= 1.6 * MS
    assert 0.2 * MS < cached.delay_p50_ns < 0.6 * MS < cached.delay_p99_ns < 4 * MS
