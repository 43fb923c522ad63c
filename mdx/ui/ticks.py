"""Axis ticks the kernel chooses: round values and unambiguous UTC time labels. No widgets here.

bqplot's ``num_ticks`` spreads ticks evenly from the domain's min to its max (``linspace``), so a price
axis reads 68,012.15 / 67,997.46 and the first time label sits on the left edge, half clipped. The
monitor's axes set ``tick_values`` instead: multiples of a 1/2/5 x 10^k step (never finer than the
price precision) for values, and multiples of a round time step (1 s ... 30 min, 1 h ... 1 d ...) with a
``tick_format`` that fits the step (``%H:%M:%S``, ``%H:%M``, dates) for time. bqplot formats date
ticks with ``d3.utcFormat``, so every time label is UTC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
TIME_STEPS = (
    *(n * SECOND for n in (1, 2, 5, 10, 15, 30)),
    *(n * MINUTE for n in (1, 2, 5, 10, 15, 30)),
    *(n * HOUR for n in (1, 2, 3, 6, 12)),
    *(n * DAY for n in (1, 2, 7, 14, 28, 56, 91, 182, 364)),
)
NO_TICKS = np.empty(0, dtype=np.float64)
NO_TIMES = np.empty(0, dtype="datetime64[ms]")


def nice_step(span: float, max_ticks: int, min_step: float = 0.0) -> float:
    """The smallest 1/2/5 x 10^k step that puts at most ``max_ticks`` ticks on ``span`` (and is at
    least ``min_step``)."""
    if not (math.isfinite(span) and span > 0):
        return max(min_step, 1.0) if min_step > 0 else 1.0
    raw = max(span / max(max_ticks, 1), min_step, 1e-12)
    power = 10.0 ** math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 5.0, 10.0):
        step = mult * power
        if step >= raw * (1 - 1e-9):
            return float(f"{step:.12g}")
    return 10.0 * power  # pragma: no cover (10 x power always fits)


def smaller_step(step: float) -> float:
    """The next smaller 1/2/5 x 10^k step (10 -> 5 -> 2 -> 1 -> 0.5 ...)."""
    power = 10.0 ** math.floor(math.log10(step) + 1e-9)
    mult = round(step / power)
    return float(f"{(0.5 if mult == 1 else 1.0 if mult == 2 else 2.0) * power:.12g}")


def step_decimals(step: float) -> int:
    """Decimals that show every multiple of a 1/2/5 x 10^k ``step`` exactly (0.5 -> 1, 20 -> 0)."""
    if not (math.isfinite(step) and step > 0):
        return 0
    return max(0, -math.floor(math.log10(step) + 1e-9))


def value_ticks(
    lo: float,
    hi: float,
    *,
    max_ticks: int = 5,
    min_ticks: int = 1,
    min_step: float = 0.0,
    edge: float = 0.0,
    prefer: float = 0.0,
) -> tuple[np.ndarray, float]:
    """Multiples of a nice step inside ``[lo + edge * span, hi - edge * span]``, and the step: the
    largest step giving at most ``max_ticks``, made smaller (never below ``min_step``) until there are
    at least ``min_ticks``. ``prefer`` (the step shown last time) is kept while it gives between
    ``min_ticks`` and ``max_ticks`` ticks: a range that wobbles around a boundary does not make the
    axis flip between two steps (and send new ticks) on every refresh.

    The ticks are rounded to the step's decimals, so ``61,705.0`` is exactly that and not 61,704.99999.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return NO_TICKS, 0.0
    span = hi - lo
    inner_lo, inner_hi = lo + edge * span, hi - edge * span
    if prefer > 0 and prefer >= min_step * (1 - 1e-9) and span / prefer <= 4 * max_ticks:
        first, last = math.ceil(inner_lo / prefer - 1e-9), math.floor(inner_hi / prefer + 1e-9)
        if min_ticks <= last - first + 1 <= max_ticks:
            return np.round(
                np.arange(first, last + 1, dtype=np.float64) * prefer, step_decimals(prefer)
            ), prefer
    step = nice_step(span, max_ticks, min_step)
    while True:
        first, last = math.ceil(inner_lo / step - 1e-9), math.floor(inner_hi / step + 1e-9)
        finer = smaller_step(step)
        if last - first + 1 >= min_ticks or finer < min_step * (1 - 1e-9) or span / finer > 4 * max_ticks:
            break
        step = finer
    if last - first > 1000:  # a degenerate range: never send a huge array
        return NO_TICKS, step
    ticks = np.round(np.arange(first, last + 1, dtype=np.float64) * step, step_decimals(step))
    return ticks, step


def price_decimals_for(step: float, precision: int) -> int:
    """Decimals of price tick labels: what the step needs, never more than the price's ``precision``."""
    return min(step_decimals(step), max(precision, 0))


@dataclass(frozen=True, slots=True)
class TimeTicks:
    values: np.ndarray  # datetime64[ms]
    step_ns: int
    tick_format: str  # a d3 time format, applied in UTC by bqplot


def time_step(span_ns: int, max_ticks: int, min_step_ns: int = 0) -> int:
    """The smallest round time step (``TIME_STEPS``) with at most ``max_ticks`` ticks on ``span_ns``."""
    for step in TIME_STEPS:
        if step >= min_step_ns and span_ns / step <= max_ticks:
            return step
    return TIME_STEPS[-1]


def time_format(step_ns: int, lo_ns: int, hi_ns: int) -> str:
    """A d3 format naming each tick fully for its step: ``%H:%M:%S`` below a minute, ``%H:%M`` below a
    day (``%b %d %H:%M`` when the axis crosses a UTC midnight), ``%Y-%m-%d`` for days."""
    if step_ns >= DAY:
        return "%Y-%m-%d"
    if lo_ns // DAY != hi_ns // DAY and step_ns >= MINUTE:
        return "%b %d %H:%M"
    return "%H:%M:%S" if step_ns < MINUTE else "%H:%M"


def time_ticks(
    lo_ns: int, hi_ns: int, *, max_ticks: int = 6, min_step_ns: int = 0, edge: float = 0.04
) -> TimeTicks:
    """Round UTC times between ``lo_ns`` and ``hi_ns`` (none within ``edge`` of the span from the left
    edge, where a centred label would be clipped), their step and the ``tick_format`` that shows them."""
    lo_ns, hi_ns = int(lo_ns), int(hi_ns)
    span = hi_ns - lo_ns
    if span <= 0:
        step = max(min_step_ns, SECOND)
        return TimeTicks(NO_TIMES, step, time_format(step, lo_ns, hi_ns))
    step = time_step(span, max_ticks, min_step_ns)
    start = -(-(lo_ns + int(edge * span)) // step) * step
    ns = np.arange(start, hi_ns + 1, step, dtype=np.int64)
    return TimeTicks((ns // 1_000_000).astype("datetime64[ms]"), step, time_format(step, lo_ns, hi_ns))


def js_key(value: float) -> str:
    """``String(value)`` in JavaScript, for bqplot's ``tick_labels`` (keyed by the tick's value)."""
    value = float(value)
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return np.format_float_positional(value, trim="-")


__all__ = [
    "TIME_STEPS",
    "TimeTicks",
    "js_key",
    "nice_step",
    "price_decimals_for",
    "smaller_step",
    "step_decimals",
    "time_format",
    "time_step",
    "time_ticks",
    "value_ticks",
]
