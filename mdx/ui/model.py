"""The monitor's model: the session, the selection and the per-symbol incremental state. No widgets.

``MonitorModel.frame()`` reads cache snapshots and returns a ``MonitorFrame`` of plain values (bar
columns, the book-view table, the latest ``BookView``, trades, ``TileValues``, the watchlist's
``WatchValues``, the statuses, the z-score signal, confluence, consensus, alerts, the venue table, the
derivatives of a perpetual and the live feed lines) that ``MonitorApp`` hands to its panels. The model wires
an ``AlertEngine`` and a ``ConfluenceMaker`` into its session (unless the session has them already), and
with live exchanges a ``LatencyTracker`` and a ``VenueMonitor`` (``latency`` / ``venues``); ``add_rule`` /
``remove_rule`` change the engine's rules from any thread.
Neither this module nor anything it imports loads ipywidgets or bqplot, so the model runs (and is tested)
without a kernel::

    model = MonitorModel(Settings(symbols=("BTC/USDT",)), session=session)
    frame = model.frame()
    frame.tiles.last, frame.view.mid, frame.status.state
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..alerts import AlertEngine, Rule
from ..analytics.live import ConfluenceMaker
from ..cache import Cache, Key
from ..clock import Clock, LiveClock
from ..config import Settings, history_ns, redact_url
from ..errors import ConfigError, MdxError
from ..events import Trade
from ..market.latency import LatencyTracker
from ..market.venues import VenueMonitor, session_states
from ..session import Session, SessionStatus
from ..sources import make_sources
from .alerts_model import AlertTracker, alert_engine, make_rule
from .data import BOOK_FIELDS, BarArrays, BarSeries, Columns, book_columns
from .derivatives_model import NO_DERIVATIVES, DerivativesValues, derivative_key, derivatives_values
from .feeds_model import feed_lines
from .signals_model import SignalTracker, confluence_maker
from .tap import FeedTap, RateMeter
from .values import (
    AlertValues,
    ConfluenceValues,
    ConsensusValues,
    SignalValues,
    StatusInfo,
    TileValues,
    WatchValues,
)
from .venues_model import NO_VENUES, VenueTracker, VenueValues

log = logging.getLogger("mdx.ui")

SPARK_TRADES = 300  # trades in a watchlist sparkline
NO_BOOK = np.empty((0, len(BOOK_FIELDS)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class MonitorFrame:
    """What one refresh shows. ``series`` is None without a session (then only the statuses mean anything).

    ``series`` is the model's incremental bar columns (the candle chart reads its EMA from them);
    ``bars`` is their snapshot for this frame. ``book`` is a ``BOOK_FIELDS`` table, oldest row first;
    ``watch`` holds only the watchlist rows that are due and changed (often none).
    ``sources`` has each source's status; ``status`` sums them up.
    """

    symbol: str
    timeframe: str
    status: SessionStatus
    sources: tuple[SessionStatus, ...]
    info: StatusInfo
    series: BarSeries | None = None
    bars: BarArrays | None = None
    book: np.ndarray = field(default_factory=lambda: NO_BOOK)
    view: Any = None  # the latest BookView
    trades: Sequence[Trade] = ()
    tiles: TileValues = field(default_factory=TileValues)
    watch: Mapping[str, WatchValues] = field(default_factory=dict)
    signal: SignalValues = field(default_factory=SignalValues)
    confluence: ConfluenceValues = field(default_factory=ConfluenceValues)
    consensus: ConsensusValues = field(default_factory=ConsensusValues)
    alerts: AlertValues = field(default_factory=AlertValues)
    venues: VenueValues = NO_VENUES
    derivatives: DerivativesValues = NO_DERIVATIVES
    feeds: tuple[str, ...] = ()  # live feeds: polled streams, latency per venue, the REST cache


class MonitorModel:
    """The monitor's state for one ``Session`` (built from ``settings`` unless given): which symbol,
    timeframe and exchange are shown, and the incremental columns and meters per (exchange, symbol).

    A source that cannot be opened leaves ``session`` None and its error in ``source_error``.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        session: Session | None = None,
        symbol: str | None = None,
        timeframe: str | None = None,
        stale_after_s: float = 5.0,
        watch_interval_s: float = 1.0,
        signal_interval_s: float = 1.0,  # the signal, confluence and consensus panels: at most this often
        venue_interval_s: float = 1.0,  # venues, derivatives and feed lines: at most this often
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.source_error = ""
        self.latency: LatencyTracker | None = None
        self.venues: VenueMonitor | None = None
        self.session: Session | None = session if session is not None else self._make_session(self.settings)
        self.stale_after_ms = stale_after_s * 1e3
        self.watch_interval_s = watch_interval_s
        self.signal_interval_s = signal_interval_s
        self.venue_interval_s = venue_interval_s
        self._venue_values = VenueTracker(None, venue_interval_s)
        self._side_at: tuple[int, Any, DerivativesValues, tuple[str, ...]] = (0, None, NO_DERIVATIVES, ())
        self._signal_at: tuple[int, Any, dict[str, Any]] = (0, None, {})
        self.started = False
        self._series: dict[tuple[Key, str], BarSeries] = {}
        self._books: dict[Key, Columns] = {}
        self._meters: dict[Key, RateMeter] = {}
        self._total_meter = RateMeter()
        self._watch_tokens: dict[str, tuple[Any, Any]] = {}
        self._prices: dict[Key, Columns] = {}
        self._watch_ns = 0
        self.tap = self._attach_tap()
        self.alerts: AlertEngine | None = None
        self.confluence: ConfluenceMaker | None = None
        self._signals = SignalTracker()
        self._alert_values = AlertTracker(None)
        self._attach_analytics()
        self._check(symbol, timeframe)
        timeframes = self.timeframes
        self._symbol = symbol or self.symbols[0]
        self._timeframe = timeframe or ("1m" if "1m" in timeframes else timeframes[0])
        self._exchange = self._source_exchange()

    # -- the session -------------------------------------------------------------------------------------

    def _make_session(self, settings: Settings) -> Session | None:
        self.latency, self.venues = None, None
        try:
            sources = make_sources(settings)
        except MdxError as error:  # shown in the status line and the log, not as a traceback
            self.source_error = str(error)
            log.error("cannot open source %r: %s", redact_url(settings.source), error)
            return None
        self.source_error = ""
        try:
            session = Session(
                sources,
                timeframes=settings.timeframes,
                speed=settings.speed,
                store=settings.db or None,
                store_history_s=history_ns(settings.history) / 1e9 if settings.db else 0.0,
            )
        except MdxError as error:  # a bad --db must not take the monitor down: it runs without the store
            log.error("cannot use the store %r: %s; the monitor runs without it", settings.db, error)
            session = Session(sources, timeframes=settings.timeframes, speed=settings.speed)
        self._attach_venues(session, settings.live_exchanges)
        return session

    def _attach_venues(self, session: Session, exchanges: Sequence[str]) -> None:
        """With live exchanges: a ``LatencyTracker`` and a ``VenueMonitor`` (the exchanges' order is the
        composite's fallback chain) wired into ``session``; kept as ``latency`` / ``venues``."""
        self.latency, self.venues = None, None
        if not exchanges:
            return
        tracker = LatencyTracker(rejections=session.rejections)
        monitor = VenueMonitor(primary=tuple(exchanges), latency=tracker, rejections=session.rejections)
        session.add(tracker)
        session.add(monitor)
        monitor.status = session_states(session)
        self.latency, self.venues = tracker, monitor

    def _attach_analytics(self) -> None:
        """Wire the alert engine and the confluence maker into the session (reusing any it has)."""
        session = self.session
        if session is not None:  # a session given ready-made: use its tracker and venue monitor if any
            for consumer in session.consumers:
                if isinstance(consumer, LatencyTracker) and self.latency is None:
                    self.latency = consumer
                elif isinstance(consumer, VenueMonitor) and self.venues is None:
                    self.venues = consumer
        self.alerts = alert_engine(session) if session is not None else None
        self.confluence = confluence_maker(session) if session is not None else None
        self._signals = SignalTracker()
        self._signal_at = (0, None, {})
        self._alert_values = AlertTracker(self.alerts)
        self._venue_values = VenueTracker(self.venues, getattr(self, "venue_interval_s", 1.0))
        self._side_at = (0, None, NO_DERIVATIVES, ())

    def _attach_tap(self) -> FeedTap:
        clock: Clock = self.session.clock if self.session is not None else LiveClock()
        tap = FeedTap(clock)
        if self.session is not None:
            tap.attach(self.session.hub)
        return tap

    def _source_exchange(self) -> str:
        exchanges = self.session.exchanges if self.session is not None else ()
        first = exchanges[0] if exchanges else ""
        return first or self.settings.exchange or redact_url(self.settings.source)

    def start(self) -> None:
        """Start the engine thread (unless it runs) and count the feed."""
        self.started = True
        if self.session is not None:
            self.tap.attach(self.session.hub)
            if not self.session.running:
                self.session.start()

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()
        self.tap.detach()
        self.started = False

    def set_source(self, source: str) -> bool:
        """Switch the data source (``sim``, ``replay:PATH``, ...): stops the old session and builds (and,
        when started, starts) a new one with fresh state. False when ``source`` is already shown."""
        if source == self.settings.source and self.session is not None:
            return False
        if self.session is not None:
            self.session.stop()
        self.tap.detach()
        self.settings = replace(self.settings, source=source)
        self.session = self._make_session(self.settings)
        for state in (self._series, self._books, self._meters, self._watch_tokens, self._prices):
            state.clear()
        self._total_meter.reset()
        self.tap = self._attach_tap()
        self._attach_analytics()
        if self.session is not None and self.started:
            self.session.start()
        self._exchange = self._source_exchange()
        if self._symbol not in self.symbols:
            self._symbol = self.symbols[0]
        if self._timeframe not in self.timeframes:
            self._timeframe = self.timeframes[0]
        return True

    # -- selection ---------------------------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        symbols = self.session.symbols if self.session is not None else ()
        return symbols or self.settings.symbols

    @property
    def timeframes(self) -> tuple[str, ...]:
        if self.session is not None and self.session.timeframes:
            return self.session.timeframes
        return self.settings.timeframes

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def timeframe(self) -> str:
        return self._timeframe

    @property
    def exchange(self) -> str:
        return self._exchange

    @property
    def exchanges(self) -> tuple[str, ...]:
        """Every exchange the session streams (the selected one first when there is no session)."""
        exchanges = self.session.exchanges if self.session is not None else ()
        return exchanges or (self._exchange,)

    def exchange_for(self, symbol: str) -> str:
        """The exchange whose data shows for ``symbol``: the selected one when a source of it lists the
        symbol, else the first source's that does (a session may mix exchanges)."""
        if self.session is None:
            return self._exchange
        listing = [
            exchange
            for source in self.session.sources
            if symbol in source.symbols and symbol not in getattr(source, "unknown_symbols", ())
            for exchange in str(source.exchange).split(",")
            if exchange
        ]
        return self._exchange if not listing or self._exchange in listing else listing[0]

    @property
    def key(self) -> Key:
        return (self.exchange_for(self._symbol), self._symbol)

    def _check(self, symbol: str | None, timeframe: str | None) -> None:
        if symbol is not None and symbol not in self.symbols:
            raise ConfigError(f"symbol {symbol!r} is not configured; choose from {list(self.symbols)}")
        if timeframe is not None and timeframe not in self.timeframes:
            raise ConfigError(
                f"timeframe {timeframe!r} is not built by the session; choose from {list(self.timeframes)}"
            )

    def select(
        self, *, symbol: str | None = None, timeframe: str | None = None, exchange: str | None = None
    ) -> bool:
        """Show another symbol / timeframe / exchange; True when anything changed."""
        self._check(symbol, timeframe)
        changed = False
        if symbol is not None and symbol != self._symbol:
            self._symbol, changed = symbol, True
        if timeframe is not None and timeframe != self._timeframe:
            self._timeframe, changed = timeframe, True
        if exchange is not None and exchange != self._exchange:
            self._exchange, changed = exchange, True
        return changed

    # -- frames ------------------------------------------------------------------------------------------

    def frame(
        self, force: bool = False, *, refresh_hz: float = 0.0, refresh_ms: float | None = None
    ) -> MonitorFrame:
        """Read cache snapshots into the values every panel shows. ``force``: every watchlist row now
        (otherwise at most every ``watch_interval_s``, and only rows that changed). ``refresh_hz`` and
        ``refresh_ms`` are the refresh task's figures, for the status line."""
        session = self.session
        if session is None:
            status = SessionStatus(state="error", source=self.settings.source, reason=self.source_error)
            info = StatusInfo(refresh_hz=refresh_hz)
            return MonitorFrame(self._symbol, self._timeframe, status, (status,), info)
        cache = session.cache
        key, tf = self.key, self._timeframe
        now = session.clock.now_ns()
        series = self._series.get((key, tf))
        if series is None:
            series = self._series[(key, tf)] = BarSeries()
        partial = cache.open_bar(key, tf)
        series.sync(cache.bars(key, tf), partial)
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = book_columns()
        book.sync(cache.book_views(key))
        view = cache.book(key)
        trades = cache.trades(key)
        return MonitorFrame(
            symbol=self._symbol,
            timeframe=tf,
            status=session.status,
            sources=tuple(session.statuses.values()),
            info=self._status_info(session, now, refresh_hz, refresh_ms),
            series=series,
            bars=series.arrays,
            book=book.data,
            view=view,
            trades=trades,
            tiles=self._tile_values(key, now, view, trades, partial),
            watch=self._watch_values(cache, now, force),
            **self._signal_values(cache, series, key, tf, now, force),
            alerts=self._alert_values.update(),
            venues=self._venue_values.update(now, force),
            **self._side_values(session, key, now, force),
        )

    def _side_values(self, session: Session, key: Key, now: int, force: bool) -> dict[str, Any]:
        """The derivatives panel and the feed lines, read again at most every ``venue_interval_s`` (at
        once when the symbol changed or with ``force``)."""
        due, shown_key, derivatives, feeds = self._side_at
        if not force and shown_key == key and 0 <= due - now <= self.venue_interval_s * 1e9:
            return {"derivatives": derivatives, "feeds": feeds}
        cache = session.cache
        derivatives = derivatives_values(cache, derivative_key(cache, key, session.exchanges), now)
        latest = self.latency.latest() if self.latency is not None else None
        feeds = feed_lines(session.sources, latest)
        self._side_at = (now + int(self.venue_interval_s * 1e9), key, derivatives, feeds)
        return {"derivatives": derivatives, "feeds": feeds}

    # -- alert rules (any thread) ------------------------------------------------------------------------

    def add_rule(
        self, kind: str, symbol: str, level: object, *, option: str = "", cooldown: object = ""
    ) -> Rule:
        """Add an alert rule from the form's fields (see ``mdx.ui.alerts_model.make_rule``); a
        ``ConfigError`` saying what is wrong otherwise (no session, a bad number, a name taken...)."""
        if self.alerts is None:
            raise ConfigError(f"no alerts without a session: {self.source_error or 'no source'}")
        rule = make_rule(
            kind,
            symbol,
            level,
            option=option,
            cooldown=cooldown,
            timeframes=self.timeframes,
            default_timeframe=self._timeframe,
        )
        return self.alerts.add_rule(rule)

    def alert_values(self) -> AlertValues:
        """The alerts panel's values now (the same object while nothing changed)."""
        return self._alert_values.update()

    def remove_rule(self, name: str) -> bool:
        """Remove the alert rule named ``name``; False when there is none."""
        return self.alerts.remove_rule(name) if self.alerts is not None else False

    def _signal_values(
        self, cache: Cache, series: BarSeries, key: Key, tf: str, now: int, force: bool
    ) -> dict[str, Any]:
        """The z-score signal, the confluence and the consensus, read again at most every
        ``signal_interval_s`` (glance values, like the watchlist: the signal's open-bar value moves on every
        trade) unless forced or the selection changed; in between, the same objects (no redraw)."""
        at, selection, values = self._signal_at
        if not force and values and selection == (key, tf) and now - at < self.signal_interval_s * 1e9:
            return values
        signals = self._signals
        values = {
            "signal": signals.signal(series, self._symbol, tf),
            "confluence": signals.confluence(cache, key, tf),
            "consensus": signals.consensus(cache, key, self.confluence),
        }
        self._signal_at = (now, (key, tf), values)
        return values

    def _tile_values(
        self, key: Key, now: int, view: Any, trades: Sequence[Trade], partial: Any
    ) -> TileValues:
        last_trade = trades[-1] if trades else None
        meter = self._meters.get(key)
        if meter is None:
            meter = self._meters[key] = RateMeter()
        return TileValues(
            last=last_trade.price if last_trade is not None else None,
            change_pct=self._change_pct(key, last_trade, trades),
            bid=_top(view.bids) if view is not None else None,
            ask=_top(view.asks) if view is not None else None,
            spread_bps=_finite(view.spread_bps) if view is not None else None,
            imbalance=_finite(view.imbalance) if view is not None else None,
            bar_volume=partial.volume if partial is not None else None,
            timeframe=self._timeframe,
            rate=meter.update(now, self.tap.count.get(key, 0)),
            age_ms=self.tap.age_ms(key),
            stale_after_ms=self.stale_after_ms,
            symbol=key[1],
        )

    def _change_pct(self, key: Key, last_trade: Trade | None, trades: Sequence[Trade]) -> float | None:
        if last_trade is None:
            return None
        first = self.tap.first_price.get(key) or (trades[0].price if trades else None)
        return (last_trade.price / first - 1.0) * 100.0 if first else None

    def _watch_values(self, cache: Cache, now: int, force: bool) -> dict[str, WatchValues]:
        """At most every ``watch_interval_s`` (a glance view: calm, and cheap for the kernel), the rows
        whose last trade or book changed."""
        if not force and now - self._watch_ns < self.watch_interval_s * 1e9:
            return {}
        self._watch_ns = now
        values: dict[str, WatchValues] = {}
        for symbol in self.symbols:
            key = (self.exchange_for(symbol), symbol)
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
        return values

    def _status_info(
        self, session: Session, now: int, refresh_hz: float, refresh_ms: float | None
    ) -> StatusInfo:
        rejections = session.rejections
        top_reason = ""
        if rejections.total:
            top_reason = max(list(rejections.by_reason.items()), key=lambda item: item[1])[0]
        return StatusInfo(
            symbols=len(self.symbols),
            rate=self._total_meter.update(now, session.events_processed),
            events=session.events_processed,
            rejected=rejections.total,
            rejected_reason=top_reason,
            refresh_hz=refresh_hz,
            refresh_ms=refresh_ms,
            now_ns=now,
        )


def _trade_price(trade: Trade) -> tuple[float]:
    return (trade.price,)


def _top(levels: np.ndarray) -> float | None:
    return float(levels[0, 0]) if len(levels) else None


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


__all__ = ["SPARK_TRADES", "MonitorFrame", "MonitorModel"]
