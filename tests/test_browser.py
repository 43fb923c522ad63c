"""The served dashboard in a real browser: ``mdx monitor --no-browser`` + headless Debian Chromium.

Checks what a user sees on every path the README gives a newcomer: the simulator (charts drawn, the
indicator lines within 5 s of opening, axes with full UTC time labels and round prices, tiles ticking,
symbol and timeframe pickers redrawing, a connected status line), a replay started with a path relative
to the repository (``../shared/data/...``: connected, then done), and a live exchange that cannot be
reached (pointed at an ``.invalid`` host through ``MDX_BINANCE_CCXT_OPTIONS``: reconnecting, saying it
cannot reach it). On each, every control is on screen and no console or page error shows up; an empty
state (not made-up axes) shows when there is no data, and no code or file tree is exposed. Timings
(first render, symbol switch) are printed, never asserted: each step waits for its condition with a
generous timeout, but for one requirement: the indicator lines within 5 s (measured figures: bench/).
Saves screenshots under ``tests/artifacts/`` (``make screenshot`` points the simulator's at the README's
``docs/monitor.png``; nothing else writes it). Skips locally when Chromium or Playwright is missing;
fails when ``CI`` is set.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import SHARED_DATA, require
from .fake_binance import ccxt_config_for
from .voila_helpers import free_port, monitor_command, require_browser, serving
from .voila_helpers import page as _page

ROOT = Path(__file__).resolve().parents[1]
# the page as the test leaves it; `make screenshot` points this at docs/monitor.png (the README's picture)
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots of the replay and no-data pages too
SCREENSHOT = Path(os.environ.get("MDX_SCREENSHOT") or ARTIFACTS / "monitor.png")

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
PATIENCE_MS = 20_000  # a generous bound on any one step: it only fails a test that is stuck, never a slow one
FIRST_LINES_MS = 5_000  # the simulator's history: indicator lines on the chart this soon after opening


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    require_browser()
    port = free_port()
    with serving(monitor_command(port), port):
        yield port


LONG_SOURCE_FILES = ("btcusdt_20240808.gz", "btcusdt_20240809.gz")


REPLAY_SPEED = "40"  # eleven minutes of capture in about 17 s: the test sees it play, then end


@pytest.fixture(scope="module")
def replay_server() -> Iterator[tuple[int, str]]:
    """The monitor on a replay of two captures named as a newcomer would from the repository's root
    (``mdx monitor`` runs there): ``../shared/data/...``, relative paths, and a long source string.
    Yields the port and the source with the paths made absolute (what the dashboard shows on hover)."""
    require_browser()
    folder = require(SHARED_DATA / "binance-spot-l2-trades", "the replay captures")
    files = [require(folder / name) for name in LONG_SOURCE_FILES]
    relative = [os.path.relpath(path, ROOT) for path in files]
    assert all(not os.path.isabs(path) for path in relative), relative
    port = free_port()
    command = monitor_command(port, "--source", "replay:" + ",".join(relative), "--speed", REPLAY_SPEED)
    with serving(command, port):  # cwd: the repository's root
        # absolute as mdx makes them: joined to the folder it ran in, symlinks (../shared may be one) kept
        yield port, "replay:" + ",".join(os.path.abspath(ROOT / path) for path in relative)


# binance's REST and websocket urls on a name that never resolves (RFC 2606): no network needed, none used
UNREACHABLE = ccxt_config_for("https://nonexistent.invalid", "wss://nonexistent.invalid/stream/ws")


@pytest.fixture(scope="module")
def unreachable_server() -> Iterator[int]:
    """The monitor on a live exchange it cannot reach, pointed there by mdx's documented setting."""
    require_browser()
    env = {**os.environ, "MDX_BINANCE_CCXT_OPTIONS": json.dumps(UNREACHABLE)}
    port = free_port()
    with serving(monitor_command(port, "--source", "binance", "--symbols", "BTC/USDT"), port, env=env):
        yield port


