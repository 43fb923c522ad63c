"""Recent trades: the last N prints, newest on top; buys green with ▲, sells red with ▼, big ones bold."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import Any

import ipywidgets as widgets

from . import fmt
from .base import Panel, html, set_html


class TradesTable(Panel):
    def __init__(self, *, rows: int = 20) -> None:
        self.rows = rows
        self.body = html("mdx-trades-body", trades_html(()))
        self.widget = widgets.VBox([html("mdx-card-title", "TRADES"), self.body])
        self.widget.add_class("mdx-card")
        self.widget.add_class("mdx-trades")
        self._last: Any = None
        self._count = -1
        self.updates = 0

    def update(self, trades: Sequence[Any], *, force: bool = False) -> bool:
        """``trades``: ``Trade`` events oldest first (e.g. ``cache.trades(key)``)."""
        last = trades[-1] if trades else None
        if not force and last is self._last and len(trades) == self._count:
            return False
        self._last, self._count = last, len(trades)
        self.updates += 1
        return set_html(self.body, trades_html(trades[-self.rows :]))


def _big_threshold(trades: Sequence[Any]) -> float:
    """Prints in the top decile of the shown ones, and at least 3x their median, are 'big' (bold)."""
    if len(trades) < 5:
        return float("inf")
    amounts = sorted(t.amount for t in trades)
    return max(amounts[int(0.9 * (len(amounts) - 1))], 3.0 * median(amounts))


def trades_html(trades: Sequence[Any]) -> str:
    head = "<table class='mdx-table mdx-trades-table'><tr><th>time (utc)</th><th>price</th><th>size</th></tr>"
    if not trades:
        return head + "<tr><td colspan='3' class='mdx-muted'>waiting for trades…</td></tr></table>"
    big = _big_threshold(trades)
    dp = fmt.price_decimals(trades[-1].price)
    rows = []
    for trade in reversed(trades):
        side = "buy" if trade.side == "buy" else "sell" if trade.side == "sell" else "unknown"
        arrow = "▲" if side == "buy" else "▼" if side == "sell" else "·"
        classes = f"mdx-{side}" + (" mdx-big" if trade.amount >= big else "")
        rows.append(
            f"<tr class='{classes}'><td class='mdx-muted'>{fmt.clock_time(trade.ts_event)}</td>"
            f"<td class='mdx-px'>{fmt.price(trade.price, dp)} {arrow}</td>"
            f"<td>{fmt.amount(trade.amount)}</td></tr>"
        )
    return head + "".join(rows) + "</table>"


__all__ = ["TradesTable", "trades_html"]
