"""Cache snapshots -> float64 / datetime64 arrays for the marks. No widgets here.

The engine thread appends to bounded deques in the cache; the refresh reads copies of them
(``Cache.history`` returns a new list of immutable events). ``Columns`` turns such a list into numpy
columns incrementally: on each refresh only the items that arrived since the last one are converted,
so the cost does not grow with the history length.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..events import Bar

NAN = float("nan")
EMPTY_F = np.empty(0, dtype=np.float64)
EMPTY_T = np.empty(0, dtype="datetime64[ms]")


def indicators_module() -> ModuleType:
    """``mdx.analytics.indicators``, imported on first use. Importing it loads numba (~0.2 s of a cold
    kernel); the monitor's first candles come from a refresh that runs after the notebook has finished,
    while the browser loads Voilà's front end, so the notebook (which the page waits for) does not pay it."""
    from ..analytics import indicators as module

    return module


def to_datetime(ts_ns: np.ndarray) -> np.ndarray:
    """Epoch-ns int64 -> ``datetime64[ms]`` (what bqplot sends as dates)."""
    return (np.asarray(ts_ns, dtype=np.int64) // 1_000_000).astype("datetime64[ms]")


class Columns:
    """A bounded, incrementally built table of float64 columns from a list of immutable items.

    ``row(item)`` returns one tuple of floats; column 0 is conventionally the timestamp in ns.
    ``sync(items)`` finds the last item it saw (by identity, scanning back from the end), converts
    only the newer ones and keeps at most ``maxlen`` rows. When the last seen item is gone (the window
    moved past it, or the cache was cleared) it rebuilds from ``items``.
    """

    def __init__(self, row: Callable[[Any], tuple[float, ...]], width: int, maxlen: int = 2000) -> None:
        self._row = row
        self.width = width
        self.maxlen = maxlen
        self.data = np.empty((0, width), dtype=np.float64)
        self._last: Any = None
        self.version = 0  # bumps whenever ``data`` changes
        self.generation = 0  # bumps when rebuilt from scratch
        self.appended = 0  # rows appended since the last rebuild (``data`` keeps the last ``maxlen``)

    def sync(self, items: Sequence[Any]) -> bool:
        if not items:
            if self.data.shape[0]:
                self.reset()
                return True
            return False
        if items[-1] is self._last:
            return False
        start = 0
        rebuild = True
        if self._last is not None:
            for index in range(len(items) - 1, -1, -1):
                if items[index] is self._last:
                    start, rebuild = index + 1, False
                    break
        fresh = items[start:] if not rebuild else items[-self.maxlen :]
        rows = np.array([self._row(item) for item in fresh], dtype=np.float64).reshape(-1, self.width)
        if rebuild:
            data = rows
            self.generation += 1
            self.appended = rows.shape[0]
        else:
            data = np.concatenate((self.data, rows))
            self.appended += rows.shape[0]
        if data.shape[0] > self.maxlen:
            data = data[-self.maxlen :]
        self.data = data
        self._last = items[-1]
        self.version += 1
        return True

    def reset(self) -> None:
        self.data = np.empty((0, self.width), dtype=np.float64)
        self._last = None
        self.version += 1
        self.generation += 1
        self.appended = 0

    def __len__(self) -> int:
        return int(self.data.shape[0])


# -- bars --------------------------------------------------------------------------------------------

BAR_FIELDS = ("ts", "open", "high", "low", "close", "volume", "buy_volume", "sell_volume", "vwap")


def _bar_row(bar: Bar) -> tuple[float, ...]:
    return (
        float(bar.ts_event),
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.buy_volume,
        bar.sell_volume,
        bar.vwap,
    )


@dataclass(frozen=True, slots=True)
class BarArrays:
    """Columns of consecutive bars, oldest first; the last one may be the open (partial) bar."""

    ts: np.ndarray  # int64 ns (bar open time)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    buy_volume: np.ndarray
    sell_volume: np.ndarray
    vwap: np.ndarray
    partial: bool = False  # the last row is the open bar

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @property
    def time(self) -> np.ndarray:
        return to_datetime(self.ts)

    @classmethod
    def from_table(cls, table: np.ndarray, partial: bool = False) -> BarArrays:
        cols = [np.ascontiguousarray(table[:, i]) for i in range(table.shape[1])]
        return cls(cols[0].astype(np.int64), *cols[1:], partial=partial)

    def tail(self, n: int) -> BarArrays:
        if n >= len(self):
            return self
        return BarArrays(*(getattr(self, name)[-n:] for name in _ARRAY_FIELDS), partial=self.partial)


_ARRAY_FIELDS = ("ts", "open", "high", "low", "close", "volume", "buy_volume", "sell_volume", "vwap")


def bar_arrays(bars: Sequence[Bar]) -> BarArrays:
    """Bars (oldest first) -> ``BarArrays``; the last bar counts as partial when ``closed`` is False."""
    table = np.array([_bar_row(b) for b in bars], dtype=np.float64).reshape(-1, len(BAR_FIELDS))
    return BarArrays.from_table(table, partial=bool(bars) and not bars[-1].closed)


class BarSeries:
    """Closed bars of one (exchange, symbol, timeframe), kept as columns, plus the open bar on top."""

    def __init__(self, maxlen: int = 2000) -> None:
        self.closed = Columns(_bar_row, len(BAR_FIELDS), maxlen)
        self._partial: Bar | None = None
        self._arrays: BarArrays | None = None
        self._emas: dict[int, EmaTrack] = {}
        self._tracks: dict[Any, CloseTrack] = {}

    def sync(self, closed: Sequence[Bar], partial: Bar | None) -> bool:
        """Take the newest snapshot; True when anything the chart shows changed."""
        changed = self.closed.sync(closed)
        if partial is not None and len(self.closed) and partial.ts_event <= self.closed.data[-1, 0]:
            partial = None  # the open bar has been closed meanwhile; the closed copy wins
        if partial is not self._partial:
            self._partial, changed = partial, True
        if changed or self._arrays is None:
            table = self.closed.data
            if partial is not None:
                table = np.concatenate((table, np.array([_bar_row(partial)], dtype=np.float64)))
            self._arrays = BarArrays.from_table(table, partial=partial is not None)
        return changed

    @property
    def arrays(self) -> BarArrays:
        if self._arrays is None:
            self.sync((), None)
        assert self._arrays is not None
        return self._arrays

    def ema(self, n: int) -> np.ndarray:
        """EMA(n) of the closes, aligned with ``arrays`` (see ``EmaTrack``)."""
        track = self._emas.get(n)
        if track is None:
            track = self._emas[n] = EmaTrack(n)
        return track.values(self.closed, self._partial)

    def track(self, key: Any, make: Callable[[], Any], tail: int | None = None) -> np.ndarray:
        """A streaming indicator of the closes (``make()`` builds it, once per ``key``), aligned with the
        last ``tail`` rows of ``arrays`` (all when None): ``(n,)`` for one output, ``(n, outputs)`` for
        several (see ``CloseTrack``)."""
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = CloseTrack(make)
        return track.values(self.closed, self._partial, tail)

    def track_last(self, key: Any, make: Callable[[], Any]) -> Any:
        """The latest output of ``track(key, make)`` (the open bar's when there is one), or None without
        bars: what the indicator's ``update`` returned for it."""
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = CloseTrack(make)
        return track.last(self.closed, self._partial)


class CloseTrack:
    """Any streaming indicator of bar closes (``mdx.analytics``: ``MACD``, ``RSI``, ``ZScoreSignal``...),
    kept incrementally like ``EmaTrack``: each closed bar feeds it once; the open bar is evaluated on a
    deep copy of its state, so the values equal the batch twin's over the same closes."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._indicator = make()
        self._closed: list[Any] = []  # one output per kept closed bar
        self._generation = -1
        self._fed = 0

    def _feed(self, closed: Columns) -> None:
        rows = closed.data.shape[0]
        unseen = closed.appended - self._fed
        if closed.generation != self._generation or unseen > rows:  # rebuilt, or more new than kept
            self._indicator = self._make()
            self._generation, self._closed = closed.generation, []
            unseen = rows
        if unseen:
            update = self._indicator.update
            self._closed.extend(update(x) for x in closed.data[rows - unseen :, 4].tolist())
            if len(self._closed) > rows:
                del self._closed[: len(self._closed) - rows]
        self._fed = closed.appended

    def last(self, closed: Columns, partial: Bar | None) -> Any:
        self._feed(closed)
        if partial is not None:
            return copy.deepcopy(self._indicator).update(partial.close)
        return self._closed[-1] if self._closed else None

    def values(self, closed: Columns, partial: Bar | None, tail: int | None = None) -> np.ndarray:
        self._feed(closed)
        keep = len(self._closed)
        if tail is not None:
            keep = min(keep, max(0, tail - (partial is not None)))
        out = self._closed[len(self._closed) - keep :] if keep else []  # a new list: appending is safe
        if partial is not None:
            out.append(copy.deepcopy(self._indicator).update(partial.close))
        width = len(getattr(self._indicator, "outputs", ("value",)))
        if width > 1:
            return np.array(out, dtype=np.float64).reshape(-1, width)
        return np.array(out, dtype=np.float64)


class EmaTrack:
    """EMA(n) of bar closes kept incrementally: each closed bar feeds the streaming ``mdx.indicators.EMA``
    once (equal to the batch ``ema`` over the same bars); the open bar is evaluated on a copy of the state.
    Unlike an EMA recomputed over a sliding window, its values do not shift as the window moves, and it
    costs O(1) per refresh (no compiled kernel to load while the first page renders)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._ema = indicators_module().EMA(n)
        self._closed = EMPTY_F
        self._generation = -1
        self._fed = 0

    def values(self, closed: Columns, partial: Bar | None) -> np.ndarray:
        rows = closed.data.shape[0]
        unseen = closed.appended - self._fed
        if closed.generation != self._generation or unseen > rows:  # rebuilt, or more new than kept
            self._ema.reset()
            self._generation, self._closed = closed.generation, EMPTY_F
            unseen = rows
        if unseen:
            closes = closed.data[rows - unseen :, 4].tolist()
            fresh = np.array([self._ema.update(x) for x in closes], dtype=np.float64)
            self._closed = np.concatenate((self._closed, fresh))[max(0, len(self._closed) + unseen - rows) :]
        self._fed = closed.appended
        if partial is None:
            return self._closed
        tentative = copy.copy(self._ema)
        return np.append(self._closed, tentative.update(partial.close))


# -- book ----------------------------------------------------------------------------------------------

BOOK_FIELDS = ("ts", "bid", "ask", "mid", "microprice", "imbalance")


def _top(levels: np.ndarray) -> float:
    return float(levels[0, 0]) if len(levels) else NAN


def _view_row(view: Any) -> tuple[float, ...]:
    return (
        float(view.ts_event),
        _top(view.bids),
        _top(view.asks),
        float(view.mid),
        float(view.microprice),
        float(view.imbalance),
    )


def book_columns(maxlen: int = 2000) -> Columns:
    """Incremental columns of ``BOOK_FIELDS`` from ``BookView`` history."""
    return Columns(_view_row, len(BOOK_FIELDS), maxlen)


def depth_curves(bids: np.ndarray, asks: np.ndarray, levels: int | None = None) -> tuple[np.ndarray, ...]:
    """Cumulative depth: (bid_px ascending, bid_cum, ask_px ascending, ask_cum).

    Bids accumulate from the best bid downwards and are returned lowest price first, so both sides read
    left to right on a price axis and meet at the spread.
    """
    b = np.asarray(bids, dtype=np.float64).reshape(-1, 2)
    a = np.asarray(asks, dtype=np.float64).reshape(-1, 2)
    if levels is not None:
        b, a = b[:levels], a[:levels]
    bid_cum = np.cumsum(b[:, 1])[::-1]
    ask_cum = np.cumsum(a[:, 1])
    return np.ascontiguousarray(b[::-1, 0]), np.ascontiguousarray(bid_cum), a[:, 0].copy(), ask_cum


def sparkline_points(values: np.ndarray, width: float, height: float, points: int = 48) -> str:
    """SVG polyline points for a sparkline of ``values`` (NaN dropped, decimated to ``points``)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.shape[0] < 2:
        return ""
    if v.shape[0] > points:
        v = v[np.linspace(0, v.shape[0] - 1, points).round().astype(np.int64)]
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo or 1.0
    xs = np.linspace(0.0, width, v.shape[0]).round(1).tolist()
    ys = (height - 1.0 - (v - lo) / span * (height - 2.0)).round(1).tolist()
    return " ".join(f"{x:g},{y:g}" for x, y in zip(xs, ys, strict=True))


__all__ = [
    "BAR_FIELDS",
    "BOOK_FIELDS",
    "BarArrays",
    "BarSeries",
    "CloseTrack",
    "Columns",
    "EmaTrack",
    "bar_arrays",
    "book_columns",
    "depth_curves",
    "sparkline_points",
    "to_datetime",
]
