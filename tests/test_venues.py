"""VenueMonitor: cross-venue deviation flags, the composite price's fallback chain, the venue table, and a
session of three simulators (synthetic streams, event time only: no wall clock)."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest

from mdx.clock import Clock, SimulatedClock
from mdx.consumer import Consumer
from mdx.errors import ConfigError
from mdx.events import KINDS, BookDelta, Quote
from mdx.io.recording import decode, encode
from mdx.market.latency import LatencyTracker
from mdx.market.venues import (
    COMPOSITE,
    CompositePrice,
    VenueDeviation,
    VenueMonitor,
    session_states,
)
from mdx.session import Session
from mdx.sources.base import paced
from mdx.sources.sim import Simulator
from mdx.stats import Rejections

MS = 1_000_000
T0 = 1_700_000_000_000 * MS
BTC = "BTC/USDT"


def quote(exchange: str, ms: int, mid: float, symbol: str = BTC, spread: float = 0.02) -> Quote:
    ts = T0 + ms * MS
    return Quote(exchange, symbol, ts, ts + 2 * MS, ms, mid - spread / 2, 1.0, mid + spread / 2, 1.0)


def delta(exchange: str, ms: int, symbol: str = BTC) -> BookDelta:
    ts = T0 + ms * MS
    return BookDelta(exchange, symbol, ts, ts + 2 * MS, ms, ms, ((99.0, 1.0),), ())


def monitor(**options: Any) -> tuple[VenueMonitor, list[Any]]:
    out: list[Any] = []
    m = VenueMonitor(**options)
    m.bind(out.append)
    return m, out


def feed(m: VenueMonitor, events: list[Any]) -> None:
    for event in events:
        m.on_event(event)


def of(kind: type, events: list[Any]) -> list[Any]:
    return [e for e in events if type(e) is kind]


def ticks(start_ms: int, end_ms: int, mids: dict[str, float], step_ms: int = 100) -> list[Quote]:
    """Quotes of every venue in ``mids`` each ``step_ms`` from ``start_ms`` (inclusive) to ``end_ms``."""
    return [quote(ex, ms, mid) for ms in range(start_ms, end_ms, step_ms) for ex, mid in mids.items()]


# -- deviation ---------------------------------------------------------------------------------------------


def test_a_deviation_on_one_venue_is_flagged_once_and_cleared_once() -> None:
    m, out = monitor(threshold_bps=50, primary=("a", "b", "c"))
    feed(m, ticks(0, 1000, {"a": 100.0, "b": 100.01, "c": 99.99}))
    assert of(VenueDeviation, out) == []
    feed(m, ticks(1000, 2000, {"a": 100.0, "b": 100.01, "c": 101.0}))  # c 100 bps above the others
    feed(m, ticks(2000, 3000, {"a": 100.0, "b": 100.01, "c": 100.0}))
    flags = of(VenueDeviation, out)
    assert [(d.exchange, d.flagged) for d in flags] == [("c", True), ("c", False)]
    up, down = flags
    assert up.ts_event == T0 + 1000 * MS and down.ts_event == T0 + 2000 * MS
    assert up.reference == 100.01 and up.others == 2  # the nearer of the two others: not their mean
    assert up.deviation_bps == pytest.approx((101.0 / 100.01 - 1) * 1e4)
    assert up.mid == 101.0 and up.asset == BTC and up.symbol == BTC


def test_the_flag_has_hysteresis_and_two_venues_flag_each_other() -> None:
    m, out = monitor(threshold_bps=50)  # cleared at or below 40 bps
    feed(m, ticks(0, 500, {"a": 100.0, "b": 100.0, "c": 100.0}))
    for mid, flagged in ((100.45, False), (100.6, True), (100.45, True), (100.3, False)):
        m.on_event(quote("c", 600, mid))
        assert m._venues[("c", BTC)].flagged is flagged, mid
    assert [d.flagged for d in of(VenueDeviation, out)] == [True, False]

    m2, out2 = monitor(threshold_bps=50)
    feed(m2, [quote("a", 0, 100.0), quote("b", 0, 101.0)])  # no majority: both disagree
    assert sorted(d.exchange for d in of(VenueDeviation, out2) if d.flagged) == ["a", "b"]


def test_stale_venues_are_left_out_of_the_comparison() -> None:
    m, out = monitor(threshold_bps=50, max_age_ms=1000)
    feed(m, [quote("a", 0, 100.0), quote("b", 0, 100.0)])
    feed(m, ticks(2000, 3000, {"a": 100.0, "c": 100.0}))  # b silent for 2 s: stale
    m.on_event(quote("b", 3000, 110.0))  # b comes back 10 % off: compared again, flagged
    assert [(d.exchange, d.flagged) for d in of(VenueDeviation, out)] == [("b", True)]
    assert of(VenueDeviation, out)[0].others == 2


# -- the fallback chain --------------------------------------------------------------------------------------


def composites(out: list[Any]) -> list[CompositePrice]:
    return of(CompositePrice, out)


def test_the_composite_falls_back_when_the_primary_goes_stale_and_returns_when_it_recovers() -> None:
    m, out = monitor(primary=("a", "b"), max_age_ms=1000, composite_interval_ms=500)
    feed(m, ticks(0, 1000, {"a": 100.0, "b": 100.02}))
    feed(m, ticks(1000, 3000, {"b": 100.02}))  # a goes quiet
    feed(m, ticks(3000, 4000, {"a": 100.0, "b": 100.02}))
    changes = [(c.venue, c.stale) for c in composites(out)]
    assert [k for k, _ in zip(changes, [None, *changes], strict=False) if k != _] == [
        ("a", False), ("b", False), ("a", False)
    ]  # fmt: skip
    switch = next(c for c in composites(out) if c.venue == "b")
    back = next(c for c in composites(out) if c.venue == "a" and c.ts_event > switch.ts_event)
    # a's last quote at 900 ms is stale once now - 900 ms > 1000 ms: at b's quote of 2000 ms
    assert switch.ts_event == T0 + 2000 * MS and switch.price == 100.02 and switch.rank == 1
    assert switch.reason == f"a {BTC}: stale 1.1 s"
    assert back.ts_event == T0 + 3000 * MS and back.price == 100.0 and back.rank == 0 and back.reason == ""
    assert all(c.exchange == COMPOSITE and c.symbol == BTC for c in composites(out))


def test_the_composite_is_throttled_by_event_time_when_nothing_changes() -> None:
    m, out = monitor(primary=("a",), composite_interval_ms=500)
    feed(m, ticks(0, 2000, {"a": 100.0, "b": 100.0}, step_ms=10))
    assert [c.ts_event - T0 for c in composites(out)] == [0, 500 * MS, 1000 * MS, 1500 * MS]


def test_a_source_in_error_leaves_the_chain_and_comes_back() -> None:
    m, out = monitor(primary=("a", "b"))
    feed(m, ticks(0, 500, {"a": 100.0, "b": 100.02}))
    m.set_status("a", "error")  # pushed: re-checked at once
    assert composites(out)[-1].venue == "b" and composites(out)[-1].reason == f"a {BTC}: error"
    m.set_status("a", "connected")
    assert composites(out)[-1].venue == "a"

    states = {"a": "connected", "b": "connected"}  # polled every check_every_ms of event time
    m2, out2 = monitor(primary=("a", "b"), check_every_ms=100, status=lambda: states)
    feed(m2, ticks(0, 500, {"a": 100.0, "b": 100.02}))
    states["a"] = "reconnecting"
    feed(m2, ticks(500, 700, {"a": 100.0, "b": 100.02}))
    assert composites(out2)[-1].venue == "b"
    assert m2.table()[0].state == "reconnecting" and m2.table()[1].in_use


def test_a_flagged_primary_leaves_the_chain() -> None:
    m, out = monitor(primary=("a", "b", "c"), threshold_bps=50)
    feed(m, ticks(0, 500, {"a": 100.0, "b": 100.0, "c": 100.0}))
    feed(m, ticks(500, 700, {"a": 102.0, "b": 100.0, "c": 100.0}))
    last = composites(out)[-1]
    assert (last.venue, last.price, last.stale) == ("b", 100.0, False)
    assert last.reason.startswith(f"a {BTC}: deviates +")


def test_with_no_healthy_venue_the_last_value_is_marked_stale_with_its_age() -> None:
    m, out = monitor(primary=("a", "b"), max_age_ms=1000, composite_interval_ms=500)
    eth = "ETH/USDT"
    feed(m, [quote("a", 0, 100.0), quote("b", 0, 100.0)])
    feed(m, [quote("a", ms, 100.0 + ms / 1e4) for ms in range(100, 1100, 100)])  # b stale after 1 s
    # BTC goes quiet entirely; ETH keeps the event time moving
    feed(m, [quote("a", ms, 2000.0, eth) for ms in range(1100, 4000, 100)])
    btc = [c for c in composites(out) if c.symbol == BTC]
    stale = [c for c in btc if c.stale]
    assert stale, "the quiet asset must turn stale"
    first = stale[0]
    assert first.ts_event == T0 + 2100 * MS  # a's last quote at 1000 ms is older than 1 s
    assert (first.venue, first.price, first.rank) == ("a", 100.1, 0)
    assert first.age_ns == first.ts_event - (T0 + 1000 * MS)
    assert first.reason == f"a {BTC}: stale 1.1 s; b {BTC}: stale 2.1 s"
    # throttled re-emissions carry the growing age
    assert [c.age_ns for c in stale] == [c.ts_event - (T0 + 1000 * MS) for c in stale]
    assert stale[-1].age_ns > 2_500 * MS
    # with nothing streaming, the reader ages the last value by the caller's clock
    later = m.composite(BTC, T0 + 10_000 * MS)
    assert later is not None and later.stale and later.age_ns == 9_000 * MS
    fresh = m.composite(eth, T0 + 10_000 * MS)
    assert fresh is not None and fresh.stale and not m.composite(eth).stale  # type: ignore[union-attr]


def test_book_events_keep_a_quiet_venue_fresh() -> None:
    m, out = monitor(primary=("a", "b"), max_age_ms=1000)
    feed(m, [quote("a", 0, 100.0), quote("b", 0, 100.0)])
    for ms in range(100, 3000, 100):  # a's top does not move, but its book streams
        feed(m, [delta("a", ms), quote("b", ms, 100.0 + ms / 1e5)])
    assert {c.venue for c in composites(out)} == {"a"}
    m2, out2 = monitor(primary=("a", "b"), max_age_ms=1000, heartbeat=False)
    assert m2.takes == (Quote,)
    feed(m2, [quote("a", 0, 100.0), quote("b", 0, 100.0)])
    for ms in range(100, 3000, 100):
        feed(m2, [quote("b", ms, 100.0 + ms / 1e5)])
    assert composites(out2)[-1].venue == "b"


# -- grouping, table, bad input, determinism --------------------------------------------------------------


def test_spot_and_perp_are_separate_assets_unless_mapped_together() -> None:
    perp = "BTC/USDT:USDT"
    m, out = monitor(threshold_bps=5)
    feed(m, [quote(ex, 0, mid, symbol) for ex in ("a", "b") for symbol, mid in ((BTC, 100.0), (perp, 100.3))])
    assert of(VenueDeviation, out) == []
    assert {c.symbol for c in composites(out)} == {BTC, perp}

    m2, out2 = monitor(threshold_bps=5, assets={BTC: "BTC", perp: "BTC", ("c", "XBT/USD"): "BTC"})
    feed(m2, [quote("a", 0, 100.0), quote("b", 0, 100.0, perp), quote("c", 0, 101.0, "XBT/USD")])
    assert [(d.exchange, d.flagged) for d in of(VenueDeviation, out2)] == [("c", True)]
    assert {c.symbol for c in composites(out2)} == {"BTC"}
    assert [(r.asset, r.exchange, r.symbol) for r in m2.table()] == [
        ("BTC", "a", BTC), ("BTC", "b", perp), ("BTC", "c", "XBT/USD")
    ]  # fmt: skip


def test_bad_input_is_counted_not_raised() -> None:
    rejections = Rejections(log_first=0)
    m, out = monitor(rejections=rejections)
    good = quote("a", 0, 100.0)
    feed(m, [
        good,
        replace(good, bid=math.nan),
        replace(good, ask=-1.0),
        replace(good, ask=math.inf),
        replace(good, bid=0.0),
        replace(good, bid=101.0),  # above the ask
        replace(good, symbol="BTCUSDT"),  # not unified
        replace(good, symbol="/USDT"),
        replace(good, symbol=None),  # type: ignore[arg-type]
        replace(good, ts_event=good.ts_event - MS),  # older than the venue's last quote
        replace(good, ts_event=None),  # type: ignore[arg-type]
        replace(good, ask="100.01"),  # type: ignore[arg-type]
        replace(delta("a", 5), ts_event=math.nan),  # type: ignore[arg-type]
    ])  # fmt: skip
    reasons = {"InvalidValue": 7, "CrossedBook": 1, "UnknownSymbol": 3, "LateQuote": 1}
    assert dict(rejections.by_reason) == reasons
    assert [c.price for c in composites(out)] == [100.0]
    assert m._venues.keys() == {("a", BTC)}

    strict = Rejections(log_first=0)
    m2, _ = monitor(assets={BTC: "BTC"}, rejections=strict)
    feed(m2, [quote("a", 0, 100.0, "ETH/USDT"), quote("a", 0, 100.0)])
    assert dict(strict.by_reason) == {"UnknownSymbol": 1}


def test_bad_settings_are_config_errors() -> None:
    for options in ({"threshold_bps": 0}, {"threshold_bps": math.nan}, {"clear_bps": 60.0}, {"max_age_ms": 0},
                    {"composite_interval_ms": -1}, {"check_every_ms": math.inf}):  # fmt: skip
        with pytest.raises(ConfigError):
            VenueMonitor(**options)


def test_the_table_has_price_deviation_latency_and_state() -> None:
    tracker = LatencyTracker(report_every_ms=100)
    tracker.bind(lambda event: None)
    m, _ = monitor(primary=("a", "b", "c"), threshold_bps=50, max_age_ms=1000, latency=tracker)
    stream = ticks(0, 1000, {"a": 100.0, "b": 100.0, "c": 101.0})
    stream += ticks(1000, 2500, {"a": 100.0, "c": 101.0})  # b goes quiet
    for event in stream:
        tracker.on_event(event)
        m.on_event(event)
    rows = {r.exchange: r for r in m.table()}
    assert [r.exchange for r in m.table()] == ["a", "b", "c"]
    assert rows["a"].state == "ok" and rows["a"].in_use and rows["a"].price == 100.0
    assert rows["b"].state == "stale" and rows["b"].age_ms == pytest.approx(1500.0) and not rows["b"].in_use
    assert rows["c"].state == "flagged" and rows["c"].deviation_bps == pytest.approx(100.0)
    assert rows["c"].reference == 100.0
    # synthetic quotes arrive exactly 2 ms after their exchange time: all offset, no delay
    assert rows["a"].clock_offset_ms == pytest.approx(2.0) and rows["a"].latency_p99_ms == 0.0
    m.on_event(replace(quote("d", 2500, 100.0), bid=math.nan))  # a new venue whose first quote is bad
    row = m.table()[-1]
    assert (row.exchange, row.state) == ("d", "no quote") and math.isnan(row.price) and math.isnan(row.age_ms)
    later = {r.exchange: r for r in m.table(T0 + 5_000 * MS)}
    assert later["a"].state == "stale" and later["a"].age_ms == pytest.approx(2600.0)


def test_same_input_gives_the_same_events() -> None:
    rng = random.Random(11)
    stream: list[Any] = []
    mids = {"a": 100.0, "b": 100.0, "c": 100.0}
    for ms in range(0, 60_000, 7):
        ex = rng.choice("abc")
        if rng.random() < 0.02:
            continue  # a venue skips a beat
        mids[ex] *= math.exp(rng.gauss(0.0, 4e-4))
        if ex == "c" and 20_000 < ms < 30_000:
            stream.append(quote(ex, ms, mids[ex] * 1.01))
        elif ex == "b" and 40_000 < ms < 48_000:
            continue  # b goes quiet
        else:
            stream.append(quote(ex, ms, mids[ex]))

    def run() -> list[Any]:
        m, out = monitor(primary=("b", "a", "c"), threshold_bps=30, max_age_ms=2000)
        feed(m, stream)
        return out

    first, second = run(), run()
    assert first == second
    assert {type(e) for e in first} == {VenueDeviation, CompositePrice}
    assert any(d.flagged and d.exchange == "c" for d in of(VenueDeviation, first))
    assert {c.venue for c in composites(first)} >= {"a", "b"}


def test_the_events_are_registered_and_round_trip_through_recordings() -> None:
    m, out = monitor(threshold_bps=50)
    feed(m, [quote("a", 0, 100.0), quote("b", 0, 100.0), quote("c", 0, 102.0)])
    assert KINDS[VenueDeviation].tag == "venue_deviation" and KINDS[CompositePrice].tag == "composite_price"
    for event in out:
        assert decode(encode(event)) == event


# -- a session of simulators -------------------------------------------------------------------------------


class Shifted:
    """A simulator whose quotes are ``factor`` times higher from ``after_ns`` on (a venue gone wrong)."""

    endless = True
    speed = math.inf

    def __init__(self, sim: Simulator, factor: float, after_ns: int) -> None:
        self.sim, self.factor, self.after_ns = sim, factor, after_ns
        self.name, self.exchange, self.symbols = sim.name, sim.exchange, sim.symbols

    def iter_events(self, rejections: Rejections) -> Iterator[Any]:
        for event in self.sim.iter_events(rejections):
            if type(event) is Quote and event.ts_event >= self.after_ns:
                event = replace(event, bid=event.bid * self.factor, ask=event.ask * self.factor)
            yield event

    def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Any]:
        return paced(self.iter_events(rejections), clock, self.speed)


class Collect(Consumer):
    takes = (VenueDeviation, CompositePrice)

    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)


def test_a_session_of_three_simulators_flags_the_shifted_one() -> None:
    start = T0
    sims = [Simulator((BTC,), seed=seed, start_ns=start, exchange=ex, history=None)
            for seed, ex in ((1, "sima"), (2, "simb"), (3, "simc"))]  # fmt: skip
    sources = [sims[0], sims[1], Shifted(sims[2], 1.01, start + 10_000 * MS)]
    tracker = LatencyTracker(report_every_ms=500)
    venues = VenueMonitor(primary=("sima", "simb", "simc"), threshold_bps=50, latency=tracker)
    seen = Collect()
    session = Session(sources, timeframes=(), clock=SimulatedClock(start), consumers=[tracker, venues, seen])
    venues.status = session_states(session)
    session.run_until_done(until_ns=start + 20_000 * MS)

    assert session.names == ("sim", "sim#2", "sim#3")
    flags = of(VenueDeviation, seen.events)
    assert [(d.exchange, d.flagged) for d in flags] == [("simc", True)]
    assert flags[0].ts_event >= start + 10_000 * MS and flags[0].deviation_bps > 90
    comps = of(CompositePrice, seen.events)
    assert len(comps) >= 19 and {(c.venue, c.stale) for c in comps} == {("sima", False)}
    assert session.cache.latest(CompositePrice, (COMPOSITE, BTC)) == comps[-1]
    rows = venues.table()
    assert [(r.exchange, r.state, r.in_use) for r in rows] == [
        ("sima", "ok", True), ("simb", "ok", False), ("simc", "flagged", False)
    ]  # fmt: skip
    assert abs(rows[1].deviation_bps) < 20
    # the simulator's receive time is the event time + 1.5 ms + an exponential 0.5 ms: floor and delay
    for row in rows:
        assert 1.4 <= row.clock_offset_ms <= 1.6 and 0.1 < row.latency_p50_ms < row.latency_p99_ms < 5.0
    assert session.rejections.total == 0 and venues.rejections.total == 0


def test_session_states_reads_each_source_status_by_exchange() -> None:
    sims = [
        Simulator((BTC,), seed=1, start_ns=T0, exchange=ex, history=None) for ex in ("sima", "simb", "sima")
    ]
    session = Session(sims, timeframes=(), clock=SimulatedClock(T0))
    states = session_states(session)
    session.set_status("connected")
    assert states() == {"sima": "connected", "simb": "connected"}
    session.set_status("reconnecting", "socket closed", source="sim#3")  # one of sima's two sources
    session.set_status("error", "HTTP 451", source="sim#2")
    assert states() == {"sima": "reconnecting", "simb": "error"}
    m, out = monitor(primary=("simb", "sima"), status=states)
    feed(m, ticks(0, 300, {"simb": 100.0, "sima": 100.01}))
    assert composites(out) == []  # no venue was ever healthy: no price at all rather than a doubtful one
    assert [r.state for r in m.table()] == ["error", "reconnecting"]
    session.set_status("connected", source="sim#3")
    feed(m, ticks(300, 500, {"simb": 100.0, "sima": 100.01}))
    assert [(c.venue, c.rank, c.reason) for c in composites(out)] == [("sima", 1, f"simb {BTC}: error")]
    assert composites(out)[0].ts_event == T0 + 300 * MS  # the first event after the change, polled first
