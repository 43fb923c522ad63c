"""Multi-timeframe consensus: each timeframe's confluence score votes, the votes make one signal.

Per timeframe, from its latest closed bar's confluence score: ``BUY`` when ``score >= buy_above`` (60),
``SELL`` when ``score <= sell_below`` (40), ``NEUTRAL`` between, ``""`` (no vote) while it has no score.
With ``w`` the timeframes' weights (default 1 each) and ``v`` = +1 / -1 / 0 for BUY / SELL / NEUTRAL:

- ``net = Σ w v / Σ w`` over the timeframes that vote (NaN when none does);
- ``signal``: ``BUY`` when ``net >= agree`` (0.5), ``SELL`` when ``net <= -agree``, else ``NEUTRAL``;
- ``strength = |net|`` (0 without votes): how one-sided the votes are;
- ``confidence`` = the weight voting for the signal / the weight of **all** timeframes, so timeframes
  still warming up lower it (in [0, 1]).

Time alignment, without look-ahead: a bar's vote counts from its **close** (open time + timeframe). A
row is computed at each closed bar of any timeframe, in the order (close time, timeframe length): at a
close time shared by several timeframes the finer one comes first, and the coarser bar's vote counts
from its own row on. Before its first closed bar a timeframe has no vote.

Batch: ``consensus(bars_by_timeframe, ...)`` (a dict timeframe → bars frame indexed by bar open time, as
``resample_trades`` gives) or ``consensus_from_scores(scores_by_timeframe, ...)`` (timeframe → a Series
of confluence scores indexed by bar open time) → DataFrame indexed by close time (``ts``): ``timeframe``
(whose bar closed), ``signal``, ``confidence``, ``strength``, ``net`` and ``vote_<timeframe>`` per
timeframe. Streaming: ``MultiTimeframeConsensus(...).update(timeframe, score)`` in that same order →
``ConsensusValue``; equal to the batch. ``preview({timeframe: score with its open bar, ...})`` gives the
consensus as if those open bars closed now (the last row the batch gives with them appended as closed
bars) without changing the state. ``mdx.analytics.live.ConfluenceMaker`` runs both in a session.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..market.timeframes import timeframe_ns
from .confluence import ConfluenceParams, check_bars, confluence

NAN = math.nan
BUY, SELL, NEUTRAL = "BUY", "SELL", "NEUTRAL"
VOTE_VALUE = {BUY: 1, SELL: -1, NEUTRAL: 0}


class ConsensusValue(NamedTuple):
    signal: str
    confidence: float
    strength: float
    net: float
    votes: tuple[tuple[str, str], ...]  # (timeframe, vote) in the consensus's timeframe order


def _number(value: float, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    if not low <= float(value) <= high:
        raise ConfigError(f"{what} must be within [{low:g}, {high:g}], got {value!r}")
    return float(value)


def vote_of(score: float, buy_above: float = 60.0, sell_below: float = 40.0) -> str:
    """A timeframe's vote from its confluence score (see the module docstring); "" for NaN."""
    if score != score:
        return ""
    return BUY if score >= buy_above else SELL if score <= sell_below else NEUTRAL


