"""Fit the simulator's per-symbol defaults on real captures and compare the simulator with them.

    python -m mdx.sources.sim.calibrate [--data ../shared/data] [--minutes 30] [--seed 7]

(``--data`` defaults to ``$MDX_SHARED_DATA``, else ``../shared/data`` next to the checkout.)

For BTC/USDT and ETH/USDT it reads the Binance spot captures (full L2 diffs + REST snapshot + every
trade + bookTicker, ~11 minutes, see ``CAPTURES``), runs the simulator for ``--minutes``, measures both
event streams with the same function (``market_stats``), prints the figures side by side, and prints
the fitted ``CALIBRATED`` table that ``specs.py`` ships (the simulator never reads the data itself).
Re-running it on the same captures reproduces the shipped table (``tests/test_simulator.py`` checks).

How each figure is measured (``market_stats``, identically on both streams; times are ``ts_recv``):

- rates: messages per second by kind over the stream's span; taker orders are the runs of trades with
  the same event time and side (one order filling several maker orders prints several trades).
- spread: the last quote at each point of a 100 ms grid, in ticks: median, the share of time wider than
  the median, and the median width when wider.
- book: the stream's L2 book (``OrderBook``), sampled at the first book event of every second: median
  notional per side within 5 / 10 / 25 bps of the mid; the best level's notional; the levels within
  10 bps (mean gap in ticks, a linear fit of level notional on distance with the best level left out,
  the lognormal sigma from mean / median); level changes per delta.
- trades: quantiles of the notional of single trades (fills) and of fills per taker order.
- touch: size changes of the best level at an unchanged best price (Binance bookTicker), in notional.
- volatility: 1 s mid returns (last quote of each second), annualized; ``vol`` is their standard
  deviation, ``vol_1m`` the median over whole minutes of the per-minute realized volatility.

The capture's book is a REST snapshot of 1000 levels (BTC: +-33 bps) kept up to date by diffs: levels
beyond it are known only once they change, so its 25 bps depth is a lower bound once the price moved.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ...events import BookDelta, BookSnapshot, Event, Quote, Trade
from ...market.book import OrderBook
from .specs import CALIBRATED, TRADE_PROBS, Calibration, symbol_spec

S = 1_000_000_000
SECONDS_PER_YEAR = 365.0 * 86400.0
DEPTH_BPS = (5.0, 10.0, 25.0)
CAPTURES: dict[str, tuple[str, ...]] = {
    "BTC/USDT": ("binance-spot-l2-trades/btcusdt_20240808.gz", "binance-spot-l2-trades/btcusdt_20240809.gz"),
    "ETH/USDT": ("binance-spot-l2-trades/ethusdt_20240808.gz", "binance-spot-l2-trades/ethusdt_20240809.gz"),
}
CAPTURE_NAME = "Binance spot {}, 2024-08-08 23:54 to 08-09 00:05 UTC"


@dataclass(frozen=True, slots=True)
class MarketStats:
    """What ``market_stats`` measures on one symbol's events (see the module docstring)."""

    symbol: str
    seconds: float
    mid: float  # median mid
    delta_rate: float  # BookDelta / s
    quote_rate: float  # Quote / s
    trade_rate: float  # Trade / s
    order_rate: float  # taker orders / s
    spread_ticks: float  # median
    wide_share: float  # share of time the spread is wider than the median
    wide_ticks: float  # median spread when wider
    depth: tuple[float, float, float]  # median notional per side within DEPTH_BPS of the mid
    top_notional: float  # median notional of the best level
    top_sigma: float  # lognormal sigma of the best level's notional (interquartile range / 1.349)
    level_gap: float  # mean ticks between levels within 10 bps
    level_notional: float  # mean level notional at the mid (fit over 0-10 bps, best level left out)
    level_growth: float  # relative growth of the mean level notional per bps from the mid
    level_sigma: float  # lognormal sigma of level notionals within 10 bps: sqrt(2 ln(mean / median))
    levels_per_delta: float  # median level changes per delta
    fill_notional: tuple[float, ...]  # trade notional at TRADE_PROBS
    fills_per_order: tuple[float, ...]  # trades per taker order at TRADE_PROBS
    buy_share: float
    touch_notional: float  # median size change of the best level at an unchanged price
    touch_sigma: float  # lognormal sigma of those changes (interquartile range / 1.349)
    vol: float  # annualized standard deviation of 1 s mid returns
    vol_1m: float  # median per-minute realized volatility (1 s returns), annualized


