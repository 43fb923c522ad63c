"""Returns and rolling statistics: batch functions and their streaming twins (bit-identical).

Batch: ``returns(x, log)``, ``rolling_mean(x, n)``, ``rolling_std(x, n, ddof)``, ``rolling_volatility(x, n,
timeframe)``, ``zscore(x, n, ddof)``, ``correlation(x, y, n)``, ``beta(x, y, n)``. Streaming: ``Returns``,
``RollingMean``, ``RollingStd``, ``RollingVolatility``, ``ZScore``, ``Correlation``, ``Beta``. The
conventions (warm-up, skipped non-finite inputs, drift-free rolling sums) are in ``mdx.analytics.indicators``.
"""

from __future__ import annotations

import math
from math import isfinite as _isfinite

import numpy as np

from ..market.timeframes import timeframe_ns
from ._common import NAN, T, as_array, as_arrays, ddof_of, need, period, skipping, wrap
from .base import Indicator
from .kernels import recentre_every, returns_kernel, sma_kernel, std_kernel, zscore_kernel
from .kernels_multi import BETA, CORRELATION, comoments_kernel

_YEAR_NS = 365 * 86_400 * 1_000_000_000


def returns(x: T, log: bool = False) -> T:
    """One-step returns: ``x / prev - 1`` or, with ``log=True``, ``log(x / prev)``; NaN first, and NaN
    when the previous value is 0 or (log) the ratio is not positive. TA-Lib: ``ROCR(x, 1) - 1``.

    pandas: ``s.pct_change()`` / ``np.log(s / s.shift())``.
    """
    values = as_array(x)
    need(values, 2, "returns")
    return wrap(x, skipping(returns_kernel, [values], (bool(log),))[0])


def rolling_mean(x: T, n: int) -> T:
    """Mean of the last ``n`` values (the same as ``sma``).

    TA-Lib: ``SMA(x, n)``; pandas: ``s.rolling(n).mean()``."""
    n = period(n)
    values = as_array(x)
    need(values, n, f"rolling_mean({n})")
    return wrap(x, skipping(sma_kernel, [values], (n, recentre_every(n)))[0])


def rolling_std(x: T, n: int, ddof: int = 1) -> T:
    """Standard deviation of the last ``n`` values with ``ddof`` (1: sample, pandas' default; 0:
    population, TA-Lib's). TA-Lib: ``STDDEV(x, n, 1)`` is ``ddof=0``; pandas: ``s.rolling(n).std(ddof)``.
    A window of ``n`` equal values gives exactly 0.
    """
    n = period(n, 2)
    ddof = ddof_of(ddof)
    values = as_array(x)
    need(values, n, f"rolling_std({n})")
    return wrap(x, skipping(std_kernel, [values], (n, ddof, recentre_every(n)))[0])


def annualisation(timeframe: str | None) -> float:
    """``sqrt(bars per year)`` for bars of ``timeframe`` (a 365-day year: crypto trades every day), or 1."""
    if timeframe is None:
        return 1.0
    return math.sqrt(_YEAR_NS / timeframe_ns(timeframe))


def rolling_volatility(x: T, n: int, timeframe: str | None = None) -> T:
    """Rolling volatility: sample standard deviation (ddof=1) of the last ``n`` log returns of ``x``;
    first value at index ``n``. Per bar, or annualised when ``timeframe`` (the bars' ccxt timeframe,
    e.g. ``"1h"``) is given: times ``sqrt(365 days / timeframe)``. An infinite log return is skipped.

    pandas: ``np.log(s / s.shift()).rolling(n).std() * sqrt(bars per year)``. TA-Lib has no twin.
    """
    n = period(n, 2)
    factor = annualisation(timeframe)
    values = as_array(x)
    need(values, n + 1, f"rolling_volatility({n})")
    logs = skipping(returns_kernel, [values], (True,))[0]
    std = skipping(std_kernel, [logs], (n, 1, recentre_every(n)))[0]
    return wrap(x, std * factor if timeframe is not None else std)


def zscore(x: T, n: int, ddof: int = 1) -> T:
    """Rolling z-score of each value against the window of the last ``n`` values *including itself*:
    ``(x - mean) / std`` with ``std``'s ``ddof`` (1: sample std, pandas' default; 0: population std,
    as TA-Lib's Bollinger bands use: ``zscore(x, n, 0) == (x - middle) / ((upper - middle) / k)``).
    NaN while the window is short and when the window is flat (std 0). TA-Lib has no twin.

    pandas: ``(s - s.rolling(n).mean()) / s.rolling(n).std(ddof=ddof)``.
    """
    n = period(n, 2)
    ddof = ddof_of(ddof)
    values = as_array(x)
    need(values, n, f"zscore({n})")
    return wrap(x, skipping(zscore_kernel, [values], (n, ddof, recentre_every(n)))[0])


