"""Reads of the store as DataFrames indexed by event time (a UTC ``DatetimeIndex`` named ``timestamp``).

Each read opens its own read-only connection (WAL: it sees the last commit and never waits for the
writer, in this process or another). Times select ``start <= ts < end``; either bound may be None.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from ..errors import ConfigError, StoreError
from ..market.bars import BAR_COLUMNS

When = datetime | date | pd.Timestamp | str | int | np.integer | None

BAR_VALUES = (*BAR_COLUMNS, "count")


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the store at ``path``, closed on exit."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as error:
        raise StoreError(f"cannot read the store {path}: {error}") from error
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        yield conn
    except sqlite3.DatabaseError as error:
        raise StoreError(f"cannot read the store {path}: {error}") from error
    finally:
        conn.close()


def to_ns(value: When, what: str = "time") -> int | None:
    """ns since the epoch of a datetime, Timestamp, ISO string (naive: UTC) or int ns; None stays None."""
    if value is None:
        return None
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{what}: cannot read {value!r} as a time ({error})") from None
    if stamp is pd.NaT:
        raise ConfigError(f"{what}: {value!r} is not a time")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value)


def _where(
    symbol_column: str, symbol: str | None, start: When, end: When, **equal: Any
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if symbol is not None:
        clauses.append(f"{symbol_column} = ?")
        params.append(symbol)
    for column, value in equal.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    lo, hi = to_ns(start, "start"), to_ns(end, "end")
    if lo is not None:
        clauses.append("ts >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append("ts < ?")
        params.append(hi)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _index(ts: Sequence[int]) -> pd.DatetimeIndex:
    values = np.asarray(ts, dtype=np.int64).view("datetime64[ns]")
    return pd.DatetimeIndex(values, name="timestamp").tz_localize("UTC")


def _frame(rows: list[tuple[Any, ...]], columns: Sequence[str], dtypes: Sequence[Any]) -> pd.DataFrame:
    """``rows`` of (ts, *columns) as a frame indexed by ts; None in a float column becomes NaN."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in range(len(columns) + 1)]
    data = {
        name: np.array(col, dtype=dtype) if dtype is not object else list(col)
        for name, col, dtype in zip(columns, values[1:], dtypes, strict=True)
    }
    return pd.DataFrame(data, index=_index(values[0]))


def trades(
    conn: sqlite3.Connection, symbol: str, start: When, end: When, exchange: str | None
) -> pd.DataFrame:
    where, params = _where("symbol", symbol, start, end, exchange=exchange)
    rows = conn.execute(
        f"SELECT ts, price, amount, side, id, exchange, ts_recv FROM trades{where} ORDER BY ts, rowid", params
    ).fetchall()
    columns = ("price", "amount", "side", "id", "exchange", "ts_recv")
    frame = _frame(rows, columns, (np.float64, np.float64, object, object, object, np.int64))
    frame["side"] = pd.Categorical(frame["side"].replace("", None), categories=["buy", "sell"])
    return frame


def bars(
    conn: sqlite3.Connection,
    symbol: str,
    timeframe: str,
    start: When,
    end: When,
    exchange: str | None,
    source: str,
) -> pd.DataFrame:
    where, params = _where(
        "symbol", symbol, start, end, timeframe=timeframe, source=source, exchange=exchange
    )
    rows = conn.execute(
        f"SELECT ts, {', '.join(BAR_VALUES)}, exchange FROM bars{where} ORDER BY ts, exchange", params
    ).fetchall()
    dtypes = [np.float64] * len(BAR_COLUMNS) + [np.int64, object]
    return _frame(rows, (*BAR_VALUES, "exchange"), dtypes)


def book_tops(
    conn: sqlite3.Connection, symbol: str, start: When, end: When, exchange: str | None
) -> pd.DataFrame:
    where, params = _where("symbol", symbol, start, end, exchange=exchange)
    columns = ("bid", "ask", "bid_size", "ask_size", "mid", "spread_bps", "imbalance")
    rows = conn.execute(
        f"SELECT ts, {', '.join(columns)}, exchange, ts_recv FROM book_tops{where} ORDER BY ts, exchange",
        params,
    ).fetchall()
    return _frame(rows, (*columns, "exchange", "ts_recv"), [np.float64] * len(columns) + [object, np.int64])


def alerts(
    conn: sqlite3.Connection, symbol: str | None, start: When, end: When, rule: str | None
) -> pd.DataFrame:
    where, params = _where("symbol", symbol, start, end, rule=rule)
    columns = ("rule", "kind", "value", "threshold", "text", "exchange", "symbol", "ts_recv")
    rows = conn.execute(
        f"SELECT ts, {', '.join(columns)} FROM alerts{where} ORDER BY ts, rule", params
    ).fetchall()
    dtypes = (object, object, np.float64, np.float64, object, object, object, np.int64)
    return _frame(rows, columns, dtypes)


__all__ = ["When", "alerts", "bars", "book_tops", "connect", "to_ns", "trades"]
