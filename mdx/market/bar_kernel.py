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
JUMP = 2  # a pause longer than ``max_gap`` empty bars (dense mode): the caller vets the rows first
# Dense mode checks for jumps before allocating once the span exceeds the trades by this many bars.
SPAN_SLACK = 1 << 20


@njit(cache=True, nogil=True, error_model="numpy")
def _valid(p: float, a: float) -> bool:
    """Price and amount > 0 and their product finite: rejects NaN, infinities, zeros and negatives.
    (Written with ``&`` and one product: LLVM turns ``p < inf`` tests into slow bit fiddling.)"""
    return (p > 0.0) & (a > 0.0) & (p * a < math.inf)


@njit(cache=True, nogil=True, error_model="numpy")
def resample_kernel(ts, price, amount, side, side_slots, buy_slot, sell_slot, tf, origin, max_gap, capacity):  # type: ignore[no-untyped-def]
    """One pass over trades sorted by ``ts`` -> OHLCV bars of length ``tf`` aligned on ``origin``.

    ``ts``, ``tf`` and ``origin`` share one integer unit (ms for ccxt data). ``side`` holds integer
    codes >= -1 (or is empty: no sides); the amount of trade ``i`` is added to slot ``side[i] + 1`` of
    ``side_slots`` accumulators, and slots ``buy_slot`` / ``sell_slot`` are the bar's buy / sell volume
    (a slot that no code reaches stays 0). Rows with an invalid price or amount (see ``_valid``) are
    skipped and counted.

    Pauses of up to ``max_gap`` empty bars are filled with flat empty bars. ``capacity == 0`` (dense
    mode, unvetted rows): a longer pause returns ``JUMP``, and so does, before anything is allocated, a
    span of more than ``SPAN_SLACK`` bars beyond the number of rows that holds such a pause. ``capacity >
    0`` (rows vetted by ``segments_kernel``): a longer pause is a hole (the next bar opens at its trade)
    and ``capacity`` is the number of bars to allocate.

    Returns ``(status, rejected, starts, fields, count)``: bar open times, a ``(9, bars)`` float array
    holding open, high, low, close, volume, quote volume, vwap, buy volume, sell volume, and the trade
    counts. ``status`` ``UNSORTED`` (as soon as a timestamp goes backwards) or ``JUMP`` come with empty
    arrays.
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
    none = np.empty(0, np.int64)
    nothing = np.empty((9, 0))
    if first > last:  # no valid trade
        return OK, rejected, none, nothing, none
    if nb == 0:
        return UNSORTED, 0, none, nothing, none
    if capacity > 0:
        nb = capacity
    elif nb - 1 > max_gap and nb > n + SPAN_SLACK:  # mostly empty bars: vet the pauses first
        return JUMP, 0, none, nothing, none
    starts = np.empty(nb, np.int64)
    fields = np.empty((9, nb))
    count = np.empty(nb, np.int64)
    opn, high, low, close, vol, quote, vwap, buy, sell = fields
    has_side = side.size > 0
    acc = np.zeros(side_slots)

    kb = -1  # bar number (since t0) of the last bar written
    w = 0  # where the next bar is written
    c = 0.0
    i = first
    prev_t = ts[first]
    while i <= last:
        # trade i is valid and not earlier than the one before: it opens bar k
        t = ts[i]
        if t > t_last:  # later than the last trade: unsorted (and the arrays would overflow)
            return UNSORTED, 0, none, nothing, none
        k = (t - t0) // tf
        gap = k - kb - 1
        if gap > max_gap and kb >= 0:
            if capacity == 0:
                return JUMP, 0, none, nothing, none
        else:
            for j in range(gap):  # empty bars since the previous one: flat at its close
                starts[w] = t0 + (kb + 1 + j) * tf
                opn[w] = high[w] = low[w] = close[w] = vwap[w] = c
                vol[w] = quote[w] = buy[w] = sell[w] = 0.0
                count[w] = 0
                w += 1
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
                return UNSORTED, 0, none, nothing, none
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
        starts[w] = end - tf
        opn[w] = o
        high[w] = h
        low[w] = lo
        close[w] = c
        vol[w] = v
        quote[w] = qv
        vwap[w] = qv / v
        buy[w] = acc[buy_slot]
        sell[w] = acc[sell_slot]
        count[w] = cnt
        w += 1
        kb = k
        while i <= last:  # skip rejected rows up to the next valid trade
            t = ts[i]
            if t < prev_t:
                return UNSORTED, 0, none, nothing, none
            prev_t = t
            if _valid(price[i], amount[i]):
                break
            rejected += 1
            i += 1
    return OK, rejected, starts[:w], fields[:, :w], count[:w]


@njit(cache=True, nogil=True, error_model="numpy")
def segments_kernel(ts, price, amount, tf, origin, max_gap):  # type: ignore[no-untyped-def]
    """Split trades sorted by ``ts`` into segments: runs of valid trades (see ``_valid``) in which no
    pause between consecutive trades' bars holds more than ``max_gap`` empty bars.

    Returns ``(sorted, first_row, valid, first_bar, last_bar)``, one entry per segment: the row where
    it starts (segment ``s`` covers rows ``first_row[s]`` up to the next segment's first row; invalid
    rows before the first valid one belong to segment 0), its number of valid trades, and the bar
    numbers (since ``origin``) of its first and last trade. ``sorted`` is False (and the arrays empty)
    as soon as a timestamp goes backwards.
    """
    n = ts.size
    first_row = np.empty(n, np.int64)  # at most one segment per row; only the first ones are touched
    valid = np.empty(n, np.int64)
    first_bar = np.empty(n, np.int64)
    last_bar = np.empty(n, np.int64)
    s = -1
    k = 0
    end = 0
    prev = 0
    for i in range(n):
        t = ts[i]
        if t < prev and i > 0:
            none = np.zeros(0, np.int64)
            return False, none, none, none, none
        prev = t
        if not _valid(price[i], amount[i]):
            continue
        if s < 0 or t >= end:  # a new bar: the only place where a pause can end
            last_k = k
            k = (t - origin) // tf
            end = origin + (k + 1) * tf
            if s < 0 or k - last_k - 1 > max_gap:
                s += 1
                first_row[s] = i if s > 0 else 0
                valid[s] = 0
                first_bar[s] = k
            last_bar[s] = k
        valid[s] += 1
    m = s + 1
    return True, first_row[:m].copy(), valid[:m].copy(), first_bar[:m].copy(), last_bar[:m].copy()


# -- indicators ---------------------------------------------------------------------------------------
