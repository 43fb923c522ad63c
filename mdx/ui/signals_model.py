"""The monitor's signals without widgets: the baseline z-score signal of the selected bars, and the latest
confluence score and multi-timeframe consensus that the session's ``ConfluenceMaker`` put in the cache.

    maker = confluence_maker(session)          # the session's maker (added when it has none)
    tracker = SignalTracker()
    tracker.signal(series, "BTC/USDT", "1m")   # SignalValues from mdx.analytics.signals.ZScoreSignal
    tracker.confluence(cache, key, "1m")       # ConfluenceValues from cache.latest(Confluence, key, "1m")
    tracker.consensus(cache, key, maker)       # ConsensusValues from cache.latest(Consensus, key)

The values are the package's (no maths here); each reader returns the same object while its source did
not change, so a panel can skip its redraw by identity.
"""

from __future__ import annotations

import math
from typing import Any

from ..analytics.confluence import DIMENSIONS
from ..analytics.live import Confluence, ConfluenceMaker, Consensus
from ..analytics.signals import ZScoreSignal
from ..cache import Cache, Key
from .data import BarSeries
from .values import ConfluenceValues, ConsensusValues, SignalValues

SIGNAL_N = 20  # the baseline: z-score of the close over 20 bars
SIGNAL_ENTRY = 1.0  # buy below -1, sell above +1


def confluence_maker(session: Any) -> ConfluenceMaker | None:
    """The session's ``ConfluenceMaker``: the first one wired into it, else a new one over the session's
    timeframes added to it (None when the session builds no bars)."""
    for consumer in session.consumers:
        if isinstance(consumer, ConfluenceMaker):
            return consumer
    if not session.timeframes:
        return None
    maker: ConfluenceMaker = session.add(ConfluenceMaker(session.timeframes))
    return maker


def _defined(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class SignalTracker:
    """Reads the signal values of the selected (symbol, timeframe); see the module docstring."""

    def __init__(self, n: int = SIGNAL_N, entry: float = SIGNAL_ENTRY) -> None:
        self.n, self.entry = n, entry
        self._signal_token: Any = None
        self._signal = SignalValues(n=n, entry=entry)
        self._confluence_event: Any = None
        self._confluence = ConfluenceValues()
        self._consensus_event: Any = None
        self._consensus = ConsensusValues()

    @property
    def last_signal(self) -> SignalValues | None:
        """The values ``signal`` returned last (None before its first call)."""
        return self._signal if self._signal_token is not None else None

    def signal(self, series: BarSeries, symbol: str, timeframe: str) -> SignalValues:
        """The z-score signal at the latest bar of ``series`` (the open one included)."""
        arrays = series.arrays
        token = (series, arrays, symbol, timeframe)
        last = self._signal_token
        if last is not None and last[0] is series and last[1] is arrays and last[2:] == token[2:]:
            return self._signal
        self._signal_token = token
        n, entry = self.n, self.entry
        value = series.track_last(("zscore_signal", n, entry), lambda: ZScoreSignal(n, entry))
        z = _defined(value.zscore) if value is not None else None
        label = value.label if z is not None else ""  # NEUTRAL through the warm-up says nothing: ""
        self._signal = SignalValues(z, label, n, entry, len(arrays), symbol, timeframe)
        return self._signal

    def confluence(self, cache: Cache, key: Key, timeframe: str) -> ConfluenceValues:
        event: Confluence | None = cache.latest(Confluence, key, timeframe)
        if event is self._confluence_event and self._confluence.timeframe == timeframe:
            return self._confluence
        self._confluence_event = event
        if event is None:
            self._confluence = ConfluenceValues(timeframe=timeframe)
        else:
            dims = tuple((name, _defined(getattr(event, name))) for name in DIMENSIONS)
            score = _defined(event.score)
            self._confluence = ConfluenceValues(score, event.label, dims, timeframe, event.ts_event)
        return self._confluence

    def consensus(self, cache: Cache, key: Key, maker: ConfluenceMaker | None) -> ConsensusValues:
        event: Consensus | None = cache.latest(Consensus, key)
        if event is self._consensus_event and (event is not None or self._consensus.votes):
            return self._consensus
        self._consensus_event = event
        if event is None:
            votes = tuple((tf, "") for tf in maker.timeframes) if maker is not None else ()
            self._consensus = ConsensusValues(votes=votes)
        else:
            self._consensus = ConsensusValues(
                event.signal,
                _defined(event.confidence),
                _defined(event.strength),
                event.votes,
                event.ts_event,
            )
        return self._consensus


__all__ = ["SIGNAL_ENTRY", "SIGNAL_N", "SignalTracker", "confluence_maker"]
