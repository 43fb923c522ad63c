"""Confluence and consensus in a session: the ``Confluence`` and ``Consensus`` events and ``ConfluenceMaker``.

    maker = ConfluenceMaker(timeframes=("1m", "5m", "15m", "1h"), weights={"sentiment": 0})
    session = Session(source, timeframes=("1m", "5m", "15m", "1h"), consumers=[maker])
    session.cache.latest(Confluence, key, "5m")     # the 5m score and its six sub-scores (open bar included)
    session.cache.history(Confluence, key, "5m")    # the closed bars' scores
    session.cache.latest(Consensus, key)             # BUY / SELL / NEUTRAL, confidence, strength, votes

For every closed bar of its timeframes the maker updates that (exchange, symbol, timeframe)'s
``ConfluenceScore`` and emits a ``Confluence`` (published on ``confluence.<exchange>.<symbol>.<tf>``),
then the symbol's ``MultiTimeframeConsensus`` and emits a ``Consensus`` (``consensus.<exchange>.<symbol>``).
Both carry ``ts_event`` = the bar's **close** time (open + timeframe: when the values became known) and
the bar's ``ts_recv``.

Open bars: at most once per ``open_bar_interval`` seconds of **event time** per symbol (default 1; 0 or
None: never), on a trade or book view of the symbol, the maker previews the open bar of every timeframe
that has a score: a ``Confluence`` with ``final=False`` per timeframe (``ConfluenceScore.preview``: the
value as if the open bar closed now, the book as of now), then a ``Consensus`` with ``final=False`` whose
previewed timeframes vote with those values and the others with their last closed bar
(``MultiTimeframeConsensus.preview``). Both carry ``ts_event`` = the event time of the trade or view
that was due (before the bar's close). Previews change no state: the closed-bar values are the same with
or without them, and the same input gives the same previews. The cache keeps a preview as the latest
value (a gauge shows it) but not in the history, and the hub publishes it on ``confluence_open.*`` /
``consensus_open.*``; alert rules ignore previews unless asked (``provisional=True``).

Order: the bars one trade closes (several timeframes, gap-filled empty bars) and a source's history
bars are held until the next trade or book view (or the end of the run) and handled in (close time,
timeframe length) order, the order of the batch ``mdx.analytics.consensus.consensus``: a session gives the
values the batch functions give on its bars.

Order book: the bar's order-book sub-score reads the symbol's latest in-sync ``BookView`` with
``ts_event`` before the bar's close and at most ``book_max_age_s`` older (none: the dimension is
excluded). Sentiment: the symbol's latest ``Funding`` rate and ``OpenInterest`` (amount, else value) seen
before the bar's close, from a live source following those channels (a perpetual); without them the
dimension is excluded.

Both events are cached (``cache.latest``) and published; recordings keep ``Confluence`` (``Consensus`` is
not recorded: its votes are recomputed from the bars).

Bad input never stops the session: a bar the score refuses (``InvalidValue``: a NaN or non-positive
price) is counted in ``rejections`` and skipped, the others go on.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..channel_events import Funding, OpenInterest
from ..consumer import Consumer
from ..errors import ConfigError, DataError
from ..events import Bar, Trade, register_event
from ..market.book import BookView
from ..stats import Rejections
from .confluence import ConfluenceParams, ConfluenceScore, confluence_weights
from .consensus import MultiTimeframeConsensus

NAN = math.nan

log = logging.getLogger("mdx.analytics")
Key = tuple[str, str]
VIEWS_KEPT = 256  # book views kept per symbol to find the one before a bar's close


@dataclass(frozen=True, slots=True)
class Confluence:
    exchange: str
    symbol: str
    ts_event: int  # the bar's close time (open + timeframe)
    ts_recv: int
    timeframe: str
    score: float  # 0-100, NaN through the warm-up
    technical: float  # the six sub-scores in [0, 1]; NaN when excluded (no data)
    volume: float
    order_flow: float
    order_book: float
    structure: float
    sentiment: float
    label: str  # "strong sell", "sell", "neutral", "buy", "strong buy"; "" while NaN
    final: bool = True  # False: a provisional value with the open bar (see the module docstring)


@dataclass(frozen=True, slots=True)
class Consensus:
    exchange: str
    symbol: str
    ts_event: int  # close time of the bar that updated it
    ts_recv: int
    signal: str  # "BUY", "SELL", "NEUTRAL"
    confidence: float
    strength: float
    votes: tuple[tuple[str, str], ...]  # (timeframe, "BUY" / "SELL" / "NEUTRAL" / "" no score yet)
    final: bool = True  # False: a provisional value with the open bars (see the module docstring)


register_event(
    Confluence, "confluence", "confluence", sub="timeframe", open_flag="final", open_topic="confluence_open"
)
# not recorded: the codec of recordings keeps flat fields and level lists, not a tuple of (timeframe, vote)
# pairs; a recording's bars give the consensus again
register_event(
    Consensus, "consensus", "consensus", recorded=False, open_flag="final", open_topic="consensus_open"
)


class ConfluenceMaker(Consumer):
    """Confluence per timeframe and multi-timeframe consensus per symbol (see the module docstring).

    ``weights``: the confluence dimensions' weights; ``params``: ``ConfluenceParams``;
    ``timeframe_weights``, ``buy_above``, ``sell_below``, ``agree``: the consensus's (see
    ``mdx.analytics.consensus``); ``symbols``: only these (None: every symbol); ``open_bar_interval``:
    seconds of event time between previews of the open bars (0 or None: none)."""

    takes = (Bar, BookView, Trade, Funding, OpenInterest)

    def __init__(
        self,
        timeframes: Iterable[str] = ("1m", "5m", "15m", "1h"),
        *,
        weights: Mapping[str, float] | None = None,
        params: ConfluenceParams | None = None,
        timeframe_weights: Mapping[str, float] | None = None,
        buy_above: float = 60.0,
        sell_below: float = 40.0,
        agree: float = 0.5,
        symbols: Sequence[str] | None = None,
        book_max_age_s: float = 10.0,
        open_bar_interval: float | None = 1.0,
    ) -> None:
        confluence_weights(weights)  # ConfigError now rather than at the first bar
        self.weights = dict(weights) if weights is not None else None
        self.params = params if params is not None else ConfluenceParams()
        ConfluenceScore(self.weights, self.params)  # checks params
        self._consensus_args: dict[str, Any] = {
            "weights": timeframe_weights, "buy_above": buy_above, "sell_below": sell_below, "agree": agree
        }  # fmt: skip
        template = MultiTimeframeConsensus(timeframes, **self._consensus_args)
        self.timeframes = template.timeframes
        self._lengths = template.rules.lengths
        self._rank = {tf: k for k, tf in enumerate(self.timeframes)}
        self.symbols = frozenset(symbols) if symbols is not None else None
        if (
            isinstance(book_max_age_s, bool)
            or not isinstance(book_max_age_s, int | float)
            or book_max_age_s < 0
        ):
            raise ConfigError(f"book_max_age_s must be a number >= 0, got {book_max_age_s!r}")
        self._max_age_ns = int(book_max_age_s * 1e9)
        self._preview_every_ns = _interval_ns(open_bar_interval)
        self.rejections = Rejections()
        self._scores: dict[tuple[str, str, str], ConfluenceScore] = {}
        self._consensus: dict[Key, MultiTimeframeConsensus] = {}
        self._views: dict[Key, deque[BookView]] = {}
        self._funding: dict[Key, float] = {}  # the latest funding rate per (exchange, symbol)
        self._open_interest: dict[Key, float] = {}
        self._pending: list[Bar] = []
        self._open: dict[tuple[str, str, str], Bar] = {}  # the latest open bar per (exchange, symbol, tf)
        self._preview_due: dict[Key, int] = {}

    def on_event(self, event: Any) -> None:
        if type(event) is Bar:
            if event.timeframe in self._lengths and self._wanted(event.symbol):
                if event.closed:
                    self._pending.append(event)
                elif self._preview_every_ns:
                    self._open[(event.exchange, event.symbol, event.timeframe)] = event
            return
        if self._pending:
            self.flush()
        if not self._wanted(event.symbol):
            return
        if type(event) is Funding:
            self._funding[(event.exchange, event.symbol)] = event.rate
        elif type(event) is OpenInterest:
            amount = event.amount if event.amount == event.amount else event.value  # NaN: the value
            self._open_interest[(event.exchange, event.symbol)] = amount
        if type(event) is BookView and event.in_sync:
            views = self._views.get((event.exchange, event.symbol))
            if views is None:
                views = self._views[(event.exchange, event.symbol)] = deque(maxlen=VIEWS_KEPT)
            views.append(event)
        if self._preview_every_ns:
            key = (event.exchange, event.symbol)
            now = event.ts_event
            if now >= self._preview_due.get(key, now):
                self._preview_due[key] = now + self._preview_every_ns
                self._preview(key, now, event.ts_recv)

    def close(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Handle the held closed bars in (close time, timeframe length) order."""
        pending, self._pending = self._pending, []
        lengths, rank = self._lengths, self._rank
        pending.sort(key=lambda bar: (bar.ts_event + lengths[bar.timeframe], rank[bar.timeframe]))
        for bar in pending:
            self._on_closed_bar(bar)

    def score(self, exchange: str, symbol: str, timeframe: str) -> ConfluenceScore | None:
        """The streaming score of one (exchange, symbol, timeframe), once it has seen a bar."""
        return self._scores.get((exchange, symbol, timeframe))

    def _wanted(self, symbol: str) -> bool:
        return self.symbols is None or symbol in self.symbols

    def _on_closed_bar(self, bar: Bar) -> None:
        key = (bar.exchange, bar.symbol)
        tf = bar.timeframe
        close_ns = bar.ts_event + self._lengths[tf]
        scorer = self._scores.get((*key, tf))
        if scorer is None:
            scorer = self._scores[(*key, tf)] = ConfluenceScore(self.weights, self.params)
        try:
            value = scorer.update(bar, self._book_before(key, close_ns), *self._sentiment_inputs(key))
        except DataError as error:
            self.rejections.add(error)
            return
        self.emit(Confluence(bar.exchange, bar.symbol, close_ns, bar.ts_recv, tf, *value))
        consensus = self._consensus.get(key)
        if consensus is None:
            consensus = self._consensus[key] = MultiTimeframeConsensus(
                self.timeframes, **self._consensus_args
            )
        c = consensus.update(tf, value.score)
        self.emit(Consensus(bar.exchange, bar.symbol, close_ns, bar.ts_recv, c.signal, c.confidence,
                            c.strength, c.votes))  # fmt: skip

    def _sentiment_inputs(self, key: Key) -> tuple[float, float]:
        return self._funding.get(key, NAN), self._open_interest.get(key, NAN)

    def _preview(self, key: Key, now: int, ts_recv: int) -> None:
        """Emit the provisional ``Confluence`` of each timeframe's open bar at ``now``, then the provisional
        ``Consensus`` (see the module docstring)."""
        book = self._book_before(key, now + 1)
        scores: dict[str, float] = {}
        for tf in self.timeframes:
            bar = self._open.get((*key, tf))
            scorer = self._scores.get((*key, tf))
            if bar is None or scorer is None or not bar.ts_event <= now < bar.ts_event + self._lengths[tf]:
                continue  # no closed bar yet, or the open bar's time is over (its close comes next)
            try:
                value = scorer.preview(bar, book, *self._sentiment_inputs(key))
            except DataError:
                continue  # the bar is counted in the rejections once, when it closes
            scores[tf] = value.score
            self.emit(Confluence(key[0], key[1], now, ts_recv, tf, *value, False))
        consensus = self._consensus.get(key)
        if scores and consensus is not None:
            c = consensus.preview(scores)
            self.emit(Consensus(key[0], key[1], now, ts_recv, c.signal, c.confidence, c.strength, c.votes,
                                False))  # fmt: skip

    def _book_before(self, key: Key, close_ns: int) -> BookView | None:
        """The latest kept view of ``key`` before ``close_ns``, if at most ``book_max_age_s`` old."""
        views = self._views.get(key)
        if not views:
            return None
        for view in reversed(views):
            if view.ts_event < close_ns:
                return view if close_ns - view.ts_event <= self._max_age_ns else None
        return None


def _interval_ns(seconds: float | None) -> int:
    """``open_bar_interval`` in ns (0: no previews); ``ConfigError`` unless None or a number >= 0."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < math.inf:
        raise ConfigError(f"open_bar_interval must be a number of seconds >= 0 or None, got {seconds!r}")
    return int(seconds * 1e9)


__all__ = ["Confluence", "ConfluenceMaker", "Consensus"]
