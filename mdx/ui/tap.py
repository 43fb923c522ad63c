"""Per-symbol arrival counters, kept by hub subscribers on the engine thread (O(1) per event).

The cache holds market state; what the monitor also needs is *when* each symbol last heard anything and
how many messages it got, to show data age and messages/s honestly. The tap records, per (exchange,
symbol): message count, the session clock's time of the last message, and the first trade price (the
session change % reference). The UI thread only reads these ints and floats.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from ..cache import Key
from ..clock import Clock
from ..hub import Hub


class FeedTap:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.count: dict[Key, int] = {}
        self.last_ns: dict[Key, int] = {}
        self.first_price: dict[Key, float] = {}
        self.total = 0
        self._unsubscribe: list[Callable[[], None]] = []

    def attach(self, hub: Hub) -> FeedTap:
        if not self._unsubscribe:
            self._unsubscribe = [
                hub.subscribe("trades.*", self._on_trade),
                hub.subscribe("book.*", self._on_message),
                hub.subscribe("quotes.*", self._on_message),
            ]
        return self

    def detach(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def _on_message(self, _topic: str, event: Any) -> None:
        key = (event.exchange, event.symbol)
        self.count[key] = self.count.get(key, 0) + 1
        self.last_ns[key] = self.clock.now_ns()
        self.total += 1

    def _on_trade(self, topic: str, trade: Any) -> None:
        self._on_message(topic, trade)
        key = (trade.exchange, trade.symbol)
        if key not in self.first_price:
            self.first_price[key] = trade.price

    def age_ms(self, key: Key) -> float | None:
        last = self.last_ns.get(key)
        return None if last is None else (self.clock.now_ns() - last) / 1e6

    def keys(self) -> list[Key]:
        return sorted(list(self.count))


class RateMeter:
    """Messages per second from a growing counter, over a sliding window of samples (clock ns)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_ns = int(window_s * 1e9)
        self._samples: deque[tuple[int, int]] = deque()

    def update(self, now_ns: int, count: int) -> float | None:
        samples = self._samples
        samples.append((now_ns, count))
        while len(samples) > 2 and now_ns - samples[1][0] >= self.window_ns:
            samples.popleft()
        first_ns, first_count = samples[0]
        if now_ns <= first_ns:
            return None
        return (count - first_count) / ((now_ns - first_ns) / 1e9)

    def reset(self) -> None:
        self._samples.clear()


__all__ = ["FeedTap", "RateMeter"]
