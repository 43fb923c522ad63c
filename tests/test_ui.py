"""mdx.ui: panels and the monitor app, driven synchronously by a seeded simulator on a simulated clock.

No browser and no kernel here: the tests call ``refresh()`` directly and assert the marks' data arrays
and the tiles' values (the browser test checks the same things on screen).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mdx.analytics.indicators import bollinger, ema, vwap
from mdx.clock import SimulatedClock
from mdx.config import Settings
from mdx.errors import ConfigError
from mdx.events import Trade
from mdx.market.bars import bars_to_frame
from mdx.session import Session
from mdx.sources.sim.simulator import Simulator
from mdx.ui import (
    MAX_HZ,
    TILES,
    BarSeries,
    CandleChart,
    DepthChart,
    Ladder,
    LogBuffer,
    LogPanel,
    MonitorApp,
    Refresher,
    StatusInfo,
    StatusLine,
    Tiles,
    TileValues,
    TradesTable,
    bar_arrays,
    fmt,
)
from mdx.ui.book import depth_steps
from mdx.ui.charts import INDICATORS, WAITING, ImbalanceChart, MidChart, price_axis, set_ticks, volume_candles
from mdx.ui.controls import Controls
from mdx.ui.data import BarArrays, Columns, sparkline_points
from mdx.ui.model import MonitorModel
from mdx.ui.ticks import DAY, MINUTE, SECOND, js_key, step_decimals, time_ticks, value_ticks
from mdx.ui.watchlist import slug

from .conftest import require

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000_000_000_000
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


class Driver:
    """A session fed synchronously from a seeded simulator, with the clock following the events."""

    def __init__(self, timeframes: tuple[str, ...] = ("1s", "1m", "5m")) -> None:
        self.source = Simulator(SYMBOLS, seed=7, start_ns=T0)
        self.clock = SimulatedClock(T0)
        self.session = Session(self.source, timeframes=timeframes, clock=self.clock)
        self._events = self.source.iter_events(self.session.rejections)

    def advance(self, seconds: float) -> None:
        end = self.clock.now_ns() + int(seconds * 1e9)
        for event in self._events:
            self.clock.advance_to(event.ts_recv)
            self.session.process(event)
            if event.ts_recv >= end:
                break


@pytest.fixture
def driver() -> Driver:
    return Driver()


@pytest.fixture
def app(driver: Driver) -> MonitorApp:
    driver.advance(180)
    driver.session.set_status("connected")
    monitor = MonitorApp(Settings(symbols=SYMBOLS), session=driver.session, timeframe="1s")
    monitor.refresh(force=True)
    yield monitor
    monitor.log_buffer.detach()
    monitor.tap.detach()


def key(symbol: str = "BTC/USDT") -> tuple[str, str]:
    return ("sim", symbol)


# -- the app against the cache --------------------------------------------------------------------------


def test_candles_show_the_cached_bars_with_the_open_bar_last(app: MonitorApp, driver: Driver) -> None:
    cache = driver.session.cache
    closed = cache.bars(key(), "1s")
    partial = cache.open_bar(key(), "1s")
    ohlc = app.candles.ohlc
    assert ohlc.x.dtype == np.dtype("datetime64[ms]")
    assert ohlc.y.dtype == np.float64 and ohlc.y.shape == (len(ohlc.x), 4)
    assert len(ohlc.x) == min(app.candles.window, len(closed) + 1)  # bounded window
    assert ohlc.y[-1].tolist() == [partial.open, partial.high, partial.low, partial.close]
    assert ohlc.y[-2].tolist() == [closed[-1].open, closed[-1].high, closed[-1].low, closed[-1].close]
    assert ohlc.x[-1] == np.datetime64(partial.ts_event // 1_000_000, "ms")
    assert np.all(np.diff(ohlc.x.astype(np.int64)) > 0)
    # volume candles share the time axis; each overlay is its own mark (the band has three rows)
    assert np.array_equal(app.candles.volume.x, ohlc.x)
    assert set(app.candles.lines) == set(INDICATORS) and app.candles.lines["bollinger"].y.shape[0] == 3
    assert "BTC/USDT" in app.candles.legend.value


def test_tiles_show_the_latest_trade_and_book(app: MonitorApp, driver: Driver) -> None:
    cache = driver.session.cache
    trade = cache.trade(key())
    view = cache.book(key())
    values = app.tiles.values
    assert values.last == trade.price
    assert values.bid == view.bids[0, 0] and values.ask == view.asks[0, 0]
    assert values.spread_bps == pytest.approx(view.spread_bps)
    assert values.imbalance == pytest.approx(view.imbalance)
    assert values.bar_volume == cache.open_bar(key(), "1s").volume
    first = app.tap.first_price.get(key())
    assert first is None or values.change_pct == pytest.approx((trade.price / first - 1) * 100)
    assert app.tiles.text("last") == fmt.price(trade.price)
    html = app.tiles.widget.value
    for name in TILES:  # every tile has its stable class, and its number in data-value
        assert f"mdx-tile mdx-tile-{name}'" in html
    assert f"data-value='{trade.price:.10g}'" in html


def test_data_age_and_rate_come_from_the_feed_tap(app: MonitorApp, driver: Driver) -> None:
    driver.advance(1.0)
    app.refresh()
    driver.advance(1.0)
    app.refresh()
    assert app.tiles.values.rate is not None and app.tiles.values.rate > 0
    age_then = app.tiles.values.age_ms
    assert age_then is not None and 0 <= age_then < 1000
    driver.clock.advance(2_000_000_000)  # two seconds with no event at all
    app.refresh()
    assert app.tiles.values.age_ms == pytest.approx(age_then + 2000)
    assert "mdx-warn-text" in app.tiles.widget.value  # an age over a second is shown in amber
    assert app.tiles.values.rate == 0.0  # nothing arrived in the last two seconds


def test_book_panels_show_the_latest_view(app: MonitorApp, driver: Driver) -> None:
    view = driver.session.cache.book(key())
    x, y = app.depth.lines.x, app.depth.lines.y
    assert x.shape == y.shape and x.shape[0] == 2
    bids_x, asks_x = x[0], x[1]
    assert bids_x.max() == view.bids[0, 0] and asks_x.min() == view.asks[0, 0]
    assert np.all(np.diff(bids_x) >= 0) and np.all(np.diff(asks_x) >= 0)
    assert np.all(np.diff(y[0]) <= 0) and np.all(np.diff(y[1]) >= 0)  # depth grows away from the mid
    assert "OUT OF SYNC" not in app.depth.legend.value
    ladder = app.ladder.body.value
    assert ladder.count("mdx-lr mdx-ask") == ladder.count("mdx-lr mdx-bid") == app.ladder.levels
    assert fmt.price(float(view.bids[0, 0])) in ladder
    # mid / microprice / spread band and imbalance from the book-view history
    table = app.mid.lines.y
    assert table.shape[0] == 4 and table.shape[1] <= app.mid.max_points
    assert table[3, -1] == view.mid and table[2, -1] == view.microprice
    assert table[0, -1] == view.asks[0, 0] and table[1, -1] == view.bids[0, 0]
    imbalance = app.imbalance.line.y  # rows: raw, zero, trailing mean
    assert imbalance.shape[0] == 3 and imbalance.shape[1] <= app.imbalance.max_points
    assert np.all(np.abs(imbalance[[0, 2]]) <= 1.0) and np.all(imbalance[1] == 0)
    assert imbalance[0, -1] == pytest.approx(view.imbalance, abs=1e-6)
    assert np.all(np.isfinite(imbalance[2])) and abs(imbalance[2]).mean() < abs(imbalance[0]).mean()


def test_trades_table_shows_the_last_twenty_with_sides(app: MonitorApp, driver: Driver) -> None:
    trades = driver.session.cache.trades(key())
    body = app.trades.body.value
    rows = re.findall(r"<tr class='mdx-(buy|sell|unknown)", body)
    assert len(rows) == 20
    assert rows == ["buy" if t.side == "buy" else "sell" for t in reversed(trades[-20:])]
    assert body.index(fmt.clock_time(trades[-1].ts_event)) < body.index(fmt.clock_time(trades[-20].ts_event))


def test_watchlist_lists_every_symbol(app: MonitorApp, driver: Driver) -> None:
    for symbol in SYMBOLS:
        trade = driver.session.cache.trade(key(symbol))
        row = app.watchlist.rows[symbol].value
        assert symbol in row and fmt.price(trade.price) in row and "<polyline" in row
        assert f"mdx-watch-{slug(symbol)}" in app.watchlist.boxes[symbol]._dom_classes
    assert "mdx-selected" in app.watchlist.boxes["BTC/USDT"]._dom_classes


def test_choosing_a_symbol_redraws_at_once(app: MonitorApp, driver: Driver) -> None:
    btc_last = app.tiles.values.last
    app.controls.symbol.value = "ETH/USDT"  # what the dropdown does
    eth = driver.session.cache.trade(key("ETH/USDT"))
    assert app.symbol == "ETH/USDT" and app.tiles.values.last == eth.price != btc_last
    assert app.candles.ohlc.y[-1, 3] == driver.session.cache.open_bar(key("ETH/USDT"), "1s").close
    assert "ETH/USDT" in app.candles.legend.value
    assert "mdx-selected" in app.watchlist.boxes["ETH/USDT"]._dom_classes
    assert "mdx-selected" not in app.watchlist.boxes["BTC/USDT"]._dom_classes
    app.watchlist._clicked("SOL/USDT")  # a click on a watchlist row
    assert app.symbol == app.controls.symbol.value == "SOL/USDT"
    with pytest.raises(ConfigError, match="DOGE/USDT"):
        app.select(symbol="DOGE/USDT")


def test_switching_timeframe_changes_the_candles(app: MonitorApp, driver: Driver) -> None:
    before = app.candles.ohlc.x.copy()
    app.controls.timeframe.value = "1m"
    after = app.candles.ohlc.x
    bars_1m = driver.session.cache.bars(key(), "1m")
    assert app.timeframe == "1m" and len(after) == len(bars_1m) + 1 != len(before)
    assert np.all(np.diff(after.astype(np.int64)) == 60_000)
    with pytest.raises(ConfigError, match="timeframe"):
        app.select(timeframe="3m")


def test_refresh_redraws_only_what_changed(app: MonitorApp, driver: Driver) -> None:
    panels = (app.candles, app.mid, app.imbalance, app.depth, app.ladder, app.trades)
    counts = [p.updates for p in panels]
    app.refresh()  # nothing new in the cache
    assert [p.updates for p in panels] == counts
    driver.advance(1.0)
    app.refresh()
    assert all(p.updates > c for p, c in zip(panels, counts, strict=True))


def test_windows_stay_bounded_over_a_long_run(driver: Driver) -> None:
    app = MonitorApp(Settings(symbols=SYMBOLS), session=driver.session, timeframe="1s")
    try:
        for _ in range(30):
            driver.advance(60)
            app.refresh()
        assert len(app.candles.ohlc.x) == app.candles.window
        assert app.mid.lines.x.shape[0] <= app.mid.max_points
        series = app.model._series[(key(), "1s")]
        assert len(series.closed) <= series.closed.maxlen
        for columns in (*app.model._books.values(), *app.model._prices.values()):
            assert len(columns) <= columns.maxlen
    finally:
        app.log_buffer.detach()


def test_indicator_toggles(app: MonitorApp) -> None:
    app.controls.indicators["bollinger"].value = False
    app.controls.indicators["vwap"].value = False
    assert app.candles.indicators == ("ema",)
    assert [name for name, mark in app.candles.lines.items() if mark.visible] == ["ema"]
    assert "BB" not in app.candles.legend.value and "EMA 20" in app.candles.legend.value
    with pytest.raises(ConfigError, match="macd"):
        app.candles.set_indicators(["macd"])


def test_dom_classes_for_browser_tests(app: MonitorApp) -> None:
    assert "mdx-symbol" in app.controls.symbol._dom_classes
    assert "mdx-timeframe" in app.controls.timeframe._dom_classes
    assert "mdx-source" in app.controls.source._dom_classes
    assert "mdx-exchange" in app.controls.exchange._dom_classes
    assert "mdx-status" in app.status.widget._dom_classes
    assert "mdx-app" in app.widget._dom_classes
    assert "mdx-candles" in app.candles.widget._dom_classes


# -- status and log -------------------------------------------------------------------------------------


def test_status_line_is_honest_about_the_connection(app: MonitorApp, driver: Driver) -> None:
    assert app.status.state == "connected"
    assert "connected" in app.status.widget.value and "sim" in app.status.widget.value
    now = driver.clock.now_ns()
    driver.session.set_status("reconnecting", "ping timeout", attempt=3, next_retry_ns=now + 4_200_000_000)
    app.refresh()
    text = app.status.widget.value
    assert app.status.state == "reconnecting"
    assert "attempt 3" in text and "next try in 4.2 s" in text and "ping timeout" in text
    driver.session.set_status("error", "BadSymbol: binance does not list FOO/USDT")
    app.refresh()
    assert app.status.state == "error" and "does not list FOO/USDT" in app.status.widget.value
    driver.session.set_status("connected")
    driver.clock.advance(10_000_000_000)  # ten seconds without data: the session calls it stale
    app.refresh()
    assert app.status.state == "stale" and "no data for" in app.status.widget.value


def test_status_line_counts_symbols_in_words() -> None:
    status = type("S", (), {"state": "connected", "source": "binance", "reason": "", "attempt": 0})()
    line = StatusLine()
    line.update(status, StatusInfo(symbols=1, now_ns=1))
    assert "1 symbol<" in line.widget.value and "1 symbols" not in line.widget.value
    line.update(status, StatusInfo(symbols=3, now_ns=2))
    assert "3 symbols<" in line.widget.value


def test_status_line_running_figures_update_at_most_every_interval() -> None:
    line = StatusLine(interval_s=1.0)
    status = type("S", (), {"state": "connected", "source": "sim", "reason": "", "attempt": 0})()
    assert line.update(status, StatusInfo(rate=10.0, now_ns=1_000_000_000))
    assert not line.update(status, StatusInfo(rate=11.0, now_ns=1_500_000_000))
    assert line.update(status, StatusInfo(rate=12.0, now_ns=2_100_000_000))
    status.state = "stale"  # a change of state shows at once
    assert line.update(status, StatusInfo(rate=12.0, now_ns=2_200_000_000))


def test_an_unusable_source_is_an_error_on_the_status_line_not_a_traceback() -> None:
    app = MonitorApp(Settings(source="nosuchexchange", symbols=SYMBOLS))
    try:
        assert app.session is None
        app.refresh()
        assert app.status.state == "error" and "nosuchexchange" in app.status.widget.value
        assert "cannot open source" in app.log_panel.body.value
    finally:
        app.log_buffer.detach()


def test_log_panel_shows_warnings_and_rejections(app: MonitorApp, driver: Driver) -> None:
    assert "no warnings" in app.log_panel.body.value
    bad = Trade("sim", "BTC/USDT", driver.clock.now_ns(), driver.clock.now_ns(), "x1", math.nan, 1.0, "buy")
    driver.session.process(bad)
    logging.getLogger("mdx.feed").error("feed <lost>")
    app.refresh()
    body = app.log_panel.body.value
    assert "InvalidValue" in body and "feed &lt;lost&gt;" in body
    assert body.index("feed &lt;lost&gt;") < body.index("InvalidValue")  # newest first
    assert "1 rejected" in app.status.widget.value


def test_log_times_are_utc_like_every_other_time_on_the_dashboard() -> None:
    buffer = LogBuffer()
    record = logging.LogRecord("mdx.feed", logging.WARNING, __file__, 1, "late", None, None)
    record.created = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    buffer.emit(record)
    panel = LogPanel(buffer)
    assert "22:13:20 <span class='mdx-log-level'>WARNING" in panel.body.value
    assert "time UTC" in panel.title.value


def test_log_buffer_is_bounded_and_detaches() -> None:
    buffer = LogBuffer(maxlen=3).attach("mdx.test")
    logger = logging.getLogger("mdx.test")
    for i in range(10):
        logger.warning("w%d", i)
    logger.info("not shown")
    panel = LogPanel(buffer)
    assert [r[3] for r in buffer.records] == ["w7", "w8", "w9"] and buffer.counts == {"WARNING": 10}
    assert "w9" in panel.body.value and "w6" not in panel.body.value
    buffer.detach("mdx.test")
    logger.warning("after")
    assert buffer.records[-1][3] == "w9"


# -- refresh task -----------------------------------------------------------------------------------------


def test_refresher_rate_is_validated() -> None:
    for hz in (0, -1, MAX_HZ + 0.1, float("nan")):
        with pytest.raises(ConfigError, match="refresh rate"):
            Refresher(lambda: None, hz)
    assert Refresher(lambda: None, MAX_HZ).hz == MAX_HZ


async def _until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Let the running loop work until ``predicate()``; fail only when the (generous) timeout expires."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def test_refresher_runs_on_the_loop_and_survives_errors(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def refresh() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("bad frame")

    refresher = Refresher(refresh, hz=MAX_HZ)

    async def main() -> None:
        refresher.start()  # on the running loop; returns at once
        assert refresher.running and refresher.count == 0
        await _until(lambda: refresher.count > 5, "refreshes to keep going past the failing one")
        refresher.stop()
        assert not refresher.running
        stopped_at = refresher.count
        await asyncio.sleep(5 / MAX_HZ)  # five refresh periods of loop time: a stopped task never ticks
        assert refresher.count == stopped_at

    with caplog.at_level(logging.ERROR, logger="mdx.ui"):
        asyncio.run(main())
    assert refresher.errors == 1 and len(calls) == refresher.count
    assert "bad frame" in caplog.text
    assert not refresher.running

    # the rate, on a simulated clock: refreshes are due exactly 1/hz apart; a slow one skips, never bursts
    clock = SimulatedClock(0)
    at: list[int] = []

    def timed() -> None:
        at.append(clock.now_ns())
        if len(at) == 4:
            clock.advance(350_000_000)  # this refresh takes 3.5 periods

    simulated = Refresher(timed, hz=MAX_HZ, clock=clock)

    async def on_the_simulated_clock() -> None:
        simulated.start()
        await _until(lambda: len(at) >= 8, "eight refreshes on the simulated clock")
        simulated.stop()
        stopped_at = len(at)
        for _ in range(20):  # while running it refreshes on every loop iteration (sleeps jump the clock)
            await asyncio.sleep(0)
        assert len(at) == stopped_at

    asyncio.run(on_the_simulated_clock())
    period = 100_000_000  # 1 / MAX_HZ in ns
    assert at[:4] == [0, period, 2 * period, 3 * period]
    assert at[4:8] == [650_000_000, 750_000_000, 850_000_000, 950_000_000]  # from the late one on


def test_start_outside_a_loop_says_how_to_run() -> None:
    with pytest.raises(ConfigError, match="running event loop"):
        Refresher(lambda: None).start()


def test_app_runs_live_with_the_engine_thread() -> None:
    """The real thing, briefly: engine thread + refresh task on an asyncio loop."""
    app = MonitorApp(Settings(symbols=SYMBOLS, speed=5.0), timeframe="1s", refresh_hz=MAX_HZ)
    assert app.session is not None
    session = app.session

    async def main() -> None:
        run = asyncio.create_task(app.run(3600))  # ended below, once the condition holds
        await _until(
            lambda: session.events_processed > 50 and app.refreshes >= 8, "engine events and refreshes"
        )
        assert session.running and app.refresher.running
        run.cancel()  # app.run stops the engine and the refresh on its way out
        await asyncio.gather(run, return_exceptions=True)

    asyncio.run(main())
    assert session.events_processed > 50
    assert app.refreshes >= 8 and app.refresher.errors == 0
    assert app.tiles.values.last is not None
    assert not app.session.running


# -- panels on their own and the maths behind them -------------------------------------------------------


def test_panels_work_on_plain_lists(driver: Driver) -> None:
    driver.advance(120)
    cache = driver.session.cache
    bars = cache.bars(key(), "1s", include_open=True)
    chart = CandleChart(window=50)
    assert chart.update(bars, symbol="BTC/USDT", timeframe="1s")
    assert not chart.update(chart._data, symbol="BTC/USDT", timeframe="1s")
    assert chart.ohlc.y.shape == (50, 4)
    assert "application/vnd.jupyter.widget-view+json" in chart._repr_mimebundle_()
    depth, ladder = DepthChart(), Ladder(levels=5)
    view = cache.book(key())
    assert depth.update(view) and ladder.update(view) and not ladder.update(view)
    table = TradesTable(rows=5)
    assert table.update(cache.trades(key()))
    assert table.body.value.count("<tr class='mdx-") == 5
    tiles = Tiles()
    tiles.update(TileValues(last=None))
    assert tiles.text("last") == fmt.DASH


def test_incremental_ema_equals_the_batch_ema(driver: Driver) -> None:
    series = BarSeries(maxlen=150)
    cache = driver.session.cache
    for _ in range(40):
        driver.advance(5)
        series.sync(cache.bars(key(), "1s"), cache.open_bar(key(), "1s"))
        values = series.ema(20)
        assert values.shape[0] == len(series.arrays)
    # all closed bars since the last rebuild, fed once each, equal the batch EMA over the same closes
    closed = cache.bars(key(), "1s")
    fed = np.array([b.close for b in closed[-series.closed.appended :]])
    expected = ema(fed, 20)[-len(series.closed) :]
    assert np.array_equal(values[: len(series.closed)], expected, equal_nan=True)
    assert len(series.closed) == 150  # trimmed to maxlen while the EMA kept its history


def test_candle_overlays_draw_the_packages_indicator_values(app: MonitorApp, driver: Driver) -> None:
    """The chart holds no maths of its own: its lines are mdx.bollinger / mdx.ema / mdx.vwap of its bars."""
    driver.advance(seconds=90)
    app.select(timeframe="1s")
    app.refresh(force=True)
    bars = driver.session.cache.bars(key(), "1s", include_open=True)
    frame = bars_to_frame(bars)
    lines = app.candles.lines
    n = lines["ema"].y.shape[0]
    assert n > 20 and all(mark.x.shape[0] == n for mark in lines.values())
    assert np.array_equal(lines["ema"].x, app.candles.ohlc.x[-n:])
    bands = bollinger(frame["close"], 20, 2.0)
    drawn = lines["bollinger"].y
    np.testing.assert_array_equal(drawn[0], bands["upper"].to_numpy()[-n:])
    np.testing.assert_array_equal(drawn[2], bands["lower"].to_numpy()[-n:])
    np.testing.assert_array_equal(lines["ema"].y, ema(frame["close"], 20).to_numpy()[-n:])
    shown = frame.tail(n)  # VWAP is anchored at the first bar shown
    np.testing.assert_array_equal(lines["vwap"].y, vwap(shown["vwap"], shown["volume"]).to_numpy())


def test_columns_sync_incrementally_and_rebuild_when_the_window_moved_on() -> None:
    items = [(i, float(i)) for i in range(10)]
    columns = Columns(lambda item: (item[1],), 1, maxlen=8)
    assert columns.sync(items) and columns.data[:, 0].tolist() == [2.0, 3, 4, 5, 6, 7, 8, 9]
    assert not columns.sync(items)
    assert columns.sync([*items, (10, 10.0)]) and columns.data[-1, 0] == 10.0 and len(columns) == 8
    assert columns.appended == 9
    generation = columns.generation
    assert columns.sync([(20, 20.0), (21, 21.0)])  # the last seen item is gone: rebuild
    assert columns.data[:, 0].tolist() == [20.0, 21.0] and columns.generation == generation + 1


def test_volume_candles_and_depth_steps(driver: Driver) -> None:
    driver.advance(30)
    cache = driver.session.cache
    arrays = bar_arrays(cache.bars(key(), "1s"))
    rows = volume_candles(arrays)
    assert np.array_equal(rows[:, 1], arrays.volume) and np.all(rows[:, 2] == 0)
    up = rows[:, 3] > rows[:, 0]
    assert np.array_equal(up, (arrays.buy_volume >= arrays.sell_volume) & (arrays.volume > 0))
    view = cache.book(key())
    x, y = depth_steps(view, 50)
    mid = float(view.mid)
    lowest_bid, highest_ask = float(view.bids[:50, 0].min()), float(view.asks[:50, 0].max())
    half = min(mid - lowest_bid, highest_ask - mid)
    assert x[0].min() == pytest.approx(mid - half) and x[1].max() == pytest.approx(mid + half)  # symmetric
    assert x[0].max() == view.bids[0, 0] and x[1].min() == view.asks[0, 0]
    assert y[0, 0] == pytest.approx(view.bids[:50, 1][view.bids[:50, 0] >= mid - half].sum())


def test_formatting() -> None:
    assert fmt.price(67890.123) == "67,890.12" and fmt.price(3.14159) == "3.1416"
    assert fmt.price(None) == fmt.DASH and fmt.price(math.nan) == fmt.DASH
    assert fmt.amount(0.0373) == "0.0373" and fmt.amount(0.45) == "0.450"
    assert fmt.amount(0.000373) == "0.00037" and fmt.amount(12345.0) == "12.3k" and fmt.amount(0.0) == "0"
    assert fmt.pct(0.1234) == "+0.12%" and fmt.bps(0.0044) == "0.004"
    assert fmt.age_ms(37.2) == "37 ms" and fmt.age_ms(1234) == "1.2 s"
    assert fmt.clock_time(T0 + 123_456_789) == "22:13:20.123"
    assert sparkline_points(np.array([1.0, 2.0]), 10, 10) == "0,9 10,1"


# -- readable, honest axes -------------------------------------------------------------------------------


def _is_nice(step: float) -> bool:
    """1, 2 or 5 x 10^k."""
    mantissa = step / 10.0 ** math.floor(math.log10(step) + 1e-9)
    return any(math.isclose(mantissa, m) for m in (1.0, 2.0, 5.0))


def _multiples(values: np.ndarray, step: float) -> bool:
    return bool(np.allclose(values / step, np.round(values / step), atol=1e-6))


def test_value_ticks_are_round_multiples_inside_the_range() -> None:
    # the review's axis: bqplot's num_ticks gave 67,997.46 / 68,012.15 (evenly spread over the domain)
    values, step = value_ticks(67_997.46, 68_012.15, max_ticks=5)
    assert values.tolist() == [68_000.0, 68_005.0, 68_010.0] and step == 5.0
    for lo, hi, most in ((0.0012, 0.0071, 5), (3.1, 3.9, 4), (61_000.0, 63_500.0, 6), (-1.0, 1.0, 3)):
        values, step = value_ticks(lo, hi, max_ticks=most)
        assert _is_nice(step) and _multiples(values, step)
        assert lo <= values.min() and values.max() <= hi and 1 <= len(values) <= most + 1
    # never finer than the price precision, and at least min_ticks when that allows
    values, step = value_ticks(61_650.0, 61_650.004, max_ticks=5, min_ticks=3, min_step=0.01)
    assert step == 0.01
    assert value_ticks(0.0, 44.0, max_ticks=2)[0].tolist() == [0.0]
    assert value_ticks(0.0, 44.0, max_ticks=2, min_ticks=2)[0].tolist() == [0.0, 20.0, 40.0]
    assert step_decimals(0.5) == 1 and step_decimals(20.0) == 0 and step_decimals(0.01) == 2
    assert [js_key(v) for v in (0.0, 20.0, 0.5, 2.5e-05, -1.0)] == ["0", "20", "0.5", "0.000025", "-1"]


def test_price_axis_ticks_are_round_at_the_instruments_precision(app: MonitorApp) -> None:
    for axis in (app.candles.y_axis, app.mid.y_axis):
        values = axis.tick_values
        assert axis.num_ticks is None and len(values) >= 2  # bqplot's num_ticks would spread them evenly
        step = float(np.min(np.diff(values)))
        assert _is_nice(step) and _multiples(values, step)
        decimals = int(re.fullmatch(r",\.(\d)f", axis.tick_format).group(1))
        assert decimals == min(step_decimals(step), fmt.price_decimals(float(values[-1])))
    # the depth chart's price ticks: round, around the mid, inside the drawn range
    values, x = app.depth.x_axis.tick_values, app.depth.lines.x
    assert 1 <= len(values) <= 3 and x.min() < values.min() and values.max() < x.max()
    if len(values) > 1:
        assert _is_nice(float(values[1] - values[0])) and _multiples(values, float(values[1] - values[0]))
    # the candles' domain is set by the kernel: the ticks are inside it
    assert app.candles.y.min <= app.candles.y_axis.tick_values.min()
    assert app.candles.y_axis.tick_values.max() <= app.candles.y.max
    # a flat price never gets ticks finer than its precision (BTC: 0.01)
    axis, scale = app.candles.y_axis, app.candles.y
    price_axis(axis, scale, 61_650.0, 61_650.0, precision=2)
    step = float(np.min(np.diff(axis.tick_values)))
    assert step >= 0.01 and axis.tick_format == f",.{step_decimals(step)}f"


def test_time_ticks_name_each_tick_fully_in_utc() -> None:
    t0 = 1_723_075_368 * SECOND  # 2024-08-08 00:02:48 UTC
    seconds = time_ticks(t0, t0 + 120 * SECOND, max_ticks=6)
    assert seconds.tick_format == "%H:%M:%S" and seconds.step_ns == 30 * SECOND
    minutes = time_ticks(t0, t0 + 120 * MINUTE, max_ticks=6, min_step_ns=MINUTE)
    assert minutes.tick_format == "%H:%M" and minutes.step_ns == 30 * MINUTE
    few_bars = time_ticks(t0, t0 + 3 * MINUTE, max_ticks=6, min_step_ns=MINUTE)
    assert few_bars.tick_format == "%H:%M" and few_bars.step_ns == MINUTE  # 1m bars: never 30 s ticks
    days = time_ticks(t0, t0 + 120 * DAY, max_ticks=6, min_step_ns=DAY)
    assert days.tick_format == "%Y-%m-%d" and days.step_ns >= DAY
    crossing = time_ticks(t0 - 4 * 3600 * SECOND, t0 + 4 * 3600 * SECOND, max_ticks=6, min_step_ns=MINUTE)
    assert crossing.tick_format == "%b %d %H:%M"  # crosses a UTC midnight: the date too
    for ticks, lo, span in ((seconds, t0, 120 * SECOND), (minutes, t0, 120 * MINUTE)):
        ns = ticks.values.astype("datetime64[ns]").astype(np.int64)
        assert np.all(ns % ticks.step_ns == 0)  # round UTC times
        assert ns.min() >= lo + 0.04 * span  # none at the left edge, where a label would be clipped


def _bar_arrays(n: int, step_ns: int) -> BarArrays:
    rng = np.random.default_rng(3)
    close = 100.0 + np.cumsum(rng.normal(0, 0.3, n))
    open_ = np.concatenate(([100.0], close[:-1]))
    volume = rng.uniform(1.0, 5.0, n)
    table = np.column_stack(
        (
            T0 + np.arange(n) * step_ns,
            open_,
            np.maximum(open_, close) + 0.1,
            np.minimum(open_, close) - 0.1,
            close,
            volume,
            volume * 0.6,
            volume * 0.4,
            (open_ + close) / 2,
        )
    )
    return BarArrays.from_table(table)


@pytest.mark.parametrize(
    ("timeframe", "step_ns", "tick_format"),
    [
        ("1s", SECOND, "%H:%M:%S"),
        ("1m", MINUTE, "%H:%M"),
        ("1d", DAY, "%Y-%m-%d"),
    ],
)
def test_candle_time_axis_format_follows_the_timeframe(
    timeframe: str, step_ns: int, tick_format: str
) -> None:
    chart = CandleChart(window=60)
    chart.update(_bar_arrays(80, step_ns), symbol="SOL/USDT", timeframe=timeframe)
    axis = chart.time_axis
    assert axis.visible and axis.tick_format == tick_format and axis.num_ticks is None
    ns = axis.tick_values.astype("datetime64[ns]").astype(np.int64)
    assert len(ns) >= 2 and np.all(np.diff(ns) >= step_ns) and np.all(ns % step_ns == 0)
    assert chart.x.min < axis.tick_values.min() and axis.tick_values.max() <= chart.x.max
    assert "UTC" in chart.legend.value
    # the volume axis names its unit: the base currency
    labels = chart.volume_axis.tick_labels
    assert labels and all(label.endswith(" SOL") for label in labels.values())
    assert set(labels) == {js_key(v) for v in chart.volume_axis.tick_values}


def test_book_charts_have_the_same_utc_time_axis(app: MonitorApp) -> None:
    mid, imbalance = app.mid.time_axis, app.imbalance.time_axis
    assert mid.visible and imbalance.visible  # the imbalance chart has its own time axis
    assert mid.tick_format == imbalance.tick_format == "%H:%M:%S"
    assert np.array_equal(mid.tick_values, imbalance.tick_values) and len(mid.tick_values) >= 2
    assert np.array_equal(app.mid.lines.x[[0, -1]], app.imbalance.line.x[[0, -1]])  # same span
    assert app.mid.fig.fig_margin == app.imbalance.fig.fig_margin  # so they line up
    assert app.imbalance.y_axis.tick_labels == {"-1": "−1 ask", "0": "0", "1": "+1 bid"}
    assert "time UTC" in app.mid.legend.value and "time UTC" in app.imbalance.legend.value


def test_set_ticks_sends_the_format_before_the_values() -> None:
    """bqplot redraws new tick values in a d3 transition that runs later: labels set after it are lost."""
    axis = CandleChart().time_axis
    changes: list[str] = []
    axis.observe(lambda change: changes.append(change["name"]), ["tick_format", "tick_values", "num_ticks"])
    values = np.array([T0 // 1_000_000], dtype="datetime64[ms]")
    assert set_ticks(axis, values, tick_format="%H:%M")
    assert changes == ["tick_format", "tick_values"]
    assert not set_ticks(axis, values.copy(), tick_format="%H:%M")  # unchanged: nothing sent
    set_ticks(axis, values[:0])
    assert axis.num_ticks == 0  # no ticks, rather than bqplot's own


def test_every_figure_names_its_units(app: MonitorApp, driver: Driver) -> None:
    assert "mdx-axis-unit' title='y axis unit'>USDT<" in app.candles.legend.value
    assert "<span class='mdx-muted'>BTC</span>" in app.candles.legend.value  # the volume's unit
    assert "USDT" in app.mid.legend.value
    assert all(label.endswith(" BTC") for label in app.depth.y_axis.tick_labels.values())
    assert "BTC" in app.depth.legend.value and "price USDT" in app.depth.legend.value
    head = app.ladder.body.value.split("</div>", 1)[0]
    assert "price <span class='mdx-unit'>USDT" in head and "size <span class='mdx-unit'>BTC" in head
    tiles = app.tiles.widget.value
    assert re.search(r"last<span class='mdx-tile-note'>USDT", tiles)
    assert re.search(r"bar volume<span class='mdx-tile-note'>1s BTC", tiles)
    assert re.search(r"msg/s<span class='mdx-tile-note'>BTC/USDT", tiles)  # per symbol ...
    driver.advance(1.5)
    app.refresh()
    assert "msg/s total" in app.status.widget.value  # ... and the status line's figure is the total
    assert fmt.units("BTC/USDT:USDT") == ("BTC", "USDT") and fmt.units("weird") == ("", "")


def test_ladder_draws_size_and_cumulative_bars_apart(app: MonitorApp) -> None:
    rows = re.findall(r"class='mdx-lr mdx-bid' style='--w:([\d.]+)%;--c:([\d.]+)%'", app.ladder.body.value)
    assert len(rows) == app.ladder.levels
    sizes, totals = np.array(rows, dtype=float).T
    assert np.all(np.diff(totals) >= 0) and totals[-1] > 0  # the cumulative fill grows from the spread
    assert not np.array_equal(sizes, totals)
    assert "mdx-key-size" in app.ladder.title.value and "mdx-key-total" in app.ladder.title.value


def test_overlays_say_when_they_warm_up(driver: Driver) -> None:
    chart = CandleChart(window=120)
    chart.update(_bar_arrays(12, SECOND), symbol="BTC/USDT", timeframe="1s")
    legend = chart.legend.value
    assert "EMA 20: <span class='mdx-warmup'>12/20 bars" in legend
    assert "BB 20, 2: <span class='mdx-warmup'>12/20 bars" in legend
    assert chart.warmup == {"ema": (12, 20), "bollinger": (12, 20)}
    assert chart.lines["ema"].x.shape == (0,) and chart.lines["bollinger"].y.shape == (3, 0)
    assert chart.lines["vwap"].x.shape == (12,)  # VWAP needs no warm-up: drawn from the first bar
    chart.update(_bar_arrays(25, SECOND), symbol="BTC/USDT", timeframe="1s")
    assert chart.warmup == {} and "mdx-warmup" not in chart.legend.value
    assert chart.lines["ema"].x.shape == (6,) and np.isfinite(chart.lines["bollinger"].y).all()


def test_vwap_is_anchored_at_the_first_bar_shown_and_stays_among_the_candles() -> None:
    """Hours of history behind a 120-bar window: a VWAP anchored at the oldest bar would sit far from the
    window's prices and squeeze the candles into a strip; anchored at the first bar shown it is the
    package's vwap of exactly those bars, so it lies between their lowest low and highest high."""
    bars = _bar_arrays(2000, SECOND)  # a random walk: the old prices are far from the recent ones
    chart = CandleChart(window=120)
    chart.update(bars, symbol="BTC/USDT", timeframe="1s")
    shown = bars.tail(120)
    drawn = chart.lines["vwap"].y
    expected = vwap(pd.Series(shown.vwap), pd.Series(shown.volume)).to_numpy()
    np.testing.assert_array_equal(drawn, expected)
    assert shown.low.min() <= drawn.min() and drawn.max() <= shown.high.max()
    assert vwap(pd.Series(bars.vwap), pd.Series(bars.volume)).iloc[-1] < shown.low.min()  # what it was
    without = CandleChart(window=120, indicators=("ema", "bollinger"))
    without.update(bars, symbol="BTC/USDT", timeframe="1s")
    assert (chart.y.min, chart.y.max) == (without.y.min, without.y.max)  # showing it widens nothing
    assert "since the first bar shown" in chart.legend.value


