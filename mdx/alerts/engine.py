"""``AlertEngine``: a session consumer that runs alert rules on trades, bars, book views, and the confluence
and consensus events of a ``ConfluenceMaker`` wired into the same session.

    engine = AlertEngine([PriceCross("BTC/USDT", 68_000), SpreadAbove("ETH/USDT", 5)],
                         symbols=session.symbols, sinks=[LogSink()])
    session.add(engine)

Each rule sees the events it takes for its symbol (and exchange, when it names one); when it fires and its
cooldown (event time) has passed, the engine emits an ``Alert`` — cached (``cache.history(Alert, key)``),
published on ``alerts.<exchange>.<symbol>`` — keeps it in ``recent()`` (a bounded in-memory history) and
hands it to each sink. Sinks must not block (``WebhookSink`` posts from its own thread); they belong to
the caller, who closes them (one sink may serve several engines and sessions). Rules can be
added and removed from any thread (the monitor's form does): the rule list is replaced whole, never
mutated under the engine. A rule on a symbol the session does not stream is a ``ConfigError`` naming the
closest ones.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ..analytics.live import Confluence, Consensus
from ..consumer import Consumer
from ..errors import ConfigError
from ..events import Bar, Trade
from ..market.book import BookView
from .alert import Alert
from .rules import Rule

log = logging.getLogger("mdx.alerts")


class Sink(Protocol):
    def send(self, alert: Alert) -> None:
        """Take ``alert`` without blocking the engine."""
        ...


class AlertEngine(Consumer):
    """Runs ``rules`` on the session's events; see the module docstring."""

    takes = (Trade, Bar, BookView, Confluence, Consensus)

    def __init__(
        self,
        rules: Iterable[Rule] = (),
        *,
        symbols: Sequence[str] | None = None,
        sinks: Iterable[Sink] = (),
        history: int = 500,
    ) -> None:
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ConfigError(f"history must be a whole number >= 1, got {history!r}")
        self.symbols = tuple(symbols) if symbols is not None else None
        self.sinks = tuple(sinks)
        self.fired = 0  # alerts emitted
        self.suppressed = 0  # firings inside a rule's cooldown
        self._rules: tuple[Rule, ...] = ()
        self._last_fired: dict[str, int] = {}
        self._recent: deque[Alert] = deque(maxlen=history)
        self._lock = threading.Lock()
        for rule in rules:
            self.add_rule(rule)

    # -- rules (any thread) ---------------------------------------------------------------------------------

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def add_rule(self, rule: Rule) -> Rule:
        """Add ``rule``; ``ConfigError`` for a symbol not streamed or a name already taken."""
        if not isinstance(rule, Rule):
            raise ConfigError(f"not an alert rule: {rule!r:.80}")
        if self.symbols is not None and rule.symbol not in self.symbols:
            close = difflib.get_close_matches(rule.symbol, self.symbols, n=3)
            hint = (
                f"; did you mean {', '.join(close)}?" if close else f"; streamed: {', '.join(self.symbols)}"
            )
            raise ConfigError(f"alert rule {rule.name!r}: unknown symbol {rule.symbol!r}{hint}")
        with self._lock:
            if any(r.name == rule.name for r in self._rules):
                raise ConfigError(f"an alert rule named {rule.name!r} exists already")
            self._rules = (*self._rules, rule)
        return rule

    def remove_rule(self, name: str) -> bool:
        """Remove the rule named ``name``; False when there was none."""
        with self._lock:
            kept = tuple(r for r in self._rules if r.name != name)
            removed = len(kept) != len(self._rules)
            self._rules = kept
        return removed

    def recent(self, n: int | None = None) -> list[Alert]:
        """The last ``n`` alerts (all kept when None), oldest first; safe from any thread."""
        with self._lock:
            alerts = list(self._recent)
        return alerts if n is None else alerts[-n:] if n > 0 else []

    # -- events (engine thread) -----------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        for rule in self._rules:
            if not isinstance(event, rule.takes):
                continue
            if rule.symbol != event.symbol and not rule.every_symbol:
                continue
            if rule.exchange and rule.exchange != event.exchange:
                continue
            value = rule.observe(event)
            if value is not None:
                self._fire(rule, value, event.exchange, event.ts_event, event.ts_recv)

    def tick(self, now_ns: int) -> None:
        """Judge the time-driven rules (``Stale``) at ``now_ns`` when no event arrives to do it."""
        for rule in self._rules:
            age = getattr(rule, "age", None)
            if age is not None:
                value = age(now_ns)
                if value is not None:
                    self._fire(rule, value, rule.exchange, now_ns, now_ns)

    def _fire(self, rule: Rule, value: float, exchange: str, ts_event: int, ts_recv: int) -> None:
        last = self._last_fired.get(rule.name)
        if last is not None and ts_event - last < rule.cooldown_ns:
            self.suppressed += 1
            return
        self._last_fired[rule.name] = ts_event
        alert = Alert(
            exchange, rule.symbol, ts_event, ts_recv, rule.name, rule.kind, float(value), rule.threshold,
            rule.text(value),
        )  # fmt: skip
        self.fired += 1
        with self._lock:
            self._recent.append(alert)
        self.emit(alert)
        for sink in self.sinks:
            sink.send(alert)


__all__ = ["AlertEngine", "Sink"]
