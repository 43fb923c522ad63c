"""The garbage collector's settings while a feed runs.

A session allocates a few objects per event (the event, its strings, decoded JSON) and keeps a window of
them (the cache). CPython's default collects the youngest generation every 700 net allocations and the
oldest whenever it grew by a quarter, scanning every object the start-up made (modules, widgets, the
history's bars): on a sweep of 500 trades, a Redis-fed dashboard kernel spent more time in the collector
than on the trades, and twenty kernels paused together for 250 ms on a full collection.

``settle()``, called by the session when a source's stream starts (its history is in): a collection
first (garbage is not frozen with the rest), then ``gc.freeze()`` moves what exists into the permanent
generation (full collections no longer scan it), and the youngest generation's threshold is raised to
``YOUNG_THRESHOLD`` (never lowered: a threshold set higher, or collection turned off, is kept).
``release()``, when that stream ends: once no stream is running, ``gc.unfreeze()`` gives the collector
everything back, so what a notebook dropped meanwhile (an app rebuilt by a cell run again, with its
widgets' reference cycles) is collected, not kept for the life of the kernel. Calls pair up across
threads and sessions; ``running()`` says how many streams hold the settings.
"""

from __future__ import annotations

import gc
import threading

YOUNG_THRESHOLD = 20_000

_lock = threading.Lock()
_running = 0


def settle() -> None:
    """A stream starts: collect, freeze what exists, collect the young generation less often."""
    global _running
    with _lock:
        _running += 1
        gc.collect()
        gc.freeze()
        young, middle, old = gc.get_threshold()
        if 0 < young < YOUNG_THRESHOLD:
            gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def release() -> None:
    """A stream ended: when it was the last, unfreeze (see the module docstring)."""
    global _running
    with _lock:
        _running = max(_running - 1, 0)
        if not _running:
            gc.unfreeze()


def running() -> int:
    return _running


__all__ = ["YOUNG_THRESHOLD", "release", "running", "settle"]
