"""Volume indicators: batch functions and streaming twins (bit-identical).

Batch: ``vwap(price, volume)`` (cumulative from the first value), ``anchored_vwap(price, volume, ts,
anchor)`` (restarted each UTC day, or each ``anchor`` period), ``rolling_vwap(price, volume, n)``,
``obv(close, volume)``, ``volume_delta(buy_volume, sell_volume)`` and ``cumulative_volume_delta``.
Streaming: ``VWAP``, ``AnchoredVWAP``, ``RollingVWAP``, ``OBV``, ``VolumeDelta``,
``CumulativeVolumeDelta``. From bars, ``price`` is the bar's ``vwap`` (so a VWAP over bars is quote
volume over volume); TradingView-style VWAPs use the typical price ``(high + low + close) / 3``.
A VWAP step whose ``price * volume`` is not finite is skipped; OBV skips a bar with a non-finite close
or volume; the volume deltas skip a bar whose ``buy - sell`` is not finite.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import isfinite as _isfinite

import numpy as np
import pandas as pd

from ..errors import DataError
from ..market.timeframes import timeframe_ns
from ._common import NAN, T, as_arrays, need, period, skipping, wrap
from .base import Indicator
from .kernels_multi import (
    anchored_vwap_kernel,
    obv_kernel,
    rolling_vwap_kernel,
    volume_delta_kernel,
    vwap_kernel,
)


def _traded(*arrays: np.ndarray) -> np.ndarray:
    """Rows a VWAP takes: a finite ``price * volume`` (the last two arrays)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.isfinite(arrays[-2] * arrays[-1])


def vwap(price: T, volume: T) -> T:
    """Volume-weighted average price anchored at the first value: ``cumsum(price * volume) /
    cumsum(volume)``; NaN until some volume. TA-Lib has no twin.

    pandas: ``(p * v).cumsum() / v.cumsum()`` (on rows without NaN).
    """
    p, v = as_arrays("vwap", ("price", "volume"), price, volume)
    need(p, 1, "vwap")
    return wrap(price, skipping(vwap_kernel, [p, v], (), keep=_traded)[0])


def _timestamps_ns(ts: object, like: object) -> np.ndarray:
    """Event times in ns from ``ts`` (datetimes or int ns), or from ``like``'s DatetimeIndex."""
    if ts is None:
        if isinstance(like, pd.Series) and isinstance(like.index, pd.DatetimeIndex):
            return like.index.as_unit("ns").asi8
        raise DataError("anchored_vwap needs ts (event times) unless price is a Series with a DatetimeIndex")
    if isinstance(ts, pd.DatetimeIndex):
        return ts.as_unit("ns").asi8
    if isinstance(ts, pd.Series) and pd.api.types.is_datetime64_any_dtype(ts.dtype):
        return pd.DatetimeIndex(ts).as_unit("ns").asi8
    values = np.asarray(ts)
    if values.dtype.kind == "M":
        return values.astype("datetime64[ns]").view(np.int64)
    if values.dtype.kind not in "iu":
        raise DataError(f"anchored_vwap ts must be datetimes or integer ns, got dtype {values.dtype}")
    return values.astype(np.int64)


def anchored_vwap(price: T, volume: T, ts: object = None, anchor: str = "1d") -> T:
    """VWAP restarted at each UTC ``anchor`` boundary (``"1d"``: every UTC midnight; ``"8h"``: 00, 08,
    16 UTC; periods are counted from the Unix epoch). ``ts`` are the event times (datetimes or int ns,
    non-decreasing); by default ``price``'s DatetimeIndex (bars from ``resample_trades``). TA-Lib has
    no twin. pandas: ``g = ts.floor(anchor); (p * v).groupby(g).cumsum() / v.groupby(g).cumsum()``.
    """
    anchor_ns = timeframe_ns(anchor)
    p, v = as_arrays("anchored_vwap", ("price", "volume"), price, volume)
    times = _timestamps_ns(ts, price)
    if times.shape != p.shape:
        raise DataError(f"anchored_vwap needs ts of the prices' length: {times.shape[0]} and {p.shape[0]}")
    need(p, 1, "anchored_vwap")
    return wrap(price, skipping(anchored_vwap_kernel, [times, p, v], (anchor_ns,), keep=_traded)[0])


