"""Latency accounting per venue and channel: receive time minus exchange time, with the clock offset
split off.

    tracker = LatencyTracker()                      # Trade, BookSnapshot, BookDelta, Quote by default
    session = Session(sources, consumers=[tracker])
    tracker.stats()                                 # engine thread / after a run: fresh figures
    session.cache.latest(Latency, ("binance", ALL_SYMBOLS), "quote")   # any thread: the last report

For every event of its kinds the tracker keeps the raw delay ``d = ts_recv - ts_event`` of its
(exchange, channel), where the channel is the kind's recording tag (``trade``, ``quote``, ``delta``,
``snapshot``). ``d`` mixes two things: the clock offset (local clock minus the exchange's clock) and
the real delay (network, the exchange's own queueing). One-way timing cannot tell the offset from the
fastest possible delay, so the offset is estimated as the **floor** of ``d``:

- the events are cut into blocks of ``block`` events; each block keeps its smallest ``d`` (the event
  that came through fastest); the offset is the **median of the last ``window // block`` block minima**
  (before the first block is complete: the smallest ``d`` so far). The median makes it robust to a
  few events with a wrong exchange time (one low outlier moves one block's minimum, not the median),
  and the window lets it follow a clock that is stepped or drifts (NTP);
- ``floor_ns``: the one-way delay the fastest events are known to take (e.g. half a REST round trip):
  it is moved from the offset to the delay (default 0: the fastest events count as instantaneous).

So ``offset_ns`` = clock skew (+ the floor of the path, unless ``floor_ns`` says it), and the delays
reported are ``d - offset``: p50 / p99 (nearest rank) of the last ``window`` events of the channel.

Memory is bounded (a ring of ``window`` ints and ``window // block`` minima per channel) and the cost per
event is a dict lookup and a few integer operations; percentiles are computed only when asked
(``stats``) or reported. Every ``report_every_ms`` of receive time per channel the tracker emits a
``Latency`` event (cached per (exchange, channel), published on ``latency.<exchange>.*.<channel>``; not
recorded: it describes this machine's link, not the market), which is how other threads (the status
panel) read the figures: ``latest()`` gives the last reports too, as immutable values.

An event whose ``ts_event`` equals its ``ts_recv`` exactly carries no exchange time (sources fall back
to the receive time when the venue sends none): it is counted as ``untimed`` and left out, so it cannot
drag the offset to 0. Times that are not ints are counted in ``rejections`` (``InvalidValue``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..consumer import Consumer
from ..errors import ConfigError, InvalidValue
from ..events import KINDS, KINDS_BY_TAG, BookDelta, BookSnapshot, Quote, Trade, register_event
from ..stats import Rejections

ALL_SYMBOLS = "*"  # the symbol of a Latency event: it covers every symbol of its exchange and channel
DEFAULT_KINDS: tuple[type, ...] = (Trade, BookSnapshot, BookDelta, Quote)
# the other public channels whose ts_event is the time of the message (not a candle's open time), timed
# too when registered (``mdx.channel_events``)
CHANNEL_TAGS = ("ticker", "funding", "mark", "open_interest", "liquidation")


def source_kinds() -> tuple[type, ...]:
    """The event kinds a tracker times by default: the market events and the registered channel events
    of ``CHANNEL_TAGS`` (derived events such as bars, book views or scores carry no delay)."""
    extra = tuple(KINDS_BY_TAG[tag].cls for tag in CHANNEL_TAGS if tag in KINDS_BY_TAG)
    return (*DEFAULT_KINDS, *extra)


@dataclass(frozen=True, slots=True)
class Latency:
    """Delay figures of one (exchange, channel) over its last ``count`` timed events. Times in ns."""

    exchange: str
    symbol: str  # ALL_SYMBOLS
    ts_event: int  # the exchange time of the event that triggered the report
    ts_recv: int  # its receive time
    channel: str  # the event kind's tag: "trade", "quote", "delta", "snapshot", ...
    count: int  # timed events in the window
    total: int  # timed events seen
    untimed: int  # events without an exchange time (left out)
    offset_ns: int  # local clock minus exchange clock (+ the path's floor unless floor_ns says it)
    delay_p50_ns: int
    delay_p99_ns: int
    delay_max_ns: int


register_event(Latency, "latency", "latency", sub="channel", history=False, recorded=False)


class _Channel:
    """The ring of raw delays and the block minima of one (exchange, channel)."""

    __slots__ = (
        "block_left", "block_min", "channel", "due", "exchange", "mins", "n", "pos", "ring", "untimed"
    )  # fmt: skip

    def __init__(self, exchange: str, channel: str, window: int, block: int, blocks: int) -> None:
        self.exchange = exchange
        self.channel = channel
        self.ring: list[int] = [0] * window
        self.pos = 0
        self.n = 0  # timed events seen
        self.untimed = 0
        self.block_min: int | None = None
        self.block_left = block
        self.mins: deque[int] = deque(maxlen=blocks)
        self.due = 0  # receive time of the next report


class LatencyTracker(Consumer):
    """Delay and clock offset per (exchange, channel) (see the module docstring).

    ``kinds``: the event classes to time (registered, with ``ts_event`` / ``ts_recv``: source events;
    derived ones such as bars or book views carry times that are not a delay; None: ``source_kinds()``).
    ``window``: events per channel the percentiles cover; ``block``: events per block of the offset
    estimate (``window`` must hold at least one). ``floor_ns``: the known fastest one-way delay.
    ``report_every_ms``: receive time between two ``Latency`` events of a channel (0: never emit).
    ``rejections``: where bad times are counted (a session's, or the tracker's own)."""

    def __init__(
        self,
        kinds: Iterable[type] | None = None,
        *,
        window: int = 1024,
        block: int = 64,
        floor_ns: int = 0,
        report_every_ms: float = 1000.0,
        rejections: Rejections | None = None,
    ) -> None:
        self.takes = source_kinds() if kinds is None else tuple(kinds)
        unknown = [getattr(cls, "__name__", repr(cls)) for cls in self.takes if cls not in KINDS]
        if not self.takes or unknown:
            raise ConfigError(f"LatencyTracker needs registered event kinds, got unknown {unknown}")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConfigError(f"window must be an int >= 1, got {window!r}")
        if isinstance(block, bool) or not isinstance(block, int) or not 1 <= block <= window:
            raise ConfigError(f"block must be an int in [1, window={window}], got {block!r}")
        if isinstance(floor_ns, bool) or not isinstance(floor_ns, int) or floor_ns < 0:
            raise ConfigError(f"floor_ns must be an int >= 0, got {floor_ns!r}")
        if not report_every_ms >= 0:
            raise ConfigError(f"report_every_ms must be >= 0 (0: never), got {report_every_ms!r}")
        self.window = window
        self.block = block
        self.blocks = max(1, window // block)
        self.floor_ns = floor_ns
        self.report_every_ns = int(report_every_ms * 1e6)
        self.rejections = rejections if rejections is not None else Rejections()
        self._tags: dict[type, str] = {cls: KINDS[cls].tag for cls in self.takes}
        self._channels: dict[tuple[str, type], _Channel] = {}
        self._latest: Mapping[tuple[str, str], Latency] = {}

    def on_event(self, event: Any) -> None:
        ts_recv = event.ts_recv
        try:
            d = ts_recv - event.ts_event
        except TypeError:
            d = None
        key = (event.exchange, type(event))
        ch = self._channels.get(key)
        if ch is None:
            ch = self._new_channel(event)
            if ch is None:
                return
        if type(d) is not int:
            self._bad_times(event)
            return
        if d == 0:
            ch.untimed += 1
            return
        pos = ch.pos
        ch.ring[pos] = d
        ch.pos = pos + 1 if pos + 1 < self.window else 0
        ch.n += 1
        low = ch.block_min
        if low is None or d < low:
            ch.block_min = low = d
        ch.block_left -= 1
        if not ch.block_left:
            ch.mins.append(low)
            ch.block_min = None
            ch.block_left = self.block
        if self.report_every_ns and ts_recv >= ch.due:
            ch.due = ts_recv + self.report_every_ns
            self.emit(self._figures(ch, event.ts_event, ts_recv))

    def _new_channel(self, event: Any) -> _Channel | None:
        if (
            type(event.ts_recv) is not int
            or type(event.ts_event) is not int
            or not isinstance(event.exchange, str)
        ):
            self._bad_times(event)
            return None
        tag = self._tags.get(type(event)) or KINDS[type(event)].tag
        ch = _Channel(event.exchange, tag, self.window, self.block, self.blocks)
        self._channels[(event.exchange, type(event))] = ch
        return ch

    def _bad_times(self, event: Any) -> None:
        self.rejections.add(
            InvalidValue(
                f"{event.exchange} {type(event).__name__} on {event.symbol}: times must be int ns, got "
                f"ts_event {event.ts_event!r:.40} ts_recv {event.ts_recv!r:.40}"
            )
        )

    # -- figures ----------------------------------------------------------------------------------------

    def _offset(self, ch: _Channel) -> int:
        """Median of the block minima (the current block's minimum before the first is complete), less
        the known floor."""
        mins = sorted(ch.mins) if ch.mins else [ch.block_min if ch.block_min is not None else 0]
        k = len(mins)
        mid = mins[k // 2] if k % 2 else (mins[k // 2 - 1] + mins[k // 2]) // 2
        return mid - self.floor_ns

    def _figures(self, ch: _Channel, ts_event: int, ts_recv: int) -> Latency:
        count = min(ch.n, self.window)
        raw = sorted(ch.ring[:count]) if count < self.window else sorted(ch.ring)
        offset = self._offset(ch)
        if raw:
            p50 = raw[_rank(count, 0.50)] - offset
            p99 = raw[_rank(count, 0.99)] - offset
            top = raw[-1] - offset
        else:
            p50 = p99 = top = 0
        stats = Latency(ch.exchange, ALL_SYMBOLS, ts_event, ts_recv, ch.channel, count, ch.n, ch.untimed,
                        offset, p50, p99, top)  # fmt: skip
        self._latest = {**self._latest, (ch.exchange, ch.channel): stats}  # copy on write: any thread reads
        return stats

    def stats(self) -> dict[tuple[str, str], Latency]:
        """Fresh figures of every (exchange, channel), keyed so (their ``ts_event`` / ``ts_recv`` are 0:
        computed on demand, not reported). For the engine's thread or after a run (it reads the rings the
        engine writes); other threads read ``latest()``."""
        out: dict[tuple[str, str], Latency] = {}
        for ch in list(self._channels.values()):
            out[(ch.exchange, ch.channel)] = self._figures(ch, 0, 0)
        return out

    def latest(self) -> Mapping[tuple[str, str], Latency]:
        """The last figures reported (or computed by ``stats``) per (exchange, channel): an immutable
        mapping of immutable values, safe to read from any thread."""
        return self._latest

    def for_exchange(self, exchange: str, channel: str = "quote") -> Latency | None:
        """The last figures of ``exchange``'s ``channel``, else of its busiest channel, else None."""
        latest = self._latest
        found = latest.get((exchange, channel))
        if found is not None:
            return found
        others = [stats for (ex, _), stats in latest.items() if ex == exchange]
        return max(others, key=lambda s: s.total) if others else None

    def exchange_offset_ns(self, exchange: str) -> int | None:
        """The exchange's clock offset: the smallest of its channels' (a channel's floor above it is
        that channel's own fixed delay, e.g. an aggregated depth stream's); None before any event."""
        channels = list(self._channels.values())
        offsets = [self._offset(ch) for ch in channels if ch.exchange == exchange and ch.n]
        return min(offsets) if offsets else None


def _rank(count: int, q: float) -> int:
    """The 0-based nearest-rank index of quantile ``q`` among ``count`` sorted values."""
    return min(count - 1, max(0, math.ceil(q * count) - 1))


__all__ = ["ALL_SYMBOLS", "CHANNEL_TAGS", "DEFAULT_KINDS", "Latency", "LatencyTracker", "source_kinds"]
