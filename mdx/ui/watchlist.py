"""The watchlist: every configured symbol with last, change %, spread and a sparkline; click to select.

Each row is an HTML widget with an invisible button stretched over it (``mdx-watch-hit``), so the whole
row is clickable while the content stays rich HTML (the sparkline is inline SVG: no extra figures).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from html import escape

import ipywidgets as widgets

from . import fmt, theme
from .base import Panel, html, set_html
from .data import sparkline_points
from .values import WatchValues

SPARK_W, SPARK_H = 74, 20


def slug(symbol: str) -> str:
    """``BTC/USDT:USDT`` -> ``btc-usdt-usdt`` (for DOM classes)."""
    return re.sub(r"[^a-z0-9]+", "-", symbol.lower()).strip("-")


class Watchlist(Panel):
    def __init__(self, symbols: Sequence[str], *, on_select: Callable[[str], None] | None = None) -> None:
        self._on_select = on_select
        self.rows: dict[str, widgets.HTML] = {}
        self.boxes: dict[str, widgets.Box] = {}
        self.selected = ""
        self.title = html("mdx-card-title", "WATCHLIST")
        self.list = widgets.VBox([])
        self.widget = widgets.VBox([self.title, self.list])
        self.widget.add_class("mdx-card")
        self.widget.add_class("mdx-watchlist")
        self.values: dict[str, WatchValues] = {}
        self.set_symbols(symbols)

    def set_symbols(self, symbols: Sequence[str]) -> None:
        boxes = []
        for symbol in symbols:
            if symbol not in self.boxes:
                row = html("mdx-watch-content", _row_html(symbol, WatchValues()))
                hit = widgets.Button(description=symbol, tooltip=f"show {symbol}")
                hit.add_class("mdx-watch-hit")
                hit.on_click(lambda _button, s=symbol: self._clicked(s))
                box = widgets.Box([row, hit])
                box.add_class("mdx-watch-row")
                box.add_class(f"mdx-watch-{slug(symbol)}")
                self.rows[symbol], self.boxes[symbol] = row, box
            boxes.append(self.boxes[symbol])
        self.list.children = tuple(boxes)

    def on_select(self, callback: Callable[[str], None]) -> None:
        self._on_select = callback

    def _clicked(self, symbol: str) -> None:
        self.select(symbol)
        if self._on_select is not None:
            self._on_select(symbol)

    def select(self, symbol: str) -> None:
        """Highlight ``symbol``'s row (does not call back)."""
        if symbol == self.selected:
            return
        if self.selected in self.boxes:
            self.boxes[self.selected].remove_class("mdx-selected")
        if symbol in self.boxes:
            self.boxes[symbol].add_class("mdx-selected")
        self.selected = symbol

    def update(self, values: Mapping[str, WatchValues]) -> int:
        """Redraw rows whose values changed; returns how many did."""
        changed = 0
        for symbol, v in values.items():
            row = self.rows.get(symbol)
            if row is None:
                continue
            self.values[symbol] = v
            changed += set_html(row, _row_html(symbol, v))
        return changed


def _row_html(symbol: str, v: WatchValues) -> str:
    change = math.nan if v.change_pct is None else v.change_pct
    tone = "mdx-up" if change >= 0 else "mdx-down" if change < 0 else "mdx-muted"
    points = sparkline_points(v.prices, SPARK_W, SPARK_H) if len(v.prices) else ""
    color = theme.MUTED
    if len(v.prices) >= 2:
        color = theme.UP if v.prices[-1] >= v.prices[0] else theme.DOWN
    spark = (
        f"<svg width='{SPARK_W}' height='{SPARK_H}' viewBox='0 0 {SPARK_W} {SPARK_H}'>"
        f"<polyline fill='none' stroke='{color}' stroke-width='1.2' points='{points}'/></svg>"
        if points
        else f"<svg width='{SPARK_W}' height='{SPARK_H}'></svg>"
    )
    return (
        "<div class='mdx-watch-grid'>"
        f"<div class='mdx-watch-sym'>{escape(symbol)}</div>"
        f"<div class='mdx-watch-last {tone}'>{fmt.price(v.last)}</div>"
        f"<div class='mdx-watch-meta'><span class='{tone}'>{fmt.pct(v.change_pct)}</span>"
        f" · {fmt.bps(v.spread_bps)} bps</div>"
        f"<div class='mdx-watch-spark'>{spark}</div>"
        "</div>"
    )


__all__ = ["WatchValues", "Watchlist", "slug"]
