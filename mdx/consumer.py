"""What plugs into a session: a consumer takes events of some types and may emit new ones.

    class CountTrades(Consumer):
        takes = (Trade,)

        def __init__(self) -> None:
            self.count = 0

        def on_event(self, event: Trade) -> None:
            self.count += 1

    session = Session(source, consumers=[CountTrades()])

For every event (from a source, or emitted by a consumer) the session runs the consumers that take its
type, in wiring order. A consumer rejects an event by raising a ``DataError``: it is counted in
``session.rejections``, the consumers after it do not see it, and it is neither cached nor published.
Otherwise the event is then written to the cache and published on its hub topic. ``emit(event)`` (bound
by the session before the first event) sends a derived event (a bar, a book view, an indicator value)
through the same path at once. Consumers run on the engine thread and own their state; what they share
with other threads they emit as immutable events, which the cache keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Emit = Callable[[Any], None]


def _unbound(event: Any) -> None:
    from .errors import ConfigError

    raise ConfigError(f"consumer emitted {type(event).__name__} before a session bound it")


class Consumer:
    """Base of session consumers: set ``takes``, implement ``on_event``; ``self.emit`` sends new events."""

    takes: tuple[type, ...] = ()
    emit: Emit = staticmethod(_unbound)

    def bind(self, emit: Emit) -> None:
        """Called by the session it is wired into, before the first event."""
        self.emit = emit

    def on_event(self, event: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Called when the session's run ends (flush files, release resources); optional."""


__all__ = ["Consumer", "Emit"]
