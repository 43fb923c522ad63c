"""The confluence score: six weighted dimensions of a market, each a sub-score in [0, 1], as one 0-100 score.

Every sub-score reads 0 = bearish, 0.5 = neutral, 1 = bullish. ``sq(x) = 0.5 + 0.5 * x / (1 + |x|)`` maps
any real ``x`` into (0, 1) (``sq(0) = 0.5``, ``sq(±1) = 0.25 / 0.75``, increasing). A dimension is the
mean of its components that are defined (NaN components left out; NaN when none is). ``p`` are the
``ConfluenceParams`` (defaults in brackets); ``atr`` is ATR(``p.atr`` [14]); windows end at the current bar.

- **technical**: mean of ``rsi / 100`` (RSI [14]); ``sq(histogram / (0.25 atr))`` (MACD [12, 26, 9]);
  ``sq((ema_fast - ema_slow) / atr)`` (EMA [9] vs EMA [21]); the Bollinger position
  ``clip((close - lower) / (upper - lower), 0, 1)`` (bands [20, 2]; 0.5 for flat bands).
- **volume** (window ``v`` = ``p.volume`` [20] bars): mean of the OBV slope ``(1 + ΔOBV / Σvolume) / 2``
  (``ΔOBV`` = OBV's change over the window = ``Σ sign(close - previous close) * volume``, so it lies in
  [0, 1]); the volume delta ``sq((buy_volume - sell_volume) / mean volume)`` of the current bar; price vs
  VWAP ``sq((close - vwap_v) / atr)``, ``vwap_v = Σ(price * volume) / Σvolume`` with the bar's vwap as
  its price (its close when the bar has no vwap, e.g. an empty bar).
- **order_flow**: buy pressure ``Σbuy_volume / Σ(buy_volume + sell_volume)`` over ``p.flow`` [5] bars.
- **order_book** (only with a book): mean of ``(1 + imbalance) / 2`` (``BookView.imbalance``, top 5
  levels) and the depth ratio ``bid depth / (bid + ask depth)`` within ``p.depth_bps`` [10] bps of mid.
- **structure** (window ``s`` = ``p.structure`` [20] bars): mean of the trend ``sq((ema_slow -
  ema_slow[p.slope [5] bars ago]) / atr)``; higher highs / lows ``(2 + hh + hl) / 4`` where ``hh`` is
  the sign of (highest high of the last ``s // 2`` bars - highest high of the ``s - s // 2`` before)
  and ``hl`` the same on the lowest lows; the room to resistance ``(R - close) / (R - S)`` with
  ``R`` / ``S`` the highest high / lowest low of the window (near support: bullish; 0.5 for a flat range).
- **sentiment** (only where a source gives funding / open interest; none does yet): mean of the
  contrarian funding ``1 - sq((funding_rate - 1e-4) / 1e-4)`` (the usual 0.01% is neutral; crowded
  longs paying more are bearish) and ``sq(100 * sign(Δclose) * (oi / previous oi - 1))`` (open interest
  growing with the move confirms it).

Score: ``100 * Σ w_d * s_d / Σ w_d`` over the dimensions with a defined sub-score and a weight > 0 (the
others are excluded and the rest re-weighted); NaN when none has data and through the warm-up
(``p.warmup`` bars, 34 by default: the MACD's). Weights default to technical 25, volume 20,
order_flow 15, order_book 15, structure 15, sentiment 10; ``weights={"order_book": 0}`` drops one.
Label: ``score >= 80`` "strong buy", ``>= 60`` "buy", ``> 40`` "neutral", ``> 20`` "sell", else
"strong sell"; "" while NaN.

Batch: ``confluence(bars, weights=None, params=None)`` over a DataFrame of bars (``high, low, close,
volume``; optional ``vwap, buy_volume, sell_volume``, book columns ``book_imbalance, book_depth_ratio``,
sentiment columns ``funding_rate, open_interest``) → DataFrame ``score, technical, volume, order_flow,
order_book, structure, sentiment, label`` on the bars' index. Streaming: ``ConfluenceScore(weights,
params).update(bar, book=None)`` per closed bar (a ``Bar`` or anything with those fields; ``book`` a
``BookView`` or ``(imbalance, depth_ratio)``) → ``ConfluenceValue``; equal to the batch bit for bit
(the same float operations in the same order; the indicators are the streaming/batch twins).
``preview(bar, book=None)`` gives the value with a bar that is still open, as if it closed now, and
changes nothing: it updates a copy of the state (the windows and the indicators' few floats; ~10 µs),
so a later ``update`` gives what it gives without previews.

Bad input: a bar with a non-finite or non-positive high/low/close or a non-finite/negative volume is an
``InvalidValue`` (batch: naming the row; streaming: the state is unchanged); a missing column or fewer
bars than the warm-up a ``DataError``; a negative, non-finite or unknown weight, all weights zero or a
bad period a ``ConfigError``.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ConfigError, DataError, InvalidValue
from ._common import period, width
from .indicators import ATR, EMA, MACD, RSI, Bollinger, atr, bollinger, ema, macd, rsi

NAN = math.nan
DIMENSIONS = ("technical", "volume", "order_flow", "order_book", "structure", "sentiment")
DEFAULT_WEIGHTS: dict[str, float] = {
    "technical": 25.0,
    "volume": 20.0,
    "order_flow": 15.0,
    "order_book": 15.0,
    "structure": 15.0,
    "sentiment": 10.0,
}
# (lowest score of the label, label), strongest first; below every cut-off: "strong sell"
CUTOFFS: tuple[tuple[float, str], ...] = ((80.0, "strong buy"), (60.0, "buy"))
LABELS = ("strong sell", "sell", "neutral", "buy", "strong buy")
REQUIRED = ("high", "low", "close", "volume")
FUNDING_NEUTRAL = 1e-4  # the usual 0.01% per funding period


# -- settings --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfluenceParams:
    """The periods behind the sub-scores (see the module docstring)."""

    rsi: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    ema_fast: int = 9
    ema_slow: int = 21
    bollinger: int = 20
    bollinger_k: float = 2.0
    atr: int = 14
    slope: int = 5
    volume: int = 20
    flow: int = 5
    structure: int = 20
    depth_bps: float = 10.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("bollinger_k", "depth_bps"):
                width(value, f.name)
            else:
                period(value, 2 if f.name in ("structure", "bollinger") else 1, f.name)
        if self.macd_fast >= self.macd_slow:
            raise ConfigError(f"macd_fast ({self.macd_fast}) must be below macd_slow ({self.macd_slow})")
        if self.ema_fast >= self.ema_slow:
            raise ConfigError(f"ema_fast ({self.ema_fast}) must be below ema_slow ({self.ema_slow})")

    @property
    def warmup(self) -> int:
        """Bars before the first score: the longest warm-up of the components."""
        return max(
            self.rsi + 1,
            self.macd_slow + self.macd_signal - 1,
            self.ema_slow + self.slope,
            self.bollinger,
            self.atr + 1,
            self.volume + 1,
            self.flow,
            self.structure,
        )


def confluence_weights(weights: Mapping[str, float] | None = None) -> tuple[float, ...]:
    """The six weights in ``DIMENSIONS`` order: the defaults updated by ``weights``; ``ConfigError`` for
    an unknown dimension, a weight that is negative or not a finite number, or all weights zero."""
    merged = dict(DEFAULT_WEIGHTS)
    if weights is not None:
        if not isinstance(weights, Mapping):
            raise ConfigError(f"weights must map dimension names to numbers, got {weights!r:.80}")
        for name, value in weights.items():
            if name not in merged:
                near = difflib.get_close_matches(str(name), DIMENSIONS, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ConfigError(
                    f"unknown confluence dimension {name!r}{hint}; known: {', '.join(DIMENSIONS)}"
                )
            bad_type = isinstance(value, bool) or not isinstance(
                value, int | float | np.integer | np.floating
            )
            if bad_type or not 0.0 <= float(value) < math.inf:
                raise ConfigError(f"weight of {name!r} must be a finite number >= 0, got {value!r}")
            merged[name] = float(value)
    if not any(merged.values()):
        raise ConfigError("confluence weights are all zero: at least one dimension needs a weight > 0")
    return tuple(merged[name] for name in DIMENSIONS)


def label_of(score: float) -> str:
    """The signal strength label of a 0-100 score (see the module docstring); "" for NaN."""
    if score != score:
        return ""
    for cutoff, label in CUTOFFS:
        if score >= cutoff:
            return label
    return "neutral" if score > 40.0 else "sell" if score > 20.0 else "strong sell"


def book_metrics(view: Any, bps: float = 10.0) -> tuple[float, float]:
    """``(imbalance, depth ratio within bps of mid)`` of a ``BookView``; NaN where undefined."""
    mid = float(view.mid)
    if mid != mid:
        return float(view.imbalance), NAN
    band = mid * bps / 1e4
    bids, asks = view.bids, view.asks
    bid_depth = float(bids[bids[:, 0] >= mid - band, 1].sum()) if len(bids) else 0.0
    ask_depth = float(asks[asks[:, 0] <= mid + band, 1].sum()) if len(asks) else 0.0
    total = bid_depth + ask_depth
    return float(view.imbalance), (bid_depth / total if total > 0 else NAN)


# -- shared scalar formulas ----------------------------------------------------------------------------------


def _sq(x: float) -> float:
    return 0.5 + 0.5 * (x / (1.0 + abs(x)))


def _mean_defined(values: Iterable[float]) -> float:
    total, count = 0.0, 0
    for v in values:
        if v == v:
            total += v
            count += 1
    return total / count if count else NAN


def _sum(values: Iterable[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def _sign(x: float) -> float:
    return float((x > 0.0) - (x < 0.0))


def _ratio(num: float, den: float) -> float:
    """``num / den`` for ``den > 0``; NaN otherwise (no information)."""
    return num / den if den > 0.0 else NAN


def _combine(weights: Sequence[float], subs: Sequence[float]) -> float:
    num, den = 0.0, 0.0
    for w, s in zip(weights, subs, strict=True):
        if w > 0.0 and s == s:
            num += w * s
            den += w
    return 100.0 * (num / den) if den > 0.0 else NAN


# -- streaming ---------------------------------------------------------------------------------------------


class ConfluenceValue(NamedTuple):
    score: float
    technical: float
    volume: float
    order_flow: float
    order_book: float
    structure: float
    sentiment: float
    label: str


_NAN_VALUE = ConfluenceValue(NAN, NAN, NAN, NAN, NAN, NAN, NAN, "")


def _finite_bar(high: float, low: float, close: float, volume: float) -> bool:
    inf = math.inf
    return 0.0 < high < inf and 0.0 < low < inf and 0.0 < close < inf and 0.0 <= volume < inf


@functools.cache
def _slot_names(cls: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend((slots,) if isinstance(slots, str) else slots)
    return tuple(name for name in names if name not in ("__dict__", "__weakref__"))


def _twin(state: Any) -> Any:
    """A copy of a streaming indicator (slotted) that shares nothing mutable with it: its lists, deques
    and nested state objects are copied, numbers and tuples shared (they are immutable)."""
    cls = type(state)
    twin = object.__new__(cls)
    for name in _slot_names(cls):
        try:
            value = getattr(state, name)
        except AttributeError:  # a slot never set
            continue
        object.__setattr__(twin, name, _copied(value))
    if hasattr(state, "__dict__"):
        for name, value in vars(state).items():
            object.__setattr__(twin, name, _copied(value))
    return twin


_IMMUTABLE = (float, int, str, tuple, frozenset, type(None), np.generic)


def _copied(value: Any) -> Any:
    """``value`` itself when immutable; a copy of a list / deque / dict of numbers; else its ``_twin``."""
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, list | deque | dict):
        return value.copy()
    return _twin(value)


class ConfluenceScore:
    """Streaming ``confluence``: ``update(bar, book=None)`` per closed bar → ``ConfluenceValue``;
    ``preview(bar, book=None)``: the value with an open bar, state unchanged."""

    def __init__(
        self, weights: Mapping[str, float] | None = None, params: ConfluenceParams | None = None
    ) -> None:
        self.weights = confluence_weights(weights)
        self.params = p = params if params is not None else ConfluenceParams()
        if not isinstance(p, ConfluenceParams):
            raise ConfigError(f"params must be ConfluenceParams, got {p!r:.80}")
        self._rsi, self._macd = RSI(p.rsi), MACD(p.macd_fast, p.macd_slow, p.macd_signal)
        self._fast, self._slow = EMA(p.ema_fast), EMA(p.ema_slow)
        self._bands, self._atr = Bollinger(p.bollinger, p.bollinger_k), ATR(p.atr)
        self._slows: deque[float] = deque(maxlen=p.slope + 1)
        self._volumes: deque[float] = deque(maxlen=p.volume)
        self._signed: deque[float] = deque(maxlen=p.volume)
        self._pv: deque[float] = deque(maxlen=p.volume)
        self._buys: deque[float] = deque(maxlen=p.flow)
        self._traded: deque[float] = deque(maxlen=p.flow)
        self._highs: deque[float] = deque(maxlen=p.structure)
        self._lows: deque[float] = deque(maxlen=p.structure)
        self._prev_close = NAN
        self._prev_oi = NAN
        self.count = 0
        self.value = _NAN_VALUE

    @property
    def ready(self) -> bool:
        return self.count >= self.params.warmup

    def update(
        self,
        bar: Any,
        book: Any = None,
        funding_rate: float = NAN,
        open_interest: float = NAN,
    ) -> ConfluenceValue:
        """One closed bar (fields ``high, low, close, volume``, optional ``vwap, buy_volume,
        sell_volume``); ``book``: a ``BookView`` or ``(imbalance, depth_ratio)`` seen by the bar's close."""
        high, low, close = float(bar.high), float(bar.low), float(bar.close)
        volume = float(bar.volume)
        if not _finite_bar(high, low, close, volume):
            raise InvalidValue(
                f"confluence bar high {high!r} low {low!r} close {close!r} volume {volume!r}: prices must be "
                "finite and > 0, volume finite and >= 0"
            )
        vwap = float(getattr(bar, "vwap", NAN))
        buy, sell = float(getattr(bar, "buy_volume", NAN)), float(getattr(bar, "sell_volume", NAN))
        technical = self._technical(high, low, close)
        volume_score = self._volume(close, volume, vwap, buy, sell, technical[1])
        flow = self._flow(buy, sell)
        structure = self._structure(high, low, close, technical[1])
        sentiment = self._sentiment(close, float(funding_rate), float(open_interest))
        self._prev_close = close
        self.count += 1
        if self.count < self.params.warmup:
            self.value = _NAN_VALUE
            return _NAN_VALUE
        subs = (technical[0], volume_score, flow, self._book(book), structure, sentiment)
        score = _combine(self.weights, subs)
        self.value = ConfluenceValue(score, *subs, label_of(score))
        return self.value

    def preview(
        self,
        bar: Any,
        book: Any = None,
        funding_rate: float = NAN,
        open_interest: float = NAN,
    ) -> ConfluenceValue:
        """What ``update`` would give if ``bar`` (the open bar) closed now, leaving the state as it is:
        the update runs on a copy (``snapshot``)."""
        return self.snapshot().update(bar, book, funding_rate, open_interest)

    def snapshot(self) -> ConfluenceScore:
        """An independent copy of this score's state: updating one leaves the other as it is."""
        twin = object.__new__(ConfluenceScore)
        shared = ("weights", "params")  # immutable
        for name, value in vars(self).items():
            setattr(twin, name, value if name in shared else _copied(value))
        return twin

    def _technical(self, high: float, low: float, close: float) -> tuple[float, float]:
        """(technical sub-score, atr): the indicators step here, once per bar."""
        r = self._rsi.update(close)
        hist = self._macd.update(close).histogram
        fast, slow = self._fast.update(close), self._slow.update(close)
        bands = self._bands.update(close)
        a = self._atr.update(high, low, close)
        self._slows.append(slow)
        atr_ok = a > 0.0
        macd_part = _sq(hist / (0.25 * a)) if atr_ok else NAN
        cross = _sq((fast - slow) / a) if atr_ok else NAN
        spread = bands.upper - bands.lower
        if spread > 0.0:
            position = min(max((close - bands.lower) / spread, 0.0), 1.0)
        else:
            position = 0.5 if spread == 0.0 else NAN
        return _mean_defined((r / 100.0, macd_part, cross, position)), a

    def _volume(self, close: float, volume: float, vwap: float, buy: float, sell: float, a: float) -> float:
        prev = self._prev_close
        self._volumes.append(volume)
        self._signed.append(_sign(close - prev) * volume if prev == prev else 0.0)
        self._pv.append((vwap if math.isfinite(vwap) else close) * volume)
        if len(self._volumes) < self.params.volume:
            return NAN
        total = _sum(self._volumes)
        obv = _ratio(_sum(self._signed), total)
        slope = (1.0 + obv) / 2.0 if obv == obv else NAN
        mean_volume = total / self.params.volume
        delta = _sq((buy - sell) / mean_volume) if mean_volume > 0.0 else NAN
        vw = _ratio(_sum(self._pv), total)
        position = _sq((close - vw) / a) if a > 0.0 and vw == vw else NAN
        return _mean_defined((slope, delta, position))

    def _flow(self, buy: float, sell: float) -> float:
        self._buys.append(buy)
        self._traded.append(buy + sell)
        if len(self._buys) < self.params.flow:
            return NAN
        return _ratio(_sum(self._buys), _sum(self._traded))

    def _book(self, book: Any) -> float:
        if book is None:
            return NAN
        if isinstance(book, tuple):
            imbalance, depth = float(book[0]), float(book[1])
        else:
            imbalance, depth = book_metrics(book, self.params.depth_bps)
        return _mean_defined(((1.0 + imbalance) / 2.0, depth))

    def _structure(self, high: float, low: float, close: float, a: float) -> float:
        highs, lows, slows = self._highs, self._lows, self._slows
        highs.append(high)
        lows.append(low)
        n = self.params.structure
        if len(highs) < n:
            return NAN
        trend = _sq((slows[-1] - slows[0]) / a) if a > 0.0 and len(slows) == slows.maxlen else NAN
        half = n // 2
        hs, ls = list(highs), list(lows)
        hh = _sign(max(hs[n - half :]) - max(hs[: n - half]))
        hl = _sign(min(ls[n - half :]) - min(ls[: n - half]))
        resistance, support = max(hs), min(ls)
        span = resistance - support
        room = (resistance - close) / span if span > 0.0 else 0.5
        return _mean_defined((trend, (2.0 + hh + hl) / 4.0, room))

    def _sentiment(self, close: float, funding: float, oi: float) -> float:
        prev_close, prev_oi = self._prev_close, self._prev_oi
        self._prev_oi = oi
        crowding = 1.0 - _sq((funding - FUNDING_NEUTRAL) / FUNDING_NEUTRAL)
        if prev_oi > 0.0 and prev_close == prev_close:
            growth = _sq(100.0 * _sign(close - prev_close) * (oi / prev_oi - 1.0))
        else:
            growth = NAN
        return _mean_defined((crowding, growth))


