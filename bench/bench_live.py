"""Live throughput: the real ccxt.pro path on loopback beside the replay path, on the same recorded frames.

    .venv/bin/python bench/bench_live.py [--lines N] [--repeat 3] [--no-profile] [--hot 10] [--top 0]

A fake Binance (``tests/fake_binance.py``) in a child process replays the real BTCUSDT spot capture
(``../shared/data/binance-spot-l2-trades/btcusdt_20240808.gz``: its REST depth snapshot, then every
``depthUpdate`` and ``trade`` frame, raw) over a loopback websocket as fast as it can. The real ccxt.pro
``binance`` client reads them through ``mdx.sources.live.LiveSource``. The fake runs in its own process
so its cost (JSON encoding, websocket writes) is not charged to the client, as with a real exchange.

Throughput rows (frames/s; best of ``--repeat``):
  fake push alone        the child's own time to push every frame (an upper bound for the live rows)
  live: stream loop      LiveSource.stream consumed by a plain loop: the fake's first frame to the last
                         event out (the last recorded trade and book update)
  live: Session          the same stream through a Session (trade guard, book, 1m bars, cache, hub)
  live: loop, tradesLimit the stream loop with ccxt's trade cache raised from 1000 to 100k per symbol:
                         flooded, the consumer falls more than 1000 trades behind ccxt's parser and ccxt
                         drops the oldest unread trades, so the default rows lose trades (said below them)
  replay: normalize      ReplaySource.iter_events on the same frames (the capture's snapshot, depth and
                         trade lines, written to a temporary plain-text capture)
  replay: Session        Session.run_until_done on that replay
A live book event can stand for several depth frames: ccxt applies every frame to its book but a
``watch_order_book`` call returns the book once, when the consumer asks again.

Where the time goes (µs per frame, tight loops on the same frames, no network, no event loop waits):
  ccxt decode + parse    orjson.loads + the ccxt.pro binance client's ``handle_message`` (its parser, its
                         book and trade caches): what ccxt does for every frame it receives
  mdx pumps              LiveSource's trade and book pumps (``_pump_trades`` / ``_pump_book``: retry
                         wrapper, ``trade_of`` / ``book_levels`` normalization, BookSnapshot + Quote building,
                         queue) fed by a stand-in exchange that runs ccxt on the next frame (timed apart)
  mdx Session.process    every event the pumps made, taken off their queue as it comes, through a
                         Session's consumers, cache and hub (trades first, then books: pump by pump)
  the book path's parts  ``book_levels`` (both sides), ``OrderBook.apply`` of a snapshot (of levels the
                         source checked, and of plain tuples), ``OrderBook.view``, timed on ccxt's last book
  mdx hot spots          the mdx functions with the most exclusive time in a cProfile of the tight loops
Then a cProfile of one live Session run: exclusive time grouped by package (a builtin is charged to the
package calling it), per frame. Profiling slows everything down; read its shares, not its µs.
Skips (exit 0) when the capture is missing. Takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import gc
import os
import pstats
import sys
import tempfile
import time
import timeit
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from orjson import loads

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mdx.clock import LiveClock, SimulatedClock  # noqa: E402
from mdx.events import BookSnapshot, Event, Quote, Trade  # noqa: E402
from mdx.session import Session  # noqa: E402
from mdx.sources.live import LiveSource  # noqa: E402
from mdx.sources.replay import ReplaySource  # noqa: E402
from mdx.stats import Rejections  # noqa: E402

DATA = Path(os.environ.get("MDX_SHARED_DATA", ROOT.parent / "shared" / "data")) / "binance-spot-l2-trades"
CAPTURE = DATA / "btcusdt_20240808.gz"
SYMBOL = "BTC/USDT"
STREAMS = ("btcusdt@trade", "btcusdt@depth@100ms")
KINDS = ("depthUpdate", "trade")
TARGET_US = 20.0  # mdx's own share of the per-frame cost, at most
TRADES_LIMIT = 100_000  # ccxt's trade cache per symbol in the extra live row (ccxt's default: 1000)
IDLE_S = 1.0  # a live run ends this long after its last event when the last frame's event never came
BOOK_TOP = 150  # levels of ccxt's last book kept for book_costs


# -- the recorded frames ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Frames:
    """What the fake plays: the frames as sent (compact JSON), and how a run knows it saw them all."""

    snapshot: dict[str, Any]
    texts: list[tuple[str, str]]  # (kind, frame text) in play order; depth frames in the snapshot left out
    last_trade_id: str
    last_update_id: int

    @property
    def count(self) -> int:
        return len(self.texts)

    def of(self, kind: str) -> list[str]:
        return [text for k, text in self.texts if k == kind]


def load_frames(path: Path, lines: int | None) -> Frames:
    import json

    from tests.fake_binance import FakeBinance

    recording = FakeBinance.load_recording(path, lines)
    snap_id = int(recording.snapshot["lastUpdateId"])
    texts: list[tuple[str, str]] = []
    last_update = snap_id
    for _, _, data in recording.frames:
        kind = data.get("e")
        if kind not in KINDS or (kind == "depthUpdate" and data["u"] <= snap_id):
            continue  # what FakeBinance.play skips too
        if kind == "depthUpdate":
            last_update = int(data["u"])
        texts.append((kind, json.dumps(data, separators=(",", ":"))))
    return Frames(recording.snapshot, texts, str(recording.trade_ids[-1]), last_update)


def replay_copy(path: Path, lines: int | None, folder: Path) -> Path:
    """The capture's snapshot, depth and trade lines (no bookTicker) as a plain-text capture."""
    import gzip

    out = folder / "btcusdt_depth_trades.txt"
    with gzip.open(path, "rb") as src, open(out, "wb") as dst:
        for number, line in enumerate(src):
            if lines is not None and number >= lines:
                break
            if b"@bookTicker" not in line:
                dst.write(line)
    return out


