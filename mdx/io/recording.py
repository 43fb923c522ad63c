"""mdx's own recording format: gzip JSON Lines of normalized events (``*.mdx.jsonl.gz``).

The first line is a header, then one object per event with a ``type`` tag and the event's fields::

    {"type":"header","format":"mdx-recording","version":1,"meta":{}}
    {"type":"trade","exchange":"binance","symbol":"BTC/USDT","ts_event":...,"price":61837.63,...}
    {"type":"delta",...,"bids":[[61737.63,0.0]],"asks":[],"prev_seq":-1}

Floats are written in shortest round-trip form, so every event reads back equal. Non-finite floats
(JSON has none) are written as strings and listed under ``"nf"``. Reading follows ``read_capture``:
bad lines are counted on ``rejections`` (or raised when it is None); a truncated file ends with a
counted ``CaptureError``.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterable, Iterator
from dataclasses import fields
from functools import cache
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any

from orjson import dumps, loads

from ..errors import CaptureError, DataError, MalformedFrame
from ..events import KINDS, KINDS_BY_TAG, Event, Levels
from ..stats import Rejections
from .lines import check_path, line_chunks

SUFFIX = ".mdx.jsonl.gz"
FORMAT, VERSION = "mdx-recording", 1


@cache
def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@cache
def _float_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.type in ("float", float))


@cache
def _level_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.type in ("Levels", Levels))


def is_recording(path: str | PathLike[str]) -> bool:
    """True for ``*.mdx.jsonl.gz`` / ``*.mdx.jsonl`` file names."""
    name = Path(path).name
    return name.endswith((SUFFIX, ".mdx.jsonl"))


def _finite(levels: Any) -> bool:
    return math.isfinite(sum(p + q for p, q in levels))


def encode(event: Event) -> bytes:
    """One JSON line (no newline) for an event of any recorded kind (``mdx.events.KINDS``)."""
    cls = type(event)
    kind = KINDS.get(cls)
    if kind is None or not kind.recorded:
        raise DataError(f"cannot record a {cls.__name__}: not a recorded mdx event type")
    row: dict[str, Any] = {"type": kind.tag}
    for name in _fields(cls):
        row[name] = getattr(event, name)
    nf = [n for n in _float_fields(cls) if not math.isfinite(row[n])]
    nf += [n for n in _level_fields(cls) if not _finite(row[n])]
    if nf:
        for n in nf:
            v = row[n]
            row[n] = [[repr(p), repr(q)] for p, q in v] if isinstance(v, tuple) else repr(v)
        row["nf"] = nf
    return dumps(row)


def decode(line: bytes) -> Event:
    """The event of one JSON line; raises ``MalformedFrame`` on anything else."""
    try:
        row = loads(line)
        kind = KINDS_BY_TAG[row.pop("type")]
        if not kind.recorded:
            raise KeyError(kind.tag)
        nf = row.pop("nf", None)
        if nf:
            for n in nf:
                v = row[n]
                row[n] = [[float(p), float(q)] for p, q in v] if isinstance(v, list) else float(v)
        for n in _level_fields(kind.cls):
            row[n] = tuple(map(tuple, row[n]))
        return kind.cls(**row)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise MalformedFrame(f"not an mdx event ({type(error).__name__}: {error}): {line[:80]!r}") from None


class RecordingWriter:
    """Write events incrementally: ``with RecordingWriter(path) as w: w.write(event)``."""

    def __init__(
        self, path: str | PathLike[str], meta: dict[str, Any] | None = None, buffer: int = 2000
    ) -> None:
        self.path = Path(path)
        self.count = 0
        self._buffer = buffer
        self._lines: list[bytes] = []
        self._file = gzip.open(self.path, "wb", compresslevel=6)  # noqa: SIM115 (closed by close())
        header = {"type": "header", "format": FORMAT, "version": VERSION, "meta": meta or {}}
        self._file.write(dumps(header) + b"\n")

    def write(self, event: Event) -> None:
        self._lines.append(encode(event))
        self.count += 1
        if len(self._lines) >= self._buffer:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self._lines.append(b"")
            self._file.write(b"\n".join(self._lines))
            self._lines = []
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_recording(
    path: str | PathLike[str], events: Iterable[Event], meta: dict[str, Any] | None = None
) -> int:
    """Write every event to a new recording; returns how many were written."""
    with RecordingWriter(path, meta) as writer:
        for event in events:
            writer.write(event)
    return writer.count


def read_header(path: str | PathLike[str]) -> dict[str, Any]:
    """The header of a recording; ``CaptureError`` when the file is not one."""
    p = check_path(path)
    for lines in line_chunks(p):
        for line in lines:
            return _header(p, line)
    raise CaptureError(f"{p}: empty file, not an mdx recording")


def _header(path: Path, line: bytes) -> dict[str, Any]:
    try:
        header = loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CaptureError(f"{path}: not an mdx recording (no '{FORMAT}' header line)")
    if header.get("version") != VERSION:
        raise CaptureError(f"{path}: recording version {header.get('version')!r}; this mdx reads {VERSION}")
    return header


def read_recording(path: str | PathLike[str], rejections: Rejections | None = None) -> Iterator[Event]:
    """Events of a recording in file order. See the module docstring for error handling."""
    return _read(check_path(path), rejections)


def _read(path: Path, rejections: Rejections | None) -> Iterator[Event]:
    lineno = 0
    try:
        for lines in line_chunks(path):
            for line in lines:
                lineno += 1
                if lineno == 1:
                    _header(path, line)
                    continue
                try:
                    yield decode(line)
                except MalformedFrame as error:
                    if not line.strip():
                        continue
                    bad = MalformedFrame(f"{path.name}:{lineno}: {error}")
                    if rejections is None:
                        raise bad from None
                    rejections.add(bad)
    except CaptureError as error:
        if rejections is None or lineno <= 1:
            raise
        rejections.add(error)


__all__ = ["SUFFIX", "RecordingWriter", "decode", "encode", "is_recording", "read_header", "read_recording",
           "write_recording"]  # fmt: skip
