"""Latest values and bounded history, written by the engine before it publishes.

``put(event)`` files any registered event (``mdx.events.KINDS``) under ``(class, exchange, symbol[, sub])``;
the typed readers below are how everything else reads it. Readers on other threads (the UI refresh, a
notebook cell) only ever get immutable values: frozen events, ``BookView`` copies, and new lists::

    cache.trades(key, 50)                      # the last 50 trades, oldest first
    cache.bars(key, "1m", include_open=True)   # closed 1m bars, then the open one
    cache.book(key)                            # the latest BookView (an immutable copy of the book)
    cache.quote(key)

Every window is bounded (``deque(maxlen=...)``); ``Cache(maxlen={"trade": 500, "bar": 5000})`` sets a
kind's window by its tag (or its class), and an unknown kind is a ``ConfigError``, never ignored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError
from .events import KINDS, KINDS_BY_TAG, Bar, EventKind, Quote, Trade

Key = tuple[str, str]  # (exchange, symbol)
Slot = tuple[type, str, str, Any]  # (class, exchange, symbol, sub value or "")

DEFAULT_MAXLEN = 2000


class Cache:
    def __init__(self, maxlen: Mapping[str | type, int] | None = None, default_maxlen: int = DEFAULT_MAXLEN):
        self._default = _positive(default_maxlen, "default_maxlen")
        self._maxlen: dict[type, int] = {}
        for kind, size in (maxlen or {}).items():
            self._maxlen[_kind(kind).cls] = _positive(size, f"maxlen[{kind!r}]")
        self._latest: dict[Slot, Any] = {}
        self._history: dict[Slot, deque[Any]] = {}

    # -- writing (the engine thread) -------------------------------------------------------------------

    def put(self, event: Any) -> None:
        """File ``event`` as its kind says: latest value, and history unless it is still open."""
        kind = KINDS[type(event)]
        if not kind.cached:
            return
        slot = (kind.cls, event.exchange, event.symbol, getattr(event, kind.sub) if kind.sub else "")
        self._latest[slot] = event
        if kind.history and (not kind.open_flag or getattr(event, kind.open_flag)):
            window = self._history.get(slot)
            if window is None:
                window = self._history[slot] = deque(maxlen=self._maxlen.get(kind.cls, self._default))
            window.append(event)

    def maxlen(self, kind: str | type) -> int:
        """How many items of a kind (tag or class) the cache keeps per key (and sub value)."""
        return self._maxlen.get(_kind(kind).cls, self._default)

    def clear(self) -> None:
        self._latest.clear()
        self._history.clear()

    # -- generic readers --------------------------------------------------------------------------------

    def latest(self, kind: str | type, key: Key, sub: Any = "") -> Any:
        """The newest value of a kind (tag or class) for ``key``, or None."""
        return self._latest.get((_kind(kind).cls, key[0], key[1], sub))

    def history(self, kind: str | type, key: Key, sub: Any = "", n: int | None = None) -> list[Any]:
        """A copy of the newest ``n`` items (all when ``n`` is None), oldest first."""
        window = self._history.get((_kind(kind).cls, key[0], key[1], sub))
        if not window:
            return []
        items = list(window)  # one C-level copy: atomic under the GIL while the engine appends
        return items if n is None else items[-n:] if n > 0 else []

    def keys(self, kind: str | type) -> list[Key]:
        """Every (exchange, symbol) with a value of this kind, sorted."""
        cls = _kind(kind).cls
        slots = [*self._latest, *self._history]  # one C-level copy: safe while the engine adds keys
        return sorted({(s[1], s[2]) for s in slots if s[0] is cls})

    # -- typed readers ----------------------------------------------------------------------------------

    def trade(self, key: Key) -> Trade | None:
        return self._latest.get((Trade, key[0], key[1], ""))

    def trades(self, key: Key, n: int | None = None) -> list[Trade]:
        return self.history(Trade, key, n=n)

    def quote(self, key: Key) -> Quote | None:
        return self._latest.get((Quote, key[0], key[1], ""))

    def quotes(self, key: Key, n: int | None = None) -> list[Quote]:
        return self.history(Quote, key, n=n)

    def book(self, key: Key) -> Any:
        """The latest ``BookView`` of ``key`` (immutable), or None before the first snapshot."""
        kind = KINDS_BY_TAG.get("book_view")
        return None if kind is None else self._latest.get((kind.cls, key[0], key[1], ""))

    def book_views(self, key: Key, n: int | None = None) -> list[Any]:
        """Past ``BookView`` values of ``key`` (one per view interval), oldest first."""
        return self.history("book_view", key, n=n) if "book_view" in KINDS_BY_TAG else []

    def open_bar(self, key: Key, timeframe: str) -> Bar | None:
        """The bar still being built (``closed`` False), or None."""
        bar = self._latest.get((Bar, key[0], key[1], timeframe))
        return None if bar is None or bar.closed else bar

    def bars(
        self, key: Key, timeframe: str, *, include_open: bool = False, n: int | None = None
    ) -> list[Bar]:
        """Closed bars oldest first, then (``include_open``) the open bar; ``n`` keeps the newest ``n``."""
        bars = self.history(Bar, key, timeframe)
        if include_open:
            current = self.open_bar(key, timeframe)
            if current is not None and (not bars or current.ts_event > bars[-1].ts_event):
                bars.append(current)
        return bars if n is None else bars[-n:] if n > 0 else []


def _kind(kind: str | type) -> EventKind:
    found = KINDS_BY_TAG.get(kind) if isinstance(kind, str) else KINDS.get(kind)
    if found is None:
        known = ", ".join(sorted(KINDS_BY_TAG))
        raise ConfigError(f"unknown event kind {kind!r}; the cache knows: {known}")
    return found


def _positive(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"cache {what} must be an integer >= 1, got {value!r}")
    return value


__all__ = ["Cache", "Key"]
