"""What every ``mdx.ui`` panel shares: a root widget, created once, and notebook display."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from .theme import style_block


class Panel:
    """A reusable dashboard piece. ``widget`` is its root ipywidget; ``update(...)`` redraws it in place.

    Displaying a panel on its own (the last expression of a cell) shows it with the mdx theme; inside
    ``MonitorApp`` the app carries the theme once for all panels.
    """

    widget: widgets.DOMWidget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        themed = widgets.VBox([style_block(), self.widget])
        themed.add_class("mdx-panel")
        return themed._repr_mimebundle_(**kwargs)


class OptionalCard(Panel):
    """A card, a title over a body, hidden until its values say it has something to show (the venue
    table, the derivatives figures). ``_show(shown)`` shows or hides it and returns ``shown``."""

    def __init__(self, title: str, body_class: str, card_class: str) -> None:
        self.title = html("mdx-card-title", title)
        self.body = html(body_class)
        self.widget = widgets.VBox([self.title, self.body])
        self.widget.add_class("mdx-card")
        self.widget.add_class(card_class)
        self.widget.layout.display = "none"

    @property
    def shown(self) -> bool:
        return bool(self.widget.layout.display != "none")

    def _show(self, shown: bool) -> bool:
        display = "flex" if shown else "none"
        if self.widget.layout.display != display:
            self.widget.layout.display = display
        return shown


def html(css_class: str, value: str = "", **layout: str) -> widgets.HTML:
    """An HTML widget with a stable DOM class (for styling and for browser tests)."""
    widget = widgets.HTML(value, layout=widgets.Layout(**layout))
    for name in css_class.split():
        widget.add_class(name)
    return widget


def vbox(css_class: str, *children: widgets.Widget) -> widgets.VBox:
    """A VBox of ``children`` with stable DOM classes (like ``html``)."""
    box = widgets.VBox(list(children))
    for name in css_class.split():
        box.add_class(name)
    return box


def set_html(widget: widgets.HTML, value: str) -> bool:
    """Assign only when the text changed (an unchanged value sends nothing either way; this skips the
    trait machinery too). True when it changed."""
    if widget.value == value:
        return False
    widget.value = value
    return True


__all__ = ["Panel", "html", "set_html"]
