"""Candle files from elsewhere as DataFrames of bars (a UTC DatetimeIndex of bar open times; open, high,
low, close, volume as float64), checked the way mdx checks bars.

``read_coinbase_candles(path)``: Coinbase's ``{"candles": [{"start": epoch_s, "low", "high", "open",
"close", "volume"}, ...]}`` (strings or numbers), in any order; returned sorted by time. A candle with a
missing field, a non-numeric or non-positive price, ``high`` below ``low`` / ``open`` / ``close``, negative
volume, or a start seen before is a ``CaptureError`` naming its position (``skip_bad=True``: left out
and counted in the frame's ``attrs["rejected"]``).
"""

from __future__ import annotations

import json
import math
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CaptureError

FIELDS = ("open", "high", "low", "close", "volume")


def _candle(raw: Any, position: int) -> tuple[int, float, float, float, float, float]:
    if not isinstance(raw, dict):
        raise CaptureError(f"candle {position}: not an object: {raw!r:.80}")
    try:
        start = int(raw["start"])
        o, h, low, c, v = (float(raw[name]) for name in FIELDS)
    except KeyError as error:
        raise CaptureError(f"candle {position}: no {error.args[0]!r} field") from None
    except (TypeError, ValueError) as error:
        raise CaptureError(f"candle {position}: not a number: {error}") from None
    if not all(math.isfinite(p) and p > 0 for p in (o, h, low, c)):
        raise CaptureError(
            f"candle {position} at {start}: prices must be finite and > 0: {o}, {h}, {low}, {c}"
        )
    if not (h >= max(o, c, low) and low <= min(o, c)):
        raise CaptureError(
            f"candle {position} at {start}: high {h} / low {low} do not bound open {o}, close {c}"
        )
    if not (math.isfinite(v) and v >= 0):
        raise CaptureError(f"candle {position} at {start}: volume must be finite and >= 0, got {v}")
    return start, o, h, low, c, v


def read_coinbase_candles(path: str | PathLike[str], *, skip_bad: bool = False) -> pd.DataFrame:
    """The candles of ``path`` as a bar frame (see the module docstring)."""
    file = Path(path)
    try:
        document = json.loads(file.read_bytes())
    except OSError as error:
        raise CaptureError(f"{file}: cannot read: {error.strerror or error}") from None
    except ValueError as error:
        raise CaptureError(f"{file}: not JSON: {error}") from None
    candles = document.get("candles") if isinstance(document, dict) else None
    if not isinstance(candles, list):
        raise CaptureError(f"{file}: no 'candles' list: not a Coinbase candle file")
    rows: dict[int, tuple[int, float, float, float, float, float]] = {}
    rejected = 0
    for position, raw in enumerate(candles):
        try:
            row = _candle(raw, position)
            if row[0] in rows:
                raise CaptureError(f"candle {position}: start {row[0]} seen before")
        except CaptureError as error:
            if not skip_bad:
                raise CaptureError(f"{file}: {error}") from None
            rejected += 1
            continue
        rows[row[0]] = row
    table = np.array(sorted(rows.values()), dtype=np.float64).reshape(-1, 6)
    index = pd.DatetimeIndex(pd.to_datetime(table[:, 0].astype(np.int64), unit="s", utc=True), name="time")
    frame = pd.DataFrame(table[:, 1:], index=index, columns=list(FIELDS))
    frame.attrs["rejected"] = rejected
    return frame


__all__ = ["read_coinbase_candles"]
