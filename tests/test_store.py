"""The SQLite store: real database files in temp folders, a real capture persisted and read back, idempotent
writes, a reader in another process during writes, migrations, retention by event time, a full queue and
bad files, each a counted rejection or a clear StoreError, never a crash or lost data."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mdx
from mdx.alerts.alert import Alert
from mdx.clock import SimulatedClock
from mdx.config import db_path
from mdx.errors import ConfigError, StoreError
from mdx.events import Bar, Trade
from mdx.market.bars import bars_to_frame
from mdx.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreWriter, migrate
from mdx.store.writer import QUEUE_FULL, REJECTED

SPOT = "binance-spot-l2-trades"
T0 = 1_723_161_600 * 10**9  # 2024-08-09 00:00 UTC
S = 10**9


def trade(
    i: int, ts: int | None = None, price: float = 100.0, amount: float = 1.0, symbol: str = "A/B"
) -> Trade:
    at = T0 + i * S if ts is None else ts
    return Trade("x", symbol, at, at + 1, str(i), price + i, amount, "buy" if i % 2 else "sell")


def bar(i: int, high: float = 12.0, closed: bool = True) -> Bar:
    at = T0 + i * 60 * S
    return Bar("x", "A/B", "1m", at, at + 59 * S, 10.0, high, 9.0, 11.0, 5.0, 50.0, 10.0, 3.0, 2.0, 7, closed)


def alert(i: int) -> Alert:
    return Alert("x", "A/B", T0 + i * S, T0 + i * S, "above", "price_above", 101.0 + i, 100.0, f"fired {i}")


class Collect(mdx.Consumer):
    takes = (Trade,)

    def __init__(self) -> None:
        self.trades: list[Trade] = []

    def on_event(self, event: Trade) -> None:
        self.trades.append(event)


# --- a real capture, persisted and read back ----------------------------------------------------------


def replay_into(shared_data: Path, db: Path) -> tuple[mdx.Session, Collect]:
    files = [shared_data / SPOT / f"btcusdt_2024080{d}.gz" for d in (8, 9)]
    seen = Collect()
    session = mdx.Session(
        mdx.ReplaySource(files), timeframes=("1s", "1m"), clock=SimulatedClock(), consumers=[seen], store=db
    )
    return session.run_until_done(), seen


@pytest.mark.data
def test_a_replay_is_stored_as_the_session_saw_it_and_stored_once(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "replay.db"
    session, seen = replay_into(shared_data, db)
    assert session.rejections.total == 0
    store = Store(db)
    key = ("binance", "BTC/USDT")

    stored = store.trades("BTC/USDT")
    assert len(stored) == len(seen.trades) > 19_000
    expected = pd.DataFrame(
        {
            "price": [t.price for t in seen.trades],
            "amount": [t.amount for t in seen.trades],
            "id": [t.id for t in seen.trades],
            "ts_event": [t.ts_event for t in seen.trades],
        }
    ).sort_values("ts_event", kind="stable")
    assert stored.index.tz is not None and str(stored.index.tz) == "UTC"
    np.testing.assert_array_equal(stored.index.asi8, expected["ts_event"].to_numpy())
    np.testing.assert_array_equal(stored["price"].to_numpy(), expected["price"].to_numpy())
    np.testing.assert_array_equal(stored["amount"].to_numpy(), expected["amount"].to_numpy())
    assert stored["id"].tolist() == expected["id"].tolist()
    cached = session.cache.trades(key)  # the cache's bounded window: the newest trades
    assert stored["id"].tolist()[-len(cached) :] == [t.id for t in cached]

    for tf in ("1s", "1m"):
        closed = session.cache.bars(key, tf)
        assert closed and all(b.closed for b in closed)
        frame = store.bars("BTC/USDT", tf)
        pd.testing.assert_frame_equal(frame.drop(columns="exchange"), bars_to_frame(closed))
        assert set(frame["exchange"]) == {"binance"}
        assert store.bars("BTC/USDT", tf, source="exchange").empty  # all built by mdx from trades
    open_bar = session.cache.open_bar(key, "1m")
    assert open_bar is not None and open_bar.ts_event not in store.bars("BTC/USDT", "1m").index.asi8

    tops = store.book_tops("BTC/USDT")
    assert len(tops) > 500 and (tops["bid"] < tops["ask"]).all()
    assert (np.diff(tops.index.asi8 // S) >= 1).all()  # at most one per second of event time
    before = store.counts()

    again, _ = replay_into(shared_data, db)  # the same replay again: nothing stored twice
    stats = again.store_writer.stats()  # type: ignore[union-attr]
    assert store.counts() == before
    assert sum(stats.stored.values()) == 0 and stats.duplicates["trades"] == len(seen.trades)


# --- writing: idempotent, bad rows counted ---------------------------------------------------------------


def test_writing_the_same_rows_twice_stores_them_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db")
    trades, bars, alerts = (
        [trade(i) for i in range(50)],
        [bar(i) for i in range(5)],
        [alert(i) for i in range(3)],
    )
    first = [store.write_trades(trades), store.write_bars(bars), store.write_alerts(alerts)]
    assert [r.stored for r in first] == [{"trades": 50}, {"bars": 5}, {"alerts": 3}]
    second = [store.write_trades(trades), store.write_bars(bars), store.write_alerts(alerts)]
    assert [r.duplicates for r in second] == [{"trades": 50}, {"bars": 5}, {"alerts": 3}]
    assert store.counts() == {"trades": 50, "bars": 5, "book_tops": 0, "alerts": 3}
    assert store.write_bars(bars, source="exchange").stored == {"bars": 5}  # another source: other rows
    assert len(store.bars("A/B", "1m", source="exchange")) == len(store.bars("A/B", "1m")) == 5
    fired = store.alerts("A/B")
    assert fired["text"].tolist() == ["fired 0", "fired 1", "fired 2"] and fired["value"].iloc[0] == 101.0


def test_bad_rows_are_counted_rejections_and_the_rest_is_stored(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db")
    bad = [trade(1, price=math.nan), trade(2, amount=-1.0), trade(3, price=math.inf)]
    result = store.write_trades([trade(0), *bad, trade(4)])
    assert result.stored == {"trades": 2} and result.rejected == {"trades": 3}
    assert "price nan" in result.errors[0]
    assert store.write_bars([bar(0, high=8.0), bar(1)]).rejected == {"bars": 1}  # high below low

    rejections = mdx.Rejections()
    writer = StoreWriter(store, clock=SimulatedClock(T0), rejections=rejections)
    for event in (trade(5, price=math.nan), bar(2, high=1.0), trade(6), bar(3, closed=False)):
        writer.on_event(event)  # never raises: the session's event goes on whatever the store thinks
    writer.close()
    assert rejections.by_reason[REJECTED] == 2
    stats = writer.stats()
    assert stats.rejected == {"trades": 1, "bars": 1} and stats.stored == {"trades": 1}
    assert len(store.bars("A/B", "1m")) == 1  # the open bar was not stored


def test_a_row_the_database_refuses_is_counted_and_the_batch_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db")
    good = ("x", "A/B", "1", T0, T0, 100.0, 1.0, "buy")
    refused = ("x", "A/B", "2", T0, T0, -5.0, 1.0, "buy")  # past the Python checks: the CHECK refuses it
    result = store.commit({"trades": [good, refused]})
    assert result.stored == {"trades": 1} and result.rejected == {"trades": 1}
    assert "CHECK constraint failed" in result.errors[0]


# --- reading -------------------------------------------------------------------------------------------


def test_reads_take_any_kind_of_time_and_select_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db")
    store.write_trades([trade(i) for i in range(10)])
    start, end = T0 + 2 * S, T0 + 5 * S
    ids = ["2", "3", "4"]
    for lo, hi in [
        (start, end),
        ("2024-08-09 00:00:02", "2024-08-09T00:00:05Z"),
        (datetime(2024, 8, 9, 0, 0, 2, tzinfo=UTC), pd.Timestamp("2024-08-09 00:00:05", tz="UTC")),
        (np.int64(start), datetime(2024, 8, 9, 0, 0, 5)),  # a naive datetime is UTC
    ]:
        assert store.trades("A/B", lo, hi)["id"].tolist() == ids
    assert store.trades("A/B", exchange="other").empty
    empty = store.trades("C/D")
    assert empty.empty and isinstance(empty.index, pd.DatetimeIndex) and str(empty.index.tz) == "UTC"
    with pytest.raises(ConfigError, match="start"):
        store.trades("A/B", "not a time")


# --- the writer: batches by the injected clock, never blocks, counts a full queue --------------------------


def test_the_writer_flushes_by_the_sessions_clock_or_every_n_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db")
    clock = SimulatedClock(T0 + 100 * S)  # ahead of the events' time: the clock decides
    writer = StoreWriter(store, clock=clock, batch_rows=5)
    for i in range(3):
        writer.on_event(trade(i))
    assert writer.stats().pending == 3  # neither a second of the clock nor 5 rows yet
    clock.advance(S)
    writer.on_event(trade(3))  # a second later by the clock: handed over
    assert writer.stats().pending == 0
    for i in range(4, 9):
        writer.on_event(trade(i))  # 5 rows: handed over at once, whatever the clock
    assert writer.stats().pending == 0
    assert writer.flush(wait=True)
    assert writer.stats().stored == {"trades": 9} and writer.stats().commits == 2

    writer.on_event(trade(9))  # a quiet feed: the writer thread hands it over once the clock says so
    clock.advance(2 * S)
    assert wait_until(lambda: writer.stats().stored == {"trades": 10})
    writer.close()


class SlowStore(Store):
    """A store whose commits wait until the test lets them go: the disk is slower than the feed."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.go = threading.Event()

    def commit(self, batch: Any, **kwargs: Any) -> Any:
        assert self.go.wait(60), "the test never released the commit"
        return super().commit(batch, **kwargs)


