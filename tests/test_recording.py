"""mdx recordings: every event type round-trips exactly; bad and truncated files are handled."""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import orjson
import pytest

from mdx.clock import SimulatedClock
from mdx.errors import CaptureError, ConfigError, DataError, InvalidValue, MalformedFrame
from mdx.events import (
    KINDS,
    Bar,
    BookDelta,
    BookSnapshot,
    Event,
    Quote,
    Trade,
    checked_levels,
    register_event,
    valid_level,
    valid_quote,
)
from mdx.io.capture import check_capture, read_capture
from mdx.io.recording import (
    RecordingWriter,
    decode,
    encode,
    is_recording,
    read_header,
    read_recording,
    recording_name,
    write_recording,
)
from mdx.session import Session
from mdx.sources.replay import ReplaySource
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


def test_a_live_snapshot_of_checked_levels_records_as_plain_tuples(tmp_path: Path) -> None:
    bids = checked_levels([[100.5, 1.25], [100.0, 3.0]], descending=True)
    asks = checked_levels([[101.0, 0.5]], descending=False)
    live = BookSnapshot("binance", "BTC/USDT", 1, 2, 3, bids, asks)
    path = tmp_path / "live.mdx.jsonl"
    assert write_recording(path, [live]) == 1
    (back,) = read_recording(path)
    assert back == live and type(back.bids) is tuple  # the check a source made is not carried along


def test_non_finite_floats_survive_where_they_are_legal(tmp_path: Path) -> None:
    nan_bar = Bar(
        "sim", "X/Y", "1s", 0, 0, 1.0, 1.0, 1.0, 1.0, 0.0, math.inf, math.nan, -math.inf, 0.0, 0, False
    )
    path = tmp_path / "odd.mdx.jsonl.gz"
    write_recording(path, [nan_bar])
    (bar,) = read_recording(path)
    assert isinstance(bar, Bar) and math.isnan(bar.vwap) and bar.quote_volume == math.inf
    assert bar.buy_volume == -math.inf and repr(bar) == repr(nan_bar)
    assert b'"nf":["quote_volume","vwap","buy_volume"]' in encode(nan_bar)


def test_non_finite_prices_and_amounts_are_counted_invalid_values(tmp_path: Path) -> None:
    # The recording format writes non-finite floats (as strings listed under "nf"), but a trade, a quote or
    # a book level with a NaN or infinite price or amount is impossible: reading rejects it like the
    # Binance reader does. Before, a NaN level passed and the book died with KeyError: nan.
    odd: list[Event] = [
        Quote("sim", "A/B", 1, 1, 1, math.inf, 1.0, 2.0, 1.0),
        Quote("sim", "A/B", 1, 1, 2, 1.0, 1.0, math.nan, 1.0),
        BookDelta("sim", "A/B", 1, 1, 1, 1, ((math.nan, 1.0),), ()),
        BookDelta("sim", "A/B", 1, 1, 2, 2, ((1.0, 1.0),), ((2.0, math.inf),)),
        BookSnapshot("sim", "A/B", 1, 1, 3, ((1.0, 1.0),), ((-math.inf, 1.0),)),
        Trade("sim", "A/B", 1, 1, "t1", math.nan, 1.0, "buy"),
        Trade("sim", "A/B", 1, 1, "t2", 1.0, math.inf, "buy"),
    ]
    path = tmp_path / "odd.mdx.jsonl.gz"
    write_recording(path, [*odd, EVENTS[4]])
    rejections = Rejections(log_first=0)
    assert list(read_recording(path, rejections)) == [EVENTS[4]]
    assert rejections.by_reason == {"InvalidValue": len(odd)}
    with pytest.raises(InvalidValue, match=r"odd\.mdx\.jsonl\.gz:2: sim quote on A/B at 1: inf x 1.0"):
        list(read_recording(path))


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


TRADE_LINE = encode(EVENTS[4])