def test_charts_show_an_empty_state_instead_of_made_up_axes(driver: Driver) -> None:
    app = MonitorApp(Settings(symbols=SYMBOLS), session=driver.session, timeframe="1s")  # no event yet
    try:
        app.refresh(force=True)
        for chart in app.charts:
            assert chart.empty and "mdx-empty" in chart.widget._dom_classes
            assert chart.note.value == WAITING
            assert not any(axis.visible for axis in chart._empty_axes)
        # a 2-D x without columns breaks bqplot's view in the browser: an empty depth chart sends 1-D
        assert app.depth.lines.x.ndim == 1 and app.depth.lines.y.shape == (2, 0)
        driver.advance(30)
        app.refresh()
        for chart in app.charts:
            assert not chart.empty and "mdx-empty" not in chart.widget._dom_classes
            assert all(axis.visible for axis in chart._empty_axes)
        # no mark ever gets a NaN (an invalid SVG path in the browser)
        marks = [*app.candles.lines.values(), app.mid.lines, app.imbalance.line, app.depth.lines]
        assert all(np.isfinite(np.asarray(mark.y, dtype=float)).all() for mark in marks)
    finally:
        app.log_buffer.detach()
        app.tap.detach()


def test_charts_without_a_source_say_why() -> None:
    app = MonitorApp(Settings(source="nosuchexchange", symbols=SYMBOLS))
    try:
        app.refresh()
        for chart in app.charts:
            assert chart.empty and chart.note.value.startswith("no data: ")
            assert "nosuchexchange" in chart.note.value
    finally:
        app.log_buffer.detach()


