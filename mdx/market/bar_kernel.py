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


# Side codes written by ``utf8_side_codes`` (and by ``mdx.market.bars`` for other string columns).
SELL = 0
BUY = 1
UNKNOWN_SIDE = 2


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _text_code(offsets, data, top, u):  # type: ignore[no-untyped-def]
    """The side code of value ``u`` of an Arrow string array (``data`` non-empty, ``top`` its last index):
    ``BUY`` for exactly "buy", ``SELL`` for exactly "sell", else ``UNKNOWN_SIDE``. Reads up to 4 bytes
    (clamped to ``data``; bytes past the value only matter when the length test already failed)."""
    start = offsets[u]
    length = offsets[u + np.uint64(1)] - start
    p = np.uint64(start)
    b0 = data[min(p, top)]
    b1 = data[min(p + np.uint64(1), top)]
    b2 = data[min(p + np.uint64(2), top)]
    b3 = data[min(p + np.uint64(3), top)]
    buy = (length == 3) & (b0 == 98) & (b1 == 117) & (b2 == 121)  # b"buy"
    sell = (length == 4) & (b0 == 115) & (b1 == 101) & (b2 == 108) & (b3 == 108)  # b"sell"
    return UNKNOWN_SIDE - np.int64(buy) - UNKNOWN_SIDE * np.int64(sell)


@njit(cache=True, nogil=True, error_model="numpy")
def resample_kernel(  # type: ignore[no-untyped-def]
    ts,
    price,
    amount,
    side,
    text_offsets,
    text,
    side_slots,
    buy_slot,
    sell_slot,
    tf,
    origin,
    max_gap,
    capacity,
):
    """One pass over trades sorted by ``ts`` -> OHLCV bars of length ``tf`` aligned on ``origin``.

    ``ts``, ``tf`` and ``origin`` share one integer unit (ms for ccxt data). ``side`` holds integer
    codes >= -1 (or is empty: no codes); the amount of trade ``i`` is added to slot ``side[i] + 1`` of
    ``side_slots`` accumulators, and slots ``buy_slot`` / ``sell_slot`` are the bar's buy / sell volume
    (a slot that no code reaches stays 0). Without codes, sides may come as the value offsets and UTF-8
    bytes of an Arrow string array without nulls (``text_offsets``, ``text``; both empty: no sides),
    read in the same pass as the codes of ``utf8_side_codes``. Rows with an invalid price or amount (see
    ``_valid``) are skipped and counted.

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
    has_text = text_offsets.size > 0 and text.size > 0
    top = np.uint64(max(text.size - 1, 0))
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
        elif has_text:
            acc[_text_code(text_offsets, text, top, np.uint64(i)) + 1] = a
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
            elif has_text:
                acc[np.uint64(_text_code(text_offsets, text, top, u) + 1)] += a
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
def utf8_side_codes(offsets, data, validity, bit_offset, codes):  # type: ignore[no-untyped-def]
    """Side codes of an Arrow string array read from its buffers (see ``_text_code``); nulls are
    ``UNKNOWN_SIDE``. pandas equivalent: ``np.select([s.eq("buy"), s.eq("sell")], [1, 0], 2)``.

    ``offsets`` are the ``len(codes) + 1`` value offsets of the (possibly sliced) array into ``data``
    (its UTF-8 bytes); ``validity`` is its null bitmap (empty: no nulls), whose bit ``bit_offset + i``
    belongs to value ``i``. ``resample_kernel`` reads the same codes itself when nothing reorders or
    filters the rows first; this pass serves the other cases.
    """
    n = codes.size
    if data.size == 0:  # no bytes: every value is empty (or null)
        codes[:] = UNKNOWN_SIDE
        return
    top = np.uint64(data.size - 1)
    for i in range(n):
        codes[i] = _text_code(offsets, data, top, np.uint64(i))
    if validity.size > 0:
        for i in range(n):
            bit = bit_offset + i
            if not (validity[bit >> 3] >> (bit & 7)) & 1:
                codes[i] = UNKNOWN_SIDE


@njit(cache=True, nogil=True, error_model="numpy")
def identity_slots(refs, limit, slots):  # type: ignore[no-untyped-def]
    """Group equal machine words (the object pointers of a numpy object array): ``slots[i]`` is the
    number of the distinct value ``refs[i]`` in first-seen order. Returns the row of each distinct
    value's first occurrence, or ``None`` (``slots`` half written) as soon as more than ``limit``
    distinct values show up. pandas equivalent: ``pd.factorize(refs)`` for inputs with few uniques.
    """
    seen = np.zeros(limit, np.uint64)
    first = np.empty(limit, np.int64)
    m = 0
    for i in range(refs.size):
        r = refs[i]
        slot = -1
        for j in range(m):  # no early exit: a conditional move instead of a mispredicted branch
            if seen[j] == r:
                slot = j
        if slot < 0:
            if m == limit:
                return first[:0].copy()
            seen[m] = r
            first[m] = i
            slot = m
            m += 1
        slots[i] = slot
    return first[:m].copy()


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
