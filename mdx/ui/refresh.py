"""A fixed-rate refresh task on the kernel's own asyncio loop.

Cells never block: ``Refresher.start()`` creates a task on the running loop and returns. The task calls
the refresh callback every ``1 / hz`` seconds (default 4 Hz, at most 10 Hz) — never per event — and keeps
timing figures. A failing refresh is logged (first few times) and counted; the task keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..clock import Clock
from ..errors import ConfigError

log = logging.getLogger("mdx.ui")

DEFAULT_HZ = 4.0
MAX_HZ = 10.0


def check_hz(hz: float) -> float:
    if not (isinstance(hz, int | float) and 0 < hz <= MAX_HZ):
        raise ConfigError(f"refresh rate must be in (0, {MAX_HZ:g}] Hz, got {hz!r}")
    return float(hz)


class _LoopClock:
    """The running loop's monotonic time as a ``Clock``: the default schedule, immune to wall-clock jumps."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now_ns(self) -> int:
        return int(self._loop.time() * 1e9)

    async def sleep_until(self, ts_ns: int) -> None:
        await asyncio.sleep(max(ts_ns - self.now_ns(), 0) / 1e9)


class Refresher:
    """Calls ``callback`` every ``1 / hz`` seconds on the loop it is started on.

    ``clock`` (optional) schedules the refreshes with ``clock.now_ns()`` / ``clock.sleep_until()``
    instead of the loop's own monotonic time — e.g. a ``SimulatedClock`` in tests, where the schedule is
    exact and nothing waits. The default (``None``) uses the loop's time.
    """

    def __init__(
        self,
        callback: Callable[[], object],
        hz: float = DEFAULT_HZ,
        *,
        log_first: int = 3,
        clock: Clock | None = None,
    ) -> None:
        self.callback = callback
        self._clock = clock
        self._hz = check_hz(hz)
        self.count = 0
        self.errors = 0
        self.last_ms = 0.0
        self.recent_ms = 0.0  # exponentially weighted over the last ~10 refreshes
        self.max_ms = 0.0
        self.total_ms = 0.0
        self._log_first = log_first
        self._task: asyncio.Task[None] | None = None

    @property
    def hz(self) -> float:
        return self._hz

    @hz.setter
    def hz(self, value: float) -> None:
        self._hz = check_hz(value)

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.count if self.count else 0.0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def tick(self) -> None:
        """One refresh, timed. Errors are logged and counted, never raised into the loop."""
        started = time.perf_counter()
        try:
            self.callback()
        except Exception as error:  # a refresh bug must not kill the dashboard; it shows in the log panel
            self.errors += 1
            if self.errors <= self._log_first:
                log.exception("refresh failed: %s", error)
        elapsed = (time.perf_counter() - started) * 1e3
        self.count += 1
        self.last_ms = elapsed
        self.recent_ms = elapsed if self.count == 1 else 0.9 * self.recent_ms + 0.1 * elapsed
        self.total_ms += elapsed
        self.max_ms = max(self.max_ms, elapsed)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> Refresher:
        """Schedule the task on ``loop`` (default: the running loop, i.e. the kernel's); returns at once."""
        if self.running:
            return self
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise ConfigError(
                    "no running event loop: start the refresh from a notebook cell (the kernel's loop), "
                    "or `await app.run()` in async code"
                ) from None
        self._task = loop.create_task(self._run(), name="mdx-refresh")
        return self

    async def _run(self) -> None:
        clock = self._clock or _LoopClock(asyncio.get_running_loop())
        due = clock.now_ns()
        while True:
            self.tick()
            due += round(1e9 / self._hz)
            now = clock.now_ns()
            if due < now:  # fell behind (a slow refresh or a busy cell): skip, do not burst
                due = now
            await clock.sleep_until(due)

    async def run(self, seconds: float) -> None:
        """Refresh on the current loop for ``seconds`` (scripts, benchmarks)."""
        self.start()
        await asyncio.sleep(seconds)
        self.stop()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


__all__ = ["DEFAULT_HZ", "MAX_HZ", "Refresher", "check_hz"]