# -- the fake exchange, in a child process ------------------------------------------------------------


async def serve(path: Path, lines: int | None) -> None:
    """Child process: a FakeBinance holding the recording; ``play`` on stdin pushes every frame once the
    client subscribed and prints ``played <frames> <start> <end>`` (perf_counter, the same clock as the
    parent's on Linux: CLOCK_MONOTONIC); the book is then reset to the snapshot for the next client."""
    from tests.fake_binance import FakeBinance

    recording = FakeBinance.load_recording(path, lines)
    loop = asyncio.get_running_loop()
    async with FakeBinance() as fake:
        fake.use_recording(recording)
        print(f"port {fake.port}", flush=True)
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "play":
            await fake.wait_subscribed(*STREAMS, timeout=30.0)
            started = time.perf_counter()
            sent = await fake.play(recording, kinds=KINDS)
            print(f"played {sent} {started} {time.perf_counter()}", flush=True)
            fake.use_recording(recording)


class FakeProcess:
    """The parent's handle on the child serving the fake exchange."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(cls, path: Path, lines: int | None) -> FakeProcess:
        args = [__file__, "--serve", str(path)] + (["--lines", str(lines)] if lines else [])
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        word, port = (await cls._line(process)).split()
        assert word == "port", word
        return cls(process, int(port))

    @staticmethod
    async def _line(process: asyncio.subprocess.Process) -> str:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60.0)
        if not line:
            raise RuntimeError("the fake exchange process ended")
        return line.decode()

    def config(self) -> dict[str, Any]:
        from tests.fake_binance import ccxt_config_for

        base = f"127.0.0.1:{self.port}"
        return ccxt_config_for(f"http://{base}", f"ws://{base}/stream/ws")

    async def play(self) -> tuple[int, float, float]:
        """Push every frame; returns (frames, start, end) as the child timed them."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"play\n")
        await self.process.stdin.drain()
        word, sent, start, end = (await self._line(self.process)).split()
        assert word == "played", word
        return int(sent), float(start), float(end)

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10.0)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


# -- live runs ----------------------------------------------------------------------------------------


