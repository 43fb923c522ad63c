"""Scale-out on Redis: one collector publishes, many consumer sessions read (``mdx.sources.redis``).

Real ``redis-server`` processes (``tests/redis_server.py``), a seeded simulator with a fixed start as the
collector's source, and consumers that are ordinary sessions over ``RedisSource``. Waits are on
conditions with generous timeouts, never on wall-clock windows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from mdx.backoff import Backoff
from mdx.cli import main
from mdx.clock import SimulatedClock
from mdx.config import Settings, redact_url
from mdx.consumer import Consumer
from mdx.events import BookDelta, BookSnapshot, Quote, Trade
from mdx.session import Session
from mdx.sources import make_source
from mdx.sources.redis import Collector, RedisSource, StreamIds
from mdx.sources.redis.keys import CHANNELS, parse_id
from mdx.sources.sim.simulator import Simulator
from mdx.stats import Rejections
from tests.redis_server import RedisServer, redis_binary

START_NS = 1_700_000_000_000_000_000
SYMBOLS = ("BTC/USDT", "ETH/USDT")
FAST = Backoff(initial=0.05, factor=2.0, cap=0.3)
StreamName = tuple[str, str, str]


class Recorder(Consumer):
    """Keeps every source event a session accepted, in order."""

    takes = (Trade, BookSnapshot, BookDelta, Quote)

    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)


def by_stream(events: Iterable[Any]) -> dict[StreamName, list[Any]]:
    """Events per (exchange, symbol, channel): the order a Redis stream keeps."""
    streams: dict[StreamName, list[Any]] = defaultdict(list)
    for event in events:
        streams[(event.exchange, event.symbol, CHANNELS[type(event)])].append(event)
    return dict(streams)


def simulator(speed: float = float("inf"), history: str = "0") -> Simulator:
    return Simulator(SYMBOLS, seed=11, start_ns=START_NS, speed=speed, history=history)


def reference(n: int) -> list[Any]:
    """The first ``n`` events a session accepts from the same simulator, run offline."""
    recorder = Recorder()
    session = Session(simulator(), timeframes=(), clock=SimulatedClock(), consumers=[recorder])
    session.run_until_done(max_events=n)
    return recorder.events


def consumer(url: str, *, start: str = "first", timeframes: tuple[str, ...] = ()) -> tuple[Session, Recorder]:
    recorder = Recorder()
    source = RedisSource(
        url, SYMBOLS, start=start, backoff=FAST, block_ms=200, history_ns=0 if start == "first" else None
    )
    return Session(source, timeframes=timeframes, consumers=[recorder]), recorder


def collect(url: str, max_events: int, **options: Any) -> Collector:
    """Run a collector over the simulator until it processed ``max_events`` and wrote them (no book
    keyframes unless asked: the streams then hold exactly the simulator's events)."""
    options = {"timeframes": (), "keyframe_s": 0.0, **options}
    collector = Collector(options.pop("source", None) or simulator(), url, **options)
    asyncio.run(collector.run(max_events=max_events))
    assert collector.drained
    return collector


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.02)


def caught_up(reader: Session, writer: Session, key: tuple[str, str]) -> bool:
    """The reader's book is at the (finished) writer's last update, with its last quote and trade. Reads
    an int and cached values of a running session: enough to wait on once nothing more comes."""
    book = reader.books.get(key)
    return (
        book is not None
        and book.seq == writer.books[key].seq
        and reader.cache.quote(key) == writer.cache.quote(key)
        and reader.cache.trade(key) == writer.cache.trade(key)
    )


def stop_all(sessions: Iterable[Session]) -> None:
    for session in sessions:
        assert session.stop(10)


# -- names, ids, settings ------------------------------------------------------------------------------


def test_stream_ids_follow_receive_time_and_never_go_back() -> None:
    ids = StreamIds()
    assert ids.next("s", 5_000_123_456) == (5000, 0)
    assert ids.next("s", 5_000_999_999) == (5000, 1)
    assert ids.next("s", 4_000_000_000) == (5000, 2)  # a receive time behind: still after the last id
    assert ids.next("s", 6_000_000_000) == (6000, 0)
    assert ids.next("other", 5_000_000_000) == (5000, 0)
    assert parse_id(b"1700000000000-3") == (1_700_000_000_000, 3)