def test_a_full_queue_is_a_counted_rejection_and_the_engine_never_waits(tmp_path: Path) -> None:
    store = SlowStore(tmp_path / "a.db")
    rejections = mdx.Rejections()
    writer = StoreWriter(
        store, clock=SimulatedClock(), rejections=rejections, batch_rows=10, max_queued_rows=30
    )
    for i in range(100):  # 10 batches of 10 (one event time); 3 fit in the queue while the disk is stuck
        writer.on_event(trade(i, ts=T0))
    stats = writer.stats()
    assert stats.queued == 30 and stats.dropped == {"trades": 70}
    assert (
        rejections.by_reason[QUEUE_FULL] == 7 and "dropped 10 trades" in rejections.last_message[QUEUE_FULL]
    )
    store.go.set()
    writer.close()
    assert writer.stats().stored == {"trades": 30} and store.counts()["trades"] == 30


def test_a_reader_in_another_process_reads_while_the_writer_writes(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    store = Store(db)
    code = (
        "import sys, mdx\n"
        "store = mdx.Store(sys.argv[1])\n"
        "for line in sys.stdin:\n"
        "    print(store.counts()['trades'], len(store.trades('A/B')), flush=True)\n"
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", code, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert reader.stdin is not None and reader.stdout is not None
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for batch in range(5):
            store.write_trades([trade(batch * 100 + i) for i in range(100)])
            conn.execute("BEGIN IMMEDIATE")  # a write in progress, not committed, while the other reads
            conn.execute(
                "INSERT INTO trades (exchange, symbol, id, ts, ts_recv, price, amount, side) "
                "VALUES ('x', 'A/B', 'open', 0, 0, 1.0, 1.0, 'buy')"
            )
            reader.stdin.write("read\n")
            reader.stdin.flush()
            seen = reader.stdout.readline().split()
            conn.execute("ROLLBACK")
            assert seen == [str((batch + 1) * 100)] * 2  # every commit so far, nothing uncommitted
    finally:
        reader.stdin.close()
        assert reader.wait(60) == 0
        conn.close()


def wait_until(predicate: Any, timeout: float = 30.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout * 100)):
        if predicate():
            return True
        done.wait(0.01)
    return bool(predicate())


# --- retention by event time ----------------------------------------------------------------------------


def test_retention_deletes_rows_older_than_kept_by_event_time(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db", retention={"trades": "1h", "alerts": "1d"})
    clock = SimulatedClock(T0)
    writer = StoreWriter(store, clock=clock)
    for i in range(0, 3 * 3600, 600):  # every 10 minutes for 3 hours, by event time
        clock.advance_to(T0 + i * S)
        writer.on_event(trade(i))
        writer.on_event(alert(i))
    writer.close()
    newest = T0 + (3 * 3600 - 600) * S
    kept = store.trades("A/B")
    assert kept.index.asi8.min() >= newest - 3600 * S and len(kept) == 7  # the last hour and its start
    assert len(store.alerts()) == 18  # a day: nothing to delete
    assert writer.stats().deleted["trades"] == 11
    assert store.apply_retention(newest + 3600 * S) == {"trades": 6}
    with pytest.raises(ConfigError, match="unknown table"):
        Store(tmp_path / "b.db", retention={"quotes": "1d"})


# --- opening: default path, migrations, files that are not a store ---------------------------------------


def test_the_default_path_is_under_the_users_data_directory(tmp_path: Path) -> None:
    assert db_path("", {"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "mdx" / "mdx.db"
    assert db_path("", {"HOME": "/nowhere"}).parts[-4:] == (".local", "share", "mdx", "mdx.db")
    assert db_path("", {"MDX_DB": str(tmp_path / "m.db")}) == tmp_path / "m.db"
    assert db_path(tmp_path / "x.db", {"MDX_DB": "other.db"}) == tmp_path / "x.db"


V1_DDL = """
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL, note TEXT NOT NULL);
INSERT INTO schema_version VALUES (1, 0, 'trades, bars, alerts');
CREATE TABLE trades (
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, id TEXT NOT NULL,
    ts INTEGER NOT NULL, ts_recv INTEGER NOT NULL,
    price REAL NOT NULL CHECK (price > 0), amount REAL NOT NULL CHECK (amount > 0), side TEXT NOT NULL);
CREATE UNIQUE INDEX trades_key ON trades (exchange, symbol, id);
CREATE INDEX trades_time ON trades (symbol, ts);
CREATE TABLE bars (
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL, ts INTEGER NOT NULL,
    open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL, volume REAL NOT NULL,
    quote_volume REAL, vwap REAL, buy_volume REAL, sell_volume REAL, count INTEGER NOT NULL,
    ts_recv INTEGER NOT NULL, PRIMARY KEY (symbol, timeframe, ts, exchange)) WITHOUT ROWID;
CREATE TABLE alerts (
    rule TEXT NOT NULL, ts INTEGER NOT NULL, ts_recv INTEGER NOT NULL, exchange TEXT NOT NULL,
    symbol TEXT NOT NULL, kind TEXT NOT NULL, value REAL NOT NULL, threshold REAL NOT NULL,
    text TEXT NOT NULL, PRIMARY KEY (rule, ts)) WITHOUT ROWID;
"""
V1_ROWS = [
    f"INSERT INTO bars VALUES ('x', 'A/B', '1m', {T0}, 10, 12, 9, 11, 5, 50, 10, 3, 2, 7, {T0})",
    f"INSERT INTO trades VALUES ('x', 'A/B', '1', {T0}, {T0}, 100, 1, 'buy')",
]


def test_a_version_1_database_is_migrated_on_open_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)  # the layout of the first version, written by hand
    conn.executescript(V1_DDL)
    for statement in V1_ROWS:
        conn.execute(statement)
    conn.commit()
    conn.close()

    store = Store(db)
    assert store.version == SCHEMA_VERSION == 3
    bars = store.bars("A/B", "1m")  # v1 bars had no source: they were built by mdx
    assert bars["close"].tolist() == [11.0] and bars.index[0].value == T0
    assert store.trades("A/B")["id"].tolist() == ["1"]
    assert store.write_bars([bar(0)], source="exchange").stored == {"bars": 1}
    assert store.counts()["book_tops"] == 0  # the table v2 added
    with sqlite3.connect(db) as check:
        versions = [row[0] for row in check.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [1, 2, 3]
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert Store(db).version == 3  # opening again changes nothing


V2_TRADES = [  # (exchange, symbol, id, ts): ids that become integers and ids that must stay text
    ("x", "A/B", "7", T0 + S, 1.0),
    ("x", "A/B", "0123", T0 + S, 2.0),  # a leading zero: not the integer 123
    ("x", "A/B", "123", T0 + S, 3.0),  # same time: read back in the order stored
    ("x", "A/B", "abc-1", T0, 4.0),
    ("x", "A/B", "-5", T0 + 2 * S, 5.0),
    ("x", "A/B", "99999999999999999999", T0 + 3 * S, 6.0),  # beyond 64 bits: text
    ("y", "A/B", "7", T0 + S, 7.0),  # the same id on another exchange: another trade
    ("x", "C/D", "7", T0, 8.0),
]


def test_a_version_2_database_is_migrated_to_interned_names_and_keeps_every_trade(tmp_path: Path) -> None:
    db = tmp_path / "v2.db"
    with sqlite3.connect(db, isolation_level=None) as conn:
        migrate(conn, MIGRATIONS[:2])  # a store as version 2 left it
        for exchange, symbol, id_, ts, price in V2_TRADES:
            conn.execute(
                "INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, 1.0, 'buy')",
                (exchange, symbol, id_, ts, ts, price),
            )
        before = conn.execute("SELECT rowid, * FROM trades ORDER BY rowid").fetchall()

    store = Store(db)
    assert store.version == 3
    with sqlite3.connect(db) as conn:
        after = conn.execute(
            "SELECT rowid, exchange, symbol, id, ts, ts_recv, price, amount, side FROM trades"
        )
        assert sorted(after.fetchall()) == before  # every row, rowid and id text included
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kinds = dict(
            conn.execute(
                "SELECT CAST(id AS TEXT), typeof(id) FROM trade_rows WHERE symbol_id = "
                "(SELECT nid FROM names WHERE name = 'A/B')"
            ).fetchall()
        )
        assert kinds == {"7": "integer", "0123": "text", "123": "integer", "abc-1": "text", "-5": "integer",
                         "99999999999999999999": "text"}  # fmt: skip
        assert sorted(r[0] for r in conn.execute("SELECT name FROM names")) == ["A/B", "C/D", "x", "y"]
    read = store.trades("A/B", exchange="x")
    assert read["id"].tolist() == ["abc-1", "7", "0123", "123", "-5", "99999999999999999999"]
    assert read["price"].tolist() == [4.0, 1.0, 2.0, 3.0, 5.0, 6.0]

    again = [Trade(e, sym, ts, ts, i, p, 1.0, "buy") for e, sym, i, ts, p in V2_TRADES]
    assert store.write_trades(again).duplicates == {"trades": len(V2_TRADES)}  # the same trades: none twice
    assert store.write_trades([Trade("x", "A/B", T0, T0, "123", 9.0, 1.0, "buy")]).duplicates == {"trades": 1}
    new = [Trade("x", "A/B", T0, T0, "0007", 9.0, 1.0, "buy"), Trade("z", "E/F", T0, T0, "1", 9.0, 1.0, "")]
    assert store.write_trades(new).stored == {"trades": 2}
    assert store.counts()["trades"] == len(V2_TRADES) + 2
    with sqlite3.connect(db, isolation_level=None) as conn:  # v2-era SQL still writes through the view
        sql = "INSERT INTO trades (exchange, symbol, id, ts, ts_recv, price, amount, side) VALUES "
        sql += "(?, ?, ?, ?, ?, ?, ?, ?)"
        conn.execute(sql, ("x", "A/B", "7", T0, T0, 1.0, 1.0, "buy"))  # there already: ignored
        conn.execute(sql, ("w", "G/H", "8", T0, T0, 1.0, 1.0, "sell"))
    assert store.counts()["trades"] == len(V2_TRADES) + 3
    assert store.trades("G/H")["id"].tolist() == ["8"]


def test_reads_by_symbol_and_time_use_the_time_index_without_sorting(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db")
    store.write_trades([trade(i) for i in range(10)])
    with sqlite3.connect(store.path) as conn:
        for sql in (
            "SELECT ts, id FROM trades WHERE symbol = 'A/B' AND ts >= 0 AND ts < 9e18 ORDER BY ts, rowid",
            "SELECT ts, id FROM trades WHERE symbol = 'A/B' AND exchange = 'x' ORDER BY ts, rowid",
        ):
            plan = " / ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
            assert "trade_rows_time" in plan and "TEMP B-TREE" not in plan, plan


def test_trades_with_values_of_other_types_are_converted_or_refused_never_stored_as_blobs(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "a.db")
    odd = [
        Trade("x", "A/B", np.int64(T0), np.int64(T0), "1", np.float32(100.5), 1.0, "buy"),  # type: ignore[arg-type]
        Trade("x", "A/B", T0, T0, 2, 100.0, np.float64(2.0), "sell"),  # type: ignore[arg-type]
        Trade("x", "A/B", T0, T0, "3", 100.0, 1.0, "buy"),
        Trade("x", "A/B", "soon", T0, "4", 100.0, 1.0, "buy"),  # type: ignore[arg-type]
    ]
    result = store.write_trades(odd)
    assert result.stored == {"trades": 3} and result.rejected == {"trades": 1}
    assert "'soon'" in result.errors[0]
    with sqlite3.connect(store.path) as conn:
        types = conn.execute(
            "SELECT DISTINCT typeof(ts), typeof(ts_recv), typeof(price), typeof(amount) FROM trade_rows"
        ).fetchall()
    assert types == [("integer", "integer", "real", "real")]
    assert store.trades("A/B")["id"].tolist() == ["1", "2", "3"]
    assert store.write_trades(odd[:3]).duplicates == {"trades": 3}


def test_files_that_are_not_an_mdx_store_are_refused_and_left_intact(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_bytes(b"my precious notes, not a database\n" * 100)
    damaged = tmp_path / "damaged.db"
    Store(damaged).write_trades([trade(i) for i in range(100)])
    damaged.write_bytes(damaged.read_bytes()[:16] + b"\xff" * 4000)  # a SQLite header, garbage after
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    newer = tmp_path / "newer.db"
    Store(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 0, 'from the future')")

    for path, message in [
        (text, "not a SQLite database"),
        (damaged, "not a usable mdx store"),
        (foreign, "not an mdx store"),
        (newer, "newer than this mdx knows"),
        (tmp_path, "is a folder"),
    ]:
        before = path.read_bytes() if path.is_file() else None
        with pytest.raises(StoreError, match=message):
            Store(path)
        if before is not None:
            assert path.read_bytes() == before, f"{path.name} was changed"
    assert issubclass(StoreError, mdx.MdxError) and mdx.StoreError is StoreError


def test_a_session_stores_a_sources_own_bars_as_exchange_built(tmp_path: Path) -> None:
    store = Store(tmp_path / "sim.db")
    sim = mdx.Simulator(("BTC/USDT",), seed=3, history="10m")
    session = mdx.Session(sim, timeframes=("1m",), clock=SimulatedClock(), store=store)
    session.run_until_done(max_events=20_000)  # about three minutes
    exchange = store.bars("BTC/USDT", "1m", source="exchange")
    assert len(exchange) == session.history_loaded["sim"] >= 9
    mdx_built = store.bars("BTC/USDT", "1m")
    assert len(mdx_built) >= 1 and mdx_built.index.min() > exchange.index.max()  # the stream follows it
