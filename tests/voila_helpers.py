"""Helpers shared by the tests that run a real ``mdx monitor`` (Voilà) and drive it with headless Chromium.

``serving`` starts a server and stops it (SIGTERM, which ``mdx monitor`` passes on to Voilà); ``Served``
keeps what the server wrote on stderr (its log and the kernels' status lines) and counts its kernels
through the process table (Voilà exposes no kernel listing). ``page`` opens a Chromium page and collects
its console and page errors. Browser tests skip locally when Chromium or Playwright is missing and fail
when ``CI`` is set.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The only console errors that are not ours: Voila's page links Font Awesome's CSS from jsDelivr, which
# fails to load offline ("Failed to load resource: net::ERR_NAME_NOT_RESOLVED"). Anything else fails.
NOT_OURS = ("https://cdn.jsdelivr.net/npm/@fortawesome/",)


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def require_browser() -> None:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


def wait_for_server(port: int, process: subprocess.Popen[Any], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mdx monitor exited with {process.returncode}")
        try:
            socket.create_connection(("localhost", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"mdx monitor did not listen on port {port} within {timeout} s")


def monitor_command(port: int, *extra: str) -> list[str]:
    """``mdx monitor --no-browser --port PORT --speed 8 EXTRA...``."""
    cli = Path(sys.executable).with_name("mdx")
    args = ["monitor", "--no-browser", "--port", str(port), "--speed", "8", *extra]
    if cli.exists():
        return [str(cli), *args]
    return [sys.executable, "-c", "import sys; from mdx.cli import main; sys.exit(main(sys.argv[1:]))", *args]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true; fail after ``timeout`` seconds (a generous bound on a stuck test,
    never a performance requirement)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


@dataclass
class Served:
    """A running server: its port, its process and (when captured) the lines of its stderr so far."""

    port: int
    process: subprocess.Popen[Any]
    stderr: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}/"

    def kernel_pids(self) -> list[int]:
        """The server's live ipykernel processes (exited ones that are not reaped yet do not count)."""
        import psutil

        pids = []
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):  # gone, or a zombie, since the listing
                if child.status() != psutil.STATUS_ZOMBIE and "ipykernel_launcher" in " ".join(
                    child.cmdline()
                ):
                    pids.append(child.pid)
        return pids

    def kernel_count(self) -> int:
        return len(self.kernel_pids())

    def logged(self, text: str) -> list[str]:
        """The stderr lines containing ``text``."""
        return [line for line in list(self.stderr) if text in line]


@contextlib.contextmanager
def serving(
    command: list[str], port: int, *, capture_stderr: bool = False, env: dict[str, str] | None = None
) -> Iterator[Served]:
    """Run ``command`` (a server on ``port``) until the block ends; with ``capture_stderr`` its stderr
    lines are collected in ``Served.stderr`` as they come."""
    stderr = subprocess.PIPE if capture_stderr else subprocess.DEVNULL
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr, text=True, env=env
    )
    served = Served(port, process)
    reader = None
    if capture_stderr:
        reader = threading.Thread(target=_collect, args=(process, served.stderr), daemon=True)
        reader.start()
    try:
        wait_for_server(port, process)
        yield served
    except BaseException:
        print("server stderr (last 60 lines):", *served.stderr[-60:], sep="\n")  # shown when a test fails
        raise
    finally:
        process.terminate()  # mdx monitor passes SIGTERM on to Voilà, which stops its kernels
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        if reader is not None:
            reader.join(5)


def _collect(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line.rstrip("\n"))


@contextlib.contextmanager
def page(viewport: dict[str, int] | None = None) -> Iterator[tuple[Any, list[str]]]:
    """A Chromium page and the list of its console and page errors (the font CDN's aside, NOT_OURS)."""
    with browser() as chromium, new_page(chromium, viewport) as (opened, errors):
        yield opened, errors


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright's ``Browser``) for several pages."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(chromium: Any, viewport: dict[str, int] | None = None) -> tuple[Any, list[str]]:
    """A new page of ``chromium`` and the list of its console and page errors (but NOT_OURS)."""
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource") and url.startswith(NOT_OURS):
            return
        errors.append(f"console error: {msg.text} ({url})")

    opened = chromium.new_page(viewport=viewport or {"width": 1440, "height": 930})
    opened.on("console", on_console)
    opened.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return opened, errors


@contextlib.contextmanager
def new_page(chromium: Any, viewport: dict[str, int] | None = None) -> Iterator[tuple[Any, list[str]]]:
    """``open_page``, closed after the block (with ``beforeunload``, as a closed tab does)."""
    opened, errors = open_page(chromium, viewport)
    try:
        yield opened, errors
    finally:
        if not opened.is_closed():
            opened.close(run_before_unload=True)