@pytest.mark.parametrize(
    "first_line",
    [b'{"hello": 1}', b"not json at all", TRADE_LINE,
     b'{"type":"header","format":"mdx-recording","version":99,"meta":{}}'],
)  # fmt: skip
def test_a_file_without_the_header_is_one_capture_error_in_both_modes(
    tmp_path: Path, first_line: bytes
) -> None:
    # Before: counting mode raised (unlike every other damaged file); now it counts one CaptureError, reads
    # nothing (a headerless file is not a recording, its lines are not trusted) and strict mode raises it.
    path = tmp_path / "fake.mdx.jsonl.gz"
    path.write_bytes(gzip.compress(first_line + b"\n" + TRADE_LINE + b"\n"))
    rejections = Rejections(log_first=0)
    assert list(read_recording(path, rejections)) == []
    assert rejections.by_reason == {"CaptureError": 1}
    message = rejections.last_message["CaptureError"]
    assert message.startswith(str(path)) and ("not an mdx recording" in message or "version 99" in message)
    with pytest.raises(CaptureError) as raised:
        list(read_recording(path))
    assert str(raised.value) == message
    with pytest.raises(CaptureError, match=r"not an mdx recording|version 99"):  # what the CLI shows
        check_capture(path)
    with pytest.raises(CaptureError, match="no such capture file"):
        read_recording(tmp_path / "missing.mdx.jsonl.gz")


# --- every field is checked against its event class -----------------------------------------------------

T2 = T + 10
TRADE_ROW = {"type": "trade", "exchange": "binance", "symbol": "BTC/USDT", "ts_event": T2, "ts_recv": T2,
             "id": "2", "price": 61837.5, "amount": 0.5, "side": "buy"}  # fmt: skip
DELTA_ROW = {"type": "delta", "exchange": "binance", "symbol": "BTC/USDT", "ts_event": T2, "ts_recv": T2,
             "first_seq": 5, "seq": 6, "bids": [[61737.5, 0.0]], "asks": [], "prev_seq": -1}  # fmt: skip
BAR_ROW = {"type": "bar", "exchange": "sim", "symbol": "X/Y", "timeframe": "1s", "ts_event": 0,
           "ts_recv": 0, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 0.0,
           "quote_volume": 0.0, "vwap": 1.0, "buy_volume": 0.0, "sell_volume": 0.0, "count": 0,
           "closed": False}  # fmt: skip


