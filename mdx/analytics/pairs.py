"""Pairs: how two prices move together, for spread trading and hedging.

Batch (numpy arrays or pandas Series of equal length in; a Series' index kept):

- ``pair_spread(y, x, n)`` → DataFrame ``alpha, beta, spread, zscore``: at each bar, the OLS fit
  ``y = alpha + beta * x`` over the last ``n`` bars (rolling, no look-ahead: the fit uses bars up to and
  including this one), the spread ``y - alpha - beta * x`` of this bar, and the spread's z-score over the
  last ``n`` spreads (sample std, ddof=1). ``beta`` is the hedge ratio: units of ``x`` per unit of ``y``.
  NaN through the warm-up (``n - 1`` bars for the fit, ``2n - 2`` for the z-score) and where a window holds a
  non-finite value (such a bar is skipped: it enters no window, as the indicators skip missing values).
  Equals pandas ``y.rolling(n).cov(x) / x.rolling(n).var()`` for beta (within 1e-9).
- ``half_life(spread)``: the mean-reversion half-life in bars of an AR(1) fit ``Δs_t = a + b s_{t-1}``,
  ``-ln 2 / ln(1 + b)``; ``inf`` when the spread does not revert (``b >= 0``).
- ``cointegration(y, x)``: the Engle-Granger test (statsmodels' ``coint``: OLS of y on x, an ADF test of
  the residual with MacKinnon p-values) with the full-sample hedge ratio and half-life.
- ``correlation_matrix(closes)``: correlations of log returns across the columns of a DataFrame of closes.

Streaming: ``PairSpread(n).update(y, x)`` gives the same ``(alpha, beta, spread, zscore)`` bit for bit: both
run the same two-pass window sums in the same order (O(n) per update, exact, no drift).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from numba import njit

from ..errors import ConfigError, DataError
from ._common import as_arrays, period

NAN = math.nan
PAIR_COLUMNS = ("alpha", "beta", "spread", "zscore")


class PairValue(NamedTuple):
    alpha: float
    beta: float
    spread: float
    zscore: float


@njit(cache=True, nogil=True, error_model="numpy")
def _fit(ys: np.ndarray, xs: np.ndarray, count: int) -> tuple[float, float]:  # pragma: no cover - compiled
    """(alpha, beta) of the OLS fit over the first ``count`` values (two passes: means, then moments)."""
    sx = 0.0
    sy = 0.0
    for i in range(count):
        sx += xs[i]
        sy += ys[i]
    mx = sx / count
    my = sy / count
    sxx = 0.0
    sxy = 0.0
    for i in range(count):
        dx = xs[i] - mx
        sxx += dx * dx
        sxy += dx * (ys[i] - my)
    if sxx == 0.0:
        return NAN, NAN
    beta = sxy / sxx
    return my - beta * mx, beta


@njit(cache=True, nogil=True, error_model="numpy")
def _zscore(window: np.ndarray, count: int, value: float) -> float:  # pragma: no cover - compiled
    s = 0.0
    for i in range(count):
        s += window[i]
    mean = s / count
    ss = 0.0
    for i in range(count):
        d = window[i] - mean
        ss += d * d
    std = math.sqrt(ss / (count - 1))
    return (value - mean) / std if std > 0.0 else NAN


@njit(cache=True, nogil=True, error_model="numpy")
def pair_kernel(y: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover - compiled
    """The ``(4, len)`` block of ``pair_spread``; windows hold the last ``n`` finite (y, x) pairs."""
    size = y.shape[0]
    out = np.full((4, size), NAN)
    ys = np.empty(n)
    xs = np.empty(n)
    spreads = np.empty(n)
    wy = np.empty(n)  # the window in order, oldest first, for the two passes
    wx = np.empty(n)
    ws = np.empty(n)
    seen = 0
    fitted = 0
    for t in range(size):
        if not (math.isfinite(y[t]) and math.isfinite(x[t])):
            continue
        ys[seen % n] = y[t]
        xs[seen % n] = x[t]
        seen += 1
        if seen < n:
            continue
        for i in range(n):
            j = (seen + i) % n
            wy[i] = ys[j]
            wx[i] = xs[j]
        alpha, beta = _fit(wy, wx, n)
        spread = y[t] - alpha - beta * x[t]
        out[0, t] = alpha
        out[1, t] = beta
        out[2, t] = spread
        if not math.isfinite(spread):
            continue
        spreads[fitted % n] = spread
        fitted += 1
        if fitted >= n:
            for i in range(n):
                ws[i] = spreads[(fitted + i) % n]
            out[3, t] = _zscore(ws, n, spread)
    return out


def pair_spread(y: object, x: object, n: int = 60) -> pd.DataFrame:
    """Rolling hedge ratio, spread and spread z-score of ``y`` against ``x`` (see the module docstring)."""
    n = period(n, 2)
    ya, xa = as_arrays("pair_spread", ("y", "x"), y, x)
    block = pair_kernel(ya, xa, n)
    index = y.index if isinstance(y, pd.Series) else x.index if isinstance(x, pd.Series) else None
    return pd.DataFrame(block.T, index=index, columns=list(PAIR_COLUMNS), copy=False)


class PairSpread:
    """The streaming twin of ``pair_spread``: ``update(y, x)`` → ``PairValue``; ``ready`` once the z-score
    is defined; a non-finite input gives an all-NaN value and changes nothing."""

    def __init__(self, n: int = 60) -> None:
        self.n = period(n, 2)
        self.reset()

    def reset(self) -> None:
        self._pairs: deque[tuple[float, float]] = deque(maxlen=self.n)
        self._spreads: deque[float] = deque(maxlen=self.n)
        self.value = PairValue(NAN, NAN, NAN, NAN)

    @property
    def ready(self) -> bool:
        return len(self._spreads) == self.n

    def update(self, y: float, x: float) -> PairValue:
        if not (math.isfinite(y) and math.isfinite(x)):
            return PairValue(NAN, NAN, NAN, NAN)
        self._pairs.append((y, x))
        if len(self._pairs) < self.n:
            self.value = PairValue(NAN, NAN, NAN, NAN)
            return self.value
        ys = np.fromiter((p[0] for p in self._pairs), np.float64, self.n)
        xs = np.fromiter((p[1] for p in self._pairs), np.float64, self.n)
        alpha, beta = _fit(ys, xs, self.n)
        spread = y - alpha - beta * x
        z = NAN
        if math.isfinite(spread):
            self._spreads.append(spread)
            if len(self._spreads) == self.n:
                z = _zscore(np.fromiter(self._spreads, np.float64, self.n), self.n, spread)
        self.value = PairValue(alpha, beta, spread, z)
        return self.value


def half_life(spread: object) -> float:
    """Bars for a deviation of the spread to halve (AR(1) fit on its finite values); ``inf`` when the
    spread does not revert; ``DataError`` with fewer than 3 finite values."""
    (s,) = as_arrays("half_life", ("spread",), spread)
    s = s[np.isfinite(s)]
    if s.shape[0] < 3:
        raise DataError(f"half_life needs at least 3 finite values, got {s.shape[0]}")
    lagged, change = s[:-1], np.diff(s)
    dx = lagged - lagged.mean()
    var = float(dx @ dx)
    if var == 0.0:
        return math.inf
    b = float(dx @ (change - change.mean())) / var
    if b >= 0.0 or b <= -1.0:
        return math.inf if b >= 0.0 else 0.0
    return -math.log(2.0) / math.log1p(b)


@dataclass(frozen=True, slots=True)
class Cointegration:
    """The Engle-Granger test of ``y`` on ``x``: ``t_stat`` (ADF of the residual), ``p_value`` (MacKinnon),
    ``critical_values`` (1%, 5%, 10%), the full-sample ``hedge_ratio`` and ``alpha``, the residual's
    ``half_life`` in bars, and ``cointegrated`` (p < ``level``)."""

    t_stat: float
    p_value: float
    critical_values: tuple[float, float, float]
    alpha: float
    hedge_ratio: float
    half_life: float
    level: float
    observations: int

    @property
    def cointegrated(self) -> bool:
        return self.p_value < self.level


def cointegration(y: object, x: object, *, level: float = 0.05) -> Cointegration:
    """Engle-Granger on the bars where both are finite (at least 30); see ``Cointegration``."""
    from statsmodels.tsa.stattools import coint

    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    ya, xa = as_arrays("cointegration", ("y", "x"), y, x)
    keep = np.isfinite(ya) & np.isfinite(xa)
    ya, xa = ya[keep], xa[keep]
    if ya.shape[0] < 30:
        raise DataError(
            f"cointegration needs at least 30 bars where both series are finite, got {ya.shape[0]}"
        )
    if float(np.ptp(xa)) == 0.0:
        raise DataError("cointegration: x is constant, there is no hedge ratio")
    t_stat, p_value, critical = coint(ya, xa, trend="c")
    alpha, beta = _fit(ya, xa, ya.shape[0])
    residual = ya - alpha - beta * xa
    return Cointegration(
        float(t_stat), float(p_value), tuple(float(c) for c in critical), float(alpha), float(beta),  # type: ignore[arg-type]
        half_life(residual), level, int(ya.shape[0]),
    )  # fmt: skip


def correlation_matrix(closes: pd.DataFrame, *, min_periods: int = 30) -> pd.DataFrame:
    """Pearson correlations of log returns between the columns of ``closes`` (one column per symbol,
    rows aligned in time; missing or non-positive prices are left out pairwise)."""
    if not isinstance(closes, pd.DataFrame) or closes.shape[1] < 2:
        raise DataError("correlation_matrix needs a DataFrame with at least two columns of closes")
    prices = closes.astype(np.float64)
    prices = prices.where(prices > 0)
    returns = np.log(prices).diff()
    returns = returns.replace([np.inf, -np.inf], np.nan)
    return returns.corr(min_periods=period(min_periods, 2, "min_periods"))


__all__ = [
    "Cointegration",
    "PairSpread",
    "PairValue",
    "cointegration",
    "correlation_matrix",
    "half_life",
    "pair_kernel",
    "pair_spread",
]
