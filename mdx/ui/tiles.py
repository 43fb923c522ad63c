"""Headline tiles: last, change, best bid/ask, spread, imbalance, bar volume, msg/s, data age.

Each tile names its unit: prices in the symbol's quote currency, the bar volume in its base currency,
msg/s for the selected symbol (the status line shows the total over all symbols).

Each tile is an element with the stable DOM classes ``mdx-tile mdx-tile-<name>`` (value in
``.mdx-tile-value``, number in its ``data-value`` attribute). All tiles live in one HTML widget
(``mdx-tiles``): most of them change on every refresh, and one message is much cheaper for the kernel
than nine. ``Tiles.update(values)`` takes a ``TileValues`` of plain floats (None = unknown, a dash);
``tiles.values`` keeps the numbers last shown and ``tiles.text(name)`` the text, for tests.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from html import escape

import ipywidgets as widgets

from . import fmt
from .base import Panel, html, set_html
from .values import TileValues

# name -> label; the order is the order on screen
TILES = {
    "last": "last",
    "change": "change",
    "bid": "best bid",
    "ask": "best ask",
    "spread": "spread bps",
    "imbalance": "imbalance",
    "volume": "bar volume",
    "rate": "msg/s",
    "age": "data age",
}


def _num(value: float | None) -> float:
    """None (unknown) as NaN, so comparisons are simply False."""
    return math.nan if value is None else float(value)


class Tiles(Panel):
    def __init__(self) -> None:
        self.widget: widgets.HTML = html("mdx-tiles")
        self.texts: dict[str, str] = {}
        self.values = TileValues()
        self._prev_last: float | None = None
        self._tone_last = ""
        self.updates = 0
        self.update(TileValues())

    def text(self, name: str) -> str:
        """The value text of a tile (what a browser reads from ``.mdx-tile-<name> .mdx-tile-value``)."""
        return self.texts[name]

    def update(self, v: TileValues) -> bool:
        """Redraw the tiles; True when any text changed."""
        last, prev = _num(v.last), _num(self._prev_last)
        if math.isfinite(last) and math.isfinite(prev) and last != prev:
            self._tone_last = "mdx-up" if last > prev else "mdx-down"
        if math.isfinite(last):
            self._prev_last = last
        dp = fmt.price_decimals(last) if math.isfinite(last) else None
        change, imbalance, age = _num(v.change_pct), _num(v.imbalance), _num(v.age_ms)
        base, quote = fmt.units(v.symbol)
        change_tone = "mdx-up" if change >= 0 else "mdx-down" if change < 0 else ""
        imb_tone = "mdx-up" if imbalance > 0.05 else "mdx-down" if imbalance < -0.05 else ""
        age_tone = "mdx-down" if age > v.stale_after_ms else "mdx-warn-text" if age > 1000 else ""
        tiles = (  # name, number, text, tone, note
            ("last", v.last, fmt.price(v.last, dp), self._tone_last, quote),
            ("change", v.change_pct, fmt.pct(v.change_pct), change_tone, v.change_basis),
            ("bid", v.bid, fmt.price(v.bid, dp), "mdx-up", quote),
            ("ask", v.ask, fmt.price(v.ask, dp), "mdx-down", quote),
            ("spread", v.spread_bps, fmt.bps(v.spread_bps), "", ""),
            ("imbalance", v.imbalance, fmt.signed(v.imbalance), imb_tone, ""),
            ("volume", v.bar_volume, fmt.amount(v.bar_volume), "", f"{v.timeframe} {base}".strip()),
            ("rate", v.rate, fmt.rate(v.rate), "", v.symbol),
            ("age", v.age_ms, fmt.age_ms(v.age_ms), age_tone, ""),
        )
        parts = []
        for name, number, text, tone, note in tiles:
            note_html = f"<span class='mdx-tile-note'>{escape(note)}</span>" if note else ""
            data = "" if number is None else f"{number:.10g}"
            parts.append(
                f"<div class='mdx-tile mdx-tile-{name}'>"
                f"<div class='mdx-tile-label'>{TILES[name]}{note_html}</div>"
                f"<div class='mdx-tile-value {tone}' data-value='{data}'>{text}</div></div>"
            )
            self.texts[name] = text
        self.values = v
        self.updates += 1
        return set_html(self.widget, "".join(parts))

    def as_dict(self) -> dict[str, object]:
        return asdict(self.values)


__all__ = ["TILES", "TileValues", "Tiles"]
