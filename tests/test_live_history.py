"""Live history: closed bars from the exchange's candles before streaming, with the real ccxt client
against the fake's ``/api/v3/klines`` (Binance's 12-field klines)."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import socket
import time
from typing import Any

import pytest

from mdx.clock import LiveClock, SimulatedClock
from mdx.errors import ConfigError, SourceError, SourceUnavailable
from mdx.events import Bar, Trade
from mdx.session import Session
from mdx.sources.base import HistorySource
from mdx.sources.live import LiveSource
from mdx.sources.live.history import closed_bars, kline_bar, ohlcv_bar
from mdx.stats import Rejections
from tests.fake_binance import FakeBinance, ccxt_config_for, kline
from tests.test_live import FAST, KEY, SYMBOL, Harness, subscribed

pytestmark = pytest.mark.timeout(30)

T0 = 1_723_075_200_000  # 2024-08-08 00:00 UTC, in ms: on every boundary up to a day
MINUTE = 60_000
NOW_NS = (T0 + 5 * MINUTE + 30_000) * 1_000_000  # half-way through the sixth 1m bar and the second 5m one
ADVICE = "try --source sim or a replay (--source replay:PATH)"


def run(coro: Any, timeout: float = 20.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def minute_klines(start_ms: int = T0, count: int = 6) -> list[list]:
    """``count`` 1m klines from ``start_ms``: bar i opens at 100 + i, 10 + i trades, taker buys 0.5 + i/4."""
    return [
        kline(
            start_ms + i * MINUTE,
            "1m",
            (100.0 + i, 101.5 + i, 99.5 + i, 100.5 + i),
            2.0 + i,
            quote_volume=(2.0 + i) * (100.25 + i),
            trades=10 + i,
            taker_buy=0.5 + i / 4,
        )
        for i in range(count)
    ]


def expected_bar(i: int, ts_recv: int, *, native: bool = True, start_ms: int = T0) -> Bar:
    volume, buy = 2.0 + i, 0.5 + i / 4
    nan = math.nan
    return Bar(
        "binance",
        SYMBOL,
        "1m",
        (start_ms + i * MINUTE) * 1_000_000,
        ts_recv,
        100.0 + i,
        101.5 + i,
        99.5 + i,
        100.5 + i,
        volume,
        volume * (100.25 + i) if native else nan,
        100.25 + i if native else nan,
        buy if native else nan,
        volume - buy if native else nan,
        10 + i if native else 0,
        True,
    )


def same_bars(got: list[Bar], expected: list[Bar]) -> bool:
    """Equal field by field, NaN equal to NaN, floats to 1e-9 relative."""
    if len(got) != len(expected):
        return False
    for a, b in zip(got, expected, strict=True):
        for field in Bar.__dataclass_fields__:
            x, y = getattr(a, field), getattr(b, field)
            if isinstance(x, float) and isinstance(y, float):
                if not (math.isnan(x) and math.isnan(y)) and not math.isclose(x, y, rel_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


def source_for(fake: FakeBinance, **kwargs: Any) -> LiveSource:
    kwargs.setdefault("backoff", FAST)
    return LiveSource("binance", [SYMBOL], exchange_options=fake.ccxt_config(), **kwargs)


# -- bars from klines -------------------------------------------------------------------------------


def test_history_gives_the_last_closed_bars_with_quote_volume_trades_and_taker_buys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines())
            five = [
                kline(T0 + i * 5 * MINUTE, "5m", (100.0, 104.0, 99.0, 103.0), 9.0, trades=50) for i in (0, 1)
            ]
            fake.set_klines("BTCUSDT", "5m", five)
            source = source_for(fake, history_bars=3)
            assert isinstance(source, HistorySource)
            rejections = Rejections()
            bars = await source.history(("1m", "5m", "2m", "1s"), SimulatedClock(NOW_NS), rejections)
            one = [bar for bar in bars if bar.timeframe == "1m"]
            # the sixth bar is still open at NOW: dropped; of the five closed ones, the last three
            assert same_bars(one, [expected_bar(i, NOW_NS) for i in (2, 3, 4)])
            (five_bar,) = [bar for bar in bars if bar.timeframe == "5m"]
            assert (five_bar.ts_event, five_bar.count, five_bar.vwap) == (T0 * 1_000_000, 50, 103.0)
            assert [bar.timeframe for bar in bars] == ["1m", "1m", "1m", "5m"]  # grouped, oldest first
            assert rejections.total == 0
            requests = fake.kline_requests("BTCUSDT")
            # one more than history_bars (the open bar); binance has no 2m candles: not asked for
            assert sorted((q["interval"], q["limit"]) for q in requests) == [
                ("1m", "4"),
                ("1s", "4"),
                ("5m", "4"),
            ]
            assert fake.open_connections == 0 and fake.ws_opened == 0  # REST only, exchange closed

    with caplog.at_level(logging.DEBUG, logger="mdx"):
        run(main())
    assert any("has no 2m candles" in r.getMessage() for r in caplog.records)


def test_history_duration_sets_the_bars_per_timeframe_capped_at_history_bars() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines())
            source = source_for(fake, history_bars=50, history_ns=4 * MINUTE * 1_000_000)
            await source.history(("1s", "1m", "5m"), SimulatedClock(NOW_NS), Rejections())
            requests = fake.kline_requests("BTCUSDT")
            # 4 minutes: 240 one-second bars capped at 50, 4 one-minute bars, 1 five-minute bar (+1 open)
            assert sorted((q["interval"], q["limit"]) for q in requests) == [
                ("1m", "5"),
                ("1s", "51"),
                ("5m", "2"),
            ]
        with pytest.raises(ConfigError, match="history_ns"):
            LiveSource("binance", [SYMBOL], history_ns=-1)

    run(main())


def test_plain_ohlcv_history_leaves_what_ohlcv_does_not_say_unknown() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines())
            source = source_for(fake, history_bars=10, native_klines=False)
            bars = await source.history(("1m",), SimulatedClock(NOW_NS), Rejections())
            # through ccxt's fetch_ohlcv: quote volume, vwap, buy / sell volume NaN, count 0
            assert same_bars(bars, [expected_bar(i, NOW_NS, native=False) for i in range(5)])
            assert [q["limit"] for q in fake.kline_requests()] == ["11"]

    run(main())


def test_bad_candles_are_counted_and_left_out() -> None:
    good = minute_klines(count=10)
    rows = [
        good[0],
        [T0 + MINUTE, "NaN", "101", "99", "100", "1", 0, "100", 1, "0.5", "50", "0"],
        [T0 + 2 * MINUTE, "100", "99", "101", "100", "1", 0, "100", 1, "0.5", "50", "0"],  # high < low
        [T0 + 3 * MINUTE, "100", "101", "99", "100", "-1", 0, "100", 1, "0", "0", "0"],  # negative volume
        [T0 + 4 * MINUTE],  # truncated
        good[5],
        good[5],  # the same open time again
        [T0 + 7 * MINUTE, "100", "101", "99", "100", "1", 0, "100", 1, "1.5", "150", "0"],  # buys > volume
        ["abc", "100", "101", "99", "100", "1", 0, "100", 1, "0.5", "50", "0"],
        good[9],
    ]

    async def main() -> None:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", rows)
            rejections = Rejections()
            now = (T0 + 20 * MINUTE) * 1_000_000
            bars = await source_for(fake).history(("1m",), SimulatedClock(now), rejections)
            assert same_bars(bars, [expected_bar(i, now) for i in (0, 5, 9)])
            assert rejections.by_reason == {"InvalidValue": 4, "MalformedFrame": 3}
            # the last of each reason, in row order: the taker buys above the volume, the unreadable time
            assert "taker-buy volume 1.5 above the volume 1.0" in rejections.last_message["InvalidValue"]
            assert "bad open time 'abc'" in rejections.last_message["MalformedFrame"]

    run(main())


def test_no_history_when_history_bars_is_zero_and_bad_settings_are_refused() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines())
            assert await source_for(fake, history_bars=0).history(("1m",), LiveClock(), Rejections()) == []
            assert await source_for(fake).history((), LiveClock(), Rejections()) == []
            assert fake.requests == []

    run(main())
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="history_bars"):
            LiveSource("binance", [SYMBOL], history_bars=bad)  # type: ignore[arg-type]


# -- failures never stop streaming ------------------------------------------------------------------


def test_a_failed_fetch_is_logged_counted_and_the_rest_and_the_stream_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            fake.set_klines("BTCUSDT", "1m", minute_klines())
            fake.set_klines("BTCUSDT", "5m", [kline(T0, "5m", (100.0, 104.0, 99.0, 103.0), 9.0)])
            fake.fail_rest("/api/v3/klines", times=1, status=500)
            source = source_for(fake, history_bars=3)
            rejections = Rejections()
            bars = await source.history(("1m", "5m"), SimulatedClock(NOW_NS), rejections)
            assert {bar.timeframe for bar in bars} in ({"1m"}, {"5m"})  # whichever was asked for second
            assert rejections.by_reason == {"HistoryError": 1}
            assert "fetch failed: OperationFailed" in rejections.last_message["HistoryError"]
            # the same source streams afterwards
            h = Harness(source, LiveClock())
            try:
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 100.5, 1.0)
                await h.wait(lambda: len(h.of(Trade)) == 1, "a trade after the history")
            finally:
                await h.stop()

    with caplog.at_level(logging.WARNING, logger="mdx"):
        run(main())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("binance: no history for BTC/USDT ") and "fetch failed" in m for m in warnings)


def test_unreachable_or_blocked_history_says_so_in_the_streams_words() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = ccxt_config_for(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/stream/ws")

    async def main() -> None:
        source = LiveSource("binance", [SYMBOL], exchange_options=nowhere)
        with pytest.raises(SourceUnavailable) as unreachable:
            await source.history(("1m",), LiveClock(), Rejections())
        assert str(unreachable.value) == (
            f"cannot reach binance (no network or DNS?): 127.0.0.1:{port}: Connection refused; {ADVICE}"
        )
        assert unreachable.value.__cause__ is None and unreachable.value.__context__ is None
        async with FakeBinance() as fake:
            fake.set_klines("BTCUSDT", "1m", minute_klines())
            fake.fail_rest("/api/v3/exchangeInfo", status=451)
            with pytest.raises(SourceError, match=r"^binance is blocked in this region \(HTTP 451\); try"):
                await source_for(fake).history(("1m",), LiveClock(), Rejections())
            fake.fail_rest("/api/v3/klines", times=2, status=451)  # markets load, the klines are refused
            rejections = Rejections()
            assert await source_for(fake).history(("1m", "5m"), LiveClock(), rejections) == []
            assert rejections.by_reason == {"HistoryError": 2}
            assert "blocked in this region (HTTP 451)" in rejections.last_message["HistoryError"]

    run(main())


def test_history_errors_and_logs_never_show_credentials(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with FakeBinance() as fake:  # its signed endpoint rejects every key, quoting it
            options = fake.ccxt_config(apiKey="KEY-123", secret="S3CR3T-456")
            source = LiveSource("binance", [SYMBOL], exchange_options=options)
            with pytest.raises(SourceError) as failed:
                await source.history(("1m",), LiveClock(), Rejections())
            message = str(failed.value)
            assert "AuthenticationError" in message and "KEY-123" not in message and "***" in message
            assert failed.value.__cause__ is None and failed.value.__context__ is None

    with caplog.at_level(logging.DEBUG):
        run(main())
    assert any(r.name == "ccxt.base.exchange" for r in caplog.records)
    assert not any("KEY-123" in r.getMessage() or "S3CR3T" in r.getMessage() for r in caplog.records)


# -- through the session ----------------------------------------------------------------------------


def test_a_session_opens_with_the_exchanges_closed_bars_then_streams() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            minute = time.time_ns() // 1_000_000 // MINUTE * MINUTE
            start = minute - 5 * MINUTE
            fake.set_klines("BTCUSDT", "1m", minute_klines(start, 6))  # five closed, the current one open
            source = source_for(fake, history_bars=3, rng=random.Random(3))
            session = Session(source, timeframes=("1m",))

            async def drive() -> None:
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 104.0, 0.5)

            driver = asyncio.create_task(drive())
            await session.run(max_events=3)  # book, quote, trade (any order)
            await driver
            closed = session.cache.bars(KEY, "1m")
            assert len(closed) == 3 and all(bar.closed for bar in closed)
            opens = [bar.ts_event for bar in closed]
            assert opens == sorted(opens) and opens[1] - opens[0] == MINUTE * 1_000_000
            i = (opens[0] // 1_000_000 - start) // MINUTE  # the minute may have turned: read which bars came
            assert same_bars(
                closed, [expected_bar(j, closed[0].ts_recv, start_ms=start) for j in (i, i + 1, i + 2)]
            )
            assert session.rejections.total == 0
            # the stream reused the markets the history loaded
            assert fake.requests.count(("/api/v3/exchangeInfo", {})) == 1

    run(main())


# -- the mapping, alone -----------------------------------------------------------------------------


def test_candle_mapping_checks_every_value() -> None:
    row = [T0, 100.0, 101.0, 99.0, 100.5, 3.0]
    bar = ohlcv_bar("x", "A/B", "1m", row, 7)
    assert (bar.ts_event, bar.ts_recv, bar.close, bar.count, bar.closed) == (
        T0 * 1_000_000,
        7,
        100.5,
        0,
        True,
    )
    assert math.isnan(bar.vwap) and math.isnan(bar.quote_volume) and math.isnan(bar.buy_volume)
    for bad in ([T0, None, 101, 99, 100, 1], [T0, 100, 101, 99, 102, 1], [T0, 0, 101, 99, 100, 1]):
        with pytest.raises(ValueError):
            ohlcv_bar("x", "A/B", "1m", bad, 7)
    idle = kline(T0, "1m", (100.0, 100.0, 100.0, 100.0), 0.0)
    assert kline_bar("x", "A/B", "1m", idle, 7).vwap == 100.0  # no volume: the close, as mdx's empty bars
    rejections = Rejections()
    rows = [[T0 + i * MINUTE, 1.0, 1.0, 1.0, 1.0, 1.0] for i in range(5)]
    kept = closed_bars(
        rows, ohlcv_bar, ("x", "A/B", "1m"), MINUTE * 1_000_000, (T0 + 4 * MINUTE) * 10**6, 2, rejections
    )
    assert [b.ts_event // 1_000_000 for b in kept] == [T0 + 2 * MINUTE, T0 + 3 * MINUTE]