ERROR_NOTEBOOK = """\
from mdx.config import Settings
from mdx.ui import MonitorApp

app = MonitorApp(Settings(source="nosuchexchange"))  # no session: nothing will ever arrive
app.refresh()
app
"""


@pytest.fixture(scope="module")
def error_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The monitor app whose source cannot be opened, served by Voila like the real one."""
    require_browser()
    import nbformat

    from mdx.serve import voila_command

    notebook = tmp_path_factory.mktemp("error") / "error.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(ERROR_NOTEBOOK)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebook)
    port = free_port()
    with serving(voila_command(notebook, port=port, open_browser=False), port):
        yield port


def _text(page: Any, selector: str) -> str:
    return str(page.inner_text(selector)).strip()


# Installed before the page loads: every state the status line shows, in order (a state shown between two
# polls of the test is not missed).
RECORD_STATES_JS = """
window.__mdxStates = [];
new MutationObserver(() => {
  const state = document.querySelector('.mdx-status .mdx-state')?.textContent;
  const seen = window.__mdxStates;
  if (state && seen[seen.length - 1] !== state) seen.push(state);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def _open(page: Any, url: str) -> float:
    """Open ``url`` recording the status line's states; the monotonic time it was opened at."""
    page.add_init_script(RECORD_STATES_JS)
    started = time.monotonic()
    page.goto(url, wait_until="commit")
    return started


def _states(page: Any) -> list[str]:
    return list(page.evaluate("() => window.__mdxStates"))


def _wait_for_state(page: Any, state: str, timeout_ms: float = PATIENCE_MS) -> None:
    page.wait_for_function("(s) => window.__mdxStates.includes(s)", arg=state, timeout=timeout_ms)


def _wait_until(page: Any, expression: str, arg: Any, timeout_ms: float) -> float:
    """Seconds until the JS ``expression`` (a function of ``arg``) is true, for printing; fails after
    ``timeout_ms`` (a generous bound, not a performance requirement)."""
    started = time.monotonic()
    page.wait_for_function(expression, arg=arg, timeout=timeout_ms, polling=25)
    return time.monotonic() - started


TILE = "(name) => (document.querySelector(`.mdx-tile-${name} .mdx-tile-value`)?.textContent ?? '')"
LEGEND = "(document.querySelector('.mdx-candle-legend')?.textContent ?? '')"
CANDLES = "[...document.querySelectorAll('.mdx-candles .stick_body')].map(e => e.getAttribute('d')).join('|')"
# the tick labels of each visible axis in a chart card, and whether any label sticks out of its figure
AXES = """(card) => {
  const shown = (e) => { for (let x = e; x && x.tagName !== 'svg'; x = x.parentElement)
                           if (getComputedStyle(x).display === 'none') return false;
                         return true; };
  return [...document.querySelectorAll(`.${card} g.axis`)].filter(shown).map(a => {
    const svg = a.closest('svg').getBoundingClientRect();
    const texts = [...a.querySelectorAll('.tick text')].filter(shown);
    const out = (r) => r.width > 0 && (r.left < svg.left - 0.5 || r.right > svg.right + 0.5);
    return {labels: texts.map(t => t.textContent), clipped: texts.some(t => out(t.getBoundingClientRect()))};
  });
}"""
# overlay lines drawn in the candle chart (Bollinger's three rows, EMA, VWAP): paths with a segment
OVERLAY_LINES = (
    "[...document.querySelectorAll('.mdx-candles path.line')]"
    ".filter(p => (p.getAttribute('d') || '').includes('L')).length"
)
WARMING = "document.querySelector('.mdx-candle-legend .mdx-warmup')"  # "EMA 20: 12/20 bars"
HMS = re.compile(r"^\d\d:\d\d:\d\d$")
HM = re.compile(r"^([A-Z][a-z]{2} \d\d )?\d\d:\d\d$")  # with the date when the axis crosses midnight UTC
CONTROLS = (
    ".mdx-source select",
    ".mdx-exchange select",
    ".mdx-symbol select",
    ".mdx-timeframe button",
    ".mdx-indicators button",
    ".mdx-status",
)


def _axes(page: Any, card: str) -> list[dict[str, Any]]:
    return list(page.evaluate(AXES, card))


def _time_labels(page: Any, card: str, pattern: re.Pattern[str]) -> list[str]:
    """The labels of the card's visible time axis (labels all matching ``pattern``); [] if none yet."""
    for axis in _axes(page, card):
        if len(axis["labels"]) >= 2 and all(pattern.match(label) for label in axis["labels"]):
            assert not axis["clipped"], (card, axis)
            return list(axis["labels"])
    return []


def _wait_for_time_labels(page: Any, card: str, pattern: re.Pattern[str]) -> list[str]:
    deadline = time.monotonic() + PATIENCE_MS / 1000
    while not (labels := _time_labels(page, card, pattern)):
        assert time.monotonic() < deadline, (card, pattern.pattern, _axes(page, card))
        page.wait_for_timeout(100)
    return labels


def _is_round(labels: list[str]) -> bool:
    """Price labels that are multiples of one 1/2/5 x 10^k step, shown with just the decimals it needs."""
    values = [float(label.replace(",", "")) for label in labels]
    step = min(b - a for a, b in itertools.pairwise(values))
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    decimals = {len(label.partition(".")[2]) for label in labels}
    return (
        any(abs(mantissa - m) < 1e-6 for m in (1, 2, 5))
        and all(abs(v / step - round(v / step)) < 1e-6 for v in values)
        and len(decimals) == 1
    )


def test_dashboard_in_chromium(server: int) -> None:
    url = f"http://localhost:{server}/"
    with _page({"width": 1440, "height": 930}) as (page, errors):
        started = _open(page, url)
        page.wait_for_selector(".mdx-tile-last", timeout=30_000)
        first_render = time.monotonic() - started
        print(f"first render (cold kernel): {first_render:.2f} s")

        # the simulator's history is there from the start: candles and every indicator line (Bollinger's
        # three rows, EMA, VWAP: non-empty paths, no "12/20 bars" warm-up) within 5 s of opening the page
        left_ms = FIRST_LINES_MS - (time.monotonic() - started) * 1000
        assert left_ms > 0, f"the page took {first_render:.2f} s to show its tiles"
        page.wait_for_function(
            f"() => ({OVERLAY_LINES}) >= 5 && {LEGEND}.includes('EMA 20') && !({WARMING})",
            timeout=left_ms,
            polling=25,
        )
        print(f"indicator lines drawn {time.monotonic() - started:.2f} s after opening")
        assert page.locator(".mdx-candles .stick_body").count() > 20  # hours of history, not a few bars

        # the other charts render: SVG marks present in each
        for chart in ("mdx-mid", "mdx-imbalance", "mdx-depth"):
            page.wait_for_selector(f".{chart} svg path.line", state="attached", timeout=PATIENCE_MS)
        _controls_on_screen(page, 1440, 930)

        # axes: full UTC times (not ':48'), nothing clipped at the edges, round prices, units
        assert _wait_for_time_labels(page, "mdx-candles", HMS)
        mid_times = _wait_for_time_labels(page, "mdx-mid", HMS)
        assert _wait_for_time_labels(page, "mdx-imbalance", HMS)  # the imbalance chart has a time axis
        print(f"mid time axis: {mid_times}")
        for card in ("mdx-candles", "mdx-mid"):
            prices = [a["labels"] for a in _axes(page, card) if a["labels"] and "," in a["labels"][0]]
            assert prices and len(prices[0]) >= 2 and _is_round(prices[0]), (card, prices)
        volume = [a["labels"] for a in _axes(page, "mdx-candles") if any("BTC" in x for x in a["labels"])]
        assert volume and all(label.endswith(" BTC") for label in volume[0]), volume
        depth = [label for axis in _axes(page, "mdx-depth") for label in axis["labels"]]
        assert any(label.endswith(" BTC") for label in depth), depth
        assert "msg/s total" in _text(page, ".mdx-status") and "UTC" in page.evaluate(f"() => {LEGEND}")

        # the status line says connected, and never said anything worse
        _wait_for_state(page, "connected")
        assert "connected" in _text(page, ".mdx-status")
        assert set(_states(page)) <= {"idle", "connecting", "connected"}, _states(page)

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
        assert float(page.get_attribute(".mdx-tile-last .mdx-tile-value", "data-value")) < 20_000  # ETH

        # a click on a watchlist row selects it too
        page.click(".mdx-watch-sol-usdt .mdx-watch-hit")
        took = _wait_until(page, f"() => {LEGEND}.includes('SOL/USDT')", None, PATIENCE_MS)
        print(f"watchlist click redrawn in {took * 1000:.0f} ms")
        assert page.input_value(".mdx-symbol select") == "SOL/USDT"
        assert "mdx-selected" in (page.get_attribute(".mdx-watch-sol-usdt", "class") or "")

        # another timeframe changes the candles, and the time axis says HH:MM
        candles_1s = page.evaluate(f"() => {CANDLES}")
        page.click(".mdx-timeframe button:has-text('1m')")
        took = _wait_until(
            page,
            f"(before) => {LEGEND}.includes('1m') && ({CANDLES}) !== before",
            candles_1s,
            PATIENCE_MS,
        )
        print(f"timeframe switch redrawn in {took * 1000:.0f} ms")
        # (not fewer candles than at 1s: with the simulator's history both timeframes fill the window)
        print(f"1m time axis: {_wait_for_time_labels(page, 'mdx-candles', HM)}")

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
        # the whole dashboard in the picture, the log panel at the bottom too (the page scrolls inside)
        bottom = page.evaluate("() => document.querySelector('.mdx-app').getBoundingClientRect().bottom")
        page.set_viewport_size({"width": 1440, "height": max(930, math.ceil(bottom) + 24)})
        page.wait_for_timeout(5_000)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == [], errors


ATTR = "([sel, name]) => document.querySelector(sel)?.getAttribute(name) ?? ''"


def test_alert_form_signals_and_confluence_in_chromium(server: int) -> None:
    """An alert rule added through the form fires on the simulator and shows in the triggers; bad input
    gets a message; the confluence gauge and the consensus row move on with new bars; MACD toggles on."""
    with _page({"width": 1440, "height": 1400}) as (page, errors):
        _open(page, f"http://localhost:{server}/")
        page.wait_for_selector(".mdx-alerts .mdx-alert-add", timeout=60_000)
        page.wait_for_function(
            "() => Number(document.querySelector('.mdx-tile-last .mdx-tile-value')?.dataset.value) > 0",
            timeout=PATIENCE_MS,
        )
        # the signal tile and the gauge have values from the simulator's history
        page.wait_for_function(
            "() => ['BUY', 'SELL', 'NEUTRAL'].includes(document.querySelector('.mdx-signal-label')"
            "?.dataset.signal)",
            timeout=PATIENCE_MS,
        )
        page.wait_for_function(
            "() => document.querySelector('.mdx-confluence-score')?.dataset.value !== ''", timeout=PATIENCE_MS
        )
        score_ts = page.evaluate(ATTR, [".mdx-confluence-score", "data-ts"])
        votes_ts = page.evaluate(ATTR, [".mdx-votes", "data-ts"])
        assert page.locator(".mdx-confluence .mdx-dim").count() == 6
        assert page.locator(".mdx-votes .mdx-vote[data-vote]").count() == 3  # 1s, 1m, 5m
        assert _text(page, ".mdx-dim-sentiment .mdx-dim-value") == "—"  # no data: a dash

        # bad input: a clear message, no rule, no traceback
        page.select_option(".mdx-alert-type select", label="price above")
        page.fill(".mdx-alert-level input", "abc")
        page.click(".mdx-alert-add")
        page.wait_for_selector(".mdx-alert-message .mdx-alert-error", timeout=PATIENCE_MS)
        message = _text(page, ".mdx-alert-message")
        assert "must be a number" in message and "Traceback" not in message, message
        assert page.locator(".mdx-alert-rule").count() == 0

        # a rule through the form: BTC/USDT above a level just under the last price, so the next trade fires
        last = float(page.get_attribute(".mdx-tile-last .mdx-tile-value", "data-value") or "nan")
        page.select_option(".mdx-alert-symbol select", "BTC/USDT")
        page.fill(".mdx-alert-level input", f"{last * 0.99:.2f}")
        page.fill(".mdx-alert-cooldown input", "3600")
        page.click(".mdx-alert-add")
        page.wait_for_selector(".mdx-alert-rule[data-rule^='price_above:BTC/USDT']", timeout=PATIENCE_MS)
        assert "added price_above:BTC/USDT" in _text(page, ".mdx-alert-message")
        took = _wait_until(
            page,
            "(sel) => document.querySelector(sel)",
            ".mdx-alert-triggers tr.mdx-trigger[data-rule^='price_above:BTC/USDT']",
            PATIENCE_MS * 3,
        )
        print(f"the alert fired and showed {took:.2f} s after it was added")
        row = _text(page, ".mdx-alert-triggers tr.mdx-trigger")
        assert "BTC/USDT" in row and re.search(r"\d\d:\d\d:\d\d\.\d{3}", row), row

        # the gauge and the consensus row move on as bars close
        page.wait_for_function(
            f"(ts) => ({ATTR})(['.mdx-confluence-score', 'data-ts']) !== ts",
            arg=score_ts,
            timeout=PATIENCE_MS,
        )
        page.wait_for_function(
            f"(ts) => ({ATTR})(['.mdx-votes', 'data-ts']) !== ts", arg=votes_ts, timeout=PATIENCE_MS
        )
        signal = page.get_attribute(".mdx-consensus-signal", "data-signal")
        assert signal in ("BUY", "SELL", "NEUTRAL"), signal

        # remove the rule: select + button
        page.click(".mdx-alert-remove")
        page.wait_for_function("() => !document.querySelector('.mdx-alert-rule')", timeout=PATIENCE_MS)

        # the MACD sub-chart: hidden, then drawn when toggled on
        assert not page.locator(".mdx-macd").is_visible()
        page.click(".mdx-sub-macd")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.mdx-macd path.line')]"
            ".some(p => (p.getAttribute('d') || '').includes('L'))",
            timeout=PATIENCE_MS,
        )
        assert page.locator(".mdx-macd").is_visible()
        page.wait_for_timeout(1_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "monitor-analytics.png"), full_page=True)
    assert errors == [], errors


