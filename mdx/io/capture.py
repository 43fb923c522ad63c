"""``read_capture``: one entry point for every file mdx replays, picked by format.

``*.mdx.jsonl.gz`` / ``*.mdx.jsonl`` files are mdx recordings (``mdx.io.recording``); anything else is
read as a Binance combined-stream capture (``mdx.io.binance``).
"""

from __future__ import annotations

from collections.abc import Iterator
from os import PathLike

from ..events import Event
from ..stats import Rejections
from .binance import read_binance
from .lines import check_path
from .recording import is_recording, read_recording


def read_capture(
    path: str | PathLike[str],
    *,
    market: str | None = None,
    rejections: Rejections | None = None,
    hold_s: float = 10.0,
) -> Iterator[Event]:
    """Normalized events of a Binance capture or an mdx recording (by its suffix), in file order.

    ``market`` and ``hold_s`` apply to Binance captures (see ``mdx.io.binance``). With ``rejections``
    bad lines are counted and skipped; with ``None`` the reader raises the specific ``DataError``. A
    missing file raises ``CaptureError`` at call time."""
    p = check_path(path)
    if is_recording(p):
        return read_recording(p, rejections)
    return read_binance(p, market=market, rejections=rejections, hold_s=hold_s)


__all__ = ["read_capture"]
