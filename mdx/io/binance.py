"""Binance combined-stream captures → normalized events (``read_binance``, via ``mdx.read_capture``).

A capture is gzip text (plain text also works), one frame per line: ``<local_recv_ns> <raw JSON>``.
Frames are combined-stream messages ``{"stream": "<sym>@<kind>", "data": {...}}`` for the kinds
``depth`` (``@depth@100ms`` / ``@depth@0ms``), ``bookTicker``, ``trade`` and ``aggTrade``; the REST depth
snapshot is a line without a ``stream`` key. Other streams and subscription acks are skipped.

Markets: ``"spot"`` (exchange ``binance``), ``"usdm"`` (``binanceusdm``), ``"coinm"`` (``binancecoinm``).
When ``market`` is not given it is inferred once per file: from the file name (``usdm_`` / ``coinm_``
prefix), else from the first frame (a ``_`` in the symbol → coinm; ``pu``, ``X`` or an ``e`` on a
bookTicker → usdm; otherwise spot). A market given (or named by the file) is checked against the first
frame of each stream (``frame_market``): spot data read as futures, or futures data read as spot, is
one ``CaptureError`` saying so (counted, or raised in strict mode), not an error per frame.

Snapshot ordering: a recorder buffers the diff stream while it fetches the REST snapshot, so the
snapshot line comes *after* the first diffs (and the diff that straddles it). Following Binance's
documented procedure, events read before the file's first snapshot are held back (at most
``hold_s`` seconds of receive time) and yielded right after it, in their original order. A file
without a snapshot in that window (a continuation file) is yielded in plain file order.

JSON types are checked, never coerced: prices and amounts are decimal strings or JSON numbers (never a
bool: ``"p": true`` is not a price of 1.0), ``m`` is a JSON bool (``"m": "false"`` is not a sell), ids,
update ids and times are integers, book sides are lists of ``[price, amount]`` pairs. A wrong type is a
``MalformedFrame``; a number that is not one (``"abc"``), NaN, infinite or negative is an ``InvalidValue``
(the value rules of ``mdx.events``, applied inline on this hot path).

Errors: with ``rejections`` given, bad lines (malformed JSON, missing fields or wrong types, NaN /
negative values) are counted and skipped, and a truncated or corrupt file is counted as one
``CaptureError`` after every event before the damage. With ``rejections=None`` the reader is strict and
raises the specific ``DataError`` instead, after yielding the events before it (events held back for
the snapshot are yielded where the counting mode would yield them). A missing file raises
``CaptureError`` at call time either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

from orjson import loads

from ..errors import CaptureError, DataError, InvalidValue, MalformedFrame
from ..events import BookDelta, BookSnapshot, Event, Levels, Quote, Trade, fast_constructor
from ..market.trades import valid_trade
from ..stats import Rejections
from .lines import check_path, line_chunks

EXCHANGES = {"spot": "binance", "usdm": "binanceusdm", "coinm": "binancecoinm"}
QUOTES = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "BIDR", "IDRT", "EUR", "TRY", "BRL", "GBP", "AUD",
    "BTC", "ETH", "BNB", "DAI", "UAH", "RUB", "ZAR", "PLN", "RON", "ARS", "JPY", "MXN", "USD",
)  # fmt: skip
INF = math.inf
MS = 1_000_000

E = TypeVar("E")
Handler = Callable[[dict[str, Any], int], "Event | None"]


_Trade = fast_constructor(Trade)
_Quote = fast_constructor(Quote)
_BookDelta = fast_constructor(BookDelta)


def unified_symbol(raw: str, market: str) -> str:
    """Binance id → ccxt unified symbol: ``BTCUSDT`` → ``BTC/USDT`` (spot), ``BTC/USDT:USDT`` (usdm);
    ``BTCUSD_PERP`` → ``BTC/USD:BTC`` (coinm); dated futures get ``-YYMMDD``. Unknown quotes stay as given."""
    raw = raw.upper()
    pair, _, expiry = raw.partition("_")
    for quote in QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            base = pair[: -len(quote)]
            break
    else:
        return raw
    if market == "spot":
        return f"{base}/{quote}"
    settle = base if market == "coinm" else quote
    suffix = f"-{expiry}" if expiry and expiry != "PERP" else ""
    return f"{base}/{quote}:{settle}{suffix}"


def market_from_name(path: Path) -> str | None:
    """``usdm_…`` / ``coinm_…`` (or ``cm_…``) file names name their market; others say nothing."""
    name = path.name.lower()
    if name.startswith("usdm_"):
        return "usdm"
    if name.startswith(("coinm_", "cm_")):
        return "coinm"
    return None


def symbol_from_name(path: Path) -> str | None:
    """The Binance id in a capture's file name: ``coinm_btcusd_perp_20240808.gz`` → ``BTCUSD_PERP``."""
    stem = path.name.lower().split(".")[0]
    parts = [p for p in stem.split("_") if p not in ("usdm", "coinm", "cm", "spot")]
    while parts and parts[-1].isdigit() and len(parts[-1]) == 8:
        parts.pop()  # a YYYYMMDD date
    return "_".join(parts).upper() or None