def _controls_on_screen(page: Any, width: int, height: int) -> None:
    """Every control (each timeframe and indicator button too) is shown whole inside the viewport."""
    for selector in CONTROLS:
        elements = page.locator(selector).all()
        assert elements, selector
        for element in elements:
            assert element.is_visible(), selector
            box = element.bounding_box()
            assert box is not None and box["width"] > 10 and box["height"] > 10, (selector, box)
            inside = box["x"] >= 0 and box["y"] >= 0
            inside = inside and box["x"] + box["width"] <= width and box["y"] + box["height"] <= height
            assert inside, (selector, box, width, height)
    # no button is cut down to "E…": its text fits
    cut = page.evaluate(
        "() => [...document.querySelectorAll('.mdx-controls button')]"
        ".filter(b => b.scrollWidth > b.clientWidth + 1).map(b => b.textContent)"
    )
    assert cut == [], cut


def test_a_replay_named_by_relative_paths_plays_then_ends_with_every_control_on_screen(
    replay_server: tuple[int, str],
) -> None:
    port, source = replay_server
    with _page({"width": 1440, "height": 930}) as (page, errors):
        _open(page, f"http://localhost:{port}/")
        page.wait_for_selector(".mdx-candles .stick_body", state="attached", timeout=60_000)
        _wait_for_state(page, "connected")
        _controls_on_screen(page, 1440, 930)
        # a short label on screen, the full source on hover
        label = page.evaluate(
            "() => document.querySelector('.mdx-source select').selectedOptions[0].text"
        ).replace("\xa0", " ")
        assert label == "replay: btcusdt_20240808.gz +1"
        assert page.get_attribute(".mdx-source select", "title") == source
        assert LONG_SOURCE_FILES[1] in (
            page.get_attribute(".mdx-status-line", "title") or ""
        )  # the whole line
        assert "/" not in _text(page, ".mdx-status").replace("msg/s", "").replace("BTC/USDT", "")
        for width, height in ((1100, 800), (900, 760)):
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(300)  # one layout pass
            _controls_on_screen(page, width, height)
        page.set_viewport_size({"width": 1440, "height": 930})
        page.wait_for_timeout(2_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "monitor-replay.png"), full_page=True)

        # the capture ends: "done", and the charts keep its last data
        _wait_for_state(page, "done", timeout_ms=PATIENCE_MS * 6)
        states = _states(page)
        assert "error" not in states and "reconnecting" not in states, states
        assert states.index("connected") < states.index("done") and states[-1] == "done", states
        assert page.locator(".mdx-candles .stick_body").count() > 2
        empty = page.evaluate(
            "() => [...document.querySelectorAll('.mdx-chart-card.mdx-empty')].map(e => e.className)"
        )
        assert empty == [], empty
        _controls_on_screen(page, 1440, 930)
    assert errors == [], errors


