"""Backfill against the loopback fake exchange: the real ccxt client pages Binance klines and aggregate
trades into a real SQLite store; interruptions, repeats, holes in the history and HTTP 429."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mdx import cli
from mdx.backoff import Backoff
from mdx.clock import SimulatedClock
from mdx.errors import ConfigError, ExchangeUnreachable, RateLimited, SourceError, UnknownSymbol
from mdx.store.backfill import BackfillReport, backfill, run_backfill, to_ms
from mdx.store.store import Store
from tests.fake_binance import FakeBinance, agg_trade, ccxt_config_for, kline

pytestmark = pytest.mark.timeout(60)

T0 = 1_723_075_200_000  # 2024-08-08 00:00 UTC, in ms
MINUTE = 60_000
SYMBOL = "BTC/USDT"
NOW_NS = (T0 + 10 * 24 * 60 * MINUTE) * 1_000_000  # ten days on: every bar below is closed
TINY = Backoff(initial=0.01, factor=2.0, cap=0.05, jitter=0.0)


def run(coro: Any, timeout: float = 45.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def minute_klines(count: int, skip: range | tuple[range, ...] = ()) -> list[list]:
    """``count`` 1m klines from T0 (bar i: open 100 + i % 50, 3 + i % 7 trades), the minutes in ``skip``
    left out (holes in the exchange's history)."""
    holes = skip if isinstance(skip, tuple) else (skip,)
    rows = []
    for i in range(count):
        if any(i in hole for hole in holes):
            continue
        o = 100.0 + i % 50
        rows.append(
            kline(T0 + i * MINUTE, "1m", (o, o + 2, o - 1, o + 1), 2.0, trades=3 + i % 7, taker_buy=0.5)
        )
    return rows


def agg_trades(count: int, step_ms: int = 700, first_id: int = 1, skip_ids: range = range(0)) -> list[dict]:
    """``count`` aggregate trades from T0, ``step_ms`` apart, ids from ``first_id`` (but ``skip_ids``)."""
    return [
        agg_trade(first_id + i, T0 + i * step_ms, 100.0 + i % 13, 0.25 + i % 3, buyer_is_maker=i % 2 == 1)
        for i in range(count)
        if first_id + i not in skip_ids
    ]


async def fill(
    fake: FakeBinance, store: Store, since: int = T0, until: int | None = None, **kwargs: Any
) -> BackfillReport:
    kwargs.setdefault("clock", SimulatedClock(NOW_NS))
    kwargs.setdefault("backoff", TINY)
    kwargs.setdefault("ccxt_config", fake.ccxt_config(rateLimit=1))
    return await backfill(store, "binance", SYMBOL, "1m", since, until, **kwargs)


def bars_of(store: Store) -> pd.DataFrame:
    return store.bars(SYMBOL, "1m", exchange="binance", source="exchange")


def starts(requests: list[dict[str, str]]) -> list[int]:
    return [int(q["startTime"]) for q in requests]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "market.db") as opened:
        yield opened


def other_store(tmp_path: Path, name: str) -> Store:
    return Store(tmp_path / name)


# -- paging -----------------------------------------------------------------------------------------


def test_pages_of_at_most_1000_cover_the_range_as_exchange_built_bars(store: Store) -> None:
    async def main() -> BackfillReport:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines(3000))
            report = await fill(fake, store, until=T0 + 2500 * MINUTE)
            # each page starts one minute after the last bar of the one before; the end is asked for
            assert starts(fake.kline_requests()) == [T0, T0 + 1000 * MINUTE, T0 + 2000 * MINUTE]
            assert {q["limit"] for q in fake.kline_requests()} == {"1000"}
            assert {int(q["endTime"]) for q in fake.kline_requests()} == {T0 + 2500 * MINUTE - 1}
            return report

    report = run(main())
    bars = bars_of(store)
    assert len(bars) == 2500 and report.bars_stored == 2500 and report.bars_duplicates == 0
    opens = bars.index.asi8 // 1_000_000
    assert (
        opens[0] == T0
        and opens[-1] == T0 + 2499 * MINUTE
        and (pd.Series(opens).diff().dropna() == MINUTE).all()
    )
    row = bars.iloc[17]  # Binance's own klines: quote volume, trade count and taker buys kept
    assert (row["open"], row["high"], row["low"], row["close"], row["volume"]) == (
        117.0,
        119.0,
        116.0,
        118.0,
        2.0,
    )
    assert (row["count"], row["buy_volume"], row["sell_volume"]) == (3 + 17 % 7, 0.5, 1.5)
    assert math.isclose(row["vwap"], 118.0)
    assert store.bars(SYMBOL, "1m", source="mdx").empty  # exchange-built, not mdx-built
    assert (report.first_bar_ms, report.last_bar_ms, report.gaps) == (T0, T0 + 2499 * MINUTE, ())
    assert (report.requests, report.retries, report.resumed_from_ms) == (3, 0, None)


