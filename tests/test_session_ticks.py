"""On a live clock the session ticks its time-driven consumers once a second: a stale-feed alert fires while
no event arrives at all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from mdx.alerts import AlertEngine, Stale
from mdx.clock import Clock, LiveClock
from mdx.events import Trade
from mdx.session import Session
from mdx.stats import Rejections


class OneTradeThenSilence:
    name = "quiet"
    exchange = "quiet"
    symbols = ("BTC/USDT",)

    async def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Trade]:
        now = clock.now_ns()
        yield Trade("quiet", "BTC/USDT", now, now, "1", 100.0, 1.0, "buy")
        while True:
            await asyncio.sleep(3600)


def test_a_silent_feed_fires_the_stale_rule_on_a_live_clock() -> None:
    async def main() -> None:
        engine = AlertEngine([Stale("BTC/USDT", seconds=1.0, cooldown=0)], symbols=("BTC/USDT",))
        session = Session(OneTradeThenSilence(), timeframes=(), clock=LiveClock(), consumers=[engine])
        running = asyncio.create_task(session.run())
        deadline = time.monotonic() + 20
        while not engine.recent():
            assert time.monotonic() < deadline, "no stale alert within 20 s of silence"
            assert not running.done()
            await asyncio.sleep(0.05)
        (alert,) = engine.recent()
        assert alert.kind == "stale" and "has had no data" in alert.text and alert.value >= 1.0
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(asyncio.wait_for(main(), 30))