def test_an_unreachable_exchange_says_so_while_it_retries(unreachable_server: int) -> None:
    with _page({"width": 1440, "height": 930}) as (page, errors):
        _open(page, f"http://localhost:{unreachable_server}/")
        page.wait_for_selector(".mdx-tile-last", timeout=60_000)
        _wait_for_state(page, "reconnecting")
        page.wait_for_function(
            "() => document.querySelector('.mdx-status .mdx-reason')?.textContent.includes('cannot reach')",
            timeout=PATIENCE_MS,
        )
        status = _text(page, ".mdx-status")
        assert "reconnecting" in status and "attempt" in status, status
        assert "cannot reach binance (no network or DNS?): nonexistent.invalid" in status, status
        assert "try --source sim or a replay" in status, status
        assert "connected" not in _states(page), _states(page)
        # no data: each chart says it waits (the status line says why) instead of drawing made-up axes
        notes = page.locator(".mdx-chart-card .mdx-chart-note")
        assert notes.count() == 4
        for note in notes.all():
            assert note.is_visible() and note.inner_text() == "waiting for data…", note.inner_text()
        for card in ("mdx-candles", "mdx-mid", "mdx-imbalance", "mdx-depth"):
            assert _axes(page, card) == [], card
        _controls_on_screen(page, 1440, 930)
        page.wait_for_timeout(2_000)  # anything late (a view that fails, a bad path) shows up by now
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "monitor-unreachable.png"), full_page=True)
    assert errors == [], errors


def test_with_no_data_the_charts_say_why_instead_of_drawing_axes(error_server: int) -> None:
    with _page({"width": 1440, "height": 930}) as (page, errors):
        page.goto(f"http://localhost:{error_server}/", wait_until="commit")
        page.wait_for_selector(".mdx-tile-last", timeout=60_000)
        page.wait_for_function(
            "() => document.querySelector('.mdx-status')?.textContent.includes('error')", timeout=PATIENCE_MS
        )
        notes = page.locator(".mdx-chart-card .mdx-chart-note")
        assert notes.count() == 4  # candles, mid, imbalance, depth
        for note in notes.all():
            assert note.is_visible() and note.inner_text().startswith("no data: "), note.inner_text()
            assert "nosuchexchange" in note.inner_text()
        for card in ("mdx-candles", "mdx-mid", "mdx-imbalance", "mdx-depth"):
            assert _axes(page, card) == [], card  # no made-up axes (1.07 / 0.79 / 0.50 ...)
        page.wait_for_timeout(2_000)  # anything late (a view that fails, a bad path) shows up by now
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "monitor-no-data.png"), full_page=True)
    assert errors == [], errors
