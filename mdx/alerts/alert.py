"""The ``Alert`` event: a rule that fired, as data (cached, published on ``alerts.<exchange>.<symbol>``,
recordable)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InvalidValue
from ..events import register_event


@dataclass(frozen=True, slots=True)
class Alert:
    exchange: str
    symbol: str
    ts_event: int  # event time of the event that fired the rule
    ts_recv: int
    rule: str  # the rule's name (unique in its engine)
    kind: str  # the rule's kind: "price_above", "price_cross", "zscore", ...
    value: float  # what the rule measured (a price, a % change, a z-score, bps, seconds)
    threshold: float  # what it was compared with
    text: str  # one line for people: "BTC/USDT price 68,012.5 crossed above 68,000"


def check_alert(alert: Alert) -> None:
    """The ``Alert`` rule: a finite threshold and a value that is a number (NaN never fires a rule)."""
    if not (math.isfinite(alert.threshold) and math.isfinite(alert.value)):
        raise InvalidValue(f"alert {alert.rule!r}: value {alert.value!r} / threshold {alert.threshold!r}")


register_event(Alert, "alert", "alerts", check=check_alert)

__all__ = ["Alert", "check_alert"]
