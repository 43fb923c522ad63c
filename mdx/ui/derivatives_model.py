"""The derivatives panel's values (no widgets) for one (exchange, symbol): funding rate and time to the
next funding, mark and index price, open interest and the last liquidations, from the session's cache.

Shown for a perpetual (a unified symbol with ``:``, e.g. ``BTC/USDT:USDT``) or whenever the cache holds
one of those events for the symbol; a value the venue did not give is None (a dash on screen).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..cache import Cache, Key
from ..channel_events import Funding, Liquidation, MarkPrice, OpenInterest

LIQUIDATIONS = 5  # rows in the panel


@dataclass(frozen=True, slots=True)
class DerivativesValues:
    shown: bool = False
    exchange: str = ""
    symbol: str = ""
    funding_pct: float | None = None  # per interval, in percent
    next_funding_s: float | None = None  # seconds until it is charged
    next_funding_ns: int = 0
    mark: float | None = None
    index: float | None = None
    oi_amount: float | None = None
    oi_value: float | None = None
    liquidations: tuple[Liquidation, ...] = ()  # newest first


NO_DERIVATIVES = DerivativesValues()


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def derivative_key(cache: Cache, key: Key, exchanges: Sequence[str]) -> Key:
    """``key``, or the first of ``exchanges`` whose cache has derivatives data for the symbol when ``key``
    has none (a spot exchange in the session lists no perpetual)."""
    symbol = key[1]
    for candidate in (key, *((exchange, symbol) for exchange in exchanges if exchange != key[0])):
        if any(cache.latest(cls, candidate) is not None for cls in (Funding, MarkPrice, OpenInterest)):
            return candidate
        if cache.history(Liquidation, candidate, n=1):
            return candidate
    return key


def derivatives_values(cache: Cache, key: Key, now_ns: int, rows: int = LIQUIDATIONS) -> DerivativesValues:
    """What the panel shows for ``key`` at clock time ``now_ns``."""
    funding: Funding | None = cache.latest(Funding, key)
    mark: MarkPrice | None = cache.latest(MarkPrice, key)
    interest: OpenInterest | None = cache.latest(OpenInterest, key)
    liquidations = tuple(reversed(cache.history(Liquidation, key, n=rows)))
    if not (":" in key[1] or funding or mark or interest or liquidations):
        return NO_DERIVATIVES
    next_ns = funding.next_funding_ns if funding is not None else 0
    return DerivativesValues(
        shown=True,
        exchange=key[0],
        symbol=key[1],
        funding_pct=_num(funding.rate * 100) if funding is not None else None,
        next_funding_s=max(next_ns - now_ns, 0) / 1e9 if next_ns else None,
        next_funding_ns=next_ns,
        mark=_num(mark.mark) if mark is not None else None,
        index=_num(mark.index) if mark is not None else None,
        oi_amount=_num(interest.amount) if interest is not None else None,
        oi_value=_num(interest.value) if interest is not None else None,
        liquidations=liquidations,
    )


__all__ = ["LIQUIDATIONS", "NO_DERIVATIVES", "DerivativesValues", "derivative_key", "derivatives_values"]
