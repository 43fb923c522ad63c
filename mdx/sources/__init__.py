"""Market-data sources. ``make_source(settings)`` builds the one the settings describe."""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigError
from .base import OfflineSource, Source, paced


def make_source(settings: Settings) -> Source:
    """The simulator (embedded default), a replay of captures/recordings, or a live exchange."""
    if settings.source_kind == "sim":
        from .sim.simulator import Simulator

        return Simulator(settings.symbols, seed=settings.seed)
    if settings.source_kind == "replay":
        from .replay import ReplaySource

        if not settings.replay_paths:
            raise ConfigError("replay needs at least one path: replay:PATH[,PATH...]")
        return ReplaySource(settings.replay_paths)
    from .live.ccxt_source import LiveSource

    exchange_id = settings.exchange if settings.source == "live" else settings.source
    if not exchange_id:
        raise ConfigError("MDX_SOURCE=live needs MDX_EXCHANGE (a ccxt.pro exchange id, e.g. binance)")
    return LiveSource(exchange_id, settings.symbols)


__all__ = ["OfflineSource", "Source", "make_source", "paced"]
