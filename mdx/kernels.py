"""Compiled (numba, ``cache=True``) loops behind ``mdx.bars`` and ``mdx.indicators``.

These are private building blocks: they take and return plain numpy arrays, do no validation beyond what
the loop needs, and are wrapped by the public functions. Each indicator kernel performs *exactly* the same
floating-point operations, in the same order, as the matching streaming class in ``mdx.indicators``, so
the batch and streaming results are bit-for-bit equal on the same input. Never use ``fastmath`` here: it
would let LLVM reorder sums and break that equality.

NaN convention (all indicator kernels): a NaN input produces a NaN output at that position and is
skipped, i.e. the state is left unchanged, as if the value had not been there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Status codes of ``resample_kernel``.
OK = 0
UNSORTED = 1

# What ``moments_kernel`` outputs.
STD = 0
ZSCORE = 1
MEAN = 2


@njit(cache=True, nogil=True, error_model="numpy")
def _valid(p: float, a: float) -> bool:
    """Price and amount > 0 and their product finite: rejects NaN, infinities, zeros and negatives.
    (Written with ``&`` and one product: LLVM turns ``p < inf`` tests into slow bit fiddling.)"""
    return (p > 0.0) & (a > 0.0) & (p * a < math.inf)


@njit(cache=True, nogil=True, error_model="numpy")
def resample_kernel(ts, price, amount, side, side_slots, buy_slot, sell_slot, tf, origin):  # type: ignore[no-untyped-def]
    """One pass over trades sorted by ``ts`` -> OHLCV bars of length ``tf`` aligned on ``origin``.

    ``ts``, ``tf`` and ``origin`` share one integer unit (ms for ccxt data). ``side`` holds integer
    codes >= -1 (or is empty: no sides); the amount of trade ``i`` is added to slot ``side[i] + 1`` of
    ``side_slots`` accumulators, and slots ``buy_slot`` / ``sell_slot`` are the bar's buy / sell volume
    (a slot that no code reaches stays 0). Rows with an invalid price or amount (see ``_valid``) are
    skipped and counted.

    Returns ``(status, rejected, starts, fields, count)``: bar open times, a ``(9, bars)`` float array
    holding open, high, low, close, volume, quote volume, vwap, buy volume, sell volume, and the trade
    counts. ``status == UNSORTED`` (with empty arrays) as soon as a timestamp goes backwards.
    """
    n = ts.size
    first = 0
    while first < n and not _valid(price[first], amount[first]):
        first += 1
    last = n - 1
    while last >= first and not _valid(price[last], amount[last]):
        last -= 1
    rejected = first + (n - 1 - last)
    nb = 0
    t0 = t_last = origin
    if first <= last:
        t0 = (ts[first] - origin) // tf * tf + origin
        t_last = ts[last]
        if t_last >= t0:
            nb = (t_last - t0) // tf + 1
    starts = np.empty(nb, np.int64)
    fields = np.empty((9, nb))
    count = np.empty(nb, np.int64)
    if first > last:  # no valid trade
        return OK, rejected, starts, fields, count
    unsorted = (UNSORTED, 0, starts[:0], fields[:, :0], count[:0])
    if nb == 0:
        return unsorted
    opn, high, low, close, vol, quote, vwap, buy, sell = fields
    has_side = side.size > 0
    acc = np.zeros(side_slots)

    b = -1  # the last bar written
    c = 0.0
    i = first
    prev_t = ts[first]
    while i <= last:
        # trade i is valid and not earlier than the one before: it opens bar k
        t = ts[i]
        if t > t_last:  # later than the last trade: unsorted (and the arrays would overflow)
            return unsorted
        k = (t - t0) // tf
        for j in range(b + 1, k):  # empty bars since the previous one: flat at its close
            starts[j] = t0 + j * tf
            opn[j] = high[j] = low[j] = close[j] = vwap[j] = c
            vol[j] = quote[j] = buy[j] = sell[j] = 0.0
            count[j] = 0
        end = t0 + (k + 1) * tf
        p = price[i]
        a = amount[i]
        o = h = lo = c = p
        v = a
        qv = p * a
        acc[:] = 0.0
        if has_side:
            acc[side[i] + 1] = a
        cnt = 1
        prev_t = t
        i += 1
        while i <= last:  # the rest of bar k: the hot loop
            u = np.uint64(i)  # unsigned index: no negative-index wraparound code
            t = ts[u]
            if t >= end:
                break
            if t < prev_t:
                return unsorted
            prev_t = t
            p = price[u]
            a = amount[u]
            i += 1
            if not _valid(p, a):
                rejected += 1
                continue
            h = max(h, p)
            lo = min(lo, p)
            c = p
            v += a
            qv += p * a
            if has_side:
                acc[np.uint64(side[u] + 1)] += a
            cnt += 1
        starts[k] = end - tf
        opn[k] = o
        high[k] = h
        low[k] = lo
        close[k] = c
        vol[k] = v
        quote[k] = qv
        vwap[k] = qv / v
        buy[k] = acc[buy_slot]
        sell[k] = acc[sell_slot]
        count[k] = cnt
        b = k
        while i <= last:  # skip rejected rows up to the next valid trade
            t = ts[i]
            if t < prev_t:
                return unsorted
            prev_t = t
            if _valid(price[i], amount[i]):
                break
            rejected += 1
            i += 1
    return OK, rejected, starts, fields, count


# -- indicators ---------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def sma_kernel(x, n):  # type: ignore[no-untyped-def]
    """Rolling mean over the last ``n`` valid values. Mirrors ``mdx.indicators.SMA``.

    ``moments_kernel`` inlined with the constant ``MEAN``: numba drops the unused variance work."""
    return moments_kernel(x, n, 0, MEAN)


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def moments_kernel(x, n, ddof, what):  # type: ignore[no-untyped-def]
    """Rolling mean and variance over the last ``n`` valid values of ``x``.

    ``what``: ``STD`` -> standard deviation (ddof); ``ZSCORE`` -> z-score of the newest value
    ``(x - mean) / std``; ``MEAN`` -> the mean. Shifted sums ``s1 = sum(x - k)``, ``s2 = sum((x - k)**2)``
    with ``k`` re-centred on the window mean every ``n`` values: an exact recompute from the window
    (oldest first), which bounds the rounding drift of add/remove to ``n`` steps; a window of ``n`` equal
    values has variance exactly 0. Mirrors ``mdx.indicators._Moments``.
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
        if math.isnan(xi):
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
    Mirrors ``mdx.indicators.EMA``."""
    out = np.empty(x.size)
    alpha = 2.0 / (n + 1)
    count = 0
    total = 0.0
    e = math.nan
    for i in range(x.size):
        xi = x[i]
        if math.isnan(xi):
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
    Mirrors ``mdx.indicators.RSI``."""
    out = np.empty(x.size)
    count = 0  # changes seen
    prev = math.nan
    gain = 0.0
    loss = 0.0
    for i in range(x.size):
        xi = x[i]
        if math.isnan(xi):
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
    Mirrors ``mdx.indicators.Returns``."""
    out = np.empty(x.size)
    prev = math.nan
    for i in range(x.size):
        xi = x[i]
        if math.isnan(xi):
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
