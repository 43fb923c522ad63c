"""The venue table: each (exchange, symbol) with its price, deviation from the other venues, latency,
state and whether the composite price uses it; then each asset's composite price ("stale, 12 s old"
when no venue is healthy).

One HTML widget (``mdx-venues``), hidden while one exchange streams. Stable DOM classes for tests:
``mdx-venue-table``, ``mdx-venue-row`` (``data-exchange``, ``data-symbol``, ``data-state``; state in
``.mdx-venue-state``, price in ``.mdx-venue-price``), ``mdx-venue-in-use`` on the row the composite comes
from, and ``mdx-composite`` (``data-asset``, ``data-stale``) per asset.
"""

from __future__ import annotations

from html import escape

from ..market.venues import VenueRow
from . import fmt
from .base import OptionalCard, set_html
from .venues_model import NO_VENUES, CompositeLine, VenueValues

HEAD = ("exchange", "symbol", "price", "dev bps", "p50 ms", "p99 ms", "age", "state", "")
STATE_TONE = {
    "ok": "mdx-up",
    "flagged": "mdx-warn-text",
    "stale": "mdx-down",
    "reconnecting": "mdx-warn-text",
    "error": "mdx-down",
}


def _ms(value: float) -> str:
    return fmt.DASH if value != value else f"{value:,.1f}"  # NaN: not known yet


def _row(row: VenueRow) -> str:
    in_use = " mdx-venue-in-use" if row.in_use else ""
    state = escape(row.state)
    cells = (
        escape(row.exchange),
        escape(row.symbol),
        f"<span class='mdx-venue-price'>{fmt.price(row.price)}</span>",
        fmt.signed(row.deviation_bps, 1),
        _ms(row.latency_p50_ms),
        _ms(row.latency_p99_ms),
        fmt.age_ms(row.age_ms),
        f"<span class='mdx-venue-state {STATE_TONE.get(row.state, '')}'>{state}</span>",
        "<span class='mdx-venue-use' title='the composite price comes from this venue'>●</span>"
        if row.in_use
        else "",
    )
    return (
        f"<tr class='mdx-venue-row{in_use}' data-exchange='{escape(row.exchange)}' "
        f"data-symbol='{escape(row.symbol)}' data-state='{state}'>"
        + "".join(f"<td>{cell}</td>" for cell in cells)
        + "</tr>"
    )


def _composite(line: CompositeLine) -> str:
    note = (
        f"<span class='mdx-down'>stale, {fmt.seconds(line.age_s)} old</span>"
        if line.stale
        else f"<span class='mdx-muted'>from {escape(line.venue)} {escape(line.venue_symbol)}</span>"
    )
    stale = "true" if line.stale else "false"
    return (
        f"<div class='mdx-composite' data-asset='{escape(line.asset)}' data-stale='{stale}'>"
        f"<span class='mdx-muted'>{escape(line.asset)}</span> "
        f"<span class='mdx-composite-price'>{fmt.price(line.price)}</span> {note}</div>"
    )


class VenuesPanel(OptionalCard):
    """The venue table (see the module docstring); ``update(values)`` redraws only when they changed."""

    def __init__(self) -> None:
        title = ("VENUES <span class='mdx-muted'>mid · deviation from the others' median · latency "
                 "(receive − exchange time)</span>")  # fmt: skip
        super().__init__(title, "mdx-venues", "mdx-venues-panel")
        self.values: VenueValues | None = None
        self.update(NO_VENUES)

    def update(self, values: VenueValues, force: bool = False) -> bool:
        if values is self.values and not force:
            return False
        self.values = values
        if not self._show(values.shown):
            return False
        head = "".join(f"<th>{name}</th>" for name in HEAD)
        table = (
            f"<table class='mdx-table mdx-venue-table'><tr>{head}</tr>"
            + "".join(_row(row) for row in values.rows)
            + "</table>"
        )
        composites = "".join(_composite(line) for line in values.composites)
        return set_html(self.body, table + f"<div class='mdx-composites'>{composites}</div>")


__all__ = ["VenuesPanel"]
