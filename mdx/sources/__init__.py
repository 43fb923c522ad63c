"""Market-data sources. ``make_sources(settings)`` builds the ones the settings describe (several when
``source`` joins them with ``+``); ``make_source`` builds exactly one. A live source gets its exchange's
ccxt options and credentials from ``settings.ccxt_config`` (see ``mdx.config``). ``settings.history``
is how far back the simulator's history and a live exchange's candles reach (``"0"``: no history)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..config import Settings, history_ns
from ..errors import ConfigError
from .base import HistorySource, OfflineSource, Source, paced

if TYPE_CHECKING:
    from ..store.cache import TTLCache


def make_sources(settings: Settings) -> tuple[Source, ...]:
    """Every source of ``settings.source`` (``sim+replay:PATH`` gives the simulator and a replay)."""
    # credentials are resolved against the whole settings: MDX_API_KEY is ambiguous with two exchanges
    return tuple(_make(replace(settings, source=spec), settings) for spec in settings.source_specs)


def make_source(settings: Settings) -> Source:
    """The simulator (embedded default), a replay of captures/recordings, a live exchange, or the Redis
    streams of a collector (``redis://HOST:PORT/DB``)."""
    if len(settings.source_specs) > 1:
        raise ConfigError(f"{settings.source!r} names several sources; this needs one (use make_sources)")
    return _make(settings, settings)


def _make(settings: Settings, whole: Settings) -> Source:
    if settings.source_kind == "sim":
        from .sim.simulator import Simulator

        return Simulator(settings.symbols, seed=settings.seed, history=settings.history)
    if settings.source_kind == "replay":
        from .replay import ReplaySource

        if not settings.replay_paths:
            raise ConfigError("replay needs at least one path: replay:PATH[,PATH...]")
        return ReplaySource(settings.replay_paths)
    if settings.source_kind == "redis":  # an `mdx collect` publishing to Redis (mdx.sources.redis)
        from .redis.source import RedisSource

        history = history_ns(settings.history)
        return RedisSource(settings.source, settings.symbols, exchange=settings.exchange, history_ns=history)
    from .live.ccxt_source import LiveSource

    exchange_id = settings.exchange if settings.source == "live" else settings.source
    if not exchange_id:
        raise ConfigError("MDX_SOURCE=live needs MDX_EXCHANGE (a ccxt.pro exchange id, e.g. binance)")
    options = whole.ccxt_config(exchange_id)  # its MDX_<EXCHANGE>_CCXT_OPTIONS, credentials on top
    return LiveSource(
        exchange_id,
        settings.symbols,
        exchange_options=options,
        history_ns=history_ns(settings.history),
        channels=settings.channels,
        cache=rest_cache(whole.redis_url),
    )


_CACHES: dict[str, TTLCache] = {}


def rest_cache(redis_url: str = "") -> TTLCache:
    """The process's cache of REST lookups (markets, polled values) for live sources: on Redis when
    ``redis_url`` is set (shared by every kernel using it), else in memory. One per URL."""
    cache = _CACHES.get(redis_url)
    if cache is None:
        from ..store.cache import TTLCache

        cache = _CACHES[redis_url] = TTLCache.from_url(redis_url or None)
    return cache


__all__ = ["HistorySource", "OfflineSource", "Source", "make_source", "make_sources", "paced"]
