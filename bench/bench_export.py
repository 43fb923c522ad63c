"""Parquet export of the store's trades: ``mdx.store.export`` beside a naive pandas ``to_parquet``.

Run: ``python bench/bench_export.py [N]`` (default 10,000,000 trades). N trades of one symbol on two
exchanges over ~2.3 days are written into a store in a temp folder (``Store.commit``, batches of 200,000;
the time is printed but is not what is measured), then exported twice to a Hive-partitioned dataset
``exchange=/symbol=/date=``:

- mdx: ``export(store, symbol=..., format="parquet", out=...)``: rows streamed from SQLite in chunks of
  500,000 into one Parquet file per exchange and day, never the whole table in memory;
- naive: ``store.trades(symbol)`` (the whole table as a DataFrame), a ``date`` column, then
  ``DataFrame.to_parquet(partition_cols=["exchange", "symbol", "date"])``; its two parts are shown too.

Both write the same rows; the bench checks that DuckDB reads the same count back from each.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mdx.store import Store, export

T0 = 1_723_161_600 * 10**9
SYMBOL = "BTC/USDT"
BATCH = 200_000
STEP_NS = 20_000_000  # a trade every 20 ms per exchange: 10 M trades span ~2.3 days


def fill(store: Store, n: int) -> float:
    """Write ``n`` trades (two exchanges, alternating) into ``store``; returns the seconds it took."""
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    for first in range(0, n, BATCH):
        i = np.arange(first, min(first + BATCH, n))
        ts = (T0 + (i // 2) * STEP_NS).tolist()
        price = np.round(60_000 + np.cumsum(rng.normal(0, 2, len(i))), 2).tolist()
        amount = np.round(rng.exponential(0.05, len(i)) + 1e-5, 6).tolist()
        exchange = ["binance" if k % 2 else "okx" for k in i.tolist()]
        side = ["buy" if k % 3 else "sell" for k in i.tolist()]
        rows = list(
            zip(exchange, [SYMBOL] * len(i), map(str, i.tolist()), ts, ts, price, amount, side, strict=True)
        )
        result = store.commit({"trades": rows})
        assert result.stored["trades"] == len(i), result
    return time.perf_counter() - started


def mdx_export(store: Store, out: Path) -> tuple[float, int]:
    started = time.perf_counter()
    report = export(store, symbol=SYMBOL, format="parquet", out=out, progress=False)
    return time.perf_counter() - started, len(report.files)


def naive_export(store: Store, out: Path) -> tuple[float, float]:
    started = time.perf_counter()
    frame = store.trades(SYMBOL)
    read = time.perf_counter() - started
    frame = frame.reset_index()
    frame["symbol"] = SYMBOL
    frame["date"] = frame["timestamp"].dt.strftime("%Y-%m-%d")
    frame.to_parquet(out, partition_cols=["exchange", "symbol", "date"], index=False)
    return read, time.perf_counter() - started


def count_back(out: Path) -> int:
    import duckdb

    sql = f"SELECT count(*) FROM read_parquet('{out}/**/*.parquet', hive_partitioning=true)"
    return int(duckdb.sql(sql).fetchall()[0][0])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    folder = Path(tempfile.mkdtemp(prefix="mdx-bench-export-"))
    try:
        with Store(folder / "bench.db") as store:
            filled = fill(store, n)
            print(f"stored {n:,} trades in {filled:.1f} s ({n / filled:,.0f}/s; setup, not measured)")
            seconds, files = mdx_export(store, folder / "mdx")
            rate = f"{n / seconds:>12,.0f} trades/s"
            print(f"mdx export (streamed)    : {seconds:6.2f} s  {rate}  {files} files")
            read, total = naive_export(store, folder / "naive")
            print(
                f"naive pandas to_parquet  : {total:6.2f} s  {n / total:>12,.0f} trades/s  "
                f"(store.trades {read:.2f} s + to_parquet {total - read:.2f} s)"
            )
            assert count_back(folder / "mdx") == count_back(folder / "naive") == n
            print(f"DuckDB reads {n:,} rows back from each dataset")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
