"""Backfill: an exchange's past candles (and trades) paged into the store — resumable, idempotent, and
the holes in the exchange's own history reported.

    report = await backfill(store, "binance", "BTC/USDT", "1m", since_ms, until_ms, trades=True)
    report = run_backfill(store, "binance", "BTC/USDT", "1m", since_ms)   # blocking: scripts, the CLI

(in a notebook cell ``await backfill(...)``: ``run_backfill`` refuses to run inside an event loop.)

How it pages: ccxt's async REST client with ``enableRateLimit`` (ccxt spaces the requests to the
exchange's rate limit; ``mdx.sources.live.history_pages``), pointed where ``Settings.ccxt_config``
says (``MDX_<EXCHANGE>_CCXT_OPTIONS``: urls, options; credentials) unless ``ccxt_config`` is given.
Candles are asked for ``page_limit`` at a time (1000 on Binance) from a cursor that moves past the last
bar of each page; each page is committed before the next is asked for. Only closed bars are fetched
(opening before ``until`` and a whole timeframe before now). They are stored as exchange-built bars
(``source="exchange"``). With ``trades=True``, past trades too, in windows of at most an hour (Binance's
``aggTrades``), a full page moving the cursor to its last trade's millisecond.

- **Resumable**: rows already stored in ``[since, until)`` count as fetched: a run asks only for the
  stretch after the last stored row (and, if ``since`` lies before the first stored row, the stretch
  before it: an earlier ``since`` extends the history backwards; when the exchange has nothing there,
  that costs one request). As pages are committed in order, an interrupted run leaves no hole: the next
  run carries on from where it stopped, and ends with the same rows as an uninterrupted one.
- **Idempotent**: the store keys bars by (symbol, timeframe, source, open time, exchange) and trades by
  (exchange, symbol, id): a row fetched twice is stored once (``*_duplicates`` in the report).
- **Rate limits**: an HTTP 429 / 418 (``RateLimited``) or a network failure (``SourceUnavailable``) is
  retried after ``backoff`` (exponential, jittered), never sooner than the ``Retry-After`` the exchange
  sent (capped at ``RETRY_AFTER_MAX`` s), up to ``max_retries`` times in a row; then it raises. Final
  errors (a bad request, an unknown symbol, HTTP 451) raise at once. Either way what was committed stays.
- **Gaps**: ``report.gaps`` lists the holes between stored bars of the range as ``(start_ms, end_ms)``:
  the bars opening at ``start_ms``, ``start_ms + timeframe``, ... before ``end_ms`` are missing (the
  exchange has none: maintenance, outages). Read from the store after the run, so a resumed run reports
  what an uninterrupted one does. Only holes between bars count: nothing before the first bar (the
  market may be younger than ``since``) or after the last. ``report.trade_gaps``: for exchanges whose
  trade ids are consecutive numbers (Binance's aggregate trades), ``(prev_ms, next_ms)`` where ids jump.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tqdm.auto import tqdm

from ..backoff import Backoff
from ..clock import Clock, LiveClock
from ..config import Settings
from ..errors import ConfigError, ExchangeUnreachable, RateLimited, SourceUnavailable
from ..market.timeframes import timeframe_ns
from ..sources.live.history_pages import TRADE_WINDOW_MS, HistoryPages
from ..stats import Rejections
from . import reader
from .store import Store, WriteResult, open_store

log = logging.getLogger("mdx.store.backfill")

T = TypeVar("T")
MS = 1_000_000  # ns per ms
RETRY_BACKOFF = Backoff(initial=1.0, factor=2.0, cap=60.0)
RETRY_AFTER_MAX = 300.0  # s: the longest Retry-After honoured
CONSECUTIVE_TRADE_IDS = frozenset({"binance"})  # exchanges whose (aggregate) trade ids count up by one
Span = tuple[int, int]  # (start_ms, end_ms), end exclusive


@dataclass(frozen=True, slots=True)
class BackfillReport:
    """What one backfill did. Times in ms since the epoch (UTC); ranges end exclusive.

    ``until_ms``: where the range ended (``until``, or now); ``bars_*`` / ``trades_*``: rows fetched and
    stored / already there; ``requests``: pages asked for (retries included); ``retries``: of those, the
    retried ones, after waiting ``waited_s`` in all; ``resumed_from_ms``: where bars were fetched from
    after the rows already stored (None: nothing was stored in the range before); ``first_bar_ms`` /
    ``last_bar_ms``: the stored bars of the range; ``gaps`` / ``trade_gaps``: see the module docstring;
    ``rejected``: bad rows by reason; ``notes``: what else a user should know.
    """

    exchange: str
    symbol: str
    timeframe: str | None
    since_ms: int
    until_ms: int
    bars_stored: int = 0
    bars_duplicates: int = 0
    trades_stored: int = 0
    trades_duplicates: int = 0
    requests: int = 0
    retries: int = 0
    waited_s: float = 0.0
    resumed_from_ms: int | None = None
    trades_resumed_from_ms: int | None = None
    first_bar_ms: int | None = None
    last_bar_ms: int | None = None
    gaps: tuple[Span, ...] = ()
    trade_gaps: tuple[Span, ...] = ()
    rejected: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def missing_bars(self) -> int:
        """Bars missing in ``gaps``."""
        if not self.timeframe:
            return 0
        tf_ms = timeframe_ns(self.timeframe) // MS
        return sum((end - start) // tf_ms for start, end in self.gaps)

    def summary(self) -> str:
        """A few lines for a terminal."""
        lines = [
            f"{self.exchange} {self.symbol}: {_iso(self.since_ms)} .. {_iso(self.until_ms)}, "
            f"{self.requests} requests ({self.retries} retried, {self.waited_s:.1f} s waited)"
        ]
        if self.timeframe:
            resumed = f", resumed at {_iso(self.resumed_from_ms)}" if self.resumed_from_ms is not None else ""
            lines.append(
                f"  {self.timeframe} bars: {self.bars_stored} stored, {self.bars_duplicates} already there"
                f"{resumed}; {len(self.gaps)} gaps in the exchange's history ({self.missing_bars} bars)"
            )
            lines += [f"    missing {_iso(a)} .. {_iso(b)}" for a, b in self.gaps[:20]]
            if len(self.gaps) > 20:
                lines.append(f"    ... and {len(self.gaps) - 20} more")
        if self.trades_stored or self.trades_duplicates or self.trades_resumed_from_ms is not None:
            lines.append(
                f"  trades: {self.trades_stored} stored, {self.trades_duplicates} already there; "
                f"{len(self.trade_gaps)} gaps in the trade ids"
            )
        if self.rejected:
            lines.append(f"  rejected rows: {self.rejected}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def _iso(ms: int | None) -> str:
    import pandas as pd

    return "-" if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC").isoformat().replace("+00:00", "Z")


def to_ms(value: reader.When, what: str = "time") -> int:
    """ms since the epoch of a date, datetime, ISO string (naive: UTC) or int ms."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    ns = reader.to_ns(value, what)
    if ns is None:
        raise ConfigError(f"{what}: a time is needed")
    return ns // MS


