"""Trades -> OHLCV bars, batch (``resample_trades``) and streaming (``BarBuilder``), with equal results.

Bars are built by **event time** (the trade's exchange timestamp), never by wall-clock or receive time.
A bar of timeframe ``tf`` opening at ``t`` holds the trades with ``t <= ts < t + tf``; bar open times are
multiples of ``tf`` since the Unix epoch, except weekly bars, which open on Monday 00:00 UTC (as Binance
and most exchanges publish them).

Each bar carries ``open, high, low, close`` (first, highest, lowest, last trade price), ``volume`` (sum of
amounts, base currency), ``quote_volume`` (sum of ``price * amount``), ``vwap`` (``quote_volume /
volume``), ``buy_volume`` / ``sell_volume`` (volume of trades whose aggressor, ccxt ``side``, was the
buyer / the seller; trades with an unknown side count in neither, so ``buy + sell <= volume``) and
``count`` (number of trades).

Empty intervals between the first and the last trade are present, as exchanges publish them: volume,
quote volume, buy/sell volume and count 0, ``open = high = low = close = vwap =`` the previous close.
Nothing is produced before the first trade or after the last one.

Bad trades: a NaN, infinite, zero or negative price or amount is rejected (so is a trade whose
``price * amount`` overflows to infinity). ``resample_trades`` drops such rows and counts them in
``df.attrs["rejected"]``; ``BarBuilder.update`` raises ``InvalidValue`` (the session counts it as a
rejection) and leaves its state unchanged.

Time jumps (``max_gap``, default ``DEFAULT_MAX_GAP`` = 6 hours; ``None``: no limit, for trusted input).
One bad timestamp must not fill millions of empty bars (a year ahead at ``1s``: 31.5M) nor drag the
stream's time forward so that every later real trade is "late". Trades more than ``max_gap`` of empty
bars away from each other form separate *segments*:

- a segment of fewer than ``JUMP_CONFIRM`` (3) trades is taken for bad timestamps (a year ahead, 1970)
  and its trades are rejected as ``TimeJump`` (batch: unless no segment is that long; then the
  largest one is kept);
- a longer segment is a real pause (a quiet market, an exchange outage): it is kept, and the pause
  longer than ``max_gap`` is not filled: the next bar opens at its first trade (a hole in the series).

``BarBuilder`` decides online: a trade beyond ``max_gap`` from the open bar is *held* (returns no bar)
until ``JUMP_CONFIRM`` such trades agree (then they are applied, and a current segment of fewer than
``JUMP_CONFIRM`` trades is dropped as the outlier: its open bar; a bar it closed before was published
already) or a trade near the open bar shows the jump was bad (the held trades are rejected). A jump
is accepted at once when the receive clock moved as far as event time (``ts_recv``; a real pause in a
live or recorded feed). On sorted trades it gives the batch bars, except in two corners that only
hindsight decides: a short first segment that already closed a bar, and input where no segment
reaches ``JUMP_CONFIRM`` trades (streaming keeps the first, batch the largest). Late trades (older
than the open bar, already closed) are dropped and counted in ``late``; more than ``max_gap`` older,
they are time jumps. With a ``Rejections`` counter (the session's, through ``BarMaker``) both are
counted by reason: ``TimeJump`` and ``LateTrade``.

Speed: ``resample_trades`` is one compiled pass (several hundred million trades/s) over zero-copy views
of the columns. A pyarrow-backed ``side`` (pandas 3's ``str``) is read from its Arrow buffers inside that
pass (~2.5 ns a trade); Python-object sides are grouped by identity (ccxt's shared literals: ~2 ns a
trade) and only compared as strings when there are many distinct objects (~30 ns a trade); a
categorical ``side`` costs nothing extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, InvalidTimeframe, InvalidValue, TimeJump
from ..events import Bar, Trade, fast_constructor
from ..stats import Rejections
from .timeframes import timeframe_ns
from .trades import valid_trade

BAR_COLUMNS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "vwap",
    "buy_volume",
    "sell_volume",
    "count",
)
REQUIRED_TRADE_COLUMNS = ("timestamp", "price", "amount")
DEFAULT_MAX_GAP = "6h"  # longest pause filled with empty bars; a longer jump needs JUMP_CONFIRM trades
JUMP_CONFIRM = 3  # trades that make a segment real (fewer, beyond max_gap: bad timestamps)
LATE_TRADE = "LateTrade"  # the rejection reason of trades older than the open bar

_NS_PER_MS = 1_000_000
_make_bar = fast_constructor(Bar)  # a Bar per trade (the open bar): the frozen __init__ costs 1.6 µs
_NO_LIMIT = 1 << 62
_I64_MAX = (1 << 63) - 1
# Integer timestamps: (below this magnitude, ns per unit). Each unit reads dates 1973-03 .. 5138 right;
# smaller values (toy data near the epoch) are ms, as ccxt gives them.
_INT_UNITS = ((10**8, 1_000_000), (10**11, 1_000_000_000), (10**14, 1_000_000), (10**17, 1_000))
_UNIT_NAMES = {1_000_000_000: "s", 1_000_000: "ms", 1_000: "us", 1: "ns"}
_MONDAY_ORIGIN_NS = 4 * 86_400 * 1_000_000_000  # 1970-01-05, the first Monday after the epoch
# Side codes. Strings are coded 0 = sell, 1 = buy, 2 = unknown; booleans False = sell, True = buy. The
# kernel adds each amount to accumulator slot code + 1 and reads the buy / sell volume from two slots.
_STR_SIDES = (4, 2, 1)  # (slots, buy slot, sell slot)
_BOOL_SIDES = (3, 2, 1)
_NO_SIDES = (1, 0, 0)


def bar_origin_ns(timeframe: str) -> int:
    """Alignment origin of a timeframe's bars in ns: the epoch, or Monday 1970-01-05 for weekly bars."""
    return _MONDAY_ORIGIN_NS if timeframe.endswith("w") else 0


