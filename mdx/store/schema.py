"""The store's tables, its schema version and the migrations that bring an older database up to date.

Every table is keyed so that writing the same thing twice stores it once:

- ``trades``: unique by (exchange, symbol, id); read by (symbol, ts). Since version 3 it is a view over
  ``trade_rows``, where the exchange and the symbol are small integers (``names``: each name once) and an
  id that is a whole number in its canonical decimal form (``"123"``, not ``"0123"``) is an INTEGER (any
  other id stays TEXT): smaller keys, ids growing in order, so ingest is about twice as fast. The view has
  the version 2 columns (ids read back as text) and ``rowid``, the insertion order, so reads written for
  version 2 run unchanged;
- ``bars``: by (symbol, timeframe, source, ts, exchange), ``source`` being ``mdx`` (built by mdx from
  trades) or ``exchange`` (built by the venue: its candles, a source's history);
- ``book_tops``: by (symbol, ts, exchange): the top of a ``BookView`` at the store's interval;
- ``alerts``: by (rule, ts).

``ts`` is always the event time in ns since the epoch (UTC); prices are REAL and checked > 0 by the
database too (a NaN is bound as NULL, which NOT NULL refuses). ``schema_version`` holds one row per
migration applied; ``migrate`` applies the missing ones in order, each in one transaction, when a
store opens. Version 1 (the first layout) had bars without ``source`` and no book tops; version 2 added
them; version 3 (the current one) moved trades to ``trade_rows`` (the rows kept, rowids included).
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import StoreError
from ..market.bars import BAR_COLUMNS

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


# A trade id as stored: an INTEGER when ``CAST(CAST(id AS INTEGER) AS TEXT)`` gives the id back (a whole
# number written canonically, within 64 bits), else its TEXT; one-to-one, so (exchange, symbol, id) stays
# the key. ``{x}`` is the SQL expression of the id.
STORED_ID = "iif(CAST(CAST({x} AS INTEGER) AS TEXT) = {x}, CAST({x} AS INTEGER), CAST({x} AS TEXT))"

NAME_ID = "SELECT nid FROM names WHERE name = ?{x}"
V3_NAMES = "CREATE TABLE names (nid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"
V3_TRADE_ROWS = """
CREATE TABLE trade_rows (
    exchange_id INTEGER NOT NULL, symbol_id INTEGER NOT NULL, id ANY NOT NULL,
    ts INTEGER NOT NULL, ts_recv INTEGER NOT NULL,
    price REAL NOT NULL CHECK (price > 0), amount REAL NOT NULL CHECK (amount > 0), side TEXT NOT NULL
) STRICT"""  # STRICT: a value of the wrong type (a numpy scalar bound as a BLOB) is refused, not stored
V3_COPY_NAMES = "INSERT INTO names (name) SELECT exchange FROM trades UNION SELECT symbol FROM trades"
V3_COPY_TRADES = f"""
INSERT INTO trade_rows (rowid, exchange_id, symbol_id, id, ts, ts_recv, price, amount, side)
SELECT t.rowid, e.nid, s.nid, {STORED_ID.format(x="t.id")}, t.ts, t.ts_recv, t.price, t.amount, t.side
FROM trades AS t JOIN names AS e ON e.name = t.exchange JOIN names AS s ON s.name = t.symbol
ORDER BY t.rowid"""
V3_TRADES_KEY = "CREATE UNIQUE INDEX trade_rows_key ON trade_rows (symbol_id, exchange_id, id)"
V3_TRADES_TIME = "CREATE INDEX trade_rows_time ON trade_rows (symbol_id, ts)"
V3_TRADES_VIEW = """
CREATE VIEW trades (exchange, symbol, id, ts, ts_recv, price, amount, side, rowid) AS
SELECT e.name, s.name, CAST(t.id AS TEXT), t.ts, t.ts_recv, t.price, t.amount, t.side, t.rowid
FROM trade_rows AS t JOIN names AS s ON s.nid = t.symbol_id JOIN names AS e ON e.nid = t.exchange_id"""

# SQL written for version 2 that inserts into ``trades`` (with its column list) still works
V3_TRADES_INSERT = f"""
CREATE TRIGGER trades_insert INSTEAD OF INSERT ON trades BEGIN
    INSERT INTO names (name) VALUES (NEW.exchange), (NEW.symbol) ON CONFLICT DO NOTHING;
    INSERT INTO trade_rows (exchange_id, symbol_id, id, ts, ts_recv, price, amount, side) VALUES (
        (SELECT nid FROM names WHERE name = NEW.exchange), (SELECT nid FROM names WHERE name = NEW.symbol),
        {STORED_ID.format(x="NEW.id")}, NEW.ts, NEW.ts_recv, NEW.price, NEW.amount, NEW.side
    ) ON CONFLICT DO NOTHING;
