"""Indicators: batch functions (numpy/pandas in, same shape out) and streaming twins with equal values.

Batch: ``sma(x, n)``, ``ema(x, n)``, ``rsi(x, n)``, ``returns(x, log)``, ``rolling_volatility(x, n)``,
``zscore(x, n, ddof)``, ``vwap(price, volume)``; ``bollinger(x, n, k)`` gives a DataFrame (upper, middle,
lower). A numpy array (or any 1-D sequence) gives a float64 numpy array; a pandas Series gives a Series
with the same index and name. Each is one compiled loop (``mdx.analytics.kernels``) whose
docstring names its pandas equivalent; the tests assert both equalities.

Streaming: ``SMA``, ``EMA``, ``RSI``, ``Returns``, ``RollingVolatility``, ``ZScore``, ``Bollinger``,
``VWAP``, each an ``mdx.analytics.base.Indicator``: named ``inputs`` and ``outputs``, ``update(...)`` (the
output for these inputs: a float, or a named tuple for several outputs), ``update_bar(bar)``, ``value``
(the last output), ``ready`` (enough valid inputs seen for outputs to be defined), ``reset()``,
``batch(frame)`` (the batch twin over a DataFrame of bars) and ``run(*columns)``. They run the same
floating-point operations in the same order as the batch kernels on plain Python floats (no numpy in the
hot path), so streaming over a series gives bit-for-bit the batch result.

Conventions:

- Outputs are NaN until enough values have been seen (the warm-up), as TA-Lib and pandas do.
- Missing input: a NaN **or infinite** (``±inf``) value gives NaN at that position and is *skipped*: the
  state does not change, as if it were not there. So one bad tick (a NaN, an ``inf`` from a division
  upstream) costs one NaN output, never NaN forever. Hence on such input every function equals its
  pandas equivalent applied to ``s.replace([inf, -inf], nan).dropna()`` and reindexed to ``s.index``.
  VWAP skips a step whose ``price * volume`` is not finite (either input NaN or infinite, or an
  overflowing product); RollingVolatility skips an infinite log return (a ratio that overflows) too.
- Rolling sums are kept shifted by a reference value and recomputed exactly from the window every ``n``
  valid values, so they do not drift: over 200,000 values they stay within ~1e-13 of the exact result,
  where pandas' rolling variance drifts to ~1e-7 on z-scores. Streaming cost is O(1) per update plus
  an O(n) recompute every n updates.
"""

from __future__ import annotations

import math
from math import isfinite as _isfinite
from typing import NamedTuple, TypeVar, cast

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, InvalidValue
from .base import Indicator
from .kernels import (
    MEAN,
    STD,
    ZSCORE,
    ema_kernel,
    moments_kernel,
    returns_kernel,
    rsi_kernel,
    sma_kernel,
    volatility_kernel,
    vwap_kernel,
)

T = TypeVar("T", pd.Series, np.ndarray)
_NAN = math.nan


