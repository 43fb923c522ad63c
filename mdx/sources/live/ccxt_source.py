"""Live market data through ccxt.pro's unified ``watch_*`` methods (only this package imports ccxt).

``LiveSource("binance", ["BTC/USDT"])`` runs one task per (symbol, stream) — ``watch_trades`` and
``watch_order_book`` — that normalizes what ccxt returns and feeds one queue; ``stream()`` yields from it::

    ccxt trade  {"id", "timestamp" (ms), "price", "amount", "side", ...}   ─► Trade
    ccxt book   {"bids", "asks", "nonce", "timestamp" (ms)}  ─► BookSnapshot (top ``depth`` levels, seq=nonce)
                                                              └► Quote when the top of book changed

``history(timeframes, clock, rejections)`` fetches the closed bars before the stream (``fetch_ohlcv``, or
Binance's klines, which also give quote volume, trades and taker-buy volume; see ``history.py``), once,
before streaming, so charts open with history. The markets it loads are reused by the stream.

Failures, and what the status line shows (``on_status(state, reason, attempt, next_retry_ns)``):

- An exchange never reached since the stream began (DNS failure, connection refused, timeout: no HTTP
  answer, see ``failures.py``): ``reconnecting`` with "cannot reach binance (no network or DNS?): <host:port:
  cause>; try --source sim or a replay (--source replay:PATH)", retried with ``unreachable_backoff`` (1, 4,
  16 s, then about a minute) rather than hammering. Once data has flowed, network failures are ordinary
  reconnects with ``backoff``.
- HTTP 451, what Binance answers from a restricted region (ccxt raises ``ExchangeNotAvailable``, which it
  counts as retryable): a final ``error``, "binance is blocked in this region (HTTP 451); try ...", since no
  retry can change the region; the stream raises ``SourceError``.
- ``ccxt.NetworkError`` (timeouts, disconnects, 429 / ``DDoSProtection``, ``ExchangeNotAvailable``, and
  ``InvalidNonce`` / ``ChecksumError`` — a book sequence gap, after which ccxt resubscribes and resyncs from a
  REST snapshot) and ``ccxt.OperationFailed`` (garbled responses) are retried with ``Backoff``:
  ``reconnecting`` with the attempt number and the time of the next try; ``connected`` again after the next
  message. ccxt itself only backs off failed websocket dials, not data errors or REST failures.
- ``ccxt.BadSymbol`` → ``UnknownSymbol``; any other ``ccxt.ExchangeError`` (auth, not supported, ...) →
  ``SourceError``; status ``error`` and the stream raises.
- Bad data (None/NaN/negative prices, missing timestamps, duplicate trade ids, a frame ccxt's parser
  chokes on) is a counted rejection, never a crash.
- A stall watchdog: an exception inside ccxt's websocket message callback (e.g. a truncated JSON frame, or
  ``"p": "NaN"`` in a Binance trade) silently kills that connection's receive loop — no error, no data. A
  connection with no frame at all (data, ping or pong) for ``stall_timeout`` seconds is failed with
  ``RequestTimeout`` through ccxt's own error path, so the watchers reconnect.

``exchange.close()`` always runs when the stream or the history ends (error, ``aclose()``, cancellation).

Secrets in ``exchange_options`` (``apiKey``, ``secret``, ... — ``mdx.config.CREDENTIAL_KEYS``; usually from
``Settings``, see ``mdx.config``) never appear in ``repr``, logs, status reasons or errors:

- every message built from a ccxt error is redacted (each secret value replaced by ``***``);
- the errors the stream and the history raise carry no ``__cause__`` / ``__context__``: the ccxt exception
  they replace holds the unredacted text (ccxt quotes response bodies, which may echo the key), so they are
  raised outside the ``except`` block that caught it, and an unforeseen exception's traceback is logged
  redacted;
- ccxt logs request headers (``X-MBX-APIKEY``) at DEBUG on its logger: a filter masks those records;
- ccxt's ``verbose`` option ``print()``s the same headers to stdout, where nothing can mask them short of
  replacing ``sys.stdout`` for the whole process: with credentials, ``verbose=True`` is refused.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import math
import random
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro

from ...backoff import Backoff
from ...clock import Clock
from ...config import CREDENTIAL_KEYS
from ...errors import (
    ConfigError,
    DataError,
    ExchangeBlocked,
    ExchangeUnreachable,
    InvalidTimeframe,
    InvalidValue,
    MalformedFrame,
    MdxError,
    SourceError,
    SourceUnavailable,
    UnknownSymbol,
)
from ...events import (
    Bar,
    BookSnapshot,
    Event,
    Level,
    Levels,
    Quote,
    Trade,
    checked_levels,
    fast_constructor,
)
from ...market.timeframes import timeframe_ns
from ...market.trades import RecentTradeIds
from ...stats import Rejections
from ...store.cache import TTLCache
from ..base import each_event
from .channels import CHANNELS, CORE_CHANNELS, check_channels
from .failures import blocked_message, blocked_status, is_unreachable, retry_after_s, unreachable_message
from .history import BarReader, ccxt_trade, closed_bars, finite_number, kline_bar, ohlcv_bar
from .pumps import (
    Polling,
    channel_plan,
    fill_gap,
    poll_book,
    poll_trades,
    pump_channel,
    quote_of,
    watch_or_poll,
)
from .sequence import SEQUENCE_GUARDS

_make_snapshot = fast_constructor(BookSnapshot)  # a live book is a snapshot per frame
_make_quote = fast_constructor(Quote)
log = logging.getLogger("mdx.sources.live.ccxt_source")

T = TypeVar("T")
StatusCallback = Callable[..., None]

SECRET_KEYS = frozenset(CREDENTIAL_KEYS)
# Exceptions ccxt's parsers let escape on malformed exchange data (they reach us through rejected futures).
PARSE_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError)
REASON_MAX = 300
# retries while the exchange was never reached: 1, 4, 16 s, then about a minute (48-60 s with the jitter)
UNREACHABLE_BACKOFF = Backoff(initial=1.0, factor=4.0, cap=60.0)
NATIVE_KLINES = frozenset({"binance"})  # exchanges whose spot klines carry quote volume, trades, taker buys
KLINES_MAX = 1000  # Binance's largest kline page
TRADES_LIMIT = 50_000  # trades ccxt keeps per symbol between two reads of a watcher
INF = math.inf
MARKETS_TTL_S = 3600.0  # how long cached markets serve (listings change rarely)
HISTORY_ERROR = "HistoryError"  # the rejections reason of history left out (the session's name for it too)


class _Redactor(logging.Filter):
    """Masks secrets in records of a logger we do not own (ccxt logs request headers, API key included,
    at DEBUG on ``ccxt.base.exchange``)."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _detached(error: MdxError) -> MdxError:
    """``error`` without the exception chain it may have picked up (an unredacted ccxt error)."""
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error