def row(base: dict[str, object], **changes: object) -> bytes:
    return orjson.dumps({**base, **changes})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (row(TRADE_ROW, price="abc"), "trade field 'price' must be a number, got str 'abc'"),
        (row(TRADE_ROW, price=True), "trade field 'price' must be a number, got bool True"),
        (row(TRADE_ROW, amount=None), "trade field 'amount' must be a number, got NoneType"),
        (row(TRADE_ROW, ts_event=1.5e18), "trade field 'ts_event' must be an integer, got float"),
        (row(TRADE_ROW, ts_recv=True), "trade field 'ts_recv' must be an integer, got bool"),
        (row(TRADE_ROW, id=2), "trade field 'id' must be a string, got int 2"),
        (row(TRADE_ROW, side=None), "trade field 'side' must be a string, got NoneType"),
        (row(TRADE_ROW, price="1.5", nf=["price"]), "trade field 'price' must be a number, got str '1.5'"),
        (row(TRADE_ROW, nf="price"), "trade: 'nf' must be a list of field names"),
        (row(TRADE_ROW, nf=["id"]), "trade: 'nf' names 'id', not a float or levels field"),
        (row(TRADE_ROW, venue="x"), "trade with unknown fields ['venue']"),
        (orjson.dumps({k: v for k, v in TRADE_ROW.items() if k != "side"}), "trade without field 'side'"),
        (row(DELTA_ROW, seq="6"), "delta field 'seq' must be an integer, got str"),
        (row(DELTA_ROW, bids=[[61737.5, True]]), "delta field 'bids' must be a list of [price, amount]"),
        (row(DELTA_ROW, bids=[["61737.5", "1"]]), "delta field 'bids' must be a list of [price, amount]"),
        (row(DELTA_ROW, bids=[[61737.5]]), "delta field 'bids' must be a list of [price, amount] number"),
        (row(DELTA_ROW, asks="none"), "delta field 'asks' must be a list of [price, amount] number pairs"),
        (row(DELTA_ROW, asks=[["x", "1"]], nf=["asks"]), "delta field 'asks' must be a list of [price"),
        (row(BAR_ROW, closed=0), "bar field 'closed' must be true or false, got int 0"),
        (row(BAR_ROW, count=True), "bar field 'count' must be an integer, got bool"),
        (row(BAR_ROW, count=1.0), "bar field 'count' must be an integer, got float"),
        (row(BAR_ROW, timeframe=60), "bar field 'timeframe' must be a string, got int"),
        (orjson.dumps({**TRADE_ROW, "type": True}), "not an mdx event (type True)"),
        (orjson.dumps({**TRADE_ROW, "type": ["trade"]}), "not an mdx event (type ['trade'])"),
    ],
)
def test_wrong_field_types_are_malformed_frames(tmp_path: Path, line: bytes, message: str) -> None:
    # Before: a trade price "abc" passed read_capture uncounted and the session died with
    # TypeError: '>' not supported between instances of 'str' and 'float'.
    path = tmp_path / "typed.mdx.jsonl.gz"
    write_recording(path, EVENTS[:2])
    header, *lines = gzip.decompress(path.read_bytes()).splitlines()
    path.write_bytes(gzip.compress(b"\n".join([header, lines[0], line, *lines[1:]]) + b"\n"))
    rejections = Rejections(log_first=0)
    assert list(read_recording(path, rejections)) == EVENTS[:2]
    assert rejections.by_reason == {"MalformedFrame": 1}
    assert rejections.last_message["MalformedFrame"].startswith(f"typed.mdx.jsonl.gz:3: {message}")
    with pytest.raises(MalformedFrame, match=r"typed\.mdx\.jsonl\.gz:3: "):
        list(read_recording(path))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            row(TRADE_ROW, price="nan", nf=["price"]),
            "binance trade '2' on BTC/USDT: price nan and amount 0.5",
        ),
        (row(TRADE_ROW, price=-1.0), "binance trade '2' on BTC/USDT: price -1.0"),
        (row(TRADE_ROW, amount=0), "binance trade '2' on BTC/USDT: price 61837.5 and amount 0.0"),
        (row(TRADE_ROW, price=1e308, amount=1e10), "binance trade '2' on BTC/USDT: price 1e+308"),
        (
            row(DELTA_ROW, bids=[["nan", "1.0"]], nf=["bids"]),
            "binance BTC/USDT book at 6: bid level price nan",
        ),
        (
            row(DELTA_ROW, asks=[[61737.5, -1]]),
            "binance BTC/USDT book at 6: ask level price 61737.5 amount -1.0",
        ),
        (row(DELTA_ROW, asks=[[0, 1]]), "binance BTC/USDT book at 6: ask level price 0.0"),
        (row(TRADE_ROW, side="abc"), "binance trade '2' on BTC/USDT: side 'abc' must be 'buy', 'sell' or ''"),
    ],
)
def test_impossible_values_are_invalid_values(tmp_path: Path, line: bytes, message: str) -> None:
    path = tmp_path / "values.mdx.jsonl.gz"
    write_recording(path, EVENTS[:2])
    header, *lines = gzip.decompress(path.read_bytes()).splitlines()
    path.write_bytes(gzip.compress(b"\n".join([header, *lines, line]) + b"\n"))
    rejections = Rejections(log_first=0)
    assert list(read_recording(path, rejections)) == EVENTS[:2]
    assert rejections.by_reason == {"InvalidValue": 1}
    assert rejections.last_message["InvalidValue"].startswith(f"values.mdx.jsonl.gz:4: {message}")


