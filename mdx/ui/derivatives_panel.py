"""The derivatives panel of the selected perpetual: funding rate (% per interval) and time to the next
funding, mark and index price, open interest (amount and value) and the last liquidations.

One HTML widget (``mdx-derivatives``), hidden when the symbol has none of it. Stable DOM classes for
tests: ``mdx-funding``, ``mdx-mark``, ``mdx-open-interest`` (each with its value in ``data-value``) and
``mdx-liquidations`` (a table of ``mdx-liquidation`` rows: time UTC, side, price, amount).
"""

from __future__ import annotations

from html import escape

from . import fmt
from .base import OptionalCard, set_html
from .derivatives_model import NO_DERIVATIVES, DerivativesValues


def _data(value: float | None) -> str:
    return "" if value is None else f"{value:.10g}"


def _funding_text(v: DerivativesValues) -> str:
    if v.funding_pct is None:
        return fmt.DASH
    text = f"{v.funding_pct:+.4f}%"
    if v.next_funding_s is not None:
        text += f" <span class='mdx-muted'>next in {_duration(v.next_funding_s)}</span>"
    return text


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


class DerivativesPanel(OptionalCard):
    def __init__(self) -> None:
        super().__init__("DERIVATIVES", "mdx-derivatives", "mdx-derivatives-panel")
        self.values: DerivativesValues | None = None
        self.update(NO_DERIVATIVES)

    def update(self, v: DerivativesValues, force: bool = False) -> bool:
        if v is self.values and not force:
            return False
        self.values = v
        if not self._show(v.shown):
            return False
        base, quote = fmt.units(v.symbol)
        set_html(
            self.title,
            f"DERIVATIVES <span class='mdx-muted'>{escape(v.symbol)} on {escape(v.exchange)}</span>",
        )
        figures = (
            f"<div class='mdx-funding' data-value='{_data(v.funding_pct)}'>"
            f"<span class='mdx-muted'>funding</span> {_funding_text(v)}</div>"
            f"<div class='mdx-mark' data-value='{_data(v.mark)}'><span class='mdx-muted'>mark</span> "
            f"{fmt.price(v.mark)} <span class='mdx-muted'>index</span> {fmt.price(v.index)} "
            f"<span class='mdx-muted'>{escape(quote)}</span></div>"
            f"<div class='mdx-open-interest' data-value='{_data(v.oi_amount)}'>"
            f"<span class='mdx-muted'>open interest</span> {fmt.amount(v.oi_amount)} "
            f"<span class='mdx-muted'>{escape(base)} ·</span> {fmt.amount(v.oi_value)} "
            f"<span class='mdx-muted'>{escape(quote)}</span></div>"
        )
        rows = "".join(
            f"<tr class='mdx-liquidation mdx-{'buy' if q.side == 'buy' else 'sell'}'>"
            f"<td>{fmt.clock_time(q.ts_event, with_ms=False)}</td><td>{escape(q.side) or fmt.DASH}</td>"
            f"<td>{fmt.price(q.price)}</td><td>{fmt.amount(q.amount)}</td></tr>"
            for q in v.liquidations
        )
        liquidations = (
            "<table class='mdx-table mdx-liquidations'><tr><th>liquidation UTC</th><th>side</th>"
            f"<th>price</th><th>amount</th></tr>{rows}</table>"
            if rows
            else "<div class='mdx-liquidations mdx-muted'>no liquidations yet</div>"
        )
        return set_html(self.body, figures + liquidations)


__all__ = ["DerivativesPanel"]
