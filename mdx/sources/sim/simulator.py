"""The embedded default source: a seeded, endless market simulator calibrated on real data.

    Simulator(("BTC/USDT", "ETH/USDT"), seed=7)  ->  BookSnapshot + Quote per symbol at start, then
    per symbol: a BookDelta every 100 ms, a Quote at every top-of-book change, Trades

BTC/USDT and ETH/USDT follow figures fitted on real Binance spot captures, other symbols scaled
versions of them (see ``specs`` and ``calibrate``): for BTC/USDT about 10 deltas, 110 quotes and 30
trades per second, a one-tick spread, ~2.8 M USD per side within 10 bps of the mid.

How it works, per 1 s frame (``price.FRAME_NS``):

- ``FactorModel`` draws the fair mid of every symbol on a 50 ms grid: market factor + idiosyncratic
  Student-t shocks, GARCH(1,1) variance regime (see ``price``).
- Each symbol's ``SimBook`` (see ``book``) follows the fair mid at every book update, every 100 ms
  like Binance's ``depth@100ms``; the levels that changed since the last update become one
  ``BookDelta`` (contiguous update ids, absolute amounts, ``0`` deletes), followed by a ``Quote``
  (``seq`` = the delta's ``seq``) when the top changed. The spread is the calibrated one, now and then
  wider (more often when volatility is high).
- Between updates, taker orders and maker orders at the touch arrive as Poisson processes whose rates
  scale with volatility. A taker order's side leans towards the fair price (buyers lift a stale ask);
  it matches a calibrated number of maker orders, each of a calibrated notional (quantile tables
  fitted on the captures' trades), from the best level on: one ``Trade`` per maker order and level
  (sequential ids), consuming depth; when it swept the best level, the other side's makers step up to
  the usual spread from the new best. A maker order at the touch joins or leaves the best bid or ask.
  Either changes the top of the book, and a ``Quote`` follows at once, like Binance's real-time
  ``bookTicker``: it carries the last delta's ``seq``, and the next delta publishes the net change.
- Events of all symbols are merged by event time (ms, like venue timestamps); ``ts_recv`` adds a
  seeded latency of ~2 ms and is kept monotone in stream order (pacing follows it).

History (``history``, 6 hours by default): ``await sim.history(timeframes, clock, rejections)`` gives
closed bars of every timeframe for the window before ``start_ns`` (see ``history``: a per-second path
generated backwards from the starting mid, then aggregated), so charts and indicators open warm.

Same seed and start give the same events. ``SimFaults`` injects sequence gaps, duplicates, crossed
levels and bad values from a separate random stream, so the market itself is unchanged by them; after a
gap or a crossed level the simulator sends a fresh ``BookSnapshot`` ``resync_ms`` later, like a client
that refetched the REST snapshot.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from operator import itemgetter
from typing import Any

import numpy as np

from ...cache import DEFAULT_MAXLEN
from ...clock import Clock
from ...config import DEFAULT_HISTORY, history_ns
from ...errors import ConfigError
from ...events import Bar, BookDelta, BookSnapshot, Event, Levels, Quote, Trade
from ...stats import Rejections
from ..base import paced
from .book import Draws, SimBook, SimSide
from .history import simulated_history
from .price import FRAME_NS, STEP_NS, STEPS, FactorModel
from .specs import SECONDS_PER_YEAR, TRADE_PROBS, UPDATE_MS, SymbolSpec, increment_scale, symbol_spec

MS = 1_000_000
_MAX_WALK = 8  # levels one taker order may sweep
_MEAN_VOL = 0.92  # the mean of the price model's volatility multiplier sqrt(h): rates scale with sqrt(h) / it
_PROBS = np.array(TRADE_PROBS)


@dataclass(frozen=True, slots=True)
class SimFaults:
    """Probabilities of injected faults (all 0 by default): per delta ``gap_prob`` (the delta is not
    sent: a sequence gap) and ``crossed_prob`` (an extra delta puts a bid above the best ask), per
    delta or trade ``duplicate_prob`` (sent twice), per trade ``bad_value_prob`` (NaN / infinite price
    or a non-positive amount). ``resync_ms``: delay of the fresh snapshot after a gap or crossed level."""

    gap_prob: float = 0.0
    duplicate_prob: float = 0.0
    crossed_prob: float = 0.0
    bad_value_prob: float = 0.0
    resync_ms: int = 500

    def __post_init__(self) -> None:
        for name in ("gap_prob", "duplicate_prob", "crossed_prob", "bad_value_prob"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ConfigError(f"SimFaults.{name} must be a probability in [0, 1], got {value!r}")
        if not (isinstance(self.resync_ms, int) and self.resync_ms >= 0):
            raise ConfigError(f"SimFaults.resync_ms must be an int >= 0, got {self.resync_ms!r}")


# A pending event: (ts_event, event class, symbol, the fields after ts_recv). ts_recv is assigned when
# the merged frame is emitted, so that it is monotone in stream order.
_Record = tuple[int, type, str, tuple[Any, ...]]


class _SymbolState:
    """Everything the generator keeps per symbol while it runs, and its conversions to event fields."""

    __slots__ = (
        "amount_scale",
        "book",
        "count_knots",
        "fill_knots",
        "lots_per_notional",
        "move_ticks",
        "next_update",
        "price_scale",
        "quoted",
        "resync_due",
        "seq",
        "spec",
        "symbol",
        "touch_mu",
        "touch_rate",
        "trade_id",
        "wide_prob",
        "wide_scale",
    )

    def __init__(self, spec: SymbolSpec, book: SimBook, start_ns: int) -> None:
        self.spec = spec
        self.symbol = spec.symbol
        self.book = book
        self.price_scale = increment_scale(spec.tick)
        self.amount_scale = increment_scale(spec.lot)
        crc = zlib.crc32(spec.symbol.encode())
        self.seq = 4_000_000_000 + crc % 1_000_000_000  # last update id
        self.trade_id = 300_000_000 + crc % 100_000_000  # last trade id
        self.next_update = start_ns + (10 + crc % 50) * MS  # symbols' update phases differ
        self.quoted: tuple[int, int, int, int] | None = None
        self.resync_due = 0
        step_sigma = spec.vol / math.sqrt(SECONDS_PER_YEAR * STEPS)
        self.move_ticks = max(1.0, spec.price * step_sigma / spec.tick)  # 1-sigma move of a 50 ms step
        self.lots_per_notional = 1.0 / (spec.tick * spec.lot)  # / the price in ticks: lots per notional
        self.fill_knots = np.log(np.array(spec.fill_notional))
        self.count_knots = np.array(spec.fills_per_order)
        # maker orders at the touch make the top-of-book updates that book updates and takers do not
        self.touch_rate = max(0.0, spec.quote_rate - 1000.0 / UPDATE_MS - spec.order_rate)
        self.touch_mu = math.log(spec.touch_notional)
        self.wide_prob = spec.wide_share
        self.wide_scale = max(1.0, spec.wide_ticks - spec.spread_ticks - 1.0) / math.log(2.0)  # median

    def price(self, ticks: int) -> float:
        return ticks / self.price_scale

    def amount(self, lots: int) -> float:
        return lots / self.amount_scale

    def levels(self, changes: Iterable[tuple[int, int]], sign: int) -> Levels:
        """``(signed key, lots)`` pairs as ``(price, amount)`` levels (``sign`` -1 for bids)."""
        price_scale, amount_scale = sign * self.price_scale, self.amount_scale
        return tuple([(key / price_scale, lots / amount_scale) for key, lots in changes])

    def delta_fields(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> tuple[Any, ...]:
        """Fields of the next ``BookDelta``; one update id per level change."""
        first = self.seq + 1
        self.seq += len(bids) + len(asks)
        return (first, self.seq, self.levels(bids, -1), self.levels(asks, 1))

    def snapshot_fields(self) -> tuple[Any, ...]:
        bids, asks = self.book.bids, self.book.asks
        return (
            self.seq,
            self.levels([(key, bids.lots[key]) for key in bids.keys], -1),
            self.levels([(key, asks.lots[key]) for key in asks.keys], 1),
        )

    def quote_fields(self) -> tuple[Any, ...] | None:
        """Fields of a ``Quote`` when the top of the book changed since the last one, else None."""
        top = self.book.top()
        if top == self.quoted:
            return None
        self.quoted = top
        bid, bid_lots, ask, ask_lots = top
        return (self.seq, self.price(bid), self.amount(bid_lots), self.price(ask), self.amount(ask_lots))


class Simulator:
    """A seeded market of ``symbols``: L2 books, quotes and trades (see the module docstring).

    ``start_ns=None`` starts now (wall clock, rounded to the ms). ``speed`` paces ``stream`` (1.0 = real
    time, 10.0 = ten times faster). ``depth`` is the number of levels per side (None: each symbol's own,
    ~30 bps deep, at most 1000 like Binance's REST snapshot). ``history``: how far ``history()`` reaches
    back before ``start_ns`` (``"6h"``, a ``timedelta`` or ns; ``None`` or ``"0"``: no history), at most
    ``history_bars`` bars per timeframe (the cache's default window; 0: no history). Generating 6 hours
    takes about 25 ms per symbol."""

    name = "sim"
    endless = True

    def __init__(
        self,
        symbols: Iterable[str] = ("BTC/USDT", "ETH/USDT", "SOL/USDT"),
        *,
        seed: int = 7,
        start_ns: int | None = None,
        exchange: str = "sim",
        faults: SimFaults | None = None,
        speed: float = 1.0,
        depth: int | None = None,
        history: str | timedelta | int | None = DEFAULT_HISTORY,
        history_bars: int = DEFAULT_MAXLEN,
    ) -> None:
        if isinstance(symbols, str):
            symbols = (symbols,)
        self.symbols: tuple[str, ...] = tuple(dict.fromkeys(symbols))
        if not self.symbols:
            raise ConfigError("the simulator needs at least one symbol")
        self.specs: dict[str, SymbolSpec] = {symbol: symbol_spec(symbol) for symbol in self.symbols}
        if not isinstance(seed, int):
            raise ConfigError(f"seed must be an int, got {seed!r}")
        if not (depth is None or (isinstance(depth, int) and depth >= 5)):
            raise ConfigError(f"depth must be None or an int >= 5, got {depth!r}")
        if not speed > 0:
            raise ConfigError(f"speed must be > 0 (inf: as fast as possible), got {speed!r}")
        if isinstance(history_bars, bool) or not isinstance(history_bars, int) or history_bars < 0:
            raise ConfigError(f"history_bars must be an int >= 0 (0: no history), got {history_bars!r}")
        self.history_ns = history_ns(history)
        self.history_bars = history_bars
        self.seed = seed
        self.start_ns = (time.time_ns() // MS) * MS if start_ns is None else int(start_ns)
        self.exchange = exchange or "sim"
        self.faults = faults or SimFaults()
        self.speed = speed
        self.depth = depth

    def __repr__(self) -> str:
        return f"Simulator({list(self.symbols)}, seed={self.seed}, start_ns={self.start_ns})"

    async def history(self, timeframes: Sequence[str], clock: Clock, rejections: Rejections) -> list[Bar]:
        """Closed bars of ``timeframes`` for the ``history_ns`` before ``start_ns`` (``past_bars``); the
        session feeds them to its consumers and cache before the stream."""
        return self.past_bars(timeframes)

    def past_bars(self, timeframes: Sequence[str]) -> list[Bar]:
        """The history, synchronously: per symbol and timeframe, whole bars oldest first, ending by the
        open of the bar holding ``start_ns``; the last close is the starting mid (to half a spread)."""
        return simulated_history(
            self.specs.values(),
            timeframes,
            start_ns=self.start_ns,
            window_ns=self.history_ns,
            seed=self.seed,
            exchange=self.exchange,
            max_bars=self.history_bars,
        )

    async def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        """The events paced against ``clock`` at real time x ``speed``."""
        async for event in paced(self.iter_events(rejections), clock, self.speed):
            yield event

    def iter_events(self, rejections: Rejections) -> Iterator[Event]:
        """The endless event stream, as fast as it can be generated. Every call starts over."""
        return _Run(self).events()


class _Run:
    """One pass of the generator (all mutable state lives here, not on the ``Simulator``)."""

    def __init__(self, sim: Simulator) -> None:
        rng = np.random.default_rng(sim.seed)
        self.rng = rng
        self.draws = Draws(rng)
        # faults and latency have their own streams: switching them on does not change the market
        self.fault_draws = Draws(np.random.default_rng([sim.seed, 1]))
        self.latency_draws = Draws(np.random.default_rng([sim.seed, 2]))
        self.faults = sim.faults
        self.exchange = sim.exchange
        self.start_ns = sim.start_ns
        specs = [sim.specs[symbol] for symbol in sim.symbols]
        self.model = FactorModel(specs, rng)
        self.states = [
            _SymbolState(spec, SimBook(spec, rng, self.draws, sim.depth or spec.book_levels), sim.start_ns)
            for spec in specs
        ]
        self.last_recv = 0

    def events(self) -> Iterator[Event]:
        start = self.start_ns
        records: list[_Record] = []
        for state in self.states:
            state.book.update(state.spec.price / state.spec.tick, state.spec.spread_ticks)
            state.book.bids.changes()
            state.book.asks.changes()
            records.append((start, BookSnapshot, state.symbol, state.snapshot_fields()))
            self._quote(state, start, records)
        yield from self._emit(records)
        while True:
            fair, vol = self.model.next_frame()
            records = []
            for state, path in zip(self.states, fair, strict=True):
                self._frame(state, start, path, vol, records)
            records.sort(key=itemgetter(0))
            yield from self._emit(records)
            start += FRAME_NS

    def _emit(self, records: list[_Record]) -> Iterator[Event]:
        exchange, latency, last = self.exchange, self.latency_draws, self.last_recv
        for ts, cls, symbol, fields in records:
            recv = ts + 1_500_000 + int(latency.exponential() * 500_000)  # ~2 ms, never below 1.5 ms
            if recv < last:
                recv = last
            last = self.last_recv = recv
            yield cls(exchange, symbol, ts, recv, *fields)

    # -- one symbol, one frame ----------------------------------------------------------------------

    def _frame(
        self, state: _SymbolState, start: int, fair: list[float], vol: float, sink: list[_Record]
    ) -> None:
        """Book updates every 100 ms, taker orders and maker orders at the touch (Poisson, rate x
        volatility) of one frame, in time order; the book update goes first on the same ms."""
        draws, rng, spec = self.draws, self.rng, state.spec
        end = start + FRAME_NS
        items: list[tuple[int, int, int]] = []  # (ts, 0 update / 1 taker / 2 touch, index)
        t = state.next_update
        while t < end:
            items.append((t, 0, 0))
            t += UPDATE_MS * MS
        state.next_update = t
        activity = vol / _MEAN_VOL
        n = int(rng.poisson(spec.order_rate * activity))
        m = int(rng.poisson(state.touch_rate * activity))
        fills: list[float] = []
        bounds: list[int] = [0]
        touches: list[float] = []
        if n:
            counts = np.interp(rng.random(n), _PROBS, state.count_knots).astype(np.int64)  # >= 1
            bounds += np.cumsum(counts).tolist()
            fills = np.exp(np.interp(rng.random(bounds[-1]), _PROBS, state.fill_knots)).tolist()
            times = (rng.integers(0, 1000, n) * MS + start).tolist()
            items += [(ts, 1, i) for i, ts in enumerate(times)]
        if m:
            touches = np.exp(state.touch_mu + spec.touch_sigma * rng.standard_normal(m)).tolist()
            times = (rng.integers(0, 1000, m) * MS + start).tolist()
            items += [(ts, 2, i) for i, ts in enumerate(times)]
        items.sort()
        wide = min(0.5, state.wide_prob * vol * vol)  # spreads widen more often when volatility is high
        for ts, kind, i in items:
            price = fair[(ts - start) // STEP_NS]
            if kind == 0:
                spread = spec.spread_ticks
                if draws.uniform() < wide:
                    spread += 1 + int(draws.exponential() * state.wide_scale)
                self._book_update(state, ts, price, spread, sink)
            elif kind == 1:
                self._taker(state, ts, price, fills[bounds[i] : bounds[i + 1]], sink)
            else:
                self._touch(state, ts, price, touches[i], sink)

    def _book_update(
        self, state: _SymbolState, ts: int, fair: float, spread: int, sink: list[_Record]
    ) -> None:
        book = state.book
        book.update(fair, spread)
        bids, asks = book.bids.changes(), book.asks.changes()
        if bids or asks:
            self._send((ts, BookDelta, state.symbol, state.delta_fields(bids, asks)), state, sink)
        self._quote(state, ts, sink)
        if self.faults.crossed_prob and self.fault_draws.uniform() < self.faults.crossed_prob:
            self._crossed(state, ts, sink)
        if state.resync_due and ts >= state.resync_due:
            state.resync_due = 0
            sink.append((ts, BookSnapshot, state.symbol, state.snapshot_fields()))

    def _quote(self, state: _SymbolState, ts: int, sink: list[_Record]) -> None:
        fields = state.quote_fields()
        if fields is not None:
            sink.append((ts, Quote, state.symbol, fields))

    def _taker(
        self, state: _SymbolState, ts: int, fair: float, notionals: list[float], sink: list[_Record]
    ) -> None:
        """A taker order matching maker orders of ``notionals``: buys lean towards a fair price above
        the mid; one ``Trade`` per maker order and level, then a ``Quote`` of the new top."""
        book = state.book
        mid = 0.5 * (book.asks.keys[0] - book.bids.keys[0])
        buy = self.draws.uniform() < 0.5 + 0.4 * math.tanh((fair - mid) / state.move_ticks)
        side: SimSide = book.asks if buy else book.bids
        sign, aggressor = (1, "buy") if buy else (-1, "sell")
        faults, draws = self.faults, self.fault_draws
        per_notional = state.lots_per_notional / fair
        fills = [int(notional * per_notional) or 1 for notional in notionals]
        best = side.keys[0]
        for key, lots in side.take(fills, _MAX_WALK):
            state.trade_id += 1
            price, amount = state.price(sign * key), state.amount(lots)
            if faults.bad_value_prob and draws.uniform() < faults.bad_value_prob:
                price, amount = _corrupt(price, amount, draws.uniform())
            record = (ts, Trade, state.symbol, (str(state.trade_id), price, amount, aggressor))
            sink.append(record)
            if faults.duplicate_prob and draws.uniform() < faults.duplicate_prob:
                sink.append(record)
        if side.keys[0] != best:
            book.follow(side, state.spec.spread_ticks)
        self._quote(state, ts, sink)

    def _touch(self, state: _SymbolState, ts: int, fair: float, notional: float, sink: list[_Record]) -> None:
        """A maker order of ``notional`` joins or leaves the best bid or ask; a ``Quote`` follows."""
        quarter = int(self.draws.uniform() * 4.0)
        side = state.book.bids if quarter < 2 else state.book.asks
        lots = int(notional * state.lots_per_notional / fair) or 1
        if state.book.touch(side, lots, add=quarter % 2 == 0):
            self._quote(state, ts, sink)

    # -- faults -------------------------------------------------------------------------------------

    def _send(self, record: _Record, state: _SymbolState, sink: list[_Record]) -> None:
        """Append a delta, unless a fault drops it (a gap) or sends it twice."""
        faults, draws = self.faults, self.fault_draws
        if faults.gap_prob and draws.uniform() < faults.gap_prob:
            self._schedule_resync(state, record[0])
            return
        sink.append(record)
        if faults.duplicate_prob and draws.uniform() < faults.duplicate_prob:
            sink.append(record)

    def _crossed(self, state: _SymbolState, ts: int, sink: list[_Record]) -> None:
        """An extra delta with a bid above the best ask; the model's next delta deletes it again."""
        asks = state.book.asks
        key = -(asks.keys[0] + 1 + int(self.fault_draws.uniform() * 3.0))
        lots = asks.lots[asks.keys[0]]
        state.book.bids.mark_published(key, lots)
        sink.append((ts, BookDelta, state.symbol, state.delta_fields([(key, lots)], [])))
        self._schedule_resync(state, ts)

    def _schedule_resync(self, state: _SymbolState, ts: int) -> None:
        if not state.resync_due:
            state.resync_due = ts + self.faults.resync_ms * MS


def _corrupt(price: float, amount: float, u: float) -> tuple[float, float]:
    if u < 0.25:
        return math.nan, amount
    if u < 0.5:
        return math.inf, amount
    if u < 0.75:
        return price, -amount
    return price, 0.0


__all__ = ["SimFaults", "Simulator"]
