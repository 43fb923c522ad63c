"""Signals from one series of closes: a baseline z-score signal and anomaly flags.

- ``zscore_signal(close, n=20, entry=1.0)`` → DataFrame ``zscore, signal``: the close's z-score over the
  last ``n`` closes (sample std) and the baseline mean-reversion signal, ``+1`` (buy) below ``-entry``,
  ``-1`` (sell) above ``+entry``, ``0`` otherwise and through the warm-up.
- ``volatility_ratio(close, short=10, long=100)`` → DataFrame ``volatility, median, ratio``: the volatility
  of log returns over ``short`` bars, the median of its previous ``long`` values (defined once at least
  ``long // 2`` were seen), and their ratio.
- ``anomalies(close, n=20, z=3.0, short=10, long=100, k=3.0)`` → the columns above plus ``z_anomaly``
  (``|zscore| > z``) and ``volatility_spike`` (``ratio > k``), as booleans.

Each has a streaming twin (``ZScoreSignal``, ``VolatilityRatio``, ``Anomalies``) giving the same values
for the same closes, bit for bit; non-finite closes are skipped as the indicators skip them.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ._common import as_array, period
from .indicators import RollingVolatility, ZScore, rolling_volatility, zscore

NAN = math.nan
LABELS = {1: "BUY", -1: "SELL", 0: "NEUTRAL"}


def _threshold(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < math.inf:
        raise ConfigError(f"{what} must be a finite number > 0, got {value!r}")
    return float(value)


def _index(x: object) -> pd.Index | None:
    return x.index if isinstance(x, pd.Series) else None


def _side(z: float, entry: float) -> int:
    return 1 if z < -entry else -1 if z > entry else 0  # NaN compares False both ways: 0


class SignalValue(NamedTuple):
    zscore: float
    signal: int

    @property
    def label(self) -> str:
        return LABELS[self.signal]


def zscore_signal(close: object, n: int = 20, entry: float = 1.0) -> pd.DataFrame:
    """The baseline z-score signal (see the module docstring)."""
    entry = _threshold(entry, "entry")
    z = as_array(zscore(as_array(close), period(n, 2)))
    signal = np.where(z < -entry, 1, np.where(z > entry, -1, 0)).astype(np.int8)
    return pd.DataFrame({"zscore": z, "signal": signal}, index=_index(close))


class ZScoreSignal:
    """Streaming ``zscore_signal``: ``update(close)`` → ``SignalValue(zscore, signal)`` (``.label``)."""

    def __init__(self, n: int = 20, entry: float = 1.0) -> None:
        self.entry = _threshold(entry, "entry")
        self._z = ZScore(period(n, 2))
        self.value = SignalValue(NAN, 0)

    def update(self, close: float) -> SignalValue:
        z = self._z.update(close)
        self.value = SignalValue(z, _side(z, self.entry))
        return self.value


class RatioValue(NamedTuple):
    volatility: float
    median: float
    ratio: float


def _check_windows(short: int, long: int) -> tuple[int, int]:
    short, long = period(short, 2, "short"), period(long, 2, "long")
    if long <= short:
        raise ConfigError(f"long ({long}) must be longer than short ({short})")
    return short, long


def volatility_ratio(close: object, short: int = 10, long: int = 100) -> pd.DataFrame:
    """Short-window volatility against the median of its own recent past (see the module docstring)."""
    short, long = _check_windows(short, long)
    vol = as_array(rolling_volatility(as_array(close), short))
    median = np.full(vol.shape[0], NAN)
    finite = np.flatnonzero(np.isfinite(vol))
    values = vol[finite]
    for k in range(long // 2, values.shape[0]):
        median[finite[k]] = np.median(values[max(0, k - long) : k])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(median > 0, vol / median, NAN)
    return pd.DataFrame({"volatility": vol, "median": median, "ratio": ratio}, index=_index(close))


class VolatilityRatio:
    """Streaming ``volatility_ratio``: ``update(close)`` → ``RatioValue(volatility, median, ratio)``."""

    def __init__(self, short: int = 10, long: int = 100) -> None:
        self.short, self.long = _check_windows(short, long)
        self._vol = RollingVolatility(self.short)
        self._past: deque[float] = deque(maxlen=self.long)
        self.value = RatioValue(NAN, NAN, NAN)

    def update(self, close: float) -> RatioValue:
        vol = self._vol.update(close)
        if not math.isfinite(vol):
            return RatioValue(vol, NAN, NAN)
        past = self._past
        median = (
            float(np.median(np.fromiter(past, np.float64, len(past)))) if len(past) >= self.long // 2 else NAN
        )
        past.append(vol)
        self.value = RatioValue(vol, median, vol / median if median > 0 else NAN)
        return self.value


class AnomalyValue(NamedTuple):
    zscore: float
    z_anomaly: bool
    volatility: float
    median: float
    ratio: float
    volatility_spike: bool


def anomalies(
    close: object, n: int = 20, z: float = 3.0, short: int = 10, long: int = 100, k: float = 3.0
) -> pd.DataFrame:
    """Z-score and volatility-spike anomaly flags (see the module docstring)."""
    z, k = _threshold(z, "z"), _threshold(k, "k")
    scores = as_array(zscore(as_array(close), period(n, 2)))
    ratio = volatility_ratio(close, short, long)
    frame = pd.DataFrame({"zscore": scores, "z_anomaly": np.abs(scores) > z}, index=_index(close))
    frame = frame.join(ratio) if frame.index.equals(ratio.index) else pd.concat([frame, ratio], axis=1)
    frame["volatility_spike"] = frame["ratio"].to_numpy() > k
    return frame


class Anomalies:
    """Streaming ``anomalies``: ``update(close)`` → ``AnomalyValue``."""

    def __init__(self, n: int = 20, z: float = 3.0, short: int = 10, long: int = 100, k: float = 3.0) -> None:
        self.z, self.k = _threshold(z, "z"), _threshold(k, "k")
        self._z = ZScore(period(n, 2))
        self._ratio = VolatilityRatio(short, long)

    def update(self, close: float) -> AnomalyValue:
        score = self._z.update(close)
        vol = self._ratio.update(close)
        return AnomalyValue(
            score, abs(score) > self.z, vol.volatility, vol.median, vol.ratio, vol.ratio > self.k
        )


__all__ = [
    "Anomalies",
    "AnomalyValue",
    "RatioValue",
    "SignalValue",
    "VolatilityRatio",
    "ZScoreSignal",
    "anomalies",
    "volatility_ratio",
    "zscore_signal",
]