def bar_open_ns(ts_ns: int, tf_ns: int, origin_ns: int = 0) -> int:
    """Open time (ns) of the bar of length ``tf_ns`` holding the event time ``ts_ns``."""
    return (ts_ns - origin_ns) // tf_ns * tf_ns + origin_ns


def _empty_frame() -> pd.DataFrame:
    columns: dict[str, np.ndarray] = {c: np.empty(0) for c in BAR_COLUMNS}
    columns["count"] = np.empty(0, np.int64)
    return pd.DataFrame(columns, index=_index(np.empty(0, np.int64)))


def _index(open_ns: np.ndarray) -> pd.DatetimeIndex:
    values = np.asarray(open_ns, dtype=np.int64).view("datetime64[ns]")
    return pd.DatetimeIndex(values, name="timestamp").tz_localize("UTC")


def max_gap_bars(max_gap: str | None, tf_ns: int) -> int:
    """The most empty bars of length ``tf_ns`` filled across a pause of ``max_gap`` (a duration such as
    ``"6h"``, ``"90m"``, ``"2d"``; None: no limit)."""
    return _NO_LIMIT if max_gap is None else _max_gap_ns(max_gap) // tf_ns


def _max_gap_ns(max_gap: str) -> int:
    try:
        return timeframe_ns(max_gap)
    except InvalidTimeframe:
        raise ConfigError(
            f"max_gap must be a duration like '6h', '90m', '2d' (or None: no limit), got {max_gap!r}"
        ) from None


def _int_unit(values: np.ndarray, valid: np.ndarray | None) -> int:
    """ns per unit of integer (or float) times since the epoch, from the magnitude of a sample's median."""
    n = values.size
    if n == 0:
        return _NS_PER_MS
    picks = np.unique(np.linspace(0, n - 1, min(n, 1001)).astype(np.int64))
    if valid is not None:
        picks = picks[valid[picks]]
        if picks.size == 0:
            return _NS_PER_MS
    magnitude = float(np.median(np.abs(values[picks].astype(np.float64))))
    for limit, per_unit in _INT_UNITS:
        if magnitude < limit:
            return per_unit
    return 1