def test_plain_ohlcv_pages_the_same_way_for_exchanges_without_native_klines(store: Store) -> None:
    async def main() -> BackfillReport:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines(1200, skip=range(600, 610)))
            report = await fill(fake, store, until=T0 + 1200 * MINUTE, native_klines=False, page_limit=500)
            # ccxt's fetch_ohlcv with since, limit and until: the same paging
            assert starts(fake.kline_requests()) == [T0, T0 + 500 * MINUTE, T0 + 1010 * MINUTE]
            return report

    report = run(main())
    bars = bars_of(store)
    assert len(bars) == report.bars_stored == 1190 and report.gaps == (
        (T0 + 600 * MINUTE, T0 + 610 * MINUTE),
    )
    # OHLCV says nothing of quote volume, VWAP, buys or the trade count: unknown, not invented
    assert bars["vwap"].isna().all() and bars["buy_volume"].isna().all() and (bars["count"] == 0).all()


def test_only_closed_bars_are_fetched_when_until_is_left_open(store: Store) -> None:
    async def main() -> BackfillReport:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines(30))
            now = (T0 + 20 * MINUTE + 30_000) * 1_000_000  # half-way through minute 20
            return await fill(fake, store, clock=SimulatedClock(now))

    report = run(main())
    assert len(bars_of(store)) == 20 and report.last_bar_ms == T0 + 19 * MINUTE  # minute 20 is still open
    assert report.until_ms == T0 + 20 * MINUTE + 30_000


# -- resuming -----------------------------------------------------------------------------------------


def test_a_resumed_backfill_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    until = T0 + 2600 * MINUTE
    klines = minute_klines(2600, skip=range(1500, 1520))
    trades = agg_trades(4000, step_ms=500)  # 1000 a page: pages end inside the hour-long windows
    whole, broken = other_store(tmp_path, "whole.db"), other_store(tmp_path, "broken.db")

    async def main() -> tuple[BackfillReport, BackfillReport, list[int], list[int]]:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", klines)
            fake.set_agg_trades("BTCUSDT", trades)
            uninterrupted = await fill(fake, whole, until=until, trades=True)
            # interrupted: the third klines page is refused with a final error (400, not retried)
            fake.requests.clear()
            fake.fail_rest("/api/v3/klines", times=1, status=400, after=2)
            with pytest.raises(SourceError, match="BadRequest"):
                await fill(fake, broken, until=until, trades=True)
            assert len(bars_of(broken)) == 2000  # two pages committed; the second jumped the hole
            # interrupted again while paging trades: the third aggTrades page fails
            fake.requests.clear()
            fake.fail_rest("/api/v3/aggTrades", times=1, status=400, after=2)
            with pytest.raises(SourceError):
                await fill(fake, broken, until=until, trades=True)
            kline_starts = starts(fake.kline_requests())
            assert len(broken.trades(SYMBOL)) == 1999  # each page after the first repeats one trade
            fake.requests.clear()
            resumed = await fill(fake, broken, until=until, trades=True)
            return uninterrupted, resumed, kline_starts, starts(fake.trade_requests())

    uninterrupted, resumed, kline_starts, trade_starts = run(main())
    # the second run asked for bars from the minute after the last stored one, not from the start
    assert kline_starts == [T0 + 2020 * MINUTE]
    # the third asked for trades from the last stored trade's ms (its duplicates are skipped)
    last_stored_ms = trades[1998]["T"]
    assert trade_starts[0] == last_stored_ms and resumed.trades_resumed_from_ms == last_stored_ms
    assert resumed.bars_stored == 0 and resumed.trades_stored == 2001 and resumed.trades_duplicates >= 1
    pd.testing.assert_frame_equal(bars_of(broken), bars_of(whole))
    pd.testing.assert_frame_equal(broken.trades(SYMBOL), whole.trades(SYMBOL))
    assert broken.counts() == whole.counts() == {"trades": 4000, "bars": 2580, "book_tops": 0, "alerts": 0}
    assert resumed.gaps == uninterrupted.gaps == ((T0 + 1500 * MINUTE, T0 + 1520 * MINUTE),)
    whole.close()
    broken.close()


