"""Signal panels: the baseline z-score signal tile, the confluence gauge with its six dimensions, and the
multi-timeframe consensus row.

Each is one HTML widget, created once and rewritten only when its values changed (the model hands the
same values object while nothing did). Stable DOM classes for browser tests: ``mdx-signal`` (the label in
``.mdx-signal-label[data-signal]``, the z-score in ``.mdx-signal-z[data-value]``), ``mdx-confluence``
(``.mdx-confluence-score[data-value][data-ts]``, ``.mdx-confluence-label``, one
``.mdx-dim.mdx-dim-<name>[data-value]`` per dimension, "—" without data) and ``mdx-consensus``
(``.mdx-vote.mdx-vote-<timeframe>[data-vote]`` per timeframe, ``.mdx-consensus-signal[data-signal]``,
``[data-ts]`` on the row).
"""

from __future__ import annotations

import math
from html import escape

import ipywidgets as widgets

from . import fmt, theme
from .base import Panel, html, set_html
from .values import ConfluenceValues, ConsensusValues, SignalValues

DIMENSION_LABELS = {
    "technical": "technical",
    "volume": "volume",
    "order_flow": "order flow",
    "order_book": "order book",
    "structure": "structure",
    "sentiment": "sentiment",
}
ARC = math.pi * 50  # the gauge's half circle of radius 50, in SVG units


def _tone(signal: str) -> str:
    """``mdx-up`` for buys, ``mdx-down`` for sells, "" otherwise (labels such as "strong buy" too)."""
    word = signal.lower()
    return "mdx-up" if word.endswith("buy") else "mdx-down" if word.endswith("sell") else ""


def _color(score: float | None) -> str:
    if score is None:
        return theme.FAINT
    return theme.UP if score >= 60 else theme.DOWN if score <= 40 else theme.WARN


