"""Benchmarks of the live monitor. Prints figures; asserts nothing (see tests/ for behaviour).

    .venv/bin/python bench/bench_ui.py refresh            # kernel time per refresh, 3 symbols, 4 Hz data
    .venv/bin/python bench/bench_ui.py refresh --kernel   # the same inside a real ipykernel (messages sent)
    .venv/bin/python bench/bench_ui.py refresh --kernel --subcharts macd,rsi   # MACD and RSI shown too
    .venv/bin/python bench/bench_ui.py refresh --kernel --venues   # two exchanges: venue table, derivatives
    .venv/bin/python bench/bench_ui.py memory --seconds 360 --speed 10   # 60 simulated minutes, RSS over time
    .venv/bin/python bench/bench_ui.py browser --loads 5  # first render (add --preheat), browser JS heap

``refresh`` drives a seeded simulator on a simulated clock: 10 minutes of history first, then per refresh
0.25 s of market events (what 4 Hz sees), then one ``MonitorApp.refresh()`` of the whole dashboard
(3 symbols: tiles, watchlist, candles + overlays, mid, imbalance, depth, ladder, trades, signal tile,
confluence gauge, consensus row, alerts panel, status, log; ``--subcharts`` shows MACD / RSI too).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000_000_000_000
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


def _stats(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "n": len(ms),
        "mean_ms": round(statistics.fmean(ms), 3),
        "median_ms": round(ms[len(ms) // 2], 3),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 3),
        "max_ms": round(ms[-1], 3),
    }


def top_quote(session: Any, event: Any) -> Any:
    """The top of ``event``'s book as a ``Quote`` (what a live source sends when the top changes); None
    before the book has both sides."""
    from mdx.events import Quote

    view = session.cache.book((event.exchange, event.symbol))
    if view is None or not (len(view.bids) and len(view.asks)):
        return None
    (bid, bid_size), (ask, ask_size) = view.bids[0].tolist(), view.asks[0].tolist()
    recv = event.ts_recv + 1_000_000
    return Quote(event.exchange, event.symbol, event.ts_event, recv, 0, bid, bid_size, ask, ask_size)


def refresh_figures(
    refreshes: int = 400,
    timeframe: str = "1s",
    hz: float = 4.0,
    subcharts: tuple[str, ...] = (),
    venues: bool = False,
) -> dict[str, object]:
    """Time ``refreshes`` full refreshes; each after 1/hz seconds of simulated market data. ``venues``:
    a second simulated exchange beside the first, a ``LatencyTracker`` and a ``VenueMonitor`` fed with each
    book's top as a ``Quote`` (the venue table shows), and a funding / mark / open interest event per
    refresh on the selected symbol (the derivatives panel shows)."""
    from mdx.channel_events import Funding, MarkPrice, OpenInterest
    from mdx.clock import SimulatedClock
    from mdx.config import Settings
    from mdx.events import BookDelta, BookSnapshot
    from mdx.market.latency import LatencyTracker
    from mdx.market.venues import VenueMonitor
    from mdx.session import Session
    from mdx.sources.merge import merge_by_recv
    from mdx.sources.sim.simulator import Simulator
    from mdx.ui import MonitorApp

    sources = [Simulator(SYMBOLS, seed=7, start_ns=T0)]
    consumers: list[Any] = []
    if venues:
        sources.append(Simulator(SYMBOLS, seed=8, start_ns=T0, exchange="sim2"))
        tracker = LatencyTracker()
        consumers = [tracker, VenueMonitor(primary=("sim", "sim2"), latency=tracker)]
    clock = SimulatedClock(T0)
    session = Session(sources, timeframes=("1s", "1m", "5m"), clock=clock, consumers=consumers)
    app = MonitorApp(Settings(symbols=SYMBOLS), session=session, timeframe=timeframe, subcharts=subcharts)
    streams = [source.iter_events(session.rejections) for source in sources]
    events = iter(merge_by_recv(streams)) if venues else streams[0]

    def advance(seconds: float) -> None:
        end = clock.now_ns() + int(seconds * 1e9)
        for event in events:
            clock.advance_to(event.ts_recv)
            session.process(event)
            if venues and isinstance(event, BookSnapshot | BookDelta):
                quote = top_quote(session, event)
                if quote is not None:
                    session.process(quote)
            if event.ts_recv >= end:
                break
        if venues:
            now, key = clock.now_ns(), ("sim", app.symbol)
            session.process(Funding(*key, now, now, 0.0001, now + 3_600 * 10**9))
            session.process(MarkPrice(*key, now, now, 65_000.0, 64_990.0))
            session.process(OpenInterest(*key, now, now, 12_345.0, 8e8))

    advance(600)
    app.refresh(force=True)  # first draw (and numba's one-time dispatch) outside the timing
    times = []
    for _ in range(refreshes):
        advance(1.0 / hz)
        started = time.perf_counter()
        app.refresh()
        times.append((time.perf_counter() - started) * 1e3)
    switch = []
    for symbol in (*SYMBOLS[1:], SYMBOLS[0]):
        started = time.perf_counter()
        app.select(symbol=symbol)
        switch.append((time.perf_counter() - started) * 1e3)
    rows = app.venues.values.rows if app.venues.values is not None else ()
    return {
        "venue_rows_priced": sum(1 for row in rows if row.price == row.price),
        "timeframe": timeframe,
        "subcharts": list(subcharts),
        "venues": bool(app.venues.shown),
        "derivatives": bool(app.derivatives.shown),
        "events": session.events_processed,
        "refresh": _stats(times),
        "symbol_switch_ms": [round(x, 2) for x in switch],
    }


def refresh_in_kernel(
    refreshes: int, subcharts: tuple[str, ...] = (), venues: bool = False
) -> dict[str, object]:
    """Run ``refresh_figures`` inside a fresh ipykernel: widget messages really go out on iopub."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        code = textwrap.dedent(
            f"""
            import json, sys
            sys.path.insert(0, {str(ROOT / "bench")!r})
            from bench_ui import refresh_figures
            figures = refresh_figures({refreshes}, subcharts={subcharts!r}, venues={venues!r})
            print("RESULT " + json.dumps(figures))
            """
        )
        out: list[str] = []

        def hook(msg: dict) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])

        kc.execute_interactive(code, timeout=600, output_hook=hook)
        text = "".join(out)
        line = next(x for x in text.splitlines() if x.startswith("RESULT "))
        return json.loads(line[len("RESULT ") :])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def memory_figures(
    seconds: float, speed: float, hz: float, sample_s: float, trace: bool
) -> dict[str, object]:
    """A live simulator session at ``speed`` x real time with the app refreshing at ``hz`` on an asyncio
    loop; RSS and live Python objects (and with ``trace`` the traced Python heap, which slows everything
    down) sampled every ``sample_s``. Windows are bounded by count, so memory grows until they are full
    (2000 one-second bars per symbol: 33 simulated minutes), then stays flat."""
    import asyncio
    import tracemalloc

    import psutil

    from mdx.config import Settings
    from mdx.ui import MonitorApp

    process = psutil.Process()
    if trace:
        tracemalloc.start()
    app = MonitorApp(Settings(symbols=SYMBOLS, speed=speed), timeframe="1s", refresh_hz=hz)
    samples: list[dict[str, float]] = []

    async def main() -> None:
        app.start()
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            await asyncio.sleep(sample_s)
            gc.collect()
            current = tracemalloc.get_traced_memory()[0] if trace else 0
            samples.append(
                {
                    "t_s": round(time.monotonic() - started, 1),
                    "sim_min": round((time.monotonic() - started) * speed / 60, 1),
                    "rss_mb": round(process.memory_info().rss / 2**20, 1),
                    "py_objects": len(gc.get_objects()),
                    "py_heap_mb": round(current / 2**20, 2),
                    "events": app.session.events_processed if app.session else 0,
                    "refreshes": app.refreshes,
                    "refresh_ms": round(app.refresher.recent_ms, 2),
                }
            )
            print(json.dumps(samples[-1]), flush=True)
            del elapsed
        app.stop()

    asyncio.run(main())
    full = [s for s in samples if s["sim_min"] >= 35]  # after every window is full
    summary: dict[str, object] = {
        "seconds": seconds,
        "speed": speed,
        "simulated_minutes": seconds * speed / 60,
    }
    for name in ("rss_mb", "py_objects", "py_heap_mb"):
        figure: dict[str, float] = {"start": samples[0][name], "end": samples[-1][name]}
        if len(full) >= 2:
            per_min = (full[-1][name] - full[0][name]) / (full[-1]["sim_min"] - full[0]["sim_min"])
            figure["per_sim_minute_once_full"] = round(per_min, 3)
        summary[name] = figure
    summary["samples"] = samples
    return summary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("localhost", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port}")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-precise-memory-info",
]


