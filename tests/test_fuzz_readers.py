"""Fuzzing the readers: real capture lines and recordings, truncated, flipped, retyped, reordered.

Properties: reading never raises anything but the mdx tree (strict mode) and never raises at all when
rejections are counted; every event that comes out is well-formed (types and values an engine can use);
nothing comes out of nowhere (at most one event per line); memory stays bounded by the input (peak Python
allocations while reading at most a fixed multiple of the file's uncompressed size plus a constant: no
damaged length field or huge number makes the reader balloon).
"""

from __future__ import annotations

import contextlib
import gzip
import math
import tracemalloc
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdx.errors import MdxError
from mdx.events import Bar, BookDelta, BookSnapshot, Quote, Trade
from mdx.io.capture import read_capture
from mdx.io.recording import write_recording
from mdx.stats import Rejections

from .conftest import SHARED_DATA, require

pytestmark = pytest.mark.fuzz

CAPTURE = SHARED_DATA / "binance-spot-l2-trades" / "btcusdt_20240808.gz"
SAMPLE_LINES = 300
ODD_VALUES: list[Any] = [True, False, None, "abc", "", "NaN", "-1", "1e400", -1, 0, 1e308, [], {}, "0.5"]
FIELDS = ("p", "q", "m", "t", "T", "E", "U", "u", "b", "a", "B", "A", "s", "lastUpdateId", "bids", "asks")


@cache
def sample() -> tuple[bytes, ...]:
    """The first lines of a real capture (the REST snapshot among them)."""
    with gzip.open(require(CAPTURE), "rb") as f:
        lines = tuple(f.readline().rstrip(b"\n") for _ in range(SAMPLE_LINES))
    assert any(b"lastUpdateId" in line for line in lines)
    return lines


def retype(line: bytes, field: str, value: Any) -> bytes:
    """The line with one field of its payload replaced by ``value`` (unchanged when it has no such field)."""
    ts, _, raw = line.partition(b" ")
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return line
    data = msg.get("data", msg) if isinstance(msg, dict) else None
    if not isinstance(data, dict) or field not in data:
        return line
    data[field] = value
    return ts + b" " + orjson.dumps(msg)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, SAMPLE_LINES - 1), st.integers(0, 400), st.integers(0, 255)),
    st.tuples(st.just("retype"), st.integers(0, SAMPLE_LINES - 1), st.sampled_from(FIELDS),
              st.sampled_from(range(len(ODD_VALUES)))),
    st.tuples(st.just("dup"), st.integers(0, SAMPLE_LINES - 1), st.integers(0, SAMPLE_LINES - 1)),
    st.tuples(st.just("swap"), st.integers(0, SAMPLE_LINES - 1), st.integers(0, SAMPLE_LINES - 1)),
    st.tuples(st.just("drop"), st.integers(0, SAMPLE_LINES - 1)),
)  # fmt: skip


def mutate(lines: list[bytes], op: tuple[Any, ...]) -> None:
    kind, i = op[0], op[1] % len(lines)
    if kind == "flip":
        line = bytearray(lines[i])
        if line:
            line[op[2] % len(line)] = op[3]
        lines[i] = bytes(line).replace(b"\n", b" ")
    elif kind == "retype":
        lines[i] = retype(lines[i], op[2], ODD_VALUES[op[3]])
    elif kind == "dup":
        lines.insert(op[2] % len(lines), lines[i])
    elif kind == "swap":
        j = op[2] % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif len(lines) > 1:
        del lines[i]


def finite_positive(x: object) -> bool:
    return type(x) is float and 0.0 < x < math.inf


def well_formed(event: object) -> bool:
    """What the engine can rely on for every event a reader yields."""
    if isinstance(event, Trade):
        valid = finite_positive(event.price) and finite_positive(event.amount)
        typed = type(event.ts_event) is int and type(event.id) is str
        return valid and typed and event.side in ("buy", "sell", "")
    if isinstance(event, BookSnapshot | BookDelta):
        levels = (*event.bids, *event.asks)
        return type(event.seq) is int and all(
            type(level) is tuple and len(level) == 2 and finite_positive(level[0])
            and type(level[1]) is float and 0.0 <= level[1] < math.inf
            for level in levels
        )  # fmt: skip
    if isinstance(event, Quote):
        return finite_positive(event.bid) and finite_positive(event.ask)
    return isinstance(event, Bar)


