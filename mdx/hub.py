"""Topic pub/sub on one event loop.

Topics are dotted strings named by the event table (``mdx.events.KINDS``): ``trades.{exchange}.{symbol}``,
``book.{exchange}.{symbol}`` (accepted snapshots and deltas), ``book_views.{exchange}.{symbol}``,
``quotes.{exchange}.{symbol}``, ``bars.{exchange}.{symbol}.{timeframe}`` (closed bars) and
``bar_open.{exchange}.{symbol}.{timeframe}`` (the open bar after each trade).
A subscription is an exact topic or a prefix ending in ``*`` (``trades.*``, ``*``).
Handlers are plain callables run synchronously in publish order; a handler that raises does not stop
the others. Its failures are counted (``handler_errors``, and per handler in ``failures``) and the first
``LOG_FIRST_FAILURES`` of each handler are logged at ERROR, with the handler's name and the traceback,
on ``mdx.hub``, a child of the ``mdx`` logger (so the monitor's log panel shows them); later ones are only
counted, so a handler that fails on every tick does not flood the log.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from .events import KINDS, topic_of

log = logging.getLogger("mdx.hub")

Handler = Callable[[str, Any], None]
LOG_FIRST_FAILURES = 3  # failures of one handler logged with their traceback; later ones are counted


def handler_name(handler: Handler) -> str:
    """A readable name for a handler: ``module.qualname`` of a function or bound method
    (``mdx.ui.app.Monitor.on_bar``), the class of a callable object, ``partial(...)`` of a partial."""
    if isinstance(handler, functools.partial):
        return f"partial({handler_name(handler.func)})"
    qualname = getattr(handler, "__qualname__", None)
    module = getattr(handler, "__module__", None)
    if not isinstance(qualname, str):  # a callable object
        qualname, module = type(handler).__qualname__, type(handler).__module__
    return f"{module}.{qualname}" if isinstance(module, str) and module else qualname


def _describe(error: BaseException) -> str:
    """``Type: message`` of an exception, even when its ``__str__`` itself fails."""
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:  # a broken __str__ must not break the feed either
        return type(error).__name__


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
        self.failures: Counter[str] = Counter()  # handler name -> failures
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
            except Exception as error:  # a broken consumer must not stop the feed; it is logged and counted
                self._failed(handler, topic, error)

    def _failed(self, handler: Handler, topic: str, error: Exception) -> None:
        """Count a handler's failure; log the first few of each handler (see the module docstring)."""
        self.handler_errors += 1
        name = handler_name(handler)
        self.failures[name] += 1
        n = self.failures[name]
        if n <= LOG_FIRST_FAILURES:
            more = " (its further failures are counted, not logged)" if n == LOG_FIRST_FAILURES else ""
            log.error(
                "hub handler %s failed on topic %s: %s%s", name, topic, _describe(error), more, exc_info=error
            )


__all__ = ["LOG_FIRST_FAILURES", "Handler", "Hub", "handler_name", "topic_for"]
