"""The SQLite store: rows/s written (trades, bars) and read back, beside a naive one-insert-per-row commit.

Run: ``python bench/bench_store.py``. Every figure comes from real files in a temp folder (WAL mode):

- mdx batched: ``Store.write_trades`` / ``write_bars`` (checks + one transaction per 20,000 rows);
- through a session: ``StoreWriter.on_event`` + its thread's commits, until the last row is on disk;
- bare ``executemany``: the same rows into the same schema, one transaction, no checks;
- naive: one ``INSERT`` and one ``COMMIT`` per row (what a first try does), on fewer rows;
- read: ``Store.trades`` / ``Store.bars`` into DataFrames; one day of 1m bars.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mdx.clock import SimulatedClock
from mdx.events import Bar, Trade
from mdx.store import Store, StoreWriter
from mdx.store.rows import bar_row, trade_row
from mdx.store.schema import insert_sql

T0 = 1_723_161_600 * 10**9
TRADES = 500_000
BARS = 200_000
NAIVE = 5_000
BATCH = 20_000


def make_trades(n: int, offset: int = 0) -> list[Trade]:
    return [
        Trade(
            "binance",
            "BTC/USDT",
            T0 + i * 1_000_000,
            T0 + i * 1_000_000 + 5,
            str(offset + i),
            60_000.0 + (i % 100),
            0.001 + (i % 7) * 0.01,
            "buy" if i % 2 else "sell",
        )
        for i in range(n)
    ]


def make_bars(n: int, symbol: str = "BTC/USDT") -> list[Bar]:
    minute = 60 * 10**9
    return [
        Bar(
            "binance",
            symbol,
            "1m",
            T0 + i * minute,
            T0 + i * minute + 1,
            10.0,
            12.0,
            9.0,
            11.0,
            5.0,
            50.0,
            10.0,
            3.0,
            2.0,
            7,
            True,
        )
        for i in range(n)
    ]


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def batched(store: Store, events: list, write: str) -> float:
    method = getattr(store, write)
    return timed(lambda: [method(events[i : i + BATCH]) for i in range(0, len(events), BATCH)])


def through_writer(store: Store, events: list) -> float:
    writer = StoreWriter(store, clock=SimulatedClock(), batch_rows=BATCH)

    def run() -> None:
        for event in events:
            writer.on_event(event)
        writer.close()

    elapsed = timed(run)
    assert sum(writer.stats().stored.values()) == len(events), writer.stats()
    return elapsed


def bare_executemany(path: Path, table: str, rows: list) -> float:
    Store(path).close()  # the same schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")

    def run() -> None:
        conn.execute("BEGIN")
        conn.executemany(insert_sql(table), rows)
        conn.execute("COMMIT")

    elapsed = timed(run)
    conn.close()
    return elapsed


def naive(path: Path, table: str, rows: list) -> float:
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    sql = insert_sql(table)

    def run() -> None:
        for row in rows:
            conn.execute("BEGIN")
            conn.execute(sql, row)
            conn.execute("COMMIT")

    elapsed = timed(run)
    conn.close()
    return elapsed


def line(what: str, rows: int, seconds: float) -> None:
    print(f"  {what:<52} {rows / seconds:>12,.0f} rows/s  ({rows:,} rows in {seconds:.3f} s)")


def main() -> None:
    trades, bars = make_trades(TRADES), make_bars(BARS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("writing trades")
        line(
            "mdx Store.write_trades, batches of 20,000",
            TRADES,
            batched(Store(folder / "a.db"), trades, "write_trades"),
        )
        line(
            "mdx StoreWriter (session consumer + thread)",
            TRADES,
            through_writer(Store(folder / "b.db"), trades),
        )
        trade_rows = [trade_row(t) for t in trades]
        line(
            "bare executemany, same rows and schema",
            TRADES,
            bare_executemany(folder / "c.db", "trades", trade_rows),
        )
        line(
            "naive: one INSERT + COMMIT per row", NAIVE, naive(folder / "d.db", "trades", trade_rows[:NAIVE])
        )

        print("writing bars (1m)")
        line(
            "mdx Store.write_bars, batches of 20,000",
            BARS,
            batched(Store(folder / "e.db"), bars, "write_bars"),
        )
        line(
            "mdx StoreWriter (session consumer + thread)", BARS, through_writer(Store(folder / "f.db"), bars)
        )
        bar_rows = [bar_row(b) for b in bars]
        line(
            "bare executemany, same rows and schema",
            BARS,
            bare_executemany(folder / "g.db", "bars", bar_rows),
        )
        line("naive: one INSERT + COMMIT per row", NAIVE, naive(folder / "h.db", "bars", bar_rows[:NAIVE]))

        print("reading")
        store = Store(folder / "a.db")
        line("Store.trades -> DataFrame (all)", TRADES, timed(lambda: store.trades("BTC/USDT")))
        bars_store = Store(folder / "e.db")
        line("Store.bars -> DataFrame (all 1m)", BARS, timed(lambda: bars_store.bars("BTC/USDT", "1m")))
        day = min(
            timed(
                lambda: bars_store.bars("BTC/USDT", "1m", T0 + 86_400 * 10**9 * 10, T0 + 86_400 * 10**9 * 11)
            )
            for _ in range(5)
        )
        print(f"  one day of 1m bars (1,440) -> DataFrame: {day * 1e3:.1f} ms (best of 5)")


if __name__ == "__main__":
    main()
