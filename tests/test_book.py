"""The L2 book: Binance sync rules on small synthetic events, metrics, and real captures end to end."""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import FrozenInstanceError, dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from mdx.errors import BookError, BookOutOfSync, CrossedBook, InvalidValue, MalformedFrame, StaleSnapshot
from mdx.events import BookDelta, BookSnapshot, CheckedLevels, Levels, Quote, Trade, checked_levels
from mdx.market.book import MAX_STALE_RUN, BookView, OrderBook
from mdx.sources.replay import ReplaySource
from mdx.stats import Rejections

EX, SYM = "binance", "BTC/USDT"


def snap(seq: int, bids: Levels = ((100.0, 1.0), (99.0, 2.0)), asks: Levels = ((101.0, 1.5), (102.0, 3.0))):
    return BookSnapshot(EX, SYM, seq, seq, seq, bids, asks)


def delta(first: int, last: int, bids: Levels = (), asks: Levels = (), prev: int = -1) -> BookDelta:
    return BookDelta(EX, SYM, last, last, first, last, bids, asks, prev)


# -- spot sync rules ----------------------------------------------------------------------------------


def test_spot_drops_stale_then_needs_the_straddling_delta_then_a_chain() -> None:
    book = OrderBook(EX, SYM)
    assert book.apply(snap(100)) and book.in_sync and book.seq == 100
    assert not book.apply(delta(90, 100, ((100.0, 9.0),)))  # u <= L: stale, ignored
    assert book.stale == 1 and book.best_bid == (100.0, 1.0)
    assert book.apply(delta(95, 105, ((100.0, 5.0),)))  # U <= L+1 <= u
    assert book.seq == 105 and book.best_bid == (100.0, 5.0)
    assert book.apply(delta(106, 110, asks=((101.0, 0.5),)))  # U == previous u + 1
    assert book.seq == 110 and book.best_ask == (101.0, 0.5)
    assert not book.apply(delta(108, 110))  # a duplicate after sync is dropped, not a gap
    assert book.in_sync and book.seq == 110


def test_spot_first_delta_past_the_snapshot_is_a_gap() -> None:
    book = OrderBook(EX, SYM)
    book.apply(snap(100))
    with pytest.raises(BookOutOfSync, match=r"snapshot 100 has U=102 u=110"):
        book.apply(delta(102, 110))
    assert not book.in_sync


def test_spot_gap_raises_once_then_drops_until_a_snapshot_resyncs() -> None:
    book = OrderBook(EX, SYM)
    book.apply(snap(100))
    book.apply(delta(101, 105))
    with pytest.raises(BookOutOfSync, match=r"gap after update 105: next delta has U=107"):
        book.apply(delta(107, 110, ((100.0, 7.0),)))
    assert not book.in_sync
    assert not book.apply(delta(111, 115)) and not book.apply(delta(116, 120))
    assert book.dropped == 2 and book.seq == 105
    assert book.apply(snap(200, bids=((98.0, 1.0),))) and book.in_sync and book.seq == 200
    assert book.apply(delta(201, 202, ((98.5, 1.0),))) and book.best_bid == (98.5, 1.0)


def test_delta_before_any_snapshot_raises_then_is_dropped() -> None:
    book = OrderBook(EX, SYM)
    with pytest.raises(BookOutOfSync, match=r"U=1 u=5 before any snapshot"):
        book.apply(delta(1, 5))
    assert not book.in_sync and book.seq == -1
    assert not book.apply(delta(6, 9)) and book.dropped == 1
    assert book.best_bid is None and math.isnan(book.mid)


# -- futures sync rules ---------------------------------------------------------------------------------


def test_futures_first_delta_straddles_l_and_then_chains_by_pu() -> None:
    book = OrderBook("binanceusdm", "BTC/USDT:USDT")
    book.apply(snap(100))
    assert not book.apply(delta(80, 99, prev=79))  # u < L: stale
    assert book.apply(delta(90, 100, ((100.0, 4.0),), prev=89))  # U <= L <= u (u == L is not stale here)
    assert book.apply(delta(103, 108, prev=100))  # pu == previous u; U need not be u + 1
    assert book.apply(delta(115, 120, prev=108))
    assert book.seq == 120 and book.best_bid == (100.0, 4.0)
    with pytest.raises(BookOutOfSync, match=r"gap after update 120: next delta has pu=121"):
        book.apply(delta(125, 130, prev=121))
    assert not book.in_sync and not book.apply(delta(131, 140, prev=130)) and book.dropped == 1


