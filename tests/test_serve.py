"""``mdx monitor`` keeps its kernels under control and tells its terminal what the sources do.

Real servers (``mdx monitor``, Voilà, real kernels) and, for the page tests, headless Chromium: a closed
tab, a reload or a GET without a browser leaves no kernel once the cull window is over; a visitor beyond
``--max-kernels`` gets a 503 page, not a kernel; with ``--preheat`` the pool stays. Kernels are counted in
the process table. Each step waits on its condition with a generous bound; no test asserts how long
anything took. Also: status changes of the kernels' sources reach the server's stderr, secrets never do,
and credential variables reach the kernels only for a live source.
"""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from mdx.config import Credentials, Settings
from mdx.errors import ConfigError
from mdx.serve import MONITOR_NOTEBOOK, monitor_env, voila_command
from mdx.serve_status import StatusLog, StatusTail
from mdx.session import SessionStatus

from .voila_helpers import (
    Served,
    browser,
    free_port,
    monitor_command,
    new_page,
    open_page,
    require_browser,
    serving,
    wait_for,
)

PATIENCE_S = 90.0  # a generous bound on any one wait: it fails a stuck test, never a slow one
RENDERED = ".mdx-tile-last"
SECRET = "sekrit-key-4f1d9a"  # a fake credential in the server's environment: it must never show
FULL = "mdx monitor is at its limit of 1 viewers; close another tab or try later"
# The cull window of the page tests. A kernel's clock starts when it has finished running the notebook
# with no page connected; a page connects once Voilà's JavaScript has loaded, which takes a few seconds
# on a busy 2-core machine: the window must be longer than that, or a page's kernel goes before it connects.
PAGE_CULL_AFTER = "8"


def _open_monitor(chromium: Any, served: Served) -> tuple[Any, list[str]]:
    """A page showing the monitor (its kernel running and connected) and its console errors."""
    opened, errors = open_page(chromium)
    opened.goto(served.url, wait_until="commit")
    opened.wait_for_selector(RENDERED, timeout=PATIENCE_S * 1000)
    return opened, errors


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=PATIENCE_S) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# --- the command line and the environment (no server) -----------------------------------------------------


