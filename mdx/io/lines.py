"""Reading capture and recording files line by line: gzip (one or several members) or plain text.

Damage never costs the data before it: every complete line decompressed before a corrupt member, a cut
member or trailing garbage is yielded, then one ``CaptureError`` says what happened and at which byte
(``trailing garbage after the last gzip member at byte N``, ``corrupt gzip member at byte N: ...``,
``truncated gzip member at byte N: ...``). An empty file is a ``CaptureError`` too, never 0 silent events.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from functools import partial
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import CaptureError

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
SALVAGE_PIECE = 4096


def check_path(path: str | PathLike[str]) -> Path:
    """``path`` as a ``Path``; ``CaptureError`` naming it when it is not a file."""
    p = Path(path)
    if not p.is_file():
        raise CaptureError(f"{p}: no such capture file")
    return p


def line_chunks(path: Path) -> Iterator[list[bytes]]:
    """Complete lines, a chunk at a time. Raises ``CaptureError`` when the file is empty, truncated or
    corrupt (after every complete line before the damage); the partial last line of a damaged member is
    dropped. Trailing garbage after a complete member loses nothing: its last line is complete."""
    with open(path, "rb") as f:
        head = f.read(2)
        if not head:
            raise CaptureError(f"{path}: empty file")
        f.seek(0)
        gz = _Gunzip(f) if head == GZIP_MAGIC else None
        pieces = iter(gz) if gz is not None else iter(partial(f.read, CHUNK), b"")
        tail = b""
        for data in pieces:
            lines = (tail + data).split(b"\n") if tail else data.split(b"\n")
            tail = lines.pop()
            yield lines
        if gz is not None and gz.problem:
            if gz.clean and tail:
                yield [tail]
            raise CaptureError(f"{path}: {gz.problem}")
        if tail:
            yield [tail]


class _Gunzip:
    """The decompressed data of a gzip file, a piece per compressed chunk, member after member. When the
    pieces run out early, ``problem`` says why and ``clean`` whether the data ended at a member's end."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._offset = 0  # file offset of the first byte not yet given to a decompressor
        self.problem = ""
        self.clean = True

    def __iter__(self) -> Iterator[bytes]:
        f = self._f
        d: Any = None  # the current member's decompressor; None between members
        member_at = 0
        rest = b""  # bytes read past the end of the last member
        while True:
            if d is None:
                data = rest or f.read(CHUNK)
                if len(data) == 1:  # perhaps half of the next member's magic number
                    data += f.read(CHUNK)
                if not data:
                    return  # the file ends right after a complete member
                if data[:2] != GZIP_MAGIC:
                    self.problem = self._garbage(data)
                    return
                d, member_at = zlib.decompressobj(31), self._offset
            else:
                data = f.read(CHUNK)
                if not data:
                    self.problem = (
                        f"truncated gzip member at byte {member_at}: "
                        f"the file ends at byte {self._offset}, before the member does"
                    )
                    self.clean = False
                    return
            before = d.copy()
            try:
                out = d.decompress(data)
            except zlib.error as error:
                yield _salvage(before, data)
                self.problem = f"corrupt gzip member at byte {member_at}: {error}"
                self.clean = False
                return
            if d.eof:
                rest = d.unused_data
                self._offset += len(data) - len(rest)
                d = None
            else:
                rest = b""
                self._offset += len(data)
            yield out

    def _garbage(self, data: bytes) -> str:
        size, zeros = len(data), data.count(0) == len(data)
        for chunk in iter(partial(self._f.read, CHUNK), b""):
            size += len(chunk)
            zeros = zeros and chunk.count(0) == len(chunk)
        what = f"{size} zero bytes" if zeros else f"{size} bytes"
        return f"trailing garbage after the last gzip member at byte {self._offset} ({what})"


def _salvage(d: Any, data: bytes) -> bytes:
    """What decompressor ``d`` makes of ``data`` before the damage in it. zlib drops the whole output of
    a call that fails, so ``data`` is fed again in small pieces, and the failing piece byte by byte."""
    out: list[bytes] = []
    for start in range(0, len(data), SALVAGE_PIECE):
        piece = data[start : start + SALVAGE_PIECE]
        before = d.copy()
        try:
            out.append(d.decompress(piece))
        except zlib.error:
            for i in range(len(piece)):
                try:
                    out.append(before.decompress(piece[i : i + 1]))
                except zlib.error:
                    break
            break
    return b"".join(out)


__all__ = ["check_path", "line_chunks"]
