"""The alerts panel: the active rules, the last triggers, and a form to add or remove a rule.

The form is plain ipywidgets with stable DOM classes: ``mdx-alert-type`` (the type picker),
``mdx-alert-symbol``, ``mdx-alert-level``, ``mdx-alert-option`` (a % change's window or a bar rule's
timeframe; disabled for the others), ``mdx-alert-cooldown``, ``mdx-alert-add``, ``mdx-alert-pick`` and
``mdx-alert-remove``; ``mdx-alert-message`` says what happened (``mdx-alert-error`` when the input was
refused: the ``MdxError``'s message, never a traceback). The rules are listed in ``mdx-alert-rules``
(``.mdx-alert-rule[data-rule]``), the triggers in ``mdx-alert-triggers`` (``tr.mdx-trigger[data-rule]``,
newest first: time UTC, rule, symbol, value, threshold).

The panel holds no rules itself: ``add(kind, symbol, level, option, cooldown)`` and ``remove(name)`` are
the app's (``MonitorModel.add_rule`` / ``remove_rule``), and ``update(AlertValues)`` redraws the lists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Any

import ipywidgets as widgets

from ..errors import MdxError
from . import fmt
from .alerts_model import DEFAULT_COOLDOWN_S, RULE_TYPE, RULE_TYPES
from .base import Panel, html, set_html
from .values import AlertValues

AddRule = Callable[..., Any]
RemoveRule = Callable[[str], bool]
PRICE_KINDS = frozenset({"price_above", "price_below", "price_cross"})


def _classed(widget: widgets.DOMWidget, css_class: str) -> widgets.DOMWidget:
    widget.add_class(css_class)
    return widget


class AlertsPanel(Panel):
    def __init__(
        self,
        symbols: Sequence[str],
        *,
        add: AddRule | None = None,
        remove: RemoveRule | None = None,
        timeframe: str = "",
    ) -> None:
        self._add = add
        self._remove = remove
        self.timeframe = timeframe
        layout = widgets.Layout(width="auto")
        self.kind = _classed(
            widgets.Dropdown(options=[(t.label, t.kind) for t in RULE_TYPES], value=RULE_TYPES[0].kind,
                             layout=layout),
            "mdx-alert-type",
        )  # fmt: skip
        self.symbol = _classed(
            widgets.Dropdown(options=list(symbols), value=symbols[0] if symbols else None, layout=layout),
            "mdx-alert-symbol",
        )
        self.level = _classed(widgets.Text(value="", placeholder="price", layout=layout), "mdx-alert-level")
        self.option = _classed(widgets.Text(value="", layout=layout), "mdx-alert-option")
        self.cooldown = _classed(
            widgets.Text(value=f"{DEFAULT_COOLDOWN_S:g}", placeholder="cooldown s", layout=layout),
            "mdx-alert-cooldown",
        )
        self.add_button = _classed(
            widgets.Button(description="add rule", tooltip="add this alert rule", layout=layout),
            "mdx-alert-add",
        )
        self.pick = _classed(widgets.Dropdown(options=[], layout=layout), "mdx-alert-pick")
        self.remove_button = _classed(
            widgets.Button(description="remove", tooltip="remove the chosen rule", layout=layout),
            "mdx-alert-remove",
        )
        self.message = html("mdx-alert-message")
        self.rules = html("mdx-alert-rules", rules_html(()))
        self.triggers = html("mdx-alert-triggers", triggers_html(()))
        self.add_button.on_click(lambda _button: self.submit())
        self.remove_button.on_click(lambda _button: self.remove_selected())
        self.kind.observe(lambda _change: self._kind_changed(), "value")
        self._kind_changed()
        form = widgets.HBox(
            [
                _field("type", self.kind),
                _field("symbol", self.symbol),
                _field("level", self.level),
                _field("window", self.option),
                _field("cooldown s", self.cooldown),
                self.add_button,
            ]
        )
        form.add_class("mdx-alert-form")
        removal = widgets.HBox([_field("rule", self.pick), self.remove_button])
        removal.add_class("mdx-alert-form")
        lists = widgets.HBox([self.rules, self.triggers])
        lists.add_class("mdx-alert-lists")
        self.widget = widgets.VBox([html("mdx-card-title", "ALERTS"), form, removal, self.message, lists])
        self.widget.add_class("mdx-card")
        self.widget.add_class("mdx-alerts")
        self.values = AlertValues()
        self.updates = 0

    # -- the form ------------------------------------------------------------------------------------------

    def _kind_changed(self) -> None:
        rule_type = RULE_TYPE[self.kind.value]
        self.level.placeholder = rule_type.level
        if rule_type.option == "window":
            self.option.placeholder, self.option.disabled = rule_type.default_option, False
        elif rule_type.option == "timeframe":
            self.option.placeholder, self.option.disabled = self.timeframe or "timeframe", False
        else:
            self.option.placeholder, self.option.disabled = "", True

    def set_symbols(self, symbols: Sequence[str]) -> None:
        if tuple(self.symbol.options) != tuple(symbols):
            value = self.symbol.value
            self.symbol.options = list(symbols)
            if value in symbols:
                self.symbol.value = value

    def set_timeframe(self, timeframe: str) -> None:
        """The bar rules' default timeframe (the one shown)."""
        self.timeframe = timeframe
        self._kind_changed()

    def say(self, text: str, error: bool = False) -> None:
        tone = "mdx-alert-error mdx-down" if error else "mdx-alert-ok mdx-muted"
        set_html(self.message, f"<span class='{tone}'>{escape(text)}</span>")

    def submit(self) -> Any:
        """Add the rule the form describes; the rule, or None with the reason in ``message``."""
        if self._add is None:
            self.say("alerts are not available here", error=True)
            return None
        option = self.option.value if not self.option.disabled else ""
        try:
            rule = self._add(
                self.kind.value, self.symbol.value or "", self.level.value, option=option,
                cooldown=self.cooldown.value,
            )  # fmt: skip
        except MdxError as error:
            self.say(f"not added: {error}", error=True)
            return None
        self.say(f"added {rule.name}: {rule.describe()}")
        self.level.value = ""
        return rule

    def remove_selected(self) -> bool:
        name = self.pick.value
        if not name:
            self.say("no rule to remove: choose one first", error=True)
            return False
        removed = self._remove(name) if self._remove is not None else False
        if removed:
            self.say(f"removed {name}")
        else:
            self.say(f"no rule named {name}", error=True)
        return removed

    # -- the lists -----------------------------------------------------------------------------------------

    def update(self, values: AlertValues, *, force: bool = False) -> bool:
        if values is self.values and not force:
            return False
        self.values = values
        self.updates += 1
        names = [name for name, _text in values.rules]
        if tuple(self.pick.options) != tuple(names):
            chosen = self.pick.value
            self.pick.options = names  # (not under hold_trait_notifications: the value checks the options)
            self.pick.value = chosen if chosen in names else (names[0] if names else None)
        set_html(self.rules, rules_html(values.rules))
        set_html(self.triggers, triggers_html(values.triggers, values.fired, values.suppressed))
        return True