class _Failure:
    """A fatal error from a watcher task, carried through the queue to the consumer."""

    __slots__ = ("error",)

    def __init__(self, error: MdxError) -> None:
        self.error = error


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What a failed ccxt call means: a ``fatal`` error to raise, or a ``reason`` to retry for (``slow``:
    with the unreachable backoff)."""

    fatal: MdxError | None = None
    reason: str = ""
    slow: bool = False
    wait_s: float = 0.0  # at least this long before the retry (the exchange's Retry-After)


class LiveSource:
    """A live exchange through ccxt.pro. See the module docstring for events, statuses and failures."""

    def __init__(
        self,
        exchange_id: str,
        symbols: Iterable[str],
        *,
        exchange_options: Mapping[str, Any] | None = None,
        depth: int = 50,
        book_limit: int | None = None,
        backoff: Backoff = Backoff(),  # noqa: B008 - frozen, immutable default
        rng: random.Random | None = None,
        stall_timeout: float | None = 60.0,
        max_attempts: int | None = None,
        queue_size: int = 10_000,
        unreachable_backoff: Backoff = UNREACHABLE_BACKOFF,
        history_bars: int = 300,
        native_klines: bool = True,
        history_ns: int | None = None,
        channels: Iterable[str] = CORE_CHANNELS,
        ohlcv_timeframe: str = "1m",
        poll_s: Mapping[str, float] | None = None,
        ws_failures_before_polling: int | None = 3,
        websocket_retry_s: float = 60.0,
        cache: TTLCache | None = None,
    ) -> None:
        """``depth``: book levels per side in each ``BookSnapshot``. ``book_limit``: the ``limit`` passed to
        ``watch_order_book`` — the REST snapshot size and how many levels ccxt keeps (None: the exchange's
        default, 1000 on Binance). ccxt truncates its book to that limit, losing the levels below, so keep
        it well above ``depth``. ``stall_timeout``: seconds without any frame on a connection before it is
        treated as dead (None: no watchdog). ``max_attempts``: consecutive retries of one stream before
        giving up with ``SourceUnavailable`` (None: retry forever). ``backoff``: between retries once data
        has flowed; ``unreachable_backoff``: while the exchange has never been reached (no network, DNS)
        — slow, so an offline machine does not hammer. ``history_bars``: closed bars per symbol and
        timeframe that ``history()`` fetches (0: none); ``history_ns``: how far back (None: no limit but
        ``history_bars``), so 6 h gives 360 1m bars and 72 5m bars, each capped at ``history_bars``.
        ``native_klines``: read Binance's own klines (quote volume, trade count, taker-buy volume) rather
        than ccxt's plain OHLCV. ``channels``: what to follow per symbol (``trades``, ``book``, ``ticker``,
        ``ohlcv`` — the exchange's own ``ohlcv_timeframe`` candles —, ``funding``, ``mark``,
        ``open_interest``, ``liquidations``; see ``channels.py``); ``poll_s``: polling intervals by channel
        name for what is read over REST. ``ws_failures_before_polling``: websocket failures in a row after
        which trades and the book are polled over REST (None: never), trying the websocket again every
        ``websocket_retry_s``. An exchange ccxt has no websocket client for is polled throughout.
        ``cache``: a ``TTLCache`` (on Redis: shared by every dashboard kernel) for the REST lookups — the
        markets (an hour) and what is polled (half its interval). One ``stream()`` at a time."""
        if exchange_id not in ccxtpro.exchanges and exchange_id not in ccxt_async.exchanges:
            close = difflib.get_close_matches(exchange_id, ccxt_async.exchanges, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown exchange {exchange_id!r}: not a ccxt exchange id{hint}")
        self.channels = check_channels(tuple(channels))
        if not self.channels:
            raise ConfigError(f"live source {exchange_id!r}: no channels")
        timeframe_ns(ohlcv_timeframe)
        self.ohlcv_timeframe = ohlcv_timeframe
        self.poll_s = {name: channel.poll_s for name, channel in CHANNELS.items()} | {
            "trades": 2.0,
            "book": 1.0,
        }
        for name, seconds in (poll_s or {}).items():
            check_channels((name,))
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
                raise ConfigError(f"poll_s[{name!r}] must be a number of seconds > 0, got {seconds!r}")
            self.poll_s[name] = float(seconds)
        if ws_failures_before_polling is not None and (
            isinstance(ws_failures_before_polling, bool) or ws_failures_before_polling < 1
        ):
            raise ConfigError(
                f"ws_failures_before_polling must be >= 1 or None, got {ws_failures_before_polling!r}"
            )
        if not websocket_retry_s > 0:
            raise ConfigError(f"websocket_retry_s must be > 0, got {websocket_retry_s!r}")
        self.ws_failures_before_polling = ws_failures_before_polling
        self.websocket_retry_s = float(websocket_retry_s)
        self.websocket = exchange_id in ccxtpro.exchanges  # False: everything is polled over REST
        self.cache = cache
        self.symbols: tuple[str, ...] = tuple(dict.fromkeys(symbols))
        if not self.symbols:
            raise ConfigError(f"live source {exchange_id!r}: no symbols")
        if depth < 1:
            raise ConfigError(f"depth must be >= 1, got {depth!r}")
        if book_limit is not None and book_limit < depth:
            raise ConfigError(f"book_limit ({book_limit}) must be >= depth ({depth})")
        if stall_timeout is not None and not stall_timeout > 0:
            raise ConfigError(f"stall_timeout must be > 0 s or None, got {stall_timeout!r}")
        if max_attempts is not None and max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1 or None, got {max_attempts!r}")
        if isinstance(history_bars, bool) or not isinstance(history_bars, int) or history_bars < 0:
            raise ConfigError(f"history_bars must be an int >= 0 (0: no history), got {history_bars!r}")
        if history_ns is not None and (
            isinstance(history_ns, bool) or not isinstance(history_ns, int) or history_ns < 0
        ):
            raise ConfigError(f"history_ns must be an int >= 0 or None, got {history_ns!r}")
        self.name = exchange_id
        self.exchange = exchange_id
        self.depth = depth
        self.book_limit = book_limit
        self.backoff = backoff
        self.stall_timeout = stall_timeout
        self.max_attempts = max_attempts
        self.unreachable_backoff = unreachable_backoff
        self.history_bars = history_bars if history_ns != 0 else 0
        self.history_ns = history_ns
        self.native_klines = native_klines
        self.on_status: StatusCallback | None = None
        self._options: dict[str, Any] = dict(exchange_options or {})
        self._secrets = tuple(
            str(value)
            for key, value in self._options.items()
            if key in SECRET_KEYS and value not in (None, "")
        )
        if self._secrets and self._options.get("verbose"):
            raise ConfigError(
                f"{exchange_id}: the exchange option verbose=True cannot be used with credentials "
                f"({', '.join(self.credential_keys)}): ccxt's verbose mode print()s every request, API key "
                "header included, to stdout, where it cannot be redacted. Debug without credentials, or "
                "log at DEBUG instead (logger 'ccxt.base.exchange', which mdx redacts)"
            )
        self._rng = rng or random.Random()
        self._queue_size = queue_size
        self._state = ""
        self._failing: dict[str, int] = {}
        self._streamed = False  # data arrived since stream() began: reconnects use the normal backoff
        self._loaded: Any = None  # the exchange history() loaded the markets on, for stream() to reuse
        self._client: Any = None  # the exchange the current stream uses (its last response headers)
        self._attempts: dict[str, int] = {}  # retries the last successful call of each stream needed
        self.modes: dict[str, str] = {}  # "trades BTC/USDT" -> "websocket" / "polling", for the status
        self.skipped: dict[str, str] = {}  # "funding BTC/USDT" -> why it is not followed (said once)
        self.unknown_symbols: tuple[str, ...] = ()  # not listed on the exchange: left out, said why

    def __repr__(self) -> str:
        # option values may hold credentials: show the keys only
        return (
            f"LiveSource({self.exchange!r}, {self.symbols!r}, depth={self.depth}, "
            f"exchange_options={sorted(self._options)})"
        )

    @property
    def credential_keys(self) -> tuple[str, ...]:
        """The names of the credential options set (``apiKey``, ``secret``, ...), never their values."""
        return tuple(sorted(k for k, v in self._options.items() if k in SECRET_KEYS and v not in (None, "")))

    # -- status -------------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every configured secret replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _reason(self, what: str, error: BaseException) -> str:
        detail = self.redact(str(error)) or "no details"
        return self._clip(f"{what}: {type(error).__name__}: {detail}")

    @staticmethod
    def _clip(reason: str) -> str:
        """``reason`` cut to ``REASON_MAX`` characters (a status line, not a dump)."""
        return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 3] + "..."

    def _unexpected(self, what: str, error: BaseException) -> SourceError:
        """A ``SourceError`` for an exception nobody foresaw; its traceback is logged, redacted."""
        failure = SourceError(f"{self.exchange}: {self._reason(what, error)}")
        trace = self.redact("".join(traceback.format_exception(error)).rstrip())
        log.error("%s\n%s", failure, trace)
        return failure

    def _report(self, state: str, reason: str = "", attempt: int = 0, next_retry_ns: int = 0) -> None:
        self._state = state
        if self.on_status is not None:
            self.on_status(state, reason, attempt, next_retry_ns)

    def _recovered(self, key: str) -> None:
        """Data arrived on ``key`` after failures: the exchange is back. Watchers of the other streams
        that failed are waiting on their new subscriptions by now (a quiet market may send no trade for
        minutes); one that still fails says so again with its next retry."""
        self._failing.clear()
        if self._state != "connected":
            self._report("connected")

    # -- the stream ---------------------------------------------------------------------------------

    def _create_exchange(self) -> Any:
        config: dict[str, Any] = {"enableRateLimit": True, **self._options}
        config["newUpdates"] = True  # watch_trades returns only the trades not returned before
        # ccxt keeps the last ``tradesLimit`` trades (1000 by default) for a watcher to collect: a burst
        # larger than that between two reads would drop the oldest silently. Keep far more.
        config["options"] = {"tradesLimit": TRADES_LIMIT, **dict(config.get("options") or {})}
        if not self.websocket:
            return getattr(ccxt_async, self.exchange)(config)
        exchange = getattr(ccxtpro, self.exchange)(config)
        guard = SEQUENCE_GUARDS.get(self.exchange)
        if guard is not None:  # its ccxt client applies book deltas unchecked: mdx checks them
            guard(exchange)
        return exchange

    @asynccontextmanager
    async def _open_exchange(self) -> AsyncIterator[Any]:
        """A new ccxt.pro exchange whose request logs are redacted; always closed on the way out."""
        exchange = self._client = self._create_exchange()
        # the logger ccxt logs request headers on (its own, unless exchange_options named another)
        ccxt_log = (
            exchange.logger
            if isinstance(exchange.logger, logging.Logger)
            else logging.getLogger("ccxt.base.exchange")
        )
        redactor = _Redactor(self.redact)
        if self._secrets:
            ccxt_log.addFilter(redactor)
        try:
            yield exchange
        finally:
            try:
                await exchange.close()
            except Exception as error:  # closing must not replace the reason the work ended
                log.warning(
                    "%s: closing the exchange failed: %s", self.exchange, self._reason("close", error)
                )
            finally:
                ccxt_log.removeFilter(redactor)

    def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        """Events as they arrive, until the consumer stops; raises ``SourceError`` / ``UnknownSymbol``."""
        return each_event(self.batches(clock, rejections))

    async def batches(self, clock: Clock, rejections: Rejections) -> AsyncIterator[list[Event]]:
        """The events of ``stream``, a watch at a time (``BatchSource``): what one exchange message
        brought (a pump's trades of one ``watch_trades``, a depth update), in order."""
        self._failing.clear()
        self._streamed = False
        self._report("connecting")
        queue: asyncio.Queue[Event | _Failure] = asyncio.Queue(self._queue_size)
        failure: MdxError | None = None
        async with self._open_exchange() as exchange:
            tasks: list[asyncio.Task[None]] = []
            try:
                self._reuse_markets(exchange)
                await self.retrying(
                    "markets", "load markets", clock, rejections, self._markets_loader(exchange)
                )
                for symbol in self._listed_symbols(exchange, rejections):
                    for name in self.channels:
                        work = self._pump(exchange, name, symbol, clock, rejections, queue)
                        if work is not None:
                            tasks.append(asyncio.create_task(self._guard(queue, work)))
                if not tasks:
                    raise SourceError(
                        f"{self.exchange}: none of the channels {self.channels} can be followed"
                    )
                if self.stall_timeout is not None:
                    tasks.append(asyncio.create_task(self._watchdog(exchange, self.stall_timeout)))
                while True:
                    item = await queue.get()
                    if type(item) is list:  # a pump's events of one watch, in order
                        yield item
                        continue
                    if isinstance(item, _Failure):
                        failure = item.error
                        break
                    yield [item]
            except MdxError as error:
                failure = error
            except Exception as error:  # unforeseen (a bug, or ccxt failing oddly): ends the stream, redacted
                failure = self._unexpected("stream failed", error)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        if failure is not None:  # raised here, outside any except block: no unredacted ccxt error chained
            self._report("error", self.redact(str(failure)))
            raise _detached(failure)

    # -- history ------------------------------------------------------------------------------------

    async def history(self, timeframes: Sequence[str], clock: Clock, rejections: Rejections) -> list[Bar]:
        """The last ``history_bars`` closed bars of each symbol and timeframe (oldest first per symbol and
        timeframe), fetched once before streaming so charts open with history (``HistorySource``).

        Candles come from ``fetch_ohlcv``, or Binance's own klines, which also carry quote volume, trade
        count and taker-buy volume (``mdx.sources.live.history`` has the mapping and what stays unknown).
        Timeframes the exchange has no candles for (``exchange.timeframes``) are skipped with a debug log;
        bad candles are counted rejections. One attempt, no retries: the stream that follows retries.

        When the exchange cannot be used at all (markets do not load) this raises, in the stream's words:
        ``SourceUnavailable`` ("cannot reach binance (no network or DNS?): ...") or ``SourceError`` ("binance
        is blocked in this region (HTTP 451)", or ccxt's error); the session logs and counts that and
        streams all the same. A fetch failing for one symbol or timeframe is logged as a warning, counted
        as ``HistoryError`` and left out; the other bars are returned."""
        if self.history_bars == 0 or not timeframes:
            return []
        failure: MdxError | None = None
        batches: list[list[Bar]] = []
        async with self._open_exchange() as exchange:
            if not exchange.has.get("fetchOHLCV"):
                log.info(
                    "%s has no candles in ccxt (fetchOHLCV): charts start without history", self.exchange
                )
                return []
            try:
                await self._markets_loader(exchange)()
            except (ccxt.BaseError, *PARSE_ERRORS) as error:
                failure = self._history_failure(error)
            if failure is None:
                self._loaded = exchange
                wanted = self._history_timeframes(exchange, timeframes)
                fetches = (
                    self._history_of(exchange, symbol, timeframe, clock, rejections)
                    for symbol in self.symbols
                    for timeframe in wanted
                )
                batches = list(await asyncio.gather(*fetches))
        if failure is not None:  # raised here, outside the except block: no unredacted ccxt error chained
            raise _detached(failure)
        return [bar for batch in batches for bar in batch]

    def _history_failure(self, error: BaseException) -> MdxError:
        """The error ``history`` raises when the markets do not load, in the stream's words (redacted)."""
        status = blocked_status(error)
        if status is not None:
            return ExchangeBlocked(self.redact(blocked_message(self.exchange, status)))
        if is_unreachable(error):
            return ExchangeUnreachable(self._unreachable(error))
        return SourceError(self._reason(f"{self.exchange} history: load markets failed", error))

    def _history_timeframes(self, exchange: Any, timeframes: Sequence[str]) -> list[str]:
        """The ``timeframes`` the exchange has candles for, each once."""
        supported = exchange.timeframes or {}
        wanted: list[str] = []
        for timeframe in dict.fromkeys(timeframes):
            try:
                timeframe_ns(timeframe)
            except InvalidTimeframe:
                log.debug("%s: no history for %r, not a fixed-length timeframe", self.exchange, timeframe)
                continue
            if timeframe not in supported:
                log.debug(
                    "%s has no %s candles: that timeframe starts without history", self.exchange, timeframe
                )
                continue
            wanted.append(timeframe)
        return wanted

    async def _history_of(
        self, exchange: Any, symbol: str, timeframe: str, clock: Clock, rejections: Rejections
    ) -> list[Bar]:
        """The closed bars of one symbol and timeframe; [] (logged, counted) when the fetch fails."""
        try:
            rows, reader = await self._fetch_candles(exchange, symbol, timeframe)
        except (ccxt.BaseError, *PARSE_ERRORS) as error:
            self._history_skipped(f"{symbol} {timeframe}", error, rejections)
            return []
        if not isinstance(rows, list):
            got = f"{type(rows).__name__} {rows!r}"[:200]
            rejections.add(MalformedFrame(f"{self.exchange} {symbol} {timeframe} candles: not a list: {got}"))
            return []
        key = (self.exchange, symbol, timeframe)
        now_ns = clock.now_ns()
        wanted = self._bars_wanted(timeframe)
        return closed_bars(rows, reader, key, timeframe_ns(timeframe), now_ns, wanted, rejections)

    def _bars_wanted(self, timeframe: str) -> int:
        """Closed bars of ``timeframe`` to fetch: ``history_ns`` worth, at most ``history_bars``."""
        if self.history_ns is None:
            return self.history_bars
        return min(self.history_bars, -(-self.history_ns // timeframe_ns(timeframe)))

    async def _fetch_candles(self, exchange: Any, symbol: str, timeframe: str) -> tuple[Any, BarReader]:
        """Raw candles, newest last, and the function that reads one. One more than ``history_bars`` is
        asked for: the newest is usually the bar still open, which is dropped."""
        limit = self._bars_wanted(timeframe) + 1
        market = exchange.market(symbol)
        if self.native_klines and exchange.id in NATIVE_KLINES and market.get("spot"):
            interval = exchange.timeframes[timeframe]
            request = {"symbol": market["id"], "interval": interval, "limit": min(limit, KLINES_MAX)}
            return await exchange.publicGetKlines(request), kline_bar
        return await exchange.fetch_ohlcv(symbol, timeframe, None, limit), ohlcv_bar

    def _history_skipped(self, what: str, error: BaseException, rejections: Rejections) -> None:
        """Log (warning) and count why one symbol's and timeframe's history is missing; redacted."""
        status = blocked_status(error)
        if status is not None:
            why = self.redact(blocked_message(self.exchange, status))
        elif is_unreachable(error):
            why = self._unreachable(error)
        else:
            why = self._reason("fetch failed", error)
        message = f"{self.exchange}: no history for {what}: {why}"
        log.warning("%s", message)
        rejections.add(HISTORY_ERROR, message, level=logging.DEBUG)  # logged just above, as a warning

    def _markets_loader(self, exchange: Any) -> Callable[[], Awaitable[Any]]:
        """``exchange.load_markets``, through the cache when there is one (one download an hour for every
        kernel sharing it)."""
        cache = self.cache
        if cache is None or exchange.markets:
            return exchange.load_markets

        async def load() -> Any:
            markets = await cache.aget_or_fetch(
                f"{self.exchange}:markets", exchange.load_markets, MARKETS_TTL_S
            )
            if not exchange.markets:
                exchange.set_markets(markets)
            return exchange.markets

        return load

    async def cached(self, key: str, fetch: Callable[[], Awaitable[T]], ttl: float) -> T:
        """``await fetch()``, through the cache when there is one (``key`` is prefixed by the exchange)."""
        if self.cache is None:
            return await fetch()
        return await self.cache.aget_or_fetch(f"{self.exchange}:{key}", fetch, ttl)

    def _reuse_markets(self, exchange: Any) -> None:
        """Give ``exchange`` the markets ``history()`` loaded just before, once: the stream then does not
        download them again (Binance's exchangeInfo is large and rate-limit heavy)."""
        loaded, self._loaded = self._loaded, None
        share = getattr(exchange, "set_markets_from_exchange", None)  # ccxt >= 4.4
        if loaded is not None and share is not None and loaded.markets:
            share(loaded)

    def _listed_symbols(self, exchange: Any, rejections: Rejections) -> list[str]:
        """The symbols the exchange lists; each other one is said once (an error naming the closest
        matches, counted as ``UnknownSymbol``) and left out while the rest run. None listed: raises."""
        listed: list[str] = []
        problems: list[str] = []
        for symbol in self.symbols:
            problem = self._unlisted(exchange, symbol)
            if problem is None:
                listed.append(symbol)
            else:
                problems.append(problem)
        self.unknown_symbols = tuple(s for s in self.symbols if s not in listed)
        if not listed:
            raise UnknownSymbol("; ".join(problems))
        for problem in problems:
            rejections.add("UnknownSymbol", f"{problem}; streaming {', '.join(listed)}", level=logging.ERROR)
        return listed

    def _unlisted(self, exchange: Any, symbol: str) -> str | None:
        """Why ``symbol`` cannot be streamed from ``exchange`` (None: it is listed)."""
        markets: dict[str, Any] = exchange.markets or {}
        if symbol in markets:
            return None
        by_id = exchange.markets_by_id or {}
        listed = by_id.get(symbol) or by_id.get(symbol.replace("/", "").upper())
        if listed:
            hint = f"; did you mean {listed[0]['symbol']!r} (ccxt unified symbol)?"
        else:
            close = difflib.get_close_matches(symbol, list(markets), n=3)
            hint = f"; close matches: {', '.join(close)}" if close else ""
        return f"{symbol!r} is not listed on {self.exchange} ({len(markets)} markets loaded){hint}"

    def _pump(
        self,
        exchange: Any,
        name: str,
        symbol: str,
        clock: Clock,
        rejections: Rejections,
        queue: asyncio.Queue[Any],
    ) -> Awaitable[None] | None:
        """The loop that follows channel ``name`` of ``symbol``, or None when it cannot be followed."""
        if name in ("trades", "book"):
            method = "watchTrades" if name == "trades" else "watchOrderBook"
            fetch = "fetchTrades" if name == "trades" else "fetchOrderBook"
            if not exchange.has.get(fetch) and not (self.websocket and exchange.has.get(method)):
                self.skip(f"{name} {symbol}", f"{self.exchange} offers no {method} or {fetch} in ccxt")
                return None
            pump = self._pump_trades if name == "trades" else self._pump_book
            return pump(exchange, symbol, clock, rejections, queue)
        mode = channel_plan(self, exchange, name, symbol)
        if not mode:
            return None
        return pump_channel(self, exchange, name, symbol, mode, clock, rejections, queue)

    def set_mode(self, key: str, mode: str, reason: str) -> None:
        """Note that stream ``key`` ("trades BTC/USDT") is now read over ``mode``; a change is said in the
        status (and the log) with ``reason``."""
        before = self.modes.get(key)
        self.modes[key] = mode
        if before is not None and before != mode:
            message = self.redact(f"{self.exchange} {key}: {reason}")
            log.warning("%s", message)
            self._report(self._state or "connected", message)

    def skip(self, key: str, message: str) -> None:
        """Stream ``key`` is not followed: said once (a warning), never retried."""
        if key not in self.skipped:
            self.skipped[key] = message
            log.warning("%s", self.redact(message))

    async def _guard(self, queue: asyncio.Queue[Event | _Failure], work: Awaitable[None]) -> None:
        """Run a watcher; a fatal error goes to the consumer through the queue (a watcher must never die
        silently: an unexpected exception becomes a ``SourceError`` that ends the stream)."""
        try:
            await work
            return
        except MdxError as error:
            failure: MdxError = error
        except Exception as error:  # a bug or an unforeseen ccxt failure: end the stream, loudly
            failure = self._unexpected("watcher failed", error)  # traceback logged, redacted; not chained
        await queue.put(_Failure(_detached(failure)))

    async def retrying(
        self,
        key: str,
        what: str,
        clock: Clock,
        rejections: Rejections,
        call: Callable[[], Awaitable[T]],
        give_up_after: int | None = None,
    ) -> T:
        """``await call()`` until it succeeds, backing off on retryable errors (an HTTP 429 / 418 at least
        as long as its ``Retry-After``); fatal ones raise MdxError. ``give_up_after``: retries before
        ``SourceUnavailable`` (besides ``max_attempts``)."""
        attempt = 0
        while True:
            # fatal errors are raised after the except blocks: raising inside one would chain the ccxt
            # error (unredacted) as __context__, which `from None` only hides from tracebacks
            try:
                result = await call()
            except ccxt.BaseError as error:
                verdict = self._judge(what, error)
            except PARSE_ERRORS as error:
                reason = self._reason(f"{self.exchange} {what}: ccxt could not handle a frame", error)
                rejections.add(MalformedFrame(reason))
                verdict = _Verdict(reason=reason)
            else:
                self._succeeded(key, attempt)
                return result
            if verdict.fatal is not None:
                raise verdict.fatal
            attempt += 1
            limits = [n for n in (self.max_attempts, give_up_after) if n is not None]
            limit = min(limits) if limits else None
            if limit is not None and attempt > limit:
                gave_up = ExchangeUnreachable if verdict.slow else SourceUnavailable
                raise gave_up(f"{verdict.reason} (gave up after {limit} retries)")
            backoff = self.unreachable_backoff if verdict.slow else self.backoff
            delay = max(backoff.delay(attempt, self._rng), verdict.wait_s)
            next_retry_ns = clock.now_ns() + int(delay * 1e9)
            self._failing[key] = attempt
            log.warning("%s; retry %d in %.2f s", verdict.reason, attempt, delay)
            self._report("reconnecting", verdict.reason, attempt, next_retry_ns)
            await clock.sleep_until(next_retry_ns)

    def _judge(self, what: str, error: ccxt.BaseError) -> _Verdict:
        """Fatal or retryable, and the words for it (redacted). An exchange never reached since the stream
        began — no network, no DNS, refused, timed out — is retried slowly with advice; HTTP 451 (a region
        the exchange refuses) is final: retrying cannot change it."""
        status = blocked_status(error)
        if status is not None:
            return _Verdict(ExchangeBlocked(self.redact(blocked_message(self.exchange, status))))
        if isinstance(error, ccxt.BadSymbol):
            return _Verdict(UnknownSymbol(f"{self.exchange} {what}: {self._reason('bad symbol', error)}"))
        failed = f"{self.exchange} {what} failed"
        if isinstance(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection):  # 429, 418 (a ban), 1003, ...
            wait = retry_after_s(getattr(self._client, "last_response_headers", None))
            said = f"; asked to wait {wait:g} s" if wait is not None else ""
            return _Verdict(
                reason=self._reason(f"{self.exchange} {what}: rate limited{said}", error), wait_s=wait or 0.0
            )
        if isinstance(error, ccxt.ExchangeError):
            return _Verdict(SourceError(f"{failed}: {self._reason('exchange error', error)}"))
        if not isinstance(error, ccxt.NetworkError | ccxt.OperationFailed):
            return _Verdict(SourceError(f"{failed}: {self._reason('ccxt error', error)}"))
        if not self._streamed and is_unreachable(error):
            return _Verdict(reason=self._unreachable(error), slow=True)
        return _Verdict(reason=self._reason(f"{self.exchange} {what}", error))

    def _unreachable(self, error: BaseException) -> str:
        """``cannot reach <exchange> (no network or DNS?): <root cause>; try ...``, redacted."""
        return self._clip(self.redact(unreachable_message(self.exchange, error)))

    def _succeeded(self, key: str, attempt: int) -> None:
        self._attempts[key] = attempt
        if key == "markets":  # not data yet: stay "connecting" until the first message
            self._failing.pop(key, None)
            if attempt:
                self._report("connecting")
            return
        self._streamed = True
        if attempt or self._state != "connected":
            self._recovered(key)

    async def _pump_trades(
        self, exchange: Any, symbol: str, clock: Clock, rejections: Rejections, queue: asyncio.Queue[Any]
    ) -> None:
        """Trades of ``symbol``: from the websocket, or polled over REST (see ``pumps.py``); after a
        reconnect the gap is filled from the REST history, each trade id sent once."""
        seen = RecentTradeIds()
        key = f"trades {symbol}"
        polling = Polling(
            self, key, clock, websocket=self.websocket and bool(exchange.has.get("watchTrades"))
        )
        last: Trade | None = None
        name, what = self.exchange, f"watch_trades {symbol}"

        def watch() -> Awaitable[Any]:
            return exchange.watch_trades(symbol, None, None, {})

        while True:
            if polling.active or (self.modes[key] == "polling" and not self.websocket):
                since = last.ts_event // 1_000_000 if last is not None else None
                trades = await poll_trades(self, exchange, symbol, since, clock, rejections, key)
                fresh = [t for t in trades if not t.id or seen.add(t.id)]
                for trade in fresh:
                    await queue.put(trade)
                last = fresh[-1] if fresh else last
                await polling.wait()
                continue
            polling.stop()
            raw = await watch_or_poll(self, polling, what, clock, rejections, watch)
            if raw is None:
                continue
            ts_recv = clock.now_ns()
            trades = []
            for item in raw:
                try:
                    trade = ccxt_trade(name, symbol, item, ts_recv)
                    seen.check(trade)
                except DataError as error:
                    rejections.add(error)
                    continue
                trades.append(trade)
            if not trades:
                continue
            if last is not None and self._attempts.get(key):  # a reconnect: what came between?
                gap = await fill_gap(
                    self, exchange, symbol, last, trades[0].ts_event, seen, clock, rejections, key
                )
                trades = gap + trades
            await queue.put(trades)  # one queue item per watch: stream() yields each trade
            last = trades[-1]

    def trade_of(self, symbol: str, raw: Mapping[str, Any], ts_recv: int) -> Trade:
        """A ccxt trade of ``symbol`` as a ``Trade`` (``ccxt_trade``): for the pumps in ``pumps.py``."""
        return ccxt_trade(self.exchange, symbol, raw, ts_recv)

    async def _pump_book(
        self, exchange: Any, symbol: str, clock: Clock, rejections: Rejections, queue: asyncio.Queue[Any]
    ) -> None:
        key = f"book {symbol}"
        last_seq: int | None = None
        last_top: tuple[float, float, float, float] | None = None
        last_levels: tuple[tuple[Level, ...], tuple[Level, ...]] | None = None
        polling = Polling(
            self, key, clock, websocket=self.websocket and bool(exchange.has.get("watchOrderBook"))
        )
        name, what = self.exchange, f"watch_order_book {symbol}"

        def watch() -> Awaitable[Any]:
            return exchange.watch_order_book(symbol, self.book_limit, {})

        while True:
            if polling.active or (self.modes[key] == "polling" and not self.websocket):
                snapshot = await poll_book(self, exchange, symbol, clock, rejections, key)
                await queue.put(snapshot)
                quote = quote_of(snapshot)
                if quote is not None:
                    await queue.put(quote)
                await polling.wait()
                continue
            polling.stop()
            book = await watch_or_poll(self, polling, what, clock, rejections, watch)
            if book is None:
                continue
            ts_recv = clock.now_ns()
            nonce = book.get("nonce")
            seq = int(nonce) if isinstance(nonce, int) else 0
            # copy the levels now: ccxt mutates this book in place on the next frame
            bids, bad_bids = self.book_levels(book.get("bids") or (), descending=True)
            asks, bad_asks = self.book_levels(book.get("asks") or (), descending=False)
            if nonce is not None and seq == last_seq and (bids, asks) == last_levels:
                continue  # the same book again (e.g. a resync to the same update id)
            last_levels = (bids, asks)
            if bad_bids or bad_asks:
                rejections.add(
                    InvalidValue(
                        f"{name} book {symbol} at update {seq}: dropped {bad_bids} bid and "
                        f"{bad_asks} ask levels with a missing, NaN, infinite or non-positive price or amount"
                    )
                )
            timestamp = book.get("timestamp")
            ts_event = timestamp * 1_000_000 if type(timestamp) is int and timestamp > 0 else ts_recv
            last_seq = seq
            events: list[Event] = [_make_snapshot(name, symbol, ts_event, ts_recv, seq, bids, asks)]
            if bids and asks:
                top = (bids[0][0], bids[0][1], asks[0][0], asks[0][1])
                if top != last_top:
                    last_top = top
                    events.append(_make_quote(name, symbol, ts_event, ts_recv, seq, *top))
            await queue.put(events)  # one queue item per watch: stream() yields each event

    def book_levels(self, side: Any, *, descending: bool) -> tuple[Levels, int]:
        """The best ``depth`` valid levels of a ccxt book side (bids ``descending``), and how many invalid
        ones were skipped; ``CheckedLevels`` when they are in order (ccxt keeps its sides sorted)."""
        top = None
        if isinstance(side, list | tuple):
            top = checked_levels(side[: self.depth], descending=descending)
        if top is not None:  # the usual case: ccxt parses numbers to floats
            return top, 0
        levels: list[Level] = []
        bad = 0
        for level in side:
            if len(levels) >= self.depth:
                break
            try:
                price, amount = finite_number(level[0]), finite_number(level[1])
            except (TypeError, IndexError, KeyError):
                price = amount = None
            if price is None or amount is None or price <= 0 or amount <= 0:
                bad += 1
                continue
            levels.append((float(price), float(amount)))
        return checked_levels(levels, descending=descending) or tuple(levels), bad

    async def _watchdog(self, exchange: Any, stall_timeout: float) -> None:
        """Fail connections that received no frame for ``stall_timeout`` s through ccxt's own error path,
        so their watchers get a ``RequestTimeout`` and reconnect. A connection quiet for half that time is
        probed with a websocket ping: a live one answers with a pong (a frame), a dead receive loop does
        not. Ages are wall time, like ccxt's ``last_message_at``."""
        stall_ms = stall_timeout * 1000
        while True:
            await asyncio.sleep(stall_timeout / 4)
            now_ms = time.time() * 1000
            for client in list((getattr(exchange, "clients", None) or {}).values()):
                established = getattr(client, "connectionEstablished", None)
                if getattr(client, "error", None) or not established:
                    continue  # already failing, or still dialing
                age_ms = now_ms - (getattr(client, "last_message_at", None) or established)
                if age_ms > stall_ms:
                    message = f"no frames for {age_ms / 1000:.1f} s: connection stalled"
                    log.warning("%s %s: %s", self.exchange, self.redact(str(client.url)), message)
                    client.on_error(ccxt.RequestTimeout(message))
                elif age_ms > stall_ms / 2:
                    await _probe(client, self.redact)


async def _probe(client: Any, redact: Callable[[str], str]) -> None:
    """Send a websocket ping on a ccxt client's connection; a closing connection is left to ccxt."""
    connection = getattr(client, "connection", None)
    if connection is None or connection.closed:
        return
    try:
        await connection.ping()
    except (ConnectionError, RuntimeError) as error:
        log.debug("ping on %s failed: %s", redact(str(getattr(client, "url", "?"))), redact(str(error)))


__all__ = ["Backoff", "LiveSource"]