def _data(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


class SignalTile(Panel):
    """The baseline mean-reversion signal: BUY when the close's z-score over ``n`` bars is below
    ``-entry``, SELL above ``+entry``, NEUTRAL between (``mdx.analytics.signals.zscore_signal``)."""

    def __init__(self) -> None:
        self.widget: widgets.HTML = html("mdx-signal mdx-card")
        self.values = SignalValues()
        self.updates = 0
        self._shown: SignalValues | None = None
        self.update(SignalValues(), force=True)

    def update(self, values: SignalValues, *, force: bool = False) -> bool:
        if values is self._shown and not force:
            return False
        self._shown = self.values = values
        self.updates += 1
        label = values.label or fmt.DASH
        z = fmt.signed(values.zscore)
        warming = ""
        if values.zscore is None:
            warming = f"<span class='mdx-warmup'>{min(values.bars, values.n)}/{values.n} bars</span>"
        where = f"{escape(values.symbol)} {escape(values.timeframe)}".strip()
        return set_html(
            self.widget,
            "<div class='mdx-card-title'>SIGNAL <span class='mdx-unit'>"
            f"z-score of the close over {values.n} bars, ±{values.entry:g} entry</span></div>"
            "<div class='mdx-signal-row'>"
            f"<span class='mdx-signal-label {_tone(values.label)}' data-signal='{escape(values.label)}'>"
            f"{label}</span>"
            f"<span class='mdx-signal-z mdx-num' data-value='{_data(values.zscore)}'>z {z}</span>"
            f"<span class='mdx-muted mdx-signal-where'>{where} {warming}</span></div>",
        )

    @property
    def text(self) -> str:
        return self.values.label


class ConfluenceGauge(Panel):
    """The confluence score of the selected timeframe as a half-circle gauge (0 strong sell, 100 strong
    buy) with its label, and its six dimensions as bars (a dimension without data: "—")."""

    def __init__(self) -> None:
        self.widget: widgets.HTML = html("mdx-confluence mdx-card")
        self.values = ConfluenceValues()
        self.updates = 0
        self._shown: ConfluenceValues | None = None
        self.update(ConfluenceValues(), force=True)

    def update(self, values: ConfluenceValues, *, force: bool = False) -> bool:
        if values is self._shown and not force:
            return False
        self._shown = self.values = values
        self.updates += 1
        return set_html(self.widget, confluence_html(values))


def confluence_html(v: ConfluenceValues) -> str:
    score = v.score
    filled = 0.0 if score is None else max(0.0, min(100.0, score)) / 100.0 * ARC
    color = _color(score)
    text = fmt.DASH if score is None else f"{score:.0f}"
    label = v.label or ("warming up" if v.ts_ns else "waiting for bars")
    gauge = (
        "<svg class='mdx-gauge' viewBox='0 0 120 66' width='120' height='66'>"
        f"<path d='M10,60 A50,50 0 0 1 110,60' fill='none' stroke='{theme.GRID}' stroke-width='9'/>"
        f"<path d='M10,60 A50,50 0 0 1 110,60' fill='none' stroke='{color}' stroke-width='9' "
        f"stroke-dasharray='{filled:.2f} {ARC:.2f}'/>"
        f"<text x='60' y='56' text-anchor='middle' fill='{theme.TEXT}' font-size='22' "
        f"font-family='monospace'>{text}</text></svg>"
    )
    rows = []
    for name, sub in v.dimensions or tuple((name, None) for name in DIMENSION_LABELS):
        shown = fmt.DASH if sub is None else f"{sub * 100:.0f}"
        width = 0.0 if sub is None else max(0.0, min(1.0, sub)) * 100
        bar_color = _color(None if sub is None else sub * 100)
        rows.append(
            f"<div class='mdx-dim mdx-dim-{name}' data-value='{_data(sub)}'>"
            f"<span class='mdx-dim-name'>{DIMENSION_LABELS.get(name, name)}</span>"
            f"<span class='mdx-dim-bar'>"
            f"<span style='width:{width:.0f}%;background:{bar_color}'></span></span>"
            f"<span class='mdx-dim-value mdx-num'>{shown}</span></div>"
        )
    when = f" · {fmt.clock_time(v.ts_ns, with_ms=False)} UTC" if v.ts_ns else ""
    return (
        "<div class='mdx-card-title'>CONFLUENCE "
        f"<span class='mdx-unit'>{escape(v.timeframe)}{when}</span></div>"
        "<div class='mdx-confluence-body'>"
        f"<div class='mdx-gauge-box'>{gauge}"
        f"<div class='mdx-confluence-score' data-value='{_data(score)}' data-ts='{v.ts_ns}'>"
        f"<span class='mdx-confluence-label {_tone(v.label)}'>{escape(label)}</span></div></div>"
        f"<div class='mdx-dims'>{''.join(rows)}</div></div>"
    )


class ConsensusRow(Panel):
    """One cell per timeframe with its vote (BUY / SELL / NEUTRAL, "—" before its first score), then the
    overall signal with its confidence and strength."""

    def __init__(self) -> None:
        self.widget: widgets.HTML = html("mdx-consensus mdx-card")
        self.values = ConsensusValues()
        self.updates = 0
        self._shown: ConsensusValues | None = None
        self.update(ConsensusValues(), force=True)

    def update(self, values: ConsensusValues, *, force: bool = False) -> bool:
        if values is self._shown and not force:
            return False
        self._shown = self.values = values
        self.updates += 1
        return set_html(self.widget, consensus_html(values))


def consensus_html(v: ConsensusValues) -> str:
    cells = []
    for timeframe, vote in v.votes:
        cells.append(
            f"<div class='mdx-vote mdx-vote-{escape(timeframe)}' data-vote='{escape(vote)}'>"
            f"<div class='mdx-vote-tf'>{escape(timeframe)}</div>"
            f"<div class='mdx-vote-value {_tone(vote)}'>{escape(vote) or fmt.DASH}</div></div>"
        )
    confidence = fmt.DASH if v.confidence is None else f"{v.confidence * 100:.0f}%"
    strength = fmt.DASH if v.strength is None else f"{v.strength:.2f}"
    overall = (
        f"<div class='mdx-vote mdx-consensus-signal' data-signal='{escape(v.signal)}'>"
        "<div class='mdx-vote-tf'>overall</div>"
        f"<div class='mdx-vote-value {_tone(v.signal)}'>{escape(v.signal) or fmt.DASH}</div>"
        f"<div class='mdx-vote-meta mdx-muted'>conf {confidence} · str {strength}</div></div>"
    )
    return (
        "<div class='mdx-card-title'>CONSENSUS <span class='mdx-unit'>each timeframe's vote</span></div>"
        f"<div class='mdx-votes' data-ts='{v.ts_ns}'>{''.join(cells)}{overall}</div>"
    )


__all__ = ["ConfluenceGauge", "ConsensusRow", "SignalTile", "confluence_html", "consensus_html"]