def _field(name: str, control: widgets.DOMWidget) -> widgets.HBox:
    box = widgets.HBox([html("mdx-control-label", name), control])
    box.add_class("mdx-field")
    return box


def rules_html(rules: Sequence[tuple[str, str]]) -> str:
    head = "<div class='mdx-alert-head'>active rules</div>"
    if not rules:
        return head + "<div class='mdx-muted mdx-alert-none'>no rules yet: add one with the form</div>"
    rows = "".join(
        f"<div class='mdx-alert-rule' data-rule='{escape(name)}'>"
        f"<span class='mdx-alert-text'>{escape(text)}</span>"
        f"<span class='mdx-alert-name mdx-muted'>{escape(name)}</span></div>"
        for name, text in rules
    )
    return head + rows


def _value(kind: str, value: float) -> str:
    if kind in PRICE_KINDS:
        return fmt.price(value)
    return f"{value:,.4g}"


def triggers_html(alerts: Sequence[Any], fired: int = 0, suppressed: int = 0) -> str:
    counts = (
        f" <span class='mdx-muted'>{fired} fired, {suppressed} held back by cooldowns</span>" if fired else ""
    )
    head = (
        f"<div class='mdx-alert-head'>last triggers{counts}</div><table class='mdx-table mdx-trigger-table'>"
        "<tr><th>time (utc)</th><th>rule</th><th>symbol</th><th>value</th><th>threshold</th></tr>"
    )
    if not alerts:
        return head + "<tr><td colspan='5' class='mdx-muted'>nothing fired yet</td></tr></table>"
    rows = "".join(
        f"<tr class='mdx-trigger' data-rule='{escape(a.rule)}' title='{escape(a.text)}'>"
        f"<td class='mdx-muted'>{fmt.clock_time(a.ts_event)}</td><td>{escape(a.rule)}</td>"
        f"<td>{escape(a.symbol)}</td><td>{_value(a.kind, a.value)}</td>"
        f"<td>{_value(a.kind, a.threshold)}</td></tr>"
        for a in alerts
    )
    return head + rows + "</table>"


__all__ = ["AlertsPanel", "rules_html", "triggers_html"]
