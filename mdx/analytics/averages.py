"""Moving averages and the oscillators built on them: batch functions and streaming twins (bit-identical).

Batch: ``sma(x, n)``, ``ema(x, n)``, ``wma(x, n)``, ``rsi(x, n)``, ``macd(x, fast, slow, signal)``
(DataFrame: macd, signal, histogram), ``bollinger(x, n, k)`` (DataFrame: upper, middle, lower).
Streaming: ``SMA``, ``EMA``, ``WMA``, ``RSI``, ``MACD``, ``Bollinger``. Conventions: see
``mdx.analytics.indicators``.
"""

from __future__ import annotations

from math import isfinite as _isfinite
from typing import NamedTuple

import pandas as pd

from ..errors import ConfigError
from ._common import NAN, T, as_array, frame, need, period, skipping, width, wrap
from .base import Indicator
from .kernels import (
    bollinger_kernel,
    ema_kernel,
    macd_kernel,
    recentre_every,
    rsi_kernel,
    sma_kernel,
    wma_kernel,
)
from .rolling import RollingMean, _Windowed


def sma(x: T, n: int) -> T:
    """Simple moving average of the last ``n`` values.

    TA-Lib: ``SMA(x, n)``; pandas: ``s.rolling(n).mean()``."""
    n = period(n)
    values = as_array(x)
    need(values, n, f"sma({n})")
    return wrap(x, skipping(sma_kernel, [values], (n, recentre_every(n)))[0])


def ema(x: T, n: int) -> T:
    """Exponential moving average, TA-Lib convention (``EMA(x, n)``): NaN for the first ``n - 1`` values,
    then seeded with their mean (the SMA) at index ``n - 1``, then ``e += (x - e) * 2 / (n + 1)``.

    pandas: ``s.ewm(span=n, adjust=False).mean()`` run on the series whose first ``n`` values are
    replaced by their mean, i.e. ``pd.concat([s[:n].mean() at s.index[n-1], s[n:]]).ewm(...)``.
    The step runs as ``e * ((n - 1) / (n + 1)) + x * (2 / (n + 1))`` (within 1e-15 relative of TA-Lib's
    ``(x - e) * alpha + e``; a shorter dependency chain).
    """
    n = period(n)
    values = as_array(x)
    need(values, n, f"ema({n})")
    return wrap(x, skipping(ema_kernel, [values], (n,))[0])


def wma(x: T, n: int) -> T:
    """Linearly weighted moving average of the last ``n`` values, weights ``1..n`` (newest heaviest)
    over ``n * (n + 1) / 2``; first value at index ``n - 1``. TA-Lib: ``WMA(x, n)``;
    pandas: ``s.rolling(n).apply(lambda w: (w * range(1, n + 1)).sum() / (n * (n + 1) / 2))``.
    """
    n = period(n)
    values = as_array(x)
    need(values, n, f"wma({n})")
    return wrap(x, skipping(wma_kernel, [values], (n, recentre_every(n)))[0])


def rsi(x: T, n: int = 14) -> T:
    """Relative strength index with Wilder smoothing, TA-Lib convention (``RSI(x, n)``).

    Changes ``d = x - prev``; gains ``max(d, 0)``, losses ``max(-d, 0)``; the first output (index ``n``)
    uses the means of the first ``n`` gains and losses, then ``avg = (avg * (n - 1) + new) / n``;
    ``rsi = 100 * gain / (gain + loss)``; the smoothing runs as ``avg * ((n - 1) / n) + new * (1 / n)``
    (within 1e-13 of the division form; half the dependency chain). A flat window (no gains, no losses)
    gives 50 (TA-Lib gives 0).

    pandas: ``g.ewm(alpha=1/n, adjust=False).mean()`` (same for losses) on the gains whose first ``n``
    values are replaced by their mean, then ``100 * g / (g + l)``.
    """
    n = period(n)
    values = as_array(x)
    need(values, n + 1, f"rsi({n})")
    return wrap(x, skipping(rsi_kernel, [values], (n,))[0])


