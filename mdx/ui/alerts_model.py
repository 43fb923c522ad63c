"""The monitor's alerts without widgets: the rule types its form offers, rules made from the form's text,
the session's ``AlertEngine`` and the values the alerts panel shows.

    engine = alert_engine(session)                       # the session's engine (added when it has none)
    rule = make_rule("price_above", "BTC/USDT", "68000", cooldown="30", timeframes=session.timeframes)
    engine.add_rule(rule)                                # ConfigError: unknown symbol, name taken
    alert_values(engine)                                 # AlertValues(rules, triggers newest first, ...)

Every bad input is a ``ConfigError`` whose message says what to type instead (the panel shows it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..alerts import (
    AlertEngine,
    ImbalanceBeyond,
    PctChange,
    PriceAbove,
    PriceBelow,
    PriceCross,
    Rule,
    SpreadAbove,
    Stale,
    VolatilitySpike,
    ZScoreBeyond,
)
from ..errors import ConfigError
from ..market.timeframes import timeframe_ns
from .values import AlertValues

TRIGGERS_SHOWN = 8  # the last alerts the panel lists
DEFAULT_COOLDOWN_S = 60.0


@dataclass(frozen=True, slots=True)
class RuleType:
    """One choice of the form's type picker: what its level means and what its second field is."""

    kind: str
    label: str
    level: str  # what the level field holds, e.g. "price", "k"
    option: str = ""  # the second field: "window" (pct change), "timeframe" (bar rules), "" (none)
    default_option: str = ""


RULE_TYPES: tuple[RuleType, ...] = (
    RuleType("price_above", "price above", "price"),
    RuleType("price_below", "price below", "price"),
    RuleType("price_cross", "price crosses", "price"),
    RuleType("pct_change", "% change over window", "%", "window", "5m"),
    RuleType("zscore", "z-score beyond ±k", "k", "timeframe"),
    RuleType("volatility_spike", "volatility spike (k x median)", "k", "timeframe"),
    RuleType("spread_above", "spread above (bps)", "bps"),
    RuleType("imbalance", "book imbalance beyond ±level", "level (0-1)"),
    RuleType("stale", "stale for N s", "seconds"),
)
RULE_TYPE = {t.kind: t for t in RULE_TYPES}


def _number(text: object, what: str) -> float:
    """A number from a form field ("68,000" and " 1.5 " too); ConfigError naming the field otherwise."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        raw = str(text).strip().replace(",", "").replace("_", "")
        if not raw:
            raise ConfigError(f"{what} is empty: type a number")
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{what} must be a number, got {str(text).strip()!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number, got {text!r}")
    return value


def make_rule(
    kind: str,
    symbol: str,
    level: object,
    *,
    option: str = "",
    cooldown: object = "",
    timeframes: Sequence[str] = (),
    default_timeframe: str = "",
) -> Rule:
    """A rule from the form's fields (text or numbers). ``option``: the window of a % change (``5m``) or
    the timeframe of a bar rule (one of ``timeframes``, the session's; ``default_timeframe`` when empty).
    ``cooldown``: seconds, 60 when empty. ``ConfigError`` with a clear message for anything wrong."""
    rule_type = RULE_TYPE.get(kind)
    if rule_type is None:
        raise ConfigError(f"unknown alert type {kind!r}; choose from {[t.kind for t in RULE_TYPES]}")
    if not symbol:
        raise ConfigError("choose a symbol for the alert")
    value = _number(level, rule_type.level)
    cool = DEFAULT_COOLDOWN_S if not str(cooldown).strip() else _number(cooldown, "cooldown (s)")
    option = str(option).strip() or rule_type.default_option
    options: dict[str, Any] = {"cooldown": cool}
    if rule_type.option == "window":
        timeframe_ns(option)  # InvalidTimeframe (a ConfigError) names the bad window
        return PctChange(symbol, value, option, **options)
    if rule_type.option == "timeframe":
        timeframe = option or default_timeframe
        if timeframes and timeframe not in timeframes:
            raise ConfigError(
                f"timeframe {timeframe!r} is not built by this session; choose from {list(timeframes)}"
            )
        if kind == "zscore":
            return ZScoreBeyond(symbol, value, timeframe=timeframe, **options)
        return VolatilitySpike(symbol, value, timeframe=timeframe, **options)
    simple: dict[str, type[Rule]] = {
        "price_above": PriceAbove,
        "price_below": PriceBelow,
        "price_cross": PriceCross,
        "spread_above": SpreadAbove,
        "imbalance": ImbalanceBeyond,
        "stale": Stale,
    }
    return simple[kind](symbol, value, **options)


def alert_engine(session: Any) -> AlertEngine:
    """The session's ``AlertEngine``: the first one wired into it, else a new one (rules on the session's
    symbols only) added to it."""
    for consumer in session.consumers:
        if isinstance(consumer, AlertEngine):
            return consumer
    engine: AlertEngine = session.add(AlertEngine(symbols=session.symbols))
    return engine


class AlertTracker:
    """``AlertValues`` of an engine, built again only when its rules or alerts changed (else the same
    object: the panel then skips its redraw)."""

    def __init__(self, engine: AlertEngine | None, shown: int = TRIGGERS_SHOWN) -> None:
        self.engine = engine
        self.shown = shown
        self._token: Any = None
        self.values = AlertValues()

    def update(self) -> AlertValues:
        engine = self.engine
        if engine is None:
            return self.values
        token = (engine.rules, engine.fired)
        if token != self._token:
            self._token = token
            rules = tuple((rule.name, rule.describe()) for rule in engine.rules)
            triggers = tuple(reversed(engine.recent(self.shown)))
            self.values = AlertValues(rules, triggers, engine.fired, engine.suppressed)
        return self.values


__all__ = [
    "RULE_TYPE",
    "RULE_TYPES",
    "TRIGGERS_SHOWN",
    "AlertTracker",
    "RuleType",
    "alert_engine",
    "make_rule",
]