MEMORY_PER_BYTE = 40  # peak allocations per uncompressed input byte (the events themselves included)
MEMORY_FLOOR = 2 << 20  # gzip's buffers and the reader's own


def read_counted(path: Path, size: int, rejections: Rejections) -> list[Any]:
    """Every event of ``path`` in counting mode, checking the reader's peak memory against ``size``."""
    tracemalloc.start()
    try:
        events = list(read_capture(path, rejections=rejections))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= MEMORY_FLOOR + MEMORY_PER_BYTE * size, f"{peak} bytes to read {size} bytes"
    return events


def write(path: Path, lines: list[bytes], compressed: bool, cut: int | None) -> None:
    data = b"\n".join(lines) + b"\n"
    if compressed:
        data = gzip.compress(data)
    path.write_bytes(data if cut is None else data[: cut % (len(data) + 1)])


@given(
    mutations=st.lists(mutation, max_size=12),
    compressed=st.booleans(),
    cut=st.none() | st.integers(0, 10**6),
)
def test_the_capture_reader_survives_any_damage(
    tmp_path_factory: pytest.TempPathFactory,
    mutations: list[tuple[Any, ...]],
    compressed: bool,
    cut: int | None,
) -> None:
    lines = list(sample())
    for op in mutations:
        mutate(lines, op)
    path = tmp_path_factory.mktemp("fuzz") / ("capture.gz" if compressed else "capture.txt")
    write(path, lines, compressed, cut)
    rejections = Rejections(log_first=0)
    events = read_counted(path, sum(map(len, lines)) + len(lines), rejections)  # counted mode: never raises
    assert all(well_formed(e) for e in events), [e for e in events if not well_formed(e)][:3]
    assert len(events) <= len(lines)
    strict: list[object] = []
    with contextlib.suppress(MdxError):  # the specific error, after the good events
        strict.extend(read_capture(path))
    assert strict == events[: len(strict)]


prices = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 10**6)
levels = st.lists(st.tuples(prices, prices), max_size=4).map(tuple)
events = st.one_of(
    st.builds(Trade, st.just("x"), st.just("BTC/USDT"), st.integers(0, 2**62), st.integers(0, 2**62),
              st.text(max_size=5), prices, prices, st.sampled_from(["buy", "sell", ""])),
    st.builds(BookDelta, st.just("x"), st.just("BTC/USDT"), st.integers(0, 2**62), st.integers(0, 2**62),
              st.integers(0, 10**9), st.integers(0, 10**9), levels, levels, st.integers(-1, 10**9)),
    st.builds(Quote, st.just("x"), st.just("BTC/USDT"), st.integers(0, 2**62), st.integers(0, 2**62),
              st.integers(0, 10**9), prices, prices, prices, prices),
)  # fmt: skip


@given(
    recorded=st.lists(events, min_size=1, max_size=30),
    retypes=st.lists(
        st.tuples(st.integers(0, 29), st.sampled_from(("price", "amount", "bids", "asks", "bid", "seq", "id",
                                                        "ts_event", "side", "type"))
                  , st.sampled_from(range(len(ODD_VALUES)))),
        max_size=6,
    ),
)  # fmt: skip
def test_the_recording_reader_accounts_for_every_line(
    tmp_path_factory: pytest.TempPathFactory, recorded: list[Any], retypes: list[tuple[int, str, int]]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "r.mdx.jsonl.gz"
    write_recording(path, recorded)
    with gzip.open(path, "rb") as f:
        header, *rows = f.read().splitlines()
    for index, field, value in retypes:
        row = orjson.loads(rows[index % len(rows)])
        if field in row:
            row[field] = ODD_VALUES[value]
            rows[index % len(rows)] = orjson.dumps(row)
    path.write_bytes(gzip.compress(b"\n".join([header, *rows]) + b"\n"))
    rejections = Rejections(log_first=0)
    out = read_counted(path, len(header) + sum(map(len, rows)) + len(rows) + 1, rejections)
    assert len(out) + rejections.total == len(rows)  # every line: an event or a counted rejection
    assert all(well_formed(e) for e in out), [e for e in out if not well_formed(e)][:3]
