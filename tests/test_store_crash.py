"""A writer process killed with SIGKILL in the middle of ingesting: the database it leaves passes
``PRAGMA integrity_check`` and holds every row the writer had acknowledged as flushed.

"Acknowledged as flushed" means: ``Store.commit`` / ``write_trades`` returned, or ``StoreWriter.flush``
returned with the rows counted in ``stats().stored``. At that point the transaction is in the WAL (the
store runs WAL with ``synchronous = NORMAL``), so it survives the process dying at any instant; what a
power loss could still undo is the commits since the last checkpoint, which no process kill can cause.
The child reports the rows it has committed on its stdout (a pipe) after each commit; the test kills it
while it is inside later commits, then checks the file, reopens it and finishes the ingest.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mdx.events import Trade
from mdx.store import Store

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_723_161_600 * 10**9
ROUNDS = 40  # far more than the child gets through before it is killed

CHILD = """
import sys
from mdx.clock import SimulatedClock
from mdx.events import Trade
from mdx.store import Store, StoreWriter

db, mode, batch, rounds, t0 = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
store = Store(db, retention={"trades": "365d"})
writer = StoreWriter(store, clock=SimulatedClock(), batch_rows=batch * 2) if mode == "writer" else None
for n in range(rounds):
    trades = [
        Trade("binance", "BTC/USDT", t0 + i * 1_000_000, t0 + i, str(i), 100.0 + i % 7, 0.5, "buy")
        for i in range(n * batch, (n + 1) * batch)
    ]
    print("begin", flush=True)  # the commit of this batch starts now
    if writer is None:
        stored = store.write_trades(trades).stored["trades"]
        assert stored == batch, stored
        done = (n + 1) * batch
    else:
        for trade in trades:
            writer.on_event(trade)
        assert writer.flush(wait=True)
        stats = writer.stats()
        assert not stats.failed, stats
        done = stats.stored["trades"]
    print("done", done, flush=True)  # acknowledged: committed
"""


def trade(i: int) -> Trade:
    return Trade("binance", "BTC/USDT", T0 + i * 1_000_000, T0 + i, str(i), 100.0 + i % 7, 0.5, "buy")


@pytest.mark.parametrize("mode", ["store", "writer"])
@pytest.mark.parametrize(
    ("acks_before_kill", "batch", "delay_s"),
    [
        (1, 20_000, 0.002),  # early in a transaction
        (3, 20_000, 0.015),  # later in one
        (1, 80_000, 0.12),  # one larger than the page cache: pages it spilt to the WAL are not committed
    ],
)
def test_a_killed_writer_leaves_a_sound_file_with_every_acknowledged_row(
    tmp_path: Path, mode: str, acks_before_kill: int, batch: int, delay_s: float
) -> None:
    db = tmp_path / "crash.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [str(db), mode, str(batch), str(ROUNDS), str(T0)]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    acknowledged = begun = 0
    try:
        while begun <= acks_before_kill:  # the acknowledged commits, then into the next one
            line = child.stdout.readline().split()
            assert line, f"the child stopped early: {child.stderr.read() if child.stderr else ''}"
            if line[0] == "begin":
                begun += 1
            else:
                acknowledged = int(line[1])
        time.sleep(delay_s)  # a commit of 20,000 rows takes longer than this
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL, "the child finished before it was killed"
    for line in child.stdout.read().splitlines():  # acknowledged before the kill, not yet read
        if line.startswith("done"):
            acknowledged = int(line.split()[1])
    assert acknowledged >= acks_before_kill * batch

    with sqlite3.connect(db) as conn:  # opening recovers from the WAL the killed process left
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        count, low, high = conn.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM trade_rows").fetchone()
        assert count >= acknowledged  # every acknowledged row, perhaps a commit more
        assert count % batch == 0 and (low, high) == (0, count - 1)  # whole transactions, nothing torn
        assert conn.execute("SELECT COUNT(DISTINCT id) FROM trade_rows").fetchone()[0] == count

    store = Store(db)  # the store opens as usual and the ingest can start again from the beginning
    everything = [trade(i) for i in range(count + batch)]
    result = store.write_trades(everything)
    assert result.duplicates == {"trades": count} and result.stored == {"trades": batch}
    frame = store.trades("BTC/USDT")
    assert frame["id"].tolist() == [str(i) for i in range(count + batch)]
    assert (frame.index.asi8 == [T0 + i * 1_000_000 for i in range(count + batch)]).all()
