"""``mdx collect``: one session over the real sources, published to Redis for every dashboard.

    collector = Collector(make_sources(settings), "redis://127.0.0.1:6379/0", timeframes=("1m",))
    await collector.run(seconds=60)         # or collector.start() / collector.stop() from a thread

The session is the ordinary one (trade checks, books, bars), with a ``RedisPublisher`` wired after its
consumers, so only what the session accepted is published, in the order it was processed. When the run
ends (its sources end, ``seconds`` pass, ``stop()``) the buffer is written before the publisher stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ...clock import Clock
from ...session import Session
from ..base import Source
from .publisher import RedisPublisher


class Collector:
    """A session over ``sources`` whose events go to Redis at ``url`` (see ``RedisPublisher`` for
    ``publisher_options``: ``maxlen``, ``ttl_s``, ``bars_kept``, ...)."""

    def __init__(
        self,
        sources: Source | Sequence[Source],
        url: str,
        *,
        timeframes: Iterable[str] = ("1s", "1m", "5m"),
        clock: Clock | None = None,
        speed: float | None = None,
        **publisher_options: Any,
    ) -> None:
        self.publisher = RedisPublisher(url, **publisher_options)
        self.session = Session(
            sources, timeframes=timeframes, clock=clock, speed=speed, consumers=[self.publisher]
        )
        self.publisher.books = self.session.books
        self.publisher.meta.update(
            source=self.session.name,
            symbols=list(self.session.symbols),
            timeframes=list(self.session.timeframes),
            started_ns=time.time_ns(),
        )
        self.drained = True  # False when the last run ended with events not written (Redis away)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        return f"Collector({self.session.name!r}, {self.publisher!r})"

    async def run(
        self, *, seconds: float | None = None, max_events: int | None = None, drain_s: float = 10.0
    ) -> None:
        """Run the session (until its sources end, ``seconds`` pass, ``max_events``, or ``stop()``) and
        write what it published; raises what ``Session.run`` raises."""
        writer = asyncio.create_task(self.publisher.run(), name="mdx-redis-publisher")
        try:
            if seconds is None:
                await self.session.run(max_events=max_events)
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(seconds):
                        await self.session.run(max_events=max_events)
        finally:
            if not writer.done():
                self.drained = await self.publisher.drain(drain_s)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    def start(self, **options: Any) -> Collector:
        """Run in a background thread with its own loop (``options`` as for ``run``); returns at once."""
        if self.running:
            return self

        def main() -> None:
            try:
                asyncio.run(self.run(**options))
            except BaseException as error:  # kept for stop() to raise; the session's status says it too
                self._error = error

        self._error = None
        self._thread = threading.Thread(target=main, name="mdx-collector", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the session, write what it published (up to ``drain_s``) and wait; True once stopped."""
        self.session.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


__all__ = ["Collector"]
