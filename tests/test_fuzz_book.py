"""Fuzzing the order book: random snapshot / delta sequences from a model venue, perturbed.

A model venue sends a chain of diffs (spot: ``U = previous u + 1``; futures: ``pu = previous u``) and
snapshots; the perturbations are gaps, duplicates, swapped neighbours, stale and future snapshots, bad
levels (NaN, inf, negative, zero, subnormal, huge) and type swaps (a string, bool, None or too-large int
where a number belongs, levels that are not pairs, update ids that are not integers).

Properties, checked after every event:

- ``apply`` raises nothing but the mdx tree, and every event is accounted for: accepted (True), counted as
  stale or dropped (False, one of the counters up by one), or a raised ``DataError`` that changed no
  level (``CrossedBook`` excepted: its update is applied, and the book is then out of sync);
- the book's levels equal a reference rebuilt here with plain dicts from the events it applied;
- a book that says ``in_sync`` follows the venue's chain: the deltas it accepted since its snapshot obey
  Binance's rules (checked here, independently of the book), and its best bid is below its best ask;
- no NaN, infinite, negative or zero level, and nothing but numbers, is ever stored; ``view()`` works.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdx.errors import CrossedBook, DataError, MdxError
from mdx.events import BookDelta, BookSnapshot, Levels
from mdx.market.book import OrderBook

pytestmark = pytest.mark.fuzz

EX, SYM = "binance", "BTC/USDT"
START = 1_000
ODD_NUMBERS: list[Any] = [math.nan, math.inf, -math.inf, -1.0, 0.0, -0.0, 5e-324, 1.7976931348623157e308,
                          10**400, -(10**400), True, False, None, "1.0", "abc", [], 100]  # fmt: skip
ODD_LEVELS: list[Any] = [None, "abc", ((100.0,),), ((100.0, 1.0, 2.0),), (None,), 5, ((100.0, 1.0),)]
ODD_SEQS: list[Any] = [None, "7", 1.5, math.nan, True, -5, 10**30, [], START]

bid_prices = st.integers(95, 100).map(float)  # bids and asks meet at 100: crossed books happen
ask_prices = st.integers(100, 105).map(float)
amounts = st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0, 1e-8])
bid_levels = st.lists(st.tuples(bid_prices, amounts), max_size=4).map(tuple)
ask_levels = st.lists(st.tuples(ask_prices, amounts), max_size=4).map(tuple)

step = st.one_of(
    st.tuples(st.just("next"), st.integers(1, 3), bid_levels, ask_levels),
    st.tuples(st.just("next"), st.integers(1, 3), bid_levels, ask_levels),
    st.tuples(st.just("next"), st.integers(1, 3), bid_levels, ask_levels),
    st.tuples(st.just("gap"), st.integers(1, 3), bid_levels, ask_levels),
    st.tuples(st.just("snapshot"), st.integers(-4, 3), bid_levels, ask_levels),
    st.tuples(st.just("dup"), st.integers(0, 10**6)),
    st.tuples(st.just("swap"), st.integers(1, 3)),
    st.tuples(st.just("odd_number"), st.booleans(), st.integers(0, 10), st.booleans(),
              st.sampled_from(range(len(ODD_NUMBERS)))),
    st.tuples(st.just("odd_levels"), st.booleans(), st.sampled_from(range(len(ODD_LEVELS)))),
    st.tuples(st.just("odd_seq"), st.sampled_from(["seq", "first_seq", "prev_seq"]),
              st.sampled_from(range(len(ODD_SEQS)))),
)  # fmt: skip


@dataclass
class Venue:
    """Sends a chain of diffs and snapshots of its own book (so a snapshot agrees with the diffs)."""

    futures: bool
    last: int = START
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    sent: list[Any] = field(default_factory=list)
    history: list[tuple[int, Levels, Levels]] = field(default_factory=list)  # (seq, bids, asks) per update
    crossed_ever: bool = False

    def book_at(self, seq: int) -> tuple[Levels, Levels]:
        """The venue's book as of update ``seq`` (a stale snapshot shows an older one)."""
        for at, bids, asks in reversed(self.history):
            if at <= seq:
                return bids, asks
        return (), ()

    def diff(self, first: int, last: int, bids: Levels, asks: Levels) -> BookDelta:
        prev = first - 1 if self.futures else -1
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, amount in levels:
                if amount == 0.0:
                    side.pop(price, None)
                else:
                    side[price] = amount
        self.last = last
        crossed = bool(self.bids and self.asks and max(self.bids) >= min(self.asks))
        self.crossed_ever = self.crossed_ever or crossed
        self.history.append((last, tuple(self.bids.items()), tuple(self.asks.items())))
        return BookDelta(EX, SYM, last, last, first, last, bids, asks, prev)

    def snapshot(self, offset: int, bids: Levels, asks: Levels) -> list[Any]:
        """offset < 0: a stale snapshot (an older book); 0: the current book, then the last diff again (as a
        recorder replays its buffer: futures join on the diff that holds the snapshot's id); > 0: made-up
        levels ahead of the stream."""
        if offset > 0:
            seq = self.last + offset
            return [BookSnapshot(EX, SYM, seq, seq, seq, bids, asks)]
        if offset < 0:
            seq = max(START, self.last + offset)
            bids, asks = self.book_at(seq)
            return [BookSnapshot(EX, SYM, seq, seq, seq, bids, asks)]
        seq = self.last
        now = BookSnapshot(EX, SYM, seq, seq, seq, tuple(self.bids.items()), tuple(self.asks.items()))
        last_diff = [e for e in self.sent if isinstance(e, BookDelta)][-1:]
        return [now, *last_diff]

    def play(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        sent = self.sent
        if kind == "next":
            sent.append(self.diff(self.last + 1, self.last + op[1], op[2], op[3]))
        elif kind == "gap":  # updates lost on the way: the next diff does not chain
            self.last += op[1]
            sent.append(self.diff(self.last + 1, self.last + 1, op[2], op[3]))
        elif kind == "snapshot":
            sent.extend(self.snapshot(op[1], op[2], op[3]))
        elif kind == "dup" and sent:
            sent.append(sent[op[1] % len(sent)])
        elif kind == "swap" and len(sent) > op[1]:
            sent[-1], sent[-1 - op[1]] = sent[-1 - op[1]], sent[-1]
        elif kind.startswith("odd") and sent:
            sent[-1] = odd(sent[-1], op)


def odd(event: Any, op: tuple[Any, ...]) -> Any:
    """``event`` with one odd value (a dataclass replace: no type checks, like a buggy source)."""
    kind = op[0]
    if kind == "odd_number":
        _, on_bids, index, on_price, value = op
        side = "bids" if on_bids else "asks"
        levels = list(getattr(event, side)) if isinstance(getattr(event, side), tuple) else []
        if not all(isinstance(level, tuple) and len(level) == 2 for level in levels):
            return event  # odd already
        levels = levels or [(100.0, 1.0)]
        price, amount = levels[index % len(levels)]
        level = (ODD_NUMBERS[value], amount) if on_price else (price, ODD_NUMBERS[value])
        levels[index % len(levels)] = level
        return dataclasses.replace(event, **{side: tuple(levels)})
    if kind == "odd_levels":
        return dataclasses.replace(event, **{"bids" if op[1] else "asks": ODD_LEVELS[op[2]]})
    name = op[1] if isinstance(event, BookDelta) else "seq"
    return dataclasses.replace(event, **{name: ODD_SEQS[op[2]]})


def good_number(x: object) -> bool:
    return type(x) in (float, int) and 0.0 < x < math.inf and 0.0 < float(x) < math.inf  # type: ignore[operator]


def apply_to(side: dict[float, float], levels: Levels) -> None:
    for price, amount in levels:
        if amount == 0.0:
            side.pop(price, None)
        else:
            side[price] = amount


class Reference:
    """The book rebuilt with plain dicts from the events the book applied, and the chain since the last
    snapshot checked against Binance's rules (independently of ``OrderBook``)."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.snapshot_seq: int | None = None
        self.last: int | None = None  # last applied delta's u since the snapshot

    def apply(self, event: BookSnapshot | BookDelta) -> None:
        if isinstance(event, BookSnapshot):
            self.bids = {p: q for p, q in event.bids if q > 0.0}
            self.asks = {p: q for p, q in event.asks if q > 0.0}
            self.snapshot_seq, self.last = event.seq, None
            return
        apply_to(self.bids, event.bids)
        apply_to(self.asks, event.asks)
        self.check_chain(event)
        self.last = event.seq

    def check_chain(self, d: BookDelta) -> None:
        """Binance's rules for the diff just applied (asserted only while the book says it is in sync)."""
        self.chained = True
        if self.snapshot_seq is None:
            self.chained = False
        elif self.last is None:  # the first diff after the snapshot straddles it
            target = self.snapshot_seq if d.prev_seq >= 0 else self.snapshot_seq + 1
            self.chained = d.first_seq <= target <= d.seq
        elif d.prev_seq >= 0:
            self.chained = d.prev_seq == self.last
        else:
            self.chained = d.first_seq == self.last + 1

    def sorted_bids(self) -> list[tuple[float, float]]:
        return sorted(self.bids.items(), reverse=True)

    def sorted_asks(self) -> list[tuple[float, float]]:
        return sorted(self.asks.items())


def feed(book: OrderBook, ref: Reference, event: Any) -> None:
    """Apply one event to the book and check every property."""
    levels_before = (book.bids(), book.asks())
    counted_before = book.stale + book.dropped
    try:
        accepted = book.apply(event)
    except DataError as error:
        if isinstance(error, CrossedBook):  # applied, then flagged: the book is out of sync
            ref.apply(event)
            assert not book.in_sync
        else:
            assert (book.bids(), book.asks()) == levels_before, f"{type(error).__name__} changed levels"
        assert book.stale + book.dropped - counted_before in (0, 1)
    except MdxError as error:  # pragma: no cover - the book raises data errors only
        raise AssertionError(f"not a DataError: {error!r}") from error
    else:
        if accepted:
            ref.apply(event)
            assert book.stale + book.dropped == counted_before
        else:
            assert book.stale + book.dropped == counted_before + 1, "an event ignored without being counted"
            assert (book.bids(), book.asks()) == levels_before
    bids, asks = book.bids(), book.asks()
    assert bids == ref.sorted_bids() and asks == ref.sorted_asks()
    assert all(good_number(p) and good_number(q) for p, q in (*bids, *asks)), (bids, asks)
    if book.in_sync:
        assert ref.snapshot_seq is not None and book.seq >= ref.snapshot_seq
        if ref.last is not None:
            assert ref.chained and book.seq == ref.last
        if bids and asks:
            assert bids[0][0] < asks[0][0]
    view = book.view(depth=3)
    assert view.in_sync == book.in_sync and view.bids.shape[1] == 2


def joined(futures: bool) -> Venue:
    """A venue that sent a diff, then a snapshot and that diff again: a book fed this is in sync."""
    venue = Venue(futures)
    venue.play(("next", 1, ((99.0, 1.0),), ((101.0, 1.0),)))
    venue.play(("snapshot", 0, (), ()))
    return venue


@given(futures=st.booleans(), steps=st.lists(step, min_size=1, max_size=40))
def test_the_book_follows_the_venue_or_says_it_does_not(futures: bool, steps: list[tuple[Any, ...]]) -> None:
    venue = joined(futures)
    for op in steps:
        venue.play(op)
    book, ref = OrderBook(EX, SYM), Reference()
    for event in venue.sent:
        feed(book, ref, event)


clean_step = st.one_of(
    st.tuples(st.just("next"), st.integers(1, 3), st.lists(st.tuples(st.integers(90, 99).map(float), amounts),
              max_size=4).map(tuple), st.lists(st.tuples(st.integers(101, 110).map(float), amounts),
              max_size=4).map(tuple)),
    st.tuples(st.just("snapshot"), st.integers(-4, 0), st.just(()), st.just(())),
)  # fmt: skip


@given(futures=st.booleans(), steps=st.lists(clean_step, max_size=30))
def test_a_clean_stream_is_followed_to_the_end(futures: bool, steps: list[tuple[Any, ...]]) -> None:
    """Diffs that chain and snapshots of the venue's own book (some stale), never crossed: the book joins
    at the first snapshot, follows every diff and ends in sync, equal to the venue's book."""
    venue = joined(futures)  # its first diff comes before any snapshot: out of sync until the snapshot
    for op in steps:
        venue.play(op)
    book, ref = OrderBook(EX, SYM), Reference()
    for event in venue.sent:
        feed(book, ref, event)
    assert not venue.crossed_ever
    assert book.in_sync and book.seq == venue.last
    assert dict(book.bids()) == venue.bids and dict(book.asks()) == venue.asks