# -- batch -------------------------------------------------------------------------------------------------


def _column(bars: pd.DataFrame, name: str) -> np.ndarray:
    if name not in bars.columns:
        return np.full(len(bars), NAN)
    try:
        return bars[name].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise InvalidValue(f"confluence column {name!r} is not numeric: {error}") from None


def check_bars(bars: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """``(high, low, close, volume)`` of a bars frame as float64 arrays; ``DataError`` for a missing
    column, ``InvalidValue`` naming the first bar with a NaN / non-positive price or a bad volume."""
    if not isinstance(bars, pd.DataFrame):
        raise DataError(f"confluence needs a DataFrame of bars, got {type(bars).__name__}")
    missing = [name for name in REQUIRED if name not in bars.columns]
    if missing:
        raise DataError(f"confluence needs bar column(s) {missing} (has {list(bars.columns)})")
    high, low, close, volume = (_column(bars, name) for name in REQUIRED)
    inf = math.inf
    with np.errstate(invalid="ignore"):
        good = (high > 0) & (high < inf) & (low > 0) & (low < inf) & (close > 0) & (close < inf)
        good &= (volume >= 0) & (volume < inf)
    if not good.all():
        row = int(np.argmin(good))
        raise InvalidValue(
            f"confluence bar {bars.index[row]!r} (row {row}): high {high[row]!r} low {low[row]!r} close "
            f"{close[row]!r} volume {volume[row]!r}: prices must be finite and > 0, volume finite and >= 0"
            " (drop or fill NaN gaps first)"
        )
    return high, low, close, volume


def _sq_array(x: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * (x / (1.0 + np.abs(x)))


def _mean_defined_arrays(parts: Sequence[np.ndarray]) -> np.ndarray:
    total = np.zeros(parts[0].shape[0])
    count = np.zeros(parts[0].shape[0])
    for part in parts:
        ok = part == part
        total = total + np.where(ok, part, 0.0)
        count = count + ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), NAN)


