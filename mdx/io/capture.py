"""``read_capture``: one entry point for every file mdx replays, picked by format.

``*.mdx.jsonl.gz`` / ``*.mdx.jsonl`` files are mdx recordings (``mdx.io.recording``); anything else is
read as a Binance combined-stream capture (``mdx.io.binance``). ``check_capture`` says why a file yields
no events at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from os import PathLike

from ..errors import CaptureError
from ..events import Event
from ..stats import Rejections
from .binance import read_binance
from .lines import check_path
from .recording import FORMAT, SUFFIX, is_recording, read_header, read_recording, recording_name


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


def check_capture(path: str | PathLike[str], *, market: str | None = None) -> None:
    """``CaptureError`` saying why when ``path`` yields no event at all: a missing or empty file, a recording
    without the recording suffix, or a file that is neither a capture nor a recording. Reads up to the
    first event (all of a file with none)."""
    p = check_path(path)
    rejections = Rejections(log_first=0)
    events = read_capture(p, market=market, rejections=rejections)
    try:
        first = next(events, None)
    finally:
        events.close()  # type: ignore[attr-defined]
    if first is not None:
        return
    if not is_recording(p):
        try:
            read_header(p)
        except CaptureError:
            pass
        else:
            raise CaptureError(
                f"{p}: an mdx recording without the suffix {SUFFIX}; rename it to {recording_name(p)}"
            )
    if not rejections.total:
        raise CaptureError(f"{p}: no market-data events in the file")
    if set(rejections.by_reason) == {"CaptureError"}:  # empty, or damaged before the first event
        raise CaptureError(rejections.last_message["CaptureError"])
    reasons = ", ".join(f"{n} {reason}" for reason, n in rejections.by_reason.most_common())
    last = rejections.last_message[rejections.by_reason.most_common(1)[0][0]]
    raise CaptureError(
        f"{p}: no events: not a Binance capture ('<recv_ns> <json>' lines) or an mdx recording "
        f"('{FORMAT}' header, *{SUFFIX}); rejected {reasons}; e.g. {last[:160]}"
    )


__all__ = ["check_capture", "read_capture"]