def test_futures_first_delta_after_l_is_a_gap() -> None:
    book = OrderBook()
    book.apply(snap(100))
    with pytest.raises(BookOutOfSync, match=r"needs U <= 100 <= u"):
        book.apply(delta(101, 110, prev=100))


# -- levels, crossing, metrics ---------------------------------------------------------------------------


def test_zero_amount_deletes_and_new_levels_insert_in_order() -> None:
    book = OrderBook()
    book.apply(snap(1))
    book.apply(delta(2, 2, bids=((100.0, 0.0), (99.5, 3.0), (97.0, 1.0), (50.0, 0.0)), asks=((101.0, 0.0),)))
    assert book.bids() == [(99.5, 3.0), (99.0, 2.0), (97.0, 1.0)]
    assert book.asks() == [(102.0, 3.0)]
    assert book.bids(2) == [(99.5, 3.0), (99.0, 2.0)] and book.asks(0) == [] and len(book) == 4
    book.apply(delta(3, 3, asks=((101.5, 2.0), (103.0, 1.0))))
    assert book.asks() == [(101.5, 2.0), (102.0, 3.0), (103.0, 1.0)]


def test_crossed_update_raises_and_marks_out_of_sync() -> None:
    book = OrderBook(EX, SYM)
    book.apply(snap(1))
    with pytest.raises(CrossedBook, match=r"best bid 101.0 >= best ask 101.0"):
        book.apply(delta(2, 2, bids=((101.0, 1.0),)))
    assert not book.in_sync and book.view().in_sync is False
    assert not book.apply(delta(3, 3)) and book.dropped == 1
    with pytest.raises(CrossedBook):
        book.apply(snap(10, bids=((105.0, 1.0),)))
    assert not book.in_sync
    book.apply(snap(20))
    assert book.in_sync


def test_only_book_events_apply() -> None:
    with pytest.raises(BookError, match="cannot apply a Trade"):
        OrderBook().apply(Trade(EX, SYM, 1, 1, "1", 1.0, 1.0, "buy"))  # type: ignore[arg-type]


def test_metrics_maths() -> None:
    book = OrderBook(EX, SYM)
    book.apply(
        BookSnapshot(
            EX, SYM, 7, 8, 1,
            ((100.0, 1.0), (99.0, 2.0), (98.0, 3.0), (90.0, 10.0)),
            ((101.0, 3.0), (102.0, 1.0), (110.0, 5.0)),
        )
    )  # fmt: skip
    assert book.mid == 100.5 and book.spread == 1.0
    assert book.spread_bps == pytest.approx(1.0 / 100.5 * 1e4)
    assert book.microprice == pytest.approx((100.0 * 3.0 + 101.0 * 1.0) / 4.0)
    assert book.imbalance(1) == pytest.approx((1.0 - 3.0) / 4.0)
    assert book.imbalance(2) == pytest.approx((3.0 - 4.0) / 7.0)
    assert book.imbalance() == pytest.approx((16.0 - 9.0) / 25.0)
    band = 100.5 * 200 / 1e4  # 200 bps: 98.49 .. 102.51
    assert 100.5 - band > 98.0 and 100.5 + band > 102.0
    assert book.depth(200) == (3.0, 4.0)
    assert book.depth(0) == (0.0, 0.0)
    assert book.depth(10_000) == (16.0, 9.0)
    edge_bps = 0.5 / 100.5 * 1e4  # a band of 0.5 around 100.5: the edges are the best bid and ask
    assert book.depth(edge_bps) == (1.0, 3.0)  # levels on the edge count


def test_metrics_of_an_empty_or_one_sided_book_are_nan() -> None:
    book = OrderBook()
    assert book.best_bid is None and book.best_ask is None
    metrics = (book.mid, book.spread, book.spread_bps, book.microprice, book.imbalance())
    assert all(math.isnan(x) for x in metrics)
    assert all(math.isnan(x) for x in book.depth(10))
    book.apply(snap(1, asks=()))
    assert math.isnan(book.mid) and book.imbalance() == 1.0
    view = book.view()
    assert view.asks.shape == (0, 2) and view.bids.shape == (2, 2) and math.isnan(view.microprice)


