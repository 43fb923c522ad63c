"""Range and trend indicators on high/low/close bars: batch functions and streaming twins (bit-identical).

Batch: ``true_range(high, low, close)``, ``atr(high, low, close, n)``, ``stoch(high, low, close, fastk,
slowk, slowd)`` (DataFrame: k, d), ``adx(high, low, close, n)`` (DataFrame: adx, plus_di, minus_di).
Streaming: ``TrueRange``, ``ATR``, ``Stoch``, ``ADX``. A bar with a non-finite high, low or close is
skipped (NaN there, state unchanged). Conventions: see ``mdx.analytics.indicators``.
"""

from __future__ import annotations

from collections import deque
from math import isfinite as _isfinite
from typing import NamedTuple

import pandas as pd

from ._common import NAN, T, as_arrays, frame, need, period, skipping, wrap
from .base import Indicator
from .kernels_multi import adx_kernel, atr_kernel, stoch_kernel, true_range_kernel

_HLC = ("high", "low", "close")


def true_range(high: T, low: T, close: T) -> T:
    """True range ``max(high - low, |high - prev close|, |low - prev close|)``; NaN at the first bar.
    TA-Lib: ``TRANGE(high, low, close)``; pandas: ``pd.concat([h - l, (h - c.shift()).abs(),
    (l - c.shift()).abs()], axis=1).max(axis=1)`` from the second bar."""
    arrays = as_arrays("true_range", _HLC, high, low, close)
    need(arrays[0], 2, "true_range")
    return wrap(close, skipping(true_range_kernel, arrays, ())[0])


def atr(high: T, low: T, close: T, n: int = 14) -> T:
    """Average true range with Wilder smoothing, TA-Lib convention (``ATR(high, low, close, n)``): the
    first value (index ``n``) is the mean of the first ``n`` true ranges, then ``atr = (atr * (n - 1) +
    tr) / n`` (run as ``atr * ((n - 1) / n) + tr * (1 / n)``, two bars per step: within 1e-13 of it).
    pandas: the true range's seeded ``ewm(alpha=1/n, adjust=False).mean()``.
    """
    n = period(n)
    arrays = as_arrays("atr", _HLC, high, low, close)
    need(arrays[0], n + 1, f"atr({n})")
    return wrap(close, skipping(atr_kernel, arrays, (n,))[0])


def stoch(high: T, low: T, close: T, fastk: int = 14, slowk: int = 3, slowd: int = 3) -> pd.DataFrame:
    """Stochastic oscillator, TA-Lib convention (``STOCH(high, low, close, fastk, slowk, 0, slowd, 0)``,
    simple-average smoothing): columns ``k, d``. ``fast %K = 100 * (close - lowest low) / (highest high -
    lowest low)`` over ``fastk`` bars (0 for a flat range); ``k`` = mean of the last ``slowk`` fast %K
    (``slowk=1``: the fast stochastic), ``d`` = mean of the last ``slowd`` k. Both NaN until index
    ``fastk + slowk + slowd - 3``, as in TA-Lib.

    pandas: ``ll, hh = l.rolling(fastk).min(), h.rolling(fastk).max(); k = (100 * (c - ll) / (hh -
    ll)).rolling(slowk).mean(); d = k.rolling(slowd).mean()``.
    """
    fastk, slowk, slowd = period(fastk, 1, "fastk"), period(slowk, 1, "slowk"), period(slowd, 1, "slowd")
    arrays = as_arrays("stoch", _HLC, high, low, close)
    need(arrays[0], fastk + slowk + slowd - 2, f"stoch({fastk}, {slowk}, {slowd})")
    block = skipping(stoch_kernel, arrays, (fastk, slowk, slowd), 2)
    return frame(close, block, StochValues._fields)


def adx(high: T, low: T, close: T, n: int = 14) -> pd.DataFrame:
    """Average directional index and the directional indicators, TA-Lib convention: columns ``adx``
    (TA-Lib ``ADX``, first at index ``2n - 1``), ``plus_di`` and ``minus_di`` (``PLUS_DI`` /
    ``MINUS_DI``, first at index ``n``). +DM = ``high - prev high`` when it exceeds ``prev low - low``
    and 0 (-DM the mirror); TR, +DM, -DM are Wilder sums seeded with the sum of their first ``n - 1``
    values; ``±DI = 100 * ±DM / TR``; ``DX = 100 * |+DI - -DI| / (+DI + -DI)``; ADX = the mean of the
    first ``n`` DX, then ``(adx * (n - 1) + dx) / n``. pandas has no one-liner (see the tests).
    """
    n = period(n)
    arrays = as_arrays("adx", _HLC, high, low, close)
    need(arrays[0], 2 * n, f"adx({n})")
    block = skipping(adx_kernel, arrays, (n,), 3)
    return frame(close, block, ADXValues._fields)