class _Rules:
    """The checked settings shared by the batch and the streaming consensus."""

    def __init__(
        self,
        timeframes: Iterable[str],
        weights: Mapping[str, float] | None,
        buy_above: float,
        sell_below: float,
        agree: float,
    ) -> None:
        if isinstance(timeframes, str):
            timeframes = (timeframes,)
        tfs = tuple(dict.fromkeys(timeframes))
        if not tfs:
            raise ConfigError("consensus needs at least one timeframe")
        lengths = {tf: timeframe_ns(tf) for tf in tfs}  # InvalidTimeframe for a bad one
        self.timeframes = tuple(sorted(tfs, key=lengths.__getitem__))
        self.lengths = lengths
        given = dict(weights or {})
        unknown = [tf for tf in given if tf not in lengths]
        if unknown:
            raise ConfigError(
                f"timeframe weights for {unknown}, not among the timeframes {list(self.timeframes)}"
            )
        self.weights = {tf: _number(given.get(tf, 1.0), f"weight of {tf}", 0.0, math.inf) for tf in tfs}
        if not any(self.weights.values()):
            raise ConfigError("consensus timeframe weights are all zero")
        self.buy_above = _number(buy_above, "buy_above", 0.0, 100.0)
        self.sell_below = _number(sell_below, "sell_below", 0.0, 100.0)
        if self.sell_below >= self.buy_above:
            raise ConfigError(f"sell_below ({sell_below}) must be below buy_above ({buy_above})")
        self.agree = _number(agree, "agree", 0.0, 1.0)
        if self.agree == 0.0:
            raise ConfigError("agree must be > 0 (a net vote of 0 cannot be both BUY and SELL)")
        self.total = sum(self.weights[tf] for tf in self.timeframes)

    def combine(self, votes: Mapping[str, str]) -> ConsensusValue:
        """The consensus of the current votes (timeframe → vote)."""
        num, den = 0.0, 0.0
        agreeing = {BUY: 0.0, SELL: 0.0, NEUTRAL: 0.0}
        for tf in self.timeframes:
            vote = votes.get(tf, "")
            if vote:
                w = self.weights[tf]
                num += w * VOTE_VALUE[vote]
                den += w
                agreeing[vote] += w
        net = num / den if den > 0.0 else NAN
        signal = BUY if net >= self.agree else SELL if net <= -self.agree else NEUTRAL
        strength = abs(net) if den > 0.0 else 0.0
        confidence = agreeing[signal] / self.total
        return ConsensusValue(
            signal, confidence, strength, net, tuple((tf, votes.get(tf, "")) for tf in self.timeframes)
        )


class MultiTimeframeConsensus:
    """Streaming consensus: ``update(timeframe, score)`` at each closed bar, in (close time, timeframe
    length) order → ``ConsensusValue``; ``preview(scores)`` with open bars (see the module docstring)."""

    def __init__(
        self,
        timeframes: Iterable[str] = ("1m", "5m", "15m", "1h"),
        *,
        weights: Mapping[str, float] | None = None,
        buy_above: float = 60.0,
        sell_below: float = 40.0,
        agree: float = 0.5,
    ) -> None:
        self.rules = _Rules(timeframes, weights, buy_above, sell_below, agree)
        self.timeframes = self.rules.timeframes
        self._votes: dict[str, str] = {}
        self.value = self.rules.combine(self._votes)

    def update(self, timeframe: str, score: float) -> ConsensusValue:
        """The consensus once ``timeframe``'s bar closed with this confluence ``score`` (NaN: no vote)."""
        if timeframe not in self.rules.lengths:
            raise ConfigError(f"timeframe {timeframe!r} is not among {list(self.timeframes)}")
        rules = self.rules
        self._votes[timeframe] = vote_of(score, rules.buy_above, rules.sell_below)
        self.value = rules.combine(self._votes)
        return self.value

    def preview(self, scores: Mapping[str, float]) -> ConsensusValue:
        """The consensus if the open bars of these timeframes (timeframe → confluence score with the open
        bar) closed now, the other timeframes keeping their last closed vote; the state is unchanged."""
        rules = self.rules
        votes = dict(self._votes)
        for timeframe, score in scores.items():
            if timeframe not in rules.lengths:
                raise ConfigError(f"timeframe {timeframe!r} is not among {list(self.timeframes)}")
            votes[timeframe] = vote_of(score, rules.buy_above, rules.sell_below)
        return rules.combine(votes)

    def reset(self) -> None:
        self._votes.clear()
        self.value = self.rules.combine(self._votes)


def _open_ns(index: pd.Index, timeframe: str) -> np.ndarray:
    if isinstance(index, pd.DatetimeIndex):
        return index.as_unit("ns").asi8
    if pd.api.types.is_integer_dtype(index.dtype):
        return index.to_numpy(dtype=np.int64)
    raise DataError(
        f"{timeframe} bars need a DatetimeIndex (or int ns) of open times, got {type(index).__name__}"
    )