# Installed in every page before it loads: ms from navigation start to each step of the first render,
# stamped in the page itself (the wall-clock figure also holds Playwright's polling and IPC latency,
# 0.05-0.3 s while the page's main thread is busy drawing).
RENDER_MARKS_JS = """
window.__mdxMarks = {};
const mark = (k) => { if (!(k in window.__mdxMarks)) window.__mdxMarks[k] = performance.now(); };
window.addEventListener('load', () => mark('load'));
const NativeWebSocket = window.WebSocket;
window.WebSocket = function (...args) {
  const ws = new NativeWebSocket(...args);
  ws.addEventListener('open', () => mark('ws_open'));
  return ws;
};
window.WebSocket.prototype = NativeWebSocket.prototype;
Object.assign(window.WebSocket, NativeWebSocket);
const drawnLines = () => [...document.querySelectorAll('.mdx-candles path.line')]
  .filter((p) => (p.getAttribute('d') || '').includes('L')).length;
const observer = new MutationObserver(() => {
  if (document.querySelector('.jupyter-widgets')) mark('first_widget');
  if (document.querySelector('.mdx-tile-value')) mark('tiles');
  if (!('candles' in window.__mdxMarks) && document.querySelector('.mdx-candles svg .stick_body')) {
    mark('candles');
    requestAnimationFrame(() => setTimeout(() => mark('candles_painted'), 0));
  }
  if (!('lines' in window.__mdxMarks) && drawnLines() >= 5) mark('lines');  // Bollinger x3, EMA, VWAP
  if ('lines' in window.__mdxMarks && 'candles' in window.__mdxMarks) observer.disconnect();
});
observer.observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['d']});
"""
RENDER_MARKS_READ_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint');
  const out = {ttfb: nav.responseStart, html_done: nav.responseEnd, fcp: paint ? paint.startTime : null,
               ...window.__mdxMarks};
  for (const k of Object.keys(out)) out[k] = out[k] === null ? null : Math.round(out[k]);
  return out;
}"""


def render_summary(
    renders: list[float], in_page: list[float], steps: list[dict[str, float]]
) -> dict[str, object]:
    """Median and range of the loads' first renders, and the median ms of each step (what a README
    sentence quotes)."""

    def spread(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    names = [name for name in steps[0] if all(step.get(name) is not None for step in steps)]
    return {
        "first_render_s": spread(renders),
        "first_render_page_s": spread(in_page),
        "steps_median_ms": {name: round(statistics.median(s[name] for s in steps)) for name in names},
    }


@contextlib.contextmanager
def monitor_server(preheat: bool, speed: float) -> Iterator[int]:
    """``mdx monitor`` (``serve_monitor``) on a free port, stopped after the block; its port."""
    port = _free_port()
    env = {**os.environ, "MDX_SPEED": str(speed)}
    code = (
        "from mdx.serve import serve_monitor; from mdx.config import Settings; "
        "raise SystemExit(serve_monitor(Settings.from_env(), "
        f"port={port}, open_browser=False, preheat={preheat}))"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_port(port)
        if preheat:
            time.sleep(8)  # let the pool's kernel execute the notebook
        yield port
    finally:
        server.terminate()
        server.wait(15)


def first_render(browser: Any, port: int) -> tuple[float, dict[str, float]]:
    """Open the monitor in a new browser context (a first visit: nothing cached) and wait for its
    candles; the wall-clock seconds and the page's own marks (``RENDER_MARKS_READ_JS``)."""
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.add_init_script(RENDER_MARKS_JS)
    started = time.monotonic()
    page.goto(f"http://localhost:{port}/")
    page.wait_for_selector(".mdx-candles svg .stick_body", state="attached", timeout=30_000)
    wall = round(time.monotonic() - started, 2)
    page.wait_for_function(
        "() => 'candles_painted' in window.__mdxMarks && 'lines' in window.__mdxMarks", timeout=30_000
    )
    marks = page.evaluate(RENDER_MARKS_READ_JS)
    context.close()
    return wall, marks


