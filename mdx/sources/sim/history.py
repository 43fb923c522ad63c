"""The simulator's past: closed bars of the hours before its stream starts, so charts open with history.

    simulated_history(specs, ("1s", "1m", "5m"), start_ns=t, window_ns=6 * 3600 * 10**9, seed=7)

One market per second, per symbol, built backwards from the stream's starting mid, then aggregated:

- Volatility regime: one log-variance AR(1) shared by all symbols (half-life ``VOL_HALF_LIFE_S``, mean
  variance 1), like the live price model's GARCH regime; trading activity scales with ``sqrt(h)``.
- Returns: Student-t (df 6) market factor and idiosyncratic shocks with the symbol's loading, scaled to
  its calibrated volatility. The log mid at the stream's start is the spec's price; earlier mids are it
  minus the later returns, so the last second's close is the starting mid (to half a spread) and the
  live simulation is untouched: history has random streams of its own (``[seed, 3, ...]``, one per
  kind of draw and symbol, so a symbol's past does not depend on the others simulated beside it).
- Trades: taker orders per second ~ Poisson(calibrated rate x activity); per order, a calibrated
  number of fills and a calibrated notional per fill (the spec's quantile tables); the order buys with
  a probability that leans with the second's move. Per second this gives the count, quote volume,
  volume and buy / sell volume; at least one order trades in the last second.
- Prices: the second's open and close are the bid or ask around its first and last mid, its high and
  low the ask / bid around the extremes of a Brownian bridge between them (sampled exactly), all on
  the tick grid; a second with one trade has one price. VWAP is the typical price, within [low, high].

Every timeframe is an exact aggregate of the same seconds (first open, highest high, lowest low, last
close, summed volumes and counts, VWAP = quote volume / volume), so a 5m bar equals the aggregate of
its five 1m bars; seconds without trades make empty bars as ``BarBuilder`` does (the previous close,
no volume). Only whole bars that end by the open of the bar in which the stream starts are returned,
the newest ``max_bars`` of each timeframe. Draws run from the newest second backwards, so a longer
window extends the same recent past. 3 symbols x 6 hours take a few tens of ms (``bench_simulator``).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ...events import Bar
from ...market.bars import bar_open_ns, bar_origin_ns
from ...market.timeframes import timeframe_ns
from .specs import SECONDS_PER_YEAR, TRADE_PROBS, SymbolSpec, increment_scale

SECOND_NS = 1_000_000_000
VOL_HALF_LIFE_S = 60.0  # of the variance regime, like the live model's GARCH(1, 1)
VOL_OF_VOL = 0.5  # standard deviation of the log variance
DF = 6.0  # Student-t degrees of freedom of the shocks
HISTORY_STREAM = 3  # the history's random streams: [seed, 3, 0, k] (shared), [seed, 3, 1, crc(symbol), k]
_BLOCK = 2048  # AR(1) steps per vectorized block (keeps phi**-t far from overflow)
_PROBS = np.array(TRADE_PROBS)
_T_SCALE = math.sqrt((DF - 2.0) / DF)  # Student-t draws to unit variance

Streams = Callable[[int], np.random.Generator]


@dataclass(frozen=True, slots=True)
class Seconds:
    """One symbol's simulated market, one row per second, oldest first (``t0``: the first second's open
    time). Prices of seconds without trades (``count`` 0) mean nothing; ``last`` is the close of the
    latest second with trades at or before each row (the first mid before any)."""

    t0: int
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    last: np.ndarray
    vwap: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray
    buy_volume: np.ndarray
    sell_volume: np.ndarray
    count: np.ndarray

    def __len__(self) -> int:
        return len(self.count)


def simulated_history(
    specs: Iterable[SymbolSpec],
    timeframes: Sequence[str],
    *,
    start_ns: int,
    window_ns: int,
    seed: int,
    exchange: str = "sim",
    max_bars: int = 2000,
) -> list[Bar]:
    """Closed bars of every timeframe for every symbol (grouped by symbol, then timeframe, each oldest
    first) covering ``window_ns`` before ``start_ns``: see the module docstring."""
    specs = list(specs)
    tfs = {tf: timeframe_ns(tf) for tf in dict.fromkeys(timeframes)}  # raises InvalidTimeframe
    if not specs or not tfs or window_ns < SECOND_NS or max_bars < 1:
        return []
    t0, n = history_span(start_ns, window_ns, tfs)
    if n <= 0:
        return []
    shared = streams(seed, 0)
    h = variance_regime(shared(0), n)
    factor = student_t(shared(1), n)
    bars: list[Bar] = []
    for spec in specs:
        seconds = simulate_seconds(spec, streams(seed, 1, zlib.crc32(spec.symbol.encode())), h, factor, t0)
        for tf, tf_ns in tfs.items():
            bars += to_bars(seconds, exchange, spec.symbol, tf, tf_ns, max_bars)
    return bars


def history_span(start_ns: int, window_ns: int, timeframes: dict[str, int]) -> tuple[int, int]:
    """(open time of the first second, number of seconds) of the path: it ends at the start of the
    second holding ``start_ns`` and begins at the open of the bar of the longest timeframe that fits in
    the window, so that timeframe's oldest bar is whole."""
    end = start_ns // SECOND_NS * SECOND_NS
    fitting = [(tf_ns, tf) for tf, tf_ns in timeframes.items() if tf_ns <= window_ns]
    tf_ns, tf = max(fitting) if fitting else (SECOND_NS, "1s")
    first = bar_open_ns(start_ns - window_ns, tf_ns, bar_origin_ns(tf))
    return first, (end - first) // SECOND_NS