def test_view_is_an_immutable_copy() -> None:
    book = OrderBook(EX, SYM)
    book.apply(snap(1))
    view = book.view(depth=1)
    assert isinstance(view, BookView) and view.seq == 1 and view.ts_event == 1 and view.in_sync
    assert view.bids.dtype == np.float64 and view.bids.tolist() == [[100.0, 1.0]]
    assert view.asks.tolist() == [[101.0, 1.5]]
    assert view.mid == 100.5 and view.spread_bps == book.spread_bps and view.imbalance == book.imbalance()
    with pytest.raises(FrozenInstanceError):
        view.mid = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        view.bids[0, 0] = 1.0
    book.apply(delta(2, 2, bids=((100.0, 0.0),)))
    assert view.bids.tolist() == [[100.0, 1.0]] and book.view(1).bids.tolist() == [[99.0, 2.0]]
    assert not hasattr(view, "__dict__")


def test_thousands_of_levels_stay_sorted() -> None:
    rng = np.random.default_rng(7)
    book = OrderBook()
    book.apply(snap(0, bids=((1000.0, 1.0),), asks=((1001.0, 1.0),)))
    bids: dict[float, float] = {1000.0: 1.0}
    asks: dict[float, float] = {1001.0: 1.0}

    def random_levels(lo: int, hi: int) -> Levels:
        prices = rng.integers(lo, hi, 40).astype(float).tolist()
        amounts = rng.integers(0, 3, 40).astype(float).tolist()  # a third are deletes
        return tuple(zip(prices, amounts, strict=True))

    for seq in range(1, 300):
        b, a = random_levels(1, 1001), random_levels(1001, 2001)
        book.apply(delta(seq, seq, b, a))
        for side, levels in ((bids, b), (asks, a)):
            for p, q in levels:
                if q == 0.0:
                    side.pop(p, None)
                else:
                    side[p] = q
    assert book.bids() == sorted(bids.items(), reverse=True)
    assert book.asks() == sorted(asks.items())
    assert len(book) > 1000
    for depth in (0, 1, 50, 5_000):  # the view's arrays are the same levels
        view = book.view(depth)
        assert view.bids.tolist() == [list(level) for level in book.bids(depth)]
        assert view.asks.tolist() == [list(level) for level in book.asks(depth)]
        assert view.bids.shape == (min(depth, len(bids)), 2) and not view.asks.flags.writeable


# -- a book never claims to be in sync while it is not following the stream --------------------------------


def test_an_older_snapshot_is_ignored_and_counted_instead_of_rolling_the_book_back() -> None:
    """The original failure: snapshot 90 after 100 + deltas was applied, the book went back in time with
    in_sync True."""
    book = OrderBook(EX, SYM)
    book.apply(snap(100))
    book.apply(delta(101, 105, ((100.0, 5.0),)))
    with pytest.raises(StaleSnapshot, match=r"snapshot at update 90 is older than the book \(update 105\)"):
        book.apply(snap(90, bids=((50.0, 1.0),), asks=((51.0, 1.0),)))
    assert book.in_sync and book.seq == 105 and book.stale == 1 and book.best_bid == (100.0, 5.0)
    assert book.apply(delta(106, 107)) and book.seq == 107  # the stream goes on
    assert book.apply(snap(107)) and book.apply(snap(200)) and book.seq == 200  # equal or newer: applied
    with pytest.raises(BookOutOfSync):
        book.apply(delta(300, 310))  # a gap: out of sync ...
    assert not book.in_sync
    assert not book.apply(delta(180, 190)) and book.dropped == 1
    assert book.apply(snap(150)) and book.in_sync and book.seq == 150  # ... any snapshot resyncs it


def bad_levels() -> list[tuple[float, float]]:
    nan, inf = float("nan"), float("inf")
    return [(nan, 1.0), (99.0, -5.0), (99.0, nan), (inf, 1.0), (-1.0, 1.0), (0.0, 1.0), (99.0, inf)]


