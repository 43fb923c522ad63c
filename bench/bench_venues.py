"""Cost per event of the cross-venue consumers: VenueMonitor and LatencyTracker beside a bare loop.

    .venv/bin/python bench/bench_venues.py [--events 300000] [--venues 3] [--repeats 5]

The events are those of a session running ``--venues`` simulators (exchanges sim0, sim1, ...; BTC/USDT
and ETH/USDT each), merged by receive time: book deltas, quotes and trades, as a multi-venue session
sees them. Each consumer gets the events of the kinds it takes, as the session routes them (the
monitor: quotes and book events; the tracker: all four source kinds); figures are µs per event it
took, beside the same loop calling a consumer that does nothing. Best of ``--repeats`` runs, a fresh
consumer each run (the first quotes of a venue set it up).
"""

from __future__ import annotations

import argparse
import gc
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from timing import best_of

from mdx.consumer import Consumer
from mdx.market.latency import LatencyTracker
from mdx.market.venues import VenueMonitor
from mdx.sources.merge import merge_by_recv
from mdx.sources.sim import Simulator
from mdx.stats import Rejections

START_NS = 1_700_000_000_000_000_000


class Nothing(Consumer):
    def on_event(self, event: Any) -> None:
        pass


def venue_events(venues: int, count: int) -> list[Any]:
    sims = [
        Simulator(("BTC/USDT", "ETH/USDT"), seed=k + 1, start_ns=START_NS, exchange=f"sim{k}", history=None)
        for k in range(venues)
    ]
    rejections = Rejections()
    return list(itertools.islice(merge_by_recv([sim.iter_events(rejections) for sim in sims]), count))


def per_event(make: Callable[[], Consumer], events: Sequence[Any], repeats: int) -> float:
    """µs per event of ``make()``'s ``on_event`` over ``events`` (a fresh consumer each run)."""

    def run() -> None:
        consumer = make()
        consumer.bind(lambda event: None)
        on_event = consumer.on_event
        for event in events:
            on_event(event)

    gc.collect()
    return best_of(run, repeats) / len(events) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--venues", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    events = venue_events(args.venues, args.events)
    kinds = ", ".join(sorted({type(e).__name__ for e in events}))
    print(f"{len(events):,} events of {args.venues} simulated venues x 2 symbols ({kinds})")

    monitor_takes = VenueMonitor().takes
    monitored = [e for e in events if isinstance(e, monitor_takes)]
    tracked = [e for e in events if isinstance(e, LatencyTracker().takes)]
    exchanges = tuple(f"sim{k}" for k in range(args.venues))

    def bare() -> None:
        for _ in events:
            pass

    rows = [
        ("bare for loop", len(events), best_of(bare, args.repeats) / len(events) * 1e6),
        ("no-op consumer", len(events), per_event(Nothing, events, args.repeats)),
        ("no-op consumer, monitor's kinds", len(monitored), per_event(Nothing, monitored, args.repeats)),
        (
            "VenueMonitor",
            len(monitored),
            per_event(lambda: VenueMonitor(primary=exchanges), monitored, args.repeats),
        ),
        ("LatencyTracker", len(tracked), per_event(LatencyTracker, tracked, args.repeats)),
    ]
    width = max(len(name) for name, _, _ in rows)
    print(f"{'':{width}}  {'events':>9}  {'µs/event':>8}")
    for name, count, micros in rows:
        print(f"{name:{width}}  {count:>9,}  {micros:8.3f}")
    quotes = sum(1 for e in monitored if type(e).__name__ == "Quote")
    print(f"(the monitor's events: {quotes:,} quotes, the rest book events that keep a venue fresh)")


if __name__ == "__main__":
    main()