class _Run:
    """One backfill's state: the pages client, the retry loop, counters."""

    def __init__(
        self,
        store: Store,
        pages: HistoryPages,
        symbol: str,
        clock: Clock,
        backoff: Backoff,
        max_retries: int,
        rng: random.Random | None,
        progress: bool,
    ) -> None:
        self.store = store
        self.pages = pages
        self.exchange = pages.exchange_id
        self.symbol = symbol
        self.clock = clock
        self.backoff = backoff
        self.max_retries = max_retries
        self.rng = rng
        self.progress = progress
        self.rejections = Rejections()
        self.requests = 0
        self.retries = 0
        self.waited_s = 0.0
        self.reached = False  # an answer came: from then on an unreachable exchange is retried
        self.notes: list[str] = []

    async def retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``await call()``, retried after a backoff on ``SourceUnavailable`` (``RateLimited``: not before
        its ``retry_after``), at most ``max_retries`` times in a row. An exchange never reached (no
        network, DNS, refused) fails at once: retrying for minutes would only hide that."""
        attempt = 0
        while True:
            self.requests += 1
            try:
                result = await call()
            except SourceUnavailable as error:
                attempt += 1
                if isinstance(error, ExchangeUnreachable) and not self.reached:
                    raise
                if attempt > self.max_retries:
                    log.error("%s: gave up after %d retries: %s", what, self.max_retries, error)
                    raise
                delay = self.backoff.delay(attempt, self.rng)
                if isinstance(error, RateLimited) and error.retry_after is not None:
                    delay = max(delay, min(error.retry_after, RETRY_AFTER_MAX))
                log.warning("%s: %s; retry %d in %.2f s", what, error, attempt, delay)
            else:
                self.reached = True
                return result
            self.retries += 1
            self.waited_s += delay
            await self.clock.sleep_until(self.clock.now_ns() + int(delay * 1e9))

    # -- bars ----------------------------------------------------------------------------------------

    async def bars(self, timeframe: str, spans: list[Span], limit: int) -> WriteResult:
        tf_ms = timeframe_ns(timeframe) // MS
        total = sum(-(-(end - start) // tf_ms) for start, end in spans)
        written = WriteResult()
        desc = f"{self.exchange} {self.symbol} {timeframe}"
        with tqdm(total=total, unit="bar", desc=desc, disable=not self.progress) as bar_progress:
            for start, end in spans:
                cursor = start
                while cursor < end:
                    call = functools.partial(
                        self.pages.candles,
                        self.symbol,
                        timeframe,
                        cursor,
                        end - 1,
                        limit,
                        self.clock.now_ns(),
                        self.rejections,
                    )
                    page = await self.retrying(f"{desc} candles from {_iso(cursor)}", call)
                    if not page:
                        bar_progress.update(-(-(end - cursor) // tf_ms))
                        break
                    result = self.store.write_bars(page, source="exchange")
                    _merge(written, result)
                    after = page[-1].ts_event // MS + tf_ms
                    bar_progress.update(min(after, end) // tf_ms - cursor // tf_ms)
                    cursor = after
        return written

    # -- trades --------------------------------------------------------------------------------------

    async def trades(self, spans: list[Span], limit: int) -> WriteResult:
        written = WriteResult()
        total_s = sum(end - start for start, end in spans) // 1000
        desc = f"{self.exchange} {self.symbol} trades"
        with tqdm(total=total_s, unit="s", desc=desc, disable=not self.progress) as progress:
            for start, end in spans:
                cursor = start
                while cursor < end:
                    window_end = min(cursor + TRADE_WINDOW_MS, end)
                    call = functools.partial(
                        self.pages.trades,
                        self.symbol,
                        cursor,
                        window_end - 1,
                        limit,
                        self.clock.now_ns(),
                        self.rejections,
                    )
                    page, sent = await self.retrying(f"{desc} from {_iso(cursor)}", call)
                    if page:
                        _merge(written, self.store.write_trades(page))
                    before = cursor
                    if sent >= limit and page:
                        last_ms = page[-1].ts_event // MS
                        if last_ms > cursor:
                            cursor = last_ms  # the next page from this ms: the store skips what it has
                        else:
                            cursor += 1
                            self.notes.append(
                                f"more than {limit} trades at {_iso(last_ms)}: some of that ms may be missing"
                            )
                    else:
                        cursor = window_end
                    progress.update(cursor // 1000 - before // 1000)
        return written


def _merge(into: WriteResult, more: WriteResult) -> None:
    for name in ("stored", "duplicates", "rejected"):
        counts: dict[str, int] = getattr(into, name)
        for table, n in getattr(more, name).items():
            counts[table] = counts.get(table, 0) + n
    into.errors.extend(more.errors[: max(0, 20 - len(into.errors))])


def _count_refused(run: _Run, written: WriteResult) -> None:
    """Rows the store refused (past the checks of the mapping), in the run's rejections."""
    errors = written.errors or ["refused by the store"]
    for i in range(sum(written.rejected.values())):
        run.rejections.add("StoreRejected", errors[min(i, len(errors) - 1)])


