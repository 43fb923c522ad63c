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
apply the same test (``math.isfinite``). The long loops test no value one by one: they run in blocks,
and a NaN or infinite input leaves the running state (a sum, an EMA) non-finite, so the block's inputs
are searched (``_any_missing``) only when a block ends with a non-finite state.

Speed (1,000,000 values; ``bench/bench_indicators.py``): the loops are serial, so their cost is the
dependency chain from one value to the next plus waiting for memory. Chains are kept to one product and
one sum per step (``e * keep + x * alpha`` rather than ``(x - e) * alpha + e``; two bars per step for
ATR); the hot loops index zero-based slices of a block (numba then skips its negative-index checks) and
``prefetch`` their input and output ``AHEAD`` values early, since a serial loop asks for memory too late.

Rolling windows over ``x`` (a dense array) read the value leaving the window straight from ``x[i - n]``
(the streaming classes keep a ring buffer of the same values). Rolling sums are shifted by a reference
value ``k`` and re-centred exactly from the window (oldest first) every ``recentre_every(n)`` values,
which bounds the rounding drift of add/remove updates to that many steps.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# What ``moments_kernel`` outputs.
STD = 0
ZSCORE = 1
MEAN = 2

_NAN = math.nan
# Values per block of the single-pass loops: a non-finite input leaves the running state non-finite, so it
# is looked for (``_any_missing``) only in a block that ends with a non-finite state.
BLOCK = 2048
# How far ahead (values) the single-pass loops ask for their input: a serial loop issues its loads too
# late for memory, so on data not in cache it would wait for each line (2x slower than from cache).
AHEAD = 256


def _prefetcher(write: int):  # type: ignore[no-untyped-def]
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        address = builder.bitcast(builder.gep(data, [args[1]]), byte_ptr)
        builder.call(fn, [address, i32(write), i32(3), i32(1)])  # keep in all levels, data
        return context.get_dummy_value()

    return codegen


@intrinsic
def prefetch(typingctx, array, index):  # type: ignore[no-untyped-def]
    """Hint the CPU to load ``array[index]`` into cache (LLVM ``prefetch``: no effect on results, no fault
    past the end of the array)."""
    return types.void(array, index), _prefetcher(0)


