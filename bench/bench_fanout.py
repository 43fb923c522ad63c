"""Fan-out through Redis: one collector, 20 consumer sessions, end-to-end latency and memory.

Run: ``python bench/bench_fanout.py [--consumers 20] [--seconds 30] [--speed 1]``. It starts a real
``redis-server`` on a free loopback port, then, each in its own process (as Voilà kernels are):

- one collector: ``Collector`` over the simulator (3 symbols) at real time x ``speed``, every event
  stamped with the wall time the collector received it (``ts_recv``, as a live source stamps it);
- ``consumers`` sessions over ``RedisSource`` (the default late join, 1s/1m/5m bars, books), each timing
  ``now - ts_recv`` for every source event when its session processes it (decoded, through the trade
  checks and the book, in the consumer's cache): the end-to-end latency;
- then, for memory, ``consumers`` sessions each running its own simulator (what every kernel does
  without Redis), side by side with the same bars and books.

RSS is each process's ``VmRSS`` at the end of its run (sessions only: no Jupyter kernel around them).
Beside the latency: the consumers' CPU per event after the warm-up, the entries one read brought, and
their garbage collections after the warm-up (full ones with the longest pause; the young ones' total per
consumer).

The simulator's sweeps are what test the tail: a market order of a few hundred trades arrives at once,
and all consumers must take it on two cores shared with the collector and Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from mdx.clock import Clock  # noqa: E402
from mdx.consumer import Consumer  # noqa: E402
from mdx.events import Bar, BookDelta, BookSnapshot, Event, Quote, Trade  # noqa: E402
from mdx.stats import Rejections  # noqa: E402

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
TIMEFRAMES = ("1s", "1m", "5m")
WARMUP_S = 3.0  # latencies of a consumer's first seconds of events (joining, history) are left out


class WallStamped:
    """The simulator paced in real time, each event's ``ts_recv`` the wall time it is handed on."""

    def __init__(self, speed: float) -> None:
        from mdx.sources.sim.simulator import Simulator

        self.sim = Simulator(SYMBOLS, seed=7, speed=speed, history="1h")
        self.name, self.exchange, self.symbols = "sim", "sim", self.sim.symbols

    async def history(self, timeframes: Sequence[str], clock: Clock, rejections: Rejections) -> list[Bar]:
        return await self.sim.history(timeframes, clock, rejections)

    async def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        from mdx.sources.base import paced

        stamp = object.__setattr__  # the simulator's events are new and not shared yet: stamped in place,
        async for event in paced(self.sim.iter_events(rejections), clock, self.sim.speed):
            stamp(event, "ts_recv", time.time_ns())  # as cheap as a live source's own clock read
            yield event


class Latency(Consumer):
    """``now - ts_recv`` of every source event after the warm-up, and the CPU spent from then on."""

    takes = (Trade, BookSnapshot, BookDelta, Quote)

    def __init__(self) -> None:
        self.samples: list[int] = []
        self.after = 0  # WARMUP_S after the first event
        self.cpu_from = 0.0  # the process's CPU time when the warm-up ended

    def on_event(self, event: Any) -> None:
        now = time.time_ns()
        if not self.after:
            self.after = now + int(WARMUP_S * 1e9)
        elif now >= self.after:
            if not self.samples:
                self.cpu_from = cpu_s()
            self.samples.append(now - event.ts_recv)


class GcPauses:
    """The time of each garbage collection of the process (``gc.callbacks``) once ``latency`` samples:
    (generation, ms)."""

    def __init__(self, latency: Latency) -> None:
        import gc

        self.latency = latency
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.latency.samples:
            self.pauses.append((info["generation"], (time.perf_counter() - self._started) * 1e3))


def cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- the worker processes ------------------------------------------------------------------------------


def work_collector(url: str, seconds: float, speed: float, linger_ms: float, out: Path) -> None:
    from mdx.sources.redis import Collector

    collector = Collector(WallStamped(speed), url, timeframes=TIMEFRAMES, linger_ms=linger_ms)
    asyncio.run(collector.run(seconds=seconds))
    result = {"events": collector.session.events_processed, "published": collector.publisher.published}
    out.write_text(json.dumps({**result, "rss_mb": rss_mb(), "cpu_s": cpu_s()}))


