"""Timing helper shared by the bench scripts (run as ``python bench/bench_*.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], runs: int) -> float:
    """The fastest of ``runs`` calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best
