"""Maths on irregular event-time series (book top-of-book columns, trade prices): windows in event time,
not in rows, so a burst of updates does not shorten the window and a quiet spell does not stretch it.

``time_mean(ts_ns, values, window_ns)``: at each row, the mean of the finite values whose time lies in
``(ts - window_ns, ts]``. Non-finite values are skipped (they count in no window), as the indicators skip
them; a row whose window holds no finite value gives NaN.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InvalidValue


def time_mean(ts_ns: np.ndarray, values: np.ndarray, window_ns: int) -> np.ndarray:
    """Trailing mean over ``window_ns`` nanoseconds of event time; ``ts_ns`` must be non-decreasing."""
    if not (isinstance(window_ns, int | np.integer) and window_ns > 0):
        raise ConfigError(f"window_ns must be a positive int, got {window_ns!r}")
    ts = np.asarray(ts_ns, dtype=np.int64)
    x = np.asarray(values, dtype=np.float64)
    if ts.shape != x.shape or ts.ndim != 1:
        raise InvalidValue(f"ts_ns and values must be 1-D and of equal length, got {ts.shape} and {x.shape}")
    if ts.shape[0] > 1 and bool(np.any(np.diff(ts) < 0)):
        raise InvalidValue("ts_ns must be non-decreasing")
    finite = np.isfinite(x)
    sums = np.concatenate(([0.0], np.cumsum(np.where(finite, x, 0.0))))
    counts = np.concatenate(([0], np.cumsum(finite)))
    end = np.searchsorted(ts, ts, side="right")  # rows up to and including equal timestamps
    start = np.searchsorted(ts, ts - window_ns, side="right")
    n = counts[end] - counts[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[end] - sums[start]) / np.maximum(n, 1), np.nan)


__all__ = ["time_mean"]
