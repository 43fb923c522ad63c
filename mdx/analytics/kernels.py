"""Compiled (numba, ``cache=True``) loops behind the moving averages, oscillators and rolling moments.

These are private building blocks: plain numpy arrays in, results written into the ``out`` arrays the
caller allocates, no validation beyond what the loop needs. Each kernel performs *exactly* the same
floating-point operations, in the same order, as the matching streaming class, so batch and streaming
results are bit-for-bit equal on the same input. Never use ``fastmath`` here: it would let LLVM reorder
sums and break that equality.

Missing values: every kernel runs on *dense* input and returns ``False`` as soon as it meets a NaN or
infinite input (its outputs are then garbage). The caller (``_common.skipping``) then runs it again on
the finite rows only and puts NaN at the others: a non-finite input gives NaN at its position and is
skipped, i.e. the state is left unchanged, as if the value had not been there. The streaming classes
apply the same test (``math.isfinite``). One check per value keeps the common all-finite case one pass.

Rolling windows over ``x`` (a dense array) read the value leaving the window straight from ``x[i - n]``
(the streaming classes keep a ring buffer of the same values). Rolling sums are shifted by a reference
value ``k`` and re-centred exactly from the window (oldest first) every ``n`` values, which bounds the
rounding drift of add/remove updates to ``n`` steps.
"""

from __future__ import annotations

import math

from numba import njit

# What ``moments_kernel`` outputs.
STD = 0
ZSCORE = 1
MEAN = 2

_NAN = math.nan


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def window_mean(x, start, n):  # type: ignore[no-untyped-def]
    """``sum(x[start:start + n]) / n``, summed oldest first (the streaming ring buffer's order)."""
    total = 0.0
    for j in range(start, start + n):
        total += x[j]
    return total / n