def market_stats(events: Iterable[Event], symbol: str, tick: float) -> MarketStats:
    """Measure one symbol's stream (events of other symbols are ignored); ``tick`` is its price tick."""
    book = OrderBook("", symbol)
    quotes: list[tuple[int, float, float, float, float]] = []
    trades: list[tuple[int, str, float]] = []
    deltas = 0
    changes: list[int] = []
    samples: list[tuple[float, float, list[tuple[float, float]], list[tuple[float, float]]]] = []
    sampled_second = -1
    first = last = None
    for event in events:
        if event.symbol != symbol:
            continue
        kind = type(event)
        recv = event.ts_recv
        first = recv if first is None else first
        last = recv
        if kind is Quote:
            quotes.append((recv, event.bid, event.bid_size, event.ask, event.ask_size))
        elif kind is Trade:
            trades.append((event.ts_event, event.side, event.price * event.amount))
        elif kind is BookDelta or kind is BookSnapshot:
            if kind is BookDelta:
                deltas += 1
                changes.append(len(event.bids) + len(event.asks))
            book.apply(event)
            if book.in_sync and recv // S != sampled_second:
                sampled_second = recv // S
                mid = book.mid
                band = mid * max(DEPTH_BPS) * 1e-4
                samples.append(
                    (
                        mid,
                        book.spread,
                        _within(book.bids(2000), mid, band),
                        _within(book.asks(2000), mid, band),
                    )
                )
    if first is None or last is None or last <= first or not quotes or not trades or not samples:
        raise ValueError(f"not enough {symbol} events to measure (quotes, trades and a book are needed)")
    seconds = (last - first) / S
    spread, wide_share, wide_ticks = _spread(quotes, tick)
    book_figures = _book(samples, tick)
    fills, per_order = _trades(trades)
    touch, touch_sigma = _touch(quotes)
    vol, vol_1m = _volatility(quotes)
    return MarketStats(
        symbol=symbol,
        seconds=seconds,
        mid=float(np.median([s[0] for s in samples])),
        delta_rate=deltas / seconds,
        quote_rate=len(quotes) / seconds,
        trade_rate=len(trades) / seconds,
        order_rate=len(per_order) / seconds,
        spread_ticks=spread,
        wide_share=wide_share,
        wide_ticks=wide_ticks,
        **book_figures,
        levels_per_delta=float(np.median(changes)) if changes else 0.0,
        fill_notional=tuple(np.quantile(fills, TRADE_PROBS).tolist()),
        fills_per_order=tuple(np.quantile(per_order, TRADE_PROBS).tolist()),
        buy_share=sum(side == "buy" for _, side, _ in trades) / len(trades),
        touch_notional=touch,
        touch_sigma=touch_sigma,
        vol=vol,
        vol_1m=vol_1m,
    )


def _within(levels: list[tuple[float, float]], mid: float, band: float) -> list[tuple[float, float]]:
    """``(distance from the mid, notional)`` of the levels within ``band`` of the mid, best first."""
    return list(itertools.takewhile(lambda x: x[0] <= band, ((abs(p - mid), p * a) for p, a in levels)))