def heap_figures(browser: Any, port: int, seconds: float) -> list[dict[str, float]]:
    """The page's JS heap and DOM size every 10 s for ``seconds``."""
    page = browser.new_page(viewport={"width": 1440, "height": 960})
    page.goto(f"http://localhost:{port}/")
    heap = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        page.wait_for_timeout(10_000)
        used = page.evaluate("() => performance.memory.usedJSHeapSize")
        nodes = page.evaluate("() => document.getElementsByTagName('*').length")
        elapsed = round(time.monotonic() - started)
        heap.append({"t_s": elapsed, "js_heap_mb": round(used / 2**20, 1), "dom": nodes})
        print(json.dumps(heap[-1]), flush=True)
    return heap


def browser_figures(preheat: bool, heap_seconds: float, speed: float, loads: int) -> dict[str, object]:
    """Time the first render of the monitor ``loads`` times, then (with ``heap_seconds``) the JS heap.

    Each load gets its own server (so no other kernel runs beside it: the kernels of earlier pages would
    stay up to their cull window) and a new browser context (a newcomer's first visit: Voila's 3.3 MB of
    JS not cached). With ``preheat`` the server's pool kernel has run the notebook before the page opens.
    ``first_render_s``: wall clock from ``page.goto`` until Playwright sees the candles' first stick.
    ``first_render_page_s``: navigation start until the first frame after the candles were drawn, timed
    in the page. ``render_steps_ms``: per load, ms from navigation start to the HTML's first byte (ttfb),
    the whole HTML (html_done: Voila sends it once the notebook has run), first paint (fcp), Voila's JS
    loaded (load), kernel websocket open, first widget, tiles, candles, the five indicator lines drawn."""
    from playwright.sync_api import sync_playwright

    result: dict[str, object] = {"preheat": preheat}
    renders, in_page, steps = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(loads):
            with monitor_server(preheat, speed) as port:
                wall, marks = first_render(browser, port)
            renders.append(wall)
            steps.append(marks)
            in_page.append(round(marks["candles_painted"] / 1e3, 2))
        result["first_render_s"] = renders
        result["first_render_page_s"] = in_page
        result["render_steps_ms"] = steps
        result["summary"] = render_summary(renders, in_page, steps)
        if heap_seconds > 0:
            with monitor_server(preheat, speed) as port:
                result["heap"] = heap_figures(browser, port, heap_seconds)
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("refresh")
    r.add_argument("--refreshes", type=int, default=400)
    r.add_argument("--timeframe", default="1s")
    r.add_argument("--kernel", action="store_true", help="run inside a real ipykernel")
    r.add_argument("--subcharts", default="", help="sub-charts shown, e.g. macd,rsi (default: none)")
    r.add_argument("--venues", action="store_true", help="two exchanges: venue table, derivatives panel")
    m = sub.add_parser("memory")
    m.add_argument("--seconds", type=float, default=360.0)
    m.add_argument("--speed", type=float, default=10.0)
    m.add_argument("--hz", type=float, default=4.0)
    m.add_argument("--sample", type=float, default=10.0)
    m.add_argument("--trace", action="store_true", help="also trace the Python heap (slow)")
    b = sub.add_parser("browser")
    b.add_argument("--preheat", action="store_true")
    b.add_argument("--heap-seconds", type=float, default=0.0)
    b.add_argument("--speed", type=float, default=1.0)
    b.add_argument("--loads", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.what == "refresh":
        subcharts = tuple(name for name in args.subcharts.split(",") if name)
        figures = (
            refresh_in_kernel(args.refreshes, subcharts, args.venues)
            if args.kernel
            else refresh_figures(args.refreshes, args.timeframe, subcharts=subcharts, venues=args.venues)
        )
    elif args.what == "memory":
        figures = memory_figures(args.seconds, args.speed, args.hz, args.sample, args.trace)
        figures.pop("samples")
    else:
        figures = browser_figures(args.preheat, args.heap_seconds, args.speed, args.loads)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