def _window_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sums of the last ``n`` values, added oldest first (as ``_sum`` over a deque); NaN before ``n``."""
    out = np.full(x.shape[0], NAN)
    if x.shape[0] >= n:
        windows = sliding_window_view(x, n)
        total = np.zeros(windows.shape[0])
        for j in range(n):
            total = total + windows[:, j]
        out[n - 1 :] = total
    return out


def _window_reduce(x: np.ndarray, n: int, how: Any) -> np.ndarray:
    out = np.full(x.shape[0], NAN)
    if x.shape[0] >= n:
        out[n - 1 :] = how(sliding_window_view(x, n), axis=1)
    return out


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full(x.shape[0], NAN)
    out[k:] = x[:-k] if k else x
    return out


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0.0, num / np.where(den > 0.0, den, 1.0), NAN)


def _technical_batch(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, p: ConfluenceParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(technical sub-score, atr, slow EMA) over the whole series."""
    a = atr(high, low, close, p.atr)
    hist = macd(close, p.macd_fast, p.macd_slow, p.macd_signal)["histogram"].to_numpy()
    slow = ema(close, p.ema_slow)
    bands = bollinger(close, p.bollinger, p.bollinger_k)
    upper, lower = bands["upper"].to_numpy(), bands["lower"].to_numpy()
    atr_ok = a > 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        macd_part = np.where(atr_ok, _sq_array(hist / (0.25 * a)), NAN)
        cross = np.where(atr_ok, _sq_array((ema(close, p.ema_fast) - slow) / a), NAN)
        spread = upper - lower
        position = np.where(
            spread > 0.0,
            np.minimum(np.maximum((close - lower) / spread, 0.0), 1.0),
            np.where(spread == 0.0, 0.5, NAN),
        )
    return _mean_defined_arrays([rsi(close, p.rsi) / 100.0, macd_part, cross, position]), a, slow


