"""Simulator throughput and message mix.

    .venv/bin/python bench/bench_simulator.py [--seconds 600] [--repeat 3] [--symbols BTC/USDT,ETH/USDT]

Rows:
  generate             Simulator.iter_events only: events/s and simulated seconds per wall second
  session              Session.run_until_done on the same span (books, 1m bars, cache, hub, book views)
  per symbol           messages per simulated second by type, level changes per delta
  30 min at 10x        events per symbol a 30-minute dashboard run at speed 10 receives, and the share
                       of one core that generating (and processing) them takes
  history              Simulator.past_bars: the default 6 hours of 1s, 1m and 5m bars before the start
                       (what charts open with), and the session taking them (BarMaker, cache, hub)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import best_of  # noqa: E402

from mdx.clock import SimulatedClock  # noqa: E402
from mdx.events import BookDelta, Event  # noqa: E402
from mdx.session import Session  # noqa: E402
from mdx.sources.sim.simulator import Simulator  # noqa: E402
from mdx.stats import Rejections  # noqa: E402

S = 1_000_000_000
T0 = 1_700_000_000 * S


def generate(symbols: tuple[str, ...], seconds: int) -> tuple[float, list[Event]]:
    sim = Simulator(symbols, start_ns=T0)
    end = T0 + seconds * S
    events: list[Event] = []
    started = time.perf_counter()
    for event in sim.iter_events(Rejections()):
        if event.ts_event >= end:
            break
        events.append(event)
    return time.perf_counter() - started, events


def generate_only(symbols: tuple[str, ...], seconds: int) -> tuple[float, int]:
    sim = Simulator(symbols, start_ns=T0)
    end = T0 + seconds * S
    n = 0
    started = time.perf_counter()
    for event in sim.iter_events(Rejections()):
        if event.ts_event >= end:
            break
        n += 1
    return time.perf_counter() - started, n


def session(symbols: tuple[str, ...], seconds: int) -> tuple[float, int]:
    sim = Simulator(symbols, start_ns=T0, history=None)  # the stream alone (history: its own row)
    run = Session(sim, timeframes=("1m",), clock=SimulatedClock(T0))
    started = time.perf_counter()
    run.run_until_done(until_ns=T0 + seconds * S)
    elapsed = time.perf_counter() - started
    assert run.rejections.total == 0, run.rejections
    return elapsed, run.events_processed


HISTORY_TIMEFRAMES = ("1s", "1m", "5m")


def history_figures(symbols: tuple[str, ...], repeat: int) -> tuple[float, float, int]:
    """(seconds to generate the default history, seconds for a session to take it, bars)."""
    sim = Simulator(symbols, start_ns=T0)
    generate_s = best_of(lambda: sim.past_bars(HISTORY_TIMEFRAMES), repeat)
    bars = sim.past_bars(HISTORY_TIMEFRAMES)

    def take() -> None:
        Session(sim, timeframes=HISTORY_TIMEFRAMES, clock=SimulatedClock(T0))._take_history(bars, sim.name)

    return generate_s, best_of(take, repeat), len(bars)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="simulated seconds per run (default 600)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--symbols", default="BTC/USDT,ETH/USDT,SOL/USDT")
    args = parser.parse_args()
    symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
    seconds = args.seconds

    gen_time, n = min(generate_only(symbols, seconds) for _ in range(args.repeat))
    ses_time, n_session = min(session(symbols, seconds) for _ in range(args.repeat))
    _, events = generate(symbols, seconds)
    assert len(events) == n == n_session

    print(f"{len(symbols)} symbols, {seconds} simulated s, {n:,} events, best of {args.repeat}")
    print(f"  generate   {n / gen_time:>10,.0f} events/s   {seconds / gen_time:>7,.0f} x real time")
    print(f"  session    {n / ses_time:>10,.0f} events/s   {seconds / ses_time:>7,.0f} x real time")

    hist_s, take_s, n_bars = history_figures(symbols, max(args.repeat, 5))
    hours = Simulator(symbols).history_ns / 3600e9
    print(
        f"  history    {n_bars:,} bars ({hours:g} h of {', '.join(HISTORY_TIMEFRAMES)}) generated in "
        f"{hist_s * 1e3:.0f} ms, taken by a session in {take_s * 1e3:.0f} ms"
    )
    print("  per symbol, per simulated second:")
    header = ("delta", "quote", "trade", "all")
    print(f"    {'symbol':<12}" + "".join(f"{h:>7}" for h in header) + f"{'lvl/delta':>11}{'30min@10x':>12}")
    run_seconds = 30 * 60 * 10
    for symbol in symbols:
        mine = [e for e in events if e.symbol == symbol]
        kinds = Counter(type(e).__name__ for e in mine)
        deltas = [e for e in mine if type(e) is BookDelta]
        levels = sum(len(d.bids) + len(d.asks) for d in deltas) / max(len(deltas), 1)
        rate = len(mine) / seconds
        print(
            f"    {symbol:<12}{kinds['BookDelta'] / seconds:>7.1f}{kinds['Quote'] / seconds:>7.1f}"
            f"{kinds['Trade'] / seconds:>7.1f}{rate:>7.1f}{levels:>11.1f}{rate * run_seconds:>12,.0f}"
        )
    total_rate = n / seconds * 10
    print(
        f"  30 min at 10x: {total_rate:,.0f} events/s needed; generating takes "
        f"{total_rate / (n / gen_time):.1%} of a core, generating + session {total_rate / (n / ses_time):.1%}"
    )


if __name__ == "__main__":
    main()
