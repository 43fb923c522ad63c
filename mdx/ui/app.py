"""The live monitor: controls, tiles, watchlist, charts (MACD / RSI under the candles on demand), signals
(z-score signal, confluence gauge, consensus), book, trades, alerts, status and log, in one widget.

    app = MonitorApp(Settings.from_env())
    app.start()   # engine in its background thread + refresh task on this kernel's loop; returns at once
    app           # display it

The engine (``Session.start()``) writes the cache on its own thread. The app never sees events: its
refresh task asks its ``MonitorModel`` (``mdx.ui.model``: the session, the selection and the incremental
state, no widgets) for a ``MonitorFrame`` of cache snapshots at a fixed rate (default 4 Hz) and hands the
values to the panels, which redraw in place. Changing symbol or timeframe redraws at once. Tests drive a
session synchronously and call ``refresh()`` directly. Served by ``mdx monitor``, each change of a source's
status is also written to ``MDX_STATUS_LOG`` (``mdx.serve_status``), which the server shows in its terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from ..alerts import Rule
from ..cache import Key
from ..config import Settings
from ..errors import ConfigError
from ..serve_status import StatusLog
from ..session import Session
from .alerts_panel import AlertsPanel
from .base import html, vbox
from .book import DepthChart, Ladder
from .charts import INDICATORS, WAITING, CandleChart, ChartPanel, ImbalanceChart, MidChart
from .controls import Controls
from .derivatives_panel import DerivativesPanel
from .model import MonitorModel
from .oscillators import MacdChart, RsiChart
from .refresh import DEFAULT_HZ, Refresher
from .signals_panel import ConfluenceGauge, ConsensusRow, SignalTile
from .status import FeedLines, LogBuffer, LogPanel, StatusLine
from .tap import FeedTap
from .theme import style_block
from .tiles import Tiles
from .trades import TradesTable
from .venues_panel import VenuesPanel
from .watchlist import Watchlist


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
        subcharts: Sequence[str] = (),
        refresh_hz: float = DEFAULT_HZ,
        window: int = 120,
        book_seconds: float = 120.0,
        ladder_levels: int = 10,
        trade_rows: int = 20,
        stale_after_s: float = 5.0,
        watch_interval_s: float = 1.0,
    ) -> None:
        self.log_buffer = LogBuffer().attach("mdx")  # first: building the session may already log
        self.model = model = MonitorModel(
            settings,
            session=session,
            symbol=symbol,
            timeframe=timeframe,
            stale_after_s=stale_after_s,
            watch_interval_s=watch_interval_s,
        )
        self.refreshes = 0
        self.status_log = StatusLog.from_env()  # under `mdx monitor`: status changes reach its terminal

        # -- panels (created once) ---------------------------------------------------------------------
        source = model.settings.source
        self.controls = Controls(
            sources=[source] + (["sim"] if source != "sim" else []),
            source=source,
            exchanges=list(model.exchanges),
            exchange=model.exchange,
            symbols=model.symbols,
            symbol=model.symbol,
            timeframes=model.timeframes,
            timeframe=model.timeframe,
            indicators=indicators,
            subcharts=subcharts,
        )
        self.status = StatusLine()
        self.feeds = FeedLines()
        self.venues = VenuesPanel()
        self.derivatives = DerivativesPanel()
        self.tiles = Tiles()
        self.watchlist = Watchlist(model.symbols, on_select=lambda s: self.select(symbol=s))
        self.watchlist.select(model.symbol)
        self.candles = CandleChart(window=window, indicators=indicators, height=330)
        self.macd = MacdChart()
        self.rsi = RsiChart()
        self.subcharts = {"macd": self.macd, "rsi": self.rsi}
        self.signal = SignalTile()
        self.confluence = ConfluenceGauge()
        self.consensus = ConsensusRow()
        self.alerts = AlertsPanel(
            model.symbols, add=self.add_rule, remove=self.remove_rule, timeframe=model.timeframe
        )
        self.mid = MidChart(seconds=book_seconds)
        self.imbalance = ImbalanceChart(seconds=book_seconds)
        self.depth = DepthChart()
        self.ladder = Ladder(levels=ladder_levels)
        self.trades = TradesTable(rows=trade_rows)
        self.log_panel = LogPanel(self.log_buffer)
        self.charts: tuple[ChartPanel, ...] = (self.candles, self.mid, self.imbalance, self.depth)
        self.set_subcharts(subcharts)
        self.refresher = Refresher(self.refresh, refresh_hz)
        self.widget = self._layout()
        self._wire()

    # -- the model's state -------------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.model.settings

    @property
    def session(self) -> Session | None:
        return self.model.session

    @property
    def source_error(self) -> str:
        return self.model.source_error

    @property
    def tap(self) -> FeedTap:
        return self.model.tap

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.model.symbols

    @property
    def timeframes(self) -> tuple[str, ...]:
        return self.model.timeframes

    @property
    def symbol(self) -> str:
        return self.model.symbol

    @property
    def timeframe(self) -> str:
        return self.model.timeframe

    @property
    def key(self) -> Key:
        return self.model.key

    # -- construction ------------------------------------------------------------------------------------

    def _layout(self) -> widgets.VBox:
        brand = html("mdx-brand", "<span class='mdx-brand-dot'>◆</span> mdx monitor")
        spacer = html("mdx-spacer")
        header = widgets.HBox([brand, self.controls.widget, spacer, self.status.widget])
        header.add_class("mdx-header")
        left = widgets.VBox([self.watchlist.widget, self.trades.widget])
        left.add_class("mdx-col")
        left.add_class("mdx-col-left")
        center = widgets.VBox(
            [self.candles.widget, self.macd.widget, self.rsi.widget, self.mid.widget, self.imbalance.widget]
        )
        center.add_class("mdx-col")
        center.add_class("mdx-col-center")
        signals = vbox("mdx-signals", self.signal.widget, self.confluence.widget, self.consensus.widget)
        right = widgets.VBox([signals, self.derivatives.widget, self.depth.widget, self.ladder.widget])
        right.add_class("mdx-col")
        right.add_class("mdx-col-right")
        body = widgets.HBox([left, center, right])
        body.add_class("mdx-body")
        root = widgets.VBox(
            [
                style_block(),
                header,
                self.feeds.widget,
                self.tiles.widget,
                self.venues.widget,
                body,
                self.alerts.widget,
                self.log_panel.widget,
            ]
        )
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
        for button in c.subcharts.values():
            button.observe(lambda _ch: self.set_subcharts(c.chosen_subcharts()), "value")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- selection ---------------------------------------------------------------------------------------

    def select(
        self, *, symbol: str | None = None, timeframe: str | None = None, exchange: str | None = None
    ) -> None:
        """Show another symbol / timeframe / exchange; redraws at once (no kernel restart, no waiting)."""
        changed = self.model.select(symbol=symbol, timeframe=timeframe, exchange=exchange)
        # keep every control in step, whichever one (or code) made the change
        model, controls = self.model, self.controls
        controls.symbol.value = model.symbol
        controls.timeframe.value = model.timeframe
        shown = model.exchange_for(model.symbol)  # the exchange whose data shows: a symbol only one lists
        if shown in controls.exchange.options:  # (a Bybit perp) moves the choice there, as the menu says
            controls.exchange.value = shown
        self.watchlist.select(model.symbol)
        self.alerts.set_timeframe(model.timeframe)
        if changed:
            self.refresh(force=True)

    def set_source(self, source: str) -> None:
        """Switch the data source (``sim``, ``replay:PATH``, ...): stops the old session, starts a new one."""
        if not self.model.set_source(source):
            return
        Controls.set_options(self.controls.exchange, list(self.model.exchanges))
        Controls.set_options(self.controls.symbol, self.symbols)
        self.watchlist.set_symbols(self.symbols)
        self.alerts.set_symbols(self.symbols)
        self.select(symbol=self.symbol)
        self.refresh(force=True)

    def set_subcharts(self, names: Sequence[str]) -> None:
        """Show exactly these sub-charts under the candles (any of ``macd``, ``rsi``): shown or hidden in
        place, never rebuilt; a chart shown again redraws at once."""
        unknown = set(names) - set(self.subcharts)
        if unknown:
            raise ConfigError(f"unknown sub-chart(s) {sorted(unknown)}; choose from {list(self.subcharts)}")
        for name, chart in self.subcharts.items():
            chart.set_visible(name in names)
            button = self.controls.subcharts[name]
            if button.value != (name in names):
                button.value = name in names

    # -- alert rules -------------------------------------------------------------------------------------

    def add_rule(
        self, kind: str, symbol: str, level: object, *, option: str = "", cooldown: object = ""
    ) -> Rule:
        """Add an alert rule (what the alerts form does); the panel lists it at once. ``ConfigError``
        with a clear message for bad input."""
        rule = self.model.add_rule(kind, symbol, level, option=option, cooldown=cooldown)
        self.alerts.update(self.model.alert_values())
        return rule

    def remove_rule(self, name: str) -> bool:
        removed = self.model.remove_rule(name)
        self.alerts.update(self.model.alert_values())
        return removed

    # -- running -----------------------------------------------------------------------------------------

    def start(self) -> MonitorApp:
        """Start the engine thread (if not running) and the refresh task on the running loop."""
        self.log_buffer.attach("mdx")
        self.model.start()
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
        self.model.stop()
        self.log_buffer.detach("mdx")

    # -- refresh -----------------------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Ask the model for this frame's values and hand them to the panels; each redraws only what
        changed (everything with ``force``). Cheap when nothing did."""
        self.refreshes += 1
        refresher = self.refresher
        frame = self.model.frame(
            force, refresh_hz=refresher.hz, refresh_ms=refresher.recent_ms if refresher.count else None
        )
        empty_text = _empty_text(frame.status)
        for chart in (*self.charts, self.macd, self.rsi):
            chart.set_empty_text(empty_text)
        if frame.series is not None:
            candles = self.candles
            candles.update(frame.series, symbol=frame.symbol, timeframe=frame.timeframe, force=force)
            self.macd.update(frame.series, candles.window, candles.domain, force=force)
            self.rsi.update(frame.series, candles.window, candles.domain, force=force)
            self.signal.update(frame.signal, force=force)
            self.confluence.update(frame.confluence, force=force)
            self.consensus.update(frame.consensus, force=force)
            self.alerts.update(frame.alerts, force=force)
            self.mid.set_symbol(frame.symbol)
            self.mid.update(frame.book, force=force)
            self.imbalance.update(frame.book, force=force)
            self.depth.update(frame.view, force=force)
            self.ladder.update(frame.view, force=force)
            self.trades.update(frame.trades, force=force)
            self.tiles.update(frame.tiles)
            self.venues.update(frame.venues, force=force)
            self.derivatives.update(frame.derivatives, force=force)
            if frame.watch:
                self.watchlist.update(frame.watch)
        self.status.update(frame.status, frame.info, frame.sources)
        self.feeds.update(frame.feeds)
        if self.status_log is not None:
            self.status_log.note(frame.sources)
        self.log_panel.update()


def _empty_text(status: Any) -> str:
    """What a chart with no data says: the source's error when there is one, else that it waits."""
    if getattr(status, "state", "") == "error":
        reason = getattr(status, "reason", "") or "the source failed"
        return f"no data: {reason}"
    return WAITING


__all__ = ["MonitorApp"]
