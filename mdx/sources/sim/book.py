"""The simulator's own L2 book: integer ticks and lots, change tracking, a liquidity model.

Both sides use signed tick keys sorted ascending so that index 0 is the best level on either side:
asks are ``+ticks``, bids ``-ticks``. Amounts are integer lots, so depth consumed by trades is exact.
Each side remembers the last *published* amount of every level it touched, so ``changes()`` returns
exactly the levels whose amount differs from what the last delta said (``0`` = deleted).

The liquidity model (``SimBook.update``): the top of each side sits at the target best bid/ask around
the fair mid; levels that the fair price ran through are removed, the gap it opened behind is filled
with new levels at random distances (mean ``gap`` ticks, ~a tenth of a 100 ms move), a few levels
near the top are resized, cancelled or added, and the far end is trimmed or extended to ``depth``.
Level amounts are lognormal around a median that grows with distance from the top.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort

import numpy as np

from .specs import SECONDS_PER_YEAR, SymbolSpec

BLOCK = 4096


class Draws:
    """Random numbers drawn from a numpy generator in blocks and handed out one by one as floats."""

    __slots__ = ("_block", "_n", "_normal", "_rng", "_u", "_uniform")

    def __init__(self, rng: np.random.Generator, block: int = BLOCK) -> None:
        self._rng = rng
        self._block = block
        self._uniform: list[float] = []
        self._u = 0
        self._normal: list[float] = []
        self._n = 0

    def uniform(self) -> float:
        if self._u >= len(self._uniform):
            self._uniform = self._rng.random(self._block).tolist()
            self._u = 0
        self._u += 1
        return self._uniform[self._u - 1]

    def normal(self) -> float:
        if self._n >= len(self._normal):
            self._normal = self._rng.standard_normal(self._block).tolist()
            self._n = 0
        self._n += 1
        return self._normal[self._n - 1]

    def exponential(self) -> float:
        return -math.log(1.0 - self.uniform())


class SimSide:
    """One side of the book: ``keys`` (signed ticks, best first) and ``lots`` by key."""

    __slots__ = ("_published", "keys", "lots")

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.lots: dict[int, int] = {}
        self._published: dict[int, int] = {}

    def set(self, key: int, lots: int) -> None:
        old = self.lots.get(key)
        if old is None:
            insort(self.keys, key)
            old = 0
        self._published.setdefault(key, old)
        self.lots[key] = lots

    def delete_at(self, index: int) -> None:
        key = self.keys.pop(index)
        self._published.setdefault(key, self.lots.pop(key))

    def drop_inside(self, limit: int) -> None:
        """Remove every level better than ``limit`` (key < limit)."""
        end = bisect_left(self.keys, limit)
        if end:
            self._drop(self.keys[:end])
            del self.keys[:end]

    def drop_beyond(self, depth: int) -> None:
        """Keep the best ``depth`` levels."""
        if len(self.keys) > depth:
            self._drop(self.keys[depth:])
            del self.keys[depth:]

    def _drop(self, keys: list[int]) -> None:
        published, lots = self._published, self.lots
        for key in keys:
            published.setdefault(key, lots.pop(key))

    def insert_front(self, keys: list[int], lots: list[int]) -> None:
        """Add new levels that are all better than the current best, ``keys`` ascending."""
        self._add(keys, lots)
        self.keys[:0] = keys

    def append_back(self, keys: list[int], lots: list[int]) -> None:
        """Add new levels that are all worse than the current worst, ``keys`` ascending."""
        self._add(keys, lots)
        self.keys.extend(keys)

    def _add(self, keys: list[int], lots: list[int]) -> None:
        published, book = self._published, self.lots
        for key, amount in zip(keys, lots, strict=True):
            published.setdefault(key, 0)
            book[key] = amount

    def mark_published(self, key: int, lots: int) -> None:
        """Record that a level was published with ``lots`` outside the model (fault injection), so the
        next ``changes()`` corrects it."""
        self._published[key] = lots

    def changes(self) -> list[tuple[int, int]]:
        """Levels whose amount differs from the last published one, best first; resets tracking."""
        published, lots = self._published, self.lots
        self._published = {}
        out = [(key, now) for key, old in published.items() if (now := lots.get(key, 0)) != old]
        out.sort()
        return out

    def take(self, lots: int, max_levels: int) -> list[tuple[int, int]]:
        """A taker order of ``lots`` walking from the best level: ``(key, filled lots)`` per level.
        Stops after ``max_levels`` levels (the rest is cancelled) and never empties the side."""
        fills: list[tuple[int, int]] = []
        keys, book = self.keys, self.lots
        while lots > 0 and len(fills) < max_levels and len(keys) > 1:
            key = keys[0]
            available = book[key]
            if lots >= available:
                fills.append((key, available))
                self.delete_at(0)
                lots -= available
            else:
                fills.append((key, lots))
                self.set(key, available - lots)
                lots = 0
        return fills


class SimBook:
    """Bids and asks of one symbol plus the liquidity model that moves them with the fair price."""

    __slots__ = (
        "_draws",
        "_gap_scale",
        "_growth",
        "_offset_i",
        "_offsets",
        "_rng",
        "_size_i",
        "_sizes",
        "_top_lots",
        "asks",
        "bids",
        "depth",
    )

    def __init__(self, spec: SymbolSpec, rng: np.random.Generator, draws: Draws, depth: int) -> None:
        self.bids = SimSide()
        self.asks = SimSide()
        self.depth = depth
        self._rng = rng
        self._draws = draws
        move_ticks = spec.price * spec.vol / math.sqrt(SECONDS_PER_YEAR * 10.0) / spec.tick  # 1-sigma, 100 ms
        gap = max(1.0, move_ticks / 10.0)
        self._gap_scale = max(gap - 0.5, 0.25)
        self._growth = 2.0 / (depth * gap)  # level size x3 at the far end of the book
        self._top_lots = spec.level_notional / spec.price / spec.lot
        # running sums of random gaps (a block at a time): level positions relative to any start
        self._offsets: list[int] = [0]
        self._offset_i = 0
        self._sizes: list[float] = []
        self._size_i = 0

    def _take_offsets(self, *, span: int = 0, count: int = 0) -> list[int]:
        """Offsets (the first is 0) of the next new levels: all those below ``span``, or ``count`` of them."""
        while (
            self._offsets[-1] - self._offsets[self._offset_i] < span
            or len(self._offsets) - self._offset_i <= count
        ):
            rest = self._offsets[self._offset_i :]
            gaps = 1 + self._rng.exponential(self._gap_scale, BLOCK).astype(np.int64)
            self._offsets = rest + (rest[-1] + np.cumsum(gaps)).tolist()
            self._offset_i = 0
        offsets, i = self._offsets, self._offset_i
        base = offsets[i]
        end = bisect_left(offsets, base + span, i) if span else i + count
        self._offset_i = end
        return [offset - base for offset in offsets[i:end]]

    def _take_sizes(self, count: int) -> list[float]:
        sizes, z = self._sizes, self._size_i
        if len(sizes) - z < count:
            sizes = sizes[z:] + (self._top_lots * np.exp(self._rng.standard_normal(BLOCK + count))).tolist()
            z = 0
        self._sizes, self._size_i = sizes, z + count
        return sizes[z : z + count]

    def _new_levels(self, start: int, top: int, offsets: list[int]) -> tuple[list[int], list[int]]:
        """Keys ``start + offsets`` and their lots: lognormal around a median that grows with the
        distance from ``top``."""
        keys = [start + offset for offset in offsets]
        growth = self._growth
        base = 1.0 - top * growth
        sizes = self._take_sizes(len(keys))
        return keys, [int(size * (base + key * growth)) + 1 for key, size in zip(keys, sizes, strict=True)]

    def update(self, fair_ticks: float, spread: int) -> None:
        """Move the book to a fair mid of ``fair_ticks`` with a top-of-book spread of ``spread`` ticks."""
        best_bid = math.floor(fair_ticks - spread / 2.0 + 0.5)  # nearest: the fair mid sits inside the spread
        for side, top in ((self.asks, best_bid + spread), (self.bids, -best_bid)):
            self._reposition(side, top)
            self._churn(side)
            self._keep_depth(side)

    def _reposition(self, side: SimSide, top: int) -> None:
        side.drop_inside(top)
        keys = side.keys
        if keys and keys[0] == top:
            return
        span = keys[0] - top if keys else 1
        new_keys, new_lots = self._new_levels(top, top, self._take_offsets(span=span))
        side.insert_front(new_keys, new_lots)

    def _churn(self, side: SimSide) -> None:
        """A few order arrivals and cancellations near the top (biased towards the best levels)."""
        draws = self._draws
        for _ in range(int(draws.uniform() * 4.0)):
            keys = side.keys
            u = draws.uniform()
            index = int(u * u * min(len(keys), 50))
            key = keys[index]
            action = draws.uniform()
            if action < 0.5:
                side.set(key, max(1, int(side.lots[key] * math.exp(0.6 * draws.normal()))))
            elif action < 0.75 and index > 0:
                side.delete_at(index)
            else:
                new_key = key + 1 + int(draws.uniform() * 2.0 * self._gap_scale)
                if new_key not in side.lots:
                    _, (lots,) = self._new_levels(new_key, keys[0], [0])
                    side.set(new_key, lots)

    def _keep_depth(self, side: SimSide) -> None:
        depth = self.depth
        keys = side.keys
        if len(keys) > depth + depth // 8:
            side.drop_beyond(depth)
        elif len(keys) < depth:
            start = keys[-1] + 1 + int(self._draws.exponential() * self._gap_scale)
            offsets = self._take_offsets(count=depth - len(keys))
            new_keys, new_lots = self._new_levels(start, keys[0], offsets)
            side.append_back(new_keys, new_lots)

    def top(self) -> tuple[int, int, int, int]:
        """``(best bid ticks, lots, best ask ticks, lots)``."""
        bid, ask = self.bids.keys[0], self.asks.keys[0]
        return -bid, self.bids.lots[bid], ask, self.asks.lots[ask]


__all__ = ["BLOCK", "Draws", "SimBook", "SimSide"]