class Tracker:
    """Counts the events out of a live run and notes when the last frame's events arrived."""

    def __init__(self, frames: Frames) -> None:
        self.frames = frames
        self.rejections: Rejections | None = None  # the run's, once it started
        self.reset()

    def reset(self) -> None:
        self.events = self.trades = self.books = 0
        self.last_at = 0.0
        self.trade_seen = self.book_seen = False

    def see(self, event: Event) -> None:
        self.last_at = time.perf_counter()
        self.events += 1
        kind = type(event)
        if kind is Trade:
            self.trades += 1
            self.trade_seen = self.trade_seen or event.id == self.frames.last_trade_id  # type: ignore[attr-defined]
        elif kind is BookSnapshot:
            self.books += 1
            self.book_seen = event.seq == self.frames.last_update_id  # type: ignore[attr-defined]

    @property
    def done(self) -> bool:
        return self.trade_seen and self.book_seen


class Probe:
    """A session consumer feeding the tracker."""

    takes = (Trade, BookSnapshot, Quote)

    def __init__(self, tracker: Tracker) -> None:
        self.on_event = tracker.see


@dataclass(frozen=True)
class LiveRun:
    frames: int
    events: int
    trades: int
    books: int
    seconds: float  # the fake's first frame to the last event out
    push_s: float  # the fake's own time to push every frame
    complete: bool  # the last trade and the last book update came out
    rejections: int


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def live_run(
    fake: FakeProcess,
    frames: Frames,
    tracker: Tracker,
    start: Callable[[LiveSource], Awaitable[Any]],
    stop: Callable[[], None],
    profile: cProfile.Profile | None = None,
    ccxt_options: dict[str, Any] | None = None,
) -> LiveRun:
    """One run: a LiveSource on the fake, started by ``start`` (a task consuming it into ``tracker``); the
    fake plays once the REST snapshot's book came out; ends when the last frame's events came out.
    ``ccxt_options``: merged into the ccxt client's ``options``."""
    ccxt_options = ccxt_options or {}
    options = fake.config()
    options["options"] = {**options["options"], **ccxt_options}
    source = LiveSource("binance", [SYMBOL], exchange_options=options, history_bars=0, stall_timeout=None)
    tracker.reset()
    task = asyncio.ensure_future(start(source))
    try:
        await wait_until(lambda: tracker.books > 0 or task.done(), 30.0, "the snapshot book")
        if task.done():
            task.result()
        tracker.reset()
        if profile is not None:
            profile.enable()
        playing = asyncio.ensure_future(fake.play())

        def ended() -> bool:
            if not playing.done():
                return False
            return tracker.done or time.perf_counter() - max(tracker.last_at, playing.result()[2]) > IDLE_S

        await wait_until(ended, 120.0, "the last frame's events")
        if profile is not None:
            profile.disable()
        sent, first, end = playing.result()
        rejections = tracker.rejections
        return LiveRun(
            sent,
            tracker.events,
            tracker.trades,
            tracker.books,
            max(tracker.last_at, end) - first,
            end - first,
            tracker.done,
            rejections.total if rejections is not None else 0,
        )
    finally:
        stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def live_loop(fake: FakeProcess, frames: Frames, ccxt_options: dict[str, Any] | None = None) -> LiveRun:
    """LiveSource.stream consumed by a plain loop."""
    tracker = Tracker(frames)
    rejections = Rejections()

    async def consume(source: LiveSource) -> None:
        tracker.rejections = rejections
        async for event in source.stream(LiveClock(), rejections):
            tracker.see(event)

    return await live_run(fake, frames, tracker, consume, lambda: None, ccxt_options=ccxt_options)


async def live_session(fake: FakeProcess, frames: Frames, profile: cProfile.Profile | None = None) -> LiveRun:
    """The same stream through a Session (default consumers, 1m bars) on this loop."""
    tracker = Tracker(frames)
    sessions: list[Session] = []

    async def run(source: LiveSource) -> None:
        session = Session(source, timeframes=("1m",), consumers=[Probe(tracker)])  # type: ignore[list-item]
        tracker.rejections = session.rejections
        sessions.append(session)
        await session.run()

    def stop() -> None:
        for session in sessions:
            session.stop()

    return await live_run(fake, frames, tracker, run, stop, profile)