def streams(seed: int, *path: int) -> Streams:
    """Independent random streams by number under ``[seed, HISTORY_STREAM, *path]``. Each draw of the
    history has its own stream and draws newest first, so a longer window extends the same past."""

    def stream(number: int) -> np.random.Generator:
        return np.random.default_rng([seed, HISTORY_STREAM, *path, number])

    return stream


def student_t(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` Student-t (``DF``) draws with unit variance."""
    return rng.standard_t(DF, n) * _T_SCALE


def variance_regime(rng: np.random.Generator, n: int) -> np.ndarray:
    """The variance multiplier ``h`` of ``n`` seconds, newest first: lognormal with mean 1, its log an
    AR(1) with a half-life of ``VOL_HALF_LIFE_S`` (stationary from the first draw)."""
    phi = 0.5 ** (1.0 / VOL_HALF_LIFE_S)
    first = VOL_OF_VOL * rng.standard_normal()
    shocks = rng.standard_normal(n) * (VOL_OF_VOL * math.sqrt(1.0 - phi * phi))
    shocks[0] = first
    log_h = ar1(shocks, phi) - 0.5 * VOL_OF_VOL**2
    return np.exp(log_h)


def ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    """``x[t] = phi * x[t - 1] + shocks[t]`` (``x[-1] = 0``), vectorized in blocks: within one,
    ``x[t] = phi**t * (phi * x_before + cumsum(shocks * phi**-s)[t])``."""
    out = np.empty_like(shocks)
    powers = phi ** np.arange(min(_BLOCK, len(shocks)))
    before = 0.0
    for lo in range(0, len(shocks), _BLOCK):
        chunk = shocks[lo : lo + _BLOCK]
        p = powers[: len(chunk)]
        out[lo : lo + len(chunk)] = p * (phi * before + np.cumsum(chunk / p))
        before = float(out[lo + len(chunk) - 1])
    return out


def simulate_seconds(spec: SymbolSpec, draws: Streams, h: np.ndarray, factor: np.ndarray, t0: int) -> Seconds:
    """One symbol's seconds (see the module docstring); ``h`` and ``factor`` are shared by all symbols,
    newest first like every draw here; the result is oldest first."""
    n = len(h)
    sigma = spec.vol / math.sqrt(SECONDS_PER_YEAR) * np.sqrt(h)  # per second
    shocks = spec.loading * factor + math.sqrt(1.0 - spec.loading**2) * student_t(draws(0), n)
    returns = sigma * shocks - 0.5 * sigma * sigma
    climb = np.cumsum(returns)  # log mid at the start: the stream's mid minus the later returns
    end_log = math.log(spec.price) - np.concatenate(([0.0], climb[:-1]))
    start_log = end_log - returns
    activity = np.sqrt(h) / math.exp(-(VOL_OF_VOL**2) / 8.0)  # mean 1
    orders = draws(1).poisson(spec.order_rate * activity)
    orders[0] = max(1, orders[0])  # the newest second trades: its close joins the stream's mid
    volumes = order_flow(spec, draws(2), orders, np.tanh(shocks))
    prices = second_prices(spec, draws(3), start_log, end_log, sigma, volumes[0])
    flip = slice(None, None, -1)  # newest first -> oldest first
    return _seconds(t0, *(a[flip] for a in (*prices, *volumes)))


def order_flow(
    spec: SymbolSpec, rng: np.random.Generator, orders: np.ndarray, lean: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(trades, quote volume, taker-buy quote volume) per second from ``orders`` taker orders per second:
    fills per order and notional per fill from the calibrated quantiles; an order buys with probability
    ``0.5 + 0.4 * lean`` of its second."""
    n = len(orders)
    second = np.repeat(np.arange(n), orders)
    k = len(second)
    u = rng.random((k, 3))  # per order: fills, notional per fill, side
    fills = np.interp(u[:, 0], _PROBS, spec.fills_per_order).astype(np.int64)  # >= 1, like live
    notional = fills * np.exp(np.interp(u[:, 1], _PROBS, np.log(spec.fill_notional)))
    buys = u[:, 2] < 0.5 + 0.4 * lean[second]
    count = np.bincount(second, weights=fills, minlength=n).astype(np.int64)
    quote = np.bincount(second, weights=notional, minlength=n)
    buy_quote = np.bincount(second, weights=np.where(buys, notional, 0.0), minlength=n)
    return count, quote, buy_quote


def second_prices(
    spec: SymbolSpec,
    rng: np.random.Generator,
    start_log: np.ndarray,
    end_log: np.ndarray,
    sigma: np.ndarray,
    count: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(open, high, low, close) trade prices per second on the tick grid: bid or ask (the side drawn at
    random) around the first and last mid; the ask at the bridge's highest mid, the bid at its lowest."""
    n = len(count)
    variance = sigma * sigma
    move = (end_log - start_log) ** 2
    u = rng.random((n, 4))  # per second: the bridge's top and bottom, the open's and the close's side
    top = 0.5 * (start_log + end_log + np.sqrt(move - 2.0 * variance * np.log1p(-u[:, 0])))
    bottom = 0.5 * (start_log + end_log - np.sqrt(move - 2.0 * variance * np.log1p(-u[:, 1])))
    sides = u[:, 2:].T < 0.5
    spread = spec.spread_ticks
    open_ = _bid_ticks(start_log, spec) + spread * sides[0]
    close = _bid_ticks(end_log, spec) + spread * sides[1]
    high = np.maximum(_bid_ticks(top, spec) + spread, np.maximum(open_, close))
    low = np.minimum(_bid_ticks(bottom, spec), np.minimum(open_, close))
    single = count == 1
    open_, high, low = (np.where(single, close, a) for a in (open_, high, low))
    scale = increment_scale(spec.tick)
    return open_ / scale, high / scale, low / scale, close / scale


def _bid_ticks(log_mid: np.ndarray, spec: SymbolSpec) -> np.ndarray:
    """The best bid in ticks for a mid: half the usual spread below it, on the grid."""
    return np.round(np.exp(log_mid) / spec.tick - 0.5 * spec.spread_ticks)


def _seconds(
    t0: int,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    count: np.ndarray,
    quote: np.ndarray,
    buy_quote: np.ndarray,
) -> Seconds:
    """Per-second bars from prices and order flow (oldest first): VWAP the typical price, volumes in
    base units at it, and the close carried over seconds without trades."""
    traded = count > 0
    vwap = np.clip(0.25 * (open_ + high + low + close), low, high)
    volume = np.where(traded, quote / vwap, 0.0)
    buy_volume = np.where(traded, buy_quote / vwap, 0.0)
    sell_volume = np.where(traded, np.maximum(quote - buy_quote, 0.0) / vwap, 0.0)
    quote = np.where(traded, quote, 0.0)
    latest = np.maximum.accumulate(np.where(traded, np.arange(len(count)), -1))
    last = np.where(latest >= 0, close[np.maximum(latest, 0)], open_[0])
    return Seconds(t0, open_, high, low, close, last, vwap, volume, quote, buy_volume, sell_volume, count)


def aggregate(seconds: Seconds, tf_ns: int, origin_ns: int = 0) -> dict[str, np.ndarray]:
    """The whole bars of ``tf_ns`` in ``seconds`` as columns (``ts`` open times, then the ``Bar``
    fields), exactly as ``BarBuilder`` would build them from the seconds' trades."""
    n = len(seconds)
    group = (seconds.t0 + np.arange(n, dtype=np.int64) * SECOND_NS - origin_ns) // tf_ns
    starts = np.flatnonzero(np.diff(group, prepend=group[0] - 1))
    ends = np.append(starts[1:], n)
    whole = ends - starts == tf_ns // SECOND_NS
    traded = seconds.count > 0
    index = np.arange(n)
    first = np.minimum.reduceat(np.where(traded, index, n), starts)
    last = np.maximum.reduceat(np.where(traded, index, -1), starts)
    empty = last < 0
    carried = seconds.last[ends - 1]  # the close before an empty bar (its open, high, low and close)
    volume = np.add.reduceat(seconds.volume, starts)
    quote = np.add.reduceat(seconds.quote_volume, starts)
    high = np.where(empty, carried, np.maximum.reduceat(np.where(traded, seconds.high, -np.inf), starts))
    low = np.where(empty, carried, np.minimum.reduceat(np.where(traded, seconds.low, np.inf), starts))
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(empty, carried, np.clip(quote / volume, low, high))
    columns = {
        "ts": group[starts] * tf_ns + origin_ns,
        "open": np.where(empty, carried, seconds.open[np.minimum(first, n - 1)]),
        "high": high,
        "low": low,
        "close": np.where(empty, carried, seconds.close[np.maximum(last, 0)]),
        "volume": volume,
        "quote_volume": quote,
        "vwap": vwap,
        "buy_volume": np.add.reduceat(seconds.buy_volume, starts),
        "sell_volume": np.add.reduceat(seconds.sell_volume, starts),
        "count": np.add.reduceat(seconds.count, starts),
    }
    return {name: values[whole] for name, values in columns.items()}


BAR_FIELDS = (
    "ts", "open", "high", "low", "close", "volume", "quote_volume", "vwap", "buy_volume", "sell_volume",
    "count",
)  # fmt: skip


def to_bars(
    seconds: Seconds, exchange: str, symbol: str, timeframe: str, tf_ns: int, max_bars: int
) -> list[Bar]:
    """The newest ``max_bars`` whole bars of ``timeframe`` as closed ``Bar`` events (received at their
    close)."""
    columns = aggregate(seconds, tf_ns, bar_origin_ns(timeframe))
    fields = (columns[name][-max_bars:].tolist() for name in BAR_FIELDS)
    return [
        Bar(exchange, symbol, timeframe, ts, ts + tf_ns, o, hi, lo, c, v, qv, vw, b, s, k, True)
        for ts, o, hi, lo, c, v, qv, vw, b, s, k in zip(*fields, strict=True)
    ]


__all__ = ["Seconds", "aggregate", "history_span", "simulate_seconds", "simulated_history"]
