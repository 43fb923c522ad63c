"""``Store``: the SQLite database mdx keeps what it streams in (WAL mode: readers in other processes read
while it writes).

    store = mdx.Store("market.db", retention={"trades": "7d", "book_tops": "1d"})
    store.write_trades(trades)                      # idempotent: a trade already there is not stored again
    store.trades("BTC/USDT", "2024-08-08", "2024-08-09")   # a DataFrame with a UTC DatetimeIndex

A path that holds something other than an mdx SQLite store (another file, a damaged database, a database
of another program, one written by a newer mdx) is refused with a ``StoreError`` and left as it is.
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import db_path
from ..errors import ConfigError, InvalidValue, MdxError, StoreError
from ..market.timeframes import timeframe_ns
from . import reader
from .rows import Row, alert_row, bar_row, book_top_row, trade_row, typed_trade_row
from .schema import COLUMNS, SCHEMA_VERSION, TABLES, insert_many_sql, insert_sql, migrate

log = logging.getLogger("mdx.store")

SQLITE_HEADER = b"SQLite format 3\x00"
SYMBOL_COLUMN = {table: COLUMNS[table].index("symbol") for table in TABLES}
TIME_COLUMN = {table: COLUMNS[table].index("ts") for table in TABLES}
Duration = str | timedelta | int
# the symbols of each table (for trades: every name's id; an exchange's deletes nothing)
DISTINCT_SYMBOLS = {t: "SELECT DISTINCT symbol FROM {}" for t in TABLES} | {"trades": "SELECT nid FROM names"}
ROWS_PER_STATEMENT = 64  # rows of one multi-row INSERT (fewer when SQLite allows fewer parameters)
# what a row SQLite cannot take raises: the batch is then written row by row, the bad rows counted
ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, OverflowError)


@dataclass
class WriteResult:
    """What one write did, per table: rows stored, rows already there (``duplicates``), rows refused
    (``rejected``, with the first few reasons in ``errors``) and rows deleted by retention."""

    stored: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def reject(self, table: str, reason: str) -> None:
        self.rejected[table] = self.rejected.get(table, 0) + 1
        if len(self.errors) < 20:
            self.errors.append(reason)


def duration_ns(value: Duration, what: str) -> int:
    """A positive duration: ``"7d"``, ``"90m"``, a ``timedelta`` or ns as an int."""
    if isinstance(value, timedelta):
        ns = value // timedelta(microseconds=1) * 1_000
    elif isinstance(value, int) and not isinstance(value, bool):
        ns = value
    elif isinstance(value, str):
        try:
            ns = timeframe_ns(value.strip())
        except ConfigError:
            raise ConfigError(f"{what} must be a duration like '7d', '12h', '90m', got {value!r}") from None
    else:
        raise ConfigError(f"{what} must be a duration string, a timedelta or ns, got {value!r}")
    if ns <= 0:
        raise ConfigError(f"{what} must be > 0, got {value!r}")
    return ns


def retention_ns(retention: Mapping[str, Duration] | None) -> dict[str, int]:
    """``{"trades": "7d", ...}`` -> ns per table; an unknown table is a ``ConfigError``."""
    out: dict[str, int] = {}
    for table, keep in (retention or {}).items():
        if table not in TABLES:
            raise ConfigError(f"retention: unknown table {table!r}; tables: {', '.join(TABLES)}")
        out[table] = duration_ns(keep, f"retention[{table!r}]")
    return out


class Store:
    """The SQLite store at ``path`` (``None``: ``MDX_DB``, else the user's data directory; see
    ``mdx.config.db_path``), created and migrated to the current schema on open.

    ``retention``: how long each table keeps rows, by event time (``{"trades": "7d", "book_tops":
    "1d"}``); older rows are deleted when newer ones are written (``StoreWriter``) or by
    ``apply_retention``. ``book_top_interval``: at most one book top per symbol per interval of event
    time (what ``StoreWriter`` keeps of the book views). One connection writes (serialized by a lock);
    each read opens its own read-only connection, so readers never wait for the writer.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        retention: Mapping[str, Duration] | None = None,
        book_top_interval: Duration = "1s",
        busy_timeout_s: float = 10.0,
    ) -> None:
        self.path = db_path(path or "")
        self.retention = retention_ns(retention)
        self.book_top_interval_ns = duration_ns(book_top_interval, "book_top_interval")
        self._busy_ms = int(busy_timeout_s * 1000)
        self._lock = threading.Lock()
        self._names: dict[str, int] = {}  # names (exchanges, symbols) -> their ids in ``names``; only grows
        self._conn = self._open()
        width = {table: len(COLUMNS[table]) + 2 for table in TABLES}
        limit = self._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._per_statement = {t: max(1, min(ROWS_PER_STATEMENT, limit // w)) for t, w in width.items()}

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, version={self.version})"

    # -- opening ----------------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        _refuse_foreign_file(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the store's folder {self.path.parent}: {error}") from error
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the store {self.path}: {error}") from error
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            self.version = migrate(conn)  # reads first: a damaged file fails here, before any write
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit is in the WAL (the OS's page cache) when COMMIT returns, so it survives
            # the process being killed; the WAL is fsynced at checkpoints, so a power loss or an OS crash
            # may undo the last commits before one (never corrupting the file). FULL would fsync each commit.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._names = dict(conn.execute("SELECT name, nid FROM names").fetchall())
        except sqlite3.OperationalError as error:
            conn.close()
            raise StoreError(f"cannot open the store {self.path}: {error}") from error
        except sqlite3.DatabaseError as error:
            conn.close()
            raise StoreError(
                f"{self.path} is not a usable mdx store ({error}); it was left as it is"
            ) from error
        except MdxError:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------------------

    def write_trades(self, trades: Iterable[Any]) -> WriteResult:
        """Store ``Trade`` events (bad ones refused and counted in the result, the rest stored)."""
        return self._write_events("trades", trades, trade_row)

    def write_bars(self, bars: Iterable[Any], source: str = "mdx") -> WriteResult:
        """Store closed ``Bar`` events; ``source``: ``mdx`` (built from trades) or ``exchange``."""
        return self._write_events("bars", bars, lambda bar: bar_row(bar, source))

    def write_book_tops(self, views: Iterable[Any]) -> WriteResult:
        """Store the top of each ``BookView`` given (one-sided or out-of-sync views are skipped)."""
        return self._write_events("book_tops", views, book_top_row)

    def write_alerts(self, alerts: Iterable[Any]) -> WriteResult:
        return self._write_events("alerts", alerts, alert_row)

    def _write_events(self, table: str, events: Iterable[Any], to_row: Any) -> WriteResult:
        result = WriteResult()
        rows: list[Row] = []
        for event in events:
            try:
                row = to_row(event)
            except InvalidValue as error:
                result.reject(table, str(error))
                continue
            if row is not None:
                rows.append(row)
        return self.commit({table: rows}, result=result)

    def commit(
        self,
        batch: Mapping[str, Sequence[Row]],
        *,
        now_ns: int | None = None,
        result: WriteResult | None = None,
    ) -> WriteResult:
        """Store rows (already in ``schema.COLUMNS`` order) of several tables in one transaction; rows
        whose key is there already are left alone. With ``now_ns`` (event time), rows older than the
        retention of a written table are deleted in the same transaction (for the symbols written).
        A row the database refuses is counted in ``rejected`` and the rest still stored. When this
        returns, the rows are committed to the WAL: a reader sees them and a killed process keeps them."""
        result = result or WriteResult()
        with self._lock:
            try:
                self._commit_locked(batch, now_ns, result, by_row=False)
            except ROW_ERRORS:  # a row past the checks of mdx.store.rows: find it, keep the rest
                for table in batch:
                    result.stored.pop(table, None)
                    result.duplicates.pop(table, None)
                try:
                    self._commit_locked(batch, now_ns, result, by_row=True)
                except sqlite3.Error as error:
                    raise StoreError(f"cannot write to {self.path}: {error}") from error
            except sqlite3.Error as error:
                raise StoreError(f"cannot write to {self.path}: {error}") from error
        return result

    def _commit_locked(
        self, batch: Mapping[str, Sequence[Row]], now_ns: int | None, result: WriteResult, *, by_row: bool
    ) -> None:
        """One transaction: every table's rows (in multi-row statements, or ``by_row`` one at a time,
        each refused row counted), then retention. Names interned in it are remembered once committed."""
        conn = self._conn
        fresh: dict[str, int] = {}  # names this transaction added (forgotten if it rolls back)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, rows in batch.items():
                if not rows:
                    continue
                refused = result.rejected.get(table, 0)
                if by_row:
                    stored = self._insert_by_row(table, rows, fresh, result)
                else:
                    stored = self._insert(table, rows, fresh)
                refused = result.rejected.get(table, 0) - refused
                result.stored[table] = result.stored.get(table, 0) + stored
                result.duplicates[table] = result.duplicates.get(table, 0) + len(rows) - stored - refused
            if now_ns is not None:
                self._retain(batch, now_ns, result, fresh)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._names.update(fresh)

    def _name_id(self, name: str, fresh: dict[str, int]) -> int:
        """The id of ``name`` in ``names``, added there (in the open transaction) if it is new."""
        nid = self._names.get(name)
        if nid is None:
            nid = fresh.get(name)
        if nid is None:
            conn = self._conn
            conn.execute("INSERT INTO names (name) VALUES (?) ON CONFLICT DO NOTHING", (name,))
            nid = int(conn.execute("SELECT nid FROM names WHERE name = ?", (name,)).fetchone()[0])
            fresh[name] = nid
        return nid

    def _insert(self, table: str, rows: Sequence[Row], fresh: dict[str, int]) -> int:
        """Insert ``rows`` in multi-row statements; returns the rows stored. Trades go in per (exchange,
        symbol), whose interned ids are bound once per statement."""
        if table != "trades":
            return self._insert_many(table, rows, [])
        stored = 0
        for (exchange, symbol), group in _by_instrument(rows).items():
            ids = [self._name_id(exchange, fresh), self._name_id(symbol, fresh)]
            stored += self._insert_many(table, group, ids)
        return stored

    def _insert_many(self, table: str, rows: Sequence[Row], tail: list[Any]) -> int:
        conn = self._conn
        width = len(COLUMNS[table])
        per = self._per_statement[table]
        flat = list(itertools.chain.from_iterable(rows))  # the values of every row, one after another
        if len(flat) != len(rows) * width:
            raise sqlite3.ProgrammingError(f"{table} rows must have {width} values each")
        step = per * width
        full = len(rows) // per * step
        stored = 0
        if full:
            params = (flat[at : at + step] + tail for at in range(0, full, step))
            stored += max(conn.executemany(insert_many_sql(table, per), params).rowcount, 0)
        if full < len(flat):
            rest = flat[full:] + tail
            stored += max(conn.execute(insert_many_sql(table, len(rows) % per), rest).rowcount, 0)
        return stored

    def _insert_by_row(
        self, table: str, rows: Sequence[Row], fresh: dict[str, int], result: WriteResult
    ) -> int:
        """Insert ``rows`` one by one (trade rows converted to their stored types first); a row the
        database refuses is counted in ``result`` and the others stored. Returns the rows stored."""
        conn = self._conn
        sql = insert_sql(table)
        stored = 0
        for row in rows:
            try:
                if table == "trades":
                    row = typed_trade_row(row)
                    self._name_id(row[0], fresh)
                    self._name_id(row[1], fresh)
                stored += max(conn.execute(sql, row).rowcount, 0)
            except (*ROW_ERRORS, InvalidValue) as error:
                result.reject(table, f"{table} row {tuple(row)[:4]!r} refused by the database: {error}")
        return stored

    # -- retention --------------------------------------------------------------------------------------

    def _retain(
        self, batch: Mapping[str, Sequence[Row]], now_ns: int, result: WriteResult, fresh: dict[str, int]
    ) -> None:
        for table, rows in batch.items():
            keep = self.retention.get(table)
            if keep is None or not rows:
                continue
            at = SYMBOL_COLUMN[table]
            symbols = {row[at] for row in rows}
            if table == "trades":
                known = {**self._names, **fresh}
                symbols = {known[s] for s in symbols if s in known}
            self._delete_older(table, symbols, now_ns - keep, result)

    def _delete_older(self, table: str, symbols: Iterable[Any], cutoff_ns: int, result: WriteResult) -> None:
        """Delete the rows of ``symbols`` (for trades: their ids in ``names``) older than ``cutoff_ns``."""
        where = "trade_rows WHERE symbol_id" if table == "trades" else f"{table} WHERE symbol"
        deleted = 0
        for symbol in symbols:
            deleted += self._conn.execute(f"DELETE FROM {where} = ? AND ts < ?", (symbol, cutoff_ns)).rowcount
        if deleted:
            result.deleted[table] = result.deleted.get(table, 0) + deleted

    def apply_retention(self, now_ns: int) -> dict[str, int]:
        """Delete every row older than its table's retention before ``now_ns`` (event time); returns
        the rows deleted per table."""
        result = WriteResult()
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for table, keep in self.retention.items():
                    symbols = [r[0] for r in conn.execute(DISTINCT_SYMBOLS.get(table, "").format(table))]
                    self._delete_older(table, symbols, now_ns - keep, result)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return result.deleted

    # -- reading ----------------------------------------------------------------------------------------

    def trades(
        self, symbol: str, start: reader.When = None, end: reader.When = None, exchange: str | None = None
    ) -> pd.DataFrame:
        """Trades of ``symbol`` with ``start <= time < end`` (either may be None: open), by time:
        ``price``, ``amount``, ``side``, ``id``, ``exchange``, ``ts_recv``; the index is the event time.
        ``start`` / ``end``: datetime, ``pd.Timestamp``, ISO string (naive means UTC) or ns."""
        with reader.connect(self.path) as conn:
            return reader.trades(conn, symbol, start, end, exchange)

    def bars(
        self,
        symbol: str,
        timeframe: str,
        start: reader.When = None,
        end: reader.When = None,
        exchange: str | None = None,
        source: str = "mdx",
    ) -> pd.DataFrame:
        """Closed bars of ``symbol`` by open time (``start <= open < end``), in the columns of
        ``mdx.bars_to_frame`` plus ``exchange``; ``source``: ``mdx`` or ``exchange``."""
        with reader.connect(self.path) as conn:
            return reader.bars(conn, symbol, timeframe, start, end, exchange, source)

    def book_tops(
        self, symbol: str, start: reader.When = None, end: reader.When = None, exchange: str | None = None
    ) -> pd.DataFrame:
        """Book tops of ``symbol``: bid, ask, bid_size, ask_size, mid, spread_bps, imbalance, exchange."""
        with reader.connect(self.path) as conn:
            return reader.book_tops(conn, symbol, start, end, exchange)

    def alerts(
        self,
        symbol: str | None = None,
        start: reader.When = None,
        end: reader.When = None,
        rule: str | None = None,
    ) -> pd.DataFrame:
        """Fired alerts (of ``symbol`` / ``rule`` when given): rule, kind, value, threshold, text, ..."""
        with reader.connect(self.path) as conn:
            return reader.alerts(conn, symbol, start, end, rule)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with reader.connect(self.path) as conn:
            stored = {table: "trade_rows" if table == "trades" else table for table in TABLES}
            return {t: conn.execute(f"SELECT COUNT(*) FROM {stored[t]}").fetchone()[0] for t in TABLES}


def _by_instrument(rows: Sequence[Row]) -> dict[tuple[str, str], Sequence[Row]]:
    """Trade rows by (exchange, symbol), each group in the order given (one group without copying when
    the batch holds one instrument, as a feed's batches mostly do)."""
    exchanges = set(map(_EXCHANGE, rows))
    symbols = set(map(_SYMBOL, rows))
    if len(exchanges) == 1 and len(symbols) == 1:
        return {(exchanges.pop(), symbols.pop()): rows}
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        key = (row[0], row[1])
        group = groups.get(key)
        if group is None:
            groups[key] = group = []
        group.append(row)
    return dict(groups)


_EXCHANGE, _SYMBOL = operator.itemgetter(0), operator.itemgetter(1)


def open_store(store: Store | str | os.PathLike[str]) -> Store:
    """``store`` itself, or the store at that path."""
    return store if isinstance(store, Store) else Store(store)


def _refuse_foreign_file(path: Path) -> None:
    """A ``StoreError`` for a path that holds something other than a SQLite database (read only)."""
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a store file")
    try:
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as error:
        raise StoreError(f"cannot read {path}: {error}") from error
    if head and head != SQLITE_HEADER:
        raise StoreError(
            f"{path} is not a SQLite database; it was left as it is (choose another --db / MDX_DB)"
        )


__all__ = ["SCHEMA_VERSION", "Store", "WriteResult", "duration_ns", "open_store", "retention_ns"]
