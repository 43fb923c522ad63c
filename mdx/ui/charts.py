"""bqplot charts: candles with volume and overlays, mid/microprice with the spread band, book imbalance.

Every figure and mark is created once; ``update`` assigns new float64 / datetime64 arrays in place under
``mark.hold_sync()`` (one message per mark), only when the data changed, over a bounded window.
``animation_duration`` is 0 everywhere: live marks must not tween.

Axes are set by the kernel (``mdx.ui.ticks``): round ``tick_values`` and a time ``tick_format`` that fits
the span (bqplot formats dates in UTC), never bqplot's ``num_ticks`` (ticks spread evenly from the
domain's min to its max). A chart with nothing to draw hides its axes and says why ("waiting for
data…", or the source's error) instead of drawing made-up ones. No mark ever gets a NaN or a 2-D
array with no columns: both make bqplot's views fail in the browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..analytics.series import time_mean
from ..errors import ConfigError, InvalidTimeframe
from ..market.timeframes import timeframe_ns
from . import fmt, theme
from .base import Panel, html, set_html, vbox
from .data import (
    EMPTY_F,
    EMPTY_T,
    BarArrays,
    BarSeries,
    bar_arrays,
    book_columns,
    indicators_module,
    to_datetime,
)
from .ticks import js_key, price_decimals_for, step_decimals, time_ticks, value_ticks

INDICATORS = ("ema", "bollinger", "vwap")
WAITING = "waiting for data…"
LEFT = 28  # left margin of time-axis figures: room for half of a centred ``HH:MM:SS`` label
RIGHT = 66  # right margin: the y axis' labels


def figure(
    marks: list[bq.Mark],
    axes: list[bq.Axis],
    height: int,
    *,
    top: int = 6,
    bottom: int = 4,
    left: int = LEFT,
    right: int = RIGHT,
) -> bq.Figure:
    """A dark, margin-tight figure; the y axis sits on the right (price charts read right to left)."""
    fig = bq.Figure(
        marks=marks,
        axes=axes,
        fig_margin={"top": top, "bottom": bottom, "left": left, "right": right},
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


def y_axis(scale: bq.Scale, tick_format: str = ",.2f") -> bq.Axis:
    """A right-hand value axis; its ``tick_values`` are set from the data (``set_ticks``)."""
    return bq.Axis(
        scale=scale,
        side="right",
        tick_format=tick_format,
        grid_lines="solid",
        grid_color=theme.GRID,
        color=theme.MUTED,
        visible=False,
    )


def time_axis(scale: bq.Scale, visible: bool = True) -> bq.Axis:
    """A UTC time axis; ``tick_values`` and ``tick_format`` come from ``mdx.ui.ticks.time_ticks``."""
    return bq.Axis(scale=scale, grid_lines="none", color=theme.MUTED, tick_format="%H:%M:%S", visible=visible)


def price_format(price: float) -> str:
    return f",.{fmt.price_decimals(price)}f"


def set_ticks(
    axis: bq.Axis,
    values: np.ndarray,
    *,
    tick_format: str | None = None,
    labels: Mapping[str, str] | None = None,
    scale: bq.Scale | None = None,
    domain: tuple[Any, Any] | None = None,
) -> bool:
    """Set an axis' ticks, sending only what changed, in the order the browser needs: the format and the
    labels first (redrawn at once), then the scale's domain, then the tick values (bqplot redraws those in
    a d3 transition that runs later: it would write labels formatted the old way over newer ones)."""
    changed = False
    if tick_format is not None and axis.tick_format != tick_format:
        axis.tick_format, changed = tick_format, True
    if labels is not None and axis.tick_labels != labels:
        axis.tick_labels, changed = dict(labels), True
    if scale is not None and domain is not None and (scale.min, scale.max) != domain:
        with scale.hold_sync():
            scale.min, scale.max = domain
        changed = True
    old = axis.tick_values
    if old is None or old.shape != values.shape or not np.array_equal(old, values):
        # no values at all would make bqplot pick its own ticks: ask for none instead
        num_ticks = None if values.size else 0
        if axis.num_ticks != num_ticks:
            axis.num_ticks = num_ticks
        axis.tick_values, changed = values, True
    return changed


def _step_of(axis: bq.Axis) -> float:
    """The step between the ticks an axis shows (0 when it shows fewer than two)."""
    values = axis.tick_values
    return float(values[1] - values[0]) if values is not None and len(values) > 1 else 0.0


def _set_visible(axes: Sequence[bq.Axis], visible: bool) -> None:
    for axis in axes:
        if axis.visible != visible:
            axis.visible = visible


class ChartPanel(Panel):
    """A chart card: legend, figure(s) and a note over them that says why nothing is drawn (when so).

    Empty, the card has the DOM class ``mdx-empty``, its axes are hidden and the note shows
    ``empty_text`` ("waiting for data…" unless the app says otherwise, e.g. the source's error).
    """

    empty = True
    empty_text = WAITING

    def _card(
        self, css_class: str, *children: widgets.Widget, axes: Sequence[bq.Axis], base: str = "mdx-chart-card"
    ) -> widgets.VBox:
        self._empty_axes = list(axes)
        self.note = html("mdx-chart-note", escape(self.empty_text))
        card = vbox(f"{base} {css_class} mdx-empty", *children, self.note)
        _set_visible(self._empty_axes, False)
        return card

    def _set_empty(self, empty: bool) -> None:
        if empty == self.empty:
            return
        self.empty = empty
        _set_visible(self._empty_axes, not empty)
        if empty:
            self.widget.add_class("mdx-empty")
        else:
            self.widget.remove_class("mdx-empty")

    def set_empty_text(self, text: str) -> bool:
        """What the chart says while it has nothing to draw; True when that changed."""
        self.empty_text = text
        return set_html(self.note, escape(text))


class CandleChart(ChartPanel):
    """OHLC candles over volume bars (green when taker buys dominated the bar), with EMA, Bollinger and
    VWAP overlays that ``set_indicators`` (or the app's toggles) show and hide.

    ``update(bars)`` draws the last ``window`` bars of a ``BarSeries``, ``BarArrays`` or list of ``Bar``;
    the last bar may be the open one. The EMA runs along every bar given (incrementally for a
    ``BarSeries``), Bollinger bands use the ``bb_n - 1`` bars before the window, and VWAP is anchored at
    the first bar shown (the VWAP of the bars on screen: it stays between their lows and highs, so it
    never squeezes the candles the way a VWAP anchored hours earlier would). Each overlay is its own
    mark, drawn from its first defined value; while one warms up the legend says how far it is
    (``EMA 20: 12/20 bars``).
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
        self.y = bq.LinearScale(allow_padding=False)
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
        # one mark per overlay, each drawn from its own first defined value; the fill between the band's
        # rows 0-1 and 1-2 shades it. A hidden overlay's mark is not updated (and not sent)
        self.lines: dict[str, bq.Lines] = {
            "bollinger": bq.Lines(
                x=EMPTY_T,
                y=np.empty((3, 0)),
                scales=scales,
                colors=[theme.BOLLINGER] * 3,
                opacities=[0.55, 0.3, 0.55],
                fill="between",
                fill_colors=[theme.BOLLINGER] * 3,
                fill_opacities=[0.07, 0.07, 0.0],
                stroke_width=1.2,
            ),
            "ema": bq.Lines(
                x=EMPTY_T, y=EMPTY_F, scales=scales, colors=[theme.EMA], opacities=[0.95], stroke_width=1.2
            ),
            "vwap": bq.Lines(
                x=EMPTY_T, y=EMPTY_F, scales=scales, colors=[theme.VWAP], opacities=[0.9], stroke_width=1.2
            ),
        }
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
        self.volume_axis = y_axis(self.vy, ",.0f")
        self.time_axis = time_axis(self.x)
        self.price_fig = figure(
            [*self.lines.values(), self.ohlc], [time_axis(self.x, False), self.y_axis], height
        )
        self.volume_fig = figure(
            [self.volume], [self.time_axis, self.volume_axis], volume_height, top=2, bottom=22
        )
        self.legend = html("mdx-legend mdx-candle-legend")
        self.widget = self._card(
            "mdx-candles",
            self.legend,
            self.price_fig,
            self.volume_fig,
            axes=[self.y_axis, self.volume_axis, self.time_axis],
        )
        self._shown: dict[str, bool] = dict.fromkeys(INDICATORS, False)
        self.warmup: dict[str, tuple[int, int]] = {}  # indicator -> (bars seen, bars needed) while warming
        self._data: BarArrays | None = None
        self._drawn: Any = None
        self._label = ("", "")
        self._domain: tuple[np.datetime64, np.datetime64] | None = None
        self.step_ns = 0
        self.updates = 0
        self.set_indicators(indicators)
        set_html(self.legend, self._legend_html(bar_arrays([])))

    # -- toggles ---------------------------------------------------------------------------------------

    def set_indicators(self, names: Sequence[str]) -> None:
        """Show exactly these overlays (any of ``ema``, ``bollinger``, ``vwap``); redraws at once."""
        wanted = set(names)
        unknown = wanted - set(INDICATORS)
        if unknown:
            raise ConfigError(f"unknown indicator(s) {sorted(unknown)}; choose from {list(INDICATORS)}")
        for name in INDICATORS:
            self._shown[name] = name in wanted
            mark = self.lines[name]
            if mark.visible != self._shown[name]:
                mark.visible = self._shown[name]
        if self._data is not None:
            self.update(self._data, force=True)

    @property
    def indicators(self) -> tuple[str, ...]:
        return tuple(name for name in INDICATORS if self._shown[name])

    @property
    def domain(self) -> tuple[np.datetime64, np.datetime64] | None:
        """The time axis' domain as last drawn (sub-charts under it share it), None before any bar."""
        return self._domain

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
            ema_of = lambda: indicators_module().EMA(self.ema_n).run(data.close)  # noqa: E731
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
        # the package's streaming twins (no compiled kernel to load while the first page renders)
        rows = {
            "bollinger": lambda: indicators_module().Bollinger(self.bb_n, self.bb_k).run(calc.close).T,
            "ema": ema_of,
            "vwap": lambda: indicators_module().VWAP().run(view.vwap, view.volume),
        }
        needed = {"bollinger": self.bb_n, "ema": self.ema_n, "vwap": 1}
        lo, hi = (float(view.low.min()), float(view.high.max())) if n else (np.nan, np.nan)
        self.warmup = {}
        for name in INDICATORS:
            if not self._shown[name]:
                continue
            y = rows[name]()[..., -n:] if n else np.empty((3, 0) if name == "bollinger" else 0)
            drawn = _set_line(self.lines[name], t, y)
            if n and drawn.size:
                lo, hi = min(lo, float(drawn.min())), max(hi, float(drawn.max()))
            if n and not drawn.size:
                self.warmup[name] = (len(data), needed[name])
        self._set_empty(n == 0)
        if n:
            self._set_axes(view, lo, hi)
        set_html(self.legend, self._legend_html(view))
        return True

    def _set_axes(self, view: BarArrays, lo: float, hi: float) -> None:
        """Time axis pinned to the window plus a little room on the right (calm, and both figures align);
        price axis from the candles and the overlays shown; volume axis from the bars' volume."""
        step = self.step_ns or (int(np.median(np.diff(view.ts))) if len(view) > 1 else 60_000_000_000)
        lo_ns = int(view.ts[0]) - step
        hi_ns = int(view.ts[-1]) + 2 * step
        domain = (np.datetime64(lo_ns // 1_000_000, "ms"), np.datetime64(hi_ns // 1_000_000, "ms"))
        ticks = time_ticks(lo_ns, hi_ns, max_ticks=6, min_step_ns=step)
        set_ticks(self.time_axis, ticks.values, tick_format=ticks.tick_format, scale=self.x, domain=domain)
        self._domain = domain
        price_axis(self.y_axis, self.y, lo, hi, fmt.price_decimals(float(view.close[-1])), max_ticks=5)
        vmax = float(view.volume.max())
        values, step_v = value_ticks(
            0.0, vmax * 0.8, max_ticks=2, min_ticks=1, edge=0.01, prefer=_step_of(self.volume_axis)
        )
        values = values[values > 0]
        base = fmt.units(self._label[0])[0]
        set_ticks(self.volume_axis, values, labels=amount_labels(values, step_v, base))

    def _legend_html(self, view: BarArrays) -> str:
        symbol, timeframe = self._label
        base, quote = fmt.units(symbol)
        head = f"<b>{escape(symbol)}</b> <span class='mdx-muted'>{timeframe} · UTC</span>" if symbol else ""
        ohlc = ""
        if len(view):
            o, h, lo, c = (float(a[-1]) for a in (view.open, view.high, view.low, view.close))
            dp = fmt.price_decimals(c)
            tone = "mdx-up" if c >= o else "mdx-down"
            ohlc = (
                f" &nbsp; <span class='mdx-num'>O&nbsp;<span class='{tone}'>{fmt.price(o, dp)}</span>"
                f" H&nbsp;<span class='{tone}'>{fmt.price(h, dp)}</span>"
                f" L&nbsp;<span class='{tone}'>{fmt.price(lo, dp)}</span>"
                f" C&nbsp;<span class='{tone}'>{fmt.price(c, dp)}</span>"
                f" V&nbsp;{fmt.amount(float(view.volume[-1]))}</span>"
                + (f"&nbsp;<span class='mdx-muted'>{escape(base)}</span>" if base else "")
            )
        names = {"ema": f"EMA {self.ema_n}", "bollinger": f"BB {self.bb_n}, {self.bb_k:g}", "vwap": "VWAP"}
        titles = {
            "ema": f"exponential moving average of the last {self.ema_n} closes",
            "bollinger": f"Bollinger bands: {self.bb_n}-bar mean ± {self.bb_k:g} standard deviations",
            "vwap": "volume-weighted average price since the first bar shown",
        }
        colors = {"ema": theme.EMA, "bollinger": theme.BOLLINGER, "vwap": theme.VWAP}
        keys = []
        for name in ("ema", "bollinger", "vwap"):
            if not self._shown[name]:
                continue
            warming = self.warmup.get(name)
            note = ""
            if warming is not None:
                seen, needed = warming
                note = (
                    f": <span class='mdx-warmup'>{min(seen, needed)}/{needed} bars</span>"
                    if needed > 1
                    else ": <span class='mdx-warmup'>no volume yet</span>"
                )
            keys.append(
                f"<span class='mdx-legend-key mdx-key-{name}' title='{titles[name]}'>"
                f"<span class='mdx-key' style='background:{colors[name]}'></span>{names[name]}{note}</span>"
            )
        return legend_row(head + ohlc, "".join(keys), quote)


def legend_row(main: str, keys: str = "", unit: str = "") -> str:
    """A legend line: title and values on the left, keys on the right, and the y axis' unit above it."""
    unit_html = f"<span class='mdx-axis-unit' title='y axis unit'>{escape(unit)}</span>" if unit else ""
    return (
        f"<div class='mdx-legend-row'><span class='mdx-legend-main'>{main}</span>"
        f"<span class='mdx-legend-keys'>{keys}</span>{unit_html}</div>"
    )


def price_axis(
    axis: bq.Axis, scale: bq.LinearScale, lo: float, hi: float, precision: int, *, max_ticks: int = 5
) -> None:
    """A price axis over ``[lo, hi]``: the domain padded by 6% and snapped outwards to half a tick step
    (so it moves only when the range does), ticks at multiples of a 1/2/5 x 10^k step no finer than
    the price's ``precision`` (decimals), labelled with just the decimals the step needs."""
    min_step = 10.0**-precision
    span = hi - lo
    pad = 0.06 * span if span > 0 else max(abs(hi) * 1e-4, 5 * min_step)
    step = value_ticks(lo - pad, hi + pad, max_ticks=max_ticks, min_ticks=3, min_step=min_step)[1]
    quantum = step / 2
    d = step_decimals(quantum)
    dlo = round(float(np.floor((lo - pad) / quantum) * quantum), d)
    dhi = round(float(np.ceil((hi + pad) / quantum) * quantum), d)
    values, step = value_ticks(dlo, dhi, max_ticks=max_ticks, min_ticks=3, min_step=min_step, edge=0.03)
    tick_format = f",.{price_decimals_for(step, precision)}f"
    set_ticks(axis, values, tick_format=tick_format, scale=scale, domain=(dlo, dhi))


def amount_labels(values: np.ndarray, step: float, unit: str) -> dict[str, str]:
    """``tick_labels`` for amounts: ``12.5 BTC`` (bqplot looks a label up by the tick's JS string)."""
    suffix = f" {unit}" if unit else ""
    if step >= 1000:
        d = step_decimals(step / 1000)
        return {js_key(v): f"{v / 1000:,.{d}f}k{suffix}" for v in values.tolist()}
    d = step_decimals(step)
    return {js_key(v): f"{v:,.{d}f}{suffix}" for v in values.tolist()}


def _set_line(mark: bq.Lines, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Assign a line (or rows of lines) from just after the last point where any row is undefined, and
    return what was drawn. NaN in a filled or all-NaN row is an invalid SVG path in the browser."""
    finite = np.isfinite(y) if y.ndim == 1 else np.isfinite(y).all(axis=0)
    bad = np.flatnonzero(~finite)
    first = int(bad[-1]) + 1 if bad.size else 0
    drawn = y[first:] if y.ndim == 1 else y[:, first:]
    with mark.hold_sync():
        mark.x = t[first:]
        mark.y = drawn
    return drawn


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


class _BookChart(ChartPanel):
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

    def _time_ticks(self, ts: np.ndarray) -> None:
        """Round UTC times on the (data-spanned) time axis."""
        ticks = time_ticks(int(ts[0]), int(ts[-1]), max_ticks=6)
        set_ticks(self.time_axis, ticks.values, tick_format=ticks.tick_format)


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
        self.y_axis = y_axis(self.y)
        self.time_axis = time_axis(self.x)
        self.fig = figure([self.lines], [self.time_axis, self.y_axis], height, bottom=22)
        self.legend = html("mdx-legend mdx-mid-legend")
        self._unit = ""
        self.set_symbol("")
        self.widget = self._card("mdx-mid", self.legend, self.fig, axes=[self.time_axis, self.y_axis])

    def set_symbol(self, symbol: str) -> None:
        """Name the price unit (the symbol's quote currency) in the legend."""
        quote = fmt.units(symbol)[1]
        if quote == self._unit and self.legend.value:
            return
        self._unit = quote
        keys = (
            f"<span class='mdx-key' style='background:{theme.MID}'></span>mid"
            f"<span class='mdx-key' style='background:{theme.MICRO}'></span>microprice"
            f"<span class='mdx-key' style='background:{theme.BAND};height:6px;opacity:.5'></span>"
            "best bid–ask"
        )
        main = f"MID <span class='mdx-muted'>last {self.seconds:g} s · time UTC</span>"
        set_html(self.legend, legend_row(main, keys, quote))

    def _draw(self, table: np.ndarray) -> None:
        view = _window(table, self.seconds, self.max_points)
        view = view[np.isfinite(view[:, 1:5]).all(axis=1)]  # a one-sided book has no bid or ask
        with self.lines.hold_sync():
            self.lines.x = to_datetime(view[:, 0])
            self.lines.y = np.ascontiguousarray(view[:, [2, 1, 4, 3]].T)
        self._set_empty(view.shape[0] == 0)
        if view.shape[0]:
            precision = fmt.price_decimals(float(view[-1, 3]))
            lo, hi = float(view[:, 1].min()), float(view[:, 2].max())
            values, step = value_ticks(
                lo, hi, max_ticks=4, min_ticks=2, min_step=10.0**-precision, prefer=_step_of(self.y_axis)
            )
            set_ticks(self.y_axis, values, tick_format=f",.{price_decimals_for(step, precision)}f")
            self._time_ticks(view[:, 0])


class ImbalanceChart(_BookChart):
    """Top-of-book imbalance in [-1, 1] over the last ``seconds`` (bid-heavy above zero): the raw series
    faint and filled, its trailing mean over ``smooth_s`` seconds of event time on top."""

    def __init__(
        self, *, seconds: float = 120.0, height: int = 100, max_points: int = 300, smooth_s: float = 2.0
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
        self.y_axis = y_axis(self.y)
        self.y_axis.tick_values = np.array([-1.0, 0.0, 1.0])
        self.y_axis.tick_labels = {"-1": "−1 ask", "0": "0", "1": "+1 bid"}
        self.time_axis = time_axis(self.x)
        self.fig = figure([self.line], [self.time_axis, self.y_axis], height, bottom=22)
        self.fig.padding_y = 0.0
        self.legend = html(
            "mdx-legend mdx-imbalance-legend",
            legend_row(
                "IMBALANCE <span class='mdx-muted'>(bid − ask) / (bid + ask) size at the best prices;"
                f" line: {smooth_s:g} s mean · time UTC</span>"
            ),
        )
        self.widget = self._card("mdx-imbalance", self.legend, self.fig, axes=[self.time_axis, self.y_axis])

    def _draw(self, table: np.ndarray) -> None:
        rows = _window_rows(table, self.seconds + self.smooth_s, table.shape[0])  # all rows of the span
        span = table[rows]
        span = span[np.isfinite(span[:, 5])]  # an empty book has no imbalance
        smooth = time_mean(span[:, 0].astype(np.int64), span[:, 5], max(1, round(self.smooth_s * 1e9)))
        shown = _window_rows(span, self.seconds, self.max_points)
        view, smooth = span[shown], smooth[shown]
        with self.line.hold_sync():
            self.line.x = to_datetime(view[:, 0])
            # imbalance is in [-1, 1]: float32 is exact enough and halves the message
            self.line.y = np.vstack((view[:, 5], np.zeros(view.shape[0]), smooth)).astype(np.float32)
        self._set_empty(view.shape[0] == 0)
        if view.shape[0]:
            self._time_ticks(view[:, 0])


__all__ = [
    "INDICATORS",
    "WAITING",
    "CandleChart",
    "ChartPanel",
    "ImbalanceChart",
    "MidChart",
    "amount_labels",
    "figure",
    "legend_row",
    "price_axis",
    "set_ticks",
    "time_axis",
    "y_axis",
]
