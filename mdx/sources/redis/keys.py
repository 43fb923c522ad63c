"""Where the collector puts things in Redis, and the ids of stream entries.

Streams (``XADD ... MAXLEN ~ n``), one per exchange, symbol and channel; each entry is one field ``e``
holding the event as one line of the recording codec (``mdx.io.recording.encode``)::

    mdx:{exchange}:{symbol}:trades     Trade
    mdx:{exchange}:{symbol}:book       BookSnapshot, BookDelta (one stream: deltas chain on snapshots;
                                       a snapshot of the collector's book every 10 s, a keyframe)
    mdx:{exchange}:{symbol}:quotes     Quote

Keys (plain values, ``SET ... EX ttl``, so they vanish soon after the collector does)::

    mdx:{exchange}:{symbol}:latest:trade     the last trade (encoded)
    mdx:{exchange}:{symbol}:latest:quote     the last quote
    mdx:{exchange}:{symbol}:latest:bar:{tf}  the open bar
    mdx:{exchange}:{symbol}:book:view        {"id": the book stream's entry id, "e": a BookSnapshot}:
                                             the collector's whole book right after that entry
    mdx:{exchange}:{symbol}:bars:{tf}        sorted set of the last N closed bars, scored by open time
    mdx:markets                              set of ["exchange", "symbol"] JSON pairs published
    mdx:collector                            {"source", "timeframes", "pid", ...}: who publishes; a
                                             heartbeat (it lives 5 s: gone when no collector runs)

Entry ids carry the order, and they are the collector's, not Redis's: ``{ms}-{n}`` where ``ms`` is the
event's receive time in ms and ``n`` counts the entries of that stream in that ms (``StreamIds``). The
same events in the same order get the same ids, so a restarted collector that sees events again (a
replay, a seeded simulator with the same start) skips every id at or below the stream's last one, and
a Redis that lost its data (restarted without persistence) is refilled with the ids consumers expect.
"""

from __future__ import annotations

from ...errors import ConfigError
from ...events import Bar, BookDelta, BookSnapshot, Quote, Trade

PREFIX = "mdx"
MARKETS_KEY = f"{PREFIX}:markets"
COLLECTOR_KEY = f"{PREFIX}:collector"
ENTRY_FIELD = "e"  # the one field of a stream entry: the encoded event
CHANNELS: dict[type, str] = {Trade: "trades", BookSnapshot: "book", BookDelta: "book", Quote: "quotes"}
STREAMED = tuple(CHANNELS)  # the event types that go to streams
CHANNEL_NAMES = ("trades", "book", "quotes")
LATEST: dict[type, str] = {Trade: "trade", Quote: "quote", Bar: "bar"}

EntryId = tuple[int, int]  # (ms, sequence in that ms)


def stream_key(exchange: str, symbol: str, channel: str) -> str:
    return f"{PREFIX}:{exchange}:{symbol}:{channel}"


def latest_key(exchange: str, symbol: str, tag: str, timeframe: str = "") -> str:
    """The key of the latest value of a kind (``trade``, ``quote``, ``bar`` with its timeframe)."""
    return f"{PREFIX}:{exchange}:{symbol}:latest:{tag}" + (f":{timeframe}" if timeframe else "")


def book_key(exchange: str, symbol: str) -> str:
    return f"{PREFIX}:{exchange}:{symbol}:book:view"


def bars_key(exchange: str, symbol: str, timeframe: str) -> str:
    return f"{PREFIX}:{exchange}:{symbol}:bars:{timeframe}"


def parse_id(text: str | bytes) -> EntryId:
    """``b"1712345678901-3"`` as ``(1712345678901, 3)``; ``ConfigError`` for anything else."""
    raw = text.decode() if isinstance(text, bytes) else text
    ms, dash, n = raw.partition("-")
    if not dash or not ms.isdigit() or not n.isdigit():
        raise ConfigError(f"not a Redis stream entry id: {raw!r:.40}")
    return int(ms), int(n)


def format_id(entry: EntryId) -> str:
    return f"{entry[0]}-{entry[1]}"


class StreamIds:
    """The next entry id of each stream: ``{ms}-{n}`` from the event's receive time, strictly increasing
    per stream (a receive time behind the last one takes the last ms and the next ``n``). A function of
    the stream's events so far: it never continues from what Redis holds (the publisher skips ids at or
    below that instead), so events seen again get their old ids, not new ones."""

    def __init__(self) -> None:
        self._last: dict[str, EntryId] = {}

    def last(self, stream: str) -> EntryId | None:
        return self._last.get(stream)

    def next(self, stream: str, ts_recv_ns: int) -> EntryId:
        ms = max(ts_recv_ns // 1_000_000, 1)
        last = self._last.get(stream)
        entry = (ms, 0) if last is None or ms > last[0] else (last[0], last[1] + 1)
        self._last[stream] = entry
        return entry


__all__ = [
    "CHANNELS",
    "CHANNEL_NAMES",
    "COLLECTOR_KEY",
    "ENTRY_FIELD",
    "MARKETS_KEY",
    "STREAMED",
    "EntryId",
    "StreamIds",
    "bars_key",
    "book_key",
    "format_id",
    "latest_key",
    "parse_id",
    "stream_key",
]