# -- replay on the same frames ------------------------------------------------------------------------


def replay_normalize(path: Path) -> int:
    rejections = Rejections()
    n = sum(1 for _ in ReplaySource(path).iter_events(rejections))
    assert rejections.total == 0, rejections
    return n


def replay_session(path: Path) -> int:
    session = Session(ReplaySource(path), timeframes=("1m",), clock=SimulatedClock()).run_until_done()
    assert session.rejections.total == 0, session.rejections
    return session.events_processed


# -- where the time goes: tight loops ----------------------------------------------------------------


class Exhausted(Exception):
    """No frame left: ends the pump under test (not an error mdx knows, so it is not retried)."""


class _Client:
    """The little of a ccxt websocket client that the binance parser touches."""

    url = "ws://127.0.0.1/stream/ws/0"  # ccxt tells spot from futures frames by '/stream' in it

    def __init__(self) -> None:
        self.subscriptions: dict[str, Any] = {}
        self.futures: dict[str, Any] = {}
        self.resolved: set[str] = set()

    def resolve(self, result: Any, message_hash: str) -> Any:
        self.resolved.add(message_hash)
        return result


class Sink:
    """The consumer side of the tight loop: takes the pumps' events off their queue, as ``stream()`` does,
    and runs each through ``Session.process`` at once (timed per event type), so events do not pile up."""

    def __init__(self, queue: asyncio.Queue[Any], session: Session) -> None:
        self.queue = queue
        self.session = session
        self.wall_s = 0.0  # draining, Session.process included
        self.by_kind: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def drain(self) -> None:
        queue, process, clock, by_kind = self.queue, self.session.process, time.perf_counter, self.by_kind
        started = clock()
        while not queue.empty():
            item = queue.get_nowait()
            if isinstance(item, Exception):
                raise item
            for event in item if type(item) is list else (item,):  # a pump queues a watch's events at once
                before = clock()
                process(event)
                tally = by_kind[type(event).__name__]
                tally[0] += 1
                tally[1] += clock() - before
        self.wall_s += clock() - started

    @property
    def session_s(self) -> float:
        return sum(seconds for _, seconds in self.by_kind.values())


class ReplayedExchange:
    """Stands in for the ccxt.pro exchange in LiveSource's pumps: ``watch_trades`` / ``watch_order_book``
    first let the sink take what the pump queued, then feed the next frames of their kind to the real ccxt
    client's ``handle_message`` (decoded as ccxt's client does, orjson) until ccxt resolves that watch, and
    return what ccxt's watch returns. ccxt's part — the whole stand-in call but the sink's drain: decoding,
    ``handle_message``, picking the result — is timed apart (``ccxt_s``), and so is the sink's: the pump's
    wall time less both is mdx's source work."""

    has: ClassVar[dict[str, bool]] = dict.fromkeys(
        ("watchTrades", "watchOrderBook", "fetchTrades", "fetchOrderBook"), True
    )

    def __init__(self, exchange: Any, frames: Frames, sink: Sink) -> None:
        self.exchange = exchange
        self.sink = sink
        self.client = _Client()
        self.trade_texts = iter(frames.of("trade"))
        self.depth_texts = iter(frames.of("depthUpdate"))
        self.ccxt_s = 0.0

    def _feed(self, texts: Iterator[str], message_hash: str) -> None:
        client, handle = self.client, self.exchange.handle_message
        client.resolved.clear()
        try:
            while message_hash not in client.resolved:
                handle(client, loads(next(texts)))
        except StopIteration:
            raise Exhausted from None

    async def watch_trades(self, symbol: str, *_: Any) -> Any:
        self.sink.drain()
        started = time.perf_counter()
        try:
            self._feed(self.trade_texts, f"trade::{symbol}")
            return self.exchange.trades[symbol][-1:]  # newUpdates: the trades since the last call
        finally:
            self.ccxt_s += time.perf_counter() - started

    async def watch_order_book(self, symbol: str, *_: Any) -> Any:
        self.sink.drain()
        started = time.perf_counter()
        try:
            self._feed(self.depth_texts, f"orderbook::{symbol}")
            return self.exchange.orderbooks[symbol]
        finally:
            self.ccxt_s += time.perf_counter() - started