def macd(x: T, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD, TA-Lib convention (``MACD(x, fast, slow, signal)``): columns ``macd, signal, histogram``.

    ``macd = EMA_fast - EMA_slow`` where the slow EMA is seeded with the mean of the first ``slow``
    values and the fast EMA with the mean of the ``fast`` values ending at the same index (``slow - 1``,
    so both start together: TA-Lib's seeding, which differs from ``ema(x, fast)`` early on);
    ``signal = EMA_signal(macd)`` seeded with the mean of its first ``signal`` values; ``histogram =
    macd - signal``. All three are NaN until index ``slow + signal - 2``, as in TA-Lib.

    pandas: ``ema(x[slow-fast:], fast) - ema(x, slow)`` aligned, then the seeded ``ewm`` of that line.
    """
    fast, slow, signal = _macd_periods(fast, slow, signal)
    values = as_array(x)
    need(values, slow + signal - 1, f"macd({fast}, {slow}, {signal})")
    block = skipping(macd_kernel, [values], (fast, slow, signal), 3)
    return frame(x, block, MACDValues._fields)


def _weights(n: int) -> tuple[float, float]:
    """``(alpha, keep)`` of an ``n``-period EMA, as ``kernels.ema_weights``."""
    return 2.0 / (n + 1), (n - 1) / (n + 1)


def _macd_periods(fast: int, slow: int, signal: int) -> tuple[int, int, int]:
    fast, slow, signal = period(fast, 2, "fast"), period(slow, 2, "slow"), period(signal, 1, "signal")
    if fast >= slow:
        raise ConfigError(f"macd needs fast < slow, got fast={fast}, slow={slow}")
    return fast, slow, signal


def bollinger(x: T, n: int = 20, k: float = 2.0) -> pd.DataFrame:
    """Bollinger bands, TA-Lib convention (``BBANDS(x, n, k, k)``, population sigma): ``upper, middle,
    lower`` columns, where ``middle = sma(x, n)`` and ``upper/lower = middle +/- k * std(ddof=0)``; NaN
    through the warm-up. A Series gives its index; an array a RangeIndex.

    pandas: ``m = s.rolling(n).mean(); d = k * s.rolling(n).std(ddof=0); m + d, m, m - d``.
    """
    n = period(n, 2)
    k = width(k)
    values = as_array(x)
    need(values, n, f"bollinger({n})")
    block = skipping(bollinger_kernel, [values], (n, k, recentre_every(n)), 3)
    return frame(x, block, BollingerBands._fields)


# -- streaming ----------------------------------------------------------------------------------------


class SMA(RollingMean):
    """Streaming simple moving average; equals ``sma(x, n)``."""

    __slots__ = ()

    def _batch(self, close: T) -> T:
        return sma(close, self.n)


class EMA(Indicator):
    """Streaming exponential moving average (TA-Lib seed); equals ``ema(x, n)``."""

    __slots__ = ("_alpha", "_count", "_e", "_keep", "_total", "n", "value")

    def __init__(self, n: int) -> None:
        self.n = period(n)
        self._alpha, self._keep = _weights(self.n)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._total = 0.0
        self._e = NAN
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self._count >= self.n

    def update(self, x: float) -> float:
        x = float(x)
        if not _isfinite(x):
            self.value = NAN
            return NAN
        self._count = count = self._count + 1
        n = self.n
        if count > n:
            e = self._e * self._keep + x * self._alpha
        elif count == n:
            e = (self._total + x) / n
        else:
            self._total += x
            self.value = NAN
            return NAN
        self._e = e
        self.value = e
        return e

    def _batch(self, close: T) -> T:
        return ema(close, self.n)


class WMA(Indicator):
    """Streaming linearly weighted moving average (TA-Lib WMA); equals ``wma(x, n)``."""

    __slots__ = ("_buf", "_count", "_every", "_inv_divisor", "_k", "_left", "_pos", "_s", "_w", "n", "value")

    def __init__(self, n: int) -> None:
        self.n = period(n)
        self._inv_divisor = 2.0 / (self.n * (self.n + 1))
        self._every = recentre_every(self.n)
        self.reset()

    def reset(self) -> None:
        self._buf = [0.0] * self.n
        self._pos = 0
        self._count = 0
        self._left = self._every
        self._k = 0.0
        self._s = 0.0
        self._w = 0.0
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self._count >= self.n

    def update(self, x: float) -> float:
        x = float(x)
        if not _isfinite(x):
            self.value = NAN
            return NAN
        n, buf, pos, count = self.n, self._buf, self._pos, self._count
        if count == 0:
            self._k = x
        k = self._k
        d = x - k
        if count >= n:
            w = self._w + (n * d - self._s)
            s = self._s + (d - (buf[pos] - k))
        else:
            w = self._w + (count + 1) * d
            s = self._s + d
        buf[pos] = x
        self._pos = pos = 0 if pos + 1 == n else pos + 1
        self._count = count = count + 1
        self._left -= 1
        if not self._left:
            self._left = self._every
            total = 0.0
            for v in buf:
                total += v
            k = self._k = total / n
            s = 0.0
            w = 0.0
            for j, v in enumerate(buf):
                d = v - k
                s += d
                w += (j + 1) * d
        self._s = s
        self._w = w
        value = k + w * self._inv_divisor if count >= n else NAN
        self.value = value
        return value

    def _batch(self, close: T) -> T:
        return wma(close, self.n)


class RSI(Indicator):
    """Streaming Wilder RSI (TA-Lib seed); equals ``rsi(x, n)``."""

    __slots__ = ("_count", "_gain", "_inv", "_keep", "_loss", "_prev", "n", "value")

    def __init__(self, n: int = 14) -> None:
        self.n = period(n)
        self._keep = (self.n - 1) / self.n
        self._inv = 1.0 / self.n
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._prev = NAN
        self._gain = 0.0
        self._loss = 0.0
        self.value = NAN

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
            self.value = NAN
            return NAN
        d = x - prev
        self._prev = x
        up = d if d > 0.0 else 0.0
        down = -d if d < 0.0 else 0.0
        self._count = count = self._count + 1
        n = self.n
        if count < n:
            self._gain += up
            self._loss += down
            self.value = NAN
            return NAN
        if count == n:
            gain = (self._gain + up) / n
            loss = (self._loss + down) / n
        else:
            gain = self._gain * self._keep + up * self._inv
            loss = self._loss * self._keep + down * self._inv
        self._gain = gain
        self._loss = loss
        total = gain + loss
        value = 100.0 * gain / total if total > 0.0 else 50.0
        self.value = value
        return value

    def _batch(self, close: T) -> T:
        return rsi(close, self.n)


class MACDValues(NamedTuple):
    macd: float
    signal: float
    histogram: float


_NAN_MACD = MACDValues(NAN, NAN, NAN)


class MACD(Indicator):
    """Streaming MACD with TA-Lib's seeding; equals ``macd(x, fast, slow, signal)``. ``update`` returns
    ``MACDValues(macd, signal, histogram)``."""

    __slots__ = ("_count", "_fast", "_lines", "_sig", "_slow", "_total_fast", "_total_sig", "_total_slow",
                 "_weights", "fast", "signal", "slow", "value")  # fmt: skip
    outputs = MACDValues._fields

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast, self.slow, self.signal = _macd_periods(fast, slow, signal)
        self._weights = (*_weights(self.fast), *_weights(self.slow), *_weights(self.signal))
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._lines = 0
        self._total_fast = self._total_slow = self._total_sig = 0.0
        self._fast = self._slow = self._sig = NAN
        self.value = _NAN_MACD

    @property
    def ready(self) -> bool:
        return self._lines >= self.signal

    def update(self, x: float) -> MACDValues:  # type: ignore[override]
        x = float(x)
        if not _isfinite(x):
            self.value = _NAN_MACD
            return _NAN_MACD
        self._count = count = self._count + 1
        slow = self.slow
        if count < slow:
            self._total_slow += x
            if count > slow - self.fast:
                self._total_fast += x
            return _NAN_MACD
        a_fast, k_fast, a_slow, k_slow, a_sig, k_sig = self._weights
        if count == slow:
            f = self._fast = (self._total_fast + x) / self.fast
            s = self._slow = (self._total_slow + x) / slow
        else:
            f = self._fast = self._fast * k_fast + x * a_fast
            s = self._slow = self._slow * k_slow + x * a_slow
        line = f - s
        self._lines = lines = self._lines + 1
        signal = self.signal
        if lines < signal:
            self._total_sig += line
            return _NAN_MACD
        sig = (self._total_sig + line) / signal if lines == signal else self._sig * k_sig + line * a_sig
        self._sig = sig
        value = MACDValues(line, sig, line - sig)
        self.value = value
        return value

    def _batch(self, close: T) -> pd.DataFrame:
        return macd(close, self.fast, self.slow, self.signal)

    def _label(self) -> str:
        return f"{self.fast}_{self.slow}_{self.signal}"


class BollingerBands(NamedTuple):
    upper: float
    middle: float
    lower: float


_NAN_BANDS = BollingerBands(NAN, NAN, NAN)


class Bollinger(_Windowed):
    """Streaming Bollinger bands (population sigma, TA-Lib's convention); equals ``bollinger(x, n, k)``.
    ``update`` returns ``BollingerBands(upper, middle, lower)``."""

    __slots__ = ("k",)
    outputs = BollingerBands._fields

    def __init__(self, n: int = 20, k: float = 2.0) -> None:
        super().__init__(period(n, 2), 0)
        self.k = width(k)
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
        w = self.k * moments.std()
        value = BollingerBands(middle + w, middle, middle - w)
        self.value = value
        return value

    def _batch(self, close: T) -> pd.DataFrame:
        return bollinger(close, self.n, self.k)

    def _label(self) -> str:
        return f"{self.n}_{self.k:g}"


__all__ = [
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "WMA",
    "Bollinger",
    "BollingerBands",
    "MACDValues",
    "bollinger",
    "ema",
    "macd",
    "rsi",
    "sma",
    "wma",
]