def _volume_batch(
    close: np.ndarray, volume: np.ndarray, vwap: np.ndarray, buy: np.ndarray, sell: np.ndarray,
    a: np.ndarray, p: ConfluenceParams,
) -> np.ndarray:  # fmt: skip
    change = np.empty_like(close)
    change[0] = 0.0
    change[1:] = np.sign(close[1:] - close[:-1])
    total = _window_sum(volume, p.volume)
    obv = _divide(_window_sum(change * volume, p.volume), total)
    slope = np.where(obv == obv, (1.0 + obv) / 2.0, NAN)
    mean_volume = total / p.volume
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(mean_volume > 0.0, _sq_array((buy - sell) / mean_volume), NAN)
        vw = _divide(_window_sum(np.where(np.isfinite(vwap), vwap, close) * volume, p.volume), total)
        position = np.where((a > 0.0) & (vw == vw), _sq_array((close - vw) / a), NAN)
    return _mean_defined_arrays([slope, delta, position])


def _structure_batch(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, slow: np.ndarray, a: np.ndarray, p: ConfluenceParams
) -> np.ndarray:
    n, half = p.structure, p.structure // 2
    with np.errstate(invalid="ignore", divide="ignore"):
        trend = np.where(a > 0.0, _sq_array((slow - _lag(slow, p.slope)) / a), NAN)
        hh = np.sign(_window_reduce(high, half, np.max) - _lag(_window_reduce(high, n - half, np.max), half))
        hl = np.sign(_window_reduce(low, half, np.min) - _lag(_window_reduce(low, n - half, np.min), half))
        resistance, support = _window_reduce(high, n, np.max), _window_reduce(low, n, np.min)
        span = resistance - support
        room = np.where(span > 0.0, (resistance - close) / np.where(span > 0.0, span, 1.0), 0.5)
    full = np.arange(close.shape[0]) >= n - 1
    return _mean_defined_arrays(
        [trend, np.where(full, (2.0 + hh + hl) / 4.0, NAN), np.where(full, room, NAN)]
    )


