"""Plain values the monitor's panels show: what ``MonitorModel`` produces and the widgets draw.

Frozen dataclasses of floats, strings and arrays (None = unknown, drawn as a dash), so the model can be
built and tested without ipywidgets or bqplot, and a panel can be fed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class TileValues:
    """The headline tiles of the selected symbol."""

    last: float | None = None
    change_pct: float | None = None  # over the session (first trade seen) unless the venue says 24h
    change_basis: str = "session"
    bid: float | None = None
    ask: float | None = None
    spread_bps: float | None = None
    imbalance: float | None = None
    bar_volume: float | None = None
    timeframe: str = ""
    rate: float | None = None  # messages per second for the symbol (the status line has the total)
    age_ms: float | None = None  # since the symbol's last event
    stale_after_ms: float = 5000.0
    symbol: str = ""  # names the units: prices in its quote currency, volume in its base currency


@dataclass(frozen=True, slots=True)
class WatchValues:
    """One watchlist row."""

    last: float | None = None
    change_pct: float | None = None
    spread_bps: float | None = None
    prices: np.ndarray = field(default_factory=lambda: np.empty(0))  # recent prices for the sparkline


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """What the status line shows besides the session's own ``SessionStatus``."""

    symbols: int = 0
    rate: float | None = None  # messages per second, all symbols together
    events: int = 0
    rejected: int = 0
    rejected_reason: str = ""
    refresh_hz: float = 0.0
    refresh_ms: float | None = None
    now_ns: int = 0  # the session clock's now, for "next try in"


@dataclass(frozen=True, slots=True)
class SignalValues:
    """The baseline z-score signal of the selected symbol and timeframe, at its latest bar (the open one
    when there is one): ``label`` BUY below ``-entry``, SELL above ``+entry``, NEUTRAL between; "" and
    ``zscore`` None while fewer than ``n`` bars were seen."""

    zscore: float | None = None
    label: str = ""
    n: int = 20
    entry: float = 1.0
    bars: int = 0
    symbol: str = ""
    timeframe: str = ""


@dataclass(frozen=True, slots=True)
class ConfluenceValues:
    """The latest confluence score (0-100) of the selected symbol and timeframe and its six sub-scores
    (in [0, 1]; None: a dimension without data). ``score`` None through the warm-up or without a maker."""

    score: float | None = None
    label: str = ""
    dimensions: tuple[tuple[str, float | None], ...] = ()
    timeframe: str = ""
    ts_ns: int = 0  # the close time of the bar it was computed on (0: none yet)


@dataclass(frozen=True, slots=True)
class ConsensusValues:
    """The multi-timeframe consensus of the selected symbol: one vote per timeframe ("" = none yet)."""

    signal: str = ""
    confidence: float | None = None
    strength: float | None = None
    votes: tuple[tuple[str, str], ...] = ()
    ts_ns: int = 0


@dataclass(frozen=True, slots=True)
class AlertValues:
    """The alert engine's active rules as (name, what it watches) and its last fired ``Alert`` events,
    newest first."""

    rules: tuple[tuple[str, str], ...] = ()
    triggers: tuple[Any, ...] = ()
    fired: int = 0
    suppressed: int = 0


__all__ = [
    "AlertValues",
    "ConfluenceValues",
    "ConsensusValues",
    "SignalValues",
    "StatusInfo",
    "TileValues",
    "WatchValues",
]