def correlation(x: T, y: T, n: int = 30) -> T:
    """Rolling Pearson correlation of the last ``n`` pairs (a pair with a non-finite value is skipped);
    NaN when either window is flat. TA-Lib: ``CORREL(x, y, n)``; pandas: ``x.rolling(n).corr(y)``.
    """
    n = period(n, 2)
    xs, ys = as_arrays("correlation", ("x", "y"), x, y)
    need(xs, n, f"correlation({n})")
    return wrap(x, skipping(comoments_kernel, [xs, ys], (n, recentre_every(n), CORRELATION))[0])


def beta(x: T, y: T, n: int = 5) -> T:
    """Rolling beta of ``y`` against ``x`` (TA-Lib's argument order: ``x`` is the market): the slope
    ``cov(rx, ry) / var(rx)`` of the last ``n`` one-step simple returns of the two price series. A pair
    with a non-finite price is skipped; a return that is not finite (a previous price of 0) is skipped.
    First value at index ``n``. TA-Lib: ``BETA(x, y, n)``;
    pandas: ``rx, ry = x.pct_change(), y.pct_change(); rx.rolling(n).cov(ry) / rx.rolling(n).var()``.
    """
    n = period(n, 2)
    xs, ys = as_arrays("beta", ("x", "y"), x, y)
    need(xs, n + 1, f"beta({n})")
    rows = np.isfinite(xs) & np.isfinite(ys)
    rx = np.full(xs.shape[0], NAN)
    ry = np.full(xs.shape[0], NAN)
    rx[rows] = skipping(returns_kernel, [xs[rows]], (False,))[0]
    ry[rows] = skipping(returns_kernel, [ys[rows]], (False,))[0]
    return wrap(x, skipping(comoments_kernel, [rx, ry], (n, recentre_every(n), BETA))[0])


# -- streaming ----------------------------------------------------------------------------------------


class _Moments:
    """Rolling mean/variance of the last ``n`` valid values; mirrors ``kernels._moments``."""

    __slots__ = ("_buf", "_count", "_every", "_inv", "_inv_dof", "_k", "_last", "_left", "_pos", "_run",
                 "_s1", "_s2", "ddof", "n")  # fmt: skip

    def __init__(self, n: int, ddof: int) -> None:
        self.n = n
        self.ddof = ddof
        self._inv = 1.0 / n
        self._inv_dof = 1.0 / (n - ddof)
        self._every = recentre_every(n)
        self.reset()

    def reset(self) -> None:
        self._buf = [0.0] * self.n
        self._pos = 0
        self._count = 0
        self._left = self._every
        self._k = 0.0
        self._s1 = 0.0
        self._s2 = 0.0
        self._run = 0
        self._last = NAN

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
        d = x - k
        if count >= n:
            o = buf[pos] - k
            s1 = self._s1 + (d - o)
            s2 = self._s2 + (d * d - o * o)
        else:
            s1 = self._s1 + d
            s2 = self._s2 + d * d
        buf[pos] = x
        pos += 1
        self._pos = 0 if pos == n else pos
        self._count = count = count + 1
        left = self._left - 1
        if left:
            self._left = left
        else:
            self._left = self._every
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
        return k + s1 * self._inv if count >= n else NAN

    def std(self) -> float:
        """The standard deviation (``ddof``) of the window, NaN while fewer than ``n`` values."""
        n = self.n
        if self._count < n:
            return NAN
        if self._run >= n:
            return 0.0
        s1 = self._s1
        return math.sqrt(max((self._s2 - s1 * s1 * self._inv) * self._inv_dof, 0.0))


class _Windowed(Indicator):
    """Shared state of the streaming indicators over a rolling window of ``n`` valid values."""

    __slots__ = ("_moments", "n", "value")

    def __init__(self, n: int, ddof: int) -> None:
        self.n = n
        self._moments = _Moments(n, ddof)
        self.value = NAN

    def reset(self) -> None:
        self._moments.reset()
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self._moments._count >= self.n


class RollingMean(_Windowed):
    """Streaming mean of the last ``n`` values; equals ``rolling_mean(x, n)`` (and ``sma``)."""

    __slots__ = ()

    def __init__(self, n: int) -> None:
        super().__init__(period(n), 0)

    def update(self, x: float) -> float:
        x = float(x)
        value = self._moments.add(x) if _isfinite(x) else NAN
        self.value = value
        return value

    def _batch(self, close: T) -> T:
        return rolling_mean(close, self.n)


