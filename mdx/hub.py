"""Topic pub/sub on one event loop.

Topics are dotted strings named by the event table (``mdx.events.KINDS``): ``trades.{exchange}.{symbol}``,
``book.{exchange}.{symbol}`` (accepted snapshots and deltas), ``book_views.{exchange}.{symbol}``,
``quotes.{exchange}.{symbol}``, ``bars.{exchange}.{symbol}.{timeframe}`` (closed bars) and
``bar_open.{exchange}.{symbol}.{timeframe}`` (the open bar after each trade).
A subscription is an exact topic or a prefix ending in ``*`` (``trades.*``, ``*``).
Handlers are plain callables run synchronously in publish order; a handler that raises is logged,
counted and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .events import KINDS, topic_of

log = logging.getLogger("mdx.hub")

Handler = Callable[[str, Any], None]


def topic_for(event: Any) -> str:
    """The hub topic an event is published on (from the event table, ``mdx.events.KINDS``)."""
    kind = KINDS.get(type(event))
    return topic_of(event, kind) if kind is not None else f"other.{type(event).__name__}"


class Hub:
    def __init__(self) -> None:
        self._exact: dict[str, list[Handler]] = {}
        self._prefix: list[tuple[str, Handler]] = []
        self._resolved: dict[str, tuple[Handler, ...]] = {}
        self.handler_errors = 0
        self.active = False  # any subscriber at all: publishers skip building topics when not

    def _changed(self) -> None:
        self._resolved.clear()
        self.active = bool(self._prefix) or any(self._exact.values())

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        """Subscribe ``handler(topic, message)``; returns a function that unsubscribes it."""
        if pattern.endswith("*"):
            entry = (pattern[:-1], handler)
            self._prefix.append(entry)

            def unsubscribe() -> None:
                if entry in self._prefix:
                    self._prefix.remove(entry)
                self._changed()

        else:
            self._exact.setdefault(pattern, []).append(handler)

            def unsubscribe() -> None:
                handlers = self._exact.get(pattern, [])
                if handler in handlers:
                    handlers.remove(handler)
                self._changed()

        self._changed()
        return unsubscribe

    def _handlers(self, topic: str) -> tuple[Handler, ...]:
        handlers = self._resolved.get(topic)
        if handlers is None:
            found = list(self._exact.get(topic, ()))
            found += [h for prefix, h in self._prefix if topic.startswith(prefix)]
            handlers = self._resolved[topic] = tuple(found)
        return handlers

    def publish(self, topic: str, message: Any) -> None:
        for handler in self._handlers(topic):
            try:
                handler(topic, message)
            except Exception:  # a broken consumer must not stop the feed; it is logged and counted
                self.handler_errors += 1
                log.exception("handler %r failed on topic %s", handler, topic)


__all__ = ["Handler", "Hub", "topic_for"]
