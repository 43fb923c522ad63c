"""Clocks. Everything time-dependent reads a ``Clock`` so replay and tests are deterministic."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current time in ns since the epoch."""
        ...

    async def sleep_until(self, ts_ns: int) -> None:
        """Return once ``now_ns() >= ts_ns``."""
        ...


class LiveClock:
    """Wall-clock time; sleeps on the running loop."""

    def now_ns(self) -> int:
        return time.time_ns()

    async def sleep_until(self, ts_ns: int) -> None:
        delay = (ts_ns - time.time_ns()) / 1e9
        await asyncio.sleep(max(delay, 0.0))


class SimulatedClock:
    """A clock that only moves when told to. ``sleep_until`` jumps forward instead of waiting."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns > self._now:
            self._now = ts_ns

    def advance(self, delta_ns: int) -> None:
        self._now += max(delta_ns, 0)

    async def sleep_until(self, ts_ns: int) -> None:
        self.advance_to(ts_ns)
        await asyncio.sleep(0)


__all__ = ["Clock", "LiveClock", "SimulatedClock"]
