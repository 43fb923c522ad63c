"""Order-book panels: a cumulative depth chart around the mid and a top-N price ladder.

Both read one ``BookView`` (``bids``/``asks`` as ``(n, 2)`` float arrays, best first) and redraw only
when handed a different view. A view that is out of sync is drawn, and says so.
"""

from __future__ import annotations

from typing import Any

import bqplot as bq
import numpy as np

from . import fmt, theme
from .base import Panel, html, set_html, vbox
from .charts import figure
from .data import depth_curves


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


class DepthChart(_ViewPanel):
    """Cumulative bid (left, green) and ask (right, red) size against price, meeting at the spread."""

    def __init__(self, *, levels: int = 50, height: int = 170) -> None:
        self.levels = levels
        self.x = bq.LinearScale()
        self.y = bq.LinearScale(min=0.0, allow_padding=False)
        scales = {"x": self.x, "y": self.y}
        # one mark, two rows (bids, asks) drawn as explicit steps (see ``depth_steps``)
        self.lines = bq.Lines(
            x=np.empty((2, 0)),
            y=np.empty((2, 0)),
            scales=scales,
            colors=[theme.UP, theme.DOWN],
            fill="bottom",
            fill_colors=[theme.UP, theme.DOWN],
            fill_opacities=[0.18, 0.18],
            stroke_width=1.2,
        )
        self.x_axis = bq.Axis(scale=self.x, color=theme.MUTED, num_ticks=3, grid_lines="none")
        y_axis = bq.Axis(
            scale=self.y,
            side="right",
            color=theme.MUTED,
            num_ticks=3,
            tick_format=",.3~r",
            grid_lines="solid",
            grid_color=theme.GRID,
        )
        self.fig = figure([self.lines], [self.x_axis, y_axis], height, bottom=22)
        self.fig.fig_margin = {"top": 6, "bottom": 22, "left": 34, "right": 44}
        self.fig.padding_y = 0.0
        self.legend = html("mdx-legend mdx-depth-legend", "DEPTH")
        self.widget = vbox("mdx-chart-card mdx-depth", self.legend, self.fig)

    def _draw(self, view: Any) -> bool:
        x, y = depth_steps(view, self.levels) if view is not None else (np.empty((2, 0)), np.empty((2, 0)))
        with self.lines.hold_sync():
            self.lines.x, self.lines.y = x, y
        if view is not None and np.isfinite(view.mid):
            tick = f",.{fmt.price_decimals(float(view.mid))}f"
            if self.x_axis.tick_format != tick:
                self.x_axis.tick_format = tick
        set_html(self.legend, _depth_legend(view))
        return True


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
    if view is None:
        return "DEPTH"
    bid_total = float(np.sum(view.bids[:, 1])) if len(view.bids) else 0.0
    ask_total = float(np.sum(view.asks[:, 1])) if len(view.asks) else 0.0
    sync = "" if getattr(view, "in_sync", True) else "<span class='mdx-badge'>OUT OF SYNC</span>"
    return (
        f"DEPTH <span class='mdx-num mdx-up'>{fmt.amount(bid_total)}</span>"
        f" <span class='mdx-muted'>/</span> <span class='mdx-num mdx-down'>{fmt.amount(ask_total)}</span>"
        f" <span class='mdx-muted'>in {len(view.bids)}+{len(view.asks)} levels</span>{sync}"
    )


class Ladder(_ViewPanel):
    """Top-N price ladder: asks above (best nearest the middle), the spread, bids below; size bars."""

    def __init__(self, *, levels: int = 10) -> None:
        self.levels = levels
        self.body = html("mdx-ladder-body")
        self.widget = vbox("mdx-card mdx-ladder", html("mdx-card-title", "ORDER BOOK"), self.body)

    def _draw(self, view: Any) -> bool:
        return set_html(self.body, ladder_html(view, self.levels))


def _rows(levels: np.ndarray, side: str, scale: float, dp: int) -> list[str]:
    rows = []
    cum = 0.0
    for px, size in levels:
        cum += size
        width = min(100.0, 100.0 * size / scale) if scale > 0 else 0.0
        rows.append(
            f"<div class='mdx-lr mdx-{side}' style='--w:{width:.1f}%'><span>{fmt.price(float(px), dp)}"
            f"</span><span>{fmt.amount(float(size))}</span><span>{fmt.amount(cum)}</span></div>"
        )
    return rows


def ladder_html(view: Any, levels: int = 10) -> str:
    """The ladder for one ``BookView`` (a placeholder when there is none yet): rows are grids, each with a
    size bar drawn from the right."""
    head = "<div class='mdx-lr mdx-ladder-head'><span>price</span><span>size</span><span>total</span></div>"
    if view is None or (not len(view.bids) and not len(view.asks)):
        return head + "<div class='mdx-muted mdx-ladder-wait'>waiting for the book…</div>"
    bids = np.asarray(view.bids)[:levels]
    asks = np.asarray(view.asks)[:levels]
    sizes = np.concatenate((bids[:, 1], asks[:, 1]))
    scale = float(np.max(sizes)) if sizes.size else 0.0
    ref = float(view.mid) if np.isfinite(view.mid) else float((bids if len(bids) else asks)[0, 0])
    dp = fmt.price_decimals(ref)
    ask_rows = _rows(asks, "ask", scale, dp)[::-1]
    bid_rows = _rows(bids, "bid", scale, dp)
    sync = "" if getattr(view, "in_sync", True) else " <span class='mdx-badge'>OUT OF SYNC</span>"
    spread = (
        f"<div class='mdx-ladder-spread'>spread {fmt.price(float(view.spread), dp)}"
        f" · {fmt.bps(float(view.spread_bps))} bps{sync}</div>"
    )
    return head + "".join(ask_rows) + spread + "".join(bid_rows)


__all__ = ["DepthChart", "Ladder", "depth_steps", "ladder_html"]
