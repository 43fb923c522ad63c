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
