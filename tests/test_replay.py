"""ReplaySource: captures and recordings merged by receive time, through the session."""

from __future__ import annotations

import asyncio
from itertools import islice, pairwise
from pathlib import Path

import pytest

from mdx.clock import SimulatedClock
from mdx.errors import CaptureError, ConfigError
from mdx.events import BookDelta, BookSnapshot, Event, Trade
from mdx.io.capture import read_capture
from mdx.io.recording import write_recording
from mdx.session import Session
from mdx.sources.base import OfflineSource
from mdx.sources.replay import ReplaySource, merge_by_recv
from mdx.stats import Rejections

SPOT = "binance-spot-l2-trades"
FUTURES = "binance-futures-l2-trades"


def trades(tag: str, recv: list[int]) -> list[Event]:
    return [Trade("x", "A/B", t, t, f"{tag}{t}", 1.0, 1.0, "buy") for t in recv]


def test_merge_by_recv_interleaves_runs_and_breaks_ties_by_order() -> None:
    a = trades("a", [1, 2, 3, 10, 11, 20])
    b = trades("b", [3, 4, 5, 12])
    c = trades("c", [0, 30])
    merged = list(merge_by_recv([iter(a), iter([]), iter(b), iter(c)]))
    assert [e.ts_recv for e in merged] == sorted(e.ts_recv for e in a + b + c)
    assert [e.id for e in merged if e.ts_recv == 3] == ["a3", "b3"]
    assert list(merge_by_recv([])) == [] and list(merge_by_recv([iter(a)])) == a


def spot(shared_data: Path, *names: str) -> list[Path]:
    return [shared_data / SPOT / name for name in names]


def test_source_attributes_and_lazy_discovery(shared_data: Path) -> None:
    paths = spot(shared_data, "btcusdt_20240808.gz", "btcusdt_20240809.gz", "ethusdt_20240808.gz")
    source = ReplaySource([str(p) for p in paths], speed=10.0)
    assert isinstance(source, OfflineSource) and source.endless is False and source.speed == 10.0
    assert source.name == "replay:btcusdt_20240808.gz,btcusdt_20240809.gz,ethusdt_20240808.gz"
    assert source.symbols == ("BTC/USDT", "ETH/USDT") and source.exchange == "binance"
    mixed = ReplaySource([paths[0], shared_data / FUTURES / "usdm_btcusdt_20240808.gz"])
    assert mixed.symbols == ("BTC/USDT", "BTC/USDT:USDT") and mixed.exchange == "binance,binanceusdm"
    assert ReplaySource(paths[0]).symbols == ("BTC/USDT",)  # a single path needs no list


def test_bad_paths_fail_at_construction(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"missing\.gz"):
        ReplaySource([tmp_path / "missing.gz"])
    with pytest.raises(ConfigError, match="at least one"):
        ReplaySource([])


def test_0808_and_0809_play_as_one_continuous_stream(shared_data: Path) -> None:
    paths = spot(shared_data, "ethusdt_20240808.gz", "ethusdt_20240809.gz")
    rejections = Rejections()
    events = list(ReplaySource(paths).iter_events(rejections))
    assert rejections.total == 0 and len(events) == 33618 + 46126
    assert isinstance(events[0], BookSnapshot)
    recv = [e.ts_recv for e in events[1:]]
    assert recv == sorted(recv)
    deltas = [e for e in events if isinstance(e, BookDelta)]
    assert all(b.first_seq == a.seq + 1 for a, b in pairwise(deltas))  # no gap at the join
    trade_ids = [int(e.id) for e in events if isinstance(e, Trade)]
    assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids)))


def test_session_replays_four_spot_files_in_sync_with_no_rejections(shared_data: Path) -> None:
    names = ["btcusdt_20240808.gz", "btcusdt_20240809.gz", "ethusdt_20240808.gz", "ethusdt_20240809.gz"]
    session = Session(ReplaySource(spot(shared_data, *names)), timeframes=("1m",), clock=SimulatedClock())
    session.run_until_done()
    assert session.rejections.total == 0, session.rejections
    assert session.events_processed == 41249 + 58325 + 33618 + 46126
    assert sorted(session.books) == [("binance", "BTC/USDT"), ("binance", "ETH/USDT")]
    for key, book in session.books.items():
        assert book.in_sync and book.dropped == 0
        view = session.cache.book(key)
        assert view.in_sync and view.bids.shape == (50, 2) and view.spread > 0
        bars = session.cache.bars(key, "1m")
        assert len(bars) == 11 and all(b.closed for b in bars)
    btc_bars = session.cache.bars(("binance", "BTC/USDT"), "1m")
    assert (
        sum(b.count for b in btc_bars) + session.cache.open_bar(("binance", "BTC/USDT"), "1m").count == 19904
    )
    assert session.status.state == "done"


def test_session_replays_futures_in_sync(shared_data: Path) -> None:
    paths = [
        shared_data / FUTURES / name
        for name in ("usdm_btcusdt_20240808.gz", "usdm_ethusdt_20240808.gz", "coinm_btcusd_perp_20240808.gz")
    ]
    session = Session(ReplaySource(paths), timeframes=(), clock=SimulatedClock()).run_until_done()
    assert session.rejections.total == 0, session.rejections
    assert sorted(session.books) == [
        ("binancecoinm", "BTC/USD:BTC"),
        ("binanceusdm", "BTC/USDT:USDT"),
        ("binanceusdm", "ETH/USDT:USDT"),
    ]
    assert all(book.in_sync and book.dropped == 0 for book in session.books.values())


def test_recordings_and_captures_replay_together_paced_on_a_simulated_clock(
    shared_data: Path, tmp_path: Path
) -> None:
    eth = list(islice(read_capture(shared_data / SPOT / "ethusdt_20240808.gz"), 3000))
    recording = tmp_path / "eth.mdx.jsonl.gz"
    write_recording(recording, eth)
    btc = shared_data / SPOT / "btcusdt_20240808.gz"
    source = ReplaySource([recording, btc], speed=1.0)
    assert source.symbols == ("ETH/USDT", "BTC/USDT")

    clock = SimulatedClock(1_000)

    async def drain() -> list[Event]:
        return [event async for event in source.stream(clock, Rejections())]

    events = asyncio.run(drain())
    assert len(events) == 3000 + 41249
    assert (
        clock.now_ns() - 1_000 == events[-1].ts_recv - events[0].ts_recv
    )  # real time, on the simulated clock

    session = Session(ReplaySource([recording, btc]), timeframes=(), clock=SimulatedClock(), speed=0)
    asyncio.run(session.run())
    assert session.rejections.total == 0 and all(book.in_sync for book in session.books.values())
    assert len(session.books) == 2