def consensus_from_scores(
    scores: Mapping[str, pd.Series],
    *,
    weights: Mapping[str, float] | None = None,
    buy_above: float = 60.0,
    sell_below: float = 40.0,
    agree: float = 0.5,
) -> pd.DataFrame:
    """The consensus over per-timeframe confluence scores indexed by bar open time (module docstring)."""
    if not isinstance(scores, Mapping) or not scores:
        raise DataError("consensus needs a dict of timeframe -> scores with at least one timeframe")
    rules = _Rules(scores, weights, buy_above, sell_below, agree)
    rows: list[tuple[int, int, str, float]] = []
    for rank, tf in enumerate(rules.timeframes):
        series = scores[tf]
        closes = _open_ns(series.index, tf) + rules.lengths[tf]
        values = np.asarray(series, dtype=np.float64).tolist()
        rows.extend(zip(closes.tolist(), [rank] * len(values), [tf] * len(values), values, strict=True))
    rows.sort(key=lambda row: (row[0], row[1]))
    state = MultiTimeframeConsensus(rules.timeframes, weights=rules.weights, buy_above=buy_above,
                                    sell_below=sell_below, agree=agree)  # fmt: skip
    out = [state.update(tf, score) for _, _, tf, score in rows]
    frame = pd.DataFrame(
        {
            "timeframe": [row[2] for row in rows],
            "signal": [v.signal for v in out],
            "confidence": np.array([v.confidence for v in out], dtype=np.float64),
            "strength": np.array([v.strength for v in out], dtype=np.float64),
            "net": np.array([v.net for v in out], dtype=np.float64),
        },
        index=pd.DatetimeIndex(
            pd.to_datetime(np.array([row[0] for row in rows], dtype=np.int64), utc=True), name="ts"
        ),
    )
    for k, tf in enumerate(rules.timeframes):
        frame[f"vote_{tf}"] = [v.votes[k][1] for v in out]
    return frame


def _scores(
    frame: pd.DataFrame, weights: Mapping[str, float] | None, params: ConfluenceParams | None
) -> pd.Series:
    """The confluence scores of one timeframe; all NaN (no vote yet) when it has fewer bars than the warm-up,
    as in a session."""
    warmup = (params if isinstance(params, ConfluenceParams) else ConfluenceParams()).warmup
    if isinstance(frame, pd.DataFrame) and len(frame) < warmup:
        check_bars(frame)  # bad columns and values are still errors
        return pd.Series(np.nan, index=frame.index, name="score")
    return confluence(frame, weights, params)["score"]


def consensus(
    bars: Mapping[str, pd.DataFrame],
    *,
    confluence_weights: Mapping[str, float] | None = None,
    params: ConfluenceParams | None = None,
    weights: Mapping[str, float] | None = None,
    buy_above: float = 60.0,
    sell_below: float = 40.0,
    agree: float = 0.5,
) -> pd.DataFrame:
    """The consensus over bars of several timeframes: each one's ``confluence`` score (with
    ``confluence_weights`` and ``params``; a timeframe with fewer bars than the warm-up has no vote yet),
    then ``consensus_from_scores`` (timeframe ``weights``)."""
    if not isinstance(bars, Mapping) or not bars:
        raise DataError("consensus needs a dict of timeframe -> bars with at least one timeframe")
    scores = {tf: _scores(frame, confluence_weights, params) for tf, frame in bars.items()}
    return consensus_from_scores(
        scores, weights=weights, buy_above=buy_above, sell_below=sell_below, agree=agree
    )


__all__ = [
    "BUY",
    "NEUTRAL",
    "SELL",
    "ConsensusValue",
    "MultiTimeframeConsensus",
    "consensus",
    "consensus_from_scores",
    "vote_of",
]
