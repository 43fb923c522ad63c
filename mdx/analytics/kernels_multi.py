"""Compiled loops over several inputs: bars (high, low, close, volume, buy/sell volume) and pairs of
series. Same rules as ``mdx.analytics.kernels``: dense input, ``False`` returned at the first non-finite
step (the caller re-runs on the finite rows), and exactly the floating-point operations of the matching
streaming class in ``mdx.analytics.trend``, ``.volume`` or ``.rolling``, in the same order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kernels import window_mean

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


@njit(cache=True, nogil=True, error_model="numpy")
def atr_kernel(high, low, close, n, out):  # type: ignore[no-untyped-def]
    """TA-Lib ATR: the mean of the first ``n`` true ranges (first output at index ``n``), then Wilder's
    ``atr = (atr * (n - 1) + tr) / n``, run as ``atr * ((n - 1) / n) + tr * (1 / n)`` (half the dependency
    chain). Mirrors ``mdx.analytics.trend.ATR``."""
    keep = (n - 1) / n
    inv = 1.0 / n
    prev = _NAN
    total = 0.0
    atr = _NAN
    for i in range(close.size):
        h, lo, c = high[i], low[i], close[i]
        if not (math.isfinite(h) and math.isfinite(lo) and math.isfinite(c)):
            return False
        if i == 0:
            prev = c
            out[0] = _NAN
            continue
        tr = true_range(h, lo, prev)
        prev = c
        if i < n:
            total += tr
            out[i] = _NAN
            continue
        atr = (total + tr) / n if i == n else atr * keep + tr * inv
        out[i] = atr
    return True


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
    Mirrors ``mdx.analytics.trend.Stoch``."""
    size = close.size
    first_k = fastk + slowk - 2
    first = first_k + slowd - 1
    for i in range(size):
        if not (math.isfinite(high[i]) and math.isfinite(low[i]) and math.isfinite(close[i])):
            return False
    fast = np.empty(size)
    slow = np.empty(size)
    for i in range(size):
        if i < fastk - 1:
            fast[i] = _NAN
        else:
            hh = high[i]
            ll = low[i]
            for j in range(i + 1 - fastk, i):
                hh = max(hh, high[j])
                ll = min(ll, low[j])
            diff = hh - ll
            fast[i] = (close[i] - ll) / diff * 100.0 if diff != 0.0 else 0.0
        slow[i] = _tail_mean(fast, i, slowk) if i >= first_k else _NAN
        if i < first:
            k_out[i] = _NAN
            d_out[i] = _NAN
        else:
            k_out[i] = slow[i]
            d_out[i] = _tail_mean(slow, i, slowd)
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def obv_kernel(close, volume, out):  # type: ignore[no-untyped-def]
    """TA-Lib OBV: starts at the first volume, then adds the volume when the close rises, subtracts it
    when it falls. Mirrors ``mdx.analytics.volume.OBV``."""
    obv = 0.0
    prev = _NAN
    for i in range(close.size):
        c, v = close[i], volume[i]
        if not (math.isfinite(c) and math.isfinite(v)):
            return False
        if i == 0:
            obv = v
        else:  # +v, -v or +0 without a branch: a random walk would mispredict half of them
            obv += v * ((c > prev) - (c < prev))
        prev = c
        out[i] = obv
    return True


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
def comoments_kernel(x, y, n, what, out):  # type: ignore[no-untyped-def]
    """Rolling Pearson correlation of ``x`` and ``y`` (``what = CORRELATION``) or the slope of ``y`` on
    ``x``, ``cov(x, y) / var(x)`` (``what = BETA``), over the last ``n`` pairs; NaN when a window is flat.
    Shifted sums as in ``kernels._moments``, re-centred every ``n`` pairs. Mirrors ``rolling._CoMoments``."""
    size = x.size
    kx = x[0] if size else 0.0
    ky = y[0] if size else 0.0
    sx = sy = sxx = syy = sxy = 0.0
    run_x = run_y = 0
    last_x = last_y = _NAN
    left = n
    for i in range(size):
        xi, yi = x[i], y[i]
        if not (math.isfinite(xi) and math.isfinite(yi)):
            return False
        run_x = run_x + 1 if xi == last_x else 1
        run_y = run_y + 1 if yi == last_y else 1
        last_x, last_y = xi, yi
        dx = xi - kx
        dy = yi - ky
        if i >= n:
            ox = x[i - n] - kx
            oy = y[i - n] - ky
            sx += dx - ox
            sy += dy - oy
            sxx += dx * dx - ox * ox
            syy += dy * dy - oy * oy
            sxy += dx * dy - ox * oy
        else:
            sx += dx
            sy += dy
            sxx += dx * dx
            syy += dy * dy
            sxy += dx * dy
        left -= 1
        if left == 0:
            left = n
            kx = window_mean(x, i + 1 - n, n)
            ky = window_mean(y, i + 1 - n, n)
            sx = sy = sxx = syy = sxy = 0.0
            for j in range(i + 1 - n, i + 1):
                dx = x[j] - kx
                dy = y[j] - ky
                sx += dx
                sy += dy
                sxx += dx * dx
                syy += dy * dy
                sxy += dx * dy
        if i < n - 1:
            out[i] = _NAN
            continue
        out[i] = comoment_ratio(sx, sy, sxx, syy, sxy, n, run_x >= n, run_y >= n, what)
    return True


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