def test_panels_on_their_own_start_empty() -> None:
    for chart in (CandleChart(), MidChart(), ImbalanceChart(), DepthChart()):
        assert chart.empty and not any(axis.visible for axis in chart._empty_axes)


def test_a_long_source_gets_a_short_label_and_the_full_text_on_hover() -> None:
    long = "replay:/very/long/path/to/captures/btcusdt_20240808.gz,/very/long/path/to/captures/b.gz"
    assert fmt.short_source(long) == "replay: btcusdt_20240808.gz +1"
    assert fmt.short_source("sim+" + long) == "sim + replay: btcusdt_20240808.gz +1"
    assert fmt.short_source("x" * 80).endswith("…") and len(fmt.short_source("x" * 80)) == 40
    controls = Controls(
        sources=[long, "sim"],
        source=long,
        exchanges=["binance"],
        exchange="binance",
        symbols=["BTC/USDT"],
        symbol="BTC/USDT",
        timeframes=["1s", "1m"],
        timeframe="1s",
    )
    assert controls.source.label == "replay: btcusdt_20240808.gz +1"
    assert controls.source.value == controls.source.tooltip == long
    controls.source.value = "sim"
    assert controls.source.tooltip == "sim"
    line = StatusLine()
    status = type("S", (), {"state": "connected", "source": long, "reason": "", "attempt": 0})()
    line.update(status, StatusInfo(rate=10.0, symbols=1, now_ns=1))
    text = re.sub(r"<[^>]+>", "", line.widget.value)
    assert "/very/long" not in text and "replay: btcusdt_20240808.gz +1" in text
    assert f"title='{long}: " in line.widget.value  # the whole line, with the full source, on hover