@intrinsic
def prefetch_write(typingctx, array, index):  # type: ignore[no-untyped-def]
    """``prefetch`` for a value about to be written (the cache line is fetched for ownership)."""
    return types.void(array, index), _prefetcher(1)


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
        stop = min(i + every, size)  # ``i`` is a multiple of ``every``
        for j in range(i, min(n, stop)):  # the first window (first block only)
            s1 += x[j] - k
            out[j] = k + s1 * inv if j == n - 1 else _NAN
        lo = max(i, n)
        s1 = _sma_slide(x[lo:stop], x[lo - n : stop - n], k, s1, inv, out[lo:stop])
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
def _sma_slide(x, old, k, s1, inv, out):  # type: ignore[no-untyped-def]
    """Add ``x[j]``, remove ``old[j]`` over a block (zero-based slices: no negative-index checks)."""
    for j in range(x.size):
        prefetch(x, j + AHEAD)
        prefetch_write(out, j + AHEAD)
        s1 += (x[j] - k) - (old[j] - k)
        out[j] = k + s1 * inv
    return s1


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _sqrt0(v):  # type: ignore[no-untyped-def]
    """``sqrt(max(v, 0.0))`` with Python's ``max`` (0.0 only when ``0.0 > v``; NaN stays NaN)."""
    return math.sqrt(0.0 if v < 0.0 else v)


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _step(x, j, k, s1, s2, inv, inv_dof, flat, what, width, out0, out1, out2):  # type: ignore[no-untyped-def]
    """Output ``j`` from the shifted sums: ``std = sqrt(max((s2 - s1 * s1 / n) / (n - ddof), 0))`` (0 for a
    flat window), then by ``what`` the std, the z-score of ``x[j]`` or the bands and mean."""
    std = 0.0 if flat else _sqrt0((s2 - s1 * s1 * inv) * inv_dof)
    if what == STD:
        out0[j] = std
    elif what == ZSCORE:
        out0[j] = (x[j] - (k + s1 * inv)) / std if std > 0.0 else _NAN
    else:
        middle = k + s1 * inv
        w = width * std
        out0[j] = middle + w
        out1[j] = middle
        out2[j] = middle - w


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _slide(x, old, k, state, n, inv, inv_dof, what, width, outs):  # type: ignore[no-untyped-def]
    """Add ``x[j]`` and remove ``old[j]`` (the value ``n`` earlier) for each ``j`` of a block, writing
    ``_step``'s outputs; ``state`` is ``(s1, s2, run, last)``, returned updated. Zero-based slices: numba
    indexes them without negative-index checks."""
    s1, s2, run, last = state
    out0, out1, out2 = outs
    for j in range(x.size):
        prefetch(x, j + AHEAD)
        prefetch_write(out0, j + AHEAD)
        xj = x[j]
        run = run + 1 if xj == last else 1
        last = xj
        d = xj - k
        o = old[j] - k
        s1 += d - o
        s2 += d * d - o * o
        _step(x, j, k, s1, s2, inv, inv_dof, run >= n, what, width, out0, out1, out2)
    return s1, s2, run, last


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _moments(x, n, ddof, every, what, width, out0, out1, out2):  # type: ignore[no-untyped-def]
    """Rolling mean and variance of the last ``n`` values; mirrors ``mdx.analytics.rolling._Moments``.

    ``what``: ``STD`` -> the standard deviation (ddof) into ``out0``; ``ZSCORE`` -> ``(x - mean) / std``
    of the newest value into ``out0``; ``MEAN`` -> Bollinger bands (``mean +/- width * std``, mean) into
    ``out0, out1, out2``. Shifted sums ``s1 = sum(x - k)``, ``s2 = sum((x - k)**2)`` re-centred every
    ``every`` values (a block); a window of ``n`` equal values has variance exactly 0 (``run`` counts the
    equal values in a row).
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
        stop = min(i + every, size)  # ``i`` is a multiple of ``every``
        for j in range(i, min(n, stop)):  # the first window (first block only)
            xj = x[j]
            run = run + 1 if xj == last else 1
            last = xj
            d = xj - k
            s1 += d
            s2 += d * d
            if j < n - 1:
                out0[j] = _NAN
                out1[j] = _NAN
                out2[j] = _NAN
            else:
                _step(x, j, k, s1, s2, inv, inv_dof, run >= n, what, width, out0, out1, out2)
        lo = max(i, n)
        outs = (out0[lo:stop], out1[lo:stop], out2[lo:stop])
        state = (s1, s2, run, last)
        s1, s2, run, last = _slide(
            x[lo:stop], x[lo - n : stop - n], k, state, n, inv, inv_dof, what, width, outs
        )
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
            _step(x, stop - 1, k, s1, s2, inv, inv_dof, run >= n, what, width, out0, out1, out2)
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


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def ema_weights(n):  # type: ignore[no-untyped-def]
    """``(alpha, keep)`` of an ``n``-period EMA: ``2 / (n + 1)`` and ``(n - 1) / (n + 1)``; the streaming
    classes compute the same two numbers in Python."""
    return 2.0 / (n + 1), (n - 1) / (n + 1)


@njit(cache=True, nogil=True, error_model="numpy")
def ema_kernel(x, n, out):  # type: ignore[no-untyped-def]
    """TA-Lib EMA: seed = mean of the first ``n`` values, then ``e = e * keep + x * alpha`` (``alpha = 2 /
    (n + 1)``, ``keep = (n - 1) / (n + 1)``: TA-Lib's ``(x - e) * alpha + e`` rearranged so that the
    dependency chain is one product and one sum). Mirrors ``mdx.analytics.averages.EMA``."""
    size = x.size
    alpha, keep = ema_weights(n)
    if _any_missing(x, 0, min(n, size)):
        return False
    for i in range(min(n - 1, size)):
        out[i] = _NAN
    if size < n:
        return True
    total = 0.0
    for i in range(n):
        total += x[i]
    e = total / n
    out[n - 1] = e
    i = n
    while i < size:
        stop = min(i + BLOCK, size)
        e = _ema_steps(x[i:stop], e, alpha, keep, out[i:stop])
        if not math.isfinite(e) and _any_missing(x, i, stop):  # a NaN or inf input leaves e non-finite
            return False
        i = stop
    return True


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _ema_steps(x, e, alpha, keep, out):  # type: ignore[no-untyped-def]
    """EMA steps over a block (zero-based slices: numba indexes them without negative-index checks)."""
    for j in range(x.size):
        prefetch(x, j + AHEAD)
        prefetch_write(out, j + AHEAD)
        e = e * keep + x[j] * alpha
        out[j] = e
    return e


@njit(cache=True, nogil=True, error_model="numpy")
def wma_kernel(x, n, every, out):  # type: ignore[no-untyped-def]
    """Linearly weighted mean of the last ``n`` values (weights 1..n, newest heaviest), TA-Lib WMA.

    Shifted sums ``s = sum(x - k)`` and ``w = sum(weight * (x - k))``; a new value gives
    ``w += n * d - s`` (every weight drops by one, the oldest to 0) then ``s += d - oldest``; both are
    re-summed exactly (``k`` = the window mean) every ``every`` values. Mirrors
    ``mdx.analytics.averages.WMA``."""
    size = x.size
    inv_divisor = 2.0 / (n * (n + 1))
    k = x[0] if size else 0.0
    s = 0.0
    w = 0.0
    i = 0
    while i < size:
        stop = min(i + every, size)  # ``i`` is a multiple of ``every``
        for j in range(i, min(n, stop)):  # the first window (first block only)
            d = x[j] - k
            w += (j + 1) * d
            s += d
            out[j] = k + w * inv_divisor if j == n - 1 else _NAN
        lo = max(i, n)
        s, w = _wma_slide(x[lo:stop], x[lo - n : stop - n], k, s, w, n, inv_divisor, out[lo:stop])
        if not math.isfinite(s + w) and _any_missing(x, i, stop):
            return False
        if stop % every == 0:
            k = window_mean(x, stop - n, n)
            s = 0.0
            w = 0.0
            for j in range(n):
                d = x[stop - n + j] - k
                s += d
                w += (j + 1) * d
            out[stop - 1] = k + w * inv_divisor
        i = stop
    return True


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _wma_slide(x, old, k, s, w, n, inv_divisor, out):  # type: ignore[no-untyped-def]
    """WMA steps over a block (zero-based slices: no negative-index checks)."""
    for j in range(x.size):
        prefetch(x, j + AHEAD)
        prefetch_write(out, j + AHEAD)
        d = x[j] - k
        w += n * d - s
        s += d - (old[j] - k)
        out[j] = k + w * inv_divisor
    return s, w


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
    outputs start at index ``slow + signal - 2``. Each EMA steps as ``e * keep + v * alpha`` (see
    ``ema_kernel``); the three chains are independent within a step, so the loop costs about one EMA.
    Mirrors ``mdx.analytics.averages.MACD``."""
    size = x.size
    first = slow + signal - 2
    for i in range(min(first, size)):
        line_out[i] = _NAN
        signal_out[i] = _NAN
        hist_out[i] = _NAN
    if _any_missing(x, 0, min(first + 1, size)):  # the warm-up is checked up front
        return False
    if size <= first:
        return True
    a_fast, k_fast = ema_weights(fast)
    a_slow, k_slow = ema_weights(slow)
    total_fast = 0.0
    total_slow = 0.0
    for i in range(slow):
        total_slow += x[i]
        if i >= slow - fast:
            total_fast += x[i]
    f = total_fast / fast
    s = total_slow / slow
    total_sig = f - s
    for i in range(slow, first + 1):  # the signal's warm-up: the sum of its first ``signal`` lines
        f = f * k_fast + x[i] * a_fast
        s = s * k_slow + x[i] * a_slow
        total_sig += f - s
    line = f - s
    sig = total_sig / signal
    line_out[first] = line
    signal_out[first] = sig
    hist_out[first] = line - sig
    return _macd_steps(x, first + 1, f, s, sig, fast, slow, signal, line_out, signal_out, hist_out)


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _macd_steps(x, start, f, s, sig, fast, slow, signal, line_out, signal_out, hist_out):  # type: ignore[no-untyped-def]
    """MACD from ``start`` on, given the fast, slow and signal EMAs at ``start - 1``."""
    size = x.size
    i = start
    while i < size:
        stop = min(i + BLOCK, size)
        f, s, sig = _macd_block(
            x[i:stop], f, s, sig, fast, slow, signal, line_out[i:stop], signal_out[i:stop], hist_out[i:stop]
        )
        if not math.isfinite(f + s) and _any_missing(x, i, stop):  # NaN or inf leaves f and s non-finite
            return False
        i = stop
    return True


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _macd_block(x, f, s, sig, fast, slow, signal, line_out, signal_out, hist_out):  # type: ignore[no-untyped-def]
    a_fast, k_fast = ema_weights(fast)
    a_slow, k_slow = ema_weights(slow)
    a_sig, k_sig = ema_weights(signal)
    for j in range(x.size):
        prefetch(x, j + AHEAD)
        prefetch_write(line_out, j + AHEAD)
        prefetch_write(signal_out, j + AHEAD)
        prefetch_write(hist_out, j + AHEAD)
        xj = x[j]
        f = f * k_fast + xj * a_fast
        s = s * k_slow + xj * a_slow
        line = f - s
        sig = sig * k_sig + line * a_sig
        line_out[j] = line
        signal_out[j] = sig
        hist_out[j] = line - sig
    return f, s, sig


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
