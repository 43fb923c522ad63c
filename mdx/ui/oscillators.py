"""MACD and RSI sub-charts: small bqplot figures under the price chart, on its time domain.

Both are created once and hidden until shown (``set_visible``; the app's ``MACD`` / ``RSI`` toggles): a
hidden chart is collapsed and not updated at all, so it costs nothing per refresh, and showing it
redraws it from the bars it was last given. The values are the package's streaming
indicators (``mdx.analytics.indicators``
``MACD(12, 26, 9)`` and ``RSI(14)``) fed once per closed bar (``BarSeries.track``), the open bar evaluated
on a copy: equal to the batch ``macd`` / ``rsi`` over the same closes. Cards have the DOM classes
``mdx-osc-card mdx-macd`` / ``mdx-osc-card mdx-rsi``.
"""

from __future__ import annotations

from typing import Any

import bqplot as bq
import numpy as np

from . import theme
from .base import html, set_html
from .charts import ChartPanel, _set_line, figure, legend_row, set_ticks, y_axis
from .data import EMPTY_F, EMPTY_T, BarSeries, indicators_module
from .ticks import step_decimals, value_ticks

SUBCHARTS = ("macd", "rsi")
OPEN_BAR_EVERY = 4  # redraw for a moving open bar at most every 4th refresh (once a second at 4 Hz)


class _Oscillator(ChartPanel):
    """What both sub-charts share: a date x scale following the candles' domain, a right-hand y axis,
    visibility, and a redraw only when the bars or the domain changed."""

    visible = False
    updates = 0
    _drawn: Any = None
    _series: BarSeries | None = None

    def _setup(self, css_class: str, marks: list[bq.Mark], height: int) -> None:
        self.fig = figure(marks, [self.y_axis], height, top=4, bottom=4)
        self.legend = html(f"mdx-legend mdx-{css_class}-legend")
        self.widget = self._card(css_class, self.legend, self.fig, axes=[self.y_axis], base="mdx-osc-card")
        self._collapse(True)

    def set_visible(self, visible: bool) -> None:
        """Show or hide the card (no figure is rebuilt); a chart shown again redraws at once."""
        if visible == self.visible:
            return
        self.visible = visible
        self._collapse(not visible)
        if visible and self._series is not None:
            self.update(self._series, self._window, self._domain_shown, force=True)

    def _collapse(self, hidden: bool) -> None:
        """Hidden: the card collapsed to no height through its layout, not ``display: none`` (bqplot lays
        a figure out at width 0 in a box that is not displayed: negative sizes in the browser's console),
        and not by a DOM class (two class changes in a row can reach the page as one)."""
        layout = self.widget.layout  # explicit values both ways: a None does not clear a style in the page
        with layout.hold_sync():
            layout.height = "0px" if hidden else "auto"
            layout.overflow = "hidden" if hidden else "visible"
            layout.visibility = "hidden" if hidden else "visible"
            layout.border = "none" if hidden else f"1px solid {theme.BORDER}"
            layout.padding = "0px" if hidden else "2px 2px 0px 2px"
            layout.margin = "-8px 0px 0px 0px" if hidden else "0px"  # no gap above a collapsed card

    @property
    def hidden(self) -> bool:
        return self.widget.layout.visibility == "hidden"

    _open_bar_changes = 0
    _window = 120
    _domain_shown: Any = None
    _domain_set: Any = None

    def update(self, series: BarSeries, window: int, domain: Any = None, *, force: bool = False) -> bool:
        """Draw the last ``window`` bars of ``series`` on the time ``domain`` (the candles'). A change of the
        open bar alone is drawn at most every ``OPEN_BAR_EVERY``-th time (a closed bar, another series or
        ``force`` at once): the open bar's oscillator value is a glance value, and each redraw costs."""
        self._series, self._window, self._domain_shown = series, window, domain
        if not self.visible:
            return False
        arrays = series.arrays
        last = self._drawn
        closed = series.closed.version
        if not force and last is not None and last[0] is series and last[3] == closed and last[2] == domain:
            if last[1] is arrays:
                return False
            self._open_bar_changes += 1
            if self._open_bar_changes < OPEN_BAR_EVERY:
                return False
        self._open_bar_changes = 0
        self._drawn = (series, arrays, domain, closed)
        self.updates += 1
        view = arrays.tail(window)
        if domain is not None and domain != self._domain_set:
            self._domain_set = domain
            with self.x.hold_sync():
                self.x.min, self.x.max = domain
        self._draw(series, view.time, window)
        return True

    def _draw(self, series: BarSeries, t: np.ndarray, window: int) -> None:
        raise NotImplementedError