def test_a_second_run_stores_nothing_twice_and_fetches_only_after_the_last_stored_row(store: Store) -> None:
    async def main() -> list[BackfillReport]:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines(1500))
            first = await fill(fake, store, until=T0 + 1200 * MINUTE)
            fake.requests.clear()
            again = await fill(fake, store, until=T0 + 1200 * MINUTE)
            assert fake.kline_requests() == []  # all there: not one candle asked for
            longer = await fill(fake, store, until=T0 + 1500 * MINUTE)
            assert starts(fake.kline_requests()) == [T0 + 1200 * MINUTE]
            fake.requests.clear()
            # an earlier start: only the stretch before the first stored bar is fetched
            fake.set_klines("BTCUSDT", "1m", minute_klines(1500))
            earlier = await fill(fake, store, since=T0 - 100 * MINUTE, until=T0 + 1500 * MINUTE)
            assert [(int(q["startTime"]), int(q["endTime"])) for q in fake.kline_requests()] == [
                (T0 - 100 * MINUTE, T0 - 1)
            ]
            return [first, again, longer, earlier]

    first, again, longer, earlier = run(main())
    assert (first.bars_stored, again.bars_stored, longer.bars_stored, earlier.bars_stored) == (
        1200,
        0,
        300,
        0,
    )
    assert again.requests == 0 and again.bars_duplicates == 0
    assert longer.resumed_from_ms == T0 + 1200 * MINUTE and longer.bars_duplicates == 0
    assert store.counts()["bars"] == 1500 and len(bars_of(store)) == 1500
    assert earlier.gaps == ()  # nothing before the market's first bar: not a gap


# -- holes ---------------------------------------------------------------------------------------------


def test_holes_in_the_exchanges_history_are_reported_as_missing_ranges(store: Store) -> None:
    holes = (range(0, 5), range(300, 301), range(700, 2300), range(2990, 3000))

    async def main() -> BackfillReport:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines(3100, skip=holes))
            return await fill(fake, store, until=T0 + 3000 * MINUTE)

    report = run(main())
    # before the first bar and after the last are not holes in the history; between bars they are
    assert report.gaps == (
        (T0 + 300 * MINUTE, T0 + 301 * MINUTE),
        (T0 + 700 * MINUTE, T0 + 2300 * MINUTE),  # longer than a page: paging jumped it
    )
    assert report.missing_bars == 1 + 1600
    assert report.bars_stored == 3000 - 5 - 1 - 1600 - 10
    assert "2 gaps in the exchange's history (1601 bars)" in report.summary()


def test_trade_history_pages_across_hour_windows_and_reports_id_jumps(store: Store) -> None:
    trades = agg_trades(9000, step_ms=900, skip_ids=range(5000, 5003))  # 2.25 h of trades, 3 ids lost

    async def main() -> tuple[BackfillReport, list[dict[str, str]]]:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines(200))
            fake.set_agg_trades("BTCUSDT", trades)
            report = await fill(fake, store, until=T0 + 150 * MINUTE, trades=True)
            return report, fake.trade_requests()

    report, requests = run(main())
    assert all(int(q["endTime"]) - int(q["startTime"]) < 3_600_000 for q in requests)
    stored = store.trades(SYMBOL)
    assert len(stored) == report.trades_stored == 9000 - 3
    assert stored["id"].astype(int).is_monotonic_increasing and stored["id"].is_unique
    first = stored.iloc[1]  # agg_trades: odd ones had the buyer as maker (a sell)
    assert (first["price"], first["amount"], first["side"]) == (101.0, 1.25, "sell")
    assert report.trade_gaps == ((trades[4998]["T"], trades[4999]["T"]),)


# -- rate limits and failures --------------------------------------------------------------------------


def test_http_429_is_retried_after_the_retry_after_the_exchange_sent(store: Store) -> None:
    clock = SimulatedClock(NOW_NS)

    async def main() -> BackfillReport:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines(2500))
            fake.fail_rest("/api/v3/klines", times=2, status=429, after=1)  # Retry-After: 1
            return await fill(fake, store, until=T0 + 2500 * MINUTE, clock=clock)

    report = run(main())
    assert len(bars_of(store)) == 2500 and report.retries == 2 and report.requests == 3 + 2
    # the backoff alone would wait 0.01 + 0.02 s; the exchange asked for 1 s each time
    assert report.waited_s == pytest.approx(2.0)
    assert clock.now_ns() == NOW_NS + 2_000_000_000  # waited on the injected clock, not the wall


