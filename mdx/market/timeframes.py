"""ccxt timeframe strings (``1s``, ``1m``, ``5m``, ``1h``, ``1d``, ``1w``) to nanoseconds."""

from __future__ import annotations

import re

from ..errors import InvalidTimeframe

_UNIT_NS = {
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
    "w": 7 * 86400 * 1_000_000_000,
}
_PATTERN = re.compile(r"^([1-9][0-9]*)([smhdw])$")


def timeframe_ns(timeframe: str) -> int:
    """Length of a ccxt timeframe in ns. Months (``1M``) are not fixed-length and are rejected."""
    match = _PATTERN.match(timeframe) if isinstance(timeframe, str) else None
    if match is None:
        raise InvalidTimeframe(
            f"unknown timeframe {timeframe!r}: use a ccxt timeframe like '1s', '1m', '5m', '1h', '1d'"
        )
    return int(match.group(1)) * _UNIT_NS[match.group(2)]


__all__ = ["timeframe_ns"]
