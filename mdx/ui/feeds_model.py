"""The feed lines under the status line (no widgets): per live source the mode of its streams when any
is polled over REST, the latency per venue (a ``LatencyTracker``'s last reports) and the REST lookup
cache's metrics. Plain text, one line each; none for a session without live sources.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..market.latency import Latency


def _modes(source: Any) -> str:
    """``binance: polling trades BTC/USDT, book BTC/USDT (websocket 2)`` when any stream polls, else ""."""
    modes: Mapping[str, str] = getattr(source, "modes", None) or {}
    try:
        items = list(modes.items())  # the engine thread may add a stream meanwhile
    except RuntimeError:
        return ""
    polled = sorted(key for key, mode in items if mode == "polling")
    if not polled:
        return ""
    others = len(items) - len(polled)
    rest = f" (websocket {others})" if others else ""
    return f"{source.exchange}: polling {', '.join(polled)}{rest}"


def _latency(latest: Mapping[tuple[str, str], Latency]) -> str:
    """``latency p50/p99 ms: binance 12.0/40.1 · bybit 30.2/88.0`` (each venue's busiest channel)."""
    best: dict[str, Latency] = {}
    for (exchange, _channel), figures in latest.items():
        if exchange not in best or figures.total > best[exchange].total:
            best[exchange] = figures
    if not best:
        return ""
    parts = [
        f"{exchange} {f.delay_p50_ns / 1e6:.1f}/{f.delay_p99_ns / 1e6:.1f}"
        for exchange, f in sorted(best.items())
    ]
    return "latency p50/p99 ms: " + " · ".join(parts)


def _cache(metrics: Any) -> str:
    rate = metrics.hit_rate
    hit = f"{rate:.0%}" if math.isfinite(rate) else "—"
    p50, p99 = (f"{v:.0f}" if math.isfinite(v) else "—" for v in (metrics.fetch_p50_ms, metrics.fetch_p99_ms))
    return (
        f"REST cache: {metrics.hits} hits, {metrics.misses} misses, hit rate {hit}, "
        f"fetch p50/p99 {p50}/{p99} ms"
    )


def feed_lines(sources: Iterable[Any], latest: Mapping[tuple[str, str], Latency] | None) -> tuple[str, ...]:
    """The lines for ``sources`` (live ones have ``modes``) and a tracker's ``latest()`` reports."""
    live = [source for source in sources if hasattr(source, "modes")]
    if not live:
        return ()
    lines = [line for line in map(_modes, live) if line]
    if latest:
        lines.append(_latency(latest))
    caches = list({id(c): c for c in (getattr(s, "cache", None) for s in live) if c is not None}.values())
    lines.extend(_cache(cache.metrics()) for cache in caches)
    return tuple(line for line in lines if line)


__all__ = ["feed_lines"]
