"""Fuzzing ``resample_trades``: random trade frames of every supported column type, bad values, time jumps.

Frames mix timestamp representations (int64, nullable ``Int64``, float, pyarrow ints and timestamps,
``datetime64`` of several units, tz-aware, numeric and ISO strings) in s / ms / us / ns, with missing
times, NaN / inf / negative / zero / huge prices and amounts, a few far-off timestamps (1970, decades
ahead), duplicated and shuffled rows.

Properties: only the mdx tree is raised; the number of bars is bounded by the accepted rows and
``max_gap`` (never millions); every row is either in some bar's ``count`` or a counted rejection; the
bars hold exactly the accepted rows (per bar: count and volume), and those are the valid rows that fall
in a bar (the rest were rejected as a time jump). And batch equals streaming: ``BarBuilder`` fed the
same valid trades, sorted, closes the same bars.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdx.errors import MdxError
from mdx.events import Trade
from mdx.market.bars import BarBuilder, bars_to_frame, max_gap_bars, resample_trades
from mdx.market.timeframes import timeframe_ns

pytestmark = pytest.mark.fuzz

try:
    import pyarrow as pa
except ImportError:  # pragma: no cover - pyarrow is optional
    pa = None

BASE_NS = 1_723_161_255_000_000_000  # 2024-08-08 23:54:15 UTC
MS = 1_000_000
PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
FAR = [-86_400 * 10**9 * 365, 0, 10**9 * 1_000, BASE_NS + 40 * 365 * 86_400 * 10**9]  # 1969, 1970, 2064
ODD_VALUES = [math.nan, math.inf, -math.inf, -1.0, 0.0, -0.0, 5e-324, 1e308, 1.7976931348623157e308]
TS_KINDS = ["int64", "Int64", "float", "datetime64", "tz", "str_int", "str_iso", "object_int"]
TS_KINDS += ["arrow_int", "arrow_ts"] if pa is not None else []
NUM_KINDS = ["float", "Int64", "object", "str"]

rows = st.lists(
    st.tuples(
        st.integers(0, 3 * 3_600_000),  # ms after BASE_NS: up to 3 hours
        st.sampled_from([100.0, 101.5, 99.25, 100.0, 7.0]) | st.sampled_from(ODD_VALUES),
        st.sampled_from([0.5, 1.0, 2.0, 1e-8]) | st.sampled_from(ODD_VALUES),
        st.sampled_from(["buy", "sell", None, "other"]),
        st.integers(0, 9),  # 0: a missing timestamp
    ),
    max_size=60,
)
far_rows = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(range(len(FAR)))), max_size=2)


def timestamps(ns: np.ndarray, kind: str, unit: str, missing: np.ndarray) -> tuple[Any, np.ndarray]:
    """The ``timestamp`` column as ``kind`` in ``unit``, and the ns times it stands for (floored to the
    unit). Missing entries become NA / NaT / NaN where the kind has one (else they stay present)."""
    per = PER_UNIT[unit]
    values = ns // per
    exact = values * per
    if kind == "int64":
        return values, exact
    if kind in ("Int64", "arrow_int"):
        dtype = "Int64" if kind == "Int64" else "int64[pyarrow]"
        column = pd.array([None if m else int(v) for v, m in zip(values, missing, strict=True)], dtype=dtype)
        return column, exact
    if kind == "float":
        return np.where(missing, np.nan, values.astype(np.float64)), exact
    if kind in ("str_int", "object_int"):
        cast = str if kind == "str_int" else int
        column = np.array([None if m else cast(v) for v, m in zip(values, missing, strict=True)], object)
        return column, exact
    times = values.astype(f"datetime64[{unit}]")
    times[missing] = np.datetime64("NaT")
    if kind == "datetime64":
        return times, exact
    if kind == "tz":
        return pd.Series(times).dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo"), exact
    if kind == "arrow_ts":
        return pd.array(pd.Series(times), dtype=pd.ArrowDtype(pa.timestamp(unit))), exact
    iso = pd.Series(times).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # str_iso: microseconds at most
    return iso.where(~missing, None).to_numpy(dtype=object), exact // 1_000 * 1_000


def numbers(values: np.ndarray, kind: str) -> Any:
    """A price or amount column as ``kind`` (non-integral values make an ``Int64`` column float)."""
    if kind == "Int64" and np.all(np.abs(values) < 2**53) and np.all(values == np.floor(values)):
        return pd.array(values.astype(np.int64), dtype="Int64")
    if kind == "object":
        return np.array([None if v != v else v for v in values], dtype=object)
    if kind == "str":
        return np.array([repr(float(v)) for v in values], dtype=object)
    return values


def valid(price: np.ndarray, amount: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return (price > 0) & (amount > 0) & (price * amount < np.inf)


@given(
    data=rows,
    far=far_rows,
    ts_kind=st.sampled_from(TS_KINDS),
    unit=st.sampled_from(["s", "ms", "us", "ns"]),
    price_kind=st.sampled_from(NUM_KINDS),
    side_kind=st.sampled_from(["none", "object", "category", "bool"]),
    timeframe=st.sampled_from(["1s", "1m", "5m", "1h"]),
    max_gap=st.sampled_from(["6h", "1h", "10m"]),
    order=st.randoms(use_true_random=False),
)
def test_every_row_is_in_a_bar_or_a_counted_rejection(
    data: list[tuple[Any, ...]], far: list[tuple[int, int]], ts_kind: str, unit: str, price_kind: str,
    side_kind: str, timeframe: str, max_gap: str, order: Any,
) -> None:  # fmt: skip
    data = list(data)
    order.shuffle(data)  # unsorted, duplicates possible: sorted stably inside
    ns = np.array([BASE_NS + ms * MS for ms, *_ in data], dtype=np.int64)
    for index, which in far:  # a few far-off timestamps (a minority: the unit is read from the median)
        if len(data) >= 7:
            ns[index % len(data)] = FAR[which]
    missing = np.array([m == 0 for *_, m in data], dtype=bool)
    ts, exact = timestamps(ns, ts_kind, unit, missing)
    price = np.array([p for _, p, *_ in data], dtype=np.float64)
    amount = np.array([a for _, _, a, *_ in data], dtype=np.float64)
    frame = pd.DataFrame({"timestamp": ts, "price": numbers(price, price_kind), "amount": amount})
    sides = [s for *_, s, _ in data]
    if side_kind == "object":
        frame["side"] = np.array(sides, dtype=object)
    elif side_kind == "category":
        frame["side"] = pd.Categorical([s if s in ("buy", "sell") else None for s in sides], ["buy", "sell"])
    elif side_kind == "bool":
        frame["side"] = [s == "buy" for s in sides]
    try:
        bars = resample_trades(frame, timeframe, max_gap=max_gap)
    except MdxError:
        return  # a clear error (e.g. a column of the wrong type) is an allowed outcome
    has_na = ts_kind not in ("int64",)
    present = ~missing if has_na else np.ones(len(data), dtype=bool)
    good = valid(price, amount) & present
    tf = timeframe_ns(timeframe)
    accepted_bars = exact // tf * tf
    in_bars = good & np.isin(accepted_bars, bars.index.asi8)  # valid rows whose bar is there
    assert int(bars["count"].sum()) + bars.attrs["rejected"] == len(data)  # every row accounted for
    assert int(bars["count"].sum()) == int(in_bars.sum())
    assert len(bars) <= int(in_bars.sum()) * (max_gap_bars(max_gap, tf) + 1) and len(bars) < 10**6
    jumped = bars.attrs["rejected_by_reason"].get("TimeJump", 0)
    assert int(good.sum()) - jumped == int(in_bars.sum())  # the rest of the valid rows were time jumps
    expected = pd.DataFrame({"bar": accepted_bars[in_bars], "amount": amount[in_bars]}).groupby("bar")
    counts, volumes = expected["amount"].count(), expected["amount"].sum()
    nonempty = bars[bars["count"] > 0]
    assert list(nonempty.index.asi8) == list(counts.index)
    assert list(nonempty["count"]) == list(counts)
    assert np.allclose(nonempty["volume"].to_numpy(), volumes.to_numpy(), rtol=1e-9, atol=0.0)
    assert bars.index.is_monotonic_increasing and bars.index.is_unique
    ohlc = bars[["open", "high", "low", "close"]].to_numpy()  # accepted prices (volume may overflow)
    assert (np.isfinite(ohlc) & (ohlc > 0)).all()


segment = st.lists(
    st.tuples(st.integers(0, 600_000), st.sampled_from([100.0, 100.5, 99.5, 101.0]),
              st.sampled_from([0.1, 1.0]), st.sampled_from(["buy", "sell", ""])),
    min_size=3, max_size=25,
)  # fmt: skip


@given(
    segments=st.lists(st.tuples(segment, st.sampled_from([0, 1, 2, 30, 400])), min_size=1, max_size=4),
    timeframe=st.sampled_from(["1s", "1m", "5m"]),
)
def test_streaming_closes_the_bars_batch_makes(
    segments: list[tuple[list[tuple[Any, ...]], int]], timeframe: str
) -> None:
    """Sorted valid trades in segments of at least ``JUMP_CONFIRM`` trades, separated by pauses shorter
    or longer than ``max_gap`` (1 h): the builder's bars (closed, then the open one) are the batch bars."""
    trades: list[Trade] = []
    start = BASE_NS
    for rows_, pause_minutes in segments:
        for i, (ms, price, amount, side) in enumerate(sorted(rows_)):
            ts = start + ms * MS
            trades.append(Trade("x", "BTC/USDT", ts, ts, str(len(trades) + i), price, amount, side))
        start = trades[-1].ts_event + pause_minutes * 60 * 10**9
    builder = BarBuilder("x", "BTC/USDT", timeframe, max_gap="1h")
    closed = [bar for trade in trades for bar in builder.update(trade)]
    assert builder.current is not None and builder.flush() == 0 and builder.jumps == builder.late == 0
    streamed = bars_to_frame([*closed, builder.current])
    frame = pd.DataFrame({
        "timestamp": [t.ts_event for t in trades], "price": [t.price for t in trades],
        "amount": [t.amount for t in trades], "side": [t.side or None for t in trades],
    })  # fmt: skip
    batch = resample_trades(frame.assign(timestamp=frame["timestamp"] // MS), timeframe, max_gap="1h")
    assert batch.attrs["rejected"] == 0
    pd.testing.assert_frame_equal(streamed, batch, check_exact=False, rtol=1e-12)
    assert all(bar.closed for bar in closed)