class RollingStd(_Windowed):
    """Streaming standard deviation of the last ``n`` values; equals ``rolling_std(x, n, ddof)``."""

    __slots__ = ()

    def __init__(self, n: int, ddof: int = 1) -> None:
        super().__init__(period(n, 2), ddof_of(ddof))

    def update(self, x: float) -> float:
        x = float(x)
        value = NAN
        if _isfinite(x):
            moments = self._moments
            moments.add(x)
            value = moments.std()
        self.value = value
        return value

    def _batch(self, close: T) -> T:
        return rolling_std(close, self.n, self._moments.ddof)

    def _label(self) -> str:
        return f"{self.n}" if self._moments.ddof == 1 else f"{self.n}_ddof{self._moments.ddof}"


class Returns(Indicator):
    """Streaming one-step simple or log returns; equals ``returns(x, log)``."""

    __slots__ = ("_count", "_prev", "log", "value")

    def __init__(self, log: bool = False) -> None:
        self.log = bool(log)
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._prev = NAN
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self._count >= 2

    def update(self, x: float) -> float:
        x = float(x)
        if not _isfinite(x):
            self.value = NAN
            return NAN
        prev = self._prev
        self._prev = x
        self._count += 1
        if prev != prev or prev == 0.0:
            value = NAN
        else:
            q = x / prev
            value = (math.log(q) if q > 0.0 else NAN) if self.log else q - 1.0
        self.value = value
        return value

    def _batch(self, close: T) -> T:
        return returns(close, self.log)

    def _label(self) -> str:
        return "log" if self.log else ""


class RollingVolatility(_Windowed):
    """Streaming std (ddof=1) of the last ``n`` log returns, annualised for ``timeframe`` bars when
    given; equals ``rolling_volatility(x, n, timeframe)``."""

    __slots__ = ("_factor", "_returns", "timeframe")

    def __init__(self, n: int, timeframe: str | None = None) -> None:
        self._returns = Returns(log=True)
        self._factor = annualisation(timeframe)
        self.timeframe = timeframe
        super().__init__(period(n, 2), 1)

    def reset(self) -> None:
        self._returns.reset()
        super().reset()

    def update(self, x: float) -> float:
        r = self._returns.update(x)
        value = NAN
        if _isfinite(r):
            moments = self._moments
            moments.add(r)
            value = moments.std()
            if self.timeframe is not None:
                value = value * self._factor
        self.value = value
        return value

    def _batch(self, close: T) -> T:
        return rolling_volatility(close, self.n, self.timeframe)

    def _label(self) -> str:
        return f"{self.n}" if self.timeframe is None else f"{self.n}_{self.timeframe}"


class ZScore(_Windowed):
    """Streaming rolling z-score of each value in its own window of ``n``; equals ``zscore(x, n, ddof)``."""

    __slots__ = ()

    def __init__(self, n: int, ddof: int = 1) -> None:
        super().__init__(period(n, 2), ddof_of(ddof))

    def update(self, x: float) -> float:
        x = float(x)
        if not _isfinite(x):
            self.value = NAN
            return NAN
        moments = self._moments
        mean = moments.add(x)
        std = moments.std()
        value = (x - mean) / std if std > 0.0 else NAN
        self.value = value
        return value

    def _batch(self, close: T) -> T:
        return zscore(close, self.n, self._moments.ddof)

    def _label(self) -> str:
        return f"{self.n}" if self._moments.ddof == 1 else f"{self.n}_ddof{self._moments.ddof}"