def test_too_many_429s_give_up_and_keep_what_was_stored(store: Store) -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines(2500))
            fake.fail_rest("/api/v3/klines", times=10, status=429, after=1)
            with pytest.raises(RateLimited, match="rate limited") as limited:
                await fill(fake, store, until=T0 + 2500 * MINUTE, max_retries=3)
            assert limited.value.retry_after == 1.0
            assert len(fake.kline_requests()) == 1 + 4

    run(main())
    assert len(bars_of(store)) == 1000


def test_a_retryable_server_error_is_retried_and_bad_arguments_are_refused(store: Store) -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines(50))
            fake.fail_rest("/api/v3/klines", times=1, status=500)
            report = await fill(fake, store, until=T0 + 50 * MINUTE)
            assert (report.bars_stored, report.retries) == (50, 1)
            with pytest.raises(UnknownSymbol, match="'DOGE/EUR' is not listed on binance"):
                await backfill(store, "binance", "DOGE/EUR", "1m", T0, ccxt_config=fake.ccxt_config())
            with pytest.raises(SourceError, match="binance has no 7m candles"):
                await backfill(store, "binance", SYMBOL, "7m", T0, ccxt_config=fake.ccxt_config())
            with pytest.raises(ConfigError, match=r"until .* must be after since"):
                await fill(fake, store, since=T0, until=T0)
            with pytest.raises(ConfigError, match="not a ccxt exchange id; did you mean binance"):
                await backfill(store, "binanse", SYMBOL, "1m", T0, ccxt_config={})

    run(main())


def test_an_exchange_never_reached_fails_at_once_with_advice(store: Store) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = ccxt_config_for(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/stream/ws")
    clock = SimulatedClock(NOW_NS)

    async def main() -> None:
        with pytest.raises(ExchangeUnreachable, match=f"cannot reach binance .*127.0.0.1:{port}"):
            await backfill(store, "binance", SYMBOL, "1m", T0, ccxt_config=nowhere, clock=clock)

    run(main())
    assert clock.now_ns() == NOW_NS  # no retries: nothing waited


def test_secrets_in_the_config_never_show_in_errors(store: Store) -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines(10))
            fake.fail_rest("/api/v3/klines", times=1, status=400)
            config = fake.ccxt_config(rateLimit=1, apiKey="KEY-123", secret="S3CR3T-456")
            with pytest.raises(SourceError) as failed:
                await fill(fake, store, until=T0 + 10 * MINUTE, ccxt_config=config)
            assert "S3CR3T" not in str(failed.value) and failed.value.__context__ is None

    run(main())


# -- entry points ----------------------------------------------------------------------------------------


def test_times_read_as_utc_and_run_backfill_refuses_a_running_loop() -> None:
    assert to_ms("2024-08-08") == T0 and to_ms("2024-08-08T00:01:00Z") == T0 + MINUTE and to_ms(5) == 5
    with pytest.raises(ConfigError):
        to_ms("yesterday-ish")

    async def inside_a_loop() -> None:
        with pytest.raises(ConfigError, match="await backfill"):
            run_backfill("unused.db", "binance", SYMBOL, "1m", T0)

    run(inside_a_loop())


class _FakeInThread:
    """The fake exchange on a loop of its own (the CLI runs its own ``asyncio.run``)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.fake = FakeBinance()

    def __enter__(self) -> FakeBinance:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(10)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_the_cli_backfills_through_the_ccxt_options_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.db"
    with _FakeInThread() as fake:
        fake.set_klines("BTCUSDT", "1m", minute_klines(1500, skip=range(100, 110)))
        monkeypatch.setenv("MDX_BINANCE_CCXT_OPTIONS", json.dumps(fake.ccxt_config(rateLimit=1)))
        argv = ["backfill", "binance", SYMBOL, "--timeframe", "1m", "--since", "2024-08-08"]
        argv += ["--until", "2024-08-08T20:00", "--db", str(db)]
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "1m bars: 1190 stored, 0 already there" in out and "1 gaps" in out
        assert cli.main(argv) == 0  # again: nothing asked for, nothing stored twice
        assert "1m bars: 0 stored" in capsys.readouterr().out
        assert cli.main(["backfill", "binance", "NOPE/USDT", "--since", "2024-08-08", "--db", str(db)]) == 2
        assert "is not listed on binance" in capsys.readouterr().err
    with Store(db) as stored:
        assert stored.counts()["bars"] == 1190