class MacdChart(_Oscillator):
    """MACD line and signal line over the histogram (green above zero, red below)."""

    def __init__(self, *, fast: int = 12, slow: int = 26, signal: int = 9, height: int = 84) -> None:
        self.params = (fast, slow, signal)
        self.x = bq.DateScale()
        self.y = bq.LinearScale(allow_padding=False)
        scales = {"x": self.x, "y": self.y}
        self.histogram = bq.OHLC(
            x=EMPTY_T, y=np.empty((0, 4)), scales=scales, marker="candle", colors=[theme.UP, theme.DOWN],
            opacities=[0.5], stroke=None, stroke_width=0.0, format="ohlc",
        )  # fmt: skip
        self.lines = bq.Lines(
            x=EMPTY_T, y=np.empty((2, 0)), scales=scales, colors=[theme.ACCENT, theme.EMA],
            opacities=[0.95, 0.9], stroke_width=1.1,
        )  # fmt: skip
        self.y_axis = y_axis(self.y)
        self._setup("mdx-macd", [self.histogram, self.lines], height)
        set_html(self.legend, self._legend(None))

    def _legend(self, last: np.ndarray | None) -> str:
        fast, slow, signal = self.params
        values = ""
        if last is not None and np.isfinite(last).all():
            values = (
                f" &nbsp;<span class='mdx-num'>{last[0]:,.4g} / {last[1]:,.4g} / "
                f"<span class='{'mdx-up' if last[2] >= 0 else 'mdx-down'}'>{last[2]:+,.4g}</span></span>"
            )
        keys = (
            f"<span class='mdx-key' style='background:{theme.ACCENT}'></span>macd"
            f"<span class='mdx-key' style='background:{theme.EMA}'></span>signal"
        )
        return legend_row(f"MACD <span class='mdx-muted'>{fast}, {slow}, {signal}</span>{values}", keys)

    def _draw(self, series: BarSeries, t: np.ndarray, window: int) -> None:
        fast, slow, signal = self.params
        make = lambda: indicators_module().MACD(fast, slow, signal)  # noqa: E731
        values = series.track(("macd", *self.params), make, window)
        values = values.reshape(-1, 3)[-len(t) :] if len(t) else np.empty((0, 3))
        drawn = _set_line(self.lines, t, np.ascontiguousarray(values[:, :2].T))
        hist = values[:, 2]
        ok = np.isfinite(hist)
        h = hist[ok]
        zero = np.zeros_like(h)
        with self.histogram.hold_sync():
            self.histogram.x = t[ok]
            self.histogram.y = np.column_stack((zero, np.maximum(h, 0.0), np.minimum(h, 0.0), h))
        self._set_empty(not h.size)
        if h.size:
            lo = min(float(h.min()), float(drawn.min()) if drawn.size else 0.0, 0.0)
            hi = max(float(h.max()), float(drawn.max()) if drawn.size else 0.0, 0.0)
            if hi <= lo:
                hi = lo + 1e-9
            ticks, step = value_ticks(lo, hi, max_ticks=3, min_ticks=2)
            set_ticks(
                self.y_axis, ticks, tick_format=f",.{step_decimals(step)}f", scale=self.y, domain=(lo, hi)
            )
        set_html(self.legend, self._legend(values[-1] if len(values) else None))


class RsiChart(_Oscillator):
    """RSI with its 30 / 70 guides on a fixed 0-100 axis."""

    def __init__(self, *, n: int = 14, height: int = 72) -> None:
        self.n = n
        self.x = bq.DateScale()
        self.y = bq.LinearScale(min=0.0, max=100.0, allow_padding=False)
        self.guides = bq.Lines(
            x=EMPTY_T, y=np.empty((2, 0)), scales={"x": self.x, "y": self.y}, colors=[theme.FAINT] * 2,
            opacities=[0.8, 0.8], stroke_width=1.0, line_style="dashed",
        )  # fmt: skip
        self.line = bq.Lines(
            x=EMPTY_T,
            y=EMPTY_F,
            scales={"x": self.x, "y": self.y},
            colors=[theme.BOLLINGER],
            stroke_width=1.2,
        )
        self.y_axis = y_axis(self.y, ",.0f")
        self.y_axis.tick_values = np.array([30.0, 70.0])
        self._setup("mdx-rsi", [self.guides, self.line], height)
        self.fig.padding_y = 0.0
        set_html(self.legend, self._legend(float("nan")))

    def _legend(self, value: float) -> str:
        shown = ""
        if np.isfinite(value):
            tone = "mdx-down" if value >= 70 else "mdx-up" if value <= 30 else ""
            shown = f" &nbsp;<span class='mdx-num {tone}'>{value:.1f}</span>"
        return legend_row(f"RSI <span class='mdx-muted'>{self.n} · guides 30 / 70</span>{shown}")

    def _draw(self, series: BarSeries, t: np.ndarray, window: int) -> None:
        n = self.n
        values = series.track(("rsi", n), lambda: indicators_module().RSI(n), window)
        values = values[-len(t) :] if len(t) else EMPTY_F
        drawn = _set_line(self.line, t, values)
        ends = t[[0, -1]] if len(t) else EMPTY_T
        with self.guides.hold_sync():
            self.guides.x = ends
            self.guides.y = np.array([[30.0] * len(ends), [70.0] * len(ends)])
        self._set_empty(not drawn.size)
        set_html(self.legend, self._legend(float(values[-1]) if len(values) else float("nan")))


__all__ = ["SUBCHARTS", "MacdChart", "RsiChart"]