@pytest.mark.parametrize("level", bad_levels(), ids=str)
def test_bad_levels_in_a_delta_are_rejected_and_leave_the_levels_unchanged(
    level: tuple[float, float],
) -> None:
    """The original failure: NaN / negative / inf levels went in: best bid (99, -5), microprice above the
    ask, then KeyError: nan from best_bid and view()."""
    book = OrderBook(EX, SYM)
    book.apply(snap(100))
    before = (book.bids(), book.asks())
    with pytest.raises(InvalidValue, match=r"delta at update 101 has a (bid|ask) level .* out of sync"):
        book.apply(delta(101, 101, ((99.5, 1.0), level), asks=((101.0, 0.0),)))  # no partial update either
    assert (book.bids(), book.asks()) == before and book.seq == 100
    assert not book.in_sync  # the update is lost: the book no longer matches the venue
    view = book.view()
    assert view.microprice < view.asks[0, 0] and book.best_bid == (100.0, 1.0)
    with pytest.raises(InvalidValue, match="ask level"):
        OrderBook().apply(snap(1, asks=(level,)))


def test_bad_levels_in_a_snapshot_are_rejected_and_the_book_keeps_its_state() -> None:
    book = OrderBook(EX, SYM)
    book.apply(snap(100))
    for level in bad_levels():
        with pytest.raises(InvalidValue, match=r"snapshot at update 200 has a bid level .* ignored"):
            book.apply(snap(200, bids=((100.0, 1.0), level)))
        assert book.in_sync and book.seq == 100 and book.best_bid == (100.0, 1.0)
    with pytest.raises(InvalidValue):
        book.apply(snap(200, bids=(("100", 1.0),)))  # type: ignore[arg-type]
    assert book.apply(delta(101, 101, ((100.0, 0.0),))) and book.best_bid == (99.0, 2.0)


def test_a_run_of_stale_deltas_means_the_update_ids_restarted() -> None:
    book = OrderBook(EX, SYM)
    book.apply(snap(1_000))
    book.apply(delta(1_001, 1_001))
    for u in range(1, MAX_STALE_RUN):  # the venue restarted its update ids: every delta looks old
        assert not book.apply(delta(u, u)) and book.in_sync
    with pytest.raises(BookOutOfSync, match=f"{MAX_STALE_RUN} deltas in a row older than the book"):
        book.apply(delta(MAX_STALE_RUN, MAX_STALE_RUN))
    assert not book.in_sync and book.stale == MAX_STALE_RUN
    assert book.apply(snap(500)) and book.in_sync  # the next snapshot resyncs at the new ids
    assert book.apply(delta(501, 501))


def test_a_book_left_behind_by_the_venues_quotes_falls_out_of_sync() -> None:
    s = 1_000_000_000
    book = OrderBook(EX, SYM)
    book.apply(snap(100))
    assert not book.check_lag(100, 0, 10 * s)  # not ahead
    assert not book.check_lag(105, 1 * s, 10 * s)  # ahead: tracked
    book.apply(delta(101, 106))  # the depth stream catches up
    assert not book.check_lag(107, 12 * s, 10 * s)  # a new quote ahead: tracked from now
    assert not book.check_lag(108, 22 * s, 10 * s) and book.in_sync  # 10 s behind: still tolerated
    assert book.check_lag(109, 22 * s + 1, 10 * s) and not book.in_sync  # more: the depth stream is gone
    assert not book.check_lag(200, 40 * s, 10 * s)  # already out of sync: nothing more to say


# -- real captures ------------------------------------------------------------------------------------


@dataclass
class Replayed:
    books: dict[str, OrderBook] = field(default_factory=dict)
    rejections: Rejections = field(default_factory=Rejections)
    counts: dict[str, int] = field(default_factory=dict)
    equal_seq_checks: int = 0  # quotes whose seq equals the book's seq at arrival
    equal_seq_mismatches: int = 0
    state_checks: int = 0  # book states after each delta vs the latest quote at or before that seq
    state_mismatches: list[int] = field(default_factory=list)
    trade_ids: list[int] = field(default_factory=list)


