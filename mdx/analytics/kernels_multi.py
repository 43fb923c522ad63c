"""Compiled loops over several inputs: bars (high, low, close, volume, buy/sell volume) and pairs of
series. Same rules as ``mdx.analytics.kernels``: dense input, ``False`` returned at the first non-finite
step (the caller re-runs on the finite rows), and exactly the floating-point operations of the matching
streaming class in ``mdx.analytics.trend``, ``.volume`` or ``.rolling``, in the same order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kernels import AHEAD, BLOCK, prefetch, prefetch_write, window_mean

_NAN = math.nan

# What ``comoments_kernel`` outputs.
CORRELATION = 0
BETA = 1


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def true_range(high, low, prev_close):  # type: ignore[no-untyped-def]
    return max(high - low, abs(high - prev_close), abs(low - prev_close))


@njit(cache=True, nogil=True, error_model="numpy")
def true_range_kernel(high, low, close, out):  # type: ignore[no-untyped-def]
    """``max(high - low, |high - prev close|, |low - prev close|)``, NaN at the first bar (TA-Lib TRANGE).
    Mirrors ``mdx.analytics.trend.TrueRange``."""
    prev = _NAN
    for i in range(close.size):
        h, lo, c = high[i], low[i], close[i]
        if not (math.isfinite(h) and math.isfinite(lo) and math.isfinite(c)):
            return False
        out[i] = true_range(h, lo, prev) if i else _NAN
        prev = c
    return True


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def bars_missing(high, low, close, start, stop):  # type: ignore[no-untyped-def]
    """Whether a bar in ``[start, stop)`` has a non-finite high, low or close."""
    for j in range(start, stop):
        if not (math.isfinite(high[j]) and math.isfinite(low[j]) and math.isfinite(close[j])):
            return True
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def atr_kernel(high, low, close, n, out):  # type: ignore[no-untyped-def]
    """TA-Lib ATR: the mean of the first ``n`` true ranges (first output at index ``n``), then Wilder's
    ``atr = (atr * (n - 1) + tr) / n``, run as ``atr * keep + tr * inv`` (``keep = (n - 1) / n``, ``inv =
    1 / n``) two bars at a time: ``a1 = a0 * keep + u1`` and ``a2 = a0 * keep**2 + (u1 * keep + u2)``
    with ``u = tr * inv``, so the dependency chain is one product and one sum per two bars (within 1e-13
    of TA-Lib). Mirrors ``mdx.analytics.trend.ATR``.

    Missing bars are found without a test per bar: a non-finite high or low gives a non-finite true
    range (``max`` keeps its first argument, ``high - low``, unless another one is greater), which stays
    in ``atr``; a non-finite close shows in the running sum ``closes``. Either is looked for exactly
    only in a block that ends non-finite."""
    size = close.size
    keep = (n - 1) / n
    inv = 1.0 / n
    keep2 = keep * keep
    if bars_missing(high, low, close, 0, min(n + 1, size)):
        return False
    for i in range(min(n, size)):
        out[i] = _NAN
    if size <= n:
        return True
    total = 0.0
    for i in range(1, n + 1):
        total += true_range(high[i], low[i], close[i - 1])
    atr = total / n
    out[n] = atr
    i = n + 1
    while i < size:
        pairs = min(BLOCK, (size - i) // 2)
        stop = size if pairs < BLOCK else i + 2 * pairs  # the last block takes the unpaired last bar
        atr, closes = _atr_pairs(
            high[i:stop], low[i:stop], close[i - 1 : stop], atr, keep, inv, keep2, out[i:stop]
        )
        if not math.isfinite(atr + closes) and bars_missing(high, low, close, i, stop):
            return False
        i = stop
    return True


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _atr_pairs(high, low, close, atr, keep, inv, keep2, out):  # type: ignore[no-untyped-def]
    """``atr_kernel``'s steps over one block (``close`` starts one bar earlier); zero-based slices let
    numba index without negative-index checks. Returns the ATR and the sum of the block's closes."""
    closes = 0.0
    for m in range(high.size // 2):
        j = 2 * m
        prefetch(high, j + AHEAD)
        prefetch(low, j + AHEAD)
        prefetch(close, j + AHEAD)
        prefetch_write(out, j + AHEAD)
        c1 = close[j + 1]
        closes += c1 + close[j + 2]
        u1 = true_range(high[j], low[j], close[j]) * inv
        u2 = true_range(high[j + 1], low[j + 1], c1) * inv
        out[j] = atr * keep + u1
        atr = atr * keep2 + (u1 * keep + u2)
        out[j + 1] = atr
    if high.size % 2:  # the unpaired last bar
        j = high.size - 1
        closes += close[j + 1]
        atr = atr * keep + true_range(high[j], low[j], close[j]) * inv
        out[j] = atr
    return atr, closes


@njit(cache=True, nogil=True, error_model="numpy")
def adx_kernel(high, low, close, n, adx_out, plus_out, minus_out):  # type: ignore[no-untyped-def]
    """TA-Lib ADX, PLUS_DI and MINUS_DI in one pass. Directional moves ``up = high - prev high``,
    ``down = prev low - low``; +DM is ``up`` when ``up > down`` and ``up > 0`` (else 0), -DM likewise.
    TR, +DM and -DM are Wilder sums seeded with the sum of the first ``n - 1`` values, then
    ``s = s - s / n + v`` (from index ``n``); ``±DI = 100 * ±DM / TR`` (0 when TR is 0);
    ``DX = 100 * |+DI - -DI| / (+DI + -DI)`` (0 when both are 0); ADX is the mean of the first ``n``
    DX values (index ``2n - 1``), then ``adx = (adx * (n - 1) + dx) / n``. Mirrors ``trend.ADX``."""
    ph = pl = pc = _NAN
    s_tr = s_plus = s_minus = 0.0
    dx_total = 0.0
    adx = _NAN
    for i in range(close.size):
        h, lo, c = high[i], low[i], close[i]
        if not (math.isfinite(h) and math.isfinite(lo) and math.isfinite(c)):
            return False
        if i == 0:
            ph, pl, pc = h, lo, c
            adx_out[0] = plus_out[0] = minus_out[0] = _NAN
            continue
        tr = true_range(h, lo, pc)
        up = h - ph
        down = pl - lo
        plus = up if up > down and up > 0.0 else 0.0
        minus = down if down > up and down > 0.0 else 0.0
        ph, pl, pc = h, lo, c
        if i < n:
            s_tr += tr
            s_plus += plus
            s_minus += minus
            adx_out[i] = plus_out[i] = minus_out[i] = _NAN
            continue
        s_tr = s_tr - s_tr / n + tr
        s_plus = s_plus - s_plus / n + plus
        s_minus = s_minus - s_minus / n + minus
        pdi = 100.0 * s_plus / s_tr if s_tr != 0.0 else 0.0
        mdi = 100.0 * s_minus / s_tr if s_tr != 0.0 else 0.0
        both = pdi + mdi
        dx = 100.0 * abs(pdi - mdi) / both if both != 0.0 else 0.0
        j = i - n
        if j < n - 1:
            dx_total += dx
            adx_out[i] = _NAN
        else:
            adx = (dx_total + dx) / n if j == n - 1 else (adx * (n - 1) + dx) / n
            adx_out[i] = adx
        plus_out[i] = pdi
        minus_out[i] = mdi
    return True


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _tail_mean(x, end, n):  # type: ignore[no-untyped-def]
    """Mean of ``x[end - n + 1 : end + 1]``, summed oldest first."""
    return window_mean(x, end + 1 - n, n)


@njit(cache=True, nogil=True, error_model="numpy")
def stoch_kernel(high, low, close, fastk, slowk, slowd, k_out, d_out):  # type: ignore[no-untyped-def]
    """TA-Lib STOCH with simple-average smoothing: ``fast %K = 100 * (close - lowest low) / (highest high
    - lowest low)`` over ``fastk`` bars (0 when the range is 0), ``%K = mean of the last slowk fast %K``,
    ``%D = mean of the last slowd %K``; both start at index ``fastk + slowk + slowd - 3``.
    Mirrors ``mdx.analytics.trend.Stoch``. Two passes: the window extremes (into ``k_out``, ``d_out``),
    then the oscillator, which reads them back at the same index before writing it."""
    size = close.size
    first_k = fastk + slowk - 2
    first = first_k + slowd - 1
    if bars_missing(high, low, close, 0, size):
        return False
    _window_extremes(high, low, fastk, k_out, d_out)
    fast = np.empty(size)
    slow = np.empty(size)
    for i in range(size):
        if i < fastk - 1:
            fast[i] = _NAN
        else:
            top, bottom = k_out[i], d_out[i]
            diff = top - bottom
            fast[i] = (close[i] - bottom) / diff * 100.0 if diff != 0.0 else 0.0
        slow[i] = _tail_mean(fast, i, slowk) if i >= first_k else _NAN
        if i < first:
            k_out[i] = _NAN
            d_out[i] = _NAN
        else:
            k_out[i] = slow[i]
            d_out[i] = _tail_mean(slow, i, slowd)
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _window_extremes(high, low, n, tops_out, bottoms_out):  # type: ignore[no-untyped-def]
    """The highest high and lowest low of the last ``n`` bars (fewer at the start), by van Herk /
    Gil-Werman: in blocks of ``n`` bars, a window ending at ``i`` is the previous block from the
    window's first bar (that block's suffix extremes) plus the current block up to ``i`` (running
    extremes): three ``max``/``min`` per bar, exact, no data-dependent branch (as TA-Lib's values)."""
    size = high.size
    tops = np.empty(n)  # the previous block's suffix extremes
    bottoms = np.empty(n)
    for s in range(0, size, n):
        e = min(s + n, size)
        hh = -math.inf
        ll = math.inf
        for i in range(s, e):
            hh = max(hh, high[i])
            ll = min(ll, low[i])
            if s and i + 1 < s + n:  # the window starts in the previous block
                tops_out[i] = max(tops[i + 1 - s], hh)
                bottoms_out[i] = min(bottoms[i + 1 - s], ll)
            else:
                tops_out[i] = hh
                bottoms_out[i] = ll
        _suffix_extremes(high, low, s, e, tops, bottoms)


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _suffix_extremes(high, low, start, stop, tops, bottoms):  # type: ignore[no-untyped-def]
    """``tops[j] = max(high[start + j:stop])`` and ``bottoms[j] = min(low[start + j:stop])``."""
    top = -math.inf
    bottom = math.inf
    for j in range(stop - 1, start - 1, -1):
        top = max(top, high[j])
        bottom = min(bottom, low[j])
        tops[j - start] = top
        bottoms[j - start] = bottom


@njit(cache=True, nogil=True, error_model="numpy")
def obv_kernel(close, volume, out):  # type: ignore[no-untyped-def]
    """TA-Lib OBV: starts at the first volume, then adds the volume when the close rises, subtracts it
    when it falls. Mirrors ``mdx.analytics.volume.OBV``.

    No test per bar: a non-finite volume makes ``obv`` non-finite (``v * 0`` included), a non-finite
    close shows in the running sum ``closes``; either is looked for only in a block that ends so."""
    size = close.size
    if size == 0:
        return True
    if not (math.isfinite(close[0]) and math.isfinite(volume[0])):
        return False
    obv = volume[0]
    out[0] = obv
    i = 1
    while i < size:
        stop = min(i + BLOCK, size)
        obv, closes = _obv_block(close[i:stop], close[i - 1 : stop - 1], volume[i:stop], obv, out[i:stop])
        if not math.isfinite(obv + closes) and _pairs_missing(close, volume, i, stop):
            return False
        i = stop
    return True


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _obv_block(close, prev, volume, obv, out):  # type: ignore[no-untyped-def]
    """OBV over a block (zero-based slices: no negative-index checks); the obv and the closes' sum."""
    closes = 0.0
    for j in range(close.size):
        prefetch(close, j + AHEAD)
        prefetch(volume, j + AHEAD)
        prefetch_write(out, j + AHEAD)
        c = close[j]
        p = prev[j]
        closes += c
        obv += volume[j] * ((c > p) - (c < p))  # +v, -v or +0 without a branch
        out[j] = obv
    return obv, closes


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _pairs_missing(x, y, start, stop):  # type: ignore[no-untyped-def]
    for j in range(start, stop):  # noqa: SIM110 (a plain loop compiles to the tightest code)
        if not (math.isfinite(x[j]) and math.isfinite(y[j])):
            return True
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def vwap_kernel(price, volume, out):  # type: ignore[no-untyped-def]
    """Cumulative VWAP: running ``sum(p * v) / sum(v)``, NaN until some volume. Stops at a step whose
    ``p * v`` is not finite (the caller skips those). Mirrors ``mdx.analytics.volume.VWAP``."""
    pv = 0.0
    vv = 0.0
    for i in range(price.size):
        v = volume[i]
        step = price[i] * v
        if not math.isfinite(step):
            return False
        pv += step
        vv += v
        out[i] = pv / vv if vv > 0.0 else _NAN
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def anchored_vwap_kernel(ts, price, volume, anchor, out):  # type: ignore[no-untyped-def]
    """VWAP restarted whenever ``ts // anchor`` changes (a new UTC day for ``anchor`` = 1 day in ns).
    Mirrors ``mdx.analytics.volume.AnchoredVWAP``."""
    pv = 0.0
    vv = 0.0
    current = 0
    for i in range(price.size):
        v = volume[i]
        step = price[i] * v
        if not math.isfinite(step):
            return False
        period = ts[i] // anchor
        if i == 0 or period != current:
            current = period
            pv = 0.0
            vv = 0.0
        pv += step
        vv += v
        out[i] = pv / vv if vv > 0.0 else _NAN
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def rolling_vwap_kernel(price, volume, n, out):  # type: ignore[no-untyped-def]
    """``sum(p * v) / sum(v)`` over the last ``n`` steps (NaN when none of them has volume); sums
    recomputed exactly every ``n`` steps. Mirrors ``mdx.analytics.volume.RollingVWAP``."""
    pv = 0.0
    vv = 0.0
    traded = 0
    left = n
    for i in range(price.size):
        v = volume[i]
        step = price[i] * v
        if not math.isfinite(step):
            return False
        traded += v > 0.0
        if i >= n:
            old = volume[i - n]
            pv += step - price[i - n] * old
            vv += v - old
            traded -= old > 0.0
        else:
            pv += step
            vv += v
        left -= 1
        if left == 0:
            left = n
            pv = 0.0
            vv = 0.0
            for j in range(i + 1 - n, i + 1):
                pv += price[j] * volume[j]
                vv += volume[j]
        out[i] = pv / vv if i >= n - 1 and traded > 0 and vv > 0.0 else _NAN
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def volume_delta_kernel(buy, sell, cumulative, out):  # type: ignore[no-untyped-def]
    """Taker buy minus sell volume per bar, or its running sum (cumulative volume delta).
    Mirrors ``mdx.analytics.volume.VolumeDelta`` / ``CumulativeVolumeDelta``."""
    total = 0.0
    for i in range(buy.size):
        d = buy[i] - sell[i]
        if not math.isfinite(d):
            return False
        total += d
        out[i] = total if cumulative else d
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def comoments_kernel(x, y, n, every, what, out):  # type: ignore[no-untyped-def]
    """Rolling Pearson correlation of ``x`` and ``y`` (``what = CORRELATION``) or the slope of ``y`` on
    ``x``, ``cov(x, y) / var(x)`` (``what = BETA``), over the last ``n`` pairs; NaN when a window is flat.
    Shifted sums as in ``kernels._moments``, re-centred every ``every`` pairs (a block; a non-finite
    input leaves the sums non-finite, so it is looked for only then). Mirrors ``rolling._CoMoments``."""
    size = x.size
    kx = x[0] if size else 0.0
    ky = y[0] if size else 0.0
    sx = sy = sxx = syy = sxy = 0.0
    run_x = run_y = 0
    last_x = last_y = _NAN
    i = 0
    while i < size:
        stop = min(i + every, size)  # ``i`` is a multiple of ``every``
        for j in range(i, min(n, stop)):  # the first window (first block only)
            xj, yj = x[j], y[j]
            run_x = run_x + 1 if xj == last_x else 1
            run_y = run_y + 1 if yj == last_y else 1
            last_x, last_y = xj, yj
            dx = xj - kx
            dy = yj - ky
            sx += dx
            sy += dy
            sxx += dx * dx
            syy += dy * dy
            sxy += dx * dy
            flat_x, flat_y = run_x >= n, run_y >= n
            out[j] = comoment_ratio(sx, sy, sxx, syy, sxy, n, flat_x, flat_y, what) if j == n - 1 else _NAN
        lo = max(i, n)
        state = (sx, sy, sxx, syy, sxy, run_x, run_y, last_x, last_y)
        sx, sy, sxx, syy, sxy, run_x, run_y, last_x, last_y = _comoments_slide(
            x[lo:stop],
            y[lo:stop],
            x[lo - n : stop - n],
            y[lo - n : stop - n],
            kx,
            ky,
            state,
            n,
            what,
            out[lo:stop],
        )
        if not math.isfinite(sx + sy + sxx + syy + sxy) and _pairs_missing(x, y, i, stop):
            return False
        if stop % every == 0:
            kx = window_mean(x, stop - n, n)
            ky = window_mean(y, stop - n, n)
            sx = sy = sxx = syy = sxy = 0.0
            for j in range(stop - n, stop):
                dx = x[j] - kx
                dy = y[j] - ky
                sx += dx
                sy += dy
                sxx += dx * dx
                syy += dy * dy
                sxy += dx * dy
            out[stop - 1] = comoment_ratio(sx, sy, sxx, syy, sxy, n, run_x >= n, run_y >= n, what)
        i = stop
    return True


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def _comoments_slide(x, y, old_x, old_y, kx, ky, state, n, what, out):  # type: ignore[no-untyped-def]
    """``comoments_kernel``'s steps over a block (zero-based slices: no negative-index checks)."""
    sx, sy, sxx, syy, sxy, run_x, run_y, last_x, last_y = state
    for j in range(x.size):
        prefetch(x, j + AHEAD)
        prefetch(y, j + AHEAD)
        xj, yj = x[j], y[j]
        run_x = run_x + 1 if xj == last_x else 1
        run_y = run_y + 1 if yj == last_y else 1
        last_x, last_y = xj, yj
        dx = xj - kx
        dy = yj - ky
        ox = old_x[j] - kx
        oy = old_y[j] - ky
        sx += dx - ox
        sy += dy - oy
        sxx += dx * dx - ox * ox
        syy += dy * dy - oy * oy
        sxy += dx * dy - ox * oy
        out[j] = comoment_ratio(sx, sy, sxx, syy, sxy, n, run_x >= n, run_y >= n, what)
    return sx, sy, sxx, syy, sxy, run_x, run_y, last_x, last_y


@njit(cache=True, inline="always", nogil=True, error_model="numpy")
def comoment_ratio(sx, sy, sxx, syy, sxy, n, flat_x, flat_y, what):  # type: ignore[no-untyped-def]
    cov = sxy - sx * sy / n
    var_x = sxx - sx * sx / n
    if flat_x or var_x <= 0.0:
        return _NAN
    if what == BETA:
        return cov / var_x
    var_y = syy - sy * sy / n
    if flat_y or var_y <= 0.0:
        return _NAN
    return cov / math.sqrt(var_x * var_y)