def work_session(kind: str, url: str, seconds: float, out: Path) -> None:
    from mdx.session import Session

    latency = Latency()
    gcs = GcPauses(latency)
    if kind == "redis":
        from mdx.sources.redis import RedisSource

        source: Any = RedisSource(url, SYMBOLS)
    else:
        from mdx.sources.sim.simulator import Simulator

        source = Simulator(SYMBOLS, seed=7, history="1h")
    session = Session(source, timeframes=TIMEFRAMES, consumers=[latency])
    session.start()
    time.sleep(seconds)
    rss, cpu = rss_mb(), cpu_s()
    steady_cpu = cpu - latency.cpu_from if latency.samples else 0.0
    session.stop()
    samples = np.array(latency.samples, dtype=np.int64)
    np.save(out.with_suffix(".npy"), samples)
    out.write_text(
        json.dumps(
            {
                "events": session.events_processed,
                "rss_mb": rss,
                "state": session.status.state,
                "cpu_s": cpu,
                "steady_cpu_s": steady_cpu,
                "steady_events": len(latency.samples),
                "reads": getattr(source, "reads", 0),
                "entries": getattr(source, "entries", 0),
                "gc_full_ms": [ms for gen, ms in gcs.pauses if gen == 2],
                "gc_young_ms": sum(ms for gen, ms in gcs.pauses if gen < 2),
            }
        )
    )


# -- the conductor -------------------------------------------------------------------------------------


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--worker", *args], cwd=ROOT)


def wait_all(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        proc.wait(max(deadline - time.monotonic(), 1.0))
        if proc.returncode:
            raise SystemExit(f"a worker failed with {proc.returncode}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--consumers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--linger-ms", type=float, default=5.0, help="the publisher's linger_ms")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, *rest = args.worker
        if kind == "collector":
            work_collector(rest[0], float(rest[1]), float(rest[2]), float(rest[3]), Path(rest[4]))
        else:
            work_session(kind, rest[0], float(rest[1]), Path(rest[2]))
        return

    from tests.redis_server import RedisServer, redis_binary

    folder = Path(tempfile.mkdtemp(prefix="mdx-fanout-"))
    server = RedisServer(redis_binary(), folder)
    server.start()
    n, seconds = args.consumers, args.seconds
    try:
        consumers = [
            spawn("redis", server.url, str(seconds + 2), str(folder / f"c{i}.json")) for i in range(n)
        ]
        time.sleep(2.0)  # the consumers import and connect; the collector then starts from scratch
        collector = spawn(
            "collector",
            server.url,
            str(seconds),
            str(args.speed),
            str(args.linger_ms),
            str(folder / "collector.json"),
        )
        wait_all([collector, *consumers], seconds + 120)
        own = [spawn("sim", "", str(seconds + 2), str(folder / f"s{i}.json")) for i in range(n)]
        wait_all(own, seconds + 120)
    finally:
        server.stop()

    col = json.loads((folder / "collector.json").read_text())
    reports = [json.loads((folder / f"c{i}.json").read_text()) for i in range(n)]
    sims = [json.loads((folder / f"s{i}.json").read_text()) for i in range(n)]
    lat = np.concatenate([np.load(folder / f"c{i}.npy") for i in range(n)]) / 1e6
    print(
        f"collector: {col['events']:,} events in {seconds:g} s at x{args.speed:g} "
        f"({col['events'] / seconds:,.0f}/s; linger {args.linger_ms:g} ms), "
        f"published {col['published']:,}, RSS {col['rss_mb']:.0f} MB"
    )
    print(
        f"{n} consumers: {sum(r['events'] for r in reports):,} events, states "
        f"{sorted({r['state'] for r in reports})}"
    )
    print(
        f"end-to-end latency (collector receipt -> consumer session), {lat.size:,} samples: "
        f"p50 {np.percentile(lat, 50):.2f} ms, p90 {np.percentile(lat, 90):.2f} ms, "
        f"p99 {np.percentile(lat, 99):.2f} ms, max {lat.max():.2f} ms"
    )
    print(
        f"CPU: collector {col['cpu_s']:.1f} s, consumers {sum(r['cpu_s'] for r in reports):.1f} s, "
        f"own simulators {sum(r['cpu_s'] for r in sims):.1f} s (over {seconds:g} s each; 2 cores shared)"
    )
    steady = sum(r["steady_cpu_s"] for r in reports) / max(sum(r["steady_events"] for r in reports), 1)
    reads = sum(r["reads"] for r in reports)
    full = [ms for r in reports for ms in r["gc_full_ms"]]
    print(
        f"consumer CPU after the warm-up: {steady * 1e6:.1f} µs per event; "
        f"{sum(r['entries'] for r in reports) / max(reads, 1):.1f} entries per read; "
        f"full GCs: {len(full)}, longest {max(full, default=0):.1f} ms; "
        f"young GCs {sum(r['gc_young_ms'] for r in reports) / n:.0f} ms per consumer"
    )
    redis_rss = [r["rss_mb"] for r in reports]
    own_rss = [r["rss_mb"] for r in sims]
    print(
        f"RSS of {n} consumer sessions reading Redis: {sum(redis_rss):,.0f} MB "
        f"({np.mean(redis_rss):.0f} MB each) + collector {col['rss_mb']:.0f} MB"
    )
    print(
        f"RSS of {n} sessions each running its own simulator: {sum(own_rss):,.0f} MB "
        f"({np.mean(own_rss):.0f} MB each)"
    )


if __name__ == "__main__":
    main()
