"""Replay of Binance captures and mdx recordings, merged by receive time.

Each file's events are already in receive-time order, so several files (the 0808 and 0809 halves of
one symbol, other symbols, recordings) merge into one stream: consecutive halves of a symbol play as
one continuous stream. ``symbols`` and ``exchange`` are discovered lazily on first access by reading
the first events of each file (a few ms); replay itself streams and never loads whole files.

A replay has no ``history`` (``mdx.sources.base.HistorySource``): it shows what its files hold, so its
charts start at the first trade of the capture and its indicators warm up on the replayed bars.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from itertools import islice
from os import PathLike
from pathlib import Path

from ..clock import Clock
from ..errors import ConfigError
from ..events import Event
from ..io.capture import read_capture
from ..io.lines import check_path
from ..stats import Rejections
from .base import paced
from .merge import merge_by_recv

PEEK_EVENTS = 500

PathArg = str | PathLike[str]


class ReplaySource:
    """An ``OfflineSource`` over capture files and recordings. ``speed`` scales real-time playback in
    ``stream`` (``<= 0`` or ``inf``: as fast as possible); ``iter_events`` never waits."""

    endless = False

    def __init__(
        self, paths: PathArg | Iterable[PathArg], *, market: str | None = None, speed: float = 1.0
    ) -> None:
        items = [paths] if isinstance(paths, str | PathLike) else list(paths)
        if not items:
            raise ConfigError("ReplaySource needs at least one capture or recording path")
        self.paths: tuple[Path, ...] = tuple(check_path(p) for p in items)
        self.market = market
        self.speed = speed
        self.name = "replay:" + ",".join(p.name for p in self.paths)
        self._found: list[tuple[str, str]] | None = None

    def _discover(self) -> list[tuple[str, str]]:
        if self._found is None:
            found: list[tuple[str, str]] = []
            for path in self.paths:
                events = read_capture(path, market=self.market, rejections=Rejections(log_first=0))
                for event in islice(events, PEEK_EVENTS):
                    if (event.exchange, event.symbol) not in found:
                        found.append((event.exchange, event.symbol))
                close = getattr(events, "close", None)
                if close is not None:
                    close()
            self._found = found
        return self._found

    @property
    def symbols(self) -> tuple[str, ...]:
        """Unified symbols found in the first events of each file, in order of appearance."""
        return tuple(dict.fromkeys(symbol for _, symbol in self._discover()))

    @property
    def exchange(self) -> str:
        """The exchange id (several joined by ``,`` when the files mix markets)."""
        return ",".join(dict.fromkeys(exchange for exchange, _ in self._discover()))

    def iter_events(self, rejections: Rejections) -> Iterator[Event]:
        iterators = [read_capture(p, market=self.market, rejections=rejections) for p in self.paths]
        return iterators[0] if len(iterators) == 1 else merge_by_recv(iterators)

    def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        return paced(self.iter_events(rejections), clock, self.speed)

    def __repr__(self) -> str:
        return f"ReplaySource({[str(p) for p in self.paths]!r}, speed={self.speed})"


__all__ = ["ReplaySource"]
