"""Cross-venue validation and a price fallback chain: ``VenueMonitor`` and its events.

    monitor = VenueMonitor(primary=("binance", "bybit", "okx"), threshold_bps=25, latency=tracker)
    session = Session(sources, consumers=[tracker, monitor])
    monitor.status = session_states(session)        # the sources' statuses take part in "healthy"
    session.cache.latest(CompositePrice, (COMPOSITE, "BTC/USDT"))   # the composite price of an asset
    monitor.table(now_ns)                            # rows of the venue table (any thread)

**Venues and assets.** A venue is one (exchange, symbol). Venues are grouped into assets, and each
venue is compared with the other venues of its asset only. By default the asset is the symbol as
given: ``BTC/USDT`` on binance and bybit form one asset, the perpetual ``BTC/USDT:USDT`` another, because
a perpetual trades at a basis to spot (funding) that would read as a deviation. ``assets`` maps symbols
(or ``(exchange, symbol)`` pairs, which win) to an asset name to group otherwise, e.g. spot and perps
together, or venues that name a market differently; with ``assets`` given, a symbol it does not name is
unknown. Without it, a symbol that is not ccxt-unified (``BASE/QUOTE[:SETTLE]``) is unknown.

**Prices and freshness.** A venue's price is its quote's mid, ``(bid + ask) / 2``. Time is event time:
the monitor's "now" is the latest ``ts_event`` it has seen (of any venue), so the same input always
gives the same events. A venue is fresh while ``now - heard <= max_age_ms``, where ``heard`` is the
exchange time of its last quote or book event (``BookSnapshot`` / ``BookDelta`` of the same venue say
that its top is still the quoted one: a quiet book is not a stale one; ``heartbeat=False`` counts quotes
only). Book events rejected earlier in the session (a desynced book) do not reach the monitor.

**Deviation.** On each quote that moves a mid, every fresh venue of the asset with at least one other
fresh venue is compared with the median mid of the OTHER fresh venues: ``deviation_bps = (mid /
reference - 1) * 1e4``. When the others are an even number, any point between the two middle mids is a
median; the reference is the one nearest to the venue's own mid, so that with three venues one venue
off does not drag the reference of the two others halfway (the mean of two would: 100 bps off on one
venue would read as 50 bps on each of the others).
It is flagged above ``threshold_bps`` and cleared at or below ``clear_bps`` (default 80 % of the
threshold, so a venue hovering at the threshold does not flap). A ``VenueDeviation`` event is emitted when
the flag changes, not on every quote. A venue that is not compared (stale, alone) keeps its flag until it
is compared again. With two venues there is no majority: a disagreement flags both; three or more tell
which one is off.

**Composite price.** Per asset, the fallback chain is the asset's venues ordered by ``primary`` (exchange
names, or ``(exchange, symbol)`` pairs, most preferred first; venues not listed follow in the order they
were first seen). The composite is the mid of the first **healthy** venue: fresh, not flagged, and its
source's status not ``error`` / ``reconnecting`` (``UNHEALTHY``; statuses come from ``set_status`` or the
``status`` callable, polled every ``check_every_ms`` of event time: see ``session_states``). With no
healthy venue, it is the last healthy value **marked stale** with its age (event time since that venue
last confirmed it) — never a silent stale number; before any healthy value there is none. A
``CompositePrice`` (exchange ``COMPOSITE``, symbol = the asset) is emitted when the venue or the
staleness changes, and otherwise at most every ``composite_interval_ms`` of event time. Every
``check_every_ms`` all assets are re-checked on any event, so an asset whose venues all went quiet turns
stale while other assets still stream. If nothing streams at all, ``composite(asset, now_ns)`` and
``table(now_ns)`` age the last values by the caller's clock.

**Bad input** never stops the monitor: NaN / infinite / non-positive prices (``InvalidValue``), a bid
above the ask (``CrossedBook``), unknown symbols (``UnknownSymbol``) and a quote older than the venue's
last one (``LateQuote``) are counted in ``rejections`` (a session's, or the monitor's own) and ignored;
the quote itself still goes on to the cache (the monitor does not reject events).

Threads: the monitor runs on the engine's thread. ``table``, ``composite`` and ``composites`` read only
values replaced whole (tuples, frozen events), so the UI may call them from its own thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..consumer import Consumer
from ..errors import ConfigError, CrossedBook, InvalidValue
from ..events import BookDelta, BookSnapshot, Quote, register_event
from ..stats import Rejections
from .latency import LatencyTracker

COMPOSITE = "composite"  # the exchange of CompositePrice events
UNHEALTHY = frozenset({"error", "reconnecting"})  # source states that take a venue out of the chain
UNKNOWN_SYMBOL = "UnknownSymbol"
LATE_QUOTE = "LateQuote"
INF = math.inf
NAN = math.nan
NUMBER = (float, int)  # the types a price may have (not bool, not a string)

VenueKey = tuple[str, str]  # (exchange, symbol)
StatusFn = Callable[[], Mapping[str, str]]  # exchange -> source state


@dataclass(frozen=True, slots=True)
class VenueDeviation:
    """A venue's mid against the median of the other fresh venues of its asset; emitted when ``flagged``
    changes."""

    exchange: str
    symbol: str
    ts_event: int  # the monitor's event time when the flag changed
    ts_recv: int  # receive time of the quote that changed it
    asset: str
    mid: float
    reference: float  # median mid of the other fresh venues
    deviation_bps: float  # (mid / reference - 1) * 1e4
    others: int  # venues in the reference
    flagged: bool


@dataclass(frozen=True, slots=True)
class CompositePrice:
    """The price of an asset from its fallback chain. The age at a later time t is
    ``age_ns + (t - ts_event)``."""

    exchange: str  # COMPOSITE
    symbol: str  # the asset
    ts_event: int  # the monitor's event time
    ts_recv: int  # receive time of the event that produced it
    price: float
    venue: str  # the exchange the price comes from (for a stale price: the last healthy one)
    venue_symbol: str
    stale: bool  # True: no venue is healthy; the price is the last healthy value
    age_ns: int  # event time since the venue last confirmed the price
    rank: int  # the venue's place in the chain (0: the primary)
    reason: str  # why the venues before it were passed over ("" for the primary)


register_event(VenueDeviation, "venue_deviation", "venue_deviations")
register_event(CompositePrice, "composite_price", "composite")


@dataclass(frozen=True, slots=True)
class VenueRow:
    """One row of the venue table. ``state``: the source's status when it is unhealthy, else "stale",
    "flagged", "ok", or "no quote". NaN where a figure is not known yet."""

    asset: str
    exchange: str
    symbol: str
    price: float
    deviation_bps: float
    reference: float
    latency_p50_ms: float
    latency_p99_ms: float
    clock_offset_ms: float
    age_ms: float
    state: str
    in_use: bool  # the composite of its asset comes from this venue (and is not stale)


class _Venue:
    """What the monitor keeps per venue; the tuples are replaced whole (other threads read them)."""

    __slots__ = ("asset", "dev", "exchange", "flagged", "heard", "key", "mid", "order", "quote_ts", "symbol")

    def __init__(self, exchange: str, symbol: str, asset: _Asset, order: tuple[int, int]) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.key = (exchange, symbol)
        self.asset = asset
        self.order = order  # (rank in ``primary``, first-seen index): its place in the chain
        self.mid = NAN
        self.quote_ts = -1  # exchange time of its last quote (-1: none yet)
        self.heard = -1  # exchange time of its last quote or book event
        self.flagged = False
        self.dev: tuple[float, float, int] = (NAN, NAN, 0)  # deviation_bps, reference, others


class _Asset:
    __slots__ = ("current", "good", "name", "next_emit", "venues")

    def __init__(self, name: str) -> None:
        self.name = name
        self.venues: tuple[_Venue, ...] = ()  # the fallback chain, in order
        self.current: CompositePrice | None = None  # the last one emitted
        self.good: tuple[float, _Venue, int] | None = None  # last healthy (price, venue, heard)
        self.next_emit = 0


class VenueMonitor(Consumer):
    """Cross-venue deviation flags and a composite price per asset (see the module docstring).

    ``threshold_bps`` / ``clear_bps``: flag above, clear at or below (default 0.8 x threshold).
    ``max_age_ms``: event time after which a venue is stale. ``primary``: the chain's order (exchanges
    or (exchange, symbol) pairs). ``assets``: symbol (or (exchange, symbol)) -> asset name; None: each
    unified symbol is its own asset. ``composite_interval_ms``: the most event time between two
    composites of an asset when nothing changes. ``check_every_ms``: event time between re-checks of all
    assets and polls of ``status``. ``status``: a function giving the sources' states by exchange (see
    ``session_states``). ``latency``: a ``LatencyTracker`` whose figures fill the table's latency columns.
    ``heartbeat``: book events keep a venue fresh. ``rejections``: where bad input is counted."""

    def __init__(
        self,
        *,
        threshold_bps: float = 50.0,
        clear_bps: float | None = None,
        max_age_ms: float = 5_000.0,
        primary: Sequence[str | VenueKey] = (),
        assets: Mapping[str | VenueKey, str] | None = None,
        composite_interval_ms: float = 1_000.0,
        check_every_ms: float = 100.0,
        status: StatusFn | None = None,
        latency: LatencyTracker | None = None,
        heartbeat: bool = True,
        rejections: Rejections | None = None,
    ) -> None:
        if not 0.0 < threshold_bps < INF:
            raise ConfigError(f"threshold_bps must be a finite number > 0, got {threshold_bps!r}")
        clear = threshold_bps * 0.8 if clear_bps is None else clear_bps
        if not 0.0 <= clear <= threshold_bps:
            raise ConfigError(f"clear_bps must be in [0, threshold_bps={threshold_bps}], got {clear_bps!r}")
        for name, value in (("max_age_ms", max_age_ms), ("check_every_ms", check_every_ms)):
            if not 0.0 < value < INF:
                raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
        if not 0.0 <= composite_interval_ms < INF:
            raise ConfigError(
                f"composite_interval_ms must be a finite number >= 0, got {composite_interval_ms!r}"
            )
        if isinstance(primary, str):
            primary = (primary,)
        self.threshold_bps = float(threshold_bps)
        self.clear_bps = float(clear)
        self.max_age_ns = int(max_age_ms * 1e6)
        self.composite_interval_ns = int(composite_interval_ms * 1e6)
        self.check_every_ns = int(check_every_ms * 1e6)
        self.primary: tuple[str | VenueKey, ...] = tuple(primary)
        self.assets: dict[str | VenueKey, str] | None = dict(assets) if assets is not None else None
        self.status = status
        self.latency = latency
        self.takes = (Quote, BookSnapshot, BookDelta) if heartbeat else (Quote,)
        self.rejections = rejections if rejections is not None else Rejections()
        self.now = 0  # the latest ts_event seen
        self._venues: dict[VenueKey, _Venue] = {}
        self._order: tuple[_Venue, ...] = ()  # every venue in first-seen order (copy on write)
        self._assets: dict[str, _Asset] = {}
        self._states: dict[str, str] = {}  # exchange -> source state (pushed, or polled from status)
        self._next_check = 0
        self._last_recv = 0

    # -- events -----------------------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        ts = event.ts_event
        if type(ts) is not int:
            self.rejections.add(
                InvalidValue(
                    f"{event.exchange!r:.40} {type(event).__name__} on {event.symbol!r:.60}: "
                    f"ts_event {ts!r:.40} is not an int of ns"
                )
            )
            return
        due = ts >= self._next_check
        if due and self.status is not None:
            self._states = dict(self.status())  # polled first: this event is judged with the current states
        if type(event) is Quote:
            self._on_quote(event)
        else:
            venue = self._venues.get((event.exchange, event.symbol))
            if venue is not None:  # (a book of a venue without quotes has nothing to keep fresh)
                if ts > venue.heard:
                    venue.heard = ts
                if ts > self.now:
                    self.now = ts
        self._last_recv = event.ts_recv
        if due:
            self._check_all(event.ts_recv)

    def _on_quote(self, q: Quote) -> None:
        venue = self._venues.get((q.exchange, q.symbol))
        if venue is None:
            venue = self._new_venue(q)
            if venue is None:
                return
        bid, ask = q.bid, q.ask
        if type(bid) not in NUMBER or type(ask) not in NUMBER or not (0.0 < bid < INF and 0.0 < ask < INF):
            self.rejections.add(
                InvalidValue(
                    f"{q.exchange} quote on {q.symbol}: bid {bid!r} / ask {ask!r} must be finite and > 0"
                )
            )
            return
        if bid > ask:
            self.rejections.add(
                CrossedBook(f"{q.exchange} quote on {q.symbol}: bid {bid!r} above ask {ask!r}")
            )
            return
        ts = q.ts_event
        if ts < venue.quote_ts:
            self.rejections.add(
                LATE_QUOTE,
                f"{q.exchange} quote on {q.symbol} at {ts} ns is older than its last one "
                f"({venue.quote_ts} ns)",
            )
            return
        mid = (bid + ask) * 0.5
        venue.quote_ts = ts
        if ts > venue.heard:
            venue.heard = ts
        if ts > self.now:
            self.now = ts
        changed = mid != venue.mid
        venue.mid = mid
        asset = venue.asset
        if changed and len(asset.venues) > 1:
            self._compare(asset, q.ts_recv)
        self._update_composite(asset, q.ts_recv)

    def _new_venue(self, q: Quote) -> _Venue | None:
        exchange, symbol = q.exchange, q.symbol
        name = self._asset_of(exchange, symbol)
        if name is None:
            self.rejections.add(
                UNKNOWN_SYMBOL,
                f"{exchange!r:.40} quote on {symbol!r:.60}: not a ccxt unified symbol"
                if self.assets is None
                else f"{exchange!r:.40} quote on {symbol!r:.60}: the monitor's assets do not name it",
            )
            return None
        asset = self._assets.get(name)
        if asset is None:
            asset = self._assets[name] = _Asset(name)
        venue = _Venue(exchange, symbol, asset, (self._rank(exchange, symbol), len(self._order)))
        self._venues[venue.key] = venue
        self._order = (*self._order, venue)
        asset.venues = tuple(sorted((*asset.venues, venue), key=lambda v: v.order))
        return venue

    def _asset_of(self, exchange: Any, symbol: Any) -> str | None:
        if not isinstance(exchange, str) or not isinstance(symbol, str) or not exchange:
            return None
        if self.assets is not None:
            return self.assets.get((exchange, symbol)) or self.assets.get(symbol)
        base, slash, rest = symbol.partition("/")
        unified = bool(base and slash and rest and not rest.startswith(":") and "/" not in rest)
        return symbol if unified and symbol.strip() == symbol and " " not in symbol else None

    def _rank(self, exchange: str, symbol: str) -> int:
        for k, entry in enumerate(self.primary):
            if entry == (exchange, symbol) or entry == exchange:
                return k
        return len(self.primary)

    # -- deviation --------------------------------------------------------------------------------------

    def _fresh(self, venue: _Venue) -> bool:
        return venue.quote_ts >= 0 and self.now - venue.heard <= self.max_age_ns

    def _compare(self, asset: _Asset, ts_recv: int) -> None:
        fresh = [v for v in asset.venues if self._fresh(v)]
        if len(fresh) < 2:
            return
        mids = [v.mid for v in fresh]
        for k, venue in enumerate(fresh):
            mid = venue.mid
            others = sorted(mids[:k] + mids[k + 1 :])
            n = len(others)
            if n % 2:
                reference = others[n // 2]
            else:  # the end of the median interval nearest to this venue's mid
                low, high = others[n // 2 - 1], others[n // 2]
                reference = low if abs(mid - low) <= abs(mid - high) else high
            deviation = (mid / reference - 1.0) * 1e4
            venue.dev = (deviation, reference, n)
            flagged = abs(deviation) > (self.clear_bps if venue.flagged else self.threshold_bps)
            if flagged != venue.flagged:
                venue.flagged = flagged
                self.emit(
                    VenueDeviation(venue.exchange, venue.symbol, self.now, ts_recv, asset.name, venue.mid,
                                   reference, deviation, n, flagged)
                )  # fmt: skip

    # -- composite --------------------------------------------------------------------------------------

    def _why_not(self, venue: _Venue) -> str:
        """Why ``venue`` is not healthy ("" when it is)."""
        if venue.quote_ts < 0:
            return "no quote"
        state = self._states.get(venue.exchange, "")
        if state in UNHEALTHY:
            return state
        age = self.now - venue.heard
        if age > self.max_age_ns:
            return f"stale {age / 1e9:.1f} s"
        if venue.flagged:
            return f"deviates {venue.dev[0]:+.1f} bps"
        return ""

    def _update_composite(self, asset: _Asset, ts_recv: int) -> None:
        now = self.now
        pick: _Venue | None = None
        for venue in asset.venues:
            if (
                not venue.flagged
                and venue.quote_ts >= 0
                and now - venue.heard <= self.max_age_ns
                and self._states.get(venue.exchange, "") not in UNHEALTHY
            ):
                pick = venue
                break
        if pick is not None:
            asset.good = (pick.mid, pick, pick.heard)
            price, venue, stale, age = pick.mid, pick, False, now - pick.heard
        elif asset.good is not None:
            price, venue, heard = asset.good
            stale, age = True, now - heard
        else:
            return
        last = asset.current
        if (
            last is None
            or now >= asset.next_emit
            or last.stale != stale
            or last.venue != venue.exchange
            or last.venue_symbol != venue.symbol
        ):
            rank = asset.venues.index(venue)
            passed = asset.venues[:rank] if pick is not None else asset.venues
            reason = "; ".join(f"{v.exchange} {v.symbol}: {self._why_not(v)}" for v in passed)
            composite = CompositePrice(
                COMPOSITE, asset.name, now, ts_recv, price,
                venue.exchange, venue.symbol, stale, age, rank, reason,
            )  # fmt: skip
            asset.current = composite
            asset.next_emit = now + self.composite_interval_ns
            self.emit(composite)

    def _check_all(self, ts_recv: int) -> None:
        """Re-check every asset's composite (venues may have gone quiet, sources changed state)."""
        self._next_check = self.now + self.check_every_ns
        for asset in list(self._assets.values()):
            self._update_composite(asset, ts_recv)

    def set_status(self, exchange: str, state: str) -> None:
        """The source state of ``exchange`` ("connected", "reconnecting", "error", ...); the composites of
        its assets are re-checked at once. (A ``status`` function, when set, overrides it at its next
        poll.)"""
        self._states = {**self._states, exchange: state}
        for asset in list(self._assets.values()):
            if any(v.exchange == exchange for v in asset.venues):
                self._update_composite(asset, self._last_recv)

    # -- reading (any thread) ---------------------------------------------------------------------------

    def composite(self, asset: str, now_ns: int | None = None) -> CompositePrice | None:
        """The asset's last composite aged to ``now_ns`` (default: the monitor's event time): stale when
        that age passes ``max_age_ms`` with no newer event. None before the first."""
        holder = self._assets.get(asset)
        current = holder.current if holder is not None else None
        if current is None or now_ns is None or now_ns <= current.ts_event:
            return current
        age = current.age_ns + now_ns - current.ts_event
        return replace(current, ts_event=now_ns, age_ns=age, stale=current.stale or age > self.max_age_ns)

    def composites(self, now_ns: int | None = None) -> dict[str, CompositePrice]:
        """Every asset's composite (see ``composite``)."""
        out: dict[str, CompositePrice] = {}
        for name in list(self._assets):
            value = self.composite(name, now_ns)
            if value is not None:
                out[name] = value
        return out

    def table(self, now_ns: int | None = None) -> list[VenueRow]:
        """The venue table: one row per venue, by asset then chain order. Ages are taken at ``now_ns``
        (default: the monitor's event time)."""
        now = self.now if now_ns is None else now_ns
        states = self._states
        rows: list[VenueRow] = []
        for venue in sorted(self._order, key=lambda v: (v.asset.name, v.order)):
            heard, mid, (deviation, reference, _) = venue.heard, venue.mid, venue.dev
            age = now - heard
            state = states.get(venue.exchange, "")
            if state not in UNHEALTHY:
                state = (
                    "no quote" if venue.quote_ts < 0 else "stale" if age > self.max_age_ns
                    else "flagged" if venue.flagged else "ok"
                )  # fmt: skip
            current = venue.asset.current
            in_use = (
                current is not None and not current.stale and state == "ok"
                and (current.venue, current.venue_symbol) == venue.key
            )  # fmt: skip
            lat = self.latency.for_exchange(venue.exchange) if self.latency is not None else None
            p50, p99, offset = (
                (lat.delay_p50_ns / 1e6, lat.delay_p99_ns / 1e6, lat.offset_ns / 1e6)
                if lat
                else (NAN, NAN, NAN)
            )
            rows.append(
                VenueRow(venue.asset.name, venue.exchange, venue.symbol, mid, deviation, reference, p50, p99,
                         offset, age / 1e6 if heard >= 0 else NAN, state, in_use)
            )  # fmt: skip
        return rows


def session_states(session: Any) -> StatusFn:
    """A ``status`` function for ``VenueMonitor`` reading a session's per-source statuses by exchange
    (a source's ``exchange``, several joined by ","): the worst one when several sources share an
    exchange (an unhealthy state wins)."""
    pairs: list[tuple[str, str]] = [
        (name, exchange)
        for source, name in zip(session.sources, session.names, strict=True)
        for exchange in str(getattr(source, "exchange", "")).split(",")
        if exchange
    ]

    def states() -> dict[str, str]:
        statuses = session.statuses
        out: dict[str, str] = {}
        for name, exchange in pairs:
            status = statuses.get(name)
            if status is not None and (exchange not in out or status.state in UNHEALTHY):
                out[exchange] = status.state
        return out

    return states


__all__ = [
    "COMPOSITE",
    "UNHEALTHY",
    "CompositePrice",
    "VenueDeviation",
    "VenueMonitor",
    "VenueRow",
    "session_states",
]
