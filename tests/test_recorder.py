"""`mdx record`: sources into recordings that replay to the same events."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
from pathlib import Path

from mdx.clock import SimulatedClock
from mdx.io.recorder import record_offline, record_stream
from mdx.io.recording import read_recording
from mdx.sources.sim.simulator import Simulator
from mdx.stats import Rejections

START = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC


def test_record_offline_keeps_exactly_the_first_seconds_of_event_time(tmp_path: Path) -> None:
    sim = Simulator(("BTC/USDT", "ETH/USDT"), seed=3, start_ns=START)
    result = record_offline(sim, tmp_path / "sim.mdx.jsonl.gz", seconds=5)
    replayed = list(read_recording(result.path))
    expected = []
    for event in sim.iter_events(Rejections()):
        if event.ts_event > START + 5 * 10**9:
            break
        expected.append(event)
    assert result.events == len(expected) > 100
    assert replayed == expected


def test_record_stream_stops_after_its_wall_clock_seconds(tmp_path: Path) -> None:
    sim = Simulator(("SOL/USDT",), seed=3, start_ns=START)
    clock = SimulatedClock(START)  # pacing jumps this clock; the timeout is the loop's real time
    result = asyncio.run(record_stream(sim, tmp_path / "s.mdx.jsonl.gz", seconds=0.3, clock=clock, speed=1.0))
    events = list(read_recording(result.path))
    assert len(events) == result.events > 0
    assert all(a.ts_recv <= b.ts_recv for a, b in itertools.pairwise(events))


def test_cli_records_and_replays(tmp_path: Path) -> None:
    out = tmp_path / "cli.mdx.jsonl.gz"
    cli = [sys.executable, "-m", "mdx.cli"]
    recorded = subprocess.run(
        [*cli, "record", "--seconds", "3", "--symbols", "ETH/USDT", "--out", str(out)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert "recorded" in recorded.stdout and "rejected 0" in recorded.stdout
    replayed = subprocess.run([*cli, "replay", str(out), "--timeframe", "1s"], capture_output=True, text=True,
                              check=True, timeout=120)  # fmt: skip
    assert "sim ETH/USDT: book in sync" in replayed.stdout
    assert "rejected: 0" in replayed.stdout