def _period(n: int, minimum: int = 1, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise ConfigError(f"indicator {what} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def _as_array(x: object) -> np.ndarray:
    try:
        if isinstance(x, pd.Series):
            values = x.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"indicator input is not numeric: {error}") from None
    if values.ndim != 1:
        raise DataError(f"indicator input must be one-dimensional, got shape {values.shape}")
    return values


def _wrap(x: T, out: np.ndarray) -> T:
    if isinstance(x, pd.Series):
        return cast(T, pd.Series(out, index=x.index, name=x.name, copy=False))
    return cast(T, out)


def sma(x: T, n: int) -> T:
    """Simple moving average of the last ``n`` values. pandas: ``s.rolling(n).mean()``."""
    n = _period(n)
    return _wrap(x, sma_kernel(_as_array(x), n))


def ema(x: T, n: int) -> T:
    """Exponential moving average, TA-Lib convention: NaN for the first ``n - 1`` values, then seeded
    with their mean (the SMA) at index ``n - 1``, then ``e += (x - e) * 2 / (n + 1)``.

    pandas: ``s.ewm(span=n, adjust=False).mean()`` run on the series whose first ``n`` values are
    replaced by their mean, i.e. ``pd.concat([s[:n].mean() at s.index[n-1], s[n:]]).ewm(...)``.
    """
    n = _period(n)
    return _wrap(x, ema_kernel(_as_array(x), n))


def rsi(x: T, n: int = 14) -> T:
    """Relative strength index with Wilder smoothing, TA-Lib convention.

    Changes ``d = x - prev``; gains ``max(d, 0)``, losses ``max(-d, 0)``; the first output (index ``n``)
    uses the means of the first ``n`` gains and losses, then ``avg = (avg * (n - 1) + new) / n``;
    ``rsi = 100 * gain / (gain + loss)``. A flat window (no gains, no losses) gives 50 (TA-Lib gives 0).

    pandas: ``g.ewm(alpha=1/n, adjust=False).mean()`` (same for losses) on the gains whose first ``n``
    values are replaced by their mean, then ``100 * g / (g + l)``.
    """
    n = _period(n)
    return _wrap(x, rsi_kernel(_as_array(x), n))


def returns(x: T, log: bool = False) -> T:
    """One-step returns: ``x / prev - 1`` or, with ``log=True``, ``log(x / prev)``; NaN first, and NaN
    when the previous value is 0 or (log) the ratio is not positive.

    pandas: ``s.pct_change()`` / ``np.log(s / s.shift())``.
    """
    return _wrap(x, returns_kernel(_as_array(x), bool(log)))


def rolling_volatility(x: T, n: int) -> T:
    """Rolling volatility: sample standard deviation (ddof=1) of the last ``n`` log returns of ``x``;
    first value at index ``n``. Per bar, not annualized (multiply by ``sqrt(bars per year)`` for that).

    pandas: ``np.log(s / s.shift()).rolling(n).std()``.
    """
    n = _period(n, 2)
    return _wrap(x, volatility_kernel(_as_array(x), n))


def zscore(x: T, n: int, ddof: int = 1) -> T:
    """Rolling z-score of each value against the window of the last ``n`` values *including itself*:
    ``(x - mean) / std`` with ``std``'s ``ddof`` (1: sample std, pandas' default; 0: population std,
    as TA-Lib's Bollinger bands use: ``zscore(x, n, 0) == (x - middle) / ((upper - middle) / k)``).
    NaN while the window is short and when the window is flat (std 0).

    pandas: ``(s - s.rolling(n).mean()) / s.rolling(n).std(ddof=ddof)``.
    """
    n = _period(n, 2)
    ddof = _ddof(ddof)
    return _wrap(x, moments_kernel(_as_array(x), n, ddof, ZSCORE))


def bollinger(x: T, n: int = 20, k: float = 2.0) -> pd.DataFrame:
    """Bollinger bands, TA-Lib convention (population sigma): ``upper, middle, lower`` columns, where
    ``middle = sma(x, n)`` and ``upper/lower = middle +/- k * std(ddof=0)``; NaN through the warm-up.
    A Series gives its index; an array a RangeIndex.

    pandas: ``m = s.rolling(n).mean(); d = k * s.rolling(n).std(ddof=0); m + d, m, m - d``.
    """
    n = _period(n, 2)
    k = _width(k)
    values = _as_array(x)
    middle = moments_kernel(values, n, 0, MEAN)
    width = k * moments_kernel(values, n, 0, STD)
    index = x.index if isinstance(x, pd.Series) else None
    return pd.DataFrame({"upper": middle + width, "middle": middle, "lower": middle - width}, index=index)


def vwap(price: T, volume: T) -> T:
    """Volume-weighted average price anchored at the first value: ``cumsum(price * volume) /
    cumsum(volume)``; NaN until some volume. A NaN or infinite input (or an overflowing ``price * volume``)
    gives NaN there and is skipped.

    pandas: ``(p * v).cumsum() / v.cumsum()`` (on rows without NaN).
    """
    p, v = _as_array(price), _as_array(volume)
    if p.shape != v.shape:
        raise DataError(f"vwap needs price and volume of one length, got {p.shape[0]} and {v.shape[0]}")
    return _wrap(price, vwap_kernel(p, v))


def _width(k: float) -> float:
    if isinstance(k, bool) or not isinstance(k, int | float) or not 0.0 < k < math.inf:
        raise ConfigError(f"band width k must be a finite number > 0, got {k!r}")
    return float(k)


def _ddof(ddof: int) -> int:
    if ddof not in (0, 1) or isinstance(ddof, bool):
        raise ConfigError(f"ddof must be 0 or 1, got {ddof!r}")
    return int(ddof)


# -- streaming ----------------------------------------------------------------------------------------


class _Windowed(Indicator):
    """Shared state of the streaming indicators over a rolling window of ``n`` valid values."""

    __slots__ = ("_moments", "n", "value")

    def __init__(self, n: int, ddof: int) -> None:
        self.n = n
        self._moments = _Moments(n, ddof)
        self.value = _NAN

    def reset(self) -> None:
        self._moments.reset()
        self.value = _NAN

    @property
    def ready(self) -> bool:
        return self._moments._count >= self.n


class SMA(_Windowed):
    """Streaming simple moving average; equals ``sma(x, n)``."""

    __slots__ = ()

    def __init__(self, n: int) -> None:
        super().__init__(_period(n), 0)

    def update(self, x: float) -> float:
        x = float(x)
        value = self._moments.add(x) if _isfinite(x) else _NAN
        self.value = value
        return value

    def _batch(self, close: pd.Series) -> pd.Series:
        return sma(close, self.n)


class _Moments:
    """Rolling mean/variance of the last ``n`` valid values; mirrors ``kernels.moments_kernel``."""

    __slots__ = ("_buf", "_count", "_k", "_last", "_left", "_pos", "_run", "_s1", "_s2", "ddof", "n")

    def __init__(self, n: int, ddof: int) -> None:
        self.n = n
        self.ddof = ddof
        self.reset()

    def reset(self) -> None:
        self._buf = [0.0] * self.n
        self._pos = 0
        self._count = 0
        self._left = self.n
        self._k = 0.0
        self._s1 = 0.0
        self._s2 = 0.0
        self._run = 0
        self._last = _NAN

    def add(self, x: float) -> float:
        """Add a valid (finite) value; return the mean, NaN while fewer than ``n`` values."""
        n = self.n
        buf = self._buf
        pos = self._pos
        count = self._count
        if count == 0:
            self._k = x
        k = self._k
        self._run = self._run + 1 if x == self._last else 1
        self._last = x
        s1 = self._s1
        s2 = self._s2
        if count >= n:
            d = buf[pos] - k
            s1 -= d
            s2 -= d * d
        buf[pos] = x
        d = x - k
        s1 += d
        s2 += d * d
        pos += 1
        self._pos = 0 if pos == n else pos
        count += 1
        self._count = count
        left = self._left - 1
        if left:
            self._left = left
        else:
            self._left = n
            total = 0.0
            for v in buf:
                total += v
            k = self._k = total / n
            s1 = 0.0
            s2 = 0.0
            for v in buf:
                d = v - k
                s1 += d
                s2 += d * d
        self._s1 = s1
        self._s2 = s2
        return k + s1 / n if count >= n else _NAN

    def std(self) -> float:
        """The standard deviation (``ddof``) of the window, NaN while fewer than ``n`` values."""
        n = self.n
        if self._count < n:
            return _NAN
        if self._run >= n:
            return 0.0
        s1 = self._s1
        return math.sqrt(max((self._s2 - s1 * s1 / n) / (n - self.ddof), 0.0))


class EMA(Indicator):
    """Streaming exponential moving average (TA-Lib seed); equals ``ema(x, n)``."""

    __slots__ = ("_alpha", "_count", "_e", "_total", "n", "value")

    def __init__(self, n: int) -> None:
        self.n = _period(n)
        self._alpha = 2.0 / (self.n + 1)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._total = 0.0
        self._e = _NAN
        self.value = _NAN

    @property
    def ready(self) -> bool:
        return self._count >= self.n

    def update(self, x: float) -> float:
        x = float(x)
        if not _isfinite(x):
            self.value = _NAN
            return _NAN
        self._count = count = self._count + 1
        n = self.n
        if count > n:
            e = self._e
            e = (x - e) * self._alpha + e
        elif count == n:
            e = (self._total + x) / n
        else:
            self._total += x
            self.value = _NAN
            return _NAN
        self._e = e
        self.value = e
        return e

    def _batch(self, close: pd.Series) -> pd.Series:
        return ema(close, self.n)


class RSI(Indicator):
    """Streaming Wilder RSI (TA-Lib seed); equals ``rsi(x, n)``."""

    __slots__ = ("_count", "_gain", "_loss", "_prev", "n", "value")

    def __init__(self, n: int = 14) -> None:
        self.n = _period(n)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._prev = _NAN
        self._gain = 0.0
        self._loss = 0.0
        self.value = _NAN

    @property
    def ready(self) -> bool:
        return self._count >= self.n

    def update(self, x: float) -> float:
        x = float(x)
        prev = self._prev
        finite = _isfinite(x)
        if not finite or prev != prev:
            if finite:
                self._prev = x
            self.value = _NAN
            return _NAN
        d = x - prev
        self._prev = x
        up = d if d > 0.0 else 0.0
        down = -d if d < 0.0 else 0.0
        self._count = count = self._count + 1
        n = self.n
        if count < n:
            self._gain += up
            self._loss += down
            self.value = _NAN
            return _NAN
        if count == n:
            gain = (self._gain + up) / n
            loss = (self._loss + down) / n
        else:
            gain = (self._gain * (n - 1) + up) / n
            loss = (self._loss * (n - 1) + down) / n
        self._gain = gain
        self._loss = loss
        total = gain + loss
        value = 100.0 * gain / total if total > 0.0 else 50.0
        self.value = value
        return value

    def _batch(self, close: pd.Series) -> pd.Series:
        return rsi(close, self.n)


class Returns(Indicator):
    """Streaming one-step simple or log returns; equals ``returns(x, log)``."""

    __slots__ = ("_count", "_prev", "log", "value")

    def __init__(self, log: bool = False) -> None:
        self.log = bool(log)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._prev = _NAN
        self.value = _NAN

    @property
    def ready(self) -> bool:
        return self._count >= 2

    def update(self, x: float) -> float:
        x = float(x)
        if not _isfinite(x):
            self.value = _NAN
            return _NAN
        prev = self._prev
        self._prev = x
        self._count += 1
        if prev != prev or prev == 0.0:
            value = _NAN
        else:
            q = x / prev
            value = (math.log(q) if q > 0.0 else _NAN) if self.log else q - 1.0
        self.value = value
        return value

    def _batch(self, close: pd.Series) -> pd.Series:
        return returns(close, self.log)

    def _label(self) -> str:
        return "log" if self.log else ""


class RollingVolatility(_Windowed):
    """Streaming std (ddof=1) of the last ``n`` log returns; equals ``rolling_volatility(x, n)``."""

    __slots__ = ("_returns",)

    def __init__(self, n: int) -> None:
        self._returns = Returns(log=True)
        super().__init__(_period(n, 2), 1)

    def reset(self) -> None:
        self._returns.reset()
        super().reset()

    def update(self, x: float) -> float:
        r = self._returns.update(x)
        value = _NAN
        if _isfinite(r):
            moments = self._moments
            moments.add(r)
            value = moments.std()
        self.value = value
        return value

    def _batch(self, close: pd.Series) -> pd.Series:
        return rolling_volatility(close, self.n)


class ZScore(_Windowed):
    """Streaming rolling z-score of each value in its own window of ``n``; equals ``zscore(x, n, ddof)``."""

    __slots__ = ()

    def __init__(self, n: int, ddof: int = 1) -> None:
        super().__init__(_period(n, 2), _ddof(ddof))

    def update(self, x: float) -> float:
        x = float(x)
        if not _isfinite(x):
            self.value = _NAN
            return _NAN
        moments = self._moments
        mean = moments.add(x)
        std = moments.std()
        value = (x - mean) / std if std > 0.0 else _NAN
        self.value = value
        return value

    def _batch(self, close: pd.Series) -> pd.Series:
        return zscore(close, self.n, self._moments.ddof)

    def _label(self) -> str:
        return f"{self.n}" if self._moments.ddof == 1 else f"{self.n}_ddof{self._moments.ddof}"


class BollingerBands(NamedTuple):
    upper: float
    middle: float
    lower: float


class Bollinger(_Windowed):
    """Streaming Bollinger bands (population sigma, TA-Lib's convention); equals ``bollinger(x, n, k)``.
    ``update`` returns ``BollingerBands(upper, middle, lower)``."""

    __slots__ = ("k",)
    outputs = BollingerBands._fields

    def __init__(self, n: int = 20, k: float = 2.0) -> None:
        super().__init__(_period(n, 2), 0)
        self.k = _width(k)
        self.value = _NAN_BANDS

    def reset(self) -> None:
        super().reset()
        self.value = _NAN_BANDS

    def update(self, x: float) -> BollingerBands:  # type: ignore[override]
        x = float(x)
        if not _isfinite(x):
            self.value = _NAN_BANDS
            return _NAN_BANDS
        moments = self._moments
        middle = moments.add(x)
        width = self.k * moments.std()
        value = BollingerBands(middle + width, middle, middle - width)
        self.value = value
        return value

    def _batch(self, close: pd.Series) -> pd.DataFrame:
        return bollinger(close, self.n, self.k)

    def _label(self) -> str:
        return f"{self.n}_{self.k:g}"


_NAN_BANDS = BollingerBands(_NAN, _NAN, _NAN)


class VWAP(Indicator):
    """Streaming VWAP anchored at the first input; equals ``vwap(price, volume)``. From bars, ``price`` is
    the bar's ``vwap`` (so the result is cumulative quote volume over cumulative volume)."""

    __slots__ = ("_pv", "_v", "value")
    inputs = ("vwap", "volume")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._pv = 0.0
        self._v = 0.0
        self.value = _NAN

    @property
    def ready(self) -> bool:
        return self._v > 0.0

    def update(self, price: float, volume: float) -> float:
        volume = float(volume)
        step = float(price) * volume
        if not _isfinite(step):
            self.value = _NAN
            return _NAN
        self._pv += step
        self._v += volume
        value = self._pv / self._v if self._v > 0.0 else _NAN
        self.value = value
        return value

    def _batch(self, price: pd.Series, volume: pd.Series) -> pd.Series:
        return vwap(price, volume)


__all__ = [
    "EMA",
    "RSI",
    "SMA",
    "VWAP",
    "Bollinger",
    "BollingerBands",
    "Returns",
    "RollingVolatility",
    "ZScore",
    "bollinger",
    "ema",
    "returns",
    "rolling_volatility",
    "rsi",
    "sma",
    "vwap",
    "zscore",
]