def test_redis_urls_select_the_redis_source_and_never_show_their_password() -> None:
    url = "redis://:hunter2-secret@127.0.0.1:6390/2"
    assert redact_url(url) == "redis://***@127.0.0.1:6390/2"
    assert redact_url("rediss://user:pw@cache.example:6380/0") == "rediss://***@cache.example:6380/0"
    assert redact_url("sim") == "sim"
    settings = Settings(source=url, symbols=("BTC/USDT",), redis_url=url)
    assert settings.source_kind == "redis" and settings.live_exchanges == ()
    assert Settings(source="rediss://h:1/0").source_kind == "redis"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)
    assert "hunter2" not in repr(settings.to_env()) and settings.to_env()["MDX_SOURCE"] == url
    source = make_source(settings)
    assert isinstance(source, RedisSource)
    assert source.name == "redis://***@127.0.0.1:6390/2" and "hunter2" not in repr(source)


# -- many consumers, one collector ---------------------------------------------------------------------


def test_twenty_consumers_see_the_collectors_events_once_and_in_order_across_a_restart(
    redis_url: str,
) -> None:
    consumers = [consumer(redis_url) for _ in range(20)]
    for session, _ in consumers:
        session.start()
    first = collect(redis_url, 3000)
    assert first.publisher.published == 3000 and first.publisher.skipped == 0
    # a restart sees the same events again: the 3000 Redis has are skipped, their ids are not reused
    second = collect(redis_url, 7000)
    assert second.publisher.skipped == 3000 and second.publisher.published == 4000
    try:
        expected = by_stream(reference(7000))
        for _, recorder in consumers:
            wait_until(lambda r=recorder: len(r.events) >= 7000, what="7000 events at every consumer")
        time.sleep(0.3)  # nothing more may come: no duplicate is on its way
        for session, recorder in consumers:
            assert len(recorder.events) == 7000
            assert by_stream(recorder.events) == expected
            for symbol in SYMBOLS:
                assert session.cache.book(("sim", symbol)).in_sync
            assert session.status.state in ("connected", "stale")
    finally:
        stop_all(session for session, _ in consumers)


def test_a_late_joiner_starts_from_the_latest_values_and_the_last_bars(redis_url: str) -> None:
    options = {"timeframes": ("1m",), "bars_kept": 30, "heartbeat_s": 0.2}
    source = simulator(history="1h")
    collector = Collector(source, redis_url, timeframes=("1m",), bars_kept=30)
    asyncio.run(collector.run(max_events=20_000))
    assert collector.drained
    done = collector.session
    late, _ = consumer(redis_url, start="latest", timeframes=("1m",))
    late.start()
    try:
        for symbol in SYMBOLS:
            key = ("sim", symbol)
            # the latest values: the collector's whole book, its last quote and trade
            wait_until(lambda k=key: caught_up(late, done, k), what="the latest values")
            assert late.books[key].in_sync
            assert (late.books[key].view(20).bids == done.books[key].view(20).bids).all()
            assert (late.books[key].view(20).asks == done.books[key].view(20).asks).all()
            # the last N closed bars, as the collector built them
            bars = late.cache.bars(key, "1m")
            assert len(bars) == 30
            assert bars == done.cache.bars(key, "1m")[-30:]
        assert late.history_loaded[late.names[0]] == 60
        assert late.exchanges == ("sim",)  # found in the collector's market list
        # the collector comes back and goes on: the deltas chain onto the view the joiner started from
        more = collect(redis_url, 25_000, **options)
        for symbol in SYMBOLS:
            key = ("sim", symbol)
            wait_until(lambda k=key: caught_up(late, more.session, k), what="the values after")
            assert late.books[key].in_sync
        assert late.rejections.by_reason.get("BookOutOfSync", 0) == 0
        # no collector any more: once its heartbeat key is gone, the status says so
        wait_until(lambda: late.status.state == "stale", what="the stale status")
        assert late.status.reason.startswith("no collector is publishing on redis://127.0.0.1:")
    finally:
        stop_all([late])


def test_book_keyframes_resync_consumers_after_a_restart_on_new_update_ids(redis_url: str) -> None:
    first = collect(redis_url, 3000, keyframe_s=10.0)
    session, _ = consumer(redis_url, start="latest")
    session.start()
    key = ("sim", "BTC/USDT")
    try:
        wait_until(lambda: session.cache.book(key) is not None, what="the joiner's book")
        # a new market whose update ids start over, below the consumer's book: deltas cannot chain
        newer = Simulator(SYMBOLS, seed=12, start_ns=START_NS + 60 * 10**9, speed=float("inf"), history="0")
        starts = (
            e
            for e in newer.iter_events(Rejections())
            if isinstance(e, BookSnapshot) and e.symbol == "BTC/USDT"
        )
        assert next(starts).seq < first.session.cache.book(key).seq
        second = collect(redis_url, 20_000, source=newer, keyframe_s=10.0)
        wait_until(lambda: caught_up(session, second.session, key), what="the resynced book")
        assert session.books[key].in_sync
        assert (session.books[key].view(10).asks == second.session.books[key].view(10).asks).all()
        assert session.rejections.by_reason["BookOutOfSync"] > 0  # it was out of sync, and said so
    finally:
        stop_all([session])