def test_a_long_replay_source_keeps_a_short_header(shared_data: Path) -> None:
    folder = require(shared_data / "binance-spot-l2-trades")
    source = f"replay:{folder / 'btcusdt_20240808.gz'},{folder / 'btcusdt_20240809.gz'}"
    app = MonitorApp(Settings(source=source))
    try:
        assert app.controls.source.value == app.controls.source.tooltip == source
        assert app.controls.source.label == "replay: btcusdt_20240808.gz +1"
    finally:
        app.log_buffer.detach()
        app.tap.detach()


# -- project rules -----------------------------------------------------------------------------------------


def test_only_mdx_ui_imports_widgets() -> None:
    offenders = []
    for path in (ROOT / "mdx").rglob("*.py"):
        if "ui" in path.relative_to(ROOT / "mdx").parts:
            continue
        if re.search(r"^\s*(import|from)\s+(ipywidgets|bqplot)\b", path.read_text(), re.M):
            offenders.append(str(path))
    assert offenders == []


def test_serve_command_shows_only_the_dashboard(tmp_path: Path) -> None:
    from mdx.serve import MONITOR_NOTEBOOK, monitor_env, serve_monitor, voila_command

    assert MONITOR_NOTEBOOK.is_file()
    cmd = voila_command(MONITOR_NOTEBOOK, port=9999, open_browser=False)
    assert "--strip_sources=True" in cmd and "--show_tracebacks=False" in cmd
    assert "--port=9999" in cmd and "--no-browser" in cmd and str(MONITOR_NOTEBOOK) in cmd
    assert not any("preheat" in part for part in cmd)
    preheated = voila_command(MONITOR_NOTEBOOK, preheat=True, pool_size=2)
    assert "--preheat_kernel=True" in preheated and "--pool_size=2" in preheated
    settings = replace(Settings(), symbols=("ETH/USDT",), speed=10.0)
    env = monitor_env(settings, {"PATH": "/bin", "MDX_SYMBOLS": "stale"})
    assert env["PATH"] == "/bin" and Settings.from_env(env) == settings
    with pytest.raises(ConfigError, match="not found"):
        serve_monitor(settings, notebook=tmp_path / "missing.ipynb")
    with pytest.raises(ConfigError, match="port"):
        voila_command(MONITOR_NOTEBOOK, port=0)


