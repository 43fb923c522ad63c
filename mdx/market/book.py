"""L2 order book: a snapshot plus sequenced deltas, with Binance's sync rules, and book metrics.

Sync (``apply``), where L is the snapshot's ``seq`` (``lastUpdateId``):

- spot (``prev_seq < 0``): deltas with ``u <= L`` are stale (dropped); the first applied delta needs
  ``U <= L + 1 <= u``; then every delta needs ``U == previous u + 1``.
- futures (``prev_seq >= 0``): deltas with ``u < L`` are stale; the first applied delta needs
  ``U <= L <= u``; then every delta needs ``pu == previous u``.

A delta before any snapshot, or a gap, raises ``BookOutOfSync``; a crossed book after an update
raises ``CrossedBook``. Either marks the book out of sync: later deltas are dropped (counted in
``dropped``, no raise) until the next snapshot resyncs it. Duplicates (``u <=`` current seq) are
dropped and counted in ``stale``.

Each side is a dict price → amount plus a sorted key list (``bisect``) with the best price last:
bids keyed by price, asks by ``-price``, so the busy top of book sits at the cheap end of the list.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass

import numpy as np

from ..errors import BookError, BookOutOfSync, CrossedBook
from ..events import BookDelta, BookSnapshot, Levels, register_event

NAN = float("nan")
_NEW, _SNAPSHOT, _LIVE, _OUT = 0, 1, 2, 3  # no snapshot yet; snapshot, no delta yet; chained; out of sync


@dataclass(frozen=True, slots=True)
class BookView:
    """An immutable copy of the top of a book for readers on other threads; NaN where a side is empty.
    ``bids`` / ``asks`` are read-only ``(n, 2)`` float64 arrays of (price, amount), best first."""

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    seq: int
    in_sync: bool
    bids: np.ndarray
    asks: np.ndarray
    mid: float
    microprice: float
    spread: float
    spread_bps: float
    imbalance: float


def _side_array(levels: list[tuple[float, float]]) -> np.ndarray:
    arr = np.array(levels, dtype=np.float64).reshape(-1, 2)
    arr.flags.writeable = False
    return arr


class OrderBook:
    """One instrument's L2 book. ``apply`` returns True when the book changed."""

    def __init__(self, exchange: str = "", symbol: str = "") -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.ts_event = 0
        self.ts_recv = 0
        self.dropped = 0  # deltas dropped while out of sync
        self.stale = 0  # deltas older than the book (before the first applied delta, or duplicates)
        self._seq = -1
        self._state = _NEW
        self._bids: dict[float, float] = {}
        self._bid_keys: list[float] = []  # prices ascending: best bid last
        self._asks: dict[float, float] = {}
        self._ask_keys: list[float] = []  # -price ascending: best ask last

    # -- updates ------------------------------------------------------------------------------------

    @property
    def in_sync(self) -> bool:
        return self._state == _SNAPSHOT or self._state == _LIVE

    @property
    def seq(self) -> int:
        """The last update id the book includes (-1 before any snapshot)."""
        return self._seq

    def apply(self, event: BookSnapshot | BookDelta) -> bool:
        """Apply a snapshot or delta (see the module docstring for the rules and errors)."""
        if type(event) is BookDelta:
            return self._delta(event)
        if type(event) is BookSnapshot:
            self._snapshot(event)
            return True
        raise BookError(f"{self.symbol}: cannot apply a {type(event).__name__} to a book")

    def _snapshot(self, snap: BookSnapshot) -> None:
        self._bids = {p: q for p, q in snap.bids if q > 0.0}
        self._bid_keys = sorted(self._bids)
        self._asks = {p: q for p, q in snap.asks if q > 0.0}
        self._ask_keys = sorted([-p for p in self._asks])
        self._seq = snap.seq
        self.ts_event = snap.ts_event
        self.ts_recv = snap.ts_recv
        self._state = _SNAPSHOT
        self._check_crossed()

    def _delta(self, delta: BookDelta) -> bool:
        state = self._state
        u = delta.seq
        if state == _LIVE:
            if u <= self._seq:
                self.stale += 1
                return False
            futures = delta.prev_seq >= 0
            if delta.prev_seq != self._seq if futures else delta.first_seq != self._seq + 1:
                self._state = _OUT
                rule = f"pu={delta.prev_seq}" if futures else f"U={delta.first_seq}"
                raise BookOutOfSync(
                    f"{self.symbol}: gap after update {self._seq}: next delta has {rule} (u={u})"
                )
        elif state == _SNAPSHOT:
            last = self._seq
            futures = delta.prev_seq >= 0
            if u < last or (u == last and not futures):
                self.stale += 1
                return False
            target = last if futures else last + 1
            if not delta.first_seq <= target <= u:
                self._state = _OUT
                raise BookOutOfSync(
                    f"{self.symbol}: first delta after snapshot {last} has U={delta.first_seq} u={u}; "
                    f"needs U <= {target} <= u"
                )
        elif state == _NEW:
            self._state = _OUT
            raise BookOutOfSync(f"{self.symbol}: delta U={delta.first_seq} u={u} before any snapshot")
        else:
            self.dropped += 1
            return False
        self._update(self._bids, self._bid_keys, delta.bids, 1.0)
        self._update(self._asks, self._ask_keys, delta.asks, -1.0)
        self._seq = u
        self.ts_event = delta.ts_event
        self.ts_recv = delta.ts_recv
        self._state = _LIVE
        self._check_crossed()
        return True

    @staticmethod
    def _update(amounts: dict[float, float], keys: list[float], levels: Levels, sign: float) -> None:
        for price, amount in levels:
            if amount == 0.0:
                if amounts.pop(price, None) is not None:
                    del keys[bisect_left(keys, price * sign)]
            else:
                if price not in amounts:
                    insort(keys, price * sign)
                amounts[price] = amount

    def _check_crossed(self) -> None:
        if self._bid_keys and self._ask_keys and self._bid_keys[-1] >= -self._ask_keys[-1]:
            self._state = _OUT
            raise CrossedBook(
                f"{self.symbol}: crossed book at update {self._seq}: "
                f"best bid {self._bid_keys[-1]!r} >= best ask {-self._ask_keys[-1]!r}"
            )

    # -- reading ------------------------------------------------------------------------------------

    @property
    def best_bid(self) -> tuple[float, float] | None:
        if not self._bid_keys:
            return None
        price = self._bid_keys[-1]
        return price, self._bids[price]

    @property
    def best_ask(self) -> tuple[float, float] | None:
        if not self._ask_keys:
            return None
        price = -self._ask_keys[-1]
        return price, self._asks[price]

    def bids(self, n: int | None = None) -> list[tuple[float, float]]:
        """Up to ``n`` bid levels (all when None), best first."""
        keys = self._bid_keys if n is None else self._bid_keys[-n:] if n > 0 else []
        amounts = self._bids
        return [(p, amounts[p]) for p in reversed(keys)]

    def asks(self, n: int | None = None) -> list[tuple[float, float]]:
        """Up to ``n`` ask levels (all when None), best first."""
        keys = self._ask_keys if n is None else self._ask_keys[-n:] if n > 0 else []
        amounts = self._asks
        return [(-k, amounts[-k]) for k in reversed(keys)]

    def __len__(self) -> int:
        """Number of price levels on both sides."""
        return len(self._bids) + len(self._asks)

    @property
    def mid(self) -> float:
        if not (self._bid_keys and self._ask_keys):
            return NAN
        return (self._bid_keys[-1] - self._ask_keys[-1]) / 2.0

    @property
    def spread(self) -> float:
        if not (self._bid_keys and self._ask_keys):
            return NAN
        return -self._ask_keys[-1] - self._bid_keys[-1]

    @property
    def spread_bps(self) -> float:
        return self.spread / self.mid * 1e4

    @property
    def microprice(self) -> float:
        """Size-weighted mid: ``(bid * ask_size + ask * bid_size) / (bid_size + ask_size)``."""
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return NAN
        return (bid[0] * ask[1] + ask[0] * bid[1]) / (bid[1] + ask[1])

    def imbalance(self, levels: int = 5) -> float:
        """``(bid_volume - ask_volume) / (bid_volume + ask_volume)`` over the top ``levels``; in [-1, 1]."""
        bid_volume = sum(q for _, q in self.bids(levels))
        ask_volume = sum(q for _, q in self.asks(levels))
        total = bid_volume + ask_volume
        return (bid_volume - ask_volume) / total if total > 0 else NAN

    def depth(self, bps: float) -> tuple[float, float]:
        """(bid amount, ask amount) priced within ``bps`` basis points of mid; NaN without a mid."""
        mid = self.mid
        if mid != mid:
            return NAN, NAN
        band = mid * bps / 1e4
        lo = bisect_left(self._bid_keys, mid - band)
        hi = bisect_left(self._ask_keys, -(mid + band))  # keys >= -(mid + band): prices <= mid + band
        bid_amount = sum(self._bids[p] for p in self._bid_keys[lo:])
        ask_amount = sum(self._asks[-k] for k in self._ask_keys[hi:])
        return bid_amount, ask_amount

    def view(self, depth: int = 50) -> BookView:
        """An immutable snapshot of the top ``depth`` levels and the metrics."""
        return BookView(
            self.exchange, self.symbol, self.ts_event, self.ts_recv, self._seq, self.in_sync,
            _side_array(self.bids(depth)), _side_array(self.asks(depth)),
            self.mid, self.microprice, self.spread, self.spread_bps, self.imbalance(),
        )  # fmt: skip

    def __repr__(self) -> str:
        state = "in sync" if self.in_sync else "out of sync"
        top = f"bid={self.best_bid} ask={self.best_ask}"
        return f"OrderBook({self.exchange} {self.symbol} seq={self._seq} {state} {top})"


register_event(BookView, "book_view", "book_views", recorded=False)

__all__ = ["BookView", "OrderBook"]
