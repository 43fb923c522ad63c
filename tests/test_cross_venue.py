"""Two venues through the real ccxt clients in one session — the fake Binance and the fake Bybit (spot and
perpetual pooled as one asset) — with the venue monitor and the latency tracker: a deviation injected on one
fake is flagged, and the composite price leaves a venue that goes down and comes back when it recovers."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import pytest

from mdx.consumer import Consumer
from mdx.market.latency import LatencyTracker
from mdx.market.venues import CompositePrice, VenueDeviation, VenueMonitor, session_states
from mdx.session import Session
from mdx.sources.live import LiveSource
from tests.fake_binance import FakeBinance
from tests.fake_bybit import FakeBybit
from tests.test_live import FAST

pytestmark = pytest.mark.timeout(90)
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
MID = 65000.0


class Collect(Consumer):
    takes = (VenueDeviation, CompositePrice)

    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)

    def composite(self) -> CompositePrice | None:
        found = [e for e in self.events if isinstance(e, CompositePrice)]
        return found[-1] if found else None

    def flags(self) -> list[tuple[str, str, bool]]:
        return [(e.exchange, e.symbol, e.flagged) for e in self.events if isinstance(e, VenueDeviation)]


async def until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def on(composite: CompositePrice | None, exchange: str, symbol: str) -> bool:
    return composite is not None and (composite.venue, composite.venue_symbol) == (exchange, symbol)


def levels(mid: float, size: float) -> tuple[dict[float, float], dict[float, float]]:
    return {mid - 0.5 * (i + 1): size for i in range(5)}, {mid + 0.5 * (i + 1): size for i in range(5)}


async def tick(binance: FakeBinance, bybit: FakeBybit, offsets: dict[str, float]) -> None:
    """Keep every venue quoting: each book is replaced every 100 ms by five levels a side around its mid
    (``MID`` moved by ``offsets``), the sizes changing so the top of book changes."""
    books: dict[str, tuple[dict[float, float], dict[float, float]]] = {}
    k = 0
    while True:
        k += 1
        for key in ("binance", "spot", "perp"):
            bids, asks = levels(MID * (1 + offsets.get(key, 0.0)), 1.0 + (k % 5) / 10)
            old_bids, old_asks = books.get(key, ({}, {}))
            bid_changes = [(p, 0.0) for p in old_bids if p not in bids] + list(bids.items())
            ask_changes = [(p, 0.0) for p in old_asks if p not in asks] + list(asks.items())
            books[key] = (bids, asks)
            if key == "binance":
                await binance.push_depth("BTCUSDT", bid_changes, ask_changes)
            else:
                category = "spot" if key == "spot" else "linear"
                await bybit.push_depth("BTCUSDT", bid_changes, ask_changes, category=category)
        await asyncio.sleep(0.1)


def test_a_deviation_is_flagged_and_the_composite_falls_back_and_returns() -> None:
    async def main() -> None:
        async with FakeBinance() as binance, FakeBybit() as bybit:
            binance.ladder("BTCUSDT", MID, levels=5)
            bybit.ladder("BTCUSDT", MID, category="spot", levels=5)
            bybit.ladder("BTCUSDT", MID, category="linear", levels=5)
            sources = [
                LiveSource("binance", [SPOT], exchange_options=binance.ccxt_config(), backoff=FAST,
                           rng=random.Random(1), ws_failures_before_polling=None),
                LiveSource("bybit", [SPOT, PERP], exchange_options=bybit.ccxt_config(), backoff=FAST,
                           rng=random.Random(2)),
            ]  # fmt: skip
            tracker = LatencyTracker(report_every_ms=500)
            monitor = VenueMonitor(primary=("binance", "bybit"), threshold_bps=50, max_age_ms=1500,
                                   assets={SPOT: "BTC", PERP: "BTC"}, latency=tracker)  # fmt: skip
            seen = Collect()
            session = Session(sources, timeframes=(), consumers=[tracker, monitor, seen])
            monitor.status = session_states(session)
            offsets: dict[str, float] = {}
            running = asyncio.create_task(session.run())
            ticking = asyncio.create_task(tick(binance, bybit, offsets))
            try:
                composite = seen.composite
                await until(lambda: (c := composite()) is not None and c.venue == "binance" and not c.stale,
                            "the composite on the primary")  # fmt: skip
                assert seen.flags() == []
                # bybit spot quotes 1 % high: flagged, alone (three venues tell which one is off)
                offsets["spot"] = 0.01
                await until(lambda: ("bybit", SPOT, True) in seen.flags(), "the deviation flagged")
                assert seen.flags() == [("bybit", SPOT, True)]
                rows = {(r.exchange, r.symbol): r for r in monitor.table()}
                assert rows[("bybit", SPOT)].state == "flagged" and rows[("bybit", SPOT)].deviation_bps > 90
                # the primary goes down: the composite moves to the next healthy venue (not the flagged one)
                binance.refuse_ws = 10**6
                await binance.disconnect()
                await until(lambda: on(composite(), "bybit", PERP), "the fallback to bybit's perpetual")
                assert composite().price == pytest.approx(MID, rel=1e-4) and not composite().stale
                # it recovers: back to the primary
                binance.refuse_ws = 0
                await until(lambda: on(composite(), "binance", SPOT), "back on binance", 30)
                offsets["spot"] = 0.0
                await until(lambda: seen.flags()[-1] == ("bybit", SPOT, False), "the deviation cleared")
                latency = tracker.latest()
                assert {"binance", "bybit"} <= {exchange for exchange, _ in latency}
                assert all(f.delay_p99_ns >= f.delay_p50_ns >= 0 for f in latency.values())
            finally:
                ticking.cancel()
                running.cancel()
                for task in (ticking, running):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    asyncio.run(asyncio.wait_for(main(), 80))
