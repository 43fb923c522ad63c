"""The served dashboard in a real browser: ``mdx monitor --no-browser`` + headless Debian Chromium.

Checks what a user sees: charts drawn, tiles ticking, symbol and timeframe pickers redrawing, a
connected status line, no code or file tree exposed. Timings (first render, symbol switch) are printed,
never asserted: each step waits for its condition with a generous timeout (measured figures: bench/).
Saves a screenshot under ``tests/artifacts/`` (``make screenshot`` refreshes the README's
``docs/monitor.png``). Skips locally when Chromium or Playwright is missing; fails when ``CI`` is set.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# the page as the test leaves it; `make screenshot` points this at docs/monitor.png (the README's picture)
SCREENSHOT = Path(os.environ.get("MDX_SCREENSHOT") or ROOT / "tests" / "artifacts" / "monitor.png")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
PATIENCE_MS = 20_000  # a generous bound on any one step: it only fails a test that is stuck, never a slow one


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


def _wait_for_server(port: int, process: subprocess.Popen[bytes], timeout: float = 40.0) -> None:
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


def _monitor_command(port: int) -> list[str]:
    cli = Path(sys.executable).with_name("mdx")
    args = ["monitor", "--no-browser", "--port", str(port), "--speed", "8"]
    if cli.exists():
        return [str(cli), *args]
    return [sys.executable, "-c", "import sys; from mdx.cli import main; sys.exit(main(sys.argv[1:]))", *args]


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed")
    port = _free_port()
    process = subprocess.Popen(
        _monitor_command(port), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_server(port, process)
        yield port
    finally:
        process.terminate()  # mdx monitor passes SIGTERM on to Voilà, which stops its kernels
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def _text(page: Any, selector: str) -> str:
    return str(page.inner_text(selector)).strip()


def _wait_until(page: Any, expression: str, arg: Any, timeout_ms: float) -> float:
    """Seconds until the JS ``expression`` (a function of ``arg``) is true, for printing; fails after
    ``timeout_ms`` (a generous bound, not a performance requirement)."""
    started = time.monotonic()
    page.wait_for_function(expression, arg=arg, timeout=timeout_ms, polling=25)
    return time.monotonic() - started


TILE = "(name) => (document.querySelector(`.mdx-tile-${name} .mdx-tile-value`)?.textContent ?? '')"
LEGEND = "(document.querySelector('.mdx-candle-legend')?.textContent ?? '')"
CANDLES = "[...document.querySelectorAll('.mdx-candles .stick_body')].map(e => e.getAttribute('d')).join('|')"


def test_dashboard_in_chromium(server: int) -> None:
    from playwright.sync_api import sync_playwright

    url = f"http://localhost:{server}/"
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 930})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            started = time.monotonic()
            page.goto(url, wait_until="commit")
            page.wait_for_selector(".mdx-tile-last", timeout=30_000)
            first_render = time.monotonic() - started
            print(f"first render (cold kernel): {first_render:.2f} s")

            # the charts render: SVG marks present in every chart
            page.wait_for_selector(".mdx-candles .stick_body", state="attached", timeout=PATIENCE_MS)
            for chart in ("mdx-mid", "mdx-imbalance", "mdx-depth"):
                page.wait_for_selector(f".{chart} svg path.line", state="attached", timeout=PATIENCE_MS)
            assert page.locator(".mdx-candles .stick_body").count() > 2

            # the status line says connected
            page.wait_for_function(
                "() => document.querySelector('.mdx-status')?.textContent.includes('connected')",
                timeout=PATIENCE_MS,
            )
            assert "connected" in _text(page, ".mdx-status")

            # last price and data age tick
            last = page.evaluate(TILE, "last")
            age = page.evaluate(TILE, "age")
            took = _wait_until(
                page,
                f"([last, age]) => ({TILE})('last') !== last && ({TILE})('age') !== age",
                [last, age],
                PATIENCE_MS,
            )
            print(f"last price and data age ticked after {took:.2f} s")

            # another symbol: the tiles and the chart follow
            before = page.evaluate(TILE, "last")
            page.select_option(".mdx-symbol select", "ETH/USDT")
            took = _wait_until(
                page,
                f"(before) => ({TILE})('last') !== before && {LEGEND}.includes('ETH/USDT')",
                before,
                PATIENCE_MS,
            )
            print(f"symbol switch redrawn in {took * 1000:.0f} ms")
            assert (
                float(page.get_attribute(".mdx-tile-last .mdx-tile-value", "data-value")) < 20_000
            )  # ETH, not BTC

            # a click on a watchlist row selects it too
            page.click(".mdx-watch-sol-usdt .mdx-watch-hit")
            took = _wait_until(page, f"() => {LEGEND}.includes('SOL/USDT')", None, PATIENCE_MS)
            print(f"watchlist click redrawn in {took * 1000:.0f} ms")
            assert page.input_value(".mdx-symbol select") == "SOL/USDT"
            assert "mdx-selected" in (page.get_attribute(".mdx-watch-sol-usdt", "class") or "")

            # another timeframe changes the candles
            candles_1s = page.evaluate(f"() => {CANDLES}")
            page.click(".mdx-timeframe button:has-text('1m')")
            took = _wait_until(
                page,
                f"(before) => {LEGEND}.includes('1m') && ({CANDLES}) !== before",
                candles_1s,
                PATIENCE_MS,
            )
            print(f"timeframe switch redrawn in {took * 1000:.0f} ms")
            assert page.locator(".mdx-candles .stick_body").count() < len(candles_1s.split("|"))

            # nothing but the dashboard: no code cells, no notebook source, no file tree
            content = page.content()
            assert "MonitorApp(" not in content and "Settings.from_env" not in content
            assert page.locator(".jp-InputArea-editor, .CodeMirror, .cm-editor").count() == 0
            for path in ("voila/tree", "api/contents", "voila/files/monitor.ipynb"):
                try:
                    status = urllib.request.urlopen(url + path, timeout=5).status
                except urllib.error.HTTPError as error:
                    status = error.code
                assert status >= 400, path

            # the README screenshot: back to BTC/USDT 1s, with the toggles on and a few seconds of data
            page.click(".mdx-timeframe button:has-text('1s')")
            page.select_option(".mdx-symbol select", "BTC/USDT")
            _wait_until(
                page, f"() => {LEGEND}.includes('BTC/USDT') && {LEGEND}.includes('1s')", None, PATIENCE_MS
            )
            page.wait_for_timeout(5_000)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            page.close(run_before_unload=True)  # lets Voilà shut the kernel down
        finally:
            browser.close()
    ours = [e for e in errors if "Failed to load resource" not in e]  # offline: no CDN fonts
    assert ours == [], ours
