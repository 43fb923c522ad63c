"""The store's trades or bars of one symbol out to CSV or to a Hive-partitioned Parquet dataset.

    export(store, symbol="BTC/USDT", format="parquet", out="lake/trades")          # trades
    export(store, symbol="BTC/USDT", timeframe="1m", format="csv", out="btc-1m.csv") # bars

CSV: one file, a header, times as ISO 8601 UTC (``...Z``, to the ns they carry), every column ``mdx import``
reads back (a round trip stores exactly what was exported): ``timestamp, exchange, symbol, id, price,
amount, side, ts_recv`` for trades; ``timestamp, exchange, symbol, timeframe, source, open, high, low,
close, volume, quote_volume, vwap, buy_volume, sell_volume, count, ts_recv`` for bars (both sources).

Parquet: ``OUT/exchange=E/symbol=S/date=YYYY-MM-DD/trades.parquet`` (bars: ``bars-1m.parquet``), one file
per exchange and UTC day, rows in time order; DuckDB (``read_parquet('OUT/**/*.parquet',
hive_partitioning=true)``), pyarrow (``pyarrow.dataset.dataset(OUT, partitioning="hive")``) and pandas read
it as is (tested); Polars and Spark decode Hive's escaping the same way. Partition values are
percent-encoded as Hive and Spark escape paths (``urllib.parse.quote(value, safe="")``): ``BTC/USDT`` is the
folder ``symbol=BTC%2FUSDT`` and every reader decodes it back, so the ``symbol`` column of the dataset is
the real ccxt symbol. (A look-alike such as ``BTC-USDT`` would not do: readers take a partition's value over
a file column of the same name, so the symbol read back would be ``BTC-USDT``. For the same reason the files
do not repeat ``exchange`` and ``symbol`` as columns: pandas and ``pyarrow.parquet.read_table`` refuse a
column that is also a partition key; each file carries them in its key-value metadata, ``mdx.exchange`` /
``mdx.symbol``.) Times are ``timestamp[us, UTC]`` (what Spark reads; ns timestamps it refuses):
``timestamp``, the event time (a bar's open time), and ``ts_recv``. Each file is written under a temporary
name and renamed when complete; exporting again replaces the files of the days it writes and leaves the
others. Give trades and each timeframe of bars their own ``out`` folder, or read by file name
(``**/trades.parquet``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError, StoreError
from ..market.timeframes import timeframe_ns
from . import reader
from .imports import show_progress
from .store import Store

FORMATS = ("csv", "parquet")
CHUNK_ROWS = 500_000
DAY_NS = 86_400 * 10**9
TRADE_COLUMNS = ("exchange", "ts", "id", "price", "amount", "side", "ts_recv")
BAR_COLUMNS = (
    "exchange", "ts", "timeframe", "source", "open", "high", "low", "close", "volume", "quote_volume",
    "vwap", "buy_volume", "sell_volume", "count", "ts_recv",
)  # fmt: skip
TIME_US = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ExportReport:
    """What one export wrote: ``rows`` to ``files`` (one CSV, or the dataset's Parquet files)."""

    out: Path
    format: str
    table: str
    rows: int
    files: tuple[Path, ...]

    def __str__(self) -> str:
        where = self.out if self.format == "csv" else f"{self.out} ({len(self.files)} files)"
        return f"exported {self.rows} {self.table} rows as {self.format} to {where}"


def partition_value(value: str) -> str:
    """A Hive partition value for ``value``: percent-encoded (``BTC/USDT`` -> ``BTC%2FUSDT``)."""
    return quote(value, safe="")


def _query(
    symbol: str, timeframe: str | None, exchange: str | None, start: reader.When, end: reader.When
) -> tuple[str, list[Any]]:
    table, columns = ("trades", TRADE_COLUMNS) if timeframe is None else ("bars", BAR_COLUMNS)
    clauses, params = ["symbol = ?"], [symbol]
    if timeframe is not None:
        clauses.append("timeframe = ?")
        params.append(timeframe)
    if exchange:
        clauses.append("exchange = ?")
        params.append(exchange)
    lo, hi = reader.to_ns(start, "start"), reader.to_ns(end, "end")
    if lo is not None:
        clauses.append("ts >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append("ts < ?")
        params.append(hi)
    order = "ts, rowid" if timeframe is None else "ts, exchange, source"
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {' AND '.join(clauses)} ORDER BY {order}"
    return sql, params


def _row_type(columns: tuple[str, ...]) -> pa.StructType:
    text = {"exchange", "id", "side", "timeframe", "source"}
    whole = {"ts", "ts_recv", "count"}
    return pa.struct(
        [(c, pa.string() if c in text else pa.int64() if c in whole else pa.float64()) for c in columns]
    )


def _chunks(path: Path, sql: str, params: list[Any], columns: tuple[str, ...]) -> Iterator[pa.Table]:
    """The query's rows as Arrow tables of ``CHUNK_ROWS`` rows (NULL stays null)."""
    row_type = _row_type(columns)
    with reader.connect(path) as conn:
        cursor = conn.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_ROWS):
            yield pa.Table.from_struct_array(pa.array(rows, type=row_type))  # tuples -> columns, in C++


def _count(path: Path, sql: str, params: list[Any]) -> int:
    counted = "SELECT COUNT(*) FROM (" + sql.rsplit(" ORDER BY ", 1)[0] + ")"
    with reader.connect(path) as conn:
        return int(conn.execute(counted, params).fetchone()[0])


def _arrow(chunk: pa.Table) -> pa.Table:
    """A chunk as the Parquet files' table: µs times, no exchange (it is the partition)."""
    kept = [c for c in chunk.column_names if c not in ("exchange", "ts", "ts_recv")]
    ts, recv = (chunk[c].to_numpy() // 1000 for c in ("ts", "ts_recv"))
    return pa.table(
        {
            "timestamp": pa.array(ts, TIME_US),
            **{c: chunk[c] for c in kept},
            "ts_recv": pa.array(recv, TIME_US),
        }
    )


class _Partitions:
    """Open Parquet writers, one per (exchange, day), each renamed into place when closed."""

    def __init__(self, out: Path, symbol: str, name: str) -> None:
        self.out, self.symbol, self.name = out, symbol, name
        self.open: dict[tuple[str, int], tuple[pq.ParquetWriter, Path, Path]] = {}
        self.files: list[Path] = []

    def write(self, exchange: str, day: int, table: pa.Table) -> None:
        key = (exchange, day)
        if key not in self.open:
            date = np.datetime64(day, "D").astype(str)
            folder = (
                self.out
                / f"exchange={partition_value(exchange)}"
                / f"symbol={partition_value(self.symbol)}"
                / f"date={date}"
            )
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"{self.name}.parquet"
            temporary = folder / f".{self.name}.parquet.tmp"
            schema = table.schema.with_metadata({"mdx.exchange": exchange, "mdx.symbol": self.symbol})
            self.open[key] = (pq.ParquetWriter(temporary, schema), temporary, final)
        writer = self.open[key][0]
        writer.write_table(table)

    def close_before(self, day: int | None) -> None:
        """Close (and rename into place) every file of a day before ``day`` (None: all)."""
        for key in [k for k in self.open if day is None or k[1] < day]:
            writer, temporary, final = self.open.pop(key)
            writer.close()
            os.replace(temporary, final)
            self.files.append(final)

    def abandon(self) -> None:
        for writer, temporary, _ in self.open.values():
            writer.close()
            temporary.unlink(missing_ok=True)
        self.open.clear()


def _write_parquet(
    chunks: Iterator[dict[str, Any]], out: Path, symbol: str, timeframe: str | None, bar: Any
) -> tuple[int, list[Path]]:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file: a Parquet export writes a folder (a Hive-partitioned dataset)")
    partitions = _Partitions(out, symbol, "trades" if timeframe is None else f"bars-{timeframe}")
    rows = 0
    try:
        for chunk in chunks:
            table = _arrow(chunk)
            days = chunk["ts"].to_numpy() // DAY_NS
            exchanges = chunk["exchange"].to_numpy(zero_copy_only=False)
            partitions.close_before(int(days[0]))  # rows come in time order: earlier days are done
            for exchange in dict.fromkeys(exchanges.tolist()):
                same = exchanges == exchange
                for day in np.unique(days[same]).tolist():
                    at = np.flatnonzero(same & (days == day))
                    part = table.slice(at[0], len(at)) if at[-1] - at[0] + 1 == len(at) else table.take(at)
                    partitions.write(exchange, day, part)
            rows += len(days)
            bar.update(len(days))
        partitions.close_before(None)
    except BaseException:
        partitions.abandon()
        raise
    return rows, sorted(partitions.files)


def _iso(ns: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC text of ns times, to the ms, µs or ns the chunk needs."""
    unit = "ms" if not (ns % 1_000_000).any() else "us" if not (ns % 1000).any() else "ns"
    return np.datetime_as_string(ns.view("datetime64[ns]"), unit=unit, timezone="UTC")


def _write_csv(
    chunks: Iterator[dict[str, Any]], out: Path, symbol: str, timeframe: str | None, bar: Any
) -> tuple[int, list[Path]]:
    import pandas as pd

    if out.is_dir():
        raise ConfigError(f"{out} is a folder: a CSV export writes one file (give its name)")
    if not out.parent.is_dir():
        raise ConfigError(f"{out.parent} does not exist: create it first or choose another --out")
    columns = TRADE_COLUMNS if timeframe is None else BAR_COLUMNS
    header = ["timestamp", "exchange", "symbol", *(c for c in columns if c not in ("exchange", "ts"))]
    temporary = out.with_name(f".{out.name}.tmp")
    rows = 0
    try:
        with open(temporary, "w", newline="", encoding="utf-8") as file:
            file.write(",".join(header) + "\n")
            for chunk in chunks:
                n = chunk.num_rows
                frame = chunk.to_pandas()
                frame = pd.DataFrame(
                    {
                        "timestamp": _iso(chunk["ts"].to_numpy()),
                        "exchange": frame["exchange"],
                        "symbol": [symbol] * n,
                        **{c: frame[c] for c in header[3:] if c != "ts_recv"},
                        "ts_recv": _iso(chunk["ts_recv"].to_numpy()),
                    }
                )
                frame.to_csv(file, header=False, index=False, lineterminator="\n")
                rows += n
                bar.update(n)
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return rows, [out]


def export(
    store: Store | str | os.PathLike[str],
    *,
    symbol: str,
    format: str,
    out: str | os.PathLike[str],
    timeframe: str | None = None,
    exchange: str | None = None,
    start: reader.When = None,
    end: reader.When = None,
    progress: bool | None = None,
) -> ExportReport:
    """Export the trades (no ``timeframe``) or bars of ``symbol`` with ``start <= time < end`` (of
    ``exchange`` when given) as ``format`` (``csv``: the file ``out``; ``parquet``: the dataset folder
    ``out``); see the module docstring. ``progress``: a tqdm bar (None: in a terminal or notebook)."""
    from tqdm.auto import tqdm

    if format not in FORMATS:
        raise ConfigError(f"export format {format!r}: choose one of {', '.join(FORMATS)}")
    if timeframe is not None:
        timeframe_ns(timeframe)  # an unknown timeframe is an error, not an empty export
    path = store.path if isinstance(store, Store) else Path(store)
    if not path.is_file():
        raise StoreError(f"no store at {path}")
    target = Path(out).expanduser()
    sql, params = _query(symbol, timeframe, exchange, start, end)
    columns = TRADE_COLUMNS if timeframe is None else BAR_COLUMNS
    enabled = show_progress(progress)
    total = _count(path, sql, params) if enabled else None
    write = _write_parquet if format == "parquet" else _write_csv
    with tqdm(total=total, desc=f"export {symbol}", unit=" rows", disable=not enabled, leave=False) as bar:
        rows, files = write(_chunks(path, sql, params, columns), target, symbol, timeframe, bar)
    return ExportReport(target, format, "trades" if timeframe is None else "bars", rows, tuple(files))


__all__ = ["FORMATS", "ExportReport", "export", "partition_value"]