# -- the model alone (no widgets) ---------------------------------------------------------------------------


def test_the_model_imports_and_runs_without_widgets() -> None:
    code = (
        "import sys\n"
        "from mdx.clock import SimulatedClock\n"
        "from mdx.config import Settings\n"
        "from mdx.session import Session\n"
        "from mdx.sources.sim.simulator import Simulator\n"
        "from mdx.ui.model import MonitorModel\n"
        f"session = Session(Simulator(start_ns={T0}), clock=SimulatedClock({T0}))\n"
        "session.run_until_done(max_events=2000)\n"
        "frame = MonitorModel(Settings(), session=session).frame(force=True)\n"
        "assert frame.tiles.last is not None and frame.watch\n"
        "loaded = sorted({'ipywidgets', 'bqplot'} & set(sys.modules))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_model_values_are_what_the_cache_holds(driver: Driver) -> None:
    driver.advance(180)
    driver.session.set_status("connected")
    cache = driver.session.cache
    model = MonitorModel(Settings(symbols=SYMBOLS), session=driver.session, timeframe="1s")
    try:
        frame = model.frame(force=True)
        trade, view, partial = cache.trade(key()), cache.book(key()), cache.open_bar(key(), "1s")
        assert (frame.symbol, frame.timeframe) == ("BTC/USDT", "1s") and model.key == key()
        assert frame.tiles.last == trade.price == frame.trades[-1].price
        assert frame.view is view
        assert frame.tiles.bid == view.bids[0, 0] and frame.tiles.ask == view.asks[0, 0]
        assert frame.tiles.spread_bps == pytest.approx(view.spread_bps)
        assert frame.tiles.bar_volume == partial.volume == frame.bars.volume[-1] and frame.bars.partial
        assert frame.bars.close[-2] == cache.bars(key(), "1s")[-1].close
        assert frame.book[-1, 3] == view.mid  # BOOK_FIELDS: ts, bid, ask, mid, ...
        assert frame.status.state == "connected" and [s.source for s in frame.sources] == ["sim"]
        assert frame.info.events == driver.session.events_processed and frame.info.symbols == 3
        assert set(frame.watch) == set(SYMBOLS)
        assert frame.watch["ETH/USDT"].last == cache.trade(key("ETH/USDT")).price
        # the watchlist's values come at most every watch_interval_s
        driver.advance(0.25)
        assert model.frame().watch == {}
        driver.advance(1.0)
        later = model.frame()
        assert later.watch and later.tiles.last == cache.trade(key()).price
        # the selection, validated
        assert model.select(symbol="ETH/USDT") and not model.select(symbol="ETH/USDT")
        assert model.frame().tiles.last == cache.trade(key("ETH/USDT")).price
        with pytest.raises(ConfigError, match="DOGE/USDT"):
            model.select(symbol="DOGE/USDT")
        with pytest.raises(ConfigError, match="3m"):
            MonitorModel(Settings(symbols=SYMBOLS), session=driver.session, timeframe="3m")
        driver.session.set_status("reconnecting", "ping timeout", attempt=2)
        assert model.frame().status.state == "reconnecting"
    finally:
        model.tap.detach()


def test_without_a_source_the_model_says_why() -> None:
    model = MonitorModel(Settings(source="nosuchexchange", symbols=SYMBOLS))
    frame = model.frame(refresh_hz=4.0)
    assert model.session is None and frame.series is None and frame.view is None
    assert frame.status.state == "error" and "nosuchexchange" in frame.status.reason
    assert frame.info.refresh_hz == 4.0


def test_status_line_shows_each_source_of_several() -> None:
    session = Session(
        [Simulator(("BTC/USDT",), start_ns=T0), Simulator(("ETH/USDT",), exchange="sim2", start_ns=T0)],
        clock=SimulatedClock(T0),
    )
    first, second = session.names
    session.set_status("connected", source=first)
    retry_at = T0 + 4_200_000_000
    session.set_status("reconnecting", "ping timeout", attempt=2, next_retry_ns=retry_at, source=second)
    app = MonitorApp(Settings(), session=session)
    try:
        app.refresh()
        html = app.status.widget.value
        assert "mdx-status" in app.status.widget._dom_classes
        part = r"class='mdx-source-status mdx-state-(\w+)' data-source='([^']+)' data-state='(\w+)'"
        shown = re.findall(part, html)
        assert shown == [("connected", first, "connected"), ("reconnecting", second, "reconnecting")]
        assert "attempt 2" in html and "next try in 4.2 s" in html and "ping timeout" in html
        assert app.status.state == "reconnecting"  # the worst of them
        assert app.status.source_states == {first: "connected", second: "reconnecting"}
        assert [s.state for s in app.model.frame().sources] == ["connected", "reconnecting"]
        # one source: the line as it always was, without per-source parts
        line = StatusLine()
        alone = session.statuses[first]
        line.update(alone, StatusInfo(), [alone])
        assert "mdx-source-status" not in line.widget.value and first in line.widget.value
    finally:
        app.log_buffer.detach()
        app.tap.detach()


def test_a_session_mixing_exchanges_shows_each_symbol_from_the_exchange_that_streams_it() -> None:
    session = Session(
        [Simulator(("BTC/USDT",), start_ns=T0), Simulator(("ETH/USDT",), exchange="sim2", start_ns=T0)],
        timeframes=("1s",),
        clock=SimulatedClock(T0),
    )
    session.run_until_done(max_events=3000)
    app = MonitorApp(Settings(), session=session)
    try:
        assert list(app.controls.exchange.options) == ["sim", "sim2"]
        app.select(symbol="ETH/USDT")
        assert app.key == ("sim2", "ETH/USDT")
        assert app.tiles.values.last == session.cache.trade(("sim2", "ETH/USDT")).price
        assert app.controls.exchange.value == "sim2"  # the menu names the exchange whose data shows
        app.select(symbol="BTC/USDT")
        assert app.key == ("sim", "BTC/USDT")
        assert app.tiles.values.last == session.cache.trade(("sim", "BTC/USDT")).price
        assert app.controls.exchange.value == "sim"
    finally:
        app.log_buffer.detach()
        app.tap.detach()


# -- analytics panels: alerts, signal, confluence, consensus, MACD / RSI ---------------------------------


@pytest.fixture
def live_app(driver: Driver) -> MonitorApp:
    """The app built before any event, so its alert engine and confluence maker see the whole run."""
    monitor = MonitorApp(Settings(symbols=SYMBOLS), session=driver.session, timeframe="1s")
    yield monitor
    monitor.log_buffer.detach()
    monitor.tap.detach()


def test_the_app_wires_one_alert_engine_and_one_confluence_maker(
    live_app: MonitorApp, driver: Driver
) -> None:
    from mdx.alerts import AlertEngine
    from mdx.analytics.live import ConfluenceMaker

    consumers = driver.session.consumers
    assert [type(c) for c in consumers].count(AlertEngine) == 1
    assert [type(c) for c in consumers].count(ConfluenceMaker) == 1
    assert live_app.model.alerts in consumers and live_app.model.confluence in consumers
    # a second model on the same session reuses them
    again = MonitorModel(Settings(symbols=SYMBOLS), session=driver.session)
    try:
        assert again.alerts is live_app.model.alerts and again.confluence is live_app.model.confluence
        assert len(driver.session.consumers) == len(consumers)
    finally:
        again.tap.detach()


def test_signal_confluence_and_consensus_panels_follow_the_session(
    live_app: MonitorApp, driver: Driver
) -> None:
    from mdx.analytics.live import Confluence, Consensus
    from mdx.analytics.signals import zscore_signal

    live_app.refresh(force=True)
    assert live_app.signal.values.label == "" and "/20 bars" in live_app.signal.widget.value
    assert live_app.confluence.values.score is None and "waiting for bars" in live_app.confluence.widget.value
    assert [tf for tf, _vote in live_app.consensus.values.votes] == ["1s", "1m", "5m"]
    driver.advance(90)
    live_app.refresh(force=True)
    cache = driver.session.cache
    # the signal: the package's z-score signal over the bars shown (the open one last)
    bars = cache.bars(key(), "1s", include_open=True)
    expected = zscore_signal(pd.Series([b.close for b in bars]), 20, 1.0).iloc[-1]
    signal = live_app.signal.values
    assert signal.zscore == pytest.approx(expected["zscore"], rel=1e-9)
    assert signal.label == {1: "BUY", -1: "SELL", 0: "NEUTRAL"}[int(expected["signal"])]
    assert f"data-signal='{signal.label}'" in live_app.signal.widget.value
    # the confluence gauge: the cached Confluence of the selected timeframe, six dimensions
    event = cache.latest(Confluence, key(), "1s")
    gauge = live_app.confluence.values
    assert event is not None and gauge.score == pytest.approx(event.score) and gauge.label == event.label
    assert [name for name, _ in gauge.dimensions] == [
        "technical", "volume", "order_flow", "order_book", "structure", "sentiment"
    ]  # fmt: skip
    html = live_app.confluence.widget.value
    assert f"data-value='{event.score:.6g}'" in html and event.label in html
    assert dict(gauge.dimensions)["sentiment"] is None  # no source gives funding: a dash
    assert re.search(r"mdx-dim-sentiment' data-value=''>.*?—</span>", html)
    assert re.search(r"mdx-dim-technical' data-value='0\.\d+'", html)
    # the consensus row: one cell per timeframe, then the overall signal
    consensus = cache.latest(Consensus, key())
    row = live_app.consensus.values
    assert row.signal == consensus.signal and row.votes == consensus.votes
    row_html = live_app.consensus.widget.value
    for timeframe, vote in consensus.votes:
        assert f"mdx-vote mdx-vote-{timeframe}' data-vote='{vote}'" in row_html
    assert f"data-signal='{consensus.signal}'" in row_html and "conf " in row_html
    # they redraw only when their values change: a new closed bar moves the gauge on
    counts = (live_app.confluence.updates, live_app.consensus.updates)
    live_app.refresh()
    assert (live_app.confluence.updates, live_app.consensus.updates) == counts
    driver.advance(2)
    live_app.refresh()
    assert live_app.confluence.values.ts_ns > gauge.ts_ns and live_app.confluence.updates > counts[0]
    # another timeframe: the gauge says which one, and waits for that timeframe's score
    live_app.select(timeframe="5m")
    assert live_app.confluence.values.timeframe == "5m" and live_app.confluence.values.score is None


def test_the_alert_form_adds_and_removes_rules_and_the_panel_shows_triggers(
    live_app: MonitorApp, driver: Driver
) -> None:
    driver.advance(5)
    live_app.refresh(force=True)
    panel = live_app.alerts
    assert "no rules yet" in panel.rules.value and "nothing fired yet" in panel.triggers.value
    price = driver.session.cache.trade(key()).price
    panel.kind.value, panel.symbol.value = "price_above", "BTC/USDT"
    panel.level.value, panel.cooldown.value = f"{price * 0.98:.2f}", "3600"
    rule = panel.submit()
    assert rule is not None and "mdx-alert-ok" in panel.message.value and rule.name in panel.message.value
    assert live_app.model.alerts.rules == (rule,)
    assert f"data-rule='{rule.name}'" in panel.rules.value and "price above" in panel.rules.value
    assert list(panel.pick.options) == [rule.name] and panel.pick.value == rule.name
    driver.advance(3)  # the next trade is above the level: it fires, once (a cooldown of an hour)
    live_app.refresh()
    alert = live_app.model.alerts.recent()[-1]
    assert alert.rule == rule.name and alert.value > rule.threshold
    triggers = panel.triggers.value
    assert triggers.count("<tr class='mdx-trigger'") == 1 and f"data-rule='{rule.name}'" in triggers
    assert fmt.clock_time(alert.ts_event) in triggers and "BTC/USDT" in triggers
    # a rule on bars uses the timeframe shown unless told; a % change its window
    panel.kind.value, panel.level.value, panel.option.value = "zscore", "2.5", ""
    assert panel.submit().timeframe == "1s"
    panel.kind.value, panel.level.value, panel.option.value = "pct_change", "0.5", "1m"
    assert panel.submit().window == "1m"
    assert len(live_app.model.alerts.rules) == 3
    # remove one: select + button
    panel.pick.value = rule.name
    panel.remove_button.click()
    assert rule.name not in [r.name for r in live_app.model.alerts.rules]
    assert f"removed {rule.name}" in panel.message.value and rule.name not in panel.pick.options


@pytest.mark.parametrize(
    ("kind", "symbol", "level", "option", "cooldown", "message"),
    [
        ("price_above", "BTC/USDT", "abc", "", "60", "price must be a number, got &#x27;abc&#x27;"),
        ("price_above", "BTC/USDT", "", "", "60", "price is empty"),
        ("price_below", "BTC/USDT", "-5", "", "60", "price level must be &gt; 0"),
        ("price_above", "BTC/USDT", "100", "", "soon", "cooldown (s) must be a number"),
        ("imbalance", "BTC/USDT", "1.5", "", "", "imbalance level must be in (0, 1)"),
        ("pct_change", "BTC/USDT", "1", "7q", "", "7q"),
        ("zscore", "BTC/USDT", "2", "3m", "", "timeframe &#x27;3m&#x27; is not built by this session"),
        ("stale", "BTC/USDT", "nan", "", "", "seconds must be a finite number"),
    ],
)
def test_the_alert_form_refuses_bad_input_with_a_message(
    live_app: MonitorApp, kind: str, symbol: str, level: str, option: str, cooldown: str, message: str
) -> None:
    panel = live_app.alerts
    panel.kind.value, panel.symbol.value = kind, symbol
    panel.level.value, panel.option.value, panel.cooldown.value = level, option, cooldown
    assert panel.submit() is None
    assert "mdx-alert-error" in panel.message.value and message in panel.message.value, panel.message.value
    assert "Traceback" not in panel.message.value and live_app.model.alerts.rules == ()


def test_the_alert_form_refuses_a_duplicate_and_an_unknown_symbol(live_app: MonitorApp) -> None:
    model = live_app.model
    model.add_rule("spread_above", "BTC/USDT", "5")
    with pytest.raises(ConfigError, match="exists already"):
        model.add_rule("spread_above", "BTC/USDT", 5)
    with pytest.raises(ConfigError, match="unknown symbol 'DOGE/USDT'"):
        model.add_rule("spread_above", "DOGE/USDT", 5)
    with pytest.raises(ConfigError, match="unknown alert type"):
        model.add_rule("moon", "BTC/USDT", 5)
    panel = live_app.alerts
    panel.kind.value, panel.level.value = "spread_above", "5"
    assert panel.submit() is None and "exists already" in panel.message.value
    panel.pick.options = []
    assert not panel.remove_selected() and "choose one first" in panel.message.value


def test_macd_and_rsi_subcharts_toggle_without_rebuilding(live_app: MonitorApp, driver: Driver) -> None:
    from mdx.analytics.indicators import macd, rsi

    driver.advance(200)
    live_app.refresh(force=True)
    macd_chart, rsi_chart = live_app.macd, live_app.rsi
    figures = (macd_chart.fig, rsi_chart.fig, macd_chart.lines, rsi_chart.line)
    assert not macd_chart.visible and macd_chart.hidden  # hidden by default
    assert macd_chart.updates == 0 and rsi_chart.updates == 0  # and costs nothing
    live_app.controls.subcharts["macd"].value = True
    live_app.controls.subcharts["rsi"].value = True
    assert macd_chart.visible and not macd_chart.hidden and rsi_chart.visible
    assert macd_chart.updates == 1 and rsi_chart.updates == 1  # drawn at once when shown
    assert (macd_chart.fig, rsi_chart.fig, macd_chart.lines, rsi_chart.line) == figures
    # the package's MACD / RSI over the closes (the open bar last), aligned with the candles
    bars = driver.session.cache.bars(key(), "1s", include_open=True)
    closes = np.array([b.close for b in bars])
    n = len(macd_chart.histogram.x)
    expected = macd(closes, 12, 26, 9)
    histogram = expected[2] if isinstance(expected, tuple) else np.asarray(expected)[:, 2]
    got = macd_chart.histogram.y[:, 3]
    assert np.allclose(got, np.asarray(histogram)[-n:], rtol=1e-9, atol=1e-12)
    assert np.array_equal(macd_chart.histogram.x, live_app.candles.ohlc.x[-n:])
    assert np.allclose(rsi_chart.line.y, np.asarray(rsi(closes, 14))[-len(rsi_chart.line.y) :], rtol=1e-9)
    assert (macd_chart.x.min, macd_chart.x.max) == live_app.candles.domain
    assert np.isfinite(macd_chart.lines.y).all() and np.isfinite(rsi_chart.line.y).all()
    assert "MACD" in macd_chart.legend.value and "RSI" in rsi_chart.legend.value
    live_app.refresh()
    assert macd_chart.updates == 1  # nothing new: no redraw
    driver.advance(1)
    live_app.refresh()
    assert macd_chart.updates == 2
    live_app.controls.subcharts["macd"].value = False
    driver.advance(1)
    live_app.refresh()
    assert macd_chart.updates == 2 and rsi_chart.updates == 3 and macd_chart.hidden
    assert macd_chart.fig is figures[0]
    with pytest.raises(ConfigError, match="stoch"):
        live_app.set_subcharts(["stoch"])


def test_a_store_that_cannot_be_opened_leaves_the_monitor_running_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "not-a-store.db"
    bad.write_text("this is not sqlite\n" * 100)
    with caplog.at_level(logging.ERROR, logger="mdx.ui"):
        model = MonitorModel(Settings(symbols=SYMBOLS, db=str(bad)))
    try:
        assert model.session is not None and model.session.store_writer is None
        assert any("cannot use the store" in r.getMessage() for r in caplog.records), caplog.text
        assert bad.read_text().startswith("this is not sqlite")  # left as it was
    finally:
        model.tap.detach()
    good = MonitorModel(Settings(symbols=SYMBOLS, db=str(tmp_path / "market.db")))
    try:
        assert good.session is not None and good.session.store_writer is not None
    finally:
        good.session.store_writer.store.close()
        good.tap.detach()


# -- live venues: session wiring, the venue table, derivatives, feed lines --------------------------------


def test_live_exchanges_get_a_latency_tracker_and_a_venue_monitor(tmp_path: Path) -> None:
    from mdx.market.latency import LatencyTracker
    from mdx.market.venues import VenueMonitor

    settings = Settings(
        source="binance,bybit", symbols=("BTC/USDT", "BTC/USDT:USDT"), db=str(tmp_path / "m.db")
    )
    model = MonitorModel(settings)  # sources are built, not started: no network
    session = model.session
    assert session is not None
    assert isinstance(model.latency, LatencyTracker) and isinstance(model.venues, VenueMonitor)
    assert model.latency in session.consumers and model.venues in session.consumers
    assert model.venues.primary == ("binance", "bybit") and model.venues.latency is model.latency
    assert model.venues.rejections is session.rejections and callable(model.venues.status)
    assert session.store_history_ns == 6 * 3600 * 10**9  # --history 6h under the live history
    if session.store_writer is not None:
        session.store_writer.close()
    # the simulator has neither
    sim = MonitorModel(Settings(symbols=SYMBOLS))
    assert sim.latency is None and sim.venues is None and sim.frame().venues.shown is False


def test_a_redis_password_never_reaches_the_log_or_the_exchange_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="mdx"):
        model = MonitorModel(Settings(source="nosuchexchange+redis://:hunter2@127.0.0.1:1/0"))
    assert "hunter2" not in caplog.text
    assert "hunter2" not in model.exchange


