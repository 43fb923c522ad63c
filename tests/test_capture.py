"""Binance captures → normalized events: real spot and futures files, symbols, and bad input."""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from pathlib import Path

import orjson
import pytest

from mdx.errors import CaptureError, InvalidValue, MalformedFrame
from mdx.events import BookDelta, BookSnapshot, Event, Quote, Trade, fast_constructor
from mdx.io.binance import unified_symbol
from mdx.io.capture import read_capture
from mdx.stats import Rejections

SPOT = "binance-spot-l2-trades"
FUTURES = "binance-futures-l2-trades"
MS = 1_000_000


def kinds(events: list[Event]) -> Counter[str]:
    return Counter(type(e).__name__ for e in events)


def head_lines(path: Path, n: int) -> list[bytes]:
    return zlib.decompress(path.read_bytes(), 31).split(b"\n")[:n]


def write_gz(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    return path


@pytest.mark.parametrize(
    ("raw", "market", "unified"),
    [
        ("BTCUSDT", "spot", "BTC/USDT"),
        ("ethbtc", "spot", "ETH/BTC"),
        ("BNBFDUSD", "spot", "BNB/FDUSD"),
        ("BTCUSDT", "usdm", "BTC/USDT:USDT"),
        ("BTCUSDT_240927", "usdm", "BTC/USDT:USDT-240927"),
        ("BTCUSD_PERP", "coinm", "BTC/USD:BTC"),
        ("ETHUSD_240927", "coinm", "ETH/USD:ETH-240927"),
        ("WEIRDX", "spot", "WEIRDX"),
    ],
)
def test_unified_symbols(raw: str, market: str, unified: str) -> None:
    assert unified_symbol(raw, market) == unified


def test_fast_constructor_builds_the_real_frozen_class() -> None:
    make = fast_constructor(Quote)
    quote = make("binance", "BTC/USDT", 1, 2, 3, 1.0, 2.0, 3.0, 4.0)
    assert type(quote) is Quote and quote == Quote("binance", "BTC/USDT", 1, 2, 3, 1.0, 2.0, 3.0, 4.0)
    with pytest.raises(AttributeError):
        quote.bid = 5.0  # type: ignore[misc]


def test_spot_capture_is_normalized(shared_data: Path) -> None:
    rejections = Rejections()
    events = list(read_capture(shared_data / SPOT / "btcusdt_20240808.gz", rejections=rejections))
    assert rejections.total == 0
    assert kinds(events) == {"Quote": 28040, "Trade": 9757, "BookDelta": 3451, "BookSnapshot": 1}
    assert {(e.exchange, e.symbol) for e in events} == {("binance", "BTC/USDT")}

    # the REST snapshot (8th line) comes first; the diffs buffered while it was fetched follow it
    snap = events[0]
    assert isinstance(snap, BookSnapshot) and snap.seq == 50093239218
    assert snap.ts_event == snap.ts_recv == 1723161254206652067  # spot snapshots carry no exchange time
    assert (
        snap.bids[0] == (61837.63, 3.78826) and snap.asks[0][0] > snap.bids[0][0] and len(snap.bids) == 1000
    )
    first = events[1]
    assert isinstance(first, BookDelta)
    assert (first.first_seq, first.seq, first.prev_seq) == (50093239189, 50093239202, -1)
    assert (first.ts_event, first.ts_recv) == (1723161255208 * MS, 1723161253937085768)
    assert first.bids[0] == (61737.63, 0.0) and first.asks[0] == (61837.64, 1.54698)

    quote = next(e for e in events if isinstance(e, Quote))
    assert (quote.seq, quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (
        50093239212, 61837.63, 3.78826, 61837.64, 1.54698,
    )  # fmt: skip
    assert quote.ts_event == quote.ts_recv == 1723161254087891268
    trade = next(e for e in events if isinstance(e, Trade))
    assert trade == Trade(
        "binance", "BTC/USDT", 1723161255342 * MS, 1723161254087896568, "3735683259", 61837.63, 0.02, "sell"
    )
    assert {e.side for e in events if isinstance(e, Trade)} == {"buy", "sell"}
    recv = [e.ts_recv for e in events[1:]]
    assert recv == sorted(recv)  # file order, apart from the snapshot moved ahead of the held diffs


def test_continuation_file_without_snapshot_keeps_file_order(shared_data: Path) -> None:
    events = list(read_capture(shared_data / SPOT / "ethusdt_20240809.gz", rejections=Rejections()))
    assert not any(isinstance(e, BookSnapshot) for e in events)
    recv = [e.ts_recv for e in events]
    assert recv == sorted(recv) and len(events) == 46126


def test_usdm_capture(shared_data: Path) -> None:
    events = list(read_capture(shared_data / FUTURES / "usdm_btcusdt_20240808.gz"))
    snap = events[0]
    assert isinstance(snap, BookSnapshot) and (snap.exchange, snap.symbol) == ("binanceusdm", "BTC/USDT:USDT")
    assert (
        snap.seq == 5123107852948 and snap.ts_event == 1723161256493 * MS and snap.bids[0] == (61800.2, 2.909)
    )
    delta = events[1]
    assert isinstance(delta, BookDelta) and delta.prev_seq == 5123107831937
    assert delta.ts_event == 1723161256298 * MS  # futures diffs: transaction time T
    quote = next(e for e in events if isinstance(e, Quote))
    assert quote.ts_event == 1723161256313 * MS and quote.ts_recv == 1723161255088169167
    trade = next(e for e in events if isinstance(e, Trade))
    assert (trade.id, trade.price, trade.amount, trade.side) == ("5266583935", 61800.3, 0.006, "buy")
    assert all(e.prev_seq >= 0 for e in events if isinstance(e, BookDelta))


def test_coinm_capture(shared_data: Path) -> None:
    events = list(read_capture(shared_data / FUTURES / "coinm_btcusd_perp_20240808.gz"))
    assert {(e.exchange, e.symbol) for e in events} == {("binancecoinm", "BTC/USD:BTC")}
    snap = events[0]
    assert isinstance(snap, BookSnapshot) and snap.seq == 1007198635033 and snap.bids[0] == (61804.7, 35.0)


@pytest.mark.parametrize(
    ("folder", "name", "exchange"),
    [
        (SPOT, "btcusdt_20240808.gz", "binance"),
        (FUTURES, "usdm_btcusdt_20240808.gz", "binanceusdm"),  # inferred from "pu"
        (FUTURES, "coinm_btcusd_perp_20240808.gz", "binancecoinm"),  # inferred from the "_PERP" symbol
    ],
)
def test_market_is_inferred_from_frames_without_a_telling_name(
    shared_data: Path, tmp_path: Path, folder: str, name: str, exchange: str
) -> None:
    copy = tmp_path / "capture.gz"
    copy.write_bytes((shared_data / folder / name).read_bytes())
    events = read_capture(copy)
    assert {next(events).exchange for _ in range(50)} == {exchange}


def test_market_argument_wins_and_is_checked(shared_data: Path) -> None:
    path = shared_data / FUTURES / "usdm_btcusdt_20240808.gz"
    events = read_capture(path, market="coinm")
    assert next(events).exchange == "binancecoinm"
    with pytest.raises(CaptureError, match="unknown market 'swap'"):
        read_capture(path, market="swap")


def test_bad_lines_are_counted_and_skipped(shared_data: Path, tmp_path: Path) -> None:
    lines = head_lines(shared_data / SPOT / "btcusdt_20240808.gz", 60)  # holds the snapshot at line 8
    ts = b"1723161254087896568 "
    trade = (
        b'{"stream":"btcusdt@trade","data":{"e":"trade","T":1723161255342,"t":1,"p":"%s","q":"%s","m":true}}'
    )
    bad = [
        b"garbage",  # no JSON
        ts + b'{"stream":"btcusdt@trade","data":{"e":"trade"',  # cut JSON
        ts + b"[1, 2, 3]",  # not an object
        ts + trade % (b"NaN", b"1.0"),  # NaN price
        ts + trade % (b"-5.0", b"1.0"),  # negative price
        ts + trade % (b"100.0", b"0"),  # zero amount
        ts + b'{"stream":"btcusdt@trade","data":{"e":"trade","p":"1.0","q":"1.0"}}',  # missing fields
        ts
        + b'{"stream":"btcusdt@bookTicker","data":{"u":1,"b":"abc","B":"1","a":"2","A":"1"}}',  # not a number
        ts + b'{"stream":"btcusdt@depth@100ms","data":{"E":1,"U":1,"u":2,"b":[["-1.0","1.0"]],"a":[]}}',
        ts
        + b'{"stream":"btcusdt@depth@100ms","data":{"E":1,"U":1,"u":2,"b":[["1.0"]],"a":[]}}',  # short level
        ts + b'{"hello":"world"}',  # neither a stream frame nor a snapshot
        b"notanumber " + lines[20].partition(b" ")[2],  # bad receive time
    ]
    ignored = [
        b"",
        ts + b'{"result":null,"id":1}',
        ts + b'{"stream":"btcusdt@kline_1m","data":{"e":"kline"}}',
    ]
    path = write_gz(tmp_path / "btcusdt_bad.gz", lines[:30] + bad + ignored + lines[30:])
    rejections = Rejections(log_first=0)
    events = list(read_capture(path, rejections=rejections))
    clean = list(read_capture(write_gz(tmp_path / "btcusdt_clean.gz", lines), rejections=Rejections()))
    assert events == clean and len(events) == 60
    assert rejections.by_reason == {"MalformedFrame": 7, "InvalidValue": 5}
    assert rejections.last_message["MalformedFrame"].startswith(
        "btcusdt_bad.gz:42: invalid literal for int()"
    )
    assert rejections.last_message["InvalidValue"].startswith("btcusdt_bad.gz:39: level price -1.0")


def test_strict_mode_raises_the_specific_error_after_the_good_events(
    shared_data: Path, tmp_path: Path
) -> None:
    lines = head_lines(shared_data / SPOT / "btcusdt_20240808.gz", 40)
    nan = b'1 {"stream":"btcusdt@bookTicker","data":{"u":1,"b":"NaN","B":"1","a":"2","A":"1"}}'
    path = write_gz(tmp_path / "btcusdt_nan.gz", [*lines[:20], nan, *lines[20:]])
    seen: list[Event] = []
    with pytest.raises(InvalidValue, match=r"btcusdt_nan.gz:21: quote nan"):
        seen.extend(read_capture(path))
    assert len(seen) == 20
    path = write_gz(tmp_path / "btcusdt_cut.gz", [*lines[:20], b"1 {", *lines[20:]])
    with pytest.raises(MalformedFrame, match=r"btcusdt_cut.gz:21"):
        list(read_capture(path))


def test_truncated_gzip_yields_what_was_read_then_counts_a_capture_error(
    shared_data: Path, tmp_path: Path
) -> None:
    data = (shared_data / SPOT / "btcusdt_20240808.gz").read_bytes()
    cut = tmp_path / "btcusdt_20240808.gz"
    cut.write_bytes(data[: len(data) // 2])
    rejections = Rejections(log_first=0)
    events = list(read_capture(cut, rejections=rejections))
    full = list(read_capture(shared_data / SPOT / "btcusdt_20240808.gz"))
    assert 10_000 < len(events) < len(full) and events == full[: len(events)]
    assert rejections.by_reason == {"CaptureError": 1}
    assert (
        "truncated" in rejections.last_message["CaptureError"]
        and str(cut) in rejections.last_message["CaptureError"]
    )

    seen: list[Event] = []
    with pytest.raises(CaptureError, match="truncated"):
        seen.extend(read_capture(cut))
    assert seen == events


def test_corrupt_gzip_is_a_capture_error(shared_data: Path, tmp_path: Path) -> None:
    data = bytearray((shared_data / SPOT / "btcusdt_20240808.gz").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    bad = tmp_path / "btcusdt_20240808.gz"
    bad.write_bytes(bytes(data))
    rejections = Rejections(log_first=0)
    events = list(read_capture(bad, rejections=rejections))
    assert len(events) > 1000 and rejections.by_reason["CaptureError"] == 1
    assert isinstance(events[0], BookSnapshot)


def test_missing_file_fails_at_call_time_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"nope\.gz: no such capture file"):
        read_capture(tmp_path / "nope.gz", rejections=Rejections())


def test_plain_text_and_multi_member_gzip(shared_data: Path, tmp_path: Path) -> None:
    lines = head_lines(shared_data / SPOT / "ethusdt_20240808.gz", 500)
    gz = write_gz(tmp_path / "ethusdt_a.gz", lines)
    plain = tmp_path / "ethusdt_b.txt"
    plain.write_bytes(b"\n".join(lines))  # no final newline either
    multi = tmp_path / "ethusdt_c.gz"
    multi.write_bytes(gzip.compress(b"\n".join(lines[:250]) + b"\n") + gzip.compress(b"\n".join(lines[250:])))
    expected = list(read_capture(gz))
    assert len(expected) == 500
    assert list(read_capture(plain)) == expected
    assert list(read_capture(multi)) == expected


def test_a_spot_snapshot_takes_its_symbol_from_the_streams_or_the_file_name(
    shared_data: Path, tmp_path: Path
) -> None:
    lines = head_lines(shared_data / SPOT / "btcusdt_20240808.gz", 20)
    first = [lines[7], *lines[:7], *lines[8:]]  # the snapshot before any stream frame
    events = list(read_capture(write_gz(tmp_path / "btcusdt_x.gz", first)))
    assert isinstance(events[0], BookSnapshot) and events[0].symbol == "BTC/USDT"
    rejections = Rejections(log_first=0)
    events = list(read_capture(write_gz(tmp_path / "capture.gz", first), rejections=rejections))
    assert not any(isinstance(e, BookSnapshot) for e in events) and len(events) == 19
    assert "depth snapshot without a symbol" in rejections.last_message["MalformedFrame"]


# --- damaged files: nothing before the damage is lost, and the damage is one counted CaptureError -----


def read_counted(path: Path) -> tuple[list[Event], Rejections]:
    rejections = Rejections(log_first=0)
    return list(read_capture(path, rejections=rejections)), rejections


@pytest.mark.parametrize(
    ("tail", "what"),
    [(b"\x00" * 100, "100 zero bytes"), (b"garbage\n", "8 bytes"), (b"\x1f", "1 bytes")],
)
def test_trailing_garbage_after_the_last_member_loses_no_event(
    shared_data: Path, tmp_path: Path, tail: bytes, what: str
) -> None:
    # Before: 100 zero bytes after a real capture lost 7,114 of its 41,249 events (the output of the last
    # 1 MiB chunk) and were reported as "corrupt gzip data". Python's gzip module reads them all.
    data = (shared_data / SPOT / "btcusdt_20240808.gz").read_bytes()
    full = list(read_capture(shared_data / SPOT / "btcusdt_20240808.gz"))
    assert len(full) == 41249
    path = tmp_path / "btcusdt_20240808.gz"
    path.write_bytes(data + tail)
    events, rejections = read_counted(path)
    assert events == full
    assert rejections.by_reason == {"CaptureError": 1}
    message = f"{path}: trailing garbage after the last gzip member at byte {len(data)} ({what})"
    assert rejections.last_message["CaptureError"] == message
    seen: list[Event] = []
    with pytest.raises(CaptureError, match="trailing garbage"):
        seen.extend(read_capture(path))
    assert seen == full


def test_a_corrupt_second_member_keeps_the_first_member_and_what_precedes_the_damage(
    shared_data: Path, tmp_path: Path
) -> None:
    raw = zlib.decompress((shared_data / SPOT / "btcusdt_20240808.gz").read_bytes(), 31)
    half = raw.index(b"\n", len(raw) // 2) + 1
    first, second = gzip.compress(raw[:half]), gzip.compress(raw[half:])
    damage = len(second) // 2
    broken = bytearray(second)
    broken[damage : damage + 64] = b"\x00" * 64
    path = tmp_path / "btcusdt_20240808.gz"
    path.write_bytes(first + bytes(broken))
    events, rejections = read_counted(path)
    # everything decompressed before the damage: at least what a file cut at the damage yields
    cut = tmp_path / "btcusdt_cut.gz"
    cut.write_bytes(first + second[:damage])
    before, _ = read_counted(cut)
    full = list(read_capture(shared_data / SPOT / "btcusdt_20240808.gz"))
    assert len(before) > raw[:half].count(b"\n") > 20_000
    assert events[: len(before)] == before == full[: len(before)]
    assert rejections.by_reason["CaptureError"] == 1
    assert rejections.last_message["CaptureError"].startswith(
        f"{path}: corrupt gzip member at byte {len(first)}: Error -3 while decompressing data"
    )


@pytest.mark.parametrize("garbage", [b"\x1f\x8b\x08\x00junk", b"\x1f\x8bnot a gzip header at all"])
def test_a_bad_member_header_after_a_good_member(shared_data: Path, tmp_path: Path, garbage: bytes) -> None:
    data = (shared_data / SPOT / "ethusdt_20240808.gz").read_bytes()
    path = tmp_path / "ethusdt_20240808.gz"
    path.write_bytes(data + garbage)
    events, rejections = read_counted(path)
    assert events == list(read_capture(shared_data / SPOT / "ethusdt_20240808.gz"))
    assert rejections.by_reason == {"CaptureError": 1}
    assert f"gzip member at byte {len(data)}" in rejections.last_message["CaptureError"]


def test_damage_inside_a_chunk_keeps_the_lines_decompressed_before_it(
    shared_data: Path, tmp_path: Path
) -> None:
    # the damage lies inside the first 1 MiB read: zlib drops the whole output of a failing call; the
    # reader must not
    data = (shared_data / SPOT / "btcusdt_20240809.gz").read_bytes()
    at = 600_000
    broken = bytearray(data)
    broken[at : at + 2000] = bytes(range(256)) * 7 + bytes(208)
    path = tmp_path / "btcusdt_20240809.gz"
    path.write_bytes(bytes(broken))
    cut = tmp_path / "btcusdt_cut.gz"
    cut.write_bytes(data[:at])
    events, rejections = read_counted(path)
    before, _ = read_counted(cut)
    assert len(before) > 10_000 and events[: len(before)] == before
    assert rejections.by_reason["CaptureError"] == 1
    assert rejections.last_message["CaptureError"].startswith(f"{path}: corrupt gzip member at byte 0: ")


@pytest.mark.parametrize("name", ["empty.gz", "empty.txt", "empty.mdx.jsonl.gz"])
def test_an_empty_file_is_a_capture_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(CaptureError, match=f"{name}: empty file"):
        list(read_capture(path))
    if not name.endswith(".mdx.jsonl.gz"):  # a recording without its header line always raises
        events, rejections = read_counted(path)
        assert events == [] and rejections.by_reason == {"CaptureError": 1}


# --- JSON types are checked, not coerced -------------------------------------------------------------

TS = b"1723161254087896568 "
TRADE = {"e": "trade", "E": 1723161255343, "s": "BTCUSDT", "t": 3735683259, "p": "61837.63",
         "q": "0.02", "T": 1723161255342, "m": True, "M": True}  # fmt: skip
AGG = {"e": "aggTrade", "E": 1634000000100, "a": 100, "p": "57000.01", "q": "0.5", "f": 200, "l": 201,
       "T": 1634000000099, "m": False, "M": True}  # fmt: skip
TICKER = {"u": 50093239212, "s": "BTCUSDT", "b": "61837.63", "B": "3.78826", "a": "61837.64", "A": "1.54698"}
DEPTH = {"e": "depthUpdate", "E": 1723161255208, "s": "BTCUSDT", "U": 50093239219, "u": 50093239220,
         "b": [["61737.63", "0.0"]], "a": [["61837.64", "1.5"]]}  # fmt: skip


def frame(stream: str, data: dict[str, object], **changes: object) -> bytes:
    return TS + orjson.dumps({"stream": f"btcusdt@{stream}", "data": {**data, **changes}})


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (frame("trade", TRADE, p=True), "'p' must be a decimal string or a number, got bool True"),
        (frame("trade", TRADE, q=False), "'q' must be a decimal string or a number, got bool False"),
        (frame("trade", TRADE, p=None), "'p' must be a decimal string or a number, got NoneType"),
        (frame("trade", TRADE, p=["1"]), "'p' must be a decimal string or a number, got list"),
        (frame("trade", TRADE, m="false"), "'m' must be true or false, got str 'false'"),
        (frame("trade", TRADE, m=0), "'m' must be true or false, got int 0"),
        (frame("trade", TRADE, T="1723161255342"), "'T' must be an integer, got str"),
        (frame("trade", TRADE, T=1723161255342.5), "'T' must be an integer, got float"),
        (frame("trade", TRADE, T=True), "'T' must be an integer, got bool"),
        (frame("trade", TRADE, t="3735683259"), "'t' must be an integer, got str"),
        (frame("aggTrade", AGG, m="true"), "'m' must be true or false, got str"),
        (frame("aggTrade", AGG, a=True), "'a' must be an integer, got bool"),
        (frame("bookTicker", TICKER, b=True), "'b' must be a decimal string or a number, got bool"),
        (frame("bookTicker", TICKER, A=False), "'A' must be a decimal string or a number, got bool"),
        (frame("bookTicker", TICKER, u="50093239212"), "'u' must be an integer, got str"),
        (frame("bookTicker", {**TICKER, "E": "1723161256313"}), "'E' must be an integer (ms), got str"),
        (frame("depth@100ms", DEPTH, U="50093239219"), "'U' must be an integer, got str"),
        (frame("depth@100ms", DEPTH, u=True), "'u' must be an integer, got bool"),
        (frame("depth@100ms", DEPTH, E=1.5), "'E' must be an integer (ms), got float"),
        (frame("depth@100ms", DEPTH, b=[["61737.63", True]]), "'b' must be a list of [price, amount] pairs"),
        (frame("depth@100ms", DEPTH, a=[[True, "1.0"]]), "'a' must be a list of [price, amount] pairs"),
        (frame("depth@100ms", DEPTH, a=["12"]), "'a' must be a list of [price, amount] pairs"),
        (frame("depth@100ms", DEPTH, a={"61837.64": "1.5"}), "'a' must be a list of [price, amount] pairs"),
    ],
)
def test_wrong_json_types_are_malformed_frames_not_misread(
    shared_data: Path, tmp_path: Path, line: bytes, field: str
) -> None:
    # Before: "p": true was read as price 1.0 and "m": "false" as a sell (bool("false") is True).
    lines = head_lines(shared_data / SPOT / "btcusdt_20240808.gz", 40)
    clean = list(read_capture(write_gz(tmp_path / "btcusdt_clean.gz", lines)))
    path = write_gz(tmp_path / "btcusdt_typed.gz", [*lines[:30], line, *lines[30:]])
    events, rejections = read_counted(path)
    assert events == clean
    assert rejections.by_reason == {"MalformedFrame": 1}
    assert rejections.last_message["MalformedFrame"].startswith(f"btcusdt_typed.gz:31: field {field}")
    with pytest.raises(MalformedFrame, match=r"btcusdt_typed\.gz:31: field"):
        list(read_capture(path))


def test_wrong_json_types_in_a_snapshot_and_a_futures_diff(shared_data: Path, tmp_path: Path) -> None:
    lines = head_lines(shared_data / SPOT / "btcusdt_20240808.gz", 20)
    snapshot = orjson.loads(lines[7].partition(b" ")[2])
    bad_snapshots = [
        ({"lastUpdateId": "50093239218"}, "'lastUpdateId' must be an integer"),
        ({"bids": [["61837.63", True]]}, "'bids' must be a list of [price, amount]"),
        ({"asks": "none"}, "'asks' must be a list of [price, amount] pairs, got str"),
    ]
    for changes, field in bad_snapshots:
        bad = lines[7].partition(b" ")[0] + b" " + orjson.dumps({**snapshot, **changes})
        rejections = Rejections(log_first=0)
        events = list(read_capture(write_gz(tmp_path / "btcusdt_s.gz", [*lines[:7], bad, *lines[8:]]),
                                   rejections=rejections))  # fmt: skip
        assert not any(isinstance(e, BookSnapshot) for e in events)
        assert rejections.last_message["MalformedFrame"].startswith(f"btcusdt_s.gz:8: field {field}")

    usdm = head_lines(shared_data / FUTURES / "usdm_btcusdt_20240808.gz", 30)
    i, diff = next((i, orjson.loads(x.partition(b" ")[2])) for i, x in enumerate(usdm) if b"@depth" in x)
    diff["data"]["pu"] = str(diff["data"]["pu"])
    usdm[i] = usdm[i].partition(b" ")[0] + b" " + orjson.dumps(diff)
    rejections = Rejections(log_first=0)
    list(read_capture(write_gz(tmp_path / "usdm_btcusdt_x.gz", usdm), rejections=rejections))
    assert rejections.last_message["MalformedFrame"].startswith(
        f"usdm_btcusdt_x.gz:{i + 1}: field 'pu' must be an integer, got str"
    )


def test_json_numbers_are_accepted_where_binance_sends_decimal_strings(tmp_path: Path) -> None:
    lines = [
        frame("trade", TRADE, p=61837.63, q=1),
        frame("bookTicker", TICKER, b=61837, B=3.5, a="61838", A=0),
        frame("depth@100ms", DEPTH, b=[[61737.63, 0]], a=[["61837.64", 1.5]]),
    ]
    events = list(read_capture(write_gz(tmp_path / "btcusdt_numbers.gz", lines), hold_s=0))
    trade, quote, delta = events  # no snapshot to wait for (hold_s=0): file order
    assert isinstance(trade, Trade) and (trade.price, trade.amount, trade.side) == (61837.63, 1.0, "sell")
    assert type(trade.amount) is float
    assert isinstance(quote, Quote) and (quote.bid, quote.bid_size, quote.ask, quote.ask_size) == (
        61837.0, 3.5, 61838.0, 0.0,
    )  # fmt: skip
    assert (
        isinstance(delta, BookDelta) and delta.bids == ((61737.63, 0.0),) and delta.asks == ((61837.64, 1.5),)
    )
    assert all(type(x) is float for level in (*delta.bids, *delta.asks) for x in level)


def test_strict_mode_yields_a_prefix_of_what_counting_mode_yields(shared_data: Path, tmp_path: Path) -> None:
    # A bad line while diffs are held back for the snapshot: strict mode used to yield the held diffs in
    # file order before raising, ahead of the snapshot the counting mode puts first.
    lines = head_lines(shared_data / SPOT / "btcusdt_20240808.gz", 40)  # the snapshot is line 8
    path = write_gz(tmp_path / "btcusdt_early.gz", [*lines[:3], b"1 {", *lines[3:]])
    counted, rejections = read_counted(path)
    assert rejections.by_reason == {"MalformedFrame": 1} and isinstance(counted[0], BookSnapshot)
    strict: list[Event] = []
    with pytest.raises(MalformedFrame, match=r"btcusdt_early\.gz:4: "):
        strict.extend(read_capture(path))
    assert strict == counted[:4]  # the snapshot, then the 3 events read before the bad line


@pytest.mark.parametrize(
    ("folder", "name", "market", "looks", "use"),
    [
        (SPOT, "btcusdt_20240808.gz", "usdm", "spot", "spot"),
        (SPOT, "btcusdt_20240808.gz", "coinm", "spot", "spot"),
        (FUTURES, "usdm_btcusdt_20240808.gz", "spot", "futures", "usdm"),
        (FUTURES, "coinm_btcusd_perp_20240808.gz", "spot", "futures", "coinm"),
    ],
)
def test_a_capture_read_as_the_wrong_market_is_one_clear_capture_error(
    shared_data: Path, folder: str, name: str, market: str, looks: str, use: str
) -> None:
    # Before: spot read as usdm gave a MalformedFrame ("missing field 'pu'") for each of its 6,495 diffs and
    # trades labelled binanceusdm; futures read as spot chained diffs by the spot rule (every one a gap).
    path = shared_data / folder / name
    rejections = Rejections(log_first=0)
    assert list(read_capture(path, market=market, rejections=rejections)) == []
    assert rejections.by_reason == {"CaptureError": 1}
    message = rejections.last_message["CaptureError"]
    assert f"read as {market} data (market='{market}'), but it looks like {looks} data" in message
    assert f"read it with market='{use}'" in message
    with pytest.raises(CaptureError, match=f"looks like {looks} data"):
        list(read_capture(path, market=market))


def test_a_file_named_for_futures_holding_spot_frames_says_so(shared_data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "usdm_btcusdt_20240808.gz"
    copy.write_bytes((shared_data / SPOT / "btcusdt_20240808.gz").read_bytes())
    named = r"read as usdm data \(the file name says usdm\), but it looks like spot"
    with pytest.raises(CaptureError, match=named):
        list(read_capture(copy))