def test_integers_are_read_as_floats() -> None:
    trade = decode(row(TRADE_ROW, price=61837, amount=2))
    assert isinstance(trade, Trade) and (trade.price, trade.amount) == (61837.0, 2.0)
    assert type(trade.price) is float and type(trade.amount) is float
    delta = decode(row(DELTA_ROW, bids=[[61737, 0]], asks=[[61738, 1]]))
    assert (
        isinstance(delta, BookDelta) and delta.bids == ((61737.0, 0.0),) and delta.asks == ((61738.0, 1.0),)
    )
    assert all(type(x) is float for level in (*delta.bids, *delta.asks) for x in level)
    old = decode(orjson.dumps({k: v for k, v in DELTA_ROW.items() if k != "prev_seq"}))
    assert isinstance(old, BookDelta) and old.prev_seq == -1  # a field with a default may be left out


def test_a_bad_recording_line_no_longer_crashes_the_session(tmp_path: Path) -> None:
    # The original failure: both lines passed the reader; the engine then raised TypeError / KeyError: nan.
    snap = BookSnapshot("binance", "BTC/USDT", T, T, 4, ((61737.5, 1.0),), ((61738.5, 1.0),))
    path = tmp_path / "crash.mdx.jsonl.gz"
    write_recording(path, [snap, EVENTS[4]])
    header, *lines = gzip.decompress(path.read_bytes()).splitlines()
    bad = [row(TRADE_ROW, price="abc"), row(DELTA_ROW, bids=[["nan", "1.0"]], nf=["bids"])]
    path.write_bytes(gzip.compress(b"\n".join([header, *lines, *bad]) + b"\n"))
    session = Session(ReplaySource([path]), clock=SimulatedClock()).run_until_done()
    assert session.consumer_errors == 0 and session.events_processed == 2
    assert session.rejections.by_reason == {"MalformedFrame": 1, "InvalidValue": 1}


@pytest.mark.parametrize(
    ("price", "amount"),
    [(1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 1.0), (1.0, -1.0), (math.nan, 1.0), (1.0, math.nan),
     (math.inf, 1.0), (1.0, math.inf), (5e-324, 1e308)],
)  # fmt: skip
def test_both_readers_apply_the_same_level_rule(tmp_path: Path, price: float, amount: float) -> None:
    expected = valid_level(price, amount)
    delta = BookDelta("binance", "BTC/USDT", T, T, 1, 2, ((price, amount),), ())
    path = tmp_path / "rule.mdx.jsonl.gz"
    write_recording(path, [delta])
    rejections = Rejections(log_first=0)
    assert (list(read_recording(path, rejections)) == [delta]) is expected
    assert rejections.by_reason == ({} if expected else {"InvalidValue": 1})

    text = [repr(price), repr(amount)]
    frame = b'1 {"stream":"btcusdt@depth@100ms","data":{"E":1,"U":1,"u":2,"b":%s,"a":[]}}' % orjson.dumps(
        [text]
    )
    capture = tmp_path / "btcusdt_rule.gz"
    capture.write_bytes(gzip.compress(frame + b"\n"))
    rejections = Rejections(log_first=0)
    assert (len(list(read_capture(capture, rejections=rejections))) == 1) is expected
    assert rejections.by_reason == ({} if expected else {"InvalidValue": 1})


@pytest.mark.parametrize(
    "quote",
    [(1.0, 0.0, 2.0, 0.0), (0.0, 1.0, 2.0, 1.0), (1.0, 1.0, math.inf, 1.0), (1.0, -1.0, 2.0, 1.0),
     (1.0, 1.0, 2.0, math.nan)],
)  # fmt: skip
def test_both_readers_apply_the_same_quote_rule(tmp_path: Path, quote: tuple[float, ...]) -> None:
    expected = valid_quote(*quote)
    event = Quote("binance", "BTC/USDT", T, T, 1, *quote)
    path = tmp_path / "rule.mdx.jsonl.gz"
    write_recording(path, [event])
    assert (len(list(read_recording(path, Rejections(log_first=0)))) == 1) is expected
    b, bq, a, aq = (repr(x) for x in quote)
    frame = orjson.dumps({"stream": "btcusdt@bookTicker", "data": {"u": 1, "b": b, "B": bq, "a": a, "A": aq}})
    capture = tmp_path / "btcusdt_rule.gz"
    capture.write_bytes(gzip.compress(b"1 " + frame + b"\n"))
    assert (len(list(read_capture(capture, rejections=Rejections(log_first=0)))) == 1) is expected


