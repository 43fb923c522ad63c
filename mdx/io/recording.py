"""mdx's own recording format: gzip JSON Lines of normalized events (``*.mdx.jsonl.gz``).

The first line is a header, then one object per event with a ``type`` tag and the event's fields::

    {"type":"header","format":"mdx-recording","version":1,"meta":{}}
    {"type":"trade","exchange":"binance","symbol":"BTC/USDT","ts_event":...,"price":61837.63,...}
    {"type":"delta",...,"bids":[[61737.63,0.0]],"asks":[],"prev_seq":-1}

``*.mdx.jsonl`` is the same without gzip. Floats are written in shortest round-trip form, so every
event reads back equal. Non-finite floats (JSON has none) are written as strings and listed under
``"nf"``: they round-trip where they are legal (a bar's vwap), and are rejected on reading where they are
not (a trade's price, a book level, a quote: the value rules of ``mdx.events``, ``EventKind.check``).

Reading follows ``read_capture``: each line is checked against its event class (``decode``); a line of
the wrong shape or types is a ``MalformedFrame``, impossible values an ``InvalidValue``. Bad lines are
counted on ``rejections`` (or raised when it is None); a truncated or corrupt file ends with a counted
``CaptureError`` after the events before the damage. A file whose first line is not the header is not a
recording: nothing is read from it, and it is one ``CaptureError`` (counted, or raised when
``rejections`` is None), like an empty file.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import MISSING, fields
from functools import cache
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any

from orjson import dumps, loads

from ..errors import CaptureError, ConfigError, DataError, MalformedFrame
from ..events import KINDS, KINDS_BY_TAG, CheckedLevels, Event, Levels, check_event, fast_constructor
from ..stats import Rejections
from .lines import check_path, line_chunks

SUFFIX = ".mdx.jsonl.gz"
PLAIN_SUFFIX = ".mdx.jsonl"
FORMAT, VERSION = "mdx-recording", 1
NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_TYPE_NAMES: dict[Any, str] = {str: "str", int: "int", float: "float", bool: "bool", Levels: "Levels"}
_WANT = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "Levels": "a list of [price, amount] number pairs",
}


@cache
def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@cache
def _float_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.type in ("float", float))


@cache
def _level_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.type in ("Levels", Levels))


class _Factory:
    """A field's ``default_factory``, called for each event that omits the field."""

    def __init__(self, make: Any) -> None:
        self.make = make