def _spread(quotes: list[tuple[int, float, float, float, float]], tick: float) -> tuple[float, float, float]:
    recv = np.array([q[0] for q in quotes])
    ticks = np.array([round((q[3] - q[1]) / tick) for q in quotes])
    grid = np.arange(recv[0], recv[-1], S // 10)
    sampled = ticks[np.searchsorted(recv, grid, side="right") - 1]
    median = float(np.median(sampled))
    wide = sampled[sampled > median]
    return median, len(wide) / len(sampled), float(np.median(wide)) if len(wide) else median


def _book(samples: list, tick: float) -> dict[str, object]:
    depth = []
    tops = []
    counts = []
    distance: list[float] = []
    notional: list[float] = []
    for mid, _, bids, asks in samples:
        bps = mid * 1e-4
        for side in (bids, asks):
            if side:
                tops.append(side[0][1])
            near = [(d / bps, n) for d, n in side[1:] if d <= 10.0 * bps]
            counts.append(len(near) + (1 if side else 0))
            distance.extend(d for d, _ in near)
            notional.extend(n for _, n in near)
        depth.append(
            [0.5 * sum(n for d, n in itertools.chain(bids, asks) if d <= x * bps) for x in DEPTH_BPS]
        )
    mid = float(np.median([s[0] for s in samples]))
    x, y = np.array(distance), np.array(notional)
    slope, intercept = np.polyfit(x, y, 1) if len(x) > 1 else (0.0, float(y.mean()) if len(y) else 0.0)
    intercept = max(float(intercept), 1e-12)
    log_tops = np.log(tops)
    return {
        "depth": tuple(float(v) for v in np.median(np.array(depth), axis=0)),
        "top_notional": float(np.median(tops)),
        "top_sigma": float((np.quantile(log_tops, 0.75) - np.quantile(log_tops, 0.25)) / 1.349),
        "level_gap": 10.0 * mid * 1e-4 / tick / max(float(np.mean(counts)), 1.0),
        "level_notional": intercept,
        "level_growth": max(0.0, float(slope) / intercept),
        "level_sigma": math.sqrt(2.0 * max(0.0, math.log(y.mean() / np.median(y)))) if len(y) else 1.0,
    }


def _trades(trades: list[tuple[int, str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Fill notionals, and fills per taker order (a run of trades with the same event time and side)."""
    fills = np.array([n for _, _, n in trades])
    per_order = [len(list(run)) for _, run in itertools.groupby(trades, key=lambda t: (t[0], t[1]))]
    return fills, np.array(per_order, dtype=float)


def _touch(quotes: list[tuple[int, float, float, float, float]]) -> tuple[float, float]:
    changes = []
    for (_, bid0, bid_size0, ask0, ask_size0), (_, bid, bid_size, ask, ask_size) in itertools.pairwise(
        quotes
    ):
        if bid == bid0 and bid_size != bid_size0:
            changes.append(abs(bid_size - bid_size0) * bid)
        if ask == ask0 and ask_size != ask_size0:
            changes.append(abs(ask_size - ask_size0) * ask)
    if not changes:
        return 0.0, 0.0
    logs = np.log(changes)
    return float(np.median(changes)), float((np.quantile(logs, 0.75) - np.quantile(logs, 0.25)) / 1.349)


def _volatility(quotes: list[tuple[int, float, float, float, float]]) -> tuple[float, float]:
    recv = np.array([q[0] for q in quotes])
    mids = np.array([0.5 * (q[1] + q[3]) for q in quotes])
    start = (recv[0] // S + 1) * S
    grid = np.arange(start, recv[-1], S)
    returns = np.diff(np.log(mids[np.searchsorted(recv, grid, side="right") - 1]))
    vol = float(returns.std() * math.sqrt(SECONDS_PER_YEAR))
    minutes = [returns[i : i + 60] for i in range(0, len(returns) - 59, 60)]
    per_minute = [math.sqrt(float((r**2).sum()) * SECONDS_PER_YEAR / 60.0) for r in minutes]
    return vol, float(np.median(per_minute)) if per_minute else vol


# -- fitting ------------------------------------------------------------------------------------------------


def fit(stats: MarketStats, capture: str = "") -> Calibration:
    """The simulator's defaults for a symbol from its capture's figures, rounded to 3 significant digits."""
    return Calibration(
        capture=capture,
        price=_sig(stats.mid, 5),
        spread_ticks=max(1, round(stats.spread_ticks)),
        wide_share=_sig(stats.wide_share),
        wide_ticks=_sig(stats.wide_ticks),
        level_gap=_sig(stats.level_gap),
        level_notional=_sig(stats.level_notional),
        level_growth=_sig(stats.level_growth),
        level_sigma=_sig(stats.level_sigma),
        top_notional=_sig(stats.top_notional),
        top_sigma=_sig(stats.top_sigma),
        fill_notional=tuple(_sig(v) for v in stats.fill_notional),
        fills_per_order=tuple(_sig(v) for v in stats.fills_per_order),
        order_rate=_sig(stats.order_rate),
        delta_rate=_sig(stats.delta_rate),
        quote_rate=_sig(stats.quote_rate),
        touch_notional=_sig(stats.touch_notional),
        touch_sigma=_sig(stats.touch_sigma),
        vol=_sig(stats.vol),
    )


def _sig(value: float, digits: int = 3) -> float:
    if value == 0 or not math.isfinite(value):
        return float(value)
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def read_captures(data: Path, symbol: str) -> list[Event]:
    """The events of ``symbol``'s capture files, in order (the files join seamlessly)."""
    from ...io.capture import read_capture

    events: list[Event] = []
    for name in CAPTURES[symbol]:
        events.extend(read_capture(data / name))
    return events


def capture_stats(data: Path, symbol: str) -> MarketStats:
    return market_stats(read_captures(data, symbol), symbol, symbol_spec(symbol).tick)


def simulated_stats(symbols: Sequence[str], minutes: float, seed: int = 7) -> dict[str, MarketStats]:
    """The simulator's figures: ``minutes`` of a seeded run of ``symbols``."""
    from ...stats import Rejections
    from .simulator import Simulator

    start = 1_700_000_000 * S
    sim = Simulator(symbols, seed=seed, start_ns=start)
    end = start + int(minutes * 60 * S)
    events = list(itertools.takewhile(lambda e: e.ts_event < end, sim.iter_events(Rejections())))
    return {symbol: market_stats(events, symbol, sim.specs[symbol].tick) for symbol in symbols}


# -- the report ----------------------------------------------------------------------------------------------

_ROWS: tuple[tuple[str, str], ...] = (
    ("mid, median", "mid"),
    ("spread, median (ticks)", "spread_ticks"),
    ("spread wider than that (time)", "wide_share"),
    ("spread when wider (ticks)", "wide_ticks"),
    ("depth within 5 bps (per side)", "depth.0"),
    ("depth within 10 bps", "depth.1"),
    ("depth within 25 bps", "depth.2"),
    ("best level notional, median", "top_notional"),
    ("ticks between levels (10 bps)", "level_gap"),
    ("level notional at the mid, mean", "level_notional"),
    ("level notional growth per bps", "level_growth"),
    ("level notional sigma", "level_sigma"),
    ("trade notional 25%", "fill_notional.q25"),
    ("trade notional 50%", "fill_notional.q50"),
    ("trade notional 90%", "fill_notional.q90"),
    ("trade notional 99%", "fill_notional.q99"),
    ("trades per taker order, mean", "mean_fills"),
    ("buy share of trades", "buy_share"),
    ("book deltas / s", "delta_rate"),
    ("quotes / s", "quote_rate"),
    ("trades / s", "trade_rate"),
    ("taker orders / s", "order_rate"),
    ("level changes per delta, median", "levels_per_delta"),
    ("size change at the touch, median", "touch_notional"),
    ("volatility, 1 s returns (annual)", "vol"),
    ("1-min realized volatility, median", "vol_1m"),
)


def figure(stats: MarketStats, name: str) -> float:
    """One row of the report: a field, ``depth.i``, ``fill_notional.qNN`` or ``mean_fills``."""
    if name == "mean_fills":
        return stats.trade_rate / stats.order_rate
    field, _, part = name.partition(".")
    value = getattr(stats, field)
    if part.startswith("q"):
        return float(np.interp(int(part[1:]) / 100.0, TRADE_PROBS, value))
    return value[int(part)] if part else value


def report(real: MarketStats, sim: MarketStats) -> str:
    lines = [f"{real.symbol}: capture {real.seconds:.0f} s vs simulator {sim.seconds:.0f} s"]
    lines.append(f"  {'':<36}{'capture':>14}{'simulator':>14}{'sim/capture':>13}")
    for label, name in _ROWS:
        a, b = figure(real, name), figure(sim, name)
        ratio = f"{b / a:>13.2f}" if a else f"{'':>13}"
        lines.append(f"  {label:<36}{_fmt(a):>14}{_fmt(b):>14}{ratio}")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table_source(calibrations: dict[str, Calibration]) -> str:
    """The ``CALIBRATED`` table as Python source for ``specs.py``."""
    lines = ["CALIBRATED: dict[str, Calibration] = {"]
    for symbol, cal in calibrations.items():
        lines.append(f'    "{symbol}": Calibration(')
        for f in fields(Calibration):
            value = getattr(cal, f.name)
            lines.append(
                f'        {f.name}="{value}",' if isinstance(value, str) else f"        {f.name}={value!r},"
            )
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    checkout = Path(__file__).resolve().parents[3]  # the project root in a source checkout
    default = Path(os.environ.get("MDX_SHARED_DATA", checkout.parent / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default, help=f"shared data folder (default {default})")
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated minutes (default 30)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    symbols = tuple(CAPTURES)
    real = {symbol: capture_stats(args.data, symbol) for symbol in symbols}
    sim = simulated_stats(symbols, args.minutes, args.seed)
    for symbol in symbols:
        print(report(real[symbol], sim[symbol]))
        print()
    fitted = {s: fit(real[s], CAPTURE_NAME.format(s.replace("/", ""))) for s in symbols}
    same = all(fitted[s] == CALIBRATED.get(s) for s in symbols)
    print(f"fitted table ({'identical to' if same else 'DIFFERS from'} specs.CALIBRATED):")
    print(table_source(fitted))


if __name__ == "__main__":
    main()