def _stored_span(
    store: Store, table: str, where: str, params: tuple[Any, ...], start_ms: int, end_ms: int
) -> tuple[int, int] | None:
    """(first, last) stored ``ts`` in ms of the rows of ``table`` matching ``where`` in the range."""
    sql = f"SELECT MIN(ts), MAX(ts) FROM {table} WHERE {where} AND ts >= ? AND ts < ?"
    with reader.connect(store.path) as conn:
        first, last = conn.execute(sql, (*params, start_ms * MS, end_ms * MS)).fetchone()
    return None if first is None else (first // MS, last // MS)


BAR_KEY = "exchange = ? AND symbol = ? AND timeframe = ? AND source = 'exchange'"
TRADE_KEY = "exchange = ? AND symbol = ?"


def _todo(stored: tuple[int, int] | None, since_ms: int, end_ms: int, step_ms: int) -> list[Span]:
    """The stretches of ``[since_ms, end_ms)`` still to fetch, given the stored ``(first, last)``: the
    part before the first row and the part from ``last + step_ms``."""
    if stored is None:
        return [(since_ms, end_ms)] if since_ms < end_ms else []
    first, last = stored
    spans = [(since_ms, first)] if since_ms < first else []
    if last + step_ms < end_ms:
        spans.append((last + step_ms, end_ms))
    return spans


def bar_gaps(
    store: Store, exchange: str, symbol: str, timeframe: str, start_ms: int, end_ms: int
) -> list[Span]:
    """Holes between the stored exchange-built bars of ``[start_ms, end_ms)``: ``(first missing open,
    next stored open)`` in ms."""
    tf_ns = timeframe_ns(timeframe)
    sql = f"""
        SELECT prev, ts FROM (
            SELECT ts, LAG(ts) OVER (ORDER BY ts) AS prev FROM bars
            WHERE {BAR_KEY} AND ts >= ? AND ts < ?
        ) WHERE ts - prev > ? ORDER BY ts"""
    params = (exchange, symbol, timeframe, start_ms * MS, end_ms * MS, tf_ns)
    with reader.connect(store.path) as conn:
        return [((prev + tf_ns) // MS, ts // MS) for prev, ts in conn.execute(sql, params)]


def trade_gaps(store: Store, exchange: str, symbol: str, start_ms: int, end_ms: int) -> list[Span] | None:
    """``(prev_ms, next_ms)`` where the numeric trade ids of ``[start_ms, end_ms)`` jump by more than one;
    None when some ids are not whole numbers (no such check possible)."""
    where = f"{TRADE_KEY} AND ts >= ? AND ts < ?"
    params = (exchange, symbol, start_ms * MS, end_ms * MS)
    odd = f"SELECT COUNT(*) FROM trades WHERE {where} AND (id = '' OR id GLOB '*[^0-9]*')"
    sql = f"""
        SELECT prev_ts, ts FROM (
            SELECT ts, CAST(id AS INTEGER) AS n,
                   LAG(ts) OVER w AS prev_ts, LAG(CAST(id AS INTEGER)) OVER w AS prev_n
            FROM trades WHERE {where} WINDOW w AS (ORDER BY CAST(id AS INTEGER))
        ) WHERE n - prev_n > 1 ORDER BY n"""
    with reader.connect(store.path) as conn:
        if conn.execute(odd, params).fetchone()[0]:
            return None
        return [(prev // MS, ts // MS) for prev, ts in conn.execute(sql, params)]


async def backfill(
    store: Store | str,
    exchange_id: str,
    symbol: str,
    timeframe: str | None = "1m",
    since_ms: int | reader.When = None,
    until_ms: int | reader.When = None,
    *,
    trades: bool = False,
    ccxt_config: Mapping[str, Any] | None = None,
    progress: bool = False,
    clock: Clock | None = None,
    backoff: Backoff = RETRY_BACKOFF,
    max_retries: int = 8,
    page_limit: int | None = None,
    rng: random.Random | None = None,
    native_klines: bool = True,
) -> BackfillReport:
    """Fetch ``symbol``'s closed ``timeframe`` bars (None: none) of ``[since_ms, until_ms)`` (until None:
    now) from ``exchange_id`` into ``store`` — and its trades with ``trades=True`` — and report what was
    done (see the module docstring). ``since_ms`` / ``until_ms``: ms, or a date / ISO string (UTC).

    ``ccxt_config``: the ccxt constructor options (None: ``Settings.from_env().ccxt_config(exchange_id)``);
    ``progress``: show tqdm progress bars (terminal or notebook); ``clock``: now and the waits between
    retries (a ``SimulatedClock`` in tests); ``page_limit``: rows per request (None: the exchange's
    largest); ``native_klines``: Binance spot's own klines (quote volume, trade count, taker buys)
    rather than ccxt's plain OHLCV. Raises ``SourceError`` (and children) when the exchange fails for
    good, ``ConfigError`` for bad arguments; what was stored before stays."""
    if since_ms is None:
        raise ConfigError("backfill: since is needed (a date, an ISO time or ms)")
    if timeframe is None and not trades:
        raise ConfigError("backfill: nothing to fetch (no timeframe and trades=False)")
    if max_retries < 0:
        raise ConfigError(f"max_retries must be >= 0, got {max_retries!r}")
    if page_limit is not None and page_limit < 1:
        raise ConfigError(f"page_limit must be >= 1, got {page_limit!r}")
    clock = clock or LiveClock()
    since = to_ms(since_ms, "since")
    now_ms = clock.now_ns() // MS
    end = to_ms(until_ms, "until") if until_ms is not None else now_ms
    if end <= since:
        raise ConfigError(f"backfill: until ({_iso(end)}) must be after since ({_iso(since)})")
    tf_ms = timeframe_ns(timeframe) // MS if timeframe else 0
    bars_end = min(end, now_ms // tf_ms * tf_ms) if tf_ms else end  # closed bars only
    trades_end = min(end, now_ms)  # nothing to ask for in the future
    config = dict(ccxt_config) if ccxt_config is not None else Settings.from_env().ccxt_config(exchange_id)
    store = open_store(store)
    report: dict[str, Any] = {}
    async with HistoryPages(exchange_id, config, native_klines=native_klines) as pages:
        run = _Run(store, pages, symbol, clock, backoff, max_retries, rng, progress)
        await run.retrying(f"{exchange_id} markets", functools.partial(pages.load, symbol, timeframe))
        run.requests = 0  # pages only from here
        if timeframe:
            stored = _stored_span(store, "bars", BAR_KEY, (exchange_id, symbol, timeframe), since, bars_end)
            spans = _todo(stored, since, bars_end, tf_ms)
            if stored is not None and spans and spans[-1][0] > since:
                report["resumed_from_ms"] = spans[-1][0]
            written = await run.bars(timeframe, spans, page_limit or pages.page_limit("fetchOHLCV"))
            _count_refused(run, written)
            report["bars_stored"] = written.stored.get("bars", 0)
            report["bars_duplicates"] = written.duplicates.get("bars", 0)
        if trades:
            if pages.has_trade_history:
                stored = _stored_span(store, "trades", TRADE_KEY, (exchange_id, symbol), since, trades_end)
                spans = _todo(stored, since, trades_end, 0)
                if stored is not None and spans and spans[-1][0] > since:
                    report["trades_resumed_from_ms"] = spans[-1][0]
                written = await run.trades(spans, page_limit or pages.page_limit("fetchTrades"))
                _count_refused(run, written)
                report["trades_stored"] = written.stored.get("trades", 0)
                report["trades_duplicates"] = written.duplicates.get("trades", 0)
            else:
                run.notes.append(
                    f"{exchange_id} gives no past trades through ccxt (fetchTrades): none fetched"
                )
    if timeframe:
        span = _stored_span(store, "bars", BAR_KEY, (exchange_id, symbol, timeframe), since, bars_end)
        if span is not None:
            report["first_bar_ms"], report["last_bar_ms"] = span
        report["gaps"] = tuple(bar_gaps(store, exchange_id, symbol, timeframe, since, bars_end))
    if trades and exchange_id in CONSECUTIVE_TRADE_IDS:
        found = trade_gaps(store, exchange_id, symbol, since, trades_end)
        report["trade_gaps"] = tuple(found or ())
    return BackfillReport(
        exchange=exchange_id,
        symbol=symbol,
        timeframe=timeframe,
        since_ms=since,
        until_ms=end,
        requests=run.requests,
        retries=run.retries,
        waited_s=run.waited_s,
        rejected=dict(run.rejections.by_reason),
        notes=tuple(dict.fromkeys(run.notes)),
        **report,
    )


def run_backfill(*args: Any, **kwargs: Any) -> BackfillReport:
    """``backfill`` for scripts and the CLI: blocks until done. Inside a running event loop (a notebook
    cell) it refuses: ``await backfill(...)`` there."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(backfill(*args, **kwargs))
    raise ConfigError(
        "run_backfill blocks; inside a running event loop (a notebook) use: await backfill(...)"
    )


__all__ = [
    "RETRY_BACKOFF",
    "BackfillReport",
    "backfill",
    "bar_gaps",
    "run_backfill",
    "to_ms",
    "trade_gaps",
]