class _CoMoments(Indicator):
    """Rolling co-moments of the last ``n`` valid pairs; mirrors ``kernels_multi.comoments_kernel``."""

    __slots__ = (
        "_bx", "_by", "_count", "_every", "_kx", "_ky", "_last_x", "_last_y", "_left", "_pos", "_run_x",
        "_run_y", "_sums", "n", "value",
    )  # fmt: skip
    _what = CORRELATION

    def __init__(self, n: int) -> None:
        self.n = period(n, 2)
        self._every = recentre_every(self.n)
        self.reset()

    def reset(self) -> None:
        n = self.n
        self._bx = [0.0] * n
        self._by = [0.0] * n
        self._pos = 0
        self._count = 0
        self._left = self._every
        self._kx = self._ky = 0.0
        self._sums = (0.0, 0.0, 0.0, 0.0, 0.0)
        self._run_x = self._run_y = 0
        self._last_x = self._last_y = NAN
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self._count >= self.n

    def _add(self, x: float, y: float) -> float:
        """Add a finite pair; return the correlation or beta, NaN while fewer than ``n`` pairs."""
        n, pos, count = self.n, self._pos, self._count
        if count == 0:
            self._kx, self._ky = x, y
        kx, ky = self._kx, self._ky
        self._run_x = self._run_x + 1 if x == self._last_x else 1
        self._run_y = self._run_y + 1 if y == self._last_y else 1
        self._last_x, self._last_y = x, y
        sx, sy, sxx, syy, sxy = self._sums
        dx = x - kx
        dy = y - ky
        if count >= n:
            ox = self._bx[pos] - kx
            oy = self._by[pos] - ky
            sums = (sx + (dx - ox), sy + (dy - oy), sxx + (dx * dx - ox * ox), syy + (dy * dy - oy * oy),
                    sxy + (dx * dy - ox * oy))  # fmt: skip
        else:
            sums = (sx + dx, sy + dy, sxx + dx * dx, syy + dy * dy, sxy + dx * dy)
        self._bx[pos] = x
        self._by[pos] = y
        self._pos = 0 if pos + 1 == n else pos + 1
        self._count = count = count + 1
        self._left -= 1
        if not self._left:
            self._left = self._every
            sums = self._recentre()
        self._sums = sums
        if count < n:
            return NAN
        return _ratio(*sums, n, self._run_x >= n, self._run_y >= n, self._what)

    def _recentre(self) -> tuple[float, float, float, float, float]:
        n = self.n
        tx = 0.0
        ty = 0.0
        for v in self._bx:
            tx += v
        for v in self._by:
            ty += v
        kx = self._kx = tx / n
        ky = self._ky = ty / n
        sx = sy = sxx = syy = sxy = 0.0
        for vx, vy in zip(self._bx, self._by, strict=True):
            dx = vx - kx
            dy = vy - ky
            sx += dx
            sy += dy
            sxx += dx * dx
            syy += dy * dy
            sxy += dx * dy
        return sx, sy, sxx, syy, sxy


def _ratio(
    sx: float, sy: float, sxx: float, syy: float, sxy: float, n: int, flat_x: bool, flat_y: bool, what: int
) -> float:
    """Mirrors ``kernels_multi.comoment_ratio``."""
    cov = sxy - sx * sy / n
    var_x = sxx - sx * sx / n
    if flat_x or var_x <= 0.0:
        return NAN
    if what == BETA:
        return cov / var_x
    var_y = syy - sy * sy / n
    if flat_y or var_y <= 0.0:
        return NAN
    return cov / math.sqrt(var_x * var_y)


class Correlation(_CoMoments):
    """Streaming rolling Pearson correlation of two series; equals ``correlation(x, y, n)``."""

    __slots__ = ()
    inputs = ("x", "y")

    def __init__(self, n: int = 30) -> None:
        super().__init__(n)

    def update(self, x: float, y: float) -> float:
        x = float(x)
        y = float(y)
        value = self._add(x, y) if _isfinite(x) and _isfinite(y) else NAN
        self.value = value
        return value

    def _batch(self, x: T, y: T) -> T:
        return correlation(x, y, self.n)


class Beta(_CoMoments):
    """Streaming rolling beta of ``y`` against ``x`` from their one-step returns; equals ``beta(x, y, n)``."""

    __slots__ = ("_px", "_py")
    inputs = ("x", "y")
    _what = BETA

    def __init__(self, n: int = 5) -> None:
        super().__init__(n)

    def reset(self) -> None:
        super().reset()
        self._px = self._py = NAN

    def update(self, x: float, y: float) -> float:
        x = float(x)
        y = float(y)
        value = NAN
        if _isfinite(x) and _isfinite(y):
            rx = _simple_return(x, self._px)
            ry = _simple_return(y, self._py)
            self._px, self._py = x, y
            if _isfinite(rx) and _isfinite(ry):
                value = self._add(rx, ry)
        self.value = value
        return value

    def _batch(self, x: T, y: T) -> T:
        return beta(x, y, self.n)


def _simple_return(x: float, prev: float) -> float:
    """``x / prev - 1`` as ``kernels.returns_kernel``: NaN without a previous value or when it is 0."""
    return NAN if prev != prev or prev == 0.0 else x / prev - 1.0


__all__ = [
    "Beta",
    "Correlation",
    "Returns",
    "RollingMean",
    "RollingStd",
    "RollingVolatility",
    "ZScore",
    "annualisation",
    "beta",
    "correlation",
    "returns",
    "rolling_mean",
    "rolling_std",
    "rolling_volatility",
    "zscore",
]
