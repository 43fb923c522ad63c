"""The venue table's values (no widgets): each venue's row and each asset's composite price, read from a
``VenueMonitor`` at most every ``interval_s`` of the session's clock.

    tracker = VenueTracker(monitor)
    values = tracker.update(now_ns)    # the same object until it is due again (or ``force``)
    values.shown, values.rows, values.composites

The table shows only when more than one exchange streams (one venue has nothing to compare with).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..market.venues import VenueMonitor, VenueRow


@dataclass(frozen=True, slots=True)
class CompositeLine:
    """An asset's composite price; ``age_s``: how old the price is (meaningful when ``stale``)."""

    asset: str
    price: float
    venue: str
    venue_symbol: str
    stale: bool
    age_s: float


@dataclass(frozen=True, slots=True)
class VenueValues:
    shown: bool = False  # more than one exchange in the table
    rows: tuple[VenueRow, ...] = ()
    composites: tuple[CompositeLine, ...] = ()


NO_VENUES = VenueValues()


class VenueTracker:
    """Reads ``monitor`` (any thread: it hands out values replaced whole) at most every ``interval_s``."""

    def __init__(self, monitor: VenueMonitor | None, interval_s: float = 1.0) -> None:
        self.monitor = monitor
        self.interval_ns = int(interval_s * 1e9)
        self.values = NO_VENUES
        self._due = 0

    def update(self, now_ns: int, force: bool = False) -> VenueValues:
        monitor = self.monitor
        if monitor is None:
            return NO_VENUES
        if not force and 0 <= self._due - now_ns <= self.interval_ns:
            return self.values
        self._due = now_ns + self.interval_ns
        now = max(now_ns, monitor.now)  # never younger than what the monitor has seen
        rows = tuple(monitor.table(now))
        composites = tuple(
            CompositeLine(asset, c.price, c.venue, c.venue_symbol, c.stale, max(c.age_ns, 0) / 1e9)
            for asset, c in sorted(monitor.composites(now).items())
        )
        values = VenueValues(len({row.exchange for row in rows}) > 1, rows, composites)
        if values != self.values:
            self.values = values
        return self.values


__all__ = ["NO_VENUES", "CompositeLine", "VenueTracker", "VenueValues"]