# --- names, plain text, empty files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("x.gz", "x.mdx.jsonl.gz"), ("x.jsonl.gz", "x.mdx.jsonl.gz"), ("x", "x.mdx.jsonl.gz"),
     ("x.mdx.gz", "x.mdx.jsonl.gz"), ("btc.2024.json", "btc.2024.mdx.jsonl.gz")],
)  # fmt: skip
def test_a_recording_must_be_named_like_one(tmp_path: Path, name: str, suggestion: str) -> None:
    # Before: write_recording("x.gz") wrote a file read_capture took for a Binance capture (0 events).
    with pytest.raises(ConfigError, match=f"must end in .mdx.jsonl.gz .*e.g. {tmp_path / suggestion}"):
        write_recording(tmp_path / name, EVENTS)
    assert not (tmp_path / name).exists() and recording_name(tmp_path / name) == tmp_path / suggestion
    with pytest.raises(ConfigError, match="no such directory"):
        RecordingWriter(tmp_path / "missing" / "x.mdx.jsonl.gz")
    with pytest.raises(ConfigError, match="is a directory"):
        RecordingWriter(tmp_path)


def test_plain_text_recordings(tmp_path: Path) -> None:
    path = tmp_path / "plain.mdx.jsonl"
    write_recording(path, EVENTS)
    assert path.read_bytes().startswith(b'{"type":"header","format":"mdx-recording"')
    assert same(list(read_capture(path)), EVENTS)


@pytest.mark.parametrize(("data", "message"), [(gzip.compress(b""), "no lines"), (b"", "empty file")])
def test_a_recording_without_lines_is_a_capture_error(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "blank.mdx.jsonl.gz"
    path.write_bytes(data)
    rejections = Rejections(log_first=0)
    assert list(read_recording(path, rejections)) == []
    assert rejections.by_reason == {"CaptureError": 1} and message in rejections.last_message["CaptureError"]
    with pytest.raises(CaptureError, match=message):
        list(read_recording(path))


# --- value rules live in the event table (EventKind.check) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class FundingRate:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    rate: float


def check_funding(event: FundingRate) -> None:
    if not -1.0 < event.rate < 1.0:
        raise InvalidValue(f"funding rate {event.rate!r} is not a rate")


register_event(FundingRate, "test_funding_rate", "funding", check=check_funding)


def test_a_registered_kind_brings_its_value_rule_to_the_readers(tmp_path: Path) -> None:
    # Before: value rules were a private table of mdx.io (io/checks.py) that a new kind could not join.
    path = tmp_path / "funding.mdx.jsonl.gz"
    good, bad = FundingRate("x", "BTC/USDT:USDT", 1, 1, 0.0001), FundingRate("x", "BTC/USDT:USDT", 2, 2, 7.0)
    write_recording(path, [good, bad, good])
    rejections = Rejections(log_first=0)
    assert list(read_recording(path, rejections)) == [good, good]
    assert rejections.by_reason == {"InvalidValue": 1}
    assert "funding.mdx.jsonl.gz:3: funding rate 7.0" in rejections.last_message["InvalidValue"]
    with pytest.raises(InvalidValue, match=r"funding rate 7\.0"):
        list(read_recording(path))
    assert KINDS[Trade].check is not None and KINDS[Bar].check is None  # bars may carry a NaN vwap
    with pytest.raises(ConfigError, match="check must be a function"):
        register_event(FundingRate, "test_funding_rate", "funding", check="yes")  # type: ignore[arg-type]
