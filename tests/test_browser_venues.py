"""Two live venues in a real browser: ``mdx monitor --source binance,bybit`` against the loopback fakes,
headless Debian Chromium.

The fake Binance and the fake Bybit run in a thread of this test with their own event loop, each book
replaced every 100 ms (so quotes keep coming), a trade now and then, and Bybit's linear ticker carrying
mark / index price, funding and open interest; ccxt in the dashboard's kernel is pointed at them through
``MDX_BINANCE_CCXT_OPTIONS`` / ``MDX_BYBIT_CCXT_OPTIONS`` (the documented setting). The page must show the
venue table (binance and bybit BTC/USDT, bybit's perpetual, with prices and states) and, once the perpetual
is selected, its funding, open interest and a liquidation the test pushes. The fake Binance lists no
perpetual: the monitor says so once and streams its spot pair. Waits on conditions with generous timeouts,
never on wall-clock figures; no console or page error is allowed. Saves
``tests/artifacts/monitor-venues.png``. Skips locally when Chromium or Playwright is missing; fails when
``CI`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .fake_binance import FakeBinance
from .fake_bybit import FakeBybit
from .voila_helpers import free_port, monitor_command, require_browser, serving
from .voila_helpers import page as _page

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
PATIENCE_MS = 60_000  # a generous bound on any one step: it only fails a test that is stuck, never a slow one
MID = 65_000.0
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
CHANNELS = "trades,book,ticker,funding,mark,open_interest,liquidations"
OPEN_INTEREST = 12_345.0
LIQUIDATION = (64_321.5, 0.123)  # price, size
T = TypeVar("T")


def _levels(mid: float, size: float) -> tuple[dict[float, float], dict[float, float]]:
    return {mid - 0.5 * (i + 1): size for i in range(5)}, {mid + 0.5 * (i + 1): size for i in range(5)}


class Fakes:
    """Both fakes served from a thread with its own event loop, kept quoting until ``close``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-venues", daemon=True)
        self.thread.start()
        self.binance = FakeBinance()
        self.bybit = FakeBybit()
        self.call(self._start())
        self._ticking: Future[None] = asyncio.run_coroutine_threadsafe(self._tick(), self.loop)

    def call(self, work: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``work`` on the fakes' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    async def _start(self) -> None:
        await self.binance.start()
        await self.bybit.start()
        self.binance.ladder("BTCUSDT", MID, levels=5)
        self.bybit.ladder("BTCUSDT", MID, category="spot", levels=5)
        self.bybit.ladder("BTCUSDT", MID, category="linear", levels=5)

    async def _tick(self) -> None:
        """Every 100 ms each book's five levels a side change size (a new top of book, a quote); every
        second a trade on each and Bybit's linear ticker with mark, index, funding and open interest."""
        # the ladders set at the start (same prices), so their levels are replaced, never left crossed
        books = {name: _levels(MID, 1.0) for name in ("binance", "spot", "linear")}
        k = 0
        while True:
            k += 1
            for name in ("binance", "spot", "linear"):
                with contextlib.suppress(Exception):  # a subscriber gone mid-send: the next tick goes on
                    bids, asks = _levels(MID + (1.0 if name == "linear" else 0.0), 1.0 + (k % 5) / 10)
                    old_bids, old_asks = books[name]
                    bid_changes = [(p, 0.0) for p in old_bids if p not in bids] + list(bids.items())
                    ask_changes = [(p, 0.0) for p in old_asks if p not in asks] + list(asks.items())
                    books[name] = (bids, asks)
                    if name == "binance":
                        await self.binance.push_depth("BTCUSDT", bid_changes, ask_changes)
                        if k % 10 == 0:
                            await self.binance.push_trade("BTCUSDT", MID + 0.5, 0.01)
                    else:
                        await self.bybit.push_depth("BTCUSDT", bid_changes, ask_changes, category=name)
                        if k % 10 == 0:
                            await self.bybit.push_trade("BTCUSDT", MID + 0.5, 0.01, category=name)
            if k % 10 == 0:
                with contextlib.suppress(Exception):
                    await self.bybit.push_ticker(
                        "BTCUSDT",
                        category="linear",
                        markPrice=MID + 1.25,
                        indexPrice=MID - 0.75,
                        fundingRate=0.000125,
                        nextFundingTime=str(int(time.time() * 1000) + 3_600_000),
                        openInterest=OPEN_INTEREST,
                        openInterestValue=OPEN_INTEREST * MID,
                    )
            await asyncio.sleep(0.1)

    def liquidation_subscribed(self) -> bool:
        bybit = self.bybit
        return any(
            bybit.subscribed(f"{topic}.BTCUSDT", "linear") for topic in ("allLiquidation", "liquidation")
        )

    def close(self) -> None:
        self._ticking.cancel()
        with contextlib.suppress(Exception):
            self.call(self._stop(), 15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _stop(self) -> None:
        await self.binance.stop()
        await self.bybit.stop()


@pytest.fixture(scope="module")
def venues() -> Iterator[tuple[int, Fakes]]:
    require_browser()
    fakes = Fakes()
    env = {
        **os.environ,
        "MDX_BINANCE_CCXT_OPTIONS": json.dumps(fakes.binance.ccxt_config()),
        "MDX_BYBIT_CCXT_OPTIONS": json.dumps(fakes.bybit.ccxt_config()),
    }
    port = free_port()
    command = monitor_command(
        port, "--source", "binance,bybit", "--symbols", f"{SPOT},{PERP}", "--channels", CHANNELS
    )
    try:
        with serving(command, port, env=env, capture_stderr=True):
            yield port, fakes
    finally:
        fakes.close()


# every venue row shown: "exchange symbol state price"
ROWS = """() => [...document.querySelectorAll('.mdx-venue-table .mdx-venue-row')].map(r =>
  [r.dataset.exchange, r.dataset.symbol, r.dataset.state,
   r.querySelector('.mdx-venue-price')?.textContent ?? ''].join(' '))"""
PRICED = r"/\d{2},\d{3}\.\d+$/"


def _venue_rows_priced(page: Any, wanted: list[tuple[str, str]]) -> list[str]:
    """Wait until each (exchange, symbol) has a row with a price; the rows shown."""
    page.wait_for_function(
        f"""(wanted) => {{
          const rows = ({ROWS})();
          return wanted.every(([ex, sym]) => rows.some(r => r.startsWith(ex + ' ' + sym + ' ')
                                                          && {PRICED}.test(r)));
        }}""",
        arg=wanted,
        timeout=PATIENCE_MS,
        polling=200,
    )
    return list(page.evaluate(ROWS))


def test_two_live_venues_and_a_perpetual_in_chromium(venues: tuple[int, Fakes]) -> None:
    port, fakes = venues
    with _page({"width": 1440, "height": 1100}) as (page, errors):
        page.goto(f"http://localhost:{port}/", wait_until="commit")
        page.wait_for_selector(".mdx-tile-last", timeout=PATIENCE_MS)

        # the venue table: binance and bybit spot, bybit's perpetual, each with a price and a state
        rows = _venue_rows_priced(page, [("binance", SPOT), ("bybit", SPOT), ("bybit", PERP)])
        print("venue rows:", rows)
        states = {" ".join(row.split(" ")[:2]): row.split(" ")[2] for row in rows}
        known = {"ok", "flagged", "stale", "no", "reconnecting", "error", "connected"}
        assert all(state in known for state in states.values()), rows
        assert page.locator(".mdx-composite[data-asset='BTC/USDT']").count() == 1
        page.wait_for_selector(".mdx-venue-row.mdx-venue-in-use", timeout=PATIENCE_MS)
        # the feed lines under the status line: latency per venue, the REST cache's metrics
        page.wait_for_function(
            "() => [...document.querySelectorAll('.mdx-feeds .mdx-feed-line')].map(e => e.textContent)"
            ".some(t => t.startsWith('latency p50/p99 ms:') && t.includes('binance') && t.includes('bybit'))",
            timeout=PATIENCE_MS,
            polling=200,
        )
        assert "REST cache:" in page.inner_text(".mdx-feeds")

        # the perpetual: funding, mark, open interest, then a liquidation pushed now
        page.select_option(".mdx-symbol select", PERP)
        page.wait_for_function(
            "(oi) => document.querySelector('.mdx-derivatives-panel') && "
            "Math.abs(Number(document.querySelector('.mdx-funding')?.dataset.value) - 0.0125) < 1e-9 && "
            "Number(document.querySelector('.mdx-open-interest')?.dataset.value) === oi && "
            "Number(document.querySelector('.mdx-mark')?.dataset.value) > 0",
            arg=OPEN_INTEREST,
            timeout=PATIENCE_MS,
            polling=200,
        )
        assert "+0.0125%" in page.inner_text(".mdx-funding")
        assert "bybit" in page.inner_text(".mdx-derivatives-panel").lower()  # the title is upper case
        deadline_s = PATIENCE_MS / 1000
        waited = 0.0
        while not fakes.liquidation_subscribed():  # the kernel's source follows the liquidations
            assert waited < deadline_s, "bybit's liquidation topic was never subscribed"
            page.wait_for_timeout(200)
            waited += 0.2
        price, size = LIQUIDATION
        fakes.call(fakes.bybit.push_liquidation("BTCUSDT", price, size, side="Sell"))
        page.wait_for_function(
            "() => (document.querySelector('.mdx-liquidations')?.textContent ?? '').includes('64,321.50')",
            timeout=PATIENCE_MS,
            polling=200,
        )
        assert page.locator(".mdx-liquidations .mdx-liquidation").count() >= 1
        assert "OUT OF SYNC" not in page.inner_text("body").upper()  # the perp's book is whole
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "monitor-venues.png"), full_page=True)
        assert errors == [], errors