def rolling_vwap(price: T, volume: T, n: int = 20) -> T:
    """``sum(price * volume) / sum(volume)`` over the last ``n`` (valid) steps; NaN when none of them
    traded. TA-Lib has no twin. pandas: ``(p * v).rolling(n).sum() / v.rolling(n).sum()``.
    """
    n = period(n)
    p, v = as_arrays("rolling_vwap", ("price", "volume"), price, volume)
    need(p, n, f"rolling_vwap({n})")
    return wrap(price, skipping(rolling_vwap_kernel, [p, v], (n,), keep=_traded)[0])


def obv(close: T, volume: T) -> T:
    """On-balance volume, TA-Lib convention (``OBV(close, volume)``): the first volume, then plus the
    volume when the close rises, minus it when it falls, unchanged when equal.
    pandas: ``(np.sign(c.diff()).fillna(1) * v).cumsum()`` with the first sign 1.
    """
    c, v = as_arrays("obv", ("close", "volume"), close, volume)
    need(c, 1, "obv")
    return wrap(close, skipping(obv_kernel, [c, v], ())[0])


def _delta_rows(buy: np.ndarray, sell: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.isfinite(buy - sell)


def volume_delta(buy_volume: T, sell_volume: T) -> T:
    """Taker buy volume minus taker sell volume per bar (bars from ``resample_trades`` carry both).
    TA-Lib has no twin. pandas: ``buy - sell``."""
    b, s = as_arrays("volume_delta", ("buy_volume", "sell_volume"), buy_volume, sell_volume)
    need(b, 1, "volume_delta")
    return wrap(buy_volume, skipping(volume_delta_kernel, [b, s], (False,), keep=_delta_rows)[0])


def cumulative_volume_delta(buy_volume: T, sell_volume: T) -> T:
    """Running sum of ``volume_delta`` from the first bar (CVD). TA-Lib has no twin.
    pandas: ``(buy - sell).cumsum()``."""
    b, s = as_arrays("cumulative_volume_delta", ("buy_volume", "sell_volume"), buy_volume, sell_volume)
    need(b, 1, "cumulative_volume_delta")
    return wrap(buy_volume, skipping(volume_delta_kernel, [b, s], (True,), keep=_delta_rows)[0])


# -- streaming ----------------------------------------------------------------------------------------


class VWAP(Indicator):
    """Streaming VWAP anchored at the first input; equals ``vwap(price, volume)``. From bars, ``price`` is
    the bar's ``vwap`` (so the result is cumulative quote volume over cumulative volume)."""

    __slots__ = ("_pv", "_v", "value")
    inputs: tuple[str, ...] = ("vwap", "volume")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._pv = 0.0
        self._v = 0.0
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self._v > 0.0

    def update(self, price: float, volume: float) -> float:
        volume = float(volume)
        step = float(price) * volume
        if not _isfinite(step):
            self.value = NAN
            return NAN
        self._pv += step
        self._v += volume
        value = self._pv / self._v if self._v > 0.0 else NAN
        self.value = value
        return value

    def _batch(self, price: T, volume: T) -> T:
        return vwap(price, volume)


class AnchoredVWAP(VWAP):
    """Streaming VWAP restarted at each UTC ``anchor`` boundary; equals ``anchored_vwap(price, volume,
    ts, anchor)``. ``update(ts_ns, price, volume)``; from bars: the bar's open time, vwap and volume."""

    __slots__ = ("_period", "_started", "anchor", "anchor_ns")
    inputs = ("ts_event", "vwap", "volume")

    def __init__(self, anchor: str = "1d") -> None:
        self.anchor_ns = timeframe_ns(anchor)
        self.anchor = anchor
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self._started = False
        self._period = 0

    def update(self, ts: int, price: float, volume: float) -> float:  # type: ignore[override]
        volume = float(volume)
        step = float(price) * volume
        if not _isfinite(step):
            self.value = NAN
            return NAN
        current = int(ts) // self.anchor_ns
        if not self._started or current != self._period:
            self._started = True
            self._period = current
            self._pv = 0.0
            self._v = 0.0
        self._pv += step
        self._v += volume
        value = self._pv / self._v if self._v > 0.0 else NAN
        self.value = value
        return value

    def _batch(self, ts: T, price: T, volume: T) -> T:  # type: ignore[override]
        return anchored_vwap(price, volume, ts, self.anchor)

    def _label(self) -> str:
        return self.anchor


class RollingVWAP(Indicator):
    """Streaming VWAP over the last ``n`` steps; equals ``rolling_vwap(price, volume, n)``."""

    __slots__ = ("_buf", "_count", "_left", "_pos", "_pv", "_traded", "_v", "n", "value")
    inputs = ("vwap", "volume")

    def __init__(self, n: int = 20) -> None:
        self.n = period(n)
        self.reset()

    def reset(self) -> None:
        self._buf: list[tuple[float, float]] = [(0.0, 0.0)] * self.n
        self._pos = 0
        self._count = 0
        self._left = self.n
        self._pv = 0.0
        self._v = 0.0
        self._traded = 0
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self._count >= self.n

    def update(self, price: float, volume: float) -> float:
        price, volume = float(price), float(volume)
        step = price * volume
        if not _isfinite(step):
            self.value = NAN
            return NAN
        n, pos = self.n, self._pos
        self._traded += volume > 0.0
        if self._count >= n:
            old_p, old_v = self._buf[pos]
            pv = self._pv + (step - old_p * old_v)
            vv = self._v + (volume - old_v)
            self._traded -= old_v > 0.0
        else:
            pv = self._pv + step
            vv = self._v + volume
        self._buf[pos] = (price, volume)
        self._pos = 0 if pos + 1 == n else pos + 1
        self._count += 1
        self._left -= 1
        if not self._left:
            self._left = n
            pv, vv = _window_sums(self._buf)
        self._pv, self._v = pv, vv
        value = pv / vv if self._count >= n and self._traded > 0 and vv > 0.0 else NAN
        self.value = value
        return value

    def _batch(self, price: T, volume: T) -> T:
        return rolling_vwap(price, volume, self.n)


def _window_sums(window: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """``sum(p * v), sum(v)`` oldest first, as ``kernels_multi.rolling_vwap_kernel`` re-sums."""
    pv = 0.0
    vv = 0.0
    for p, v in window:
        pv += p * v
        vv += v
    return pv, vv


class OBV(Indicator):
    """Streaming on-balance volume (TA-Lib OBV); equals ``obv(close, volume)``."""

    __slots__ = ("_obv", "_prev", "value")
    inputs = ("close", "volume")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._prev = NAN
        self._obv = 0.0
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self._prev == self._prev

    def update(self, close: float, volume: float) -> float:
        close, volume = float(close), float(volume)
        if not (_isfinite(close) and _isfinite(volume)):
            self.value = NAN
            return NAN
        prev = self._prev
        if prev != prev:
            self._obv = volume
        else:
            self._obv += volume * ((close > prev) - (close < prev))
        self._prev = close
        self.value = self._obv
        return self._obv

    def _batch(self, close: T, volume: T) -> T:
        return obv(close, volume)


class VolumeDelta(Indicator):
    """Streaming taker buy minus sell volume per bar; equals ``volume_delta(buy_volume, sell_volume)``."""

    __slots__ = ("_seen", "value")
    inputs = ("buy_volume", "sell_volume")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._seen = False
        self.value = NAN

    @property
    def ready(self) -> bool:
        return self._seen

    def update(self, buy_volume: float, sell_volume: float) -> float:
        d = float(buy_volume) - float(sell_volume)
        if not _isfinite(d):
            self.value = NAN
            return NAN
        self._seen = True
        self.value = d
        return d

    def _batch(self, buy_volume: T, sell_volume: T) -> T:
        return volume_delta(buy_volume, sell_volume)


class CumulativeVolumeDelta(VolumeDelta):
    """Streaming cumulative volume delta; equals ``cumulative_volume_delta(buy_volume, sell_volume)``."""

    __slots__ = ("_total",)

    def reset(self) -> None:
        super().reset()
        self._total = 0.0

    def update(self, buy_volume: float, sell_volume: float) -> float:
        d = float(buy_volume) - float(sell_volume)
        if not _isfinite(d):
            self.value = NAN
            return NAN
        self._seen = True
        self._total += d
        self.value = self._total
        return self._total

    def _batch(self, buy_volume: T, sell_volume: T) -> T:
        return cumulative_volume_delta(buy_volume, sell_volume)


__all__ = [
    "OBV",
    "VWAP",
    "AnchoredVWAP",
    "CumulativeVolumeDelta",
    "RollingVWAP",
    "VolumeDelta",
    "anchored_vwap",
    "cumulative_volume_delta",
    "obv",
    "rolling_vwap",
    "volume_delta",
    "vwap",
]
