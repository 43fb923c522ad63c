"""Compiled (numba, ``cache=True``) loops behind ``mdx.analytics.indicators``.

These are private building blocks: they take and return plain numpy arrays, do no validation beyond what
the loop needs, and are wrapped by the public functions. Each indicator kernel performs *exactly* the
same floating-point operations, in the same order, as the matching streaming class in
``mdx.analytics.indicators``, so the batch and streaming results are bit-for-bit equal on the same
input. Never use ``fastmath`` here: it would let LLVM reorder sums and break that equality.

Missing-value convention (all indicator kernels): a NaN or infinite input produces a NaN output at
that position and is skipped, i.e. the state is left unchanged, as if the value had not been there
(the streaming classes in ``mdx.analytics.indicators`` apply the same test, ``math.isfinite``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# What ``moments_kernel`` outputs.
STD = 0
ZSCORE = 1
MEAN = 2


@njit(cache=True, nogil=True, error_model="numpy")
def sma_kernel(x, n):  # type: ignore[no-untyped-def]
    """Rolling mean over the last ``n`` valid values. Mirrors ``mdx.analytics.indicators.SMA``.

    ``moments_kernel`` inlined with the constant ``MEAN``: numba drops the unused variance work."""
    return moments_kernel(x, n, 0, MEAN)


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def moments_kernel(x, n, ddof, what):  # type: ignore[no-untyped-def]
    """Rolling mean and variance over the last ``n`` valid values of ``x``.

    ``what``: ``STD`` -> standard deviation (ddof); ``ZSCORE`` -> z-score of the newest value
    ``(x - mean) / std``; ``MEAN`` -> the mean. Shifted sums ``s1 = sum(x - k)``, ``s2 = sum((x - k)**2)``
    with ``k`` re-centred on the window mean every ``n`` values: an exact recompute from the window
    (oldest first), which bounds the rounding drift of add/remove to ``n`` steps; a window of ``n`` equal
    values has variance exactly 0. Mirrors ``mdx.analytics.indicators._Moments``.
    """
    out = np.empty(x.size)
    buf = np.zeros(n)
    pos = 0
    count = 0
    left = n  # values until the next exact recompute
    k = 0.0
    s1 = 0.0
    s2 = 0.0
    run = 0
    last = math.nan
    for i in range(x.size):
        xi = x[i]
        if not math.isfinite(xi):
            out[i] = math.nan
            continue
        if count == 0:
            k = xi
        run = run + 1 if xi == last else 1
        last = xi
        if count >= n:
            d = buf[pos] - k
            s1 -= d
            s2 -= d * d
        buf[pos] = xi
        d = xi - k
        s1 += d
        s2 += d * d
        pos += 1
        if pos == n:
            pos = 0
        count += 1
        left -= 1
        if left == 0:
            left = n
            total = 0.0
            for j in range(n):
                total += buf[j]
            k = total / n
            s1 = 0.0
            s2 = 0.0
            for j in range(n):
                d = buf[j] - k
                s1 += d
                s2 += d * d
        if count < n:
            out[i] = math.nan
            continue
        if what == MEAN:
            out[i] = k + s1 / n
            continue
        var = 0.0 if run >= n else max((s2 - s1 * s1 / n) / (n - ddof), 0.0)
        std = math.sqrt(var)
        if what == STD:
            out[i] = std
        else:
            out[i] = (xi - (k + s1 / n)) / std if std > 0.0 else math.nan
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def ema_kernel(x, n):  # type: ignore[no-untyped-def]
    """TA-Lib EMA: seed = mean of the first ``n`` valid values, then ``e += (x - e) * 2 / (n + 1)``.
    Mirrors ``mdx.analytics.indicators.EMA``."""
    out = np.empty(x.size)
    alpha = 2.0 / (n + 1)
    count = 0
    total = 0.0
    e = math.nan
    for i in range(x.size):
        xi = x[i]
        if not math.isfinite(xi):
            out[i] = math.nan
            continue
        count += 1
        if count < n:
            total += xi
            out[i] = math.nan
        elif count == n:
            total += xi
            e = total / n
            out[i] = e
        else:
            e = (xi - e) * alpha + e
            out[i] = e
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def rsi_kernel(x, n):  # type: ignore[no-untyped-def]
    """TA-Lib RSI: Wilder averages of gains and losses seeded by the mean of the first ``n`` changes,
    then ``avg = (avg * (n - 1) + new) / n``; ``rsi = 100 * gain / (gain + loss)``, 50 when both are 0.
    Mirrors ``mdx.analytics.indicators.RSI``."""
    out = np.empty(x.size)
    count = 0  # changes seen
    prev = math.nan
    gain = 0.0
    loss = 0.0
    for i in range(x.size):
        xi = x[i]
        if not math.isfinite(xi):
            out[i] = math.nan
            continue
        if math.isnan(prev):
            prev = xi
            out[i] = math.nan
            continue
        d = xi - prev
        prev = xi
        up = d if d > 0.0 else 0.0
        down = -d if d < 0.0 else 0.0
        count += 1
        if count < n:
            gain += up
            loss += down
            out[i] = math.nan
            continue
        if count == n:
            gain = (gain + up) / n
            loss = (loss + down) / n
        else:
            gain = (gain * (n - 1) + up) / n
            loss = (loss * (n - 1) + down) / n
        total = gain + loss
        out[i] = 100.0 * gain / total if total > 0.0 else 50.0
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def returns_kernel(x, log):  # type: ignore[no-untyped-def]
    """Simple ``x / prev - 1`` or log ``log(x / prev)`` returns against the previous valid value; NaN
    when the previous value is 0 (or, for log returns, when the ratio is not positive).
    Mirrors ``mdx.analytics.indicators.Returns``."""
    out = np.empty(x.size)
    prev = math.nan
    for i in range(x.size):
        xi = x[i]
        if not math.isfinite(xi):
            out[i] = math.nan
            continue
        if math.isnan(prev) or prev == 0.0:
            out[i] = math.nan
        else:
            q = xi / prev
            if not log:
                out[i] = q - 1.0
            else:
                out[i] = math.log(q) if q > 0.0 else math.nan
        prev = xi
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def volatility_kernel(x, n):  # type: ignore[no-untyped-def]
    """Sample (ddof=1) standard deviation of the last ``n`` log returns. Mirrors ``RollingVolatility``."""
    r = returns_kernel(x, True)
    return moments_kernel(r, n, 1, STD)


@njit(cache=True, nogil=True, error_model="numpy")
def vwap_kernel(price, volume):  # type: ignore[no-untyped-def]
    """Anchored VWAP: running ``sum(p * v) / sum(v)``, NaN until some volume. A step whose ``p * v`` is
    not finite (a NaN or infinite price or volume, or an overflowing product) is skipped.
    Mirrors ``mdx.analytics.indicators.VWAP``. pandas: ``(p * v).cumsum() / v.cumsum()``."""
    out = np.empty(price.size)
    pv = 0.0
    vv = 0.0
    for i in range(price.size):
        v = volume[i]
        step = price[i] * v
        if not math.isfinite(step):
            out[i] = math.nan
            continue
        pv += step
        vv += v
        out[i] = pv / vv if vv > 0.0 else math.nan
    return out
