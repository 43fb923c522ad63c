"""What the loopback fake exchanges share: an aiohttp app served on 127.0.0.1 (a free port), started and
stopped as an async context manager, and waiting on a condition with a generous timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Self

from aiohttp import web


class LoopbackServer:
    """Subclasses build their ``web.Application`` in ``app()`` and close their websockets in
    ``disconnect()``; ``name`` says which fake a timeout came from."""

    name = "fake"

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0

    def app(self) -> web.Application:
        raise NotImplementedError

    async def disconnect(self) -> int:
        return 0

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app(), handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        await self.disconnect()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: timed out waiting for {what or predicate}")
            await asyncio.sleep(0.005)
