"""mdx recordings: every event type round-trips exactly; bad and truncated files are handled."""

from __future__ import annotations

import gzip
import math
from itertools import islice
from pathlib import Path

import pytest

from mdx.errors import CaptureError, DataError, MalformedFrame
from mdx.events import Bar, BookDelta, BookSnapshot, Event, Quote, Trade
from mdx.io.capture import read_capture
from mdx.io.recording import (
    RecordingWriter,
    decode,
    encode,
    is_recording,
    read_header,
    read_recording,
    write_recording,
)
from mdx.stats import Rejections

T = 1_723_161_254_206_652_067

EVENTS: list[Event] = [
    BookSnapshot("binance", "BTC/USDT", T, T + 1, 50093239218, ((61837.63, 3.78826), (61837.62, 0.617)), ()),
    BookDelta(
        "binance", "BTC/USDT", T, T + 2, 50093239189, 50093239202, ((61737.63, 0.0),), ((0.1 + 0.2, 1e-9),)
    ),
    BookDelta("binanceusdm", "BTC/USDT:USDT", T, T + 3, 10, 20, (), (), prev_seq=9),
    Quote("binance", "BTC/USDT", T, T + 4, 50093239212, 61837.63, 3.78826, 61837.64, 1.54698),
    Trade("binance", "BTC/USDT", T, T + 5, "3735683259", 61837.63, 0.02, "sell"),
    Trade("sim", "ÉTH/ÜSD", T, T + 6, 'x"y\n', 1e-300, 1.7976931348623157e308, ""),
    Bar(
        "binance",
        "BTC/USDT",
        "1m",
        T - T % 60_000_000_000,
        T,
        1.0,
        2.0,
        0.5,
        1.5,
        10.0,
        12.5,
        1.25,
        6.0,
        4.0,
        7,
        True,
    ),
    Bar("sim", "X/Y", "1s", 0, 0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, math.nan, 0.0, 0.0, 0, False),
]


def same(a: list[Event], b: list[Event]) -> bool:
    """Equal, with NaN equal to NaN."""
    return len(a) == len(b) and all(x == y or repr(x) == repr(y) for x, y in zip(a, b, strict=True))


def test_every_event_type_round_trips_exactly(tmp_path: Path) -> None:
    path = tmp_path / "all.mdx.jsonl.gz"
    assert write_recording(path, EVENTS, meta={"source": "test"}) == len(EVENTS)
    back = list(read_recording(path))
    assert same(back, EVENTS)
    assert all(type(b) is type(e) for b, e in zip(back, EVENTS, strict=True))
    assert isinstance(back[0].bids, tuple) and isinstance(back[0].bids[0], tuple)
    assert back[1].asks == ((0.30000000000000004, 1e-9),)
    assert read_header(path)["meta"] == {"source": "test"}


def test_non_finite_floats_survive(tmp_path: Path) -> None:
    odd: list[Event] = [
        Quote("sim", "A/B", 1, 1, 1, math.inf, -math.inf, math.nan, 0.0),
        BookDelta("sim", "A/B", 1, 1, 1, 1, ((math.nan, 1.0), (1.0, math.inf)), ()),
    ]
    path = tmp_path / "odd.mdx.jsonl.gz"
    write_recording(path, odd)
    back = list(read_recording(path))
    quote = back[0]
    assert isinstance(quote, Quote) and quote.bid == math.inf and quote.bid_size == -math.inf
    assert math.isnan(quote.ask) and quote.ask_size == 0.0
    delta = back[1]
    assert isinstance(delta, BookDelta) and math.isnan(delta.bids[0][0]) and delta.bids[1] == (1.0, math.inf)
    assert repr(decode(encode(odd[0]))) == repr(odd[0])
    assert b'"nf":["bid","bid_size","ask"]' in encode(odd[0])


def test_writer_is_incremental_and_flushes_on_close(tmp_path: Path) -> None:
    path = tmp_path / "inc.mdx.jsonl.gz"
    with RecordingWriter(path, buffer=3) as writer:
        for event in EVENTS:
            writer.write(event)
        assert writer.count == len(EVENTS)
    assert same(list(read_recording(path)), EVENTS)
    with pytest.raises(DataError, match="cannot record a str"):
        encode("not an event")  # type: ignore[arg-type]


def test_recordings_are_detected_by_suffix_and_read_by_read_capture(tmp_path: Path) -> None:
    path = tmp_path / "x.mdx.jsonl.gz"
    write_recording(path, EVENTS)
    assert is_recording(path) and not is_recording(tmp_path / "btcusdt_20240808.gz")
    assert same(list(read_capture(path)), EVENTS)


def test_real_capture_round_trips_through_a_recording(shared_data: Path, tmp_path: Path) -> None:
    capture = shared_data / "binance-futures-l2-trades" / "usdm_ethusdt_20240808.gz"
    events = list(islice(read_capture(capture), 5000))
    path = tmp_path / "usdm.mdx.jsonl.gz"
    write_recording(path, events)
    assert list(read_recording(path)) == events


def test_bad_lines_are_counted_and_strict_mode_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.mdx.jsonl.gz"
    write_recording(path, EVENTS[:3])
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    bad = [b"{not json", b'{"type":"spaceship"}', b'{"type":"trade","exchange":"x"}', b"[]", b""]
    path.write_bytes(gzip.compress(b"\n".join(lines[:2] + bad + lines[2:])))
    rejections = Rejections(log_first=0)
    assert list(read_recording(path, rejections)) == EVENTS[:3]
    assert rejections.by_reason == {"MalformedFrame": 4}
    assert rejections.last_message["MalformedFrame"].startswith("bad.mdx.jsonl.gz:6:")
    with pytest.raises(MalformedFrame, match=r"bad.mdx.jsonl.gz:3:"):
        list(read_recording(path))


def test_truncated_recording_yields_what_was_read(tmp_path: Path) -> None:
    path = tmp_path / "long.mdx.jsonl.gz"
    many = [Trade("sim", "A/B", i, i, str(i), 1.0 + i * 1e-3, 1.0, "buy") for i in range(20_000)]
    write_recording(path, many)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    rejections = Rejections(log_first=0)
    back = list(read_recording(path, rejections))
    assert 0 < len(back) < len(many) and back == many[: len(back)]
    assert rejections.by_reason == {"CaptureError": 1}
    with pytest.raises(CaptureError, match="truncated"):
        list(read_recording(path))


def test_a_file_that_is_not_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "fake.mdx.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"hello": 1}\n'))
    with pytest.raises(CaptureError, match="not an mdx recording"):
        list(read_recording(path, Rejections()))
    with pytest.raises(CaptureError, match="no such capture file"):
        read_recording(tmp_path / "missing.mdx.jsonl.gz")