def recentre_every(n: int) -> int:
    """How many values the rolling sums go between exact re-centrings: a multiple of ``n`` (so the ring
    buffer of the streaming twins is oldest-first then) of at least 256 values: rare enough to cost
    little, frequent enough that add/remove rounding stays within ~1e-11 of the exact z-score."""
    return n * max(1, -(-256 // n))


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _any_missing(x, start, stop):  # type: ignore[no-untyped-def]
    for j in range(start, stop):  # noqa: SIM110 (a plain loop compiles to the tightest code)
        if not math.isfinite(x[j]):
            return True
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def sma_kernel(x, n, every, out):  # type: ignore[no-untyped-def]
    """Rolling mean of the last ``n`` values: ``k + s1 * (1 / n)`` with ``s1 = sum(x - k)``, re-centred
    (``k`` = the window mean, ``s1`` re-summed) every ``every`` values. Non-finite inputs are found
    once per block: they leave ``s1`` non-finite. Mirrors ``mdx.analytics.rolling._Moments.add``."""
    size = x.size
    inv = 1.0 / n
    k = x[0] if size else 0.0
    s1 = 0.0
    i = 0
    while i < size:
        stop = min(i + every - i % every, size)
        if i >= n:
            for j in range(i, stop):
                s1 += (x[j] - k) - (x[j - n] - k)
                out[j] = k + s1 * inv
        else:
            for j in range(i, stop):
                d = x[j] - k
                if j >= n:
                    s1 += d - (x[j - n] - k)
                else:
                    s1 += d
                out[j] = k + s1 * inv if j >= n - 1 else _NAN
        if not math.isfinite(s1) and _any_missing(x, i, stop):
            return False
        if stop % every == 0:
            k = window_mean(x, stop - n, n)
            s1 = 0.0
            for j in range(stop - n, stop):
                s1 += x[j] - k
            out[stop - 1] = k + s1 * inv
        i = stop
    return True


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _std(s1, s2, n, inv, inv_dof, run):  # type: ignore[no-untyped-def]
    """``sqrt((s2 - s1 * s1 / n) / (n - ddof))`` with the divisions as products by their inverses."""
    if run >= n:
        return 0.0
    return math.sqrt(max((s2 - s1 * s1 * inv) * inv_dof, 0.0))


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _moment_outputs(x, i, k, s1, s2, n, inv, inv_dof, run, what, width, out0, out1, out2):  # type: ignore[no-untyped-def]
    if i < n - 1:
        out0[i] = _NAN
        if what == MEAN:
            out1[i] = _NAN
            out2[i] = _NAN
        return
    std = _std(s1, s2, n, inv, inv_dof, run)
    if what == STD:
        out0[i] = std
    elif what == ZSCORE:
        out0[i] = (x[i] - (k + s1 * inv)) / std if std > 0.0 else _NAN
    else:
        middle = k + s1 * inv
        w = width * std
        out0[i] = middle + w
        out1[i] = middle
        out2[i] = middle - w


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _moments(x, n, ddof, every, what, width, out0, out1, out2):  # type: ignore[no-untyped-def]
    """Rolling mean and variance of the last ``n`` values; mirrors ``mdx.analytics.rolling._Moments``.

    ``what``: ``STD`` -> the standard deviation (ddof) into ``out0``; ``ZSCORE`` -> ``(x - mean) / std``
    of the newest value into ``out0``; ``MEAN`` -> Bollinger bands (``mean +/- width * std``, mean) into
    ``out0, out1, out2``. Shifted sums ``s1 = sum(x - k)``, ``s2 = sum((x - k)**2)`` re-centred every
    ``every`` values; a window of ``n`` equal values has variance exactly 0 (``run`` counts the equal
    values in a row).
    """
    size = x.size
    inv = 1.0 / n
    inv_dof = 1.0 / (n - ddof)
    k = x[0] if size else 0.0
    s1 = 0.0
    s2 = 0.0
    run = 0
    last = _NAN
    i = 0
    while i < size:
        stop = min(i + every - i % every, size)
        for j in range(i, stop):
            xj = x[j]
            run = run + 1 if xj == last else 1
            last = xj
            d = xj - k
            if j >= n:
                o = x[j - n] - k
                s1 += d - o
                s2 += d * d - o * o
            else:
                s1 += d
                s2 += d * d
            _moment_outputs(x, j, k, s1, s2, n, inv, inv_dof, run, what, width, out0, out1, out2)
        if not math.isfinite(s1 + s2) and _any_missing(x, i, stop):
            return False
        if stop % every == 0:
            k = window_mean(x, stop - n, n)
            s1 = 0.0
            s2 = 0.0
            for j in range(stop - n, stop):
                d = x[j] - k
                s1 += d
                s2 += d * d
            _moment_outputs(x, stop - 1, k, s1, s2, n, inv, inv_dof, run, what, width, out0, out1, out2)
        i = stop
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def std_kernel(x, n, ddof, every, out):  # type: ignore[no-untyped-def]
    """Rolling standard deviation (``ddof``) of the last ``n`` values. Mirrors ``RollingStd``."""
    return _moments(x, n, ddof, every, STD, 0.0, out, out, out)


@njit(cache=True, nogil=True, error_model="numpy")
def zscore_kernel(x, n, ddof, every, out):  # type: ignore[no-untyped-def]
    """``(x - mean) / std`` of each value in its own window of ``n``; NaN when std is 0.
    Mirrors ``ZScore``."""
    return _moments(x, n, ddof, every, ZSCORE, 0.0, out, out, out)


@njit(cache=True, nogil=True, error_model="numpy")
def bollinger_kernel(x, n, width, every, upper, middle, lower):  # type: ignore[no-untyped-def]
    """Bollinger bands in one pass: ``middle = mean``, ``upper/lower = middle +/- width * std(ddof=0)``.
    Mirrors ``mdx.analytics.averages.Bollinger``."""
    return _moments(x, n, 0, every, MEAN, width, upper, middle, lower)


@njit(cache=True, nogil=True, error_model="numpy")
def ema_kernel(x, n, out):  # type: ignore[no-untyped-def]
    """TA-Lib EMA: seed = mean of the first ``n`` values, then ``e = (x - e) * 2 / (n + 1) + e``.
    Mirrors ``mdx.analytics.averages.EMA``."""
    size = x.size
    alpha = 2.0 / (n + 1)
    total = 0.0
    for i in range(min(n - 1, size)):
        xi = x[i]
        if not math.isfinite(xi):
            return False
        total += xi
        out[i] = _NAN
    if size < n:
        return True
    xi = x[n - 1]
    if not math.isfinite(xi):
        return False
    e = (total + xi) / n
    out[n - 1] = e
    for i in range(n, size):
        xi = x[i]
        if not math.isfinite(xi):
            return False
        e = (xi - e) * alpha + e
        out[i] = e
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def wma_kernel(x, n, out):  # type: ignore[no-untyped-def]
    """Linearly weighted mean of the last ``n`` values (weights 1..n, newest heaviest), TA-Lib WMA.

    Shifted sums ``s = sum(x - k)`` and ``w = sum(weight * (x - k))``; a new value gives
    ``w += n * d - s`` (every weight drops by one, the oldest to 0) then ``s += d - oldest``.
    Mirrors ``mdx.analytics.averages.WMA``."""
    size = x.size
    inv_divisor = 2.0 / (n * (n + 1))
    k = x[0] if size else 0.0
    s = 0.0
    w = 0.0
    left = n
    for i in range(size):
        xi = x[i]
        if not math.isfinite(xi):
            return False
        d = xi - k
        if i >= n:
            w += n * d - s
            s += d - (x[i - n] - k)
        else:
            w += (i + 1) * d
            s += d
        left -= 1
        if left == 0:
            left = n
            k = window_mean(x, i + 1 - n, n)
            s = 0.0
            w = 0.0
            for j in range(n):
                d = x[i + 1 - n + j] - k
                s += d
                w += (j + 1) * d
        out[i] = k + w * inv_divisor if i >= n - 1 else _NAN
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def rsi_kernel(x, n, out):  # type: ignore[no-untyped-def]
    """TA-Lib RSI: Wilder averages of gains and losses seeded by the mean of the first ``n`` changes,
    then ``avg = avg * ((n - 1) / n) + new * (1 / n)`` (Wilder's ``(avg * (n - 1) + new) / n`` with the
    division as a product: half the dependency chain); ``rsi = 100 * gain / (gain + loss)``, 50 when both
    are 0. Mirrors ``mdx.analytics.averages.RSI``."""
    size = x.size
    keep = (n - 1) / n
    inv = 1.0 / n
    if size == 0:
        return True
    prev = x[0]
    if not math.isfinite(prev):
        return False
    out[0] = _NAN
    gain = 0.0
    loss = 0.0
    for i in range(1, size):
        xi = x[i]
        if not math.isfinite(xi):
            return False
        d = xi - prev
        prev = xi
        up = d if d > 0.0 else 0.0
        down = -d if d < 0.0 else 0.0
        if i < n:
            gain += up
            loss += down
            out[i] = _NAN
            continue
        if i == n:
            gain = (gain + up) / n
            loss = (loss + down) / n
        else:
            gain = gain * keep + up * inv
            loss = loss * keep + down * inv
        total = gain + loss
        out[i] = 100.0 * gain / total if total > 0.0 else 50.0
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def macd_kernel(x, fast, slow, signal, line_out, signal_out, hist_out):  # type: ignore[no-untyped-def]
    """TA-Lib MACD in one pass: the slow EMA is seeded with the mean of the first ``slow`` values and
    the fast one with the mean of the ``fast`` values ending at the same value (index ``slow - 1``);
    the signal is the EMA of the MACD line seeded with the mean of its first ``signal`` values. All three
    outputs start at index ``slow + signal - 2``. Mirrors ``mdx.analytics.averages.MACD``."""
    size = x.size
    a_fast = 2.0 / (fast + 1)
    a_slow = 2.0 / (slow + 1)
    a_sig = 2.0 / (signal + 1)
    first = slow + signal - 2
    total_fast = 0.0
    total_slow = 0.0
    for i in range(min(slow - 1, size)):
        xi = x[i]
        if not math.isfinite(xi):
            return False
        total_slow += xi
        if i >= slow - fast:
            total_fast += xi
    for i in range(min(first, size)):
        line_out[i] = _NAN
        signal_out[i] = _NAN
        hist_out[i] = _NAN
    if size < slow:
        return True
    xi = x[slow - 1]
    if not math.isfinite(xi):
        return False
    f = (total_fast + xi) / fast
    s = (total_slow + xi) / slow
    line = f - s
    total_sig = 0.0
    sig = _NAN
    for i in range(slow, first + 1):  # the signal's warm-up
        total_sig += line
        if i >= size:
            return True
        xi = x[i]
        if not math.isfinite(xi):
            return False
        f = (xi - f) * a_fast + f
        s = (xi - s) * a_slow + s
        line = f - s
    if first < size:
        sig = (total_sig + line) / signal
        line_out[first] = line
        signal_out[first] = sig
        hist_out[first] = line - sig
    for i in range(first + 1, size):
        xi = x[i]
        if not math.isfinite(xi):
            return False
        f = (xi - f) * a_fast + f
        s = (xi - s) * a_slow + s
        line = f - s
        sig = (line - sig) * a_sig + sig
        line_out[i] = line
        signal_out[i] = sig
        hist_out[i] = line - sig
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def returns_kernel(x, log, out):  # type: ignore[no-untyped-def]
    """Simple ``x / prev - 1`` or log ``log(x / prev)`` returns against the previous value; NaN when the
    previous value is 0 (or, for log returns, when the ratio is not positive). Mirrors ``Returns``."""
    prev = _NAN
    for i in range(x.size):
        xi = x[i]
        if not math.isfinite(xi):
            return False
        if math.isnan(prev) or prev == 0.0:
            out[i] = _NAN
        else:
            q = xi / prev
            if not log:
                out[i] = q - 1.0
            else:
                out[i] = math.log(q) if q > 0.0 else _NAN
        prev = xi
    return True
