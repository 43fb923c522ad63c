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

A book never claims to be in sync while it is not following the stream, and takes nothing it could not
use (the guard is where data enters, ``apply``; readers and sources already check, this covers events
built by hand or by a buggy source):

- update ids (``seq``, ``first_seq``) must be integers >= 0 and ``prev_seq`` an integer >= -1 (not a bool,
  a float, a string or None): otherwise ``apply`` raises ``MalformedFrame``;
- each side must be a tuple or list of ``(price, amount)`` pairs (``MalformedFrame`` otherwise), each price
  and amount a real number (``float`` or ``int``, not a bool) with a finite price > 0 and a finite amount
  >= 0 (``InvalidValue`` otherwise);
- such a bad event changes no level: a bad delta also marks the book out of sync (its update is lost, so
  the book no longer matches the venue) unless it is dropped anyway (out of sync, stale), a bad
  snapshot is ignored;
- a snapshot older than an in-sync book (``seq`` below the book's) is ignored, counted in ``stale``, and
  raises ``StaleSnapshot``: the book keeps its newer state;
- ``MAX_STALE_RUN`` stale events in a row (a venue whose update ids restarted, a feed replaying old
  updates) mark the book out of sync (``BookOutOfSync``), so the next snapshot resyncs it;
- ``check_lag``: a book that stays behind the venue's own quotes (``Quote.seq``) for too long is
  missing its depth stream and is marked out of sync.

Each side is a dict price → amount plus a sorted key list (``bisect``) with the best price last:
bids keyed by price, asks by ``-price``, so the busy top of book sits at the cheap end of the list.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field
from itertools import chain
from operator import neg

import numpy as np

from ..errors import (
    BookError,
    BookOutOfSync,
    CrossedBook,
    DataError,
    InvalidValue,
    MalformedFrame,
    StaleSnapshot,
)
from ..events import BookDelta, BookSnapshot, CheckedLevels, Levels, fast_constructor, register_event

NAN = float("nan")
INF = float("inf")
MAX_STALE_RUN = 100  # stale deltas (while chained) or snapshots in a row that mean the stream moved on
_NEW, _SNAPSHOT, _LIVE, _OUT = 0, 1, 2, 3  # no snapshot yet; snapshot, no delta yet; chained; out of sync


@dataclass(frozen=True, slots=True)
class BookView:
    """An immutable copy of the top of a book for readers on other threads; NaN where a side is empty.
    ``bid_levels`` / ``ask_levels`` are tuples of (price, amount), best first; ``bids`` / ``asks`` the same
    as read-only ``(n, 2)`` float64 arrays, made on first read (a session makes a view per book update and
    most are never drawn)."""

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    seq: int
    in_sync: bool
    bid_levels: Levels
    ask_levels: Levels
    mid: float
    microprice: float
    spread: float
    spread_bps: float
    imbalance: float
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def bids(self) -> np.ndarray:
        return self._array("bids", self.bid_levels)

    @property
    def asks(self) -> np.ndarray:
        return self._array("asks", self.ask_levels)

    def _array(self, name: str, levels: Levels) -> np.ndarray:
        arr = self._arrays.get(name)
        if arr is None:  # two threads may both make it: the same values, either is kept
            arr = np.fromiter(chain.from_iterable(levels), np.float64, 2 * len(levels)).reshape(-1, 2)
            arr.flags.writeable = False
            self._arrays[name] = arr
        return arr


def _side_levels(keys: list[float], amounts: dict[float, float], n: int, sign: float) -> Levels:
    """The top ``n`` levels of a side, best first. ``keys`` are the side's sorted keys (best last),
    ``price * sign``."""
    top = keys[-n:] if n > 0 else []
    top.reverse()
    prices = top if sign > 0 else list(map(neg, top))
    return tuple(zip(prices, map(amounts.__getitem__, prices), strict=True))


def _valid_level(price: object, amount: object) -> bool:
    """A level of real numbers (``float`` or ``int`` but not ``bool``; numpy floats are floats) that fit
    in a float, with ``0 < price < inf`` and ``0 <= amount < inf``."""
    for x in (price, amount):
        if not isinstance(x, int | float) or isinstance(x, bool):
            return False
    try:
        p, q = float(price), float(amount)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond the float range
        return False
    return 0.0 < p < INF and 0.0 <= q < INF


class OrderBook:
    """One instrument's L2 book. ``apply`` returns True when the book changed."""

    def __init__(self, exchange: str = "", symbol: str = "") -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.ts_event = 0
        self.ts_recv = 0
        self.dropped = 0  # deltas dropped while out of sync
        self.stale = 0  # deltas or snapshots older than the book (before the first delta, duplicates)
        self._seq = -1
        self._state = _NEW
        self._stale_run = 0  # stale events since the last applied one
        self._lag_seq = -1  # a quote's update id the book has not reached yet (see check_lag)
        self._lag_since = 0
        self.lag_check_due = 0  # receive time before which check_lag need not run again
        self._bids: dict[float, float] = {}
        self._bid_keys: list[float] = []  # prices ascending: best bid last
        self._asks: dict[float, float] = {}
        self._shared: tuple[Levels, Levels] | None = None  # the checked snapshot the book is, while it is
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

    def _stale(self, run_text: str) -> None:
        """Count an update older than the book; ``MAX_STALE_RUN`` of them in a row mean the venue's update
        ids restarted, so the book stops claiming to be in sync (``BookOutOfSync``)."""
        self.stale += 1
        self._stale_run = run = self._stale_run + 1
        if run >= MAX_STALE_RUN:
            self._state = _OUT
            raise BookOutOfSync(
                f"{self.symbol}: {run} {run_text}: the venue's update ids restarted? "
                "out of sync until the next snapshot"
            )

    def _snapshot(self, snap: BookSnapshot) -> None:
        if type(snap.seq) is not int or snap.seq < 0:
            raise MalformedFrame(
                f"{self.symbol}: snapshot with update id {snap.seq!r}: update ids are integers >= 0; ignored"
            )
        if snap.seq < self._seq and self._state in (_SNAPSHOT, _LIVE):
            self._stale(f"stale updates in a row (snapshot {snap.seq} < book {self._seq})")
            raise StaleSnapshot(
                f"{self.symbol}: snapshot at update {snap.seq} is older than the book "
                f"(update {self._seq}): ignored"
            )
        bids, asks = snap.bids, snap.asks
        if type(bids) is CheckedLevels and type(asks) is CheckedLevels:  # checked by the source, none zero
            self._bids, self._asks = dict(bids), dict(asks)
            self._shared = (bids, asks)  # in order: views share them until a delta changes the book
        else:
            self._check_levels(snap, "snapshot")
            self._bids = {p: q for p, q in bids if q > 0.0}
            self._asks = {p: q for p, q in asks if q > 0.0}
            self._shared = None
        self._stale_run = 0
        self._bid_keys = sorted(self._bids)
        self._ask_keys = sorted(map(neg, self._asks))
        self._seq = snap.seq
        self.ts_event = snap.ts_event
        self.ts_recv = snap.ts_recv
        self._state = _SNAPSHOT
        self._check_crossed()

    def _delta(self, delta: BookDelta) -> bool:
        state = self._state
        u = delta.seq
        if type(u) is not int or type(delta.first_seq) is not int or type(delta.prev_seq) is not int:
            self._bad_ids(delta)
        if u < 0 or delta.first_seq < 0 or delta.prev_seq < -1:
            self._bad_ids(delta)
        if state == _LIVE:
            if u <= self._seq:
                self._stale(f"deltas in a row older than the book (u={u} <= {self._seq})")
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
        self._check_levels(delta, "delta")
        self._stale_run = 0
        self._shared = None
        self._update(self._bids, self._bid_keys, delta.bids, 1.0)
        self._update(self._asks, self._ask_keys, delta.asks, -1.0)
        self._seq = u
        self.ts_event = delta.ts_event
        self.ts_recv = delta.ts_recv
        self._state = _LIVE
        self._check_crossed()
        return True

    def _bad_ids(self, delta: BookDelta) -> None:
        """Raise ``MalformedFrame`` for a delta whose update ids are not integers in range; its update is
        lost, so an in-sync book falls out of sync."""
        self._state = _OUT
        raise MalformedFrame(
            f"{self.symbol}: delta with U={delta.first_seq!r} u={delta.seq!r} pu={delta.prev_seq!r}: update "
            "ids are integers >= 0 (pu >= -1); rejected, the book is out of sync until the next snapshot"
        )

    def _check_levels(self, event: BookSnapshot | BookDelta, what: str) -> None:
        """Raise ``MalformedFrame`` or ``InvalidValue`` (before any level changes) unless both sides are
        tuples or lists of (price, amount) numbers with every price finite and > 0 and every amount finite
        and >= 0; a bad delta also marks the book out of sync (its update is lost)."""
        inf = INF
        for side, levels in (("bid", event.bids), ("ask", event.asks)):
            if not isinstance(levels, tuple | list):
                self._reject(event, what, MalformedFrame(f"{side}s {levels!r:.60}: not a tuple of pairs"))
            for level in levels:
                if (type(level) is not tuple and type(level) is not list) or len(level) != 2:
                    self._reject(event, what, MalformedFrame(f"{side} level {level!r:.60}: not a pair"))
                price, amount = level
                floats = type(price) is float and type(amount) is float  # the common case
                if floats and 0.0 < price < inf and 0.0 <= amount < inf:
                    continue
                if not _valid_level(price, amount):
                    problem = f"{side} level price {price!r} amount {amount!r}"
                    rule = "needs a finite price > 0 and a finite amount >= 0"
                    self._reject(event, what, InvalidValue(f"{problem} ({rule})"))

    def _reject(self, event: BookSnapshot | BookDelta, what: str, error: DataError) -> None:
        """Raise ``error`` about a bad snapshot (ignored) or delta (the book falls out of sync)."""
        outcome = "ignored"
        if what == "delta":
            self._state = _OUT
            outcome = "rejected, the book is out of sync until the next snapshot"
        raise type(error)(f"{self.symbol}: {what} at update {event.seq} has a {error}: {outcome}")

    def check_lag(self, seq: int, ts_recv: int, max_lag_ns: int) -> bool:
        """The venue says its book reached update ``seq`` (a ``Quote``) at receive time ``ts_recv``. A book
        in sync that has not caught up with such an update within ``max_lag_ns`` of receive time is missing
        its depth stream (e.g. every diff rejected upstream): it falls out of sync. True when it just did."""
        self.lag_check_due = ts_recv + max_lag_ns // 100
        if self._state not in (_SNAPSHOT, _LIVE) or seq <= self._seq:
            return False
        if self._lag_seq <= self._seq:  # caught up with the tracked update: track this one
            self._lag_seq = seq
            self._lag_since = ts_recv
            return False
        if ts_recv - self._lag_since <= max_lag_ns:
            return False
        self._state = _OUT
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
        top = levels if levels > 0 else 0
        bid_volume = sum(map(self._bids.__getitem__, self._bid_keys[-top:] if top else ()))
        ask_volume = sum(map(self._asks.__getitem__, map(neg, self._ask_keys[-top:] if top else ())))
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
        bid_keys, ask_keys = self._bid_keys, self._ask_keys
        mid = microprice = spread = spread_bps = NAN
        if bid_keys and ask_keys:  # the metrics' properties, inlined: a view per book update adds up
            bid, ask = bid_keys[-1], -ask_keys[-1]
            bid_size, ask_size = self._bids[bid], self._asks[ask]
            mid = (bid + ask) / 2.0
            spread = ask - bid
            spread_bps = spread / mid * 1e4
            microprice = (bid * ask_size + ask * bid_size) / (bid_size + ask_size)
        return _make_view(
            self.exchange, self.symbol, self.ts_event, self.ts_recv, self._seq, self.in_sync,
            *self._top_levels(depth), mid, microprice, spread, spread_bps, self.imbalance(), {},
        )  # fmt: skip

    def _top_levels(self, depth: int) -> tuple[Levels, Levels]:
        """The top ``depth`` levels of each side, best first: the checked snapshot's own while the book is
        just that snapshot, else read off the sides."""
        shared = self._shared
        if shared is not None and depth > 0:
            bids, asks = shared
            return bids if len(bids) <= depth else bids[:depth], asks if len(asks) <= depth else asks[:depth]
        return (
            _side_levels(self._bid_keys, self._bids, depth, 1.0),
            _side_levels(self._ask_keys, self._asks, depth, -1.0),
        )

    def __repr__(self) -> str:
        state = "in sync" if self.in_sync else "out of sync"
        top = f"bid={self.best_bid} ask={self.best_ask}"
        return f"OrderBook({self.exchange} {self.symbol} seq={self._seq} {state} {top})"


register_event(BookView, "book_view", "book_views", recorded=False)
_make_view = fast_constructor(BookView)

__all__ = ["BookView", "OrderBook"]
