"""Record normalized events from any source into an mdx recording (``mdx record``).

Offline sources (simulator, replay) are recorded as fast as possible by event time; live sources, or
offline ones with ``realtime=True``, are recorded for ``seconds`` of wall-clock time as they stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from os import PathLike

from ..clock import Clock, LiveClock
from ..sources.base import OfflineSource, Source, open_stream
from ..stats import Rejections
from .recording import RecordingWriter


@dataclass
class RecordResult:
    path: str
    events: int = 0
    rejections: Rejections = field(default_factory=Rejections)


def record_offline(source: OfflineSource, path: str | PathLike[str], *, seconds: float) -> RecordResult:
    """The first ``seconds`` of event time of an offline source, as fast as it can be read."""
    result = RecordResult(str(path))
    end_ns: int | None = None
    with RecordingWriter(path, meta={"source": source.name}) as writer:
        for event in source.iter_events(result.rejections):
            if end_ns is None:
                end_ns = event.ts_event + int(seconds * 1e9)
            if event.ts_event > end_ns:
                break
            writer.write(event)
            result.events += 1
    return result


async def record_stream(
    source: Source,
    path: str | PathLike[str],
    *,
    seconds: float,
    clock: Clock | None = None,
    speed: float = 1.0,
) -> RecordResult:
    """``seconds`` of wall-clock time of a source as it streams (live, or offline paced at ``speed``)."""
    clock = clock or LiveClock()
    result = RecordResult(str(path))
    stream = open_stream(source, clock, result.rejections, speed)
    with RecordingWriter(path, meta={"source": source.name}) as writer:
        async with contextlib.aclosing(stream):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    async for event in stream:
                        writer.write(event)
                        result.events += 1
    return result


__all__ = ["RecordResult", "record_offline", "record_stream"]