def replay(paths: list[Path]) -> Replayed:
    """Every event through one book per symbol; compare the book's top with the bookTicker stream."""
    out = Replayed()
    states: dict[str, list[tuple[int, tuple[float, float] | None, tuple[float, float] | None]]] = {}
    quotes: dict[str, list[Quote]] = {}
    for event in ReplaySource(paths).iter_events(out.rejections):
        kind = type(event).__name__
        out.counts[kind] = out.counts.get(kind, 0) + 1
        if isinstance(event, BookSnapshot | BookDelta):
            book = out.books.setdefault(event.symbol, OrderBook(event.exchange, event.symbol))
            if book.apply(event) and isinstance(event, BookDelta):
                states.setdefault(event.symbol, []).append((book.seq, book.best_bid, book.best_ask))
        elif isinstance(event, Quote):
            quotes.setdefault(event.symbol, []).append(event)
            book = out.books.get(event.symbol)
            if book is not None and book.seq == event.seq:
                out.equal_seq_checks += 1
                top = ((event.bid, event.bid_size), (event.ask, event.ask_size))
                if (book.best_bid, book.best_ask) != top:
                    out.equal_seq_mismatches += 1
        elif isinstance(event, Trade):
            out.trade_ids.append(int(event.id))
    # bookTicker pushes every change of the top of book, so the latest quote with seq <= u is the top at u
    for symbol, symbol_states in states.items():
        symbol_quotes = quotes.get(symbol, [])
        seqs = [q.seq for q in symbol_quotes]
        assert seqs == sorted(seqs)
        for seq, bid, ask in symbol_states:
            i = bisect_right(seqs, seq) - 1
            if i < 0:
                continue
            q = symbol_quotes[i]
            out.state_checks += 1
            if (bid, ask) != ((q.bid, q.bid_size), (q.ask, q.ask_size)):
                out.state_mismatches.append(seq)
    return out


SPOT = "binance-spot-l2-trades"
FUTURES = "binance-futures-l2-trades"


def assert_clean(result: Replayed, symbol: str) -> None:
    book = result.books[symbol]
    assert result.rejections.total == 0, result.rejections
    assert book.in_sync and book.dropped == 0 and len(book) > 1000
    ids = result.trade_ids
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous trade ids: nothing lost at the join
    assert result.equal_seq_mismatches == 0


def test_btcusdt_spot_0808_0809_replays_with_no_gap(shared_data: Path) -> None:
    result = replay([shared_data / SPOT / "btcusdt_20240808.gz", shared_data / SPOT / "btcusdt_20240809.gz"])
    assert_clean(result, "BTC/USDT")
    assert result.counts == {"BookSnapshot": 1, "BookDelta": 6495, "Quote": 73174, "Trade": 19904}
    assert (result.trade_ids[0], result.trade_ids[-1]) == (3735683259, 3735703162)
    assert result.books["BTC/USDT"].stale == 2  # the two pre-snapshot diffs with u <= lastUpdateId
    assert result.state_checks == 6493  # every applied diff
    # Twice the bookTicker stream shows a bid level (61565.10, 61556.11) that the diff stream never
    # sends before deleting it: exchange data, not a book error. Every other state matches exactly.
    assert result.state_mismatches == [50093478174, 50093480542]


def test_ethusdt_spot_0808_0809_replays_with_no_gap(shared_data: Path) -> None:
    result = replay([shared_data / SPOT / "ethusdt_20240808.gz", shared_data / SPOT / "ethusdt_20240809.gz"])
    assert_clean(result, "ETH/USDT")
    assert result.counts["Trade"] == 14515 and result.counts["BookDelta"] == 6470
    assert result.state_checks > 6000 and result.state_mismatches == []


@pytest.mark.parametrize(
    ("files", "symbol", "equal_seq_checks"),
    [
        (["usdm_btcusdt_20240808.gz"], "BTC/USDT:USDT", 126),
        (["usdm_ethusdt_20240808.gz"], "ETH/USDT:USDT", 80),
        (["coinm_btcusd_perp_20240808.gz", "coinm_btcusd_perp_20240809.gz"], "BTC/USD:BTC", 0),
    ],
)
def test_futures_replay_with_no_gap(
    shared_data: Path, files: list[str], symbol: str, equal_seq_checks: int
) -> None:
    result = replay([shared_data / FUTURES / name for name in files])
    assert_clean(result, symbol)
    assert result.equal_seq_checks == equal_seq_checks
    assert result.state_checks > 6000 and result.state_mismatches == []
    assert result.books[symbol].exchange == ("binancecoinm" if "USD:" in symbol else "binanceusdm")


