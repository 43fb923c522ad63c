"""The store's tables, its schema version and the migrations that bring an older database up to date.

Every table is keyed so that writing the same thing twice stores it once:

- ``trades``: unique by (exchange, symbol, id); read by (symbol, ts);
- ``bars``: by (symbol, timeframe, source, ts, exchange), ``source`` being ``mdx`` (built by mdx from
  trades) or ``exchange`` (built by the venue: its candles, a source's history);
- ``book_tops``: by (symbol, ts, exchange): the top of a ``BookView`` at the store's interval;
- ``alerts``: by (rule, ts).

``ts`` is always the event time in ns since the epoch (UTC); prices are REAL and checked > 0 by the
database too (a NaN is bound as NULL, which NOT NULL refuses). ``schema_version`` holds one row per
migration applied; ``migrate`` applies the missing ones in order, each in one transaction, when a
store opens. Version 1 (the first layout) had bars without ``source`` and no book tops; version 2 is
the current one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import StoreError

VERSION_TABLE = "schema_version"

V1_TRADES = """
CREATE TABLE trades (
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, id TEXT NOT NULL,
    ts INTEGER NOT NULL, ts_recv INTEGER NOT NULL,
    price REAL NOT NULL CHECK (price > 0), amount REAL NOT NULL CHECK (amount > 0), side TEXT NOT NULL
)"""
V1_TRADES_KEY = "CREATE UNIQUE INDEX trades_key ON trades (exchange, symbol, id)"
V1_TRADES_TIME = "CREATE INDEX trades_time ON trades (symbol, ts)"

BAR_VALUES = """
    open REAL NOT NULL CHECK (open > 0), high REAL NOT NULL, low REAL NOT NULL CHECK (low > 0),
    close REAL NOT NULL CHECK (close > 0), volume REAL NOT NULL CHECK (volume >= 0),
    quote_volume REAL, vwap REAL, buy_volume REAL, sell_volume REAL, count INTEGER NOT NULL,
    ts_recv INTEGER NOT NULL,
    CHECK (high >= low)"""
V1_BARS = f"""
CREATE TABLE bars (
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL, ts INTEGER NOT NULL,
    {BAR_VALUES},
    PRIMARY KEY (symbol, timeframe, ts, exchange)
) WITHOUT ROWID"""
V1_ALERTS = """
CREATE TABLE alerts (
    rule TEXT NOT NULL, ts INTEGER NOT NULL, ts_recv INTEGER NOT NULL,
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL,
    value REAL NOT NULL, threshold REAL NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (rule, ts)
) WITHOUT ROWID"""
V1_ALERTS_TIME = "CREATE INDEX alerts_time ON alerts (symbol, ts)"

V2_BARS = f"""
CREATE TABLE bars_v2 (
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL, ts INTEGER NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('mdx', 'exchange')),
    {BAR_VALUES},
    PRIMARY KEY (symbol, timeframe, source, ts, exchange)
) WITHOUT ROWID"""
V2_COPY_BARS = """
INSERT INTO bars_v2 SELECT exchange, symbol, timeframe, ts, 'mdx', open, high, low, close, volume,
    quote_volume, vwap, buy_volume, sell_volume, count, ts_recv FROM bars"""
V2_BOOK_TOPS = """
CREATE TABLE book_tops (
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, ts INTEGER NOT NULL, ts_recv INTEGER NOT NULL,
    bid REAL NOT NULL CHECK (bid > 0), ask REAL NOT NULL CHECK (ask > 0),
    bid_size REAL NOT NULL CHECK (bid_size >= 0), ask_size REAL NOT NULL CHECK (ask_size >= 0),
    mid REAL NOT NULL, spread_bps REAL NOT NULL, imbalance REAL,
    PRIMARY KEY (symbol, ts, exchange)
) WITHOUT ROWID"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    note: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "trades, bars, alerts",
        (V1_TRADES, V1_TRADES_KEY, V1_TRADES_TIME, V1_BARS, V1_ALERTS, V1_ALERTS_TIME),
    ),
    Migration(
        2,
        "bars by source (mdx / exchange), book tops",
        (V2_BARS, V2_COPY_BARS, "DROP TABLE bars", "ALTER TABLE bars_v2 RENAME TO bars", V2_BOOK_TOPS),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

# the columns each table is written with, in order (what ``mdx.store.rows`` builds)
COLUMNS: dict[str, tuple[str, ...]] = {
    "trades": ("exchange", "symbol", "id", "ts", "ts_recv", "price", "amount", "side"),
    "bars": (
        "exchange",
        "symbol",
        "timeframe",
        "ts",
        "source",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "vwap",
        "buy_volume",
        "sell_volume",
        "count",
        "ts_recv",
    ),
    "book_tops": (
        "exchange",
        "symbol",
        "ts",
        "ts_recv",
        "bid",
        "ask",
        "bid_size",
        "ask_size",
        "mid",
        "spread_bps",
        "imbalance",
    ),
    "alerts": ("rule", "ts", "ts_recv", "exchange", "symbol", "kind", "value", "threshold", "text"),
}
TABLES = tuple(COLUMNS)


def insert_sql(table: str) -> str:
    """The statement that stores one row of ``table`` unless its key is already there (other constraint
    failures still raise: only the uniqueness conflict is ignored)."""
    columns = COLUMNS[table]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        "ON CONFLICT DO NOTHING"
    )


def schema_version(conn: sqlite3.Connection) -> int:
    """The version of the database behind ``conn``: 0 for an empty one. A database holding tables but
    no version table is not an mdx store: ``StoreError``."""
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if VERSION_TABLE not in names:
        if names:
            shown = ", ".join(sorted(names)[:5])
            raise StoreError(f"not an mdx store: it has tables ({shown}) but no {VERSION_TABLE} table")
        return 0
    row = conn.execute(f"SELECT MAX(version) FROM {VERSION_TABLE}").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the migrations the database lacks, in order, each in a transaction of its own; returns the
    version reached. A database from a newer mdx is refused (``StoreError``), never changed."""
    latest = migrations[-1].version
    current = schema_version(conn)  # a plain read first: opening an up-to-date store never waits for a writer
    if current == latest:
        return current
    while True:
        conn.execute("BEGIN IMMEDIATE")  # one migrator at a time, even across processes
        try:
            current = schema_version(conn)
            if current > latest:
                raise StoreError(
                    f"schema version {current} is newer than this mdx knows ({latest}): upgrade mdx"
                )
            pending = [m for m in migrations if m.version > current]
            if not pending:
                conn.execute("COMMIT")
                return current
            _apply(conn, pending[0], first=current == 0)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _apply(conn: sqlite3.Connection, migration: Migration, *, first: bool) -> None:
    if first:
        conn.execute(
            f"CREATE TABLE {VERSION_TABLE} (version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL, "
            "note TEXT NOT NULL)"
        )
    for statement in migration.statements:
        conn.execute(statement)
    conn.execute(
        f"INSERT INTO {VERSION_TABLE} VALUES (?, ?, ?)", (migration.version, time.time_ns(), migration.note)
    )


__all__ = [
    "COLUMNS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "Migration",
    "insert_sql",
    "migrate",
    "schema_version",
]
