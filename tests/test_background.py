"""The monitor keeps working while the kernel is idle: no cell executing, engine and refresh still running.

A real ipykernel (jupyter_client) runs the code cells of ``notebooks/monitor.ipynb`` exactly as Voilà
does; the start cell must return at once. Then the kernel sits idle, and the engine's event count and
the app's refresh count must both have grown.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "monitor.ipynb"

jupyter_client = pytest.importorskip("jupyter_client")


def _run(kc: Any, code: str, timeout: float = 60) -> str:
    """Execute ``code``; return its stdout; fail on an error."""
    out: list[str] = []
    errors: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    assert reply["content"]["status"] == "ok" and not errors, "\n".join(errors)
    return "".join(out)


def _counts(kc: Any) -> dict[str, int]:
    text = _run(
        kc,
        "import json; "
        "print(json.dumps({'events': app.session.events_processed, 'refreshes': app.refreshes}))",
    )
    return json.loads(text.strip().splitlines()[-1])


def _advanced(before: dict[str, int], after: dict[str, int]) -> bool:
    """The engine processed more than 50 further events and the app refreshed at least 4 more times."""
    return after["events"] > before["events"] + 50 and after["refreshes"] >= before["refreshes"] + 4


def _wait_for_counts(
    kc: Any, done: Callable[[dict[str, int]], bool], timeout: float, every: float = 0.5
) -> dict[str, int]:
    """Poll the counts until ``done(counts)``; the kernel idles between polls. Returns the last counts."""
    deadline = time.monotonic() + timeout
    counts = _counts(kc)
    while not done(counts) and time.monotonic() < deadline:
        time.sleep(every)  # the kernel is idle: nothing is executing
        counts = _counts(kc)
    return counts


def test_engine_and_refresh_run_while_the_kernel_is_idle() -> None:
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "MDX_SOURCE": "sim", "MDX_SPEED": "2"}
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(NOTEBOOK.parent), env=env)
    try:
        cells = [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
        for source in cells:  # imports, then a start cell that returns at once: each request completes
            _run(kc, source, timeout=120)
        _run(kc, "assert app.session.running and app.refresher.running, 'engine or refresh not running'")
        before = _counts(kc)
        # the kernel is idle between these short polls: nothing of ours is executing, yet both advance
        after = _wait_for_counts(kc, lambda now: _advanced(before, now), timeout=60)
        assert _advanced(before, after), f"engine or refresh did not advance while idle: {before} -> {after}"
        # the app is alive, not just counting: the tiles show a price and the status says connected
        state = _run(kc, "print(app.status.state, app.tiles.values.last is not None, app.refresher.errors)")
        assert state.split() == ["connected", "True", "0"]
        _run(kc, "app.stop(); assert not app.session.running and not app.refresher.running")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
