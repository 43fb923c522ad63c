"""Order-book panels: a cumulative depth chart around the mid and a top-N price ladder.

Both read one ``BookView`` (``bids``/``asks`` as ``(n, 2)`` float arrays, best first) and redraw only
when handed a different view. A view that is out of sync is drawn, and says so.
"""

from __future__ import annotations

from html import escape
from typing import Any

import bqplot as bq
import numpy as np

from . import fmt, theme
from .base import Panel, html, set_html, vbox
from .charts import RIGHT, ChartPanel, _step_of, amount_labels, figure, legend_row, set_ticks, y_axis
from .data import EMPTY_F, depth_curves
from .ticks import price_decimals_for, smaller_step, step_decimals, value_ticks


class _ViewPanel(Panel):
    """A panel drawn from one ``BookView``: redrawn only when handed a different view (or ``force``)."""

    _view: Any = None
    updates = 0

    def update(self, view: Any, *, force: bool = False) -> bool:
        """Redraw from a ``BookView`` (or anything with ``bids``/``asks``/``mid``); None clears."""
        if view is self._view and not force:
            return False
        self._view = view
        self.updates += 1
        return self._draw(view)

    def _draw(self, view: Any) -> bool:
        raise NotImplementedError


class DepthChart(_ViewPanel, ChartPanel):
    """Cumulative bid (left, green) and ask (right, red) size against price, meeting at the spread.

    Sizes are in the base currency (``5 BTC`` on the y axis), prices in the quote currency; both axes
    have round ticks. With no book the card says it is waiting instead of drawing axes."""

    def __init__(self, *, levels: int = 50, height: int = 170) -> None:
        self.levels = levels
        self.x = bq.LinearScale()
        self.y = bq.LinearScale(min=0.0, allow_padding=False)
        scales = {"x": self.x, "y": self.y}
        # one mark, two rows (bids, asks) drawn as explicit steps (see ``depth_steps``); with no book,
        # a 1-D empty x (a 2-D x without columns breaks bqplot's view)
        self.lines = bq.Lines(
            x=EMPTY_F,
            y=np.empty((2, 0)),
            scales=scales,
            colors=[theme.UP, theme.DOWN],
            fill="bottom",
            fill_colors=[theme.UP, theme.DOWN],
            fill_opacities=[0.18, 0.18],
            stroke_width=1.2,
        )
        self.x_axis = bq.Axis(scale=self.x, color=theme.MUTED, grid_lines="none", tick_format=",.0f")
        self.y_axis = y_axis(self.y, ",.0f")
        self.fig = figure(
            [self.lines], [self.x_axis, self.y_axis], height, bottom=22, left=12, right=RIGHT - 6
        )
        self.fig.padding_y = 0.0
        self._size_max = 0.0
        self._centre, self._centre_step = 0.0, 0.0
        self.legend = html("mdx-legend mdx-depth-legend", _depth_legend(None))
        self.widget = self._card("mdx-depth", self.legend, self.fig, axes=[self.x_axis, self.y_axis])

    def _draw(self, view: Any) -> bool:
        x, y = depth_steps(view, self.levels) if view is not None else (EMPTY_F, np.empty((2, 0)))
        if not x.size:
            x, y = EMPTY_F, np.empty((2, 0))
        with self.lines.hold_sync():
            self.lines.x, self.lines.y = x, y
        self._set_empty(not x.size)
        if x.size:
            self._set_axes(view, x, y)
        set_html(self.legend, _depth_legend(view))
        return True

    def _set_axes(self, view: Any, x: np.ndarray, y: np.ndarray) -> None:
        """Price ticks: round multiples next to the mid (they change only when the mid moves past half a
        step); size axis: from 0 to a round maximum that grows at once and shrinks only when the depth
        drawn falls below 40% of it (a calmer axis, not redrawn on every update)."""
        lo, hi = float(x.min()), float(x.max())
        mid = float(view.mid) if np.isfinite(view.mid) else (lo + hi) / 2
        precision = fmt.price_decimals(mid)
        step = value_ticks(lo, hi, max_ticks=4, min_step=10.0**-precision, prefer=_step_of(self.x_axis))[1]
        while step > 10.0**-precision and mid + step > hi - 0.12 * (hi - lo):
            step = smaller_step(step)  # the ticks either side of the mid must fit inside the edges
        centre = self._centre
        if not (step == self._centre_step and abs(mid - centre) <= 0.75 * step):  # a little hysteresis
            centre, self._centre_step = round(mid / step) * step, step
        self._centre = centre
        values = np.round(centre + step * np.arange(-1.0, 2.0), step_decimals(step))
        values = values[(values > lo + 0.12 * (hi - lo)) & (values < hi - 0.12 * (hi - lo))]
        set_ticks(self.x_axis, values, tick_format=f",.{price_decimals_for(step, precision)}f")
        top = float(y.max())
        if not (self._size_max and 0.4 * self._size_max <= top <= self._size_max):
            size_step = value_ticks(0.0, top * 1.1, max_ticks=3, min_ticks=2)[1]
            self._size_max = float(np.ceil(top * 1.1 / size_step) * size_step)
            if self.y.max != self._size_max:
                self.y.max = self._size_max
        sizes, size_step = value_ticks(0.0, self._size_max * 0.92, max_ticks=3, min_ticks=2)
        sizes = sizes[sizes > 0]
        base = fmt.units(getattr(view, "symbol", ""))[0]
        set_ticks(self.y_axis, sizes, labels=amount_labels(sizes, size_step, base))


