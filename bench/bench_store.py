"""The SQLite store: rows/s written (trades, bars) and read back, side by side with a bare ``executemany``
of the same rows on the same schema and a naive one-insert-per-row commit.

Run: ``python bench/bench_store.py [repeats]`` (default 5; every figure is the median of the repeats,
with the range, as other work shares the machine). Each run writes real files in a temp folder (WAL):

- mdx ``Store.write_trades`` / ``write_bars``: events -> checked rows -> one transaction per 20,000;
- mdx ``Store.commit``: the same rows already built (the store's own part of the above);
- through a session: ``StoreWriter.on_event`` + its thread's commits, until the last row is committed;
- bare ``executemany``: the same rows as the schema stores them (for trades: names interned, whole-number
  ids as integers), one plain ``INSERT`` per row, one transaction per 20,000, no checks;
- version 2 layout: the bare ``executemany`` into the trades table as it was before schema version 3;
- naive: one ``INSERT`` and one ``COMMIT`` per row (what a first try does), on fewer rows;
- read: ``Store.trades`` / ``Store.bars`` into DataFrames; one day of 1m bars (1,440).
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mdx.clock import SimulatedClock
from mdx.events import Bar, Trade
from mdx.store import MIGRATIONS, Store, StoreWriter, migrate
from mdx.store.rows import Row, bar_row, trade_row
from mdx.store.schema import COLUMNS, insert_sql

T0 = 1_723_161_600 * 10**9
TRADES = 500_000
BARS = 200_000
NAIVE = 5_000
BATCH = 20_000
DAY_NS = 86_400 * 10**9


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


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def batches(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def write_events(path: Path, events: list[Any], write: str) -> float:
    store = Store(path)
    method = getattr(store, write)
    elapsed = timed(lambda: [method(batch) for batch in batches(events)])
    store.close()
    return elapsed


def commit_rows(path: Path, table: str, rows: list[Row]) -> float:
    store = Store(path)
    elapsed = timed(lambda: [store.commit({table: batch}) for batch in batches(rows)])
    assert store.counts()[table] == len(rows)
    store.close()
    return elapsed


def through_writer(path: Path, events: list[Any]) -> float:
    store = Store(path)
    writer = StoreWriter(store, clock=SimulatedClock(), batch_rows=BATCH)

    def run() -> None:
        for event in events:
            writer.on_event(event)
        writer.close()

    elapsed = timed(run)
    assert sum(writer.stats().stored.values()) == len(events), writer.stats()
    store.close()
    return elapsed


def stored_trade_rows(conn: sqlite3.Connection, rows: list[Row]) -> list[Row]:
    """Trade rows as ``trade_rows`` holds them: interned names, whole-number ids as integers."""
    names: dict[str, int] = {}
    for name in {r[0] for r in rows} | {r[1] for r in rows}:
        conn.execute("INSERT INTO names (name) VALUES (?) ON CONFLICT DO NOTHING", (name,))
        names[name] = conn.execute("SELECT nid FROM names WHERE name = ?", (name,)).fetchone()[0]
    return [
        (names[r[0]], names[r[1]], int(r[2]) if str(int(r[2])) == r[2] else r[2], *r[3:])
        for r in rows  # the bench's ids are all whole numbers
    ]


def bare_executemany(path: Path, table: str, rows: list[Row]) -> float:
    Store(path).close()  # the same schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    if table == "trades":
        rows = stored_trade_rows(conn, rows)
        sql = f"INSERT INTO trade_rows VALUES ({', '.join('?' * 8)}) ON CONFLICT DO NOTHING"
    else:
        sql = insert_sql(table)
    return _executemany(conn, sql, rows)


def version_2_executemany(path: Path, rows: list[Row]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:2])
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    columns = COLUMNS["trades"]
    sql = f"INSERT INTO trades ({', '.join(columns)}) VALUES ({', '.join('?' * 8)}) ON CONFLICT DO NOTHING"
    rows = [(*r[:2], str(r[2]), *r[3:]) for r in rows]
    return _executemany(conn, sql, rows)


def _executemany(conn: sqlite3.Connection, sql: str, rows: list[Row]) -> float:
    def run() -> None:
        for batch in batches(rows):
            conn.execute("BEGIN")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")

    elapsed = timed(run)
    conn.close()
    return elapsed


def naive(path: Path, table: str, rows: list[Row]) -> float:
    store = Store(path)
    store.commit({table: rows[:1]})  # the names a trade row refers to
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    sql = insert_sql(table)

    def run() -> None:
        for row in rows[1:]:
            conn.execute("BEGIN")
            conn.execute(sql, row)
            conn.execute("COMMIT")

    elapsed = timed(run)
    conn.close()
    return elapsed * len(rows) / (len(rows) - 1)


class Figures:
    """Rows/s of each way of writing, measured ``repeats`` times in turn: the median and the range."""

    def __init__(self, repeats: int) -> None:
        self.repeats = repeats
        self.rates: dict[str, list[float]] = {}
        self.rows: dict[str, int] = {}

    def measure(self, folder: Path, cases: dict[str, tuple[int, Callable[[Path], float]]]) -> None:
        for run in range(self.repeats):
            for i, (what, (rows, fn)) in enumerate(cases.items()):
                seconds = fn(folder / f"{run}-{i}.db")
                self.rates.setdefault(what, []).append(rows / seconds)
                self.rows[what] = rows
                for file in folder.glob(f"{run}-{i}.db*"):
                    file.unlink()

    def show(self, cases: dict[str, Any]) -> None:
        for what in cases:
            rates = self.rates[what]
            print(
                f"  {what:<56} {statistics.median(rates):>10,.0f} rows/s  "
                f"(range {min(rates):,.0f}-{max(rates):,.0f}; {self.rows[what]:,} rows)"
            )


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    trades, bars = make_trades(TRADES), make_bars(BARS)
    trade_rows, bar_rows = [trade_row(t) for t in trades], [bar_row(b) for b in bars]
    figures = Figures(repeats)
    print(f"median of {repeats} runs each, in turn; rows/s")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        trade_cases: dict[str, tuple[int, Callable[[Path], float]]] = {
            "mdx Store.write_trades, batches of 20,000": (
                TRADES,
                lambda p: write_events(p, trades, "write_trades"),
            ),
            "mdx Store.commit of built rows, batches of 20,000": (
                TRADES,
                lambda p: commit_rows(p, "trades", trade_rows),
            ),
            "mdx StoreWriter (session consumer + thread)": (TRADES, lambda p: through_writer(p, trades)),
            "bare executemany, same rows and schema": (
                TRADES,
                lambda p: bare_executemany(p, "trades", trade_rows),
            ),
            "bare executemany, version 2 layout (before)": (
                TRADES,
                lambda p: version_2_executemany(p, trade_rows),
            ),
            "naive: one INSERT + COMMIT per row": (NAIVE, lambda p: naive(p, "trades", trade_rows[:NAIVE])),
        }
        bar_cases: dict[str, tuple[int, Callable[[Path], float]]] = {
            "mdx Store.write_bars, batches of 20,000": (BARS, lambda p: write_events(p, bars, "write_bars")),
            "mdx StoreWriter (session consumer + thread)": (BARS, lambda p: through_writer(p, bars)),
            "bare executemany, same rows and schema": (
                BARS,
                lambda p: bare_executemany(p, "bars", bar_rows),
            ),
            "naive: one INSERT + COMMIT per row": (NAIVE, lambda p: naive(p, "bars", bar_rows[:NAIVE])),
        }
        print("writing trades")
        figures.measure(folder, trade_cases)
        figures.show(trade_cases)
        print("writing bars (1m)")
        bar_figures = Figures(repeats)
        bar_figures.measure(folder, bar_cases)
        bar_figures.show(bar_cases)

        print("reading")
        store, bars_store = Store(folder / "trades.db"), Store(folder / "bars.db")
        for batch in batches(trade_rows):
            store.commit({"trades": batch})
        for batch in batches(bar_rows):
            bars_store.commit({"bars": batch})
        reads = {
            "Store.trades -> DataFrame (all)": (TRADES, lambda: store.trades("BTC/USDT")),
            "Store.bars -> DataFrame (all 1m)": (BARS, lambda: bars_store.bars("BTC/USDT", "1m")),
        }
        for what, (rows, read) in reads.items():
            seconds = [timed(read) for _ in range(repeats)]
            print(f"  {what:<56} {rows / statistics.median(seconds):>10,.0f} rows/s  ({rows:,} rows)")
        day = [
            timed(lambda: bars_store.bars("BTC/USDT", "1m", T0 + DAY_NS * 10, T0 + DAY_NS * 11))
            for _ in range(max(repeats, 20))
        ]
        assert len(bars_store.bars("BTC/USDT", "1m", T0 + DAY_NS * 10, T0 + DAY_NS * 11)) == 1440
        print(
            f"  one day of 1m bars (1,440) -> DataFrame: {statistics.median(day) * 1e3:.1f} ms "
            f"(median; max {max(day) * 1e3:.1f} ms)"
        )


if __name__ == "__main__":
    main()