def _quote(exchange: str, symbol: str, ts: int, mid: float) -> Any:
    from mdx.events import Quote

    return Quote(exchange, symbol, ts, ts + 2_000_000, 1, mid - 0.5, 1.0, mid + 0.5, 1.0)


def _two_venue_session() -> tuple[Session, SimulatedClock]:
    from mdx.market.latency import LatencyTracker
    from mdx.market.venues import VenueMonitor

    clock = SimulatedClock(T0)
    tracker = LatencyTracker(report_every_ms=100)
    monitor = VenueMonitor(primary=("sim", "sim2"), latency=tracker, threshold_bps=50, max_age_ms=5_000)
    session = Session(
        [Simulator(("BTC/USDT",), start_ns=T0), Simulator(("BTC/USDT",), exchange="sim2", start_ns=T0)],
        timeframes=("1s",),
        clock=clock,
        consumers=[tracker, monitor],
    )
    return session, clock


def test_the_venue_table_shows_each_venue_its_state_and_the_composite() -> None:
    session, clock = _two_venue_session()
    app = MonitorApp(Settings(symbols=("BTC/USDT",)), session=session)
    try:
        assert app.model.venues is not None and app.model.latency is not None
        assert not app.venues.shown  # nothing yet
        for i in range(20):
            ts = T0 + i * 100_000_000
            clock.advance_to(ts + 2_000_000)
            session.process(_quote("sim", "BTC/USDT", ts, 65_000.0))
            session.process(_quote("sim2", "BTC/USDT", ts, 65_013.0))  # 2 bps above
        app.refresh(force=True)
        assert app.venues.shown
        values = app.venues.values
        assert values is not None
        rows = {(r.exchange, r.symbol): r for r in values.rows}
        assert set(rows) == {("sim", "BTC/USDT"), ("sim2", "BTC/USDT")}
        assert rows[("sim", "BTC/USDT")].in_use and rows[("sim", "BTC/USDT")].state == "ok"
        assert rows[("sim2", "BTC/USDT")].deviation_bps == pytest.approx(2.0, abs=0.01)
        assert rows[("sim", "BTC/USDT")].latency_p50_ms == pytest.approx(0.0, abs=0.01)
        html = app.venues.body.value
        assert "mdx-venue-table" in html and html.count("class='mdx-venue-row") == 2
        assert "data-exchange='sim2'" in html and "mdx-venue-in-use" in html and "65,000.00" in html
        assert "data-asset='BTC/USDT' data-stale='false'" in html
        # everything goes quiet: 12 s later the composite is stale and says how old it is
        clock.advance_to(T0 + 14_000_000_000)
        app.refresh(force=True)
        html = app.venues.body.value
        assert "data-stale='true'" in html and re.search(r"stale, 1\d\.\d s old", html), html
        assert "data-state='stale'" in html and "mdx-venue-in-use" not in html
    finally:
        app.log_buffer.detach()
        app.tap.detach()