def depth_steps(view: Any, levels: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of shape ``(2, n)``: cumulative bid (row 0) and ask (row 1) depth as explicit steps, on
    a price range symmetric around the mid (so the mid sits in the middle of the chart).

    Bids, lowest price first: between two bid levels the depth is that of the higher one; asks: that of
    the lower one. Rows are padded to equal length by repeating their outer end point.
    """
    bid_px, bid_cum, ask_px, ask_cum = depth_curves(view.bids, view.asks, levels)
    mid = float(view.mid)
    if len(bid_px) and len(ask_px) and np.isfinite(mid):
        half = min(mid - bid_px[0], ask_px[-1] - mid)
        keep_b, keep_a = bid_px >= mid - half, ask_px <= mid + half
        bid_px, bid_cum, ask_px, ask_cum = bid_px[keep_b], bid_cum[keep_b], ask_px[keep_a], ask_cum[keep_a]
        # the depth beyond the outermost kept level is at least that level's: carry it to the edge
        if bid_px[0] > mid - half:
            bid_px, bid_cum = np.insert(bid_px, 0, mid - half), np.insert(bid_cum, 0, bid_cum[0])
        if ask_px[-1] < mid + half:
            ask_px, ask_cum = np.append(ask_px, mid + half), np.append(ask_cum, ask_cum[-1])
    bx, by = np.repeat(bid_px, 2)[:-1], np.repeat(bid_cum, 2)[1:]
    ax, ay = np.repeat(ask_px, 2)[1:], np.repeat(ask_cum, 2)[:-1]
    n = max(len(bx), len(ax))
    if n == 0:
        return np.empty((2, 0)), np.empty((2, 0))
    if not len(bx):
        bx, by = ax[:1], np.zeros(1)
    if not len(ax):
        ax, ay = bx[-1:], np.zeros(1)
    pad_b, pad_a = n - len(bx), n - len(ax)
    x = np.vstack((np.concatenate((np.full(pad_b, bx[0]), bx)), np.concatenate((ax, np.full(pad_a, ax[-1])))))
    y = np.vstack((np.concatenate((np.full(pad_b, by[0]), by)), np.concatenate((ay, np.full(pad_a, ay[-1])))))
    return x, y


def _depth_legend(view: Any) -> str:
    title = "DEPTH <span class='mdx-muted'>cumulative size</span>"
    if view is None:
        return legend_row(title)
    base, quote = fmt.units(getattr(view, "symbol", ""))
    bid_total = float(np.sum(view.bids[:, 1])) if len(view.bids) else 0.0
    ask_total = float(np.sum(view.asks[:, 1])) if len(view.asks) else 0.0
    sync = "" if getattr(view, "in_sync", True) else "<span class='mdx-badge'>OUT OF SYNC</span>"
    unit = f" {escape(base)}" if base else ""
    price = f" · price {escape(quote)}" if quote else ""
    return legend_row(
        f"{title} <span class='mdx-num mdx-up'>{fmt.amount(bid_total)}</span>"
        f" <span class='mdx-muted'>/</span> <span class='mdx-num mdx-down'>{fmt.amount(ask_total)}</span>"
        f"<span class='mdx-muted'>{unit} in {len(view.bids)}+{len(view.asks)} levels{price}</span>{sync}"
    )


class Ladder(_ViewPanel):
    """Top-N price ladder: asks above (best nearest the middle), the spread, bids below.

    Two bars per row, told apart by shape and strength: the level's own size as a solid strip along the
    row's foot, the cumulative size from the best price as a faint fill of the whole row (both drawn
    from the right, on one scale per kind for both sides). The header names the units."""

    def __init__(self, *, levels: int = 10) -> None:
        self.levels = levels
        self.body = html("mdx-ladder-body", ladder_html(None, levels))
        self.title = html("mdx-card-title", _ladder_title())
        self.widget = vbox("mdx-card mdx-ladder", self.title, self.body)

    def _draw(self, view: Any) -> bool:
        return set_html(self.body, ladder_html(view, self.levels))


def _ladder_title() -> str:
    return (
        "ORDER BOOK <span class='mdx-ladder-keys'>"
        "<span class='mdx-ladder-key mdx-key-size'></span>size"
        "<span class='mdx-ladder-key mdx-key-total'></span>total</span>"
    )


def _rows(levels: np.ndarray, side: str, size_scale: float, total_scale: float, dp: int) -> list[str]:
    rows = []
    cum = 0.0
    for px, size in levels.tolist():
        cum += size
        w = min(100.0, 100.0 * size / size_scale) if size_scale > 0 else 0.0
        c = min(100.0, 100.0 * cum / total_scale) if total_scale > 0 else 0.0
        rows.append(
            f"<div class='mdx-lr mdx-{side}' style='--w:{w:.1f}%;--c:{c:.1f}%'><span>{fmt.price(px, dp)}"
            f"</span><span>{fmt.amount(size)}</span><span>{fmt.amount(cum)}</span></div>"
        )
    return rows


def ladder_html(view: Any, levels: int = 10) -> str:
    """The ladder for one ``BookView`` (a placeholder when there is none yet): rows are grids with a
    size strip (``--w``) and a cumulative fill (``--c``) drawn from the right."""
    base, quote = fmt.units(getattr(view, "symbol", "") if view is not None else "")
    head = (
        "<div class='mdx-lr mdx-ladder-head'>"
        f"<span>price{_unit(quote)}</span><span>size{_unit(base)}</span><span>total{_unit(base)}</span></div>"
    )
    if view is None or (not len(view.bids) and not len(view.asks)):
        return head + "<div class='mdx-muted mdx-ladder-wait'>waiting for the book…</div>"
    bids = np.asarray(view.bids)[:levels]
    asks = np.asarray(view.asks)[:levels]
    sizes = np.concatenate((bids[:, 1], asks[:, 1]))
    size_scale = float(np.max(sizes)) if sizes.size else 0.0
    total_scale = max(float(bids[:, 1].sum()), float(asks[:, 1].sum()))
    ref = float(view.mid) if np.isfinite(view.mid) else float((bids if len(bids) else asks)[0, 0])
    dp = fmt.price_decimals(ref)
    ask_rows = _rows(asks, "ask", size_scale, total_scale, dp)[::-1]
    bid_rows = _rows(bids, "bid", size_scale, total_scale, dp)
    sync = "" if getattr(view, "in_sync", True) else " <span class='mdx-badge'>OUT OF SYNC</span>"
    spread = (
        f"<div class='mdx-ladder-spread'>spread {fmt.price(float(view.spread), dp)}"
        f" · {fmt.bps(float(view.spread_bps))} bps{sync}</div>"
    )
    return head + "".join(ask_rows) + spread + "".join(bid_rows)


def _unit(unit: str) -> str:
    return f" <span class='mdx-unit'>{escape(unit)}</span>" if unit else ""


__all__ = ["DepthChart", "Ladder", "depth_steps", "ladder_html"]
