"""The simulator's own L2 book: integer ticks and lots, change tracking, a liquidity model.

Both sides use signed tick keys sorted ascending so that index 0 is the best level on either side:
asks are ``+ticks``, bids ``-ticks``. Amounts are integer lots, so depth consumed by trades is exact.
Each side remembers the last *published* amount of every level it touched, so ``changes()`` returns
exactly the levels whose amount differs from what the last delta said (``0`` = deleted).

The liquidity model (``SimBook.update``), with the symbol's calibrated figures (see ``specs``): the top
of each side sits at the target best bid/ask around the fair mid; levels that the fair price ran
through are removed, the gap it opened behind is filled with new levels at random distances (mean
``level_gap`` ticks), a few levels near the top are resized, and the far end is trimmed or extended
to ``depth`` levels. Level notionals are lognormal (``level_sigma``) around a mean that grows with
the distance from the top (``level_notional``, ``level_growth`` per bps); the best level is the
market makers' queue, much larger (``top_notional``, ``top_sigma``), and when the touch moves the
level left behind becomes an ordinary one (the makers requote). Between updates the simulator
changes the size of the best levels (``touch``), trades consume them (``take``), and after a trade
swept the best level the other side steps up to close the spread (``follow``).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort

import numpy as np

from .specs import SymbolSpec

BLOCK = 4096
# The touch is always a level and the gap behind it is refilled at every update, which makes the book
# ~16% denser near the top than the gap process alone (measured): new gaps are drawn this much wider.
GAP_STRETCH = 1.19


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

    __slots__ = ("_published", "keys", "lots", "touch")

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.lots: dict[int, int] = {}
        self._published: dict[int, int] = {}
        self.touch: int | None = None  # the key of the market makers' level (the best when placed)

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

    def take(self, fills: list[int], max_levels: int) -> list[tuple[int, int]]:
        """A taker order matching maker orders of ``fills`` lots in turn from the best level:
        ``(key, lots)`` per trade, one per maker order (the last order of a level fills what is left
        of it). Stops when it emptied ``max_levels`` levels (the rest of the order is cancelled) and
        never empties the side."""
        trades: list[tuple[int, int]] = []
        keys, book = self.keys, self.lots
        emptied = 0
        for lots in fills:
            if len(keys) < 2:
                break
            key = keys[0]
            available = book[key]
            if lots < available:
                trades.append((key, lots))
                self.set(key, available - lots)
            else:
                trades.append((key, available))
                self.delete_at(0)
                emptied += 1
                if emptied >= max_levels:
                    break
        return trades


class SimBook:
    """Bids and asks of one symbol plus the liquidity model that moves them with the fair price."""

    __slots__ = (
        "_draws",
        "_gap_scale",
        "_growth",
        "_level_lots",
        "_offset_i",
        "_offsets",
        "_rng",
        "_sigma",
        "_size_i",
        "_sizes",
        "_top_lots",
        "_top_sigma",
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
        self._gap_scale = gap_scale(spec.level_gap * GAP_STRETCH)
        self._sigma = spec.level_sigma
        lots = spec.price * spec.lot
        self._level_lots = spec.level_notional / lots * math.exp(-0.5 * spec.level_sigma**2)  # median
        self._growth = spec.level_growth * 1e4 * spec.tick / spec.price  # per tick from the top
        self._top_lots = spec.top_notional / lots
        self._top_sigma = spec.top_sigma
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
        """``count`` lognormal multipliers with median 1 and the levels' sigma."""
        sizes, z = self._sizes, self._size_i
        if len(sizes) - z < count:
            fresh = np.exp(self._sigma * self._rng.standard_normal(BLOCK + count))
            sizes = sizes[z:] + fresh.tolist()
            z = 0
        self._sizes, self._size_i = sizes, z + count
        return sizes[z : z + count]

    def _new_levels(self, start: int, top: int, offsets: list[int]) -> tuple[list[int], list[int]]:
        """Keys ``start + offsets`` and their lots: lognormal around a median that grows with the
        distance from ``top``."""
        keys = [start + offset for offset in offsets]
        growth, median = self._growth, self._level_lots
        sizes = self._take_sizes(len(keys))
        return keys, [
            int(size * median * (1.0 + (key - top) * growth)) + 1
            for key, size in zip(keys, sizes, strict=True)
        ]

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
        new_lots[0] = self._touch_size()
        left = side.touch
        side.insert_front(new_keys, new_lots)
        side.touch = top
        if left is not None and left in side.lots:  # the makers' queue moved to the new touch
            _, (lots,) = self._new_levels(left, top, [0])
            side.set(left, lots)

    def _churn(self, side: SimSide) -> None:
        """Orders joining and leaving levels behind the touch (biased towards the top): a few levels
        get a fresh size for their distance from the top, which keeps the calibrated profile as the
        price moves. Levels come and go only with the price (``_reposition``, ``follow``), trades and
        the far end, so the calibrated spacing holds."""
        draws = self._draws
        keys = side.keys
        reach = len(keys) - 1
        count = int(draws.uniform() * 8.0) if reach else 0
        if count:
            top, growth, median = keys[0], self._growth, self._level_lots
            for size in self._take_sizes(count):
                u = draws.uniform()
                key = keys[1 + int(u * u * reach)]
                side.set(key, int(size * median * (1.0 + (key - top) * growth)) + 1)

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

    def follow(self, swept: SimSide, spread: int) -> None:
        """After a taker order emptied the best level(s) of ``swept``, the other side's makers step up
        to ``spread`` ticks from its new best (within milliseconds on Binance): a new touch level there.
        The levels behind it are left as they are until the next update."""
        if swept is self.asks:
            side, top = self.bids, -(self.asks.keys[0] - spread)
        else:
            side, top = self.asks, -self.bids.keys[0] + spread
        if side.keys[0] > top:
            side.set(top, self._touch_size())
            side.touch = top

    def _touch_size(self) -> int:
        return int(self._top_lots * math.exp(self._top_sigma * self._draws.normal())) + 1

    def touch(self, side: SimSide, lots: int, add: bool) -> bool:
        """A maker order of ``lots`` joins (``add``) or leaves the best level of ``side``; a
        cancellation never empties the level (at most half of it goes). True when the size changed."""
        key = side.keys[0]
        old = side.lots[key]
        new = old + lots if add else old - lots if lots < old else max(1, old // 2)
        if new == old:
            return False
        side.set(key, new)
        return True

    def top(self) -> tuple[int, int, int, int]:
        """``(best bid ticks, lots, best ask ticks, lots)``."""
        bid, ask = self.bids.keys[0], self.asks.keys[0]
        return -bid, self.bids.lots[bid], ask, self.asks.lots[ask]


def gap_scale(mean_gap: float) -> float:
    """The scale ``s`` for which ``1 + floor(exponential(s))`` has mean ``mean_gap`` ticks (>= 1)."""
    if mean_gap <= 1.0 + 1e-6:
        return 1e-9
    return 1.0 / math.log(mean_gap / (mean_gap - 1.0))


__all__ = ["BLOCK", "Draws", "SimBook", "SimSide", "gap_scale"]
