"""bqplot charts: candles with volume and overlays, mid/microprice with the spread band, book imbalance.

Every figure and mark is created once; ``update`` assigns new float64 / datetime64 arrays in place under
``mark.hold_sync()`` (one message per mark), only when the data changed, over a bounded window.
``animation_duration`` is 0 everywhere: live marks must not tween.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..analytics.indicators import EMA, VWAP, Bollinger
from ..errors import ConfigError, InvalidTimeframe
from ..market.timeframes import timeframe_ns
from . import fmt, theme
from .base import Panel, html, set_html, vbox
from .data import (
    EMPTY_T,
    BarArrays,
    BarSeries,
    bar_arrays,
    book_columns,
    to_datetime,
)

INDICATORS = ("ema", "bollinger", "vwap")
OVERLAY_ROWS = ("bb_upper", "bb_middle", "bb_lower", "ema", "vwap")


def figure(
    marks: list[bq.Mark], axes: list[bq.Axis], height: int, *, top: int = 6, bottom: int = 4
) -> bq.Figure:
    """A dark, margin-tight figure; the y axis sits on the right (price charts read right to left)."""
    fig = bq.Figure(
        marks=marks,
        axes=axes,
        fig_margin={"top": top, "bottom": bottom, "left": 6, "right": 66},
        padding_x=0.0,
        padding_y=0.06,
        animation_duration=0,
        background_style={"fill": "transparent"},
        min_aspect_ratio=0.01,
        max_aspect_ratio=100.0,
        layout=widgets.Layout(width="100%", height=f"{height}px", margin="0", padding="0"),
    )
    fig.add_class("mdx-figure")
    return fig


def y_axis(scale: bq.Scale, tick_format: str = ",.2f", num_ticks: int = 5) -> bq.Axis:
    return bq.Axis(
        scale=scale,
        side="right",
        tick_format=tick_format,
        num_ticks=num_ticks,
        grid_lines="solid",
        grid_color=theme.GRID,
        color=theme.MUTED,
    )


def time_axis(scale: bq.Scale, visible: bool = True) -> bq.Axis:
    return bq.Axis(scale=scale, grid_lines="none", color=theme.MUTED, num_ticks=6, visible=visible)


def price_format(price: float) -> str:
    return f",.{fmt.price_decimals(price)}f"


class CandleChart(Panel):
    """OHLC candles over volume bars (green when taker buys dominated the bar), with EMA, Bollinger and
    VWAP overlays that ``set_indicators`` (or the app's toggles) show and hide.

    ``update(bars)`` draws the last ``window`` bars of a ``BarSeries``, ``BarArrays`` or list of ``Bar``;
    the last bar may be the open one. The EMA runs along every bar given (incrementally for a
    ``BarSeries``), Bollinger bands use the ``bb_n - 1`` bars before the window, and VWAP is anchored at
    the first bar given. Overlays appear once every line is defined (after ``max(ema_n, bb_n)`` bars).
    """

    def __init__(
        self,
        *,
        window: int = 120,
        height: int = 290,
        volume_height: int = 78,
        ema_n: int = 20,
        bb_n: int = 20,
        bb_k: float = 2.0,
        indicators: Sequence[str] = INDICATORS,
    ) -> None:
        self.window = window
        self.ema_n, self.bb_n, self.bb_k = ema_n, bb_n, bb_k
        self.x = bq.DateScale()
        self.y = bq.LinearScale()
        self.vy = bq.LinearScale(min=0.0, allow_padding=False)
        scales = {"x": self.x, "y": self.y}
        self.ohlc = bq.OHLC(
            x=EMPTY_T,
            y=np.empty((0, 4)),
            scales=scales,
            marker="candle",
            colors=[theme.UP, theme.DOWN],
            stroke=theme.MUTED,
            stroke_width=0.8,
            format="ohlc",
        )
        # all overlays in one mark (one message per refresh): rows = OVERLAY_ROWS; fill between rows 0-1
        # and 1-2 shades the Bollinger band; hidden indicators get opacity 0
        self.overlays = bq.Lines(
            x=EMPTY_T,
            y=np.empty((len(OVERLAY_ROWS), 0)),
            scales=scales,
            colors=[theme.BOLLINGER, theme.BOLLINGER, theme.BOLLINGER, theme.EMA, theme.VWAP],
            fill="between",
            fill_colors=[theme.BOLLINGER] * len(OVERLAY_ROWS),
            stroke_width=1.2,
        )
        # volume as candles from 0 to the bar's volume: same x spacing and widths as the price candles;
        # green when buyers (takers) dominated the bar, red when sellers did
        self.volume = bq.OHLC(
            x=EMPTY_T,
            y=np.empty((0, 4)),
            scales={"x": self.x, "y": self.vy},
            marker="candle",
            colors=[theme.UP, theme.DOWN],
            opacities=[0.45],
            stroke=None,
            stroke_width=0.0,
            format="ohlc",
        )
        self.y_axis = y_axis(self.y)
        self.price_fig = figure([self.overlays, self.ohlc], [time_axis(self.x, False), self.y_axis], height)
        self.volume_fig = figure([self.volume], [time_axis(self.x)], volume_height, top=2, bottom=22)
        self.legend = html("mdx-legend mdx-candle-legend")
        self.widget = vbox("mdx-chart-card mdx-candles", self.legend, self.price_fig, self.volume_fig)
        self._shown: dict[str, bool] = dict.fromkeys(INDICATORS, False)
        self._data: BarArrays | None = None
        self._drawn: Any = None
        self._label = ("", "")
        self._domain: tuple[np.datetime64, np.datetime64] | None = None
        self.step_ns = 0
        self.updates = 0
        self.set_indicators(indicators)

    # -- toggles ---------------------------------------------------------------------------------------

    def set_indicators(self, names: Sequence[str]) -> None:
        """Show exactly these overlays (any of ``ema``, ``bollinger``, ``vwap``); redraws at once."""
        wanted = set(names)
        unknown = wanted - set(INDICATORS)
        if unknown:
            raise ConfigError(f"unknown indicator(s) {sorted(unknown)}; choose from {list(INDICATORS)}")
        for name in INDICATORS:
            self._shown[name] = name in wanted
        show = self._shown
        with self.overlays.hold_sync():
            self.overlays.opacities = [
                0.55 * show["bollinger"],
                0.3 * show["bollinger"],
                0.55 * show["bollinger"],
                0.95 * show["ema"],
                0.9 * show["vwap"],
            ]
            self.overlays.fill_opacities = [0.07 * show["bollinger"], 0.07 * show["bollinger"], 0.0, 0.0, 0.0]
        if self._data is not None:
            self.update(self._data, force=True)

    @property
    def indicators(self) -> tuple[str, ...]:
        return tuple(name for name in INDICATORS if self._shown[name])

    # -- drawing ---------------------------------------------------------------------------------------

    def update(
        self,
        bars: BarSeries | BarArrays | Sequence[Any],
        *,
        symbol: str = "",
        timeframe: str = "",
        force: bool = False,
    ) -> bool:
        """Redraw from ``bars``: a ``BarSeries`` (the app's incremental columns), ``BarArrays`` or a list of
        ``Bar``. A no-op (False) when given the same data and labels as last time."""
        if isinstance(bars, BarSeries):
            data = bars.arrays
            ema_of = lambda: bars.ema(self.ema_n)  # noqa: E731
        else:
            data = bars if isinstance(bars, BarArrays) else bar_arrays(bars)
            ema_of = lambda: EMA(self.ema_n).run(data.close)  # noqa: E731
        label = (symbol, timeframe) if symbol or timeframe else self._label
        token = (id(data), len(data), self.indicators, label)
        if not force and token == self._drawn and data is self._data:
            return False
        self._data, self._drawn, self._label = data, token, label
        self.step_ns = _step_ns(label[1])
        self.updates += 1
        calc = data.tail(self.window + self.bb_n)
        view = calc.tail(self.window)
        n = len(view)
        t = view.time
        with self.ohlc.hold_sync():
            self.ohlc.x = t
            self.ohlc.y = np.column_stack((view.open, view.high, view.low, view.close))
        with self.volume.hold_sync():
            self.volume.x = t
            self.volume.y = volume_candles(view)
        self._set_x_domain(view)
        if n:
            # the package's streaming twins (no compiled kernel to load while the first page renders)
            upper, middle, lower = Bollinger(self.bb_n, self.bb_k).run(calc.close).T
            rows = (upper, middle, lower, ema_of(), VWAP().run(data.vwap, data.volume))
            _set_line(self.overlays, t, np.vstack([row[-n:] for row in rows]))
        else:
            _set_line(self.overlays, t, np.empty((len(OVERLAY_ROWS), 0)))
        if n:
            tick_format = price_format(float(view.close[-1]))
            if self.y_axis.tick_format != tick_format:
                self.y_axis.tick_format = tick_format
        set_html(self.legend, self._legend_html(view))
        return True

    def _set_x_domain(self, view: BarArrays) -> None:
        """Pin the time axis to the window plus a little room on the right: calm, and both figures align."""
        if len(view) == 0:
            return
        step = self.step_ns or (int(np.median(np.diff(view.ts))) if len(view) > 1 else 60_000_000_000)
        lo = int(view.ts[0]) - step
        hi = int(view.ts[-1]) + 2 * step
        domain = (np.datetime64(lo // 1_000_000, "ms"), np.datetime64(hi // 1_000_000, "ms"))
        if domain != self._domain:
            self._domain = domain
            with self.x.hold_sync():
                self.x.min, self.x.max = domain

    def _legend_html(self, view: BarArrays) -> str:
        symbol, timeframe = self._label
        head = f"<b>{symbol}</b> <span class='mdx-muted'>{timeframe}</span>" if symbol else ""
        ohlc = ""
        if len(view):
            o, h, lo, c = (float(a[-1]) for a in (view.open, view.high, view.low, view.close))
            dp = fmt.price_decimals(c)
            tone = "mdx-up" if c >= o else "mdx-down"
            ohlc = (
                f" &nbsp; <span class='mdx-num'>O <span class='{tone}'>{fmt.price(o, dp)}</span>"
                f" H <span class='{tone}'>{fmt.price(h, dp)}</span>"
                f" L <span class='{tone}'>{fmt.price(lo, dp)}</span>"
                f" C <span class='{tone}'>{fmt.price(c, dp)}</span>"
                f" V {fmt.amount(float(view.volume[-1]))}</span>"
            )
        keys = []
        if self._shown["ema"]:
            keys.append(f"<span class='mdx-key' style='background:{theme.EMA}'></span>EMA {self.ema_n}")
        if self._shown["bollinger"]:
            keys.append(
                f"<span class='mdx-key' style='background:{theme.BOLLINGER}'></span>"
                f"BB {self.bb_n}, {self.bb_k:g}"
            )
        if self._shown["vwap"]:
            keys.append(f"<span class='mdx-key' style='background:{theme.VWAP}'></span>VWAP")
        return head + ohlc + "<span style='float:right'>" + "".join(keys) + "</span>"


def _set_line(mark: bq.Lines, t: np.ndarray, y: np.ndarray) -> None:
    """Assign a line (or rows of lines) from the first point where every row is defined: a row that is all
    NaN (indicator warm-up) is an invalid SVG path in the browser."""
    finite = np.isfinite(y) if y.ndim == 1 else np.isfinite(y).all(axis=0)
    first = int(np.argmax(finite)) if finite.any() else t.shape[0]
    with mark.hold_sync():
        mark.x = t[first:]
        mark.y = y[first:] if y.ndim == 1 else y[:, first:]


def _step_ns(timeframe: str) -> int:
    try:
        return timeframe_ns(timeframe) if timeframe else 0
    except InvalidTimeframe:
        return 0


def volume_candles(view: BarArrays) -> np.ndarray:
    """``(n, 4)`` OHLC rows drawing each bar's volume as a candle from 0: up (open 0, close v) when taker
    buys dominated, down (open v, close 0) otherwise."""
    v = view.volume
    buys = view.buy_volume >= view.sell_volume
    zero = np.zeros_like(v)
    return np.column_stack((np.where(buys, zero, v), v, zero, np.where(buys, v, zero)))


def _book_table(book: Any) -> np.ndarray:
    """A ``(n, 6)`` BOOK_FIELDS table from a table or a list of ``BookView``."""
    if isinstance(book, np.ndarray):
        return book
    columns = book_columns(maxlen=max(len(book), 1))
    columns.sync(book)
    return columns.data


def _window(table: np.ndarray, seconds: float, max_points: int) -> np.ndarray:
    """The rows of the last ``seconds``, thinned to at most ``max_points`` (always keeping the newest)."""
    return table[_window_rows(table, seconds, max_points)]


def _window_rows(table: np.ndarray, seconds: float, max_points: int) -> slice | np.ndarray:
    if not table.shape[0]:
        return slice(0, 0)
    start = int(np.searchsorted(table[:, 0], table[-1, 0] - seconds * 1e9, side="left"))
    rows = table.shape[0] - start
    if rows > max_points:
        stride = -(-rows // max_points)
        return table.shape[0] - 1 - np.arange(0, rows, stride)[::-1]
    return slice(start, None)


def trailing_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of the last ``n`` values (fewer at the start, so never NaN for finite input)."""
    if not x.shape[0]:
        return x.copy()
    cum = np.cumsum(np.concatenate(([0.0], x)))
    i = np.arange(1, x.shape[0] + 1)
    lo = np.maximum(i - n, 0)
    return (cum[i] - cum[lo]) / (i - lo)


class _BookChart(Panel):
    """A chart of the book's top-of-book series: redrawn only when the table grew or moved (or ``force``)."""

    _drawn: Any = None
    updates = 0

    def update(self, book: Any, *, force: bool = False) -> bool:
        """``book``: a ``(n, 6)`` table of ``BOOK_FIELDS`` (ts, bid, ask, mid, microprice, imbalance)
        or a list of ``BookView``."""
        table = _book_table(book)
        token = (id(book), table.shape[0], float(table[-1, 0]) if table.shape[0] else 0.0)
        if not force and token == self._drawn:
            return False
        self._drawn = token
        self.updates += 1
        self._draw(table)
        return True

    def _draw(self, table: np.ndarray) -> None:
        raise NotImplementedError


class MidChart(_BookChart):
    """Mid and microprice over the last ``seconds``, with the best bid-ask spread drawn as a band."""

    def __init__(self, *, seconds: float = 120.0, height: int = 150, max_points: int = 300) -> None:
        self.seconds = seconds
        self.max_points = max_points
        self.x = bq.DateScale()
        self.y = bq.LinearScale()
        scales = {"x": self.x, "y": self.y}
        # one mark, rows (ask, bid, microprice, mid): the fill between rows 0 and 1 is the spread band
        self.lines = bq.Lines(
            x=EMPTY_T,
            y=np.empty((4, 0)),
            scales=scales,
            colors=[theme.BAND, theme.BAND, theme.MICRO, theme.MID],
            opacities=[0.35, 0.35, 0.75, 0.95],
            fill="between",
            fill_colors=[theme.BAND] * 4,
            fill_opacities=[0.18, 0.0, 0.0, 0.0],
            stroke_width=1.1,
            interpolation="step-after",
        )
        self.y_axis = y_axis(self.y, num_ticks=4)
        self.fig = figure([self.lines], [time_axis(self.x), self.y_axis], height, bottom=22)
        self.legend = html(
            "mdx-legend",
            f"MID <span class='mdx-key' style='background:{theme.MID}'></span>mid"
            f"<span class='mdx-key' style='background:{theme.MICRO}'></span>microprice"
            f"<span class='mdx-key' style='background:{theme.BAND};height:6px;opacity:.5'></span>spread",
        )
        self.widget = vbox("mdx-chart-card mdx-mid", self.legend, self.fig)

    def _draw(self, table: np.ndarray) -> None:
        view = _window(table, self.seconds, self.max_points)
        with self.lines.hold_sync():
            self.lines.x = to_datetime(view[:, 0])
            self.lines.y = np.ascontiguousarray(view[:, [2, 1, 4, 3]].T)
        if view.shape[0]:
            tick_format = price_format(float(view[-1, 3]))
            if self.y_axis.tick_format != tick_format:
                self.y_axis.tick_format = tick_format


class ImbalanceChart(_BookChart):
    """Top-of-book imbalance in [-1, 1] over the last ``seconds`` (bid-heavy above zero): the raw series
    faint and filled, its trailing mean over ``smooth_s`` seconds of event time on top."""

    def __init__(
        self, *, seconds: float = 120.0, height: int = 84, max_points: int = 300, smooth_s: float = 2.0
    ) -> None:
        self.seconds = seconds
        self.max_points = max_points
        self.smooth_s = smooth_s
        self.x = bq.DateScale()
        self.y = bq.LinearScale(min=-1.0, max=1.0, allow_padding=False)
        # rows (raw, zero, smoothed): the fill between rows 0 and 1 shades the raw imbalance
        self.line = bq.Lines(
            x=EMPTY_T,
            y=np.empty((3, 0)),
            scales={"x": self.x, "y": self.y},
            colors=[theme.ACCENT, theme.FAINT, theme.ACCENT],
            opacities=[0.3, 0.7, 1.0],
            fill="between",
            fill_colors=[theme.ACCENT] * 3,
            fill_opacities=[0.14, 0.0, 0.0],
            stroke_width=1.1,
        )
        self.fig = figure([self.line], [time_axis(self.x, False), y_axis(self.y, "+.1f", 3)], height)
        self.fig.padding_y = 0.0
        self.legend = html(
            "mdx-legend",
            "IMBALANCE <span class='mdx-muted'>(bid − ask) / (bid + ask), top of book;"
            f" line: {smooth_s:g} s mean</span>",
        )
        self.widget = vbox("mdx-chart-card mdx-imbalance", self.legend, self.fig)

    def _draw(self, table: np.ndarray) -> None:
        rows = _window_rows(table, self.seconds + self.smooth_s, table.shape[0])  # all rows of the span
        span = table[rows]
        if span.shape[0] > 1:
            step_s = max(float(np.median(np.diff(span[:, 0]))) / 1e9, 1e-3)
            smooth = trailing_mean(span[:, 5], max(1, round(self.smooth_s / step_s)))
        else:
            smooth = span[:, 5].copy()
        shown = _window_rows(span, self.seconds, self.max_points)
        view, smooth = span[shown], smooth[shown]
        with self.line.hold_sync():
            self.line.x = to_datetime(view[:, 0])
            # imbalance is in [-1, 1]: float32 is exact enough and halves the message
            self.line.y = np.vstack((view[:, 5], np.zeros(view.shape[0]), smooth)).astype(np.float32)


__all__ = [
    "INDICATORS",
    "OVERLAY_ROWS",
    "CandleChart",
    "ImbalanceChart",
    "MidChart",
    "figure",
    "time_axis",
    "y_axis",
]