# -- streaming ----------------------------------------------------------------------------------------


class _Bars(Indicator):
    """A streaming indicator on high/low/close that skips a bar with a non-finite field."""

    __slots__ = ()
    inputs = _HLC


class TrueRange(_Bars):
    """Streaming true range; equals ``true_range(high, low, close)``."""

    __slots__ = ("_prev", "value")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._prev = NAN
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self.value == self.value

    def update(self, high: float, low: float, close: float) -> float:
        high, low, close = float(high), float(low), float(close)
        if not (_isfinite(high) and _isfinite(low) and _isfinite(close)):
            self.value = NAN
            return NAN
        prev = self._prev
        self._prev = close
        value = NAN if prev != prev else max(high - low, abs(high - prev), abs(low - prev))
        self.value = value
        return value

    def _batch(self, high: T, low: T, close: T) -> T:
        return true_range(high, low, close)


class ATR(_Bars):
    """Streaming Wilder ATR (TA-Lib seed); equals ``atr(high, low, close, n)``: the same two-bar steps
    as ``kernels_multi.atr_kernel`` (after the seed, odd steps keep the ATR they start from, even steps
    go two bars on from it)."""

    __slots__ = ("_atr", "_base", "_count", "_inv", "_keep", "_keep2", "_pending", "_prev", "_total", "n",
                 "value")  # fmt: skip

    def __init__(self, n: int = 14) -> None:
        self.n = period(n)
        self._keep = (self.n - 1) / self.n
        self._inv = 1.0 / self.n
        self._keep2 = self._keep * self._keep
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._prev = NAN
        self._total = 0.0
        self._atr = NAN
        self._base = NAN
        self._pending = 0.0
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self._count > self.n

    def update(self, high: float, low: float, close: float) -> float:
        high, low, close = float(high), float(low), float(close)
        if not (_isfinite(high) and _isfinite(low) and _isfinite(close)):
            self.value = NAN
            return NAN
        prev = self._prev
        self._prev = close
        self._count = count = self._count + 1
        if count == 1:
            self.value = NAN
            return NAN
        tr = max(high - low, abs(high - prev), abs(low - prev))
        n = self.n
        if count <= n:
            self._total += tr
            self.value = NAN
            return NAN
        if count == n + 1:
            value = self._atr = (self._total + tr) / n
        elif (count - n) % 2 == 0:  # the first of two steps
            u = tr * self._inv
            base = self._base = self._atr
            self._pending = u * self._keep
            value = base * self._keep + u
        else:
            value = self._atr = self._base * self._keep2 + (self._pending + tr * self._inv)
        self.value = value
        return value

    def _batch(self, high: T, low: T, close: T) -> T:
        return atr(high, low, close, self.n)


class StochValues(NamedTuple):
    k: float
    d: float


_NAN_STOCH = StochValues(NAN, NAN)


def _mean(values: deque[float]) -> float:
    """Sum oldest first, as ``kernels.window_mean``."""
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