NUMBERS = frozenset((str, float, int))  # a price or amount: a decimal string or a JSON number, never a bool
NUMBER = "a decimal string or a number"


def _wrong(name: str, value: Any, want: str) -> MalformedFrame:
    return MalformedFrame(f"field {name!r} must be {want}, got {type(value).__name__} {value!r:.40}")


def _first_wrong(
    d: dict[str, Any], numbers: tuple[str, ...] = (), ints: tuple[str, ...] = (), bools: tuple[str, ...] = ()
) -> MalformedFrame:
    """The error for the first of the named fields of ``d`` whose JSON type is wrong (the slow path)."""
    for name in numbers:
        if type(d[name]) not in NUMBERS:
            return _wrong(name, d[name], NUMBER)
    for name in ints:
        if type(d[name]) is not int:
            return _wrong(name, d[name], "an integer")
    for name in bools:
        if type(d[name]) is not bool:
            return _wrong(name, d[name], "true or false")
    return MalformedFrame(f"unexpected field types in {d!r:.80}")


def _time(d: dict[str, Any], ts_recv: int) -> int:
    """Event time in ns from ``T`` (transaction time), else ``E`` (event time); ``ts_recv`` without them."""
    t = d.get("T")
    if t is None:
        t = d.get("E")
        if t is None:
            return ts_recv
    if type(t) is not int:
        raise _wrong("T" if "T" in d else "E", t, "an integer (ms)")
    return t * MS if t else ts_recv


def _levels(raw: Any, name: str) -> Levels:
    """``[["61837.63", "3.78"], ...]`` as float pairs; the rule is ``mdx.events.valid_level``, inline."""
    if type(raw) is not list:
        raise _wrong(name, raw, "a list of [price, amount] pairs")
    out = []
    for level in raw:
        if type(level) is not list:
            raise _wrong(name, level, "a list of [price, amount] pairs")
        p, q = level
        if (type(p) is not str or type(q) is not str) and (type(p) not in NUMBERS or type(q) not in NUMBERS):
            raise _wrong(name, level, f"a list of [price, amount] pairs ({NUMBER} each)")
        price, amount = float(p), float(q)
        if not (0.0 < price < INF and 0.0 <= amount < INF):
            raise InvalidValue(f"level price {price!r} amount {amount!r}")
        out.append((price, amount))
    return tuple(out)


def frame_market(kind: str, data: dict[str, Any]) -> tuple[str, str] | None:
    """``("spot" | "futures", why)`` when a frame of stream ``kind`` shows which market sent it (Binance
    sends different fields per market), else None (a kind or frame that does not tell)."""
    if kind == "depth":
        if "pu" in data:
            return "futures", "depth diffs with 'pu' (futures chain them by pu = previous u)"
        return "spot", "depth diffs without 'pu' (spot chains them by U = previous u + 1)"
    if kind == "bookTicker":
        if "e" in data or "T" in data:
            return "futures", "bookTicker frames with an event type and times"
        return "spot", "bookTicker frames without an event type or times"
    if kind in ("trade", "aggTrade"):
        if "X" in data:
            return "futures", f"{kind} frames with an order type 'X'"
        if "M" in data:
            return "spot", f"{kind} frames with the best-match flag 'M'"
    return None


