"""A live session opened with a store starts its charts with the stored bars of its exchange: the real
ccxt client against the fake Binance, whose candles cover only the last minutes."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from mdx.events import Bar
from mdx.session import Session
from mdx.store import Store
from mdx.store.history import stored_bars
from tests.fake_binance import FakeBinance
from tests.test_live import KEY, SYMBOL, subscribed
from tests.test_live_history import MINUTE, minute_klines, source_for

NS = 1_000_000


def stored_bar(open_ms: int, price: float, timeframe: str = "1m") -> Bar:
    return Bar(
        "binance", SYMBOL, timeframe, open_ms * NS, (open_ms + 59_000) * NS,
        price, price + 1, price - 1, price + 0.5, 3.0, 3.0 * price, price, 1.0, 2.0, 12, True,
    )  # fmt: skip


def run_session(db: Path, minute: int, history_s: float) -> tuple[list[Bar], Store]:
    async def main() -> list[Bar]:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            # the exchange's candles: the last two closed minutes and the open one
            fake.set_klines("BTCUSDT", "1m", minute_klines(minute - 2 * MINUTE, 3))
            source = source_for(fake, history_bars=10, rng=random.Random(3))
            session = Session(source, timeframes=("1m",), store=db, store_history_s=history_s)

            async def drive() -> None:
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 104.0, 0.5)

            driver = asyncio.create_task(drive())
            await session.run(max_events=3)
            await driver
            bars = session.cache.bars(KEY, "1m")
            return bars

    bars = asyncio.run(asyncio.wait_for(main(), 20))
    return bars, Store(db)


def test_a_live_session_opens_with_stored_bars_under_the_exchanges_own(tmp_path: Path) -> None:
    db = tmp_path / "mdx.db"
    minute = time.time_ns() // NS // MINUTE * MINUTE
    with Store(db) as store:  # an earlier run kept five minutes, the last two of which the exchange has too
        store.write_bars([stored_bar(minute - k * MINUTE, 50.0 + k) for k in range(6, 1, -1)])
    bars, store = run_session(db, minute, history_s=3600)
    closed = [bar for bar in bars if bar.closed]
    opens = [bar.ts_event // NS for bar in closed]
    assert opens == sorted(set(opens))
    by_open = {bar.ts_event // NS: bar for bar in closed}
    for k in (6, 5, 4, 3):  # only stored: the store's bar
        assert by_open[minute - k * MINUTE].open == 50.0 + k
    # the exchange has this minute too: its own bar wins (minute_klines opens bar i at 100 + i)
    assert by_open[minute - 2 * MINUTE].open == 100.0
    # the stored bars were not written back as exchange-built; the exchange's were
    exchange_built = store.bars(SYMBOL, "1m", exchange="binance", source="exchange")
    assert set(exchange_built.index.asi8 // NS) <= {minute - 2 * MINUTE, minute - MINUTE}
    assert len(store.bars(SYMBOL, "1m", exchange="binance", source="mdx")) == 5


def test_without_store_history_only_the_exchanges_bars_show(tmp_path: Path) -> None:
    db = tmp_path / "mdx.db"
    minute = time.time_ns() // NS // MINUTE * MINUTE
    with Store(db) as store:
        store.write_bars([stored_bar(minute - k * MINUTE, 50.0 + k) for k in range(6, 1, -1)])
    bars, _ = run_session(db, minute, history_s=0)
    assert all(bar.open >= 100.0 for bar in bars if bar.closed)


def test_stored_bars_prefer_mdx_built_and_keep_to_the_window(tmp_path: Path) -> None:
    db = tmp_path / "mdx.db"
    with Store(db) as store:
        store.write_bars([stored_bar(k * MINUTE, 10.0 + k) for k in range(5)])
        store.write_bars([stored_bar(k * MINUTE, 90.0 + k) for k in range(2, 7)], source="exchange")
        store.write_bars([stored_bar(k * MINUTE, 70.0 + k, "5m") for k in range(3)])
    got = stored_bars(db, "binance", [SYMBOL], ["1m"], 1 * MINUTE * NS, 6 * MINUTE * NS)
    assert [(b.ts_event // NS // MINUTE, b.open) for b in got] == [
        (1, 11.0), (2, 12.0), (3, 13.0), (4, 14.0), (5, 95.0)
    ]  # fmt: skip
    assert stored_bars(db, "bybit", [SYMBOL], ["1m"], 0, 2**62) == []
