"""Latest values and bounded history, written by the engine before it publishes.

Readers on other threads (the UI refresh task) get immutable values: events are frozen and
``history()`` returns a new list. Every window is bounded (``deque(maxlen=...)``).
"""

from __future__ import annotations

from collections import deque
from typing import Any

Key = tuple[str, str]  # (exchange, symbol)

DEFAULT_MAXLEN = {"trades": 2000, "quotes": 2000, "bars": 2000, "book_views": 2000}


class Cache:
    def __init__(self, maxlen: dict[str, int] | None = None) -> None:
        self._maxlen = {**DEFAULT_MAXLEN, **(maxlen or {})}
        self._latest: dict[tuple[str, Key], Any] = {}
        self._history: dict[tuple[str, Key], deque[Any]] = {}

    def set_latest(self, kind: str, key: Key, value: Any) -> None:
        self._latest[(kind, key)] = value

    def latest(self, kind: str, key: Key) -> Any:
        return self._latest.get((kind, key))

    def append(self, kind: str, key: Key, value: Any) -> None:
        window = self._history.get((kind, key))
        if window is None:
            window = self._history[(kind, key)] = deque(maxlen=self._maxlen.get(kind, 2000))
        window.append(value)

    def history(self, kind: str, key: Key, n: int | None = None) -> list[Any]:
        """A copy of the newest ``n`` items (all when ``n`` is None), oldest first."""
        window = self._history.get((kind, key))
        if not window:
            return []
        items = list(window)
        return items if n is None else items[-n:]

    def keys(self, kind: str) -> list[Key]:
        """Every (exchange, symbol) that has a latest value or history of this kind."""
        names = [*self._latest, *self._history]  # one C-level copy: safe while the engine adds keys
        found = {k for (kd, k) in names if kd == kind}
        return sorted(found)

    def clear(self) -> None:
        self._latest.clear()
        self._history.clear()


__all__ = ["Cache", "Key"]