class _Normalizer:
    """Per-file state: the market, the stream → handler table, the symbols seen."""

    def __init__(self, path: Path, market: str | None) -> None:
        self.path = path
        self.market = market or market_from_name(path)
        self.claim = f"market={market!r}" if market else f"the file name says {self.market}"
        self.inferred = self.market is None
        self.raw_symbols: list[str] = []
        self.handlers: dict[str | None, Handler] = {None: self.no_stream}

    def handler(self, stream: str, msg: dict[str, Any]) -> Handler:
        raw, _, rest = stream.partition("@")
        kind = rest.partition("@")[0]
        data = msg["data"]
        if self.market is None:
            futures = "pu" in data or "X" in data or data.get("e") == "bookTicker"
            self.market = "coinm" if "_" in raw else "usdm" if futures else "spot"
        elif not self.inferred and type(data) is dict:
            self.check_market(stream, raw, frame_market(kind, data))
        if raw.upper() not in self.raw_symbols:
            self.raw_symbols.append(raw.upper())
        exchange, symbol = EXCHANGES[self.market], unified_symbol(raw, self.market)
        make = _MAKERS.get(kind)
        handler = make(exchange, symbol, self.market != "spot") if make else _skip
        self.handlers[stream] = handler
        return handler

    def check_market(self, stream: str, raw: str, seen: tuple[str, str] | None) -> None:
        """``CaptureError`` when a frame of ``stream`` shows the other market than the one claimed."""
        if seen is None or (seen[0] == "futures") == (self.market != "spot"):
            return
        looks, why = seen
        use = "spot" if looks == "spot" else "coinm" if "_" in raw else "usdm"
        raise CaptureError(
            f"{self.path}: read as {self.market} data ({self.claim}), but it looks like {looks} data: "
            f"{stream} has {why}; read it with market={use!r} (or without market, to infer it)"
        )

    def no_stream(self, msg: dict[str, Any], ts_recv: int) -> Event | None:
        """REST depth snapshot (spot)::

            {"lastUpdateId":50093239218,"bids":[["61837.63000000","3.78826000"],...],"asks":[...]}

        futures add ``"E":1723161256501,"T":1723161256493``; coin-m also ``"symbol":"BTCUSD_PERP"``.
        """
        if "lastUpdateId" not in msg:
            if "result" in msg and "id" in msg:
                return None  # a subscription ack
            raise MalformedFrame(f"frame without 'stream' or 'lastUpdateId': keys {sorted(msg)[:6]}")
        raw = msg.get("symbol")
        if self.market is None:
            self.market = "coinm" if raw and "_" in raw else "usdm" if "T" in msg or "E" in msg else "spot"
        if raw is None:
            if len(self.raw_symbols) == 1:
                raw = self.raw_symbols[0]
            else:
                raw = symbol_from_name(self.path)
                named = raw is not None and unified_symbol(raw, self.market) != raw
                if not named or (self.raw_symbols and raw not in self.raw_symbols):
                    raise MalformedFrame(f"depth snapshot without a symbol; streams seen: {self.raw_symbols}")
        if type(raw) is not str:
            raise _wrong("symbol", raw, "a string")
        seq = msg["lastUpdateId"]
        if type(seq) is not int:
            raise _wrong("lastUpdateId", seq, "an integer")
        return BookSnapshot(
            EXCHANGES[self.market], unified_symbol(raw, self.market), _time(msg, ts_recv), ts_recv,
            seq, _levels(msg["bids"], "bids"), _levels(msg["asks"], "asks"),
        )  # fmt: skip


def _skip(msg: dict[str, Any], ts_recv: int) -> None:
    return None