def test_spot_btc_and_eth_merged_keep_both_books_in_sync(shared_data: Path) -> None:
    names = ["btcusdt_20240808.gz", "btcusdt_20240809.gz", "ethusdt_20240808.gz", "ethusdt_20240809.gz"]
    result = replay([shared_data / SPOT / name for name in names])
    assert result.rejections.total == 0
    assert sorted(result.books) == ["BTC/USDT", "ETH/USDT"]
    assert all(book.in_sync and book.dropped == 0 for book in result.books.values())
    assert result.counts["Trade"] == 19904 + 14515
    assert result.state_checks > 12_000 and len(result.state_mismatches) == 2


# -- what the fuzzer found (tests/test_fuzz_book.py): type swaps crashed the book or got in ----------------


@pytest.mark.parametrize(
    ("bids", "error"),
    [
        (None, MalformedFrame),  # was TypeError: 'NoneType' object is not iterable
        (((100.0,),), MalformedFrame),  # was ValueError: not enough values to unpack
        ("ab", MalformedFrame),
        (iter([(100.0, 1.0)]), MalformedFrame),  # an iterator would be used up by the check
        (((10**400, 1.0),), InvalidValue),  # was OverflowError: int too large to convert to float
        (((True, 1.0),), InvalidValue),  # was stored: a bool is not a price
        (((100.0, True),), InvalidValue),
        (((100.0, "1"),), InvalidValue),
        (((np.int64(100), 1.0),), InvalidValue),
    ],
)
def test_levels_that_are_not_number_pairs_are_rejected_not_crashed_on(bids: object, error: type) -> None:
    book = OrderBook(EX, SYM)
    book.apply(snap(100))
    before = (book.bids(), book.asks())
    with pytest.raises(error, match="delta at update 101 has a bid"):
        book.apply(delta(101, 101, bids))  # type: ignore[arg-type]
    assert (book.bids(), book.asks()) == before and not book.in_sync
    with pytest.raises(error, match=r"snapshot at update 102 has a bid.*ignored"):
        book.apply(snap(102, bids))  # type: ignore[arg-type]
    assert (book.bids(), book.asks()) == before and book.seq == 100


@pytest.mark.parametrize("bad", [None, "7", 1.5, math.nan, True, -5, [101]])
def test_update_ids_that_are_not_integers_are_malformed(bad: object) -> None:
    book = OrderBook(EX, SYM)
    with pytest.raises(MalformedFrame, match="snapshot with update id"):  # NaN was taken as the book's seq
        book.apply(snap(bad))  # type: ignore[arg-type]
    assert book.seq == -1 and not book.in_sync
    book.apply(snap(100))
    for field_name in ("first_seq", "seq", "prev_seq"):
        d = delta(101, 101, ((100.0, 2.0),))
        book.apply(snap(100))
        with pytest.raises(MalformedFrame, match="update ids are integers"):  # was TypeError on None / "7"
            book.apply(replace(d, **{field_name: bad}))
        assert not book.in_sync and book.best_bid == (100.0, 1.0)


def test_int_and_numpy_float_levels_are_numbers() -> None:
    book = OrderBook(EX, SYM)
    book.apply(snap(100, bids=((100, 1),), asks=((np.float64(101.0), 2.0),)))
    assert book.apply(delta(101, 101, ((99, 3),)))
    assert book.in_sync and book.bids() == [(100, 1), (99, 3)] and book.best_ask == (101.0, 2.0)


# -- levels a source checked ------------------------------------------------------------------------------

GOOD_BIDS = [[100.0, 1.0], [99.5, 2.0], [99.0, 0.25]]
GOOD_ASKS = [[101.0, 1.5], [101.5, 3.0]]