@cache
def _schema(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """``(name, type name, default)`` per field; the type name is ``""`` for types decode does not check."""
    out = []
    for f in fields(cls):
        kind = f.type if isinstance(f.type, str) else _TYPE_NAMES.get(f.type, "")
        default = f.default if f.default_factory is MISSING else _Factory(f.default_factory)
        out.append((f.name, kind if kind in _WANT else "", default))
    return tuple(out)


def is_recording(path: str | PathLike[str]) -> bool:
    """True for ``*.mdx.jsonl.gz`` / ``*.mdx.jsonl`` file names."""
    name = Path(path).name
    return name.endswith((SUFFIX, PLAIN_SUFFIX))


def recording_name(path: str | PathLike[str]) -> Path:
    """The recording name for ``path``: ``x.gz``, ``x.jsonl.gz`` or ``x`` give ``x.mdx.jsonl.gz``."""
    p = Path(path)
    if is_recording(p):
        return p
    name = p.name
    while True:
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem or ext.lower() not in ("gz", "jsonl", "json", "mdx", "txt"):
            break
        name = stem
    return p.with_name(name + SUFFIX)


def check_output(path: str | PathLike[str]) -> Path:
    """``path`` as a ``Path`` a recording can be written to; ``ConfigError`` saying why not (a name that
    ``read_capture`` would not read as a recording, a directory, a folder that does not exist)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p} is a directory; give a file name such as {p / ('recording' + SUFFIX)}")
    if not is_recording(p):
        raise ConfigError(
            f"{p}: a recording's name must end in {SUFFIX} (or {PLAIN_SUFFIX} for plain text), "
            f"e.g. {recording_name(p)}"
        )
    parent = p.parent
    if not parent.exists():
        raise ConfigError(f"{p}: no such directory {parent}")
    if not parent.is_dir():
        raise ConfigError(f"{p}: {parent} is not a directory")
    return p


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
    return dumps(row, default=_plain)


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: ``CheckedLevels`` (a tuple subclass) as its plain tuple."""
    if isinstance(value, CheckedLevels):
        return tuple(value)
    raise TypeError(f"cannot record a {type(value).__name__}")


def decode(line: bytes) -> Event:
    """The event of one JSON line. Every field is checked against the event class (``str``, ``int``,
    ``float`` — an integer is converted —, ``bool``, ``Levels``; a bool is neither an int nor a float):
    ``MalformedFrame`` on anything else. The event then passes the value rule of its kind (``EventKind.check``
    in ``mdx.events``): ``InvalidValue`` for a NaN, infinite or negative price or amount."""
    try:
        row = loads(line)
    except ValueError as error:
        raise MalformedFrame(f"not JSON ({error}): {line[:80]!r}") from None
    if type(row) is not dict:
        raise MalformedFrame(f"not a JSON object: {line[:80]!r}")
    tag = row.pop("type", None)
    kind = KINDS_BY_TAG.get(tag) if type(tag) is str else None
    if kind is None or not kind.recorded:
        raise MalformedFrame(f"not an mdx event (type {tag!r}): {line[:80]!r}")
    event = _fast_decoder(kind.cls)(row)
    if event is None:
        event = _decode_fields(kind.cls, tag, row, line)
    check_event(event)
    return event


def _decode_fields(cls: type, tag: str, row: dict[str, Any], line: bytes) -> Event:
    """The general path of ``decode``: defaults, ``nf``, and a precise error for anything wrong."""
    nf = row.pop("nf", [])
    if type(nf) is not list or not all(type(n) is str for n in nf):
        raise MalformedFrame(f"{tag}: 'nf' must be a list of field names, got {nf!r:.60}")
    values = []
    for name, want, default in _schema(cls):
        if name in row:
            value = row.pop(name)
        elif default is not MISSING:
            values.append(default.make() if type(default) is _Factory else default)
            continue
        else:
            raise MalformedFrame(f"{tag} without field {name!r}: {line[:80]!r}")
        values.append(_convert(tag, name, want, value, name in nf) if want else value)
    if row:
        raise MalformedFrame(f"{tag} with unknown fields {sorted(row)}: {line[:80]!r}")
    for name in nf:
        if name not in _float_fields(cls) and name not in _level_fields(cls):
            raise MalformedFrame(f"{tag}: 'nf' names {name!r}, not a float or levels field")
    event: Event = cls(*values)
    return event


@cache
def _fast_decoder(cls: type) -> Callable[[dict[str, Any]], Any]:
    """``decode`` specialised to ``cls`` for the common row (every field, exact JSON types, no ``nf``); it
    returns None for anything else, which the general path then reads or rejects with a precise error.
    Generated once per class, like ``mdx.events.fast_constructor`` (about twice as fast as the loop)."""
    schema = _schema(cls)
    code = ["def fast(row):", f"    if len(row) != {len(schema)}:", "        return None", "    try:"]
    code += [f"        v{i} = row[{name!r}]" for i, (name, _, _) in enumerate(schema)]
    code += ["    except KeyError:", "        return None"]
    for i, (_, want, _) in enumerate(schema):
        if want in ("str", "int", "bool"):
            code += [f"    if type(v{i}) is not {want}:", "        return None"]
        elif want == "float":
            code += [f"    if type(v{i}) is not float:", f"        if type(v{i}) is not int:"]
            code += ["            return None", f"        v{i} = float(v{i})"]
        elif want == "Levels":
            code += [f"    v{i} = levels(v{i})", f"    if v{i} is None:", "        return None"]
    code.append(f"    return make({', '.join(f'v{i}' for i in range(len(schema)))})")
    slotted = getattr(cls, "__slots__", None) == _fields(cls) and not hasattr(cls, "__post_init__")
    scope: dict[str, Any] = {"levels": _fast_levels, "make": fast_constructor(cls) if slotted else cls}
    exec("\n".join(code), scope)
    fast: Callable[[dict[str, Any]], Any] = scope["fast"]
    return fast


def _fast_levels(value: Any) -> Levels | None:
    """A list of ``[price, amount]`` JSON number pairs as float tuples; None for anything else."""
    if type(value) is not list:
        return None
    out = []
    for level in value:
        if type(level) is not list or len(level) != 2:
            return None
        p, q = level
        if type(p) is not float:
            if type(p) is not int:
                return None
            p = float(p)
        if type(q) is not float:
            if type(q) is not int:
                return None
            q = float(q)
        out.append((p, q))
    return tuple(out)


def _convert(tag: str, name: str, want: str, value: Any, nf: bool) -> Any:
    t = type(value)
    if want == "float":
        if t is float:
            return value
        if t is int:
            return float(value)
        if nf and t is str and value in NON_FINITE:
            return NON_FINITE[value]
    elif want == "int" or want == "str" or want == "bool":
        if t.__name__ == want:
            return value
    elif t is list:  # Levels
        levels = []
        for level in value:
            if type(level) is not list or len(level) != 2:
                break
            pair = tuple(_number(x, nf) for x in level)
            if None in pair:
                break
            levels.append(pair)
        else:
            return tuple(levels)
    raise MalformedFrame(f"{tag} field {name!r} must be {_WANT[want]}, got {t.__name__} {value!r:.60}")


def _number(x: Any, text: bool) -> float | None:
    """A level's price or amount as a float: a JSON number (not a bool), or a float string under ``nf``."""
    t = type(x)
    if t is float:
        return x
    if t is int:
        return float(x)
    if text and t is str:
        try:
            return float(x)
        except ValueError:
            return None
    return None


class RecordingWriter:
    """Write events incrementally: ``with RecordingWriter(path) as w: w.write(event)``.

    ``path`` must be named like a recording (``*.mdx.jsonl.gz``, gzip; ``*.mdx.jsonl``, plain text) so that
    ``read_capture`` reads it back as one; ``ConfigError`` otherwise (see ``check_output``)."""

    def __init__(
        self, path: str | PathLike[str], meta: dict[str, Any] | None = None, buffer: int = 2000
    ) -> None:
        self.path = check_output(path)
        self.count = 0
        self._buffer = buffer
        self._lines: list[bytes] = []
        try:
            if self.path.name.endswith(SUFFIX):
                self._file: Any = gzip.open(self.path, "wb", compresslevel=6)  # noqa: SIM115 (see close())
            else:
                self._file = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        except OSError as error:
            raise ConfigError(f"{self.path}: cannot write a recording there ({error.strerror})") from None
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
        raise CaptureError(
            f"{path}: not an mdx recording: its first line is not the '{FORMAT}' header "
            f"(it starts {line[:60]!r}); nothing read from it"
        )
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
                    event = decode(line)
                except DataError as error:
                    if not line.strip():
                        continue
                    bad = type(error)(f"{path.name}:{lineno}: {error}")
                    if rejections is None:
                        raise bad from None
                    rejections.add(bad)
                    continue
                yield event
        if lineno == 0:
            raise CaptureError(f"{path}: no lines, not an mdx recording (no '{FORMAT}' header line)")
    except CaptureError as error:  # empty, headerless, truncated or corrupt: one error, after what was read
        if rejections is None:
            raise
        rejections.add(error)


__all__ = ["PLAIN_SUFFIX", "SUFFIX", "RecordingWriter", "check_output", "decode", "encode", "is_recording",
           "read_header", "read_recording", "recording_name", "write_recording"]  # fmt: skip