def _depth(exchange: str, symbol: str, futures: bool) -> Handler:
    def depth(msg: dict[str, Any], ts_recv: int) -> BookDelta:
        """Diff depth, spot::

            {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255208,"s":"BTCUSDT",
             "U":50093239189,"u":50093239202,"b":[["61737.63000000","0.00000000"]],"a":[["61837.64000000","1.54698000"]]}}

        futures add ``"T":1723161256298`` (used as ts_event) and ``"pu":5123107831937`` (→ ``prev_seq``).
        """
        d = msg["data"]
        first, last, prev = d["U"], d["u"], d["pu"] if futures else -1
        if type(first) is not int or type(last) is not int or type(prev) is not int:
            raise _first_wrong(d, ints=("U", "u", "pu") if futures else ("U", "u"))
        if "E" not in d and "T" not in d:
            raise KeyError("E")
        bids, asks = _levels(d["b"], "b"), _levels(d["a"], "a")
        return _BookDelta(exchange, symbol, _time(d, ts_recv), ts_recv, first, last, bids, asks, prev)

    return depth


def _book_ticker(exchange: str, symbol: str, futures: bool) -> Handler:
    def book_ticker(msg: dict[str, Any], ts_recv: int) -> Quote:
        """Best bid/ask, spot (no exchange time: ts_event = ts_recv)::

            {"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000",
             "B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}

        futures add ``"e":"bookTicker","T":1723161256313,"E":1723161256313``.
        """
        d = msg["data"]
        b, bq, a, aq, seq = d["b"], d["B"], d["a"], d["A"], d["u"]
        if (type(b) is not str or type(bq) is not str or type(a) is not str or type(aq) is not str) and not (
            type(b) in NUMBERS and type(bq) in NUMBERS and type(a) in NUMBERS and type(aq) in NUMBERS
        ):
            raise _first_wrong(d, numbers=("b", "B", "a", "A"))
        if type(seq) is not int:
            raise _wrong("u", seq, "an integer")
        bid, bid_size, ask, ask_size = float(b), float(bq), float(a), float(aq)
        # the rule of mdx.events.valid_quote, inline on this hot path
        if not (0.0 < bid < INF and 0.0 < ask < INF and 0.0 <= bid_size < INF and 0.0 <= ask_size < INF):
            raise InvalidValue(f"quote {bid!r} x {bid_size!r} / {ask!r} x {ask_size!r}")
        return _Quote(exchange, symbol, _time(d, ts_recv), ts_recv, seq, bid, bid_size, ask, ask_size)

    return book_ticker


def _trade(exchange: str, symbol: str, futures: bool) -> Handler:
    def trade(msg: dict[str, Any], ts_recv: int) -> Trade:
        """A trade; ``m`` true means the buyer is the maker, so the aggressor sold::

            {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,
             "p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}

        futures add ``"X":"MARKET"`` and drop ``M``.
        """
        d = msg["data"]
        p, q, t, tid, m = d["p"], d["q"], d["T"], d["t"], d["m"]
        if (
            (type(p) is not str and type(p) not in NUMBERS) or (type(q) is not str and type(q) not in NUMBERS)
            or type(t) is not int or type(tid) is not int or type(m) is not bool
        ):  # fmt: skip
            raise _first_wrong(d, numbers=("p", "q"), ints=("T", "t"), bools=("m",))
        price, amount = float(p), float(q)
        if not valid_trade(price, amount):
            raise InvalidValue(f"trade {tid}: price {price!r} amount {amount!r}")
        return _Trade(exchange, symbol, t * MS, ts_recv, str(tid), price, amount, "sell" if m else "buy")

    return trade


