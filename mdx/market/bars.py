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

Speed: ``resample_trades`` is one compiled pass (several hundred million trades/s). A ``side`` column
of Python strings (ccxt's "buy"/"sell") costs two numpy object comparisons on top (~20 ns a trade);
a categorical ``side`` costs nothing extra.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import DataError, InvalidValue
from ..events import Bar, Trade
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

_NS_PER_MS = 1_000_000
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


def _timestamps(col: pd.Series) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Timestamp column -> (integer array, ns per unit, mask of valid rows or None)."""
    dtype = col.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or np.issubdtype(dtype, np.datetime64):
        values = col.to_numpy()  # tz-aware -> datetime64 in UTC
        if values.dtype.kind != "M":
            values = col.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        unit, _ = np.datetime_data(values.dtype)
        per_unit = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}.get(unit)
        if per_unit is None:
            raise DataError(f"timestamp column has unsupported datetime unit {unit!r}")
        ints = values.view(np.int64)
        invalid = np.isnat(values)
        return ints, per_unit, (~invalid if invalid.any() else None)
    if np.issubdtype(dtype, np.integer):
        return col.to_numpy(dtype=np.int64), _NS_PER_MS, None
    try:
        floats = col.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"timestamp column is not numeric ms since the epoch ({dtype}): {error}") from None
    valid = np.isfinite(floats)
    ints = np.floor(np.where(valid, floats, 0.0)).astype(np.int64)
    return ints, _NS_PER_MS, (None if valid.all() else valid)


def _numbers(col: pd.Series, name: str) -> np.ndarray:
    try:
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"trade column {name!r} is not numeric ({col.dtype}): {error}") from None


def _sides(col: pd.Series) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Side column -> (integer codes >= -1, (accumulator slots, buy slot, sell slot))."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = list(dtype.categories)
        unused = len(categories) + 1  # a slot no code reaches: stays 0
        buy = categories.index("buy") + 1 if "buy" in categories else unused
        sell = categories.index("sell") + 1 if "sell" in categories else unused
        return col.cat.codes.to_numpy(), (unused + 1, buy, sell)
    if dtype == np.bool_:
        return col.to_numpy(dtype=np.bool_).view(np.int8), _BOOL_SIDES
    if isinstance(dtype, pd.StringDtype):  # compared in pandas' string engine (pyarrow: ~6 ns a value)
        buy = col.eq("buy").to_numpy(dtype=np.bool_, na_value=False)
        other = ~(buy | col.eq("sell").to_numpy(dtype=np.bool_, na_value=False))
        return buy.view(np.int8) | (other.view(np.int8) << 1), _STR_SIDES
    if dtype.kind == "O":
        values = col.to_numpy(dtype=object)
        buy = np.equal(values, "buy")
        other = np.not_equal(values, "sell", out=np.zeros(values.size, np.bool_), where=~buy)
        codes = buy.view(np.int8) | (other.view(np.int8) << 1)
        return codes, _STR_SIDES
    raise DataError(f"trade column 'side' must hold 'buy'/'sell' strings, a categorical or bools: {dtype}")


def resample_trades(trades: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Trades (ccxt columns) -> OHLCV bars of ``timeframe``, by event time. See the module docstring.

    ``trades`` needs ``timestamp`` (int ms since the epoch as ccxt gives it; float ms and datetime64
    columns are accepted too), ``price`` and ``amount``; ``side`` ("buy"/"sell" aggressor, exact strings;
    a categorical with those categories, or booleans with True = buy, also work; anything else, e.g.
    None, is an unknown side) is optional, and any other column (``id``, ...) is ignored.
    Unsorted input is sorted stably by timestamp first (trades with equal timestamps keep their order).
    Rows with a NaN/infinite/non-positive price or amount (or an overflowing ``price * amount``), or a
    missing timestamp, are dropped and counted in ``result.attrs["rejected"]``.

    Returns a frame indexed by bar open time (UTC ``DatetimeIndex`` named ``timestamp``) with the
    columns of ``BAR_COLUMNS`` (``count`` is int64). One compiled pass over the trades.

    Raises ``InvalidTimeframe`` for an unknown timeframe and ``DataError`` for a missing column.
    """
    tf_ns = timeframe_ns(timeframe)
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
    side, slots = _sides(trades["side"]) if has_side else (np.zeros(0, np.int8), _NO_SIDES)
    rejected = 0
    if ts_valid is not None:
        rejected = int(ts.size - np.count_nonzero(ts_valid))
        ts, price, amount = ts[ts_valid], price[ts_valid], amount[ts_valid]
        if has_side:
            side = side[ts_valid]
    from .bar_kernel import UNSORTED, resample_kernel  # numba loads on first batch use, not on import

    tf = tf_ns // per_unit
    origin = bar_origin_ns(timeframe) // per_unit
    result = resample_kernel(ts, price, amount, side, *slots, tf, origin)
    if result[0] == UNSORTED:
        order = np.argsort(ts, kind="stable")
        ts, price, amount = ts[order], price[order], amount[order]
        if has_side:
            side = side[order]
        result = resample_kernel(ts, price, amount, side, *slots, tf, origin)
    _, kernel_rejected, starts, fields, count = result
    columns = dict(zip(BAR_COLUMNS, fields, strict=False))
    columns["count"] = count
    frame = pd.DataFrame(columns, index=_index(starts * per_unit))
    frame.attrs["rejected"] = rejected + int(kernel_rejected)
    return frame


class BarBuilder:
    """Streaming bars of one timeframe for one symbol, equal to ``resample_trades`` on the same trades.

    ``update(trade)`` returns the bars that closed because of this trade, oldest first: the open bar and
    the empty (gap-filled) bars between it and the trade's bar. ``current`` is the open bar
    (``closed=False``) or None before the first trade. A bar closes only when a trade of a later bar
    arrives (event time, no timers); the last bar stays open.

    Out-of-order trades: a trade earlier than the open bar (its bar was already closed and published) is
    dropped and counted in ``late``. A trade that arrives out of order *within* the open bar is applied
    as if the trades had been sorted stably by event time: it becomes ``open`` if it is strictly earlier
    than the current open trade, ``close`` if it is not earlier than the current close trade. OHLC,
    volumes and count then equal the batch result on sorted input (sums can differ in the last bit,
    because they are added in arrival order).

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
        "_high",
        "_low",
        "_open",
        "_open_ts",
        "_qv",
        "_recv",
        "_start",
        "_volume",
        "exchange",
        "late",
        "origin_ns",
        "symbol",
        "tf_ns",
        "timeframe",
    )

    def __init__(self, exchange: str, symbol: str, timeframe: str) -> None:
        self.tf_ns = timeframe_ns(timeframe)
        self.origin_ns = bar_origin_ns(timeframe)
        self.exchange = exchange
        self.symbol = symbol
        self.timeframe = timeframe
        self.reset()

    def reset(self) -> None:
        """Forget the open bar and the ``late`` counter, as if newly created."""
        self.late = 0
        self._start: int | None = None
        self._end = 0
        self._open = self._high = self._low = self._close = 0.0
        self._open_ts = self._close_ts = 0
        self._volume = self._qv = self._a_buy = self._a_sell = 0.0
        self._count = 0
        self._recv = 0

    def _bar(self, closed: bool) -> Bar:
        assert self._start is not None
        return Bar(
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
            self.late += 1
            return []
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
        closed = [self._bar(True)]
        c = self._close
        tf = self.tf_ns
        new_start = bar_open_ns(t, tf, self.origin_ns)
        recv = trade.ts_recv
        ex, sym, tfs = self.exchange, self.symbol, self.timeframe
        for gap in range(self._end, new_start, tf):
            closed.append(Bar(ex, sym, tfs, gap, recv, c, c, c, c, 0.0, 0.0, c, 0.0, 0.0, 0, True))
        self._begin(new_start, trade)
        return closed

    @property
    def current(self) -> Bar | None:
        """The open (partial) bar, ``closed=False``; None before the first trade."""
        return None if self._start is None else self._bar(False)

    def __repr__(self) -> str:
        return f"BarBuilder({self.exchange!r}, {self.symbol!r}, {self.timeframe!r}, late={self.late})"


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
    "BarBuilder",
    "bar_open_ns",
    "bar_origin_ns",
    "bars_to_frame",
    "resample_trades",
    "trades_to_frame",
]
