"""The monitor's controls: source, exchange, symbol, timeframe, indicator and sub-chart toggles.

Plain ipywidgets with stable DOM classes (``mdx-source``, ``mdx-exchange``, ``mdx-symbol``,
``mdx-timeframe``, ``mdx-ind-<name>`` for the candle overlays, ``mdx-sub-<name>`` for the MACD and RSI
sub-charts). The controls hold no logic: the app observes them.

A source string can be long (``replay:/a/long/path/a.gz,/a/long/path/b.gz``): the source dropdown shows
a short label (``replay: a.gz +1``) and the full text as its tooltip, and the theme caps every dropdown's
width, so the symbol, timeframe and indicator controls stay on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import ipywidgets as widgets

from . import fmt
from .base import Panel, html
from .charts import INDICATORS
from .oscillators import SUBCHARTS

INDICATOR_LABELS = {"ema": "EMA", "bollinger": "BB", "vwap": "VWAP"}
SUBCHART_LABELS = {"macd": "MACD", "rsi": "RSI"}


def _classed(widget: widgets.DOMWidget, css_class: str) -> widgets.DOMWidget:
    widget.add_class(css_class)
    return widget


def _dropdown(
    name: str, options: Sequence[str] | Sequence[tuple[str, str]], value: str, layout: widgets.Layout
) -> widgets.Dropdown:
    """A dropdown with the DOM class ``mdx-<name>`` and its value (the full source string, say) as the
    tooltip of its ``<select>``. No ``description``: with one, ipywidgets puts the tooltip on the
    description's label instead; the name is a label beside it (``_field``)."""
    dropdown = widgets.Dropdown(options=list(options), value=value, description="", layout=layout)
    dropdown.add_class(f"mdx-{name}")
    dropdown.tooltip = value
    dropdown.observe(_value_as_tooltip, "value")
    return dropdown


def _value_as_tooltip(change: dict) -> None:
    change["owner"].tooltip = change["new"]


def _field(name: str, control: widgets.Dropdown) -> widgets.HBox:
    """``name`` and its dropdown, kept together when the header wraps. (No tooltip on the box: a Box view
    in ipywidgets 8.1 fails to render with one.)"""
    field = widgets.HBox([html("mdx-control-label", name), control])
    field.add_class("mdx-field")
    field.add_class(f"mdx-field-{name}")
    return field


def source_options(sources: Sequence[str]) -> list[tuple[str, str]]:
    """(short label, source) pairs: the dropdown shows the label, its value is the full source."""
    return [(fmt.short_source(source), source) for source in sources]


class Controls(Panel):
    def __init__(
        self,
        *,
        sources: Sequence[str],
        source: str,
        exchanges: Sequence[str],
        exchange: str,
        symbols: Sequence[str],
        symbol: str,
        timeframes: Sequence[str],
        timeframe: str,
        indicators: Sequence[str] = INDICATORS,
        subcharts: Sequence[str] = (),
    ) -> None:
        layout = widgets.Layout(width="auto")
        self.source = _dropdown("source", source_options(sources), source, layout)
        self.exchange = _dropdown("exchange", exchanges, exchange, layout)
        self.symbol = _dropdown("symbol", symbols, symbol, layout)
        self.timeframe = _classed(
            widgets.ToggleButtons(options=list(timeframes), value=timeframe, description="", layout=layout),
            "mdx-timeframe",
        )
        self.timeframe.style.button_width = "44px"
        self.indicators = _toggles(
            INDICATORS, INDICATOR_LABELS, indicators, "mdx-ind", layout, lambda name, label: f"show {name}"
        )
        self.subcharts = _toggles(
            SUBCHARTS, SUBCHART_LABELS, subcharts, "mdx-sub", layout,
            lambda name, label: f"show the {label} chart under the candles",
        )  # fmt: skip
        toggles = widgets.HBox([*self.indicators.values(), *self.subcharts.values()])
        toggles.add_class("mdx-indicators")
        self.fields = {name: _field(name, getattr(self, name)) for name in ("source", "exchange", "symbol")}
        self.widget = widgets.HBox([*self.fields.values(), self.timeframe, toggles])
        self.widget.add_class("mdx-controls")

    def chosen_indicators(self) -> tuple[str, ...]:
        return tuple(name for name, button in self.indicators.items() if button.value)

    def chosen_subcharts(self) -> tuple[str, ...]:
        return tuple(name for name, button in self.subcharts.items() if button.value)

    @staticmethod
    def set_options(dropdown: widgets.Dropdown, options: Sequence[str]) -> None:
        """Replace a dropdown's options, keeping its value when it is still offered."""
        if tuple(dropdown.options) == tuple(options):
            return
        value = dropdown.value
        with dropdown.hold_trait_notifications():
            dropdown.options = list(options)
            if value in options:
                dropdown.value = value


def _toggles(
    names: Sequence[str],
    labels: Mapping[str, str],
    chosen: Iterable[str],
    css: str,
    layout: widgets.Layout,
    tooltip: Callable[[str, str], str],
) -> dict[str, widgets.ToggleButton]:
    """One toggle button per name (on when chosen), classed ``{css}-{name}`` for the browser tests."""
    on = set(chosen)
    buttons: dict[str, widgets.ToggleButton] = {}
    for name in names:
        button = widgets.ToggleButton(
            value=name in on, description=labels[name], tooltip=tooltip(name, labels[name]), layout=layout
        )
        button.add_class(f"{css}-{name}")
        buttons[name] = button
    return buttons


__all__ = ["INDICATOR_LABELS", "SUBCHART_LABELS", "Controls", "source_options"]
