"""The monitor's controls: source, exchange, symbol, timeframe and indicator toggles.

Plain ipywidgets with stable DOM classes (``mdx-source``, ``mdx-exchange``, ``mdx-symbol``,
``mdx-timeframe``, ``mdx-ind-<name>``). The controls hold no logic: the app observes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets

from .base import Panel
from .charts import INDICATORS

INDICATOR_LABELS = {"ema": "EMA", "bollinger": "BB", "vwap": "VWAP"}


def _classed(widget: widgets.DOMWidget, css_class: str) -> widgets.DOMWidget:
    widget.add_class(css_class)
    return widget


def _dropdown(name: str, options: Sequence[str], value: str, layout: widgets.Layout) -> widgets.Dropdown:
    """A dropdown described ``name``, with the DOM class ``mdx-<name>``."""
    dropdown = widgets.Dropdown(options=list(options), value=value, description=name, layout=layout)
    dropdown.add_class(f"mdx-{name}")
    return dropdown


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
    ) -> None:
        layout = widgets.Layout(width="auto")
        self.source = _dropdown("source", sources, source, layout)
        self.exchange = _dropdown("exchange", exchanges, exchange, layout)
        self.symbol = _dropdown("symbol", symbols, symbol, layout)
        self.timeframe = _classed(
            widgets.ToggleButtons(options=list(timeframes), value=timeframe, description="", layout=layout),
            "mdx-timeframe",
        )
        self.timeframe.style.button_width = "44px"
        self.indicators: dict[str, widgets.ToggleButton] = {}
        for name in INDICATORS:
            button = widgets.ToggleButton(
                value=name in indicators,
                description=INDICATOR_LABELS[name],
                tooltip=f"show {name}",
                layout=layout,
            )
            button.add_class(f"mdx-ind-{name}")
            self.indicators[name] = button
        toggles = widgets.HBox(list(self.indicators.values()))
        toggles.add_class("mdx-indicators")
        self.widget = widgets.HBox([self.source, self.exchange, self.symbol, self.timeframe, toggles])
        self.widget.add_class("mdx-controls")

    def chosen_indicators(self) -> tuple[str, ...]:
        return tuple(name for name, button in self.indicators.items() if button.value)

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


__all__ = ["INDICATOR_LABELS", "Controls"]