# -- outages -------------------------------------------------------------------------------------------


def test_a_redis_outage_is_survived_by_collector_and_consumers_with_the_right_status(
    redis_server: RedisServer,
) -> None:
    url = redis_server.url
    consumers = [consumer(url) for _ in range(3)]
    for session, _ in consumers:
        session.start()
    collector = Collector(simulator(speed=4.0), url, timeframes=(), backoff=FAST, keyframe_s=0.0)
    collector.start()
    try:
        for _, recorder in consumers:
            wait_until(lambda r=recorder: len(r.events) >= 500, what="events before the outage")
        redis_server.stop()
        wait_until(lambda: collector.publisher.state == "reconnecting", what="the collector's status")
        assert "unreachable" in collector.publisher.reason
        for session, _ in consumers:
            wait_until(lambda s=session: s.status.state == "reconnecting", what="a consumer's status")
            status = session.status
            assert status.reason.startswith(f"redis {url} unreachable") and status.attempt >= 1
            assert status.next_retry_ns > 0
        held = collector.session.events_processed
        wait_until(lambda: collector.publisher.pending > 200, what="events buffered during the outage")
        assert collector.session.events_processed > held  # the source went on
        redis_server.start()  # an empty Redis: it was not persisted
        wait_until(lambda: collector.publisher.state == "connected", what="the collector back")
        for session, _ in consumers:
            wait_until(lambda s=session: s.status.state == "connected", what="a consumer back")
        resumed = collector.session.events_processed
        wait_until(lambda: collector.session.events_processed > resumed + 500, what="events after")
        assert collector.stop()
        assert collector.drained and collector.publisher.dropped == 0
        total = collector.session.events_processed
        expected = by_stream(reference(total))
        for _, recorder in consumers:
            wait_until(lambda r=recorder: len(r.events) >= total, what=f"{total} events at a consumer")
        time.sleep(0.3)
        for _, recorder in consumers:
            assert by_stream(recorder.events) == expected  # nothing lost, nothing twice
    finally:
        collector.stop()
        stop_all(session for session, _ in consumers)


def test_a_password_in_the_url_never_shows_in_logs_statuses_or_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "pw-Zq81-never-shown"
    server = RedisServer(redis_binary(), tmp_path, password=secret)
    server.start()
    caplog.set_level(logging.DEBUG)
    url = server.url
    wrong = url.replace(secret, "wrong-Pass-77")
    session, recorder = consumer(url)
    intruder, _ = consumer(wrong)
    sessions = [session, intruder]
    try:
        for s in sessions:
            s.start()
        assert main(["collect", "--source", "sim", "--symbols", ",".join(SYMBOLS), "--speed", "20",
                     "--history", "0", "--redis", url, "--seconds", "2"]) == 0  # fmt: skip
        out = capsys.readouterr()
        assert "published" in out.out and "redis://***@127.0.0.1" in out.out
        wait_until(lambda: len(recorder.events) > 100, what="events through a password-protected Redis")
        wait_until(lambda: intruder.status.state == "reconnecting", what="the wrong password's status")
        assert "authentication failed" in intruder.status.reason
        server.stop()
        wait_until(lambda: session.status.state == "reconnecting", what="the outage status")
        reasons = [s.status.reason for s in sessions]
        server.start()
        wait_until(lambda: session.status.state in ("connected", "connecting", "stale"), what="back")
        shown = [caplog.text, out.out, out.err, *reasons, *(repr(s.sources[0]) for s in sessions)]
        shown += [s.name for s in sessions] + [repr(Settings(source=url))]
        for text in shown:
            assert secret not in text and "wrong-Pass-77" not in text
        assert any(f"redis://***@127.0.0.1:{server.port}/0" in r for r in reasons)
    finally:
        stop_all(sessions)
        server.stop()


def test_collect_needs_a_redis_url_and_does_not_read_redis(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MDX_REDIS_URL", raising=False)
    assert main(["collect", "--source", "sim"]) == 2
    assert "collect needs --redis" in capsys.readouterr().err
    url = "redis://:hunter2@127.0.0.1:1/0"
    assert main(["collect", "--source", url, "--redis", url]) == 2
    err = capsys.readouterr().err
    assert "does not read Redis" in err and "hunter2" not in err