def _sentiment_batch(close: np.ndarray, funding: np.ndarray, oi: np.ndarray) -> np.ndarray:
    crowding = 1.0 - _sq_array((funding - FUNDING_NEUTRAL) / FUNDING_NEUTRAL)
    prev_oi, prev_close = _lag(oi, 1), _lag(close, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        growth = _sq_array(100.0 * np.sign(close - prev_close) * (oi / prev_oi - 1.0))
        growth = np.where((prev_oi > 0.0) & (prev_close == prev_close), growth, NAN)
    return _mean_defined_arrays([crowding, growth])


def confluence(
    bars: pd.DataFrame,
    weights: Mapping[str, float] | None = None,
    params: ConfluenceParams | None = None,
) -> pd.DataFrame:
    """The confluence score over a DataFrame of bars (see the module docstring)."""
    w = confluence_weights(weights)
    p = params if params is not None else ConfluenceParams()
    if not isinstance(p, ConfluenceParams):
        raise ConfigError(f"params must be ConfluenceParams, got {p!r:.80}")
    high, low, close, volume = check_bars(bars)
    if len(bars) < p.warmup:
        raise DataError(f"confluence needs at least {p.warmup} bars for one score, got {len(bars)}")
    buy, sell = _column(bars, "buy_volume"), _column(bars, "sell_volume")
    technical, a, slow = _technical_batch(high, low, close, p)
    subs = [
        technical,
        _volume_batch(close, volume, _column(bars, "vwap"), buy, sell, a, p),
        _divide(_window_sum(buy, p.flow), _window_sum(buy + sell, p.flow)),
        _mean_defined_arrays(
            [(1.0 + _column(bars, "book_imbalance")) / 2.0, _column(bars, "book_depth_ratio")]
        ),
        _structure_batch(high, low, close, slow, a, p),
        _sentiment_batch(close, _column(bars, "funding_rate"), _column(bars, "open_interest")),
    ]
    warm = np.arange(close.shape[0]) >= p.warmup - 1
    subs = [np.where(warm, s, NAN) for s in subs]
    num, den = np.zeros(close.shape[0]), np.zeros(close.shape[0])
    for weight, sub in zip(w, subs, strict=True):
        ok = (sub == sub) & (weight > 0.0)
        num = num + np.where(ok, weight * sub, 0.0)
        den = den + np.where(ok, weight, 0.0)
    score = np.where(den > 0.0, 100.0 * (num / np.where(den > 0.0, den, 1.0)), NAN)
    result = pd.DataFrame({"score": score, **dict(zip(DIMENSIONS, subs, strict=True))}, index=bars.index)
    result["label"] = [label_of(s) for s in score.tolist()]
    return result


__all__ = [
    "CUTOFFS",
    "DEFAULT_WEIGHTS",
    "DIMENSIONS",
    "LABELS",
    "ConfluenceParams",
    "ConfluenceScore",
    "ConfluenceValue",
    "book_metrics",
    "check_bars",
    "confluence",
    "confluence_weights",
    "label_of",
]