@dataclass(frozen=True)
class Breakdown:
    trade_frames: int
    depth_frames: int
    ccxt_trade_s: float
    ccxt_depth_s: float
    mdx_trade_s: float  # the trade pump's time less ccxt's and the sink's
    mdx_book_s: float
    queue_s: float  # taking every event off the pumps' queue
    events: int
    books: int
    session_s: float  # Session.process on every event
    session_by_kind: dict[str, tuple[int, float]]  # event type -> (events, seconds) of Session.process
    last_book: tuple[list[list[float]], list[list[float]]]  # the top of ccxt's book at the end (bids, asks)


async def breakdown(fake: FakeProcess, frames: Frames, profile: cProfile.Profile | None = None) -> Breakdown:
    """The tight loops: the trade pump on every trade frame, then the book pump on every depth frame, their
    events through a Session as they come; with ``profile``, profiled (the figures are then inflated)."""
    import ccxt.pro as ccxtpro

    exchange = ccxtpro.binance({**fake.config(), "newUpdates": True})
    try:
        await exchange.load_markets()
        snapshot = exchange.parse_order_book(frames.snapshot, SYMBOL)
        snapshot["nonce"] = int(frames.snapshot["lastUpdateId"])  # as ccxt's fetch_order_book sets it
        book = exchange.order_book({}, 1000)
        book.reset(snapshot)
        exchange.orderbooks[SYMBOL] = book
        source = LiveSource("binance", [SYMBOL], exchange_options=fake.config(), history_bars=0)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        session = Session(source, timeframes=("1m",))
        sink = Sink(queue, session)
        stand_in = ReplayedExchange(exchange, frames, sink)
        clock, rejections = LiveClock(), Rejections()
        spans: list[tuple[float, float]] = []
        gc.collect()
        if profile is not None:
            profile.enable()
        for pump in (source._pump_trades, source._pump_book):
            ccxt_before, sink_before = stand_in.ccxt_s, sink.wall_s
            started = time.perf_counter()
            with contextlib.suppress(Exhausted):
                await pump(stand_in, SYMBOL, clock, rejections, queue)
            sink.drain()
            wall = time.perf_counter() - started
            ccxt_s = stand_in.ccxt_s - ccxt_before
            spans.append((ccxt_s, wall - ccxt_s - (sink.wall_s - sink_before)))
        if profile is not None:
            profile.disable()
        top = (
            [list(level) for level in book["bids"][:BOOK_TOP]],
            [list(level) for level in book["asks"][:BOOK_TOP]],
        )
    finally:
        await exchange.close()
    assert rejections.total == 0, rejections
    assert session.rejections.total == 0, session.rejections
    (ccxt_trade, mdx_trade), (ccxt_depth, mdx_book) = spans
    by_kind = {kind: (int(n), seconds) for kind, (n, seconds) in sink.by_kind.items()}
    return Breakdown(
        len(frames.of("trade")),
        len(frames.of("depthUpdate")),
        ccxt_trade,
        ccxt_depth,
        mdx_trade,
        mdx_book,
        sink.wall_s - sink.session_s,
        sum(n for n, _ in by_kind.values()),
        by_kind.get("BookSnapshot", (0, 0.0))[0],
        sink.session_s,
        by_kind,
        top,
    )