def test_the_venue_table_is_read_at_most_once_a_second() -> None:
    from mdx.ui.venues_model import VenueTracker

    session, _clock = _two_venue_session()
    session.process(_quote("sim", "BTC/USDT", T0, 65_000.0))
    session.process(_quote("sim2", "BTC/USDT", T0, 65_000.0))
    monitor = next(c for c in session.consumers if type(c).__name__ == "VenueMonitor")
    tracker = VenueTracker(monitor, interval_s=1.0)
    first = tracker.update(T0)
    session.process(_quote("sim", "BTC/USDT", T0 + 10**8, 65_100.0))
    assert tracker.update(T0 + 5 * 10**8) is first  # not due
    assert tracker.update(T0 + 11 * 10**8) is not first
    assert VenueTracker(None).update(T0).shown is False


def test_the_derivatives_panel_shows_funding_mark_open_interest_and_liquidations() -> None:
    from mdx.channel_events import Funding, Liquidation, MarkPrice, OpenInterest

    clock = SimulatedClock(T0)
    session = Session(Simulator(("BTC/USDT",), start_ns=T0), timeframes=("1s",), clock=clock)
    app = MonitorApp(Settings(symbols=("BTC/USDT",)), session=session)
    try:
        app.refresh(force=True)
        assert not app.derivatives.shown  # a spot symbol without any of it: hidden
        key = ("sim", "BTC/USDT")
        session.process(Funding(*key, T0, T0 + 1, 0.0001, T0 + 3_600 * 10**9 + 5 * 10**9))
        session.process(MarkPrice(*key, T0, T0 + 1, 65_010.5, 65_005.25))
        session.process(OpenInterest(*key, T0, T0 + 1, 12_345.0, 802_000_000.0))
        for i, side in enumerate(("sell", "buy", "sell")):
            session.process(
                Liquidation(*key, T0 + i * 10**9, T0 + i * 10**9 + 1, 64_900.0 + i, 0.5 + i, side)
            )
        app.refresh(force=True)
        assert app.derivatives.shown
        v = app.derivatives.values
        assert (
            v is not None and v.funding_pct == pytest.approx(0.01) and v.next_funding_s == pytest.approx(3605)
        )
        assert (v.mark, v.index, v.oi_amount, v.oi_value) == (65_010.5, 65_005.25, 12_345.0, 802_000_000.0)
        assert [q.price for q in v.liquidations] == [64_902.0, 64_901.0, 64_900.0]  # newest first
        html = app.derivatives.body.value
        for css in ("mdx-funding", "mdx-mark", "mdx-open-interest", "mdx-liquidations"):
            assert f"class='{css}" in html or f"mdx-table {css}" in html, css
        assert "+0.0100%" in html and "next in 1h 00m" in html and "65,010.50" in html and "12.3k" in html
        assert html.count("class='mdx-liquidation ") == 3 and "64,902.00" in html
    finally:
        app.log_buffer.detach()
        app.tap.detach()


