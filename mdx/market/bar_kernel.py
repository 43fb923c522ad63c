"""The compiled (numba, ``cache=True``) pass behind ``mdx.market.bars.resample_trades``.

A private building block: plain numpy arrays in and out, no validation beyond what the loop needs.
``_valid`` is the batch twin of ``mdx.market.trades.valid_trade`` (the one trade-validity rule); a test
asserts they agree on every edge case.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Status codes of ``resample_kernel``.
OK = 0
UNSORTED = 1


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