def book_costs(bids: list[list[float]], asks: list[list[float]]) -> list[tuple[str, float]]:
    """µs per depth frame of the book path's parts, on one real book (timeit, best of 7)."""
    from mdx.market.book import OrderBook

    source = LiveSource("binance", [SYMBOL])
    levels = source.book_levels
    (bid_levels, _), (ask_levels, _) = levels(bids, descending=True), levels(asks, descending=False)
    snapshot = BookSnapshot("binance", SYMBOL, 1, 1, 1, bid_levels, ask_levels)
    plain = BookSnapshot("binance", SYMBOL, 1, 1, 1, tuple(bid_levels), tuple(ask_levels))
    book, plain_book, scratch = (OrderBook("binance", SYMBOL) for _ in range(3))
    book.apply(snapshot)
    plain_book.apply(plain)
    depth = Session(source).book_keeper.depth

    def us(fn: Callable[[], object]) -> float:
        return min(timeit.repeat(fn, number=500, repeat=7)) / 500 * 1e6

    def arrays() -> object:
        view = book.view(depth)
        return view.bids, view.asks

    return [
        (
            f"LiveSource.book_levels, both sides (depth {source.depth})",
            us(lambda: (levels(bids, descending=True), levels(asks, descending=False))),
        ),
        ("OrderBook.apply(BookSnapshot), levels the source checked", us(lambda: scratch.apply(snapshot))),
        ("OrderBook.apply(BookSnapshot), plain tuples (a recording's)", us(lambda: scratch.apply(plain))),
        ("  of which OrderBook._check_levels", us(lambda: scratch._check_levels(plain, "snapshot"))),
        (f"OrderBook.view({depth}), sharing the checked snapshot's levels", us(lambda: book.view(depth))),
        (f"OrderBook.view({depth}), read off the book's sides", us(lambda: plain_book.view(depth))),
        ("  and both sides as arrays (on a chart's first read)", us(arrays) - us(lambda: book.view(depth))),
    ]


# -- where the time goes: a profile of the live run ----------------------------------------------------

GROUPS = (
    ("ccxt", ("/ccxt/",)),
    ("mdx", (str(ROOT / "mdx") + os.sep,)),
    ("websocket (aiohttp)", ("/aiohttp/", "/yarl/", "/multidict/", "/propcache/")),
    ("asyncio loop", ("/asyncio/", "selectors.py")),
)


def group_of(filename: str) -> str:
    for name, marks in GROUPS:
        if any(mark in filename for mark in marks):
            return name
    return "other"


def profile_groups(profile: cProfile.Profile) -> dict[str, float]:
    """Exclusive time per package; a builtin's time goes to the packages calling it, pro rata."""
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    groups: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, own, _, callers) in stats.items():
        if filename != "~" or not callers:
            groups[group_of(filename)] += own
            continue
        total = sum(caller[2] for caller in callers.values()) or 1.0
        for (caller_file, _, _), caller in callers.items():
            groups[group_of(caller_file)] += own * caller[2] / total
    return dict(groups)