def _timestamps(col: pd.Series) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Timestamp column -> (integer array, ns per unit, mask of valid rows or None).

    datetime64 / tz-aware / pyarrow timestamps keep their unit; integers (numpy, nullable ``Int64``,
    ``int64[pyarrow]``) and floats are s / ms / us / ns since the epoch by magnitude (``_INT_UNITS``);
    strings are numbers (as integers) or ISO 8601 datetimes. Missing values are invalid rows."""
    dtype = col.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        arrow = getattr(dtype, "pyarrow_dtype", None)
        if isinstance(dtype, pd.DatetimeTZDtype) or getattr(arrow, "tz", None):
            col = col.dt.tz_convert("UTC").dt.tz_localize(None)
        values = col.to_numpy()
        if values.dtype.kind != "M":
            raise InvalidValue(f"trade column 'timestamp' ({dtype}) does not convert to datetime64")
        unit, _ = np.datetime_data(values.dtype)
        per_unit = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}.get(unit)
        if per_unit is None:
            raise InvalidValue(
                f"trade column 'timestamp' has an unsupported datetime unit {unit!r} ({dtype})"
            )
        ints = values.view(np.int64)
        invalid = np.isnat(values)
        return ints, per_unit, (~invalid if invalid.any() else None)
    if pd.api.types.is_bool_dtype(dtype):
        raise InvalidValue(f"trade column 'timestamp' holds booleans ({dtype}), not times")
    if pd.api.types.is_integer_dtype(dtype):
        if isinstance(dtype, np.dtype):
            ints = col.to_numpy(dtype=np.int64)
            valid = None
        else:  # nullable (Int64, int64[pyarrow]): missing values are invalid rows
            missing = col.isna().to_numpy(dtype=np.bool_)
            ints = col.to_numpy(dtype=np.int64, na_value=0)
            valid = ~missing if missing.any() else None
        return ints, _int_unit(ints, valid), valid
    if pd.api.types.is_float_dtype(dtype):
        return _float_times(col.to_numpy(dtype=np.float64, na_value=np.nan))
    if isinstance(dtype, pd.StringDtype) or dtype.kind == "O" or pd.api.types.is_string_dtype(dtype):
        return _text_times(col)
    raise InvalidValue(
        f"trade column 'timestamp' has dtype {dtype}: use datetimes or s / ms / us / ns since the epoch"
    )


def _float_times(floats: np.ndarray) -> tuple[np.ndarray, int, np.ndarray | None]:
    valid = np.isfinite(floats)
    all_valid = bool(valid.all())
    per_unit = _int_unit(floats, None if all_valid else valid)
    if per_unit == 1_000_000_000:  # float seconds keep their milliseconds
        floats, per_unit = floats * 1000.0, _NS_PER_MS
    ints = np.floor(floats if all_valid else np.where(valid, floats, 0.0)).astype(np.int64)
    return ints, per_unit, (None if all_valid else valid)


def _text_times(col: pd.Series) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Strings (or Python objects): numbers if every present value is one, else ISO 8601 datetimes."""
    present = col.notna().to_numpy(dtype=np.bool_)
    numbers = pd.to_numeric(col, errors="coerce")
    parsed_numbers = numbers.notna().to_numpy(dtype=np.bool_)
    if present.any() and (parsed_numbers == present).all():
        if pd.api.types.is_integer_dtype(numbers.dtype):
            ints = numbers.to_numpy(dtype=np.int64, na_value=0)
            valid = None if parsed_numbers.all() else parsed_numbers
            return ints, _int_unit(ints, valid), valid
        return _float_times(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
    try:
        times = pd.to_datetime(col, utc=True, errors="coerce", format="ISO8601")
    except (TypeError, ValueError) as error:
        raise InvalidValue(
            f"trade column 'timestamp' ({col.dtype}) holds neither numbers nor ISO 8601 datetimes: {error}"
        ) from None
    if present.any() and times.isna().to_numpy()[present].all():
        example = col[present].iloc[0]
        raise InvalidValue(
            f"trade column 'timestamp' ({col.dtype}) holds neither numbers nor ISO 8601 datetimes, "
            f"e.g. {example!r}"
        )
    return _timestamps(times)


def _numbers(col: pd.Series, name: str) -> np.ndarray:
    try:
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"trade column {name!r} is not numeric ({col.dtype}): {error}") from None


class _Sides(NamedTuple):
    """A side column ready for ``resample_kernel``: integer codes >= -1 (empty: none) with their
    accumulator slots, or (``text``) the offsets and UTF-8 bytes of Arrow strings that the kernel reads
    itself, coded as ``_STR_SIDES``."""

    codes: np.ndarray
    slots: tuple[int, int, int]
    text: tuple[np.ndarray, np.ndarray] | None = None

    def as_codes(self) -> _Sides:
        """The same sides as codes (to filter or reorder rows)."""
        if self.text is None:
            return self
        from .bar_kernel import utf8_side_codes

        offsets, data = self.text
        codes = np.empty(offsets.size - 1, np.int8)
        utf8_side_codes(offsets, data, _NO_BITS, 0, codes)
        return _Sides(codes, self.slots)

    def take(self, rows: np.ndarray) -> _Sides:
        """The sides of ``rows`` (a boolean mask or row numbers)."""
        sides = self.as_codes()
        return _Sides(sides.codes[rows] if sides.codes.size else sides.codes, sides.slots)

    def kernel_args(self) -> tuple[object, ...]:
        """``side, text_offsets, text, side_slots, buy_slot, sell_slot`` of ``resample_kernel``."""
        offsets, data = self.text if self.text is not None else (_NO_OFFSETS, _NO_BITS)
        return (self.codes, offsets, data, *self.slots)


_NO_SIDES_COLUMN = _Sides(np.zeros(0, np.int8), _NO_SIDES)