def _agg_trade(exchange: str, symbol: str, futures: bool) -> Handler:
    def agg_trade(msg: dict[str, Any], ts_recv: int) -> Trade:
        """An aggregate trade::

            {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1634000000100,"s":"BTCUSDT","a":100,
             "p":"57000.01","q":"0.5","f":200,"l":201,"T":1634000000099,"m":false,"M":true}}

        the aggregate id ``a`` becomes the trade id.
        """
        d = msg["data"]
        p, q, t, tid, m = d["p"], d["q"], d["T"], d["a"], d["m"]
        if (
            (type(p) is not str and type(p) not in NUMBERS) or (type(q) is not str and type(q) not in NUMBERS)
            or type(t) is not int or type(tid) is not int or type(m) is not bool
        ):  # fmt: skip
            raise _first_wrong(d, numbers=("p", "q"), ints=("T", "a"), bools=("m",))
        price, amount = float(p), float(q)
        if not valid_trade(price, amount):
            raise InvalidValue(f"aggTrade {tid}: price {price!r} amount {amount!r}")
        return _Trade(exchange, symbol, t * MS, ts_recv, str(tid), price, amount, "sell" if m else "buy")

    return agg_trade


_MAKERS: dict[str, Callable[[str, str, bool], Handler]] = {
    "depth": _depth,
    "bookTicker": _book_ticker,
    "trade": _trade,
    "aggTrade": _agg_trade,
}


def read_binance(
    path: str | PathLike[str],
    *,
    market: str | None = None,
    rejections: Rejections | None = None,
    hold_s: float = 10.0,
) -> Iterator[Event]:
    """Normalized events of a Binance capture, in file order except for the snapshot hold-back
    described in the module docstring."""
    p = check_path(path)
    if market is not None and market not in EXCHANGES:
        raise CaptureError(f"{p}: unknown market {market!r}; use one of {sorted(EXCHANGES)}")
    return _read(p, market, rejections, int(hold_s * 1e9))


def _read(path: Path, market: str | None, rejections: Rejections | None, hold_ns: int) -> Iterator[Event]:
    norm = _Normalizer(path, market)
    handlers = norm.handlers
    held: list[Event] | None = []
    hold_until = 0
    lineno = 0
    failed: DataError | None = None  # strict mode: the error to raise once the held events are placed
    try:
        for lines in line_chunks(path):
            for line in lines:
                lineno += 1
                try:
                    ts, _, raw = line.partition(b" ")
                    msg = loads(raw)
                    stream = msg.get("stream")
                    handler = handlers.get(stream)
                    if handler is None:
                        handler = norm.handler(stream, msg)
                    event = handler(msg, int(ts))
                except CaptureError:  # the whole file is unreadable as asked (a wrong market): once, below
                    raise
                except DataError as error:
                    bad: DataError = type(error)(f"{path.name}:{lineno}: {error}")
                except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
                    if not line.strip():
                        continue
                    if isinstance(error, ValueError) and "convert" in str(error):  # float("abc")
                        bad = InvalidValue(f"{path.name}:{lineno}: non-numeric value: {error}")
                    else:
                        what = f"missing field {error}" if isinstance(error, KeyError) else str(error)
                        bad = MalformedFrame(f"{path.name}:{lineno}: {what}: {line[:80]!r}")
                else:
                    if event is None:
                        continue
                    if held is None:
                        yield event
                    elif type(event) is BookSnapshot:
                        yield event
                        yield from held
                        held = None
                    elif failed is not None:  # read on only to find where the held events go
                        if event.ts_recv > hold_until:
                            yield from held
                            held = None
                    else:
                        if not held:
                            hold_until = event.ts_recv + hold_ns
                        held.append(event)
                        if event.ts_recv > hold_until:
                            yield from held
                            held = None
                    if failed is not None and held is None:
                        raise failed
                    continue
                if rejections is None:
                    if not held:
                        raise bad
                    # The events before the error wait for the snapshot: they are yielded where the
                    # counting mode would yield them (after a snapshot still to come) before raising.
                    failed = failed or bad
                    continue
                rejections.add(bad)
    except CaptureError as error:
        yield from held or ()
        held = None
        if failed is not None:
            raise failed from None
        if rejections is None:
            raise
        rejections.add(error)
    if held:
        yield from held
    if failed is not None:
        raise failed


__all__ = ["EXCHANGES", "frame_market", "read_binance", "unified_symbol"]
