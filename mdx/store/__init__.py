"""Storage: the SQLite store (the embedded default) and the session consumer that writes to it.

    store = mdx.Store("market.db", retention={"trades": "7d"})   # None: MDX_DB, else the data directory
    session = mdx.Session(source, store=store)                    # trades, closed bars, book tops, alerts
    store.bars("BTC/USDT", "1m", "2024-08-08", "2024-08-09")      # DataFrames, UTC DatetimeIndex
    import_csv(store, "klines.csv", symbol="BTC/USDT", timeframe="1m")   # checked; a bad file: nothing stored
    export(store, symbol="BTC/USDT", format="parquet", out="lake")      # Hive dataset exchange=/symbol=/date=

Only this package imports ``sqlite3`` (and, later, ``redis``).
"""

from __future__ import annotations

from .exports import ExportReport, export
from .imports import ImportReport, import_csv
from .schema import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version
from .store import Store, WriteResult, open_store
from .writer import QUEUE_FULL, REJECTED, WRITE_FAILED, StoreStats, StoreWriter

__all__ = [
    "MIGRATIONS",
    "QUEUE_FULL",
    "REJECTED",
    "SCHEMA_VERSION",
    "WRITE_FAILED",
    "ExportReport",
    "ImportReport",
    "Store",
    "StoreStats",
    "StoreWriter",
    "WriteResult",
    "export",
    "import_csv",
    "migrate",
    "open_store",
    "schema_version",
]