def _sides(col: pd.Series) -> _Sides:
    """Side column -> codes and slots for ``resample_kernel`` (see ``_Sides``)."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _Sides(col.cat.codes.to_numpy(), _category_slots(list(dtype.categories)))
    if dtype == np.bool_:
        return _Sides(col.to_numpy(dtype=np.bool_).view(np.int8), _BOOL_SIDES)
    if pd.api.types.is_bool_dtype(dtype):  # nullable (boolean, bool[pyarrow]): a missing side is unknown
        missing = col.isna().to_numpy(dtype=np.bool_)
        buy = col.to_numpy(dtype=np.bool_, na_value=False)
        return _Sides(buy.view(np.int8) | (missing.view(np.int8) << 1), _STR_SIDES)
    if isinstance(dtype, (pd.StringDtype, pd.ArrowDtype)):
        sides = _arrow_text_sides(col)
        if sides is not None:
            return sides
    if isinstance(dtype, pd.StringDtype):
        return _object_sides(col.to_numpy(dtype=object, na_value=None))
    if dtype.kind == "O":
        return _object_sides(col.to_numpy(dtype=object))
    raise InvalidValue(f"trade column 'side' must hold 'buy'/'sell' strings, a categorical or bools: {dtype}")


def _category_slots(categories: list[object]) -> tuple[int, int, int]:
    """Accumulator slots of category codes: code ``c`` adds to slot ``c + 1``; a side without a category
    reads a slot that no code reaches (it stays 0)."""
    unused = len(categories) + 1
    buy = categories.index("buy") + 1 if "buy" in categories else unused
    sell = categories.index("sell") + 1 if "sell" in categories else unused
    return unused + 1, buy, sell


def _arrow_text_sides(col: pd.Series) -> _Sides | None:
    """The sides of a pyarrow-backed string column (pandas 3's ``str``, ``string[pyarrow]``, ``ArrowDtype``
    strings) straight from its buffers, no string comparison: one chunk without nulls is handed to the
    kernel as is (no copy); otherwise each chunk is coded by ``utf8_side_codes``. None when the column
    is not Arrow text (``string[python]``, other Arrow types)."""
    to_arrow = getattr(col.array, "__arrow_array__", None)
    if to_arrow is None:
        return None
    import pyarrow as pa

    chunked = to_arrow()
    if isinstance(chunked, pa.Array):
        chunked = pa.chunked_array([chunked])
    if pa.types.is_string_view(chunked.type):
        chunked = chunked.cast(pa.large_string())
    if not (pa.types.is_large_string(chunked.type) or pa.types.is_string(chunked.type)):
        return None
    buffers = [_utf8_buffers(chunk) for chunk in chunked.chunks if len(chunk)]
    if len(buffers) == 1 and buffers[0][2] is None:
        offsets, data, _, _ = buffers[0]
        return _Sides(_NO_CODES, _STR_SIDES, (offsets, data))
    from .bar_kernel import utf8_side_codes

    codes = np.empty(len(col), np.int8)
    start = 0
    for offsets, data, validity, bit_offset in buffers:
        n = offsets.size - 1
        utf8_side_codes(offsets, data, _NO_BITS if validity is None else validity, bit_offset, codes[start:])
        start += n
    return _Sides(codes, _STR_SIDES)


def _utf8_buffers(chunk: object) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """(value offsets, UTF-8 bytes, null bitmap or None, bit offset) of a non-empty Arrow string array,
    as numpy views of its buffers."""
    import pyarrow as pa

    assert isinstance(chunk, pa.Array)
    validity, offsets, data = chunk.buffers()
    first, n = chunk.offset, len(chunk)
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    ends = np.frombuffer(offsets, width, count=first + n + 1)[first:]
    text = np.frombuffer(data, np.uint8) if data is not None else _NO_BITS
    bits = np.frombuffer(validity, np.uint8) if validity is not None and chunk.null_count else None
    return ends, text, bits, first


_NO_BITS = np.zeros(0, np.uint8)
_NO_CODES = np.zeros(0, np.int8)
_NO_OFFSETS = np.zeros(0, np.int64)
_DISTINCT_OBJECTS = 8  # more distinct side objects than this: compared as strings instead


def _object_sides(values: np.ndarray) -> _Sides:
    """Sides held as Python objects. ccxt gives most exchanges' sides as two shared string literals, so
    the rows are grouped by object identity first (one compiled pass over the pointers) and only the
    few distinct objects are compared; columns of many distinct objects (parsed JSON) are compared row by
    row."""
    from .bar_kernel import identity_slots

    values = np.ascontiguousarray(values)
    slots = np.empty(values.size, np.int8)
    first = identity_slots(_object_pointers(values), _DISTINCT_OBJECTS, slots)
    if first.size == 0:
        return _Sides(_compared_sides(values), _STR_SIDES)
    codes = _compared_sides(values[first])
    buy_slots = np.flatnonzero(codes == 1)
    sell_slots = np.flatnonzero(codes == 0)
    if buy_slots.size <= 1 and sell_slots.size <= 1:  # the slots are the codes of a categorical
        unused = first.size + 1
        buy = int(buy_slots[0]) + 1 if buy_slots.size else unused
        sell = int(sell_slots[0]) + 1 if sell_slots.size else unused
        return _Sides(slots, (unused + 1, buy, sell))
    return _Sides(codes[slots], _STR_SIDES)  # equal strings in distinct objects: recoded


def _object_pointers(values: np.ndarray) -> np.ndarray:
    """The object pointers of a C-contiguous object array as an unsigned integer view (no copy). Valid
    while ``values`` lives; only compared, never followed."""
    import ctypes

    words = (ctypes.c_size_t * values.size).from_address(values.ctypes.data)
    return np.ctypeslib.as_array(words).view(np.uint64)


def _compared_sides(values: np.ndarray) -> np.ndarray:
    """Side codes (``_STR_SIDES``) of Python objects: 1 for "buy", 0 for "sell", 2 for anything else."""
    try:
        buy = np.equal(values, "buy")
        other = np.not_equal(values, "sell", out=np.zeros(values.size, np.bool_), where=~buy)
    except TypeError:  # an object that refuses comparison to a string (pd.NA): classified one by one
        return np.fromiter(map(_side_code, values), dtype=np.int8, count=values.size)
    return buy.view(np.int8) | (other.view(np.int8) << 1)


def _side_code(value: object) -> int:
    if isinstance(value, str):
        return 1 if value == "buy" else 0 if value == "sell" else 2
    return 2


def resample_trades(
    trades: pd.DataFrame, timeframe: str, *, max_gap: str | None = DEFAULT_MAX_GAP
) -> pd.DataFrame:
    """Trades (ccxt columns) -> OHLCV bars of ``timeframe``, by event time. See the module docstring.

    ``trades`` needs ``timestamp``, ``price`` and ``amount``; ``side`` ("buy"/"sell" aggressor, exact
    strings; a categorical with those categories, or booleans with True = buy, also work; anything else,
    e.g. None, is an unknown side) is optional, and any other column (``id``, ...) is ignored.
    ``timestamp``: datetimes (numpy, tz-aware or pyarrow), or numbers since the epoch (numpy, nullable
    ``Int64``, pyarrow, or strings) whose unit is read from their magnitude: values from 1e8 are
    seconds, from 1e11 milliseconds, from 1e14 microseconds, from 1e17 nanoseconds (each unit covers the
    dates 1973 to 5138), smaller ones milliseconds as ccxt gives them; or ISO 8601 strings.
    Unsorted input is sorted stably by timestamp first (trades with equal timestamps keep their order).

    Rejected rows are dropped and counted in ``result.attrs["rejected"]``, and by reason in
    ``result.attrs["rejected_by_reason"]``: ``InvalidValue`` for a NaN/infinite/non-positive or missing
    price or amount (or an overflowing ``price * amount``) or a missing timestamp; ``TimeJump`` for
    trades in a segment of fewer than ``JUMP_CONFIRM`` trades more than ``max_gap`` away from the rest
    (one bad timestamp); pauses longer than ``max_gap`` between real segments are not filled.

    Returns a frame indexed by bar open time (UTC ``DatetimeIndex`` named ``timestamp``) with the
    columns of ``BAR_COLUMNS`` (``count`` is int64). One compiled pass over the trades.

    Raises ``InvalidTimeframe`` for an unknown timeframe, ``ConfigError`` for a bad ``max_gap``,
    ``DataError`` for a missing column, ``InvalidValue`` for a column of the wrong type, and ``TimeJump``
    when the kept trades span more bars than fit in memory (a larger ``max_gap`` than the data allows).
    """
    tf_ns = timeframe_ns(timeframe)
    gap = max_gap_bars(max_gap, tf_ns)
    if not isinstance(trades, pd.DataFrame):
        raise DataError(f"resample_trades needs a pandas DataFrame of trades, not {type(trades).__name__}")
    missing = [c for c in REQUIRED_TRADE_COLUMNS if c not in trades.columns]
    if missing:
        raise DataError(
            f"trades frame lacks column(s) {missing}: needs {list(REQUIRED_TRADE_COLUMNS)}, optionally 'side'"
        )
    ts, per_unit, ts_valid = _timestamps(trades["timestamp"])
    price = _numbers(trades["price"], "price")
    amount = _numbers(trades["amount"], "amount")
    has_side = "side" in trades.columns and len(trades) > 0
    sides = _sides(trades["side"]) if has_side else _NO_SIDES_COLUMN
    invalid = 0
    if ts_valid is not None:
        invalid = int(ts.size - np.count_nonzero(ts_valid))
        ts, price, amount = ts[ts_valid], price[ts_valid], amount[ts_valid]
        sides = sides.take(ts_valid)
    from .bar_kernel import JUMP, UNSORTED, resample_kernel  # numba loads on first batch use, not on import

    tf = tf_ns // per_unit
    origin = bar_origin_ns(timeframe) // per_unit
    jumped = 0
    try:
        result = resample_kernel(ts, price, amount, *sides.kernel_args(), tf, origin, gap, 0)
        if result[0] == UNSORTED:
            order = np.argsort(ts, kind="stable")
            ts, price, amount = ts[order], price[order], amount[order]
            sides = sides.take(order)
            result = resample_kernel(ts, price, amount, *sides.kernel_args(), tf, origin, gap, 0)
        if result[0] == JUMP:
            ts, price, amount, sides, capacity, jumped, invalid_dropped = _vet_segments(
                ts, price, amount, sides, tf, origin, gap
            )
            invalid += invalid_dropped
            result = resample_kernel(ts, price, amount, *sides.kernel_args(), tf, origin, gap, capacity)
    except MemoryError:
        raise TimeJump(
            f"resample_trades: the trades span too many {timeframe} bars to fill (max_gap={max_gap!r}); "
            "use a longer timeframe or a shorter max_gap"
        ) from None
    _, kernel_rejected, starts, fields, count = result
    bound = _I64_MAX // per_unit - tf
    if starts.size and not (-bound <= starts[0] and starts[-1] <= bound):
        raise InvalidValue(
            f"trade column 'timestamp' ({trades['timestamp'].dtype}) read as {_UNIT_NAMES[per_unit]} "
            "since the epoch gives times outside the datetime64[ns] range (1677-2262)"
        )
    columns = dict(zip(BAR_COLUMNS, fields, strict=False))
    columns["count"] = count
    frame = pd.DataFrame(columns, index=_index(starts * per_unit))
    invalid += int(kernel_rejected)
    frame.attrs["rejected"] = invalid + jumped
    frame.attrs["rejected_by_reason"] = {
        reason: n for reason, n in (("InvalidValue", invalid), ("TimeJump", jumped)) if n
    }
    return frame


def _vet_segments(
    ts: np.ndarray,
    price: np.ndarray,
    amount: np.ndarray,
    sides: _Sides,
    tf: int,
    origin: int,
    gap: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Sides, int, int, int]:
    """Drop the segments of fewer than ``JUMP_CONFIRM`` trades (all but the largest when none is longer).
    Returns the kept rows (sorted), the bars they need, and the valid / invalid rows dropped."""
    from .bar_kernel import segments_kernel

    ordered, first_row, valid, first_bar, last_bar = segments_kernel(ts, price, amount, tf, origin, gap)
    if not ordered:
        order = np.argsort(ts, kind="stable")
        ts, price, amount = ts[order], price[order], amount[order]
        sides = sides.take(order)
        _, first_row, valid, first_bar, last_bar = segments_kernel(ts, price, amount, tf, origin, gap)
    keep = valid >= JUMP_CONFIRM
    if not keep.any():
        keep[np.argmax(valid)] = True
    rows = np.diff(np.append(first_row, ts.size))
    jumped = int(valid[~keep].sum())
    invalid_dropped = int((rows - valid)[~keep].sum())
    capacity = int((last_bar - first_bar + 1)[keep].sum())
    if keep.all():
        return ts, price, amount, sides, capacity, 0, 0
    # the kept rows as slices: runs of adjacent kept segments (usually one or two)
    bounds = np.flatnonzero(np.diff(np.concatenate(([False], keep, [False])).astype(np.int8)))
    edges = np.append(first_row, ts.size)
    runs = [(int(edges[a]), int(edges[b])) for a, b in zip(bounds[::2], bounds[1::2], strict=True)]

    def kept(values: np.ndarray) -> np.ndarray:
        if not values.size:
            return values
        if len(runs) == 1:  # bad rows at the ends only: a view, no copy
            return values[runs[0][0] : runs[0][1]]
        return np.concatenate([values[a:b] for a, b in runs])

    codes = sides.as_codes()
    kept_sides = _Sides(kept(codes.codes), codes.slots)
    return kept(ts), kept(price), kept(amount), kept_sides, capacity, jumped, invalid_dropped


class BarBuilder:
    """Streaming bars of one timeframe for one symbol, equal to ``resample_trades`` on the same trades.

    ``update(trade)`` returns the bars that closed because of this trade, oldest first: the open bar and
    the empty (gap-filled) bars between it and the trade's bar. ``current`` is the open bar
    (``closed=False``) or None before the first trade. A bar closes only when a trade of a later bar
    arrives (event time, no timers); the last bar stays open.

    Out-of-order trades: a trade earlier than the open bar (its bar was already closed and published) is
    dropped and counted in ``late`` (and as a ``LateTrade`` rejection in ``rejections``; one more than
    ``max_gap`` before it is a ``TimeJump``). A trade that
    arrives out of order *within* the open bar is applied as if the trades had been sorted stably by
    event time: it becomes ``open`` if it is strictly earlier than the current open trade, ``close`` if it
    is not earlier than the current close trade. OHLC, volumes and count then equal the batch result on
    sorted input (sums can differ in the last bit, because they are added in arrival order).

    Time jumps (see the module docstring): a trade more than ``max_gap`` of empty bars after the open bar
    is held until ``JUMP_CONFIRM`` trades confirm the jump or a trade near the open bar disproves it;
    rejected trades are counted in ``jumps`` (and as ``TimeJump`` in ``rejections``). ``flush()`` rejects
    the trades still held at the end of a stream.

    ``ts_recv`` of a bar is the receive time of its last trade; for gap-filled empty bars it is the
    receive time of the trade that closed them. Invalid trades raise ``InvalidValue`` and change nothing.
    """

    __slots__ = (
        "_a_buy",
        "_a_sell",
        "_close",
        "_close_ts",
        "_count",
        "_end",
        "_held",
        "_held_hi",
        "_held_lo",
        "_held_mark",
        "_high",
        "_low",
        "_open",
        "_open_ts",
        "_qv",
        "_recv",
        "_seg_closed",
        "_start",
        "_volume",
        "exchange",
        "jumps",
        "late",
        "max_gap",
        "max_gap_bars",
        "max_gap_ns",
        "origin_ns",
        "rejections",
        "symbol",
        "tf_ns",
        "timeframe",
    )

    def __init__(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        *,
        max_gap: str | None = DEFAULT_MAX_GAP,
        rejections: Rejections | None = None,
    ) -> None:
        self.tf_ns = timeframe_ns(timeframe)
        self.origin_ns = bar_origin_ns(timeframe)
        self.exchange = exchange
        self.symbol = symbol
        self.timeframe = timeframe
        self.max_gap = max_gap
        self.max_gap_bars = max_gap_bars(max_gap, self.tf_ns)
        self.max_gap_ns = _NO_LIMIT if max_gap is None else _max_gap_ns(max_gap)
        self.rejections = rejections
        self.reset()

    def reset(self) -> None:
        """Forget the open bar, held trades and the ``late`` / ``jumps`` counters, as if newly created."""
        self.late = 0
        self.jumps = 0
        self._start: int | None = None
        self._end = 0
        self._open = self._high = self._low = self._close = 0.0
        self._open_ts = self._close_ts = 0
        self._volume = self._qv = self._a_buy = self._a_sell = 0.0
        self._count = 0
        self._recv = 0
        self._seg_closed = 0  # trades in the closed bars of the current segment
        self._held: list[Trade] = []  # trades beyond max_gap, waiting for confirmation
        self._held_lo = self._held_hi = 0  # their bars' open times
        self._held_mark: tuple[int | None, int] = (None, 0)  # (open bar, its count) when last held

    def _bar(self, closed: bool) -> Bar:
        assert self._start is not None
        return _make_bar(
            self.exchange,
            self.symbol,
            self.timeframe,
            self._start,
            self._recv,
            self._open,
            self._high,
            self._low,
            self._close,
            self._volume,
            self._qv,
            self._qv / self._volume,
            self._a_buy,
            self._a_sell,
            self._count,
            closed,
        )

    def _begin(self, start: int, trade: Trade) -> None:
        p = trade.price
        a = trade.amount
        self._start = start
        self._end = start + self.tf_ns
        self._open = self._high = self._low = self._close = p
        self._open_ts = self._close_ts = trade.ts_event
        self._volume = a
        self._qv = p * a
        self._a_buy = a if trade.side == "buy" else 0.0
        self._a_sell = a if trade.side == "sell" else 0.0
        self._count = 1
        self._recv = trade.ts_recv

    def update(self, trade: Trade) -> list[Bar]:
        """Add one trade; return the bars it closed (oldest first, gap-filled empty bars included)."""
        p = trade.price
        a = trade.amount
        if not valid_trade(p, a):
            raise InvalidValue(
                f"trade {trade.id!r} on {trade.symbol}: price {p!r} and amount {a!r} must be finite and > 0"
            )
        t = trade.ts_event
        start = self._start
        if start is None:
            self._begin(bar_open_ns(t, self.tf_ns, self.origin_ns), trade)
            return []
        if t < start:
            return self._earlier(trade)
        if t < self._end:
            if p > self._high:
                self._high = p
            if p < self._low:
                self._low = p
            if t < self._open_ts:
                self._open = p
                self._open_ts = t
            if t >= self._close_ts:
                self._close = p
                self._close_ts = t
            self._volume += a
            self._qv += p * a
            if trade.side == "buy":
                self._a_buy += a
            elif trade.side == "sell":
                self._a_sell += a
            self._count += 1
            self._recv = trade.ts_recv
            return []
        tf = self.tf_ns
        new_start = bar_open_ns(t, tf, self.origin_ns)
        fill = (new_start - self._end) // tf <= self.max_gap_bars
        if not fill and not self._witnessed(trade):
            return self._hold(trade, new_start)
        if self._held:
            self._reject_held()
        closed = [self._bar(True)]
        if fill:
            c = self._close
            recv = trade.ts_recv
            ex, sym, tfs = self.exchange, self.symbol, self.timeframe
            for gap in range(self._end, new_start, tf):
                closed.append(Bar(ex, sym, tfs, gap, recv, c, c, c, c, 0.0, 0.0, c, 0.0, 0.0, 0, True))
            self._seg_closed += self._count
        else:  # a real pause longer than max_gap: a hole, and a new segment
            self._seg_closed = 0
        self._begin(new_start, trade)
        return closed

    # -- late trades and time jumps (the slow paths) -------------------------------------------------------

    def _earlier(self, trade: Trade) -> list[Bar]:
        """A trade older than the open bar: late; or, behind by more than max_gap, a bad timestamp (or,
        while the current segment is too short to be trusted, a candidate for a jump backwards)."""
        assert self._start is not None
        tf = self.tf_ns
        bar = bar_open_ns(trade.ts_event, tf, self.origin_ns)
        if (self._start - bar) // tf - 1 > self.max_gap_bars:
            if self._segment() < JUMP_CONFIRM:
                return self._hold(trade, bar)
            self._reject(
                1,
                f"trade {trade.id!r} at {_iso(trade.ts_event)} is more than max_gap {self.max_gap} before "
                f"the open bar at {_iso(self._start)}",
            )
            return []
        if self._held:
            self._reject_held()
        self.late += 1
        if self.rejections is not None:
            self.rejections.add(
                LATE_TRADE,
                f"{self._where()}: trade {trade.id!r} at {_iso(trade.ts_event)} is older than the open bar "
                f"({_iso(self._start)}): left out of the bars",
            )
        return []

    def _witnessed(self, trade: Trade) -> bool:
        """True when the receive clock moved as far as event time, up to max_gap: a real pause."""
        moved = trade.ts_recv - self._recv
        return moved > 0 and trade.ts_event - self._close_ts - moved <= self.max_gap_ns

    def _segment(self) -> int:
        return self._seg_closed + self._count

    def _hold(self, trade: Trade, bar: int) -> list[Bar]:
        """Hold a trade beyond max_gap; at JUMP_CONFIRM agreeing trades, jump to them."""
        held = self._held
        mark = (self._start, self._count)
        if held:
            reach = (self.max_gap_bars + 1) * self.tf_ns
            if mark != self._held_mark or not self._held_lo - reach <= bar <= self._held_hi + reach:
                self._reject_held()  # trades near the open bar came in between, or another far time
        if held:
            self._held_lo = min(self._held_lo, bar)
            self._held_hi = max(self._held_hi, bar)
        else:
            self._held_lo = self._held_hi = bar
        held.append(trade)
        self._held_mark = mark
        if len(held) < JUMP_CONFIRM:
            return []
        confirmed = list(held)
        held.clear()
        closed: list[Bar] = []
        if self._segment() < JUMP_CONFIRM:  # the current segment was the bad timestamp: drop its open
            self._reject(  # bar (a bar it closed before, if any, was published already and stays)
                self._count,
                f"{self._count} trade(s) from {_iso(self._open_ts)} are more than max_gap "
                f"{self.max_gap} from the {JUMP_CONFIRM} trades that followed",
            )
        else:
            closed.append(self._bar(True))
        self._start = None  # the held trades open a new segment, after a hole
        self._seg_closed = 0
        self._count = 0
        for held_trade in confirmed:
            closed.extend(self.update(held_trade))
        return closed

    def _reject_held(self) -> None:
        held = self._held
        self._reject(
            len(held),
            f"trade(s) {[t.id for t in held]} at {_iso(held[0].ts_event)} are more than max_gap "
            f"{self.max_gap} from the open bar at {_iso(self._start or 0)}",
        )
        held.clear()

    def _reject(self, n: int, detail: str) -> None:
        self.jumps += n
        if self.rejections is not None:
            error = TimeJump(f"{self._where()}: {detail}")
            for _ in range(n):
                self.rejections.add(error)

    def _where(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe} bars"

    def flush(self) -> int:
        """Reject the trades still held as a possible time jump (at the end of a stream); returns how many."""
        n = len(self._held)
        if n:
            self._reject_held()
        return n

    @property
    def held(self) -> tuple[Trade, ...]:
        """Trades beyond max_gap waiting for confirmation (not in any bar yet)."""
        return tuple(self._held)

    @property
    def current(self) -> Bar | None:
        """The open (partial) bar, ``closed=False``; None before the first trade."""
        return None if self._start is None else self._bar(False)

    def __repr__(self) -> str:
        return (
            f"BarBuilder({self.exchange!r}, {self.symbol!r}, {self.timeframe!r}, late={self.late}, "
            f"jumps={self.jumps})"
        )


def _iso(ts_ns: int) -> str:
    """A UTC ISO time for messages, or the raw ns when it is out of the datetime range."""
    try:
        return pd.Timestamp(ts_ns, unit="ns", tz="UTC").isoformat()
    except (ValueError, OverflowError):
        return f"{ts_ns} ns"


def trades_to_frame(trades: Iterable[Trade]) -> pd.DataFrame:
    """Trades -> a frame with ccxt's trade columns (``timestamp`` ms, ``price``, ``amount``, ``side`` as
    a ``buy``/``sell`` categorical, ``id``): the input of ``resample_trades``. ``ts_event`` keeps ns."""
    rows = [t for t in trades if isinstance(t, Trade)]
    ts = np.fromiter((t.ts_event for t in rows), dtype=np.int64, count=len(rows))
    return pd.DataFrame(
        {
            "timestamp": ts // 1_000_000,
            "price": np.fromiter((t.price for t in rows), dtype=np.float64, count=len(rows)),
            "amount": np.fromiter((t.amount for t in rows), dtype=np.float64, count=len(rows)),
            "side": pd.Categorical([t.side or None for t in rows], categories=["buy", "sell"]),
            "id": [t.id for t in rows],
            "ts_event": ts,
        }
    )


def bars_to_frame(bars: Iterable[Bar]) -> pd.DataFrame:
    """Bars -> a frame in the format of ``resample_trades`` (one row per bar, in the given order)."""
    rows = list(bars)
    if not rows:
        return _empty_frame()
    columns: dict[str, np.ndarray] = {
        name: np.fromiter((getattr(bar, name) for bar in rows), dtype=np.float64, count=len(rows))
        for name in BAR_COLUMNS[:-1]
    }
    columns["count"] = np.fromiter((bar.count for bar in rows), dtype=np.int64, count=len(rows))
    starts = np.fromiter((bar.ts_event for bar in rows), dtype=np.int64, count=len(rows))
    return pd.DataFrame(columns, index=_index(starts))


__all__ = [
    "BAR_COLUMNS",
    "DEFAULT_MAX_GAP",
    "JUMP_CONFIRM",
    "LATE_TRADE",
    "BarBuilder",
    "bar_open_ns",
    "bar_origin_ns",
    "bars_to_frame",
    "max_gap_bars",
    "resample_trades",
    "trades_to_frame",
]