END"""


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
    Migration(
        3,
        "trades as trade_rows: exchange and symbol interned in names, whole-number ids as integers",
        (
            V3_NAMES,
            V3_TRADE_ROWS,
            V3_COPY_NAMES,
            V3_COPY_TRADES,
            "DROP TABLE trades",
            V3_TRADES_KEY,
            V3_TRADES_TIME,
            V3_TRADES_VIEW,
            V3_TRADES_INSERT,
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

# the columns each table is written with, in order (what ``mdx.store.rows`` builds)
COLUMNS: dict[str, tuple[str, ...]] = {
    "trades": ("exchange", "symbol", "id", "ts", "ts_recv", "price", "amount", "side"),
    "bars": ("exchange", "symbol", "timeframe", "ts", "source", *BAR_COLUMNS, "ts_recv"),
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
    """The statement that stores one row of ``table`` (its values in ``COLUMNS`` order) unless its key is
    already there (other constraint failures still raise: only the uniqueness conflict is ignored). A
    trade's exchange and symbol must be in ``names`` already (``Store`` puts them there)."""
    if table == "trades":
        return insert_many_sql(table, 1, interned=False)
    columns = COLUMNS[table]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        "ON CONFLICT DO NOTHING"
    )


@functools.lru_cache(maxsize=512)
def insert_many_sql(table: str, rows: int, *, interned: bool = True) -> str:
    """One statement storing ``rows`` rows of ``table`` (a multi-row VALUES: far less work per row than
    one execution per row), bound with the rows' values one after another, in ``COLUMNS`` order; a row
    whose key is there already is left alone.

    For ``trades`` (into ``trade_rows``) the rows must share one exchange and one symbol, whose ``names``
    ids follow the rows' values as the last two parameters (``interned``; the exchange and symbol values
    of each row are then not read); without ``interned`` each row's names are looked up in ``names``."""
    width = len(COLUMNS[table])
    if table != "trades":
        row = f"({', '.join('?' * width)})"
        return f"INSERT INTO {table} ({', '.join(COLUMNS[table])}) VALUES {', '.join([row] * rows)} " + (
            "ON CONFLICT DO NOTHING"
        )
    values = []
    for i in range(rows):
        at = i * width  # ?{at+1} .. ?{at+8}: exchange, symbol, id, ts, ts_recv, price, amount, side
        if interned:
            names = f"?{rows * width + 1}, ?{rows * width + 2}"
        else:
            names = f"({NAME_ID.format(x=at + 1)}), ({NAME_ID.format(x=at + 2)})"
        stored_id = STORED_ID.format(x=f"?{at + 3}")
        values.append(f"({names}, {stored_id}, ?{at + 4}, ?{at + 5}, ?{at + 6}, ?{at + 7}, ?{at + 8})")
    return (
        "INSERT INTO trade_rows (exchange_id, symbol_id, id, ts, ts_recv, price, amount, side) VALUES "
        f"{', '.join(values)} ON CONFLICT DO NOTHING"
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
    "insert_many_sql",
    "insert_sql",
    "migrate",
    "schema_version",
]
