"""Live market data through ccxt.pro's unified ``watch_*`` methods. The only module that imports ccxt.

``LiveSource("binance", ["BTC/USDT"])`` runs one task per (symbol, stream) — ``watch_trades`` and
``watch_order_book`` — that normalizes what ccxt returns and feeds one queue; ``stream()`` yields from it::

    ccxt trade  {"id", "timestamp" (ms), "price", "amount", "side", ...}   ─► Trade
    ccxt book   {"bids", "asks", "nonce", "timestamp" (ms)}  ─► BookSnapshot (top ``depth`` levels, seq=nonce)
                                                              └► Quote when the top of book changed

Failures, and what the status line shows (``on_status(state, reason, attempt, next_retry_ns)``):

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

``exchange.close()`` always runs when the stream ends (error, ``aclose()``, cancellation).

Secrets in ``exchange_options`` (``apiKey``, ``secret``, ... — ``mdx.config.CREDENTIAL_KEYS``; usually from
``Settings``, see ``mdx.config``) never appear in ``repr``, logs, status reasons or errors:

- every message built from a ccxt error is redacted (each secret value replaced by ``***``);
- the errors the stream raises carry no ``__cause__`` / ``__context__``: the ccxt exception they replace
  holds the unredacted text (ccxt quotes response bodies, which may echo the key), so they are raised
  outside the ``except`` block that caught it, and an unforeseen exception's traceback is logged redacted;
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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import ccxt
import ccxt.pro as ccxtpro

from ...clock import Clock
from ...config import CREDENTIAL_KEYS
from ...errors import (
    ConfigError,
    DataError,
    InvalidValue,
    MalformedFrame,
    MdxError,
    SourceError,
    SourceUnavailable,
    UnknownSymbol,
)
from ...events import BookSnapshot, Event, Level, Quote, Trade
from ...market.trades import RecentTradeIds, valid_trade
from ...stats import Rejections
from .backoff import Backoff

log = logging.getLogger("mdx.sources.live.ccxt_source")

T = TypeVar("T")
StatusCallback = Callable[..., None]

SECRET_KEYS = frozenset(CREDENTIAL_KEYS)
# Exceptions ccxt's parsers let escape on malformed exchange data (they reach us through rejected futures).
PARSE_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError)
REASON_MAX = 300


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


def _number(value: object) -> float | None:
    """A finite float, or None for None / NaN / inf / non-numbers."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class LiveSource:
    """A live exchange through ccxt.pro. See the module docstring for events, statuses and failures."""

    def __init__(
        self,
        exchange_id: str,
        symbols: Iterable[str],
        *,
        exchange_options: Mapping[str, Any] | None = None,
        depth: int = 100,
        book_limit: int | None = None,
        backoff: Backoff = Backoff(),  # noqa: B008 - frozen, immutable default
        rng: random.Random | None = None,
        stall_timeout: float | None = 60.0,
        max_attempts: int | None = None,
        queue_size: int = 10_000,
    ) -> None:
        """``depth``: book levels per side in each ``BookSnapshot``. ``book_limit``: the ``limit`` passed to
        ``watch_order_book`` — the REST snapshot size and how many levels ccxt keeps (None: the exchange's
        default, 1000 on Binance). ccxt truncates its book to that limit, losing the levels below, so keep
        it well above ``depth``. ``stall_timeout``: seconds without any frame on a connection before it is
        treated as dead (None: no watchdog). ``max_attempts``: consecutive retries of one stream before
        giving up with ``SourceUnavailable`` (None: retry forever). One ``stream()`` at a time."""
        if exchange_id not in ccxtpro.exchanges:
            close = difflib.get_close_matches(exchange_id, ccxtpro.exchanges, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown exchange {exchange_id!r}: not a ccxt.pro exchange id{hint}")
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
        self.name = exchange_id
        self.exchange = exchange_id
        self.depth = depth
        self.book_limit = book_limit
        self.backoff = backoff
        self.stall_timeout = stall_timeout
        self.max_attempts = max_attempts
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
        reason = f"{what}: {type(error).__name__}: {detail}"
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
        self._failing.pop(key, None)
        if not self._failing and self._state != "connected":
            self._report("connected")

    # -- the stream ---------------------------------------------------------------------------------

    def _create_exchange(self) -> Any:
        config: dict[str, Any] = {"enableRateLimit": True, **self._options}
        config["newUpdates"] = True  # watch_trades returns only the trades not returned before
        return getattr(ccxtpro, self.exchange)(config)

    async def stream(self, clock: Clock, rejections: Rejections) -> AsyncIterator[Event]:
        """Events as they arrive, until the consumer stops; raises ``SourceError`` / ``UnknownSymbol``."""
        self._failing.clear()
        self._report("connecting")
        exchange = self._create_exchange()
        queue: asyncio.Queue[Event | _Failure] = asyncio.Queue(self._queue_size)
        tasks: list[asyncio.Task[None]] = []
        # the logger ccxt logs request headers on (its own, unless exchange_options named another)
        ccxt_log = (
            exchange.logger
            if isinstance(exchange.logger, logging.Logger)
            else logging.getLogger("ccxt.base.exchange")
        )
        redactor = _Redactor(self.redact)
        if self._secrets:
            ccxt_log.addFilter(redactor)
        failure: MdxError | None = None
        try:
            await self._retrying("markets", "load markets", clock, rejections, exchange.load_markets)
            self._check_symbols(exchange)
            for symbol in self.symbols:
                tasks.append(
                    asyncio.create_task(
                        self._guard(queue, self._pump_trades(exchange, symbol, clock, rejections, queue))
                    )
                )
                tasks.append(
                    asyncio.create_task(
                        self._guard(queue, self._pump_book(exchange, symbol, clock, rejections, queue))
                    )
                )
            if self.stall_timeout is not None:
                tasks.append(asyncio.create_task(self._watchdog(exchange, self.stall_timeout)))
            while True:
                item = await queue.get()
                if isinstance(item, _Failure):
                    failure = item.error
                    break
                yield item
        except MdxError as error:
            failure = error
        except Exception as error:  # unforeseen (a bug, or ccxt failing oddly): ends the stream, redacted
            failure = self._unexpected("stream failed", error)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await exchange.close()
            except Exception as error:  # closing must not replace the reason the stream ended
                log.warning(
                    "%s: closing the exchange failed: %s", self.exchange, self._reason("close", error)
                )
            finally:
                ccxt_log.removeFilter(redactor)
        if failure is not None:  # raised here, outside any except block: no unredacted ccxt error chained
            self._report("error", self.redact(str(failure)))
            raise _detached(failure)

    def _check_symbols(self, exchange: Any) -> None:
        markets: dict[str, Any] = exchange.markets or {}
        for symbol in self.symbols:
            if symbol in markets:
                continue
            by_id = exchange.markets_by_id or {}
            listed = by_id.get(symbol) or by_id.get(symbol.replace("/", "").upper())
            if listed:
                hint = f"; did you mean {listed[0]['symbol']!r} (ccxt unified symbol)?"
            else:
                close = difflib.get_close_matches(symbol, list(markets), n=3)
                hint = f"; close matches: {', '.join(close)}" if close else ""
            raise UnknownSymbol(
                f"{symbol!r} is not listed on {self.exchange} ({len(markets)} markets loaded){hint}"
            )
        for method in ("watchTrades", "watchOrderBook"):
            if not exchange.has.get(method):
                raise SourceError(f"{self.exchange}: ccxt.pro has no {method} for this exchange")

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

    async def _retrying(
        self, key: str, what: str, clock: Clock, rejections: Rejections, call: Callable[[], Awaitable[T]]
    ) -> T:
        """``await call()`` until it succeeds, backing off on retryable errors; fatal ones raise MdxError."""
        attempt = 0
        while True:
            # fatal errors are raised after the except blocks: raising inside one would chain the ccxt
            # error (unredacted) as __context__, which `from None` only hides from tracebacks
            fatal: MdxError | None = None
            reason = ""
            try:
                result = await call()
            except ccxt.BadSymbol as error:
                fatal = UnknownSymbol(f"{self.exchange} {what}: {self._reason('bad symbol', error)}")
            except ccxt.ExchangeError as error:
                fatal = SourceError(f"{self.exchange} {what} failed: {self._reason('exchange error', error)}")
            except (ccxt.NetworkError, ccxt.OperationFailed) as error:
                reason = self._reason(f"{self.exchange} {what}", error)
            except ccxt.BaseError as error:
                fatal = SourceError(f"{self.exchange} {what} failed: {self._reason('ccxt error', error)}")
            except PARSE_ERRORS as error:
                reason = self._reason(f"{self.exchange} {what}: ccxt could not handle a frame", error)
                rejections.add(MalformedFrame(reason))
            else:
                if key == "markets":  # not data yet: stay "connecting" until the first message
                    self._failing.pop(key, None)
                    if attempt:
                        self._report("connecting")
                elif attempt or self._state != "connected":
                    self._recovered(key)
                return result
            if fatal is not None:
                raise fatal
            attempt += 1
            if self.max_attempts is not None and attempt > self.max_attempts:
                raise SourceUnavailable(f"{reason} (gave up after {self.max_attempts} retries)")
            delay = self.backoff.delay(attempt, self._rng)
            next_retry_ns = clock.now_ns() + int(delay * 1e9)
            self._failing[key] = attempt
            log.warning("%s; retry %d in %.2f s", reason, attempt, delay)
            self._report("reconnecting", reason, attempt, next_retry_ns)
            await clock.sleep_until(next_retry_ns)

    async def _pump_trades(
        self, exchange: Any, symbol: str, clock: Clock, rejections: Rejections, queue: asyncio.Queue[Any]
    ) -> None:
        seen = RecentTradeIds()
        key = f"trades {symbol}"
        while True:
            trades = await self._retrying(
                key,
                f"watch_trades {symbol}",
                clock,
                rejections,
                lambda: exchange.watch_trades(symbol, None, None, {}),
            )
            ts_recv = clock.now_ns()
            for raw in trades:
                try:
                    trade = self._trade(symbol, raw, ts_recv)
                except DataError as error:
                    rejections.add(error)
                    continue
                try:
                    seen.check(trade)
                except DataError as error:
                    rejections.add(error)
                    continue
                await queue.put(trade)

    def _trade(self, symbol: str, raw: Mapping[str, Any], ts_recv: int) -> Trade:
        trade_id = raw.get("id")
        trade_id = "" if trade_id is None else str(trade_id)
        timestamp = raw.get("timestamp")
        if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp <= 0:
            raise MalformedFrame(f"{self.exchange} trade {trade_id} on {symbol}: bad timestamp {timestamp!r}")
        price, amount = _number(raw.get("price")), _number(raw.get("amount"))
        if price is None or amount is None or not valid_trade(price, amount):
            raise InvalidValue(
                f"{self.exchange} trade {trade_id} on {symbol}: "
                f"price {raw.get('price')!r} amount {raw.get('amount')!r}"
            )
        side = raw.get("side")
        return Trade(
            self.exchange,
            symbol,
            timestamp * 1_000_000,
            ts_recv,
            trade_id,
            price,
            amount,
            side if side in ("buy", "sell") else "",
        )

    async def _pump_book(
        self, exchange: Any, symbol: str, clock: Clock, rejections: Rejections, queue: asyncio.Queue[Any]
    ) -> None:
        key = f"book {symbol}"
        last_seq: int | None = None
        last_top: tuple[float, float, float, float] | None = None
        while True:
            book = await self._retrying(
                key,
                f"watch_order_book {symbol}",
                clock,
                rejections,
                lambda: exchange.watch_order_book(symbol, self.book_limit, {}),
            )
            ts_recv = clock.now_ns()
            nonce = book.get("nonce")
            seq = int(nonce) if isinstance(nonce, int) else 0
            if nonce is not None and seq == last_seq:
                continue  # the same book again (e.g. a resync to the same update id)
            # copy the levels now: ccxt mutates this book in place on the next frame
            bids, bad_bids = self._levels(book.get("bids") or ())
            asks, bad_asks = self._levels(book.get("asks") or ())
            if bad_bids or bad_asks:
                rejections.add(
                    InvalidValue(
                        f"{self.exchange} book {symbol} at update {seq}: dropped {bad_bids} bid and "
                        f"{bad_asks} ask levels with a missing, NaN, infinite or non-positive price or amount"
                    )
                )
            timestamp = book.get("timestamp")
            ts_event = timestamp * 1_000_000 if isinstance(timestamp, int) and timestamp > 0 else ts_recv
            last_seq = seq
            await queue.put(BookSnapshot(self.exchange, symbol, ts_event, ts_recv, seq, bids, asks))
            if bids and asks:
                top = (bids[0][0], bids[0][1], asks[0][0], asks[0][1])
                if top != last_top:
                    last_top = top
                    await queue.put(Quote(self.exchange, symbol, ts_event, ts_recv, seq, *top))

    def _levels(self, side: Iterable[Any]) -> tuple[tuple[Level, ...], int]:
        """The best ``depth`` valid levels of a ccxt book side, and how many invalid ones were skipped."""
        levels: list[Level] = []
        bad = 0
        for level in side:
            if len(levels) >= self.depth:
                break
            try:
                price, amount = _number(level[0]), _number(level[1])
            except (TypeError, IndexError, KeyError):
                price = amount = None
            if price is None or amount is None or price <= 0 or amount <= 0:
                bad += 1
                continue
            levels.append((price, amount))
        return tuple(levels), bad

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