@pytest.mark.parametrize(
    ("side", "descending"),
    [
        ([[100.0, 1.0], [100.0, 2.0]], True),  # a price twice
        ([[99.0, 1.0], [100.0, 2.0]], True),  # bids rising
        ([[101.0, 1.0], [100.0, 2.0]], False),  # asks falling
        ([[100.0, math.nan]], True),
        ([[math.nan, 1.0]], True),
        ([[math.inf, 1.0]], False),
        ([[100.0, math.inf]], True),
        ([[100.0, 0.0]], True),  # a zero amount deletes: never in a checked side
        ([[-1.0, 1.0]], False),
        ([[100, 1.0]], True),  # an int is a number, but not a float
        ([[100.0, True]], True),
        ([["100.0", 1.0]], True),
        ([[100.0]], True),  # not a pair
        ([None], True),
    ],
)
def test_checked_levels_refuses_any_level_it_cannot_vouch_for(side: list, descending: bool) -> None:
    assert checked_levels(side, descending=descending) is None


def test_checked_levels_copies_and_a_book_takes_them_as_it_takes_plain_tuples() -> None:
    bids, asks = checked_levels(GOOD_BIDS, descending=True), checked_levels(GOOD_ASKS, descending=False)
    assert type(bids) is CheckedLevels and type(asks) is CheckedLevels
    assert bids == tuple(map(tuple, GOOD_BIDS)) and asks == tuple(map(tuple, GOOD_ASKS))
    GOOD_BIDS[0][1] = 5.0  # the source's side changes later (ccxt mutates its book): the copy does not
    try:
        assert bids[0] == (100.0, 1.0)
    finally:
        GOOD_BIDS[0][1] = 1.0
    checked, plain = OrderBook(EX, SYM), OrderBook(EX, SYM)
    checked.apply(snap(10, bids, asks))
    plain.apply(snap(10, tuple(bids), tuple(asks)))
    for depth in (1, 2, 50):
        a, b = checked.view(depth), plain.view(depth)
        assert a.bid_levels == b.bid_levels and a.ask_levels == b.ask_levels
        assert np.array_equal(a.bids, b.bids) and np.array_equal(a.asks, b.asks)
        assert (a.mid, a.microprice, a.spread, a.spread_bps, a.imbalance) == (
            b.mid, b.microprice, b.spread, b.spread_bps, b.imbalance,
        )  # fmt: skip
    assert checked.view(0).bid_levels == () and checked.view(0).bids.shape == (0, 2)


def test_a_view_stops_sharing_the_snapshot_once_a_delta_changes_the_book() -> None:
    book = OrderBook(EX, SYM)
    bids, asks = checked_levels(GOOD_BIDS, descending=True), checked_levels(GOOD_ASKS, descending=False)
    book.apply(snap(10, bids, asks))
    before = book.view(50)
    assert book.apply(delta(11, 11, ((100.0, 0.0), (99.8, 4.0)), ((101.2, 1.0),)))
    after = book.view(50)
    assert after.bid_levels == ((99.8, 4.0), (99.5, 2.0), (99.0, 0.25))
    assert after.ask_levels == ((101.0, 1.5), (101.2, 1.0), (101.5, 3.0))
    assert before.bid_levels[0] == (100.0, 1.0)  # an older view is untouched
    assert after.mid == book.mid and after.microprice == book.microprice and after.spread == book.spread


def test_view_arrays_are_read_only_copies_of_the_levels_made_once() -> None:
    book = OrderBook(EX, SYM)
    book.apply(snap(10))
    view = book.view(50)
    assert view.bids is view.bids  # made on the first read, kept
    assert view.bids.tolist() == [[100.0, 1.0], [99.0, 2.0]] and view.asks.dtype == np.float64
    with pytest.raises(ValueError):
        view.asks[0, 0] = 1.0
    one_sided = OrderBook(EX, SYM)
    one_sided.apply(snap(10, asks=()))
    empty = one_sided.view(50)
    assert empty.asks.shape == (0, 2) and math.isnan(empty.mid) and math.isnan(empty.microprice)


def test_a_mixed_snapshot_is_checked_whole() -> None:
    """Only a snapshot whose two sides are both checked skips the check: a bad plain side is refused."""
    book = OrderBook(EX, SYM)
    with pytest.raises(InvalidValue):
        book.apply(snap(10, checked_levels(GOOD_BIDS, descending=True), ((101.0, math.nan),)))
    assert not book.in_sync and len(book) == 0
