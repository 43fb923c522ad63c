"""Market-data sources. ``make_source(settings)`` builds the one the settings describe."""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigError
from .base import OfflineSource, Source, paced


def make_source(settings: Settings) -> Source:
    """The simulator (embedded default), a replay of captures/recordings, or a live exchange."""
    if settings.source_kind == "sim":
        from .simulator import Simulator

        return Simulator(settings.symbols, seed=settings.seed)
    if settings.source_kind == "replay":
        from .replay import ReplaySource

        if not settings.replay_paths:
            raise ConfigError("replay needs at least one path: replay:PATH[,PATH...]")
        return ReplaySource(settings.replay_paths)
    raise ConfigError(
        f"live source {settings.source!r}: live exchanges through ccxt.pro are not wired in yet; "
        "use 'sim' or 'replay:PATH'"
    )


__all__ = ["OfflineSource", "Source", "make_source", "paced"]