class Stoch(_Bars):
    """Streaming stochastic %K/%D (TA-Lib STOCH, simple averages); equals ``stoch(high, low, close,
    fastk, slowk, slowd)``. ``update`` returns ``StochValues(k, d)``."""

    __slots__ = ("_count", "_fast", "_highs", "_lows", "_slow", "fastk", "slowd", "slowk", "value")
    outputs = StochValues._fields

    def __init__(self, fastk: int = 14, slowk: int = 3, slowd: int = 3) -> None:
        self.fastk = period(fastk, 1, "fastk")
        self.slowk = period(slowk, 1, "slowk")
        self.slowd = period(slowd, 1, "slowd")
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._highs: deque[float] = deque(maxlen=self.fastk)
        self._lows: deque[float] = deque(maxlen=self.fastk)
        self._fast: deque[float] = deque(maxlen=self.slowk)
        self._slow: deque[float] = deque(maxlen=self.slowd)
        self.value = _NAN_STOCH

    @property
    def ready(self) -> bool:
        return len(self._slow) == self.slowd

    def update(self, high: float, low: float, close: float) -> StochValues:  # type: ignore[override]
        high, low, close = float(high), float(low), float(close)
        self.value = _NAN_STOCH
        if not (_isfinite(high) and _isfinite(low) and _isfinite(close)):
            return _NAN_STOCH
        self._count = count = self._count + 1
        self._highs.append(high)
        self._lows.append(low)
        if count < self.fastk:
            return _NAN_STOCH
        hh = max(self._highs)
        ll = min(self._lows)
        diff = hh - ll
        self._fast.append((close - ll) / diff * 100.0 if diff != 0.0 else 0.0)
        if len(self._fast) < self.slowk:
            return _NAN_STOCH
        k = _mean(self._fast)
        self._slow.append(k)
        if len(self._slow) < self.slowd:
            return _NAN_STOCH
        value = self.value = StochValues(k, _mean(self._slow))
        return value

    def _batch(self, high: T, low: T, close: T) -> pd.DataFrame:
        return stoch(high, low, close, self.fastk, self.slowk, self.slowd)

    def _label(self) -> str:
        return f"{self.fastk}_{self.slowk}_{self.slowd}"


class ADXValues(NamedTuple):
    adx: float
    plus_di: float
    minus_di: float


_NAN_ADX = ADXValues(NAN, NAN, NAN)


class ADX(_Bars):
    """Streaming ADX, +DI and -DI (TA-Lib's Wilder seeding); equals ``adx(high, low, close, n)``.
    ``update`` returns ``ADXValues(adx, plus_di, minus_di)``; the DIs are defined from the ``n + 1``-th
    bar, ADX (and ``ready``) from the ``2n``-th."""

    __slots__ = ("_adx", "_count", "_dx_total", "_prev", "_sums", "n", "value")
    outputs = ADXValues._fields

    def __init__(self, n: int = 14) -> None:
        self.n = period(n)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._prev = (NAN, NAN, NAN)
        self._sums = (0.0, 0.0, 0.0)
        self._dx_total = 0.0
        self._adx = NAN
        self.value = _NAN_ADX

    @property
    def ready(self) -> bool:
        return self._count >= 2 * self.n

    def update(self, high: float, low: float, close: float) -> ADXValues:  # type: ignore[override]
        high, low, close = float(high), float(low), float(close)
        if not (_isfinite(high) and _isfinite(low) and _isfinite(close)):
            self.value = _NAN_ADX
            return _NAN_ADX
        ph, pl, pc = self._prev
        self._prev = (high, low, close)
        self._count = count = self._count + 1
        if count == 1:
            return _NAN_ADX
        tr = max(high - low, abs(high - pc), abs(low - pc))
        up = high - ph
        down = pl - low
        plus = up if up > down and up > 0.0 else 0.0
        minus = down if down > up and down > 0.0 else 0.0
        n = self.n
        s_tr, s_plus, s_minus = self._sums
        if count - 1 < n:  # i < n in the kernel (i = count - 1)
            self._sums = (s_tr + tr, s_plus + plus, s_minus + minus)
            self.value = _NAN_ADX
            return _NAN_ADX
        s_tr = s_tr - s_tr / n + tr
        s_plus = s_plus - s_plus / n + plus
        s_minus = s_minus - s_minus / n + minus
        self._sums = (s_tr, s_plus, s_minus)
        pdi = 100.0 * s_plus / s_tr if s_tr != 0.0 else 0.0
        mdi = 100.0 * s_minus / s_tr if s_tr != 0.0 else 0.0
        both = pdi + mdi
        dx = 100.0 * abs(pdi - mdi) / both if both != 0.0 else 0.0
        j = count - 1 - n
        if j < n - 1:
            self._dx_total += dx
            value = ADXValues(NAN, pdi, mdi)
        else:
            self._adx = (self._dx_total + dx) / n if j == n - 1 else (self._adx * (n - 1) + dx) / n
            value = ADXValues(self._adx, pdi, mdi)
        self.value = value
        return value

    def _batch(self, high: T, low: T, close: T) -> pd.DataFrame:
        return adx(high, low, close, self.n)


__all__ = [
    "ADX",
    "ATR",
    "ADXValues",
    "Stoch",
    "StochValues",
    "TrueRange",
    "adx",
    "atr",
    "stoch",
    "true_range",
]