def test_a_perpetual_shows_the_derivatives_panel_even_before_data() -> None:
    from mdx.cache import Cache
    from mdx.ui.derivatives_model import derivative_key, derivatives_values

    cache = Cache()
    values = derivatives_values(cache, ("bybit", "BTC/USDT:USDT"), T0)
    assert values.shown and values.funding_pct is None and values.liquidations == ()
    assert not derivatives_values(cache, ("bybit", "BTC/USDT"), T0).shown
    # a spot exchange listing no perpetual: the panel shows the exchange that streams it
    from mdx.channel_events import Funding

    cache.put(Funding("bybit", "BTC/USDT:USDT", T0, T0 + 1, 0.0002, 0))
    assert derivative_key(cache, ("binance", "BTC/USDT:USDT"), ("binance", "bybit")) == (
        "bybit",
        "BTC/USDT:USDT",
    )


def test_feed_lines_show_polled_streams_latency_and_the_rest_cache() -> None:
    from types import SimpleNamespace

    from mdx.market.latency import ALL_SYMBOLS, Latency
    from mdx.store.cache import TTLCache
    from mdx.ui.feeds_model import feed_lines
    from mdx.ui.status import FeedLines

    cache = TTLCache()
    cache.get_or_fetch("k", lambda: 1, 60)
    cache.get_or_fetch("k", lambda: 1, 60)
    modes = {"trades BTC/USDT": "polling", "book BTC/USDT": "websocket"}
    binance = SimpleNamespace(exchange="binance", modes=modes, cache=cache)
    bybit = SimpleNamespace(exchange="bybit", modes={"trades BTC/USDT": "websocket"}, cache=cache)
    ms = 1_000_000
    latest = {
        ("binance", "quote"): Latency(
            "binance", ALL_SYMBOLS, 0, 0, "quote", 10, 10, 0, 0, 12 * ms, 40 * ms, 0
        ),
        ("bybit", "trade"): Latency("bybit", ALL_SYMBOLS, 0, 0, "trade", 5, 5, 0, 0, 30 * ms, 88 * ms, 0),
    }
    lines = feed_lines([binance, bybit], latest)
    assert lines[0] == "binance: polling trades BTC/USDT (websocket 1)"
    assert lines[1] == "latency p50/p99 ms: binance 12.0/40.0 · bybit 30.0/88.0"
    assert lines[2].startswith("REST cache: 1 hits, 1 misses, hit rate 50%, fetch p50/p99")
    assert len(lines) == 3  # one cache shared by both sources: one line
    assert feed_lines([Simulator(("BTC/USDT",))], None) == ()  # no live source: nothing
    panel = FeedLines()
    assert panel.update(lines) and panel.widget.value.count("mdx-feed-line") == 3
    assert panel.widget.layout.display == "block"
    assert not panel.update(lines)
