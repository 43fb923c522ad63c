"""The live monitor: controls, tiles, watchlist, charts, book, trades, status and log, in one widget.

    app = MonitorApp(Settings.from_env())
    app.start()   # engine in its background thread + refresh task on this kernel's loop; returns at once
    app           # display it

The engine (``Session.start()``) writes the cache on its own thread. The app never sees events: its
refresh task reads cache snapshots at a fixed rate (default 4 Hz) and updates the panels in place. Changing
symbol or timeframe redraws at once. Tests drive a session synchronously and call ``refresh()`` directly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import ipywidgets as widgets
import numpy as np

from ..cache import Key
from ..config import Settings
from ..errors import ConfigError, MdxError
from ..session import Session, SessionStatus
from ..sources import make_source
from .base import html
from .book import DepthChart, Ladder
from .charts import INDICATORS, CandleChart, ImbalanceChart, MidChart
from .controls import Controls
from .data import BarSeries, Columns, book_columns
from .refresh import DEFAULT_HZ, Refresher
from .status import LogBuffer, LogPanel, StatusInfo, StatusLine
from .tap import FeedTap, RateMeter
from .theme import style_block
from .tiles import Tiles, TileValues
from .trades import TradesTable
from .watchlist import Watchlist, WatchValues

log = logging.getLogger("mdx.ui")

SPARK_TRADES = 300


class MonitorApp:
    """The monitor dashboard for one ``Session`` (built from ``settings`` unless given)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        session: Session | None = None,
        symbol: str | None = None,
        timeframe: str | None = None,
        indicators: Sequence[str] = INDICATORS,
        refresh_hz: float = DEFAULT_HZ,
        window: int = 120,
        book_seconds: float = 120.0,
        ladder_levels: int = 10,
        trade_rows: int = 20,
        stale_after_s: float = 5.0,
        watch_interval_s: float = 1.0,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.log_buffer = LogBuffer().attach("mdx")  # first: building the session may already log
        self.source_error = ""
        self.session: Session | None = session if session is not None else self._make_session(self.settings)
        self.stale_after_ms = stale_after_s * 1e3
        self.refreshes = 0
        self._started = False
        self._series: dict[tuple[Key, str], BarSeries] = {}
        self._books: dict[Key, Columns] = {}
        self._meters: dict[Key, RateMeter] = {}
        self._total_meter = RateMeter()
        self._watch_tokens: dict[str, tuple[Any, Any]] = {}
        self._prices: dict[Key, Columns] = {}
        self._watch_ns = 0
        self.watch_interval_s = watch_interval_s
        self.tap = FeedTap(self._clock())
        if self.session is not None:
            self.tap.attach(self.session.hub)

        symbols = self.symbols
        timeframes = self.timeframes
        if symbol is not None and symbol not in symbols:
            raise ConfigError(f"symbol {symbol!r} is not configured; choose from {list(symbols)}")
        if timeframe is not None and timeframe not in timeframes:
            raise ConfigError(
                f"timeframe {timeframe!r} is not built by the session; choose from {list(timeframes)}"
            )
        self._symbol = symbol or symbols[0]
        self._timeframe = timeframe or ("1m" if "1m" in timeframes else timeframes[0])
        self._exchange = self._source_exchange()

        # -- panels (created once) ---------------------------------------------------------------------
        sources = [self.settings.source] + (["sim"] if self.settings.source != "sim" else [])
        self.controls = Controls(
            sources=sources,
            source=self.settings.source,
            exchanges=[self._exchange],
            exchange=self._exchange,
            symbols=symbols,
            symbol=self._symbol,
            timeframes=timeframes,
            timeframe=self._timeframe,
            indicators=indicators,
        )
        self.status = StatusLine()
        self.tiles = Tiles()
        self.watchlist = Watchlist(symbols, on_select=lambda s: self.select(symbol=s))
        self.watchlist.select(self._symbol)
        self.candles = CandleChart(window=window, indicators=indicators, height=330)
        self.mid = MidChart(seconds=book_seconds)
        self.imbalance = ImbalanceChart(seconds=book_seconds)
        self.depth = DepthChart()
        self.ladder = Ladder(levels=ladder_levels)
        self.trades = TradesTable(rows=trade_rows)
        self.log_panel = LogPanel(self.log_buffer)
        self.refresher = Refresher(self.refresh, refresh_hz)
        self.widget = self._layout()
        self._wire()

    # -- construction ------------------------------------------------------------------------------------

    def _make_session(self, settings: Settings) -> Session | None:
        try:
            source = make_source(settings)
        except MdxError as error:  # shown in the status line and the log, not as a traceback
            self.source_error = str(error)
            log.error("cannot open source %r: %s", settings.source, error)
            return None
        self.source_error = ""
        return Session(source, timeframes=settings.timeframes, speed=settings.speed)

    def _clock(self) -> Any:
        if self.session is not None:
            return self.session.clock
        from ..clock import LiveClock

        return LiveClock()

    def _source_exchange(self) -> str:
        exchanges = self.session.exchanges if self.session is not None else ()
        return (exchanges[0] if exchanges else "") or self.settings.exchange or self.settings.source

    @property
    def symbols(self) -> tuple[str, ...]:
        symbols = self.session.symbols if self.session is not None else ()
        return symbols or self.settings.symbols

    @property
    def timeframes(self) -> tuple[str, ...]:
        if self.session is not None and self.session.timeframes:
            return self.session.timeframes
        return self.settings.timeframes

    def _layout(self) -> widgets.VBox:
        brand = html("mdx-brand", "<span class='mdx-brand-dot'>◆</span> mdx monitor")
        spacer = html("mdx-spacer")
        header = widgets.HBox([brand, self.controls.widget, spacer, self.status.widget])
        header.add_class("mdx-header")
        left = widgets.VBox([self.watchlist.widget, self.trades.widget])
        left.add_class("mdx-col")
        left.add_class("mdx-col-left")
        center = widgets.VBox([self.candles.widget, self.mid.widget, self.imbalance.widget])
        center.add_class("mdx-col")
        center.add_class("mdx-col-center")
        right = widgets.VBox([self.depth.widget, self.ladder.widget])
        right.add_class("mdx-col")
        right.add_class("mdx-col-right")
        body = widgets.HBox([left, center, right])
        body.add_class("mdx-body")
        root = widgets.VBox([style_block(), header, self.tiles.widget, body, self.log_panel.widget])
        root.add_class("mdx-app")
        return root

    def _wire(self) -> None:
        c = self.controls
        c.symbol.observe(lambda ch: self.select(symbol=ch["new"]), "value")
        c.timeframe.observe(lambda ch: self.select(timeframe=ch["new"]), "value")
        c.exchange.observe(lambda ch: self.select(exchange=ch["new"]), "value")
        c.source.observe(lambda ch: self.set_source(ch["new"]), "value")
        for button in c.indicators.values():
            button.observe(lambda _ch: self.candles.set_indicators(c.chosen_indicators()), "value")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- selection ---------------------------------------------------------------------------------------

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def timeframe(self) -> str:
        return self._timeframe

    @property
    def key(self) -> Key:
        return (self._exchange, self._symbol)

    def select(
        self, *, symbol: str | None = None, timeframe: str | None = None, exchange: str | None = None
    ) -> None:
        """Show another symbol / timeframe / exchange; redraws at once (no kernel restart, no waiting)."""
        if symbol is not None and symbol not in self.symbols:
            raise ConfigError(f"symbol {symbol!r} is not configured; choose from {list(self.symbols)}")
        if timeframe is not None and timeframe not in self.timeframes:
            raise ConfigError(f"timeframe {timeframe!r} is not built; choose from {list(self.timeframes)}")
        changed = False
        if symbol is not None and symbol != self._symbol:
            self._symbol, changed = symbol, True
        if timeframe is not None and timeframe != self._timeframe:
            self._timeframe, changed = timeframe, True
        if exchange is not None and exchange != self._exchange:
            self._exchange, changed = exchange, True
        # keep every control in step, whichever one (or code) made the change
        self.controls.symbol.value = self._symbol
        self.controls.timeframe.value = self._timeframe
        if self._exchange in self.controls.exchange.options:
            self.controls.exchange.value = self._exchange
        self.watchlist.select(self._symbol)
        if changed:
            self.refresh(force=True)

    def set_source(self, source: str) -> None:
        """Switch the data source (``sim``, ``replay:PATH``, ...): stops the old session, starts a new one."""
        if source == self.settings.source and self.session is not None:
            return
        settings = replace(self.settings, source=source)
        if self.session is not None:
            self.session.stop()
        self.tap.detach()
        self.settings = settings
        self.session = self._make_session(settings)
        self._series.clear()
        self._books.clear()
        self._meters.clear()
        self._total_meter.reset()
        self._watch_tokens.clear()
        self._prices.clear()
        self.tap = FeedTap(self._clock())
        if self.session is not None:
            self.tap.attach(self.session.hub)
            if self._started:
                self.session.start()
        self._exchange = self._source_exchange()
        Controls.set_options(self.controls.exchange, [self._exchange])
        symbols = self.symbols
        Controls.set_options(self.controls.symbol, symbols)
        self.watchlist.set_symbols(symbols)
        if self._symbol not in symbols:
            self._symbol = symbols[0]
        self.select(symbol=self._symbol)
        self.refresh(force=True)

    # -- running -----------------------------------------------------------------------------------------

    def start(self) -> MonitorApp:
        """Start the engine thread (if not running) and the refresh task on the running loop."""
        self._started = True
        self.log_buffer.attach("mdx")
        if self.session is not None:
            self.tap.attach(self.session.hub)
        if self.session is not None and not self.session.running:
            self.session.start()
        self.refresh(force=True)
        self.refresher.start()
        return self

    async def run(self, seconds: float) -> None:
        """For scripts and benchmarks: start, refresh on the current loop for ``seconds``, stop."""
        self.start()
        try:
            await self.refresher.run(seconds)
        finally:
            self.stop()

    def stop(self) -> None:
        self.refresher.stop()
        if self.session is not None:
            self.session.stop()
        self.tap.detach()
        self.log_buffer.detach("mdx")
        self._started = False

    # -- refresh -----------------------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Read cache snapshots and redraw what changed. Cheap when nothing did."""
        self.refreshes += 1
        session = self.session
        if session is None:
            self._refresh_status(None)
            self.log_panel.update()
            return
        cache = session.cache
        key, tf = self.key, self._timeframe
        now = session.clock.now_ns()

        series = self._series.get((key, tf))
        if series is None:
            series = self._series[(key, tf)] = BarSeries()
        series.sync(cache.bars(key, tf), cache.open_bar(key, tf))
        self.candles.update(series, symbol=key[1], timeframe=tf, force=force)

        book = self._books.get(key)
        if book is None:
            book = self._books[key] = book_columns()
        book.sync(cache.book_views(key))
        self.mid.update(book.data, force=force)
        self.imbalance.update(book.data, force=force)
        view = cache.book(key)
        self.depth.update(view, force=force)
        self.ladder.update(view, force=force)
        trades = cache.trades(key)
        self.trades.update(trades, force=force)

        last_trade = trades[-1] if trades else None
        partial = cache.open_bar(key, tf)
        meter = self._meters.get(key)
        if meter is None:
            meter = self._meters[key] = RateMeter()
        self.tiles.update(
            TileValues(
                last=last_trade.price if last_trade is not None else None,
                change_pct=self._change_pct(key, last_trade, trades),
                bid=_top(view.bids) if view is not None else None,
                ask=_top(view.asks) if view is not None else None,
                spread_bps=_finite(view.spread_bps) if view is not None else None,
                imbalance=_finite(view.imbalance) if view is not None else None,
                bar_volume=partial.volume if partial is not None else None,
                timeframe=tf,
                rate=meter.update(now, self.tap.count.get(key, 0)),
                age_ms=self.tap.age_ms(key),
                stale_after_ms=self.stale_after_ms,
            )
        )
        self._refresh_watchlist(cache, now, force)
        self._refresh_status(session, now)
        self.log_panel.update()

    def _change_pct(self, key: Key, last_trade: Any, trades: Sequence[Any]) -> float | None:
        if last_trade is None:
            return None
        first = self.tap.first_price.get(key) or (trades[0].price if trades else None)
        return (last_trade.price / first - 1.0) * 100.0 if first else None

    def _refresh_watchlist(self, cache: Any, now: int, force: bool) -> None:
        """At most every ``watch_interval_s`` (a glance view: calm, and cheap for the kernel)."""
        if not force and now - self._watch_ns < self.watch_interval_s * 1e9:
            return
        self._watch_ns = now
        values: dict[str, WatchValues] = {}
        for symbol in self.symbols:
            key = (self._exchange, symbol)
            trade, view = cache.trade(key), cache.book(key)
            token = (trade, view)
            if not force and self._watch_tokens.get(symbol) == token:
                continue
            self._watch_tokens[symbol] = token
            prices = self._prices.get(key)
            if prices is None:
                prices = self._prices[key] = Columns(_trade_price, 1, SPARK_TRADES)
            prices.sync(cache.trades(key))
            values[symbol] = WatchValues(
                last=trade.price if trade is not None else None,
                change_pct=self._change_pct(key, trade, ()),
                spread_bps=_finite(view.spread_bps) if view is not None else None,
                prices=prices.data[:, 0],
            )
        if values:
            self.watchlist.update(values)

    def _refresh_status(self, session: Session | None, now: int = 0) -> None:
        if session is None:
            status = SessionStatus(state="error", source=self.settings.source, reason=self.source_error)
            self.status.update(status, StatusInfo(refresh_hz=self.refresher.hz))
            return
        rejections = session.rejections
        top_reason = ""
        if rejections.total:
            top_reason = max(list(rejections.by_reason.items()), key=lambda item: item[1])[0]
        self.status.update(
            session.status,
            StatusInfo(
                symbols=len(self.symbols),
                rate=self._total_meter.update(now, session.events_processed),
                events=session.events_processed,
                rejected=rejections.total,
                rejected_reason=top_reason,
                refresh_hz=self.refresher.hz,
                refresh_ms=self.refresher.recent_ms if self.refresher.count else None,
                now_ns=now,
            ),
        )


def _trade_price(trade: Any) -> tuple[float]:
    return (trade.price,)


def _top(levels: Any) -> float | None:
    return float(levels[0, 0]) if len(levels) else None


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


__all__ = ["MonitorApp"]