def test_voila_command_runs_the_viewer_kernel_manager_with_its_limits() -> None:
    cmd = voila_command(MONITOR_NOTEBOOK, cull_after=3, max_kernels=2, open_browser=False)
    assert cmd[1:3] == ["-m", "mdx.serve_kernels"]
    assert "--ViewerKernelManager.cull_after=3" in cmd and "--ViewerKernelManager.max_kernels=2" in cmd
    defaults = voila_command(MONITOR_NOTEBOOK)
    assert "--ViewerKernelManager.cull_after=60.0" in defaults
    assert "--ViewerKernelManager.max_kernels=8" in defaults
    for bad in ({"cull_after": 0}, {"cull_after": float("inf")}, {"max_kernels": 0}, {"max_kernels": 1.5}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            voila_command(MONITOR_NOTEBOOK, **bad)  # type: ignore[arg-type]


BASE = {
    "PATH": "/bin",
    "MDX_BINANCE_API_KEY": SECRET,
    "MDX_BINANCE_SECRET": SECRET + "-s",
    "MDX_SECRET": SECRET + "-default",
    "MDX_CREDENTIALS_FILE": "/nonexistent/creds.json",
}


def test_monitor_env_passes_credentials_only_for_a_live_source() -> None:
    sim = monitor_env(Settings(source="sim"), BASE)
    assert sim["PATH"] == "/bin" and sim["MDX_SOURCE"] == "sim"
    assert not [name for name in sim if name.startswith("MDX_") and name in BASE], sorted(sim)
    replay = monitor_env(Settings(source="replay:/a.gz"), BASE)
    assert "MDX_BINANCE_API_KEY" not in replay and "MDX_CREDENTIALS_FILE" not in replay
    live = Settings(source="binance", credentials=Credentials.from_env({**BASE, "MDX_CREDENTIALS_FILE": ""}))
    env = monitor_env(live, BASE)
    assert env["MDX_BINANCE_API_KEY"] == SECRET and env["MDX_BINANCE_SECRET"] == SECRET + "-s"
    assert env["MDX_CREDENTIALS_FILE"] == BASE["MDX_CREDENTIALS_FILE"]  # the kernels read it themselves
    assert (
        Settings.from_env({**env, "MDX_CREDENTIALS_FILE": ""}).exchange_options("binance")["apiKey"] == SECRET
    )


def test_monitor_env_hands_the_kernels_the_ccxt_options() -> None:
    options = {"urls": {"api": {"public": "http://127.0.0.1:9/api/v3"}}, "timeout": 5000}
    live = Settings(source="binance", ccxt_options={"binance": options})
    env = monitor_env(live, {"PATH": "/bin"})
    assert json.loads(env["MDX_BINANCE_CCXT_OPTIONS"]) == options
    assert Settings.from_env(env).ccxt_config("binance") == options  # what the kernel's live source gets


def test_status_log_writes_a_line_per_change_and_masks_secrets(tmp_path: Path) -> None:
    path = tmp_path / "status.log"
    status_log = StatusLog.from_env(
        {"MDX_STATUS_LOG": str(path), "VOILA_KERNEL_ID": "4bd9fecc-fd84", "MDX_BINANCE_API_KEY": SECRET}
    )
    assert status_log is not None and StatusLog.from_env({}) is None
    steps = [
        [SessionStatus("connected", "sim")],
        [SessionStatus("connected", "sim")],  # no change, no line
        [SessionStatus("connecting", "binance"), SessionStatus("connected", "sim")],
        [SessionStatus("reconnecting", "binance", "connection refused", attempt=2)],
        [SessionStatus("error", "binance", f"rejected key {SECRET}\nby the exchange")],
        [SessionStatus("stale", "sim")],
    ]
    for statuses in steps:
        status_log.note(statuses)
    assert path.read_text().splitlines() == [
        "mdx [4bd9fecc]: sim: connected",
        "mdx [4bd9fecc]: binance: connecting",
        "mdx [4bd9fecc]: binance: reconnecting, attempt 2: connection refused",
        "mdx [4bd9fecc]: binance: error: rejected key *** by the exchange",
        "mdx [4bd9fecc]: sim: stale",
    ]


def test_status_tail_copies_appended_lines(tmp_path: Path) -> None:
    path = tmp_path / "status.log"
    out = io.StringIO()
    tail = StatusTail(path, out, interval_s=0.05).start()
    try:
        StatusLog(path, tag="k1").note([SessionStatus("connected", "sim")])
        wait_for(lambda: "mdx [k1]: sim: connected\n" in out.getvalue(), PATIENCE_S, "the first line copied")
        with path.open("a") as file:
            file.write("mdx [k2]: sim: err")  # half a line: held back until its end arrives
        StatusLog(path, tag="k3").note([SessionStatus("stale", "sim")])
    finally:
        tail.stop()  # copies what is left
    assert out.getvalue().splitlines() == [
        "mdx [k1]: sim: connected",
        "mdx [k2]: sim: errmdx [k3]: sim: stale",
    ]


# --- real servers -----------------------------------------------------------------------------------------


@pytest.fixture
def secret_env() -> dict[str, str]:
    """Our environment with a fake exchange credential in it (the server inherits it)."""
    return {**os.environ, "MDX_BINANCE_API_KEY": SECRET, "MDX_BINANCE_SECRET": SECRET}


@pytest.mark.timeout(300)
def test_a_get_without_a_browser_leaves_no_kernel_and_the_terminal_shows_the_status(
    secret_env: dict[str, str],
) -> None:
    port = free_port()
    command = monitor_command(port, "--cull-after", "5")
    with serving(command, port, capture_stderr=True, env=secret_env) as served:
        status, body = _get(served.url)  # Voilà runs the whole notebook for a GET, no browser needed
        assert status == 200 and "mdx" in body
        pids = served.kernel_pids()
        if pids:  # still inside its cull window: look at what the kernel was given
            env = psutil.Process(pids[0]).environ()
            assert "MDX_STATUS_LOG" in env and env["MDX_SOURCE"] == "sim"
            assert "MDX_BINANCE_API_KEY" not in env and SECRET not in env.values()
        wait_for(lambda: served.logged("Kernel started"), PATIENCE_S, "a kernel started for the GET")
        wait_for(lambda: served.logged(": sim: connected"), PATIENCE_S, "the status line in the terminal")
        wait_for(lambda: served.kernel_count() == 0, PATIENCE_S, "the GET's kernel culled")
        assert served.logged("mdx: no viewer for")
    (connected,) = served.logged(": sim: connected")  # one kernel, one line per change
    tag = connected.removeprefix("mdx [").split("]")[0]
    assert connected == f"mdx [{tag}]: sim: connected" and served.logged(f"Kernel started: {tag}")
    assert not served.logged(SECRET)


@pytest.fixture
def chromium() -> Iterator[Any]:
    require_browser()
    with browser() as opened:
        yield opened


@pytest.mark.browser
@pytest.mark.timeout(400)
def test_closed_pages_leave_no_kernel_and_an_open_page_keeps_its_own(chromium: Any) -> None:
    port = free_port()
    with serving(monitor_command(port, "--cull-after", PAGE_CULL_AFTER), port, capture_stderr=True) as served:
        kept, kept_errors = _open_monitor(chromium, served)
        for _ in range(5):  # visit and close, like reloading a tab five times
            opened, errors = _open_monitor(chromium, served)
            opened.close(run_before_unload=True)
            assert errors == [], errors
        # the five closed pages' kernels go; the open page's stays (it outlives five cull windows)
        wait_for(lambda: served.kernel_count() == 1, PATIENCE_S, "only the open page's kernel left")
        assert len(served.logged("mdx: no viewer for")) >= 5, served.stderr
        before = kept.inner_text(".mdx-tile-age")
        kept.wait_for_function(  # the kept page is live: its data age ticks
            "(before) => document.querySelector('.mdx-tile-age')?.innerText !== before",
            arg=before,
            timeout=PATIENCE_S * 1000,
        )
        kept.close(run_before_unload=True)
        wait_for(lambda: served.kernel_count() == 0, PATIENCE_S, "no kernel once every page is closed")
        assert kept_errors == [], kept_errors


@pytest.mark.browser
@pytest.mark.timeout(400)
def test_a_visitor_beyond_max_kernels_gets_a_full_page(chromium: Any) -> None:
    port = free_port()
    command = monitor_command(port, "--max-kernels", "1", "--cull-after", PAGE_CULL_AFTER)
    with serving(command, port, capture_stderr=True) as served:
        first, errors = _open_monitor(chromium, served)
        with new_page(chromium) as (second, _):
            response = second.goto(served.url)
            assert response is not None and response.status == 503
            assert second.inner_text("body").strip() == FULL
        status, body = _get(served.url)
        assert status == 503 and FULL in body
        assert served.kernel_count() == 1  # no kernel was started for the refused visitors
        first.close(run_before_unload=True)
        wait_for(lambda: served.kernel_count() == 0, PATIENCE_S, "the first page's kernel culled")
        again, _ = _open_monitor(chromium, served)  # the slot is free again
        again.close(run_before_unload=True)
        assert errors == [], errors


@pytest.mark.browser
@pytest.mark.timeout(400)
def test_with_preheat_the_pool_stays_and_viewer_kernels_go(chromium: Any) -> None:
    port = free_port()
    command = monitor_command(port, "--preheat", "--max-kernels", "1", "--cull-after", PAGE_CULL_AFTER)
    with serving(command, port, capture_stderr=True) as served:
        wait_for(lambda: served.kernel_count() == 1, PATIENCE_S, "the preheated kernel")
        opened, errors = _open_monitor(chromium, served)  # takes the pool's kernel; the pool refills
        wait_for(lambda: served.kernel_count() == 2, PATIENCE_S, "the pool refilled")
        status, body = _get(served.url)
        assert status == 503 and FULL in body  # the cap counts viewers; the pool kernel stays in the pool
        opened.close(run_before_unload=True)
        wait_for(
            lambda: served.logged("mdx: no viewer for") and served.kernel_count() == 1,
            PATIENCE_S,
            "the viewer's kernel culled, the pool's kept",
        )
        assert errors == [], errors
