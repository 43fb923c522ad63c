"""Reading capture and recording files line by line: gzip (one or several members) or plain text."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

from ..errors import CaptureError

CHUNK = 1 << 20


def check_path(path: str | PathLike[str]) -> Path:
    """``path`` as a ``Path``; ``CaptureError`` naming it when it is not a file."""
    p = Path(path)
    if not p.is_file():
        raise CaptureError(f"{p}: no such capture file")
    return p


def line_chunks(path: Path) -> Iterator[list[bytes]]:
    """Complete lines, a chunk at a time. Raises ``CaptureError`` when the file is truncated or corrupt
    (after the complete lines before the damage); a partial last line of a truncated file is dropped."""
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        gz = head == b"\x1f\x8b"
        d = zlib.decompressobj(31)
        tail = b""
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            if gz:
                try:
                    data = d.decompress(chunk)
                    while d.eof and d.unused_data:  # a multi-member gzip file
                        rest = d.unused_data
                        d = zlib.decompressobj(31)
                        data += d.decompress(rest)
                except zlib.error as error:
                    if tail:
                        yield tail.split(b"\n")[:-1]
                    raise CaptureError(f"{path}: corrupt gzip data ({error})") from None
            else:
                data = chunk
            lines = (tail + data).split(b"\n") if tail else data.split(b"\n")
            tail = lines.pop()
            yield lines
        if gz and not d.eof:
            raise CaptureError(f"{path}: truncated gzip file (unexpected end of data)")
        if tail:
            yield [tail]


__all__ = ["check_path", "line_chunks"]