def hot_spots(profile: cProfile.Profile, top: int) -> list[tuple[str, int, float]]:
    """The ``top`` mdx functions by exclusive time, each charged the builtins it calls."""
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    mdx = str(ROOT / "mdx") + os.sep
    own: dict[tuple[str, int, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for key, (_, calls, tottime, _, callers) in stats.items():
        if key[0].startswith(mdx):
            own[key][0] += calls
            own[key][1] += tottime
        elif key[0] == "~":
            for caller, (_, _, caller_tt, _) in callers.items():
                if caller[0].startswith(mdx):
                    own[caller][1] += caller_tt
    ranked = sorted(own.items(), key=lambda item: -item[1][1])[:top]
    return [
        (f"{Path(file).relative_to(ROOT)}:{line} {func}", int(calls), seconds)
        for (file, line, func), (calls, seconds) in ranked
    ]


# -- the report ------------------------------------------------------------------------------------


def fastest(runs: list[Breakdown]) -> Breakdown:
    """Each figure's best over ``runs`` (a busy machine slows one stage of one run, not all of them)."""
    first = runs[0]
    by_kind = {
        kind: (n, min(run.session_by_kind[kind][1] for run in runs))
        for kind, (n, _) in first.session_by_kind.items()
    }
    floats = {
        f.name: min(getattr(run, f.name) for run in runs)
        for f in dataclasses.fields(Breakdown)
        if f.type == "float" and f.name != "session_s"
    }
    session_s = sum(seconds for _, seconds in by_kind.values())
    return dataclasses.replace(first, **floats, session_s=session_s, session_by_kind=by_kind)


def best(runs: list[LiveRun]) -> LiveRun:
    return min(runs, key=lambda run: run.seconds / max(run.frames, 1))


def timed(fn: Callable[[], int], repeat: int) -> tuple[int, float]:
    best_s, n = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        n = fn()
        best_s = min(best_s, time.perf_counter() - started)
    return n, best_s


async def bench(args: argparse.Namespace) -> None:
    lines = args.lines
    print(f"loading {CAPTURE.name}{f' (first {lines} lines)' if lines else ''} ...", flush=True)
    frames = load_frames(CAPTURE, lines)
    n_trades, n_depth = len(frames.of("trade")), len(frames.of("depthUpdate"))
    print(f"{frames.count:,} frames: {n_trades:,} trades, {n_depth:,} depth updates (bookTicker left out)")
    fake = await FakeProcess.start(CAPTURE, lines)
    try:
        loops = [await live_loop(fake, frames) for _ in range(args.repeat)]
        sessions = [await live_session(fake, frames) for _ in range(args.repeat)]
        parts = fastest([await breakdown(fake, frames) for _ in range(args.repeat)])
        unlimited = await live_loop(fake, frames, {"tradesLimit": TRADES_LIMIT})
        tight_profile = cProfile.Profile()
        await breakdown(fake, frames, tight_profile)
        profile: cProfile.Profile | None = None
        profiled: LiveRun | None = None
        if args.profile:
            profile = cProfile.Profile()
            profiled = await live_session(fake, frames, profile)
    finally:
        await fake.stop()
    with tempfile.TemporaryDirectory() as folder:
        copy = replay_copy(CAPTURE, lines, Path(folder))
        replay_n, replay_s = timed(lambda: replay_normalize(copy), args.repeat)
        replay_session_n, replay_session_s = timed(lambda: replay_session(copy), args.repeat)

    n = frames.count
    loop, session = best(loops), best(sessions)
    print()
    print(
        f"{'path':<30}{'frames':>8}{'events':>8}{'trades':>8}{'books':>7}{'seconds':>9}{'frames/s':>10}"
        f"{'µs/frame':>10}"
    )

    def row(name: str, count: int, events: object, trades: object, books: object, seconds: float) -> None:
        rate = count / seconds
        print(
            f"{name:<30}{count:>8,}{events:>8}{trades:>8}{books:>7}{seconds:>9.3f}{rate:>10,.0f}"
            f"{1e6 / rate:>10.1f}"
        )

    push = min(run.push_s for run in [*loops, *sessions, unlimited])
    row("fake push alone", n, "", n_trades, n_depth, push)
    live_rows = (
        ("live: stream loop", loop),
        ("live: Session", session),
        (f"live: loop, tradesLimit {TRADES_LIMIT // 1000}k", unlimited),
    )
    for name, run in live_rows:
        row(name, run.frames, run.events, run.trades, run.books, run.seconds)
    row("replay: normalize", n, replay_n, "", "", replay_s)
    row("replay: Session", n, replay_session_n, "", "", replay_session_s)
    print(f"(live rows: best of {args.repeat}; every run, frames/s: loop "
          f"{', '.join(f'{r.frames / r.seconds:,.0f}' for r in loops)}; session "
          f"{', '.join(f'{r.frames / r.seconds:,.0f}' for r in sessions)})")  # fmt: skip
    for name, run in live_rows:
        if not run.complete or run.rejections:
            print(f"  ! {name}: the last trade and book update came out: {run.complete}; "
                  f"rejections {run.rejections}")  # fmt: skip
        if run.trades < n_trades:
            print(
                f"  ! {name}: {n_trades - run.trades:,} of {n_trades:,} trades LOST: ccxt keeps the last "
                "tradesLimit trades per symbol (1000 by default) and the consumer fell further behind"
            )

    p = parts
    frames_n = p.trade_frames + p.depth_frames
    mdx_pumps = p.mdx_trade_s + p.mdx_book_s + p.queue_s
    ccxt_s = p.ccxt_trade_s + p.ccxt_depth_s
    print()
    print(f"where the time goes (tight loops on the same frames, best of {args.repeat}; µs per frame of that")
    print("kind, and per frame overall)")
    print(f"{'stage':<36}{'trade':>9}{'depth':>9}{'per frame':>11}")

    def part(name: str, trade_s: float | None, depth_s: float | None, total_s: float) -> None:
        t = f"{trade_s / p.trade_frames * 1e6:9.1f}" if trade_s is not None else " " * 9
        d = f"{depth_s / p.depth_frames * 1e6:9.1f}" if depth_s is not None else " " * 9
        print(f"{name:<36}{t}{d}{total_s / frames_n * 1e6:>11.1f}")

    part("ccxt decode + handle_message", p.ccxt_trade_s, p.ccxt_depth_s, ccxt_s)
    part("mdx pumps (normalize, queue in)", p.mdx_trade_s, p.mdx_book_s, p.mdx_trade_s + p.mdx_book_s)
    part("mdx queue out", None, None, p.queue_s)
    part(f"mdx Session.process ({p.events:,} events)", None, None, p.session_s)
    mdx_live = mdx_pumps
    mdx_all = mdx_pumps + p.session_s
    print(f"{p.books:,} book snapshots from {p.depth_frames:,} depth frames (one per frame: no coalescing)")
    per_kind = ", ".join(
        f"{kind} {seconds / n * 1e6:.1f} µs x {n:,}"
        for kind, (n, seconds) in sorted(p.session_by_kind.items())
    )
    print(f"Session.process per event: {p.session_s / p.events * 1e6:.1f} µs ({per_kind})")
    print("the book path's parts, µs per depth frame (timeit on the last book):")
    for name, cost in book_costs(*p.last_book):
        print(f"  {name:<62}{cost:>7.1f}")
    verdict = "meets" if mdx_all / frames_n * 1e6 <= TARGET_US else "MISSES"
    print(
        f"mdx's share per frame: {mdx_live / frames_n * 1e6:.1f} µs (source) + "
        f"{p.session_s / frames_n * 1e6:.1f} µs (session) = {mdx_all / frames_n * 1e6:.1f} µs; "
        f"ccxt {ccxt_s / frames_n * 1e6:.1f} µs -> mdx {verdict} the {TARGET_US:g} µs target"
    )

    print()
    print("mdx hot spots in the tight loops (cProfile: exclusive time + the builtins called; inflated)")
    print(f"{'function':<58}{'calls':>9}{'seconds':>9}{'µs/frame':>10}")
    for name, calls, seconds in hot_spots(tight_profile, args.hot):
        print(f"{name:<58}{calls:>9,}{seconds:>9.3f}{seconds / frames_n * 1e6:>10.1f}")

    if profile is not None and profiled is not None:
        groups = profile_groups(profile)
        total = sum(groups.values())
        print()
        print(
            f"cProfile of one live Session run ({profiled.frames:,} frames, {profiled.events:,} events, "
            f"{profiled.seconds:.2f} s profiled; exclusive time)"
        )
        print(f"{'package':<24}{'seconds':>9}{'share':>8}{'µs/frame':>10}")
        for name, seconds in sorted(groups.items(), key=lambda item: -item[1]):
            print(f"{name:<24}{seconds:>9.3f}{seconds / total:>8.0%}{seconds / profiled.frames * 1e6:>10.1f}")
        if args.top:
            print()
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(args.top)
    print()
    print("2 shared cores: other work on the machine may disturb these figures")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=None, help="read only the capture's first N lines")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--top", type=int, default=0, help="also print the live profile's top N functions")
    parser.add_argument("--hot", type=int, default=10, help="mdx hot spots listed (default 10)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the child process serving the fake
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve, args.lines))
        return
    if not CAPTURE.exists():
        print(f"skipped: {CAPTURE} is missing (recorded data lives in ../shared/data; see its README)")
        return
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
