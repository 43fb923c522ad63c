"""The garbage collector's settings for a long-running feed.

A session allocates a few objects per event (the event, its strings, decoded JSON) and keeps a window of
them (the cache). CPython's default collects the youngest generation every 700 net allocations and the
oldest whenever it grew by a quarter, scanning every object the start-up made (modules, widgets, the
history's bars): on a sweep of 500 trades, a Redis-fed dashboard kernel spent more time in the collector
than on the trades, and twenty kernels paused together for 250 ms on a full collection.

``settle()``, called by the session once a source's history is in: a collection first (garbage is not
frozen with the rest), then ``gc.freeze()`` moves what exists into the permanent generation (full
collections no longer scan it; after the first settle a collection scans only what came since), and the
youngest generation's threshold is raised to ``YOUNG_THRESHOLD`` (never lowered: a threshold set
higher, or collection turned off, is kept). Cyclic garbage is still collected, a few thousand
allocations later; a frozen object that becomes part of a garbage cycle is not (``gc.unfreeze()`` gives
the collector everything back).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def settle() -> None:
    """Freeze what exists and collect the young generation less often (see the module docstring)."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)


__all__ = ["YOUNG_THRESHOLD", "settle"]
