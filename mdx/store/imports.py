"""CSV files of bars or trades into the store, every row checked first: a bad file is refused whole.

    report = import_csv(store, "BTCUSDT-1m-2025-01.csv", symbol="BTC/USDT", timeframe="1m")
    report = import_csv(store, "trades.csv", symbol="BTC/USDT")          # no timeframe: trades

Layouts (told apart by the header, or for a headerless file by its number of fields):

- ccxt-style, with a header: ``timestamp, open, high, low, close[, volume]`` for bars,
  ``timestamp, price, amount[, side][, id]`` for trades (``time``, ``open_time``, ``qty``, ``trade_id``,
  ``local_timestamp`` -> ``ts_recv``, ``is_buyer_maker`` ... are read too; other columns are ignored);
- Binance's official dumps, headerless: the 12-column kline CSV (open time, o, h, l, c, volume, close time,
  quote volume, trades, taker-buy base, taker-buy quote, unused) and the 7-column spot / 6-column futures
  trades CSV (id, price, qty, quote qty, time, is_buyer_maker[, is_best_match]); headerless 6-field bars
  are ccxt OHLCV rows;
- what ``mdx export --format csv`` writes (a round trip stores exactly what was exported).

Numeric times are read by magnitude (s, ms, µs or ns: Binance's spot dumps switched from ms to µs in
2025); text times as ISO 8601 (naive: UTC). Files may be gzip (``.gz``) or a one-member ``.zip``.

The rules, each a bad row named by its line: required columns present (else the whole file is refused,
even with ``skip_bad``); times parseable and between 1990 and 2200; numbers finite; prices > 0; volumes
>= 0 (trade amounts > 0); ``high >= max(open, close)`` and ``low <= min(open, close)``; bar times strictly
increasing (monotonic and unique), trade times never going back and trade ids unique; ``exchange`` /
``symbol`` / ``timeframe`` columns, when the file has them, agreeing with the arguments (symbols compared
by letters and digits: ``BTCUSDT`` is ``BTC/USDT``). A bad file raises ``RejectedFile`` (the first 20
reasons and the count of bad rows) and nothing of it is stored; ``skip_bad=True`` stores the good rows and
reports the rest.

Importing is idempotent: rows are stored under the store's keys (trades by exchange, symbol and id; bars
by symbol, timeframe, source, open time and exchange), so a file imported twice is stored once. Trades
without an id column get a deterministic id from their time and values. Imported bars are stored as
``source="exchange"`` (built by a venue, not by mdx from trades), unless the file has a ``source`` column
(an mdx export), which is kept. The default exchange is the file's ``exchange`` column, else ``binance``
for Binance's own layouts, else ``unknown``. Bars without a receive time get their close time
(open + timeframe) as ``ts_recv``; trades their event time.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from ..errors import CaptureError, ConfigError, RejectedFile
from ..market.timeframes import timeframe_ns
from .rows import SOURCES
from .schema import COLUMNS
from .store import Store

CHUNK_ROWS = 200_000
KEEP_ROWS = 1_000_000  # files up to this many rows are read once; longer ones twice (check, then store)
MAX_PROBLEMS = 20
MIN_NS = 631_152_000 * 10**9  # 1990-01-01
MAX_NS = 7_258_118_400 * 10**9  # 2200-01-01
UNKNOWN_EXCHANGE = "unknown"

# canonical column -> the header names it is read from (lower case, spaces as underscores), first wins
ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "open_time", "time", "datetime", "date", "ts"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "base_volume"),
    "quote_volume": ("quote_volume", "quote_asset_volume"),
    "vwap": ("vwap",),
    "buy_volume": ("buy_volume", "taker_buy_volume", "taker_buy_base_volume", "taker_buy_base_asset_volume"),
    "sell_volume": ("sell_volume",),
    "count": ("count", "trades", "number_of_trades", "trade_count"),
    "price": ("price",),
    "amount": ("amount", "qty", "quantity", "size"),
    "side": ("side",),
    "is_buyer_maker": ("is_buyer_maker",),
    "id": ("id", "trade_id"),
    "ts_recv": ("ts_recv", "local_timestamp"),
    "exchange": ("exchange",),
    "symbol": ("symbol",),
    "timeframe": ("timeframe",),
    "source": ("source",),
}
REQUIRED = {"bars": ("timestamp", "open", "high", "low", "close"), "trades": ("timestamp", "price", "amount")}
KLINE = ("timestamp", "open", "high", "low", "close", "volume", "", "quote_volume", "count", "buy_volume")
HEADERLESS: dict[tuple[str, int], tuple[str, tuple[str, ...]]] = {
    ("bars", 12): ("binance-klines", KLINE),
    ("bars", 6): ("ccxt-ohlcv", ("timestamp", "open", "high", "low", "close", "volume")),
    ("trades", 7): ("binance-trades", ("id", "price", "amount", "", "timestamp", "is_buyer_maker")),
    ("trades", 6): ("binance-trades", ("id", "price", "amount", "", "timestamp", "is_buyer_maker")),
}
Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Layout:
    """How a file's fields map to mdx's columns: ``columns`` names the position of each one read."""

    name: str
    header: bool
    fields: int
    columns: dict[str, int]


@dataclass(frozen=True)
class ImportReport:
    """What one import did: rows read, stored, already in the store (``duplicates``) and bad
    (``rejected``, skipped with ``skip_bad``; the first reasons in ``problems``)."""

    path: Path
    table: str
    layout: str
    symbol: str
    timeframe: str | None
    rows: int
    stored: int
    duplicates: int
    rejected: int
    problems: tuple[str, ...] = ()

    def __str__(self) -> str:
        what = f"{self.timeframe} bars" if self.table == "bars" else "trades"
        text = (
            f"{self.path.name} ({self.layout}): {self.rows} rows of {self.symbol} {what}; "
            f"stored {self.stored}, already there {self.duplicates}, skipped as bad {self.rejected}"
        )
        return "\n  ".join([text, *self.problems]) + (
            _more(self.rejected, self.problems) if self.problems else ""
        )


def _more(count: int, shown: tuple[str, ...]) -> str:
    return f"\n  ... and {count - len(shown)} more" if count > len(shown) else ""


def _open_text(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(the raw file, for progress; its decompressed bytes) of a plain, ``.gz`` or one-member ``.zip``."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as error:
        raise CaptureError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        if path.suffix == ".gz":
            return raw, gzip.open(raw)
        if path.suffix == ".zip":
            archive = zipfile.ZipFile(raw)
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise CaptureError(f"{path}: a zip of {len(names)} files; import one CSV at a time")
            return raw, archive.open(names[0])
    except (OSError, zipfile.BadZipFile) as error:
        raw.close()
        raise CaptureError(f"{path}: cannot read: {error}") from None
    return raw, raw


def _first_row(path: Path) -> list[str]:
    raw, data = _open_text(path)
    with raw, data:
        try:
            text = io.TextIOWrapper(data, encoding="utf-8-sig", newline="")
            for line in text:
                if line.strip():
                    return next(csv.reader([line]))
        except (OSError, UnicodeDecodeError, EOFError) as error:
            raise CaptureError(f"{path}: not a CSV text file: {error}") from None
    raise RejectedFile(f"{path}: empty file: nothing was stored", ("line 1: no rows",), 0)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def detect_layout(path: Path, table: str) -> Layout:
    """The layout of the CSV at ``path`` holding ``table`` (``bars`` or ``trades``); a file lacking a
    required column is ``RejectedFile`` (line 1)."""
    first = _first_row(path)
    if _is_number(first[0].strip()):
        known = HEADERLESS.get((table, len(first)))
        if known is None:
            raise RejectedFile(
                f"{path}: a headerless file of {len(first)} fields is not a known {table} layout "
                "(Binance klines have 12, ccxt OHLCV 6, Binance trades 6 or 7); add a header: "
                "nothing was stored",
                (f"line 1: {len(first)} fields without a header",),
                0,
            )
        name, names = known
        columns = {column: at for at, column in enumerate(names) if column}
        return Layout(name, False, len(first), columns)
    header = [re.sub(r"\s+", "_", name.strip().lower()) for name in first]
    columns: dict[str, int] = {}
    for column, aliases in ALIASES.items():
        at = next((header.index(a) for a in aliases if a in header), None)
        if at is not None:
            columns[column] = at
    missing = [c for c in REQUIRED[table] if c not in columns]
    if missing:
        reason = f"line 1: no {', '.join(missing)} column (header: {', '.join(first)[:200]})"
        raise RejectedFile(f"{path}: {reason}: not a {table} file; nothing was stored", (reason,), 0)
    return Layout("csv", True, len(first), columns)


# -- parsing ---------------------------------------------------------------------------------------------


def _by_magnitude(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numeric times (s, ms, µs or ns told apart by size) -> (ns, in range)."""
    factor = np.select([values < 1e11, values < 1e14, values < 1e17], [10**9, 10**6, 10**3], 1)
    fine = (values * factor.astype(np.float64) >= MIN_NS) & (values * factor.astype(np.float64) < MAX_NS)
    scaled = values * np.where(fine, factor, 0)
    ns = scaled if values.dtype.kind == "i" else np.round(scaled)
    return ns.astype(np.int64), fine


def parse_times(text: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ns since the epoch, parsed, in range 1990..2200) of text times: whole numbers (by magnitude),
    decimals (``1.6e12``) or ISO 8601 (naive: UTC)."""
    n = len(text)
    ns, parsed, fine = np.zeros(n, np.int64), np.zeros(n, bool), np.zeros(n, bool)
    digits = text.str.fullmatch(r"\d{1,18}").to_numpy(dtype=bool, na_value=False)
    if digits.any():
        ns[digits], fine[digits] = _by_magnitude(text[digits].astype(np.int64).to_numpy())
        parsed[digits] = True
    rest = ~digits & (text != "").to_numpy(dtype=bool, na_value=False)
    if rest.any():
        numbers = pd.to_numeric(text[rest], errors="coerce").to_numpy(np.float64)
        numeric = np.isfinite(numbers)
        where = np.flatnonzero(rest)
        if numeric.any():
            at = where[numeric]
            ns[at], fine[at] = _by_magnitude(numbers[numeric])
            parsed[at] = True
        if (~numeric).any():
            at = where[~numeric]
            stamps = pd.to_datetime(text.iloc[at], utc=True, format="ISO8601", errors="coerce")
            ok = stamps.notna().to_numpy()
            values = stamps[ok].dt.as_unit("ns").astype("int64").to_numpy()
            ns[at[ok]] = values
            parsed[at[ok]] = True
            fine[at[ok]] = (values >= MIN_NS) & (values < MAX_NS)
    return ns, parsed, fine


def _numbers(text: pd.Series) -> np.ndarray:
    """Floats of text; empty or unreadable text is NaN."""
    return pd.to_numeric(text.where(text != "", "nan"), errors="coerce").to_numpy(np.float64)


def _squash(symbol: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", symbol.upper())


def _time_text(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").isoformat().replace("+00:00", "Z")


class _Rows:
    """One chunk's checks: the first failing rule of each row is its reason (``why``)."""

    def __init__(self, frame: pd.DataFrame, first_line: int) -> None:
        self.frame, self.n = frame, len(frame)
        self.lines = np.arange(first_line, first_line + self.n)
        self.why = np.full(self.n, "", dtype=object)
        self.blank = (frame == "").all(axis=1).to_numpy()

    def fail(self, mask: np.ndarray, reason: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask & (self.why == "") & ~self.blank):
            self.why[i] = reason(int(i))

    @property
    def good(self) -> np.ndarray:
        return (self.why == "") & ~self.blank


@dataclass
class _Checker:
    """Checks chunks of one file in order (times and ids are compared across chunks)."""

    table: str
    layout: Layout
    symbol: str
    exchange: str | None
    timeframe: str | None
    tf_ns: int
    problems: list[str] = field(default_factory=list)
    bad: int = 0
    rows: int = 0
    last_ts: dict[str, int] = field(default_factory=dict)  # per exchange (and bar source)
    seen_ids: set[int] = field(default_factory=set)
    id_counts: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def text(self, frame: pd.DataFrame, column: str) -> pd.Series | None:
        at = self.layout.columns.get(column)
        return None if at is None else frame[at].str.strip()

    def check(self, frame: pd.DataFrame, first_line: int) -> Arrays:
        """The good rows of ``frame`` (whose first row is on ``first_line``) as columns; bad ones noted."""
        rows = _Rows(frame.fillna(""), first_line)
        out: Arrays = {}
        stamp = self.text(rows.frame, "timestamp")
        assert stamp is not None
        out["ts"], parsed, fine = parse_times(stamp)
        rows.fail(
            ~parsed,
            lambda i: f"timestamp {stamp.iloc[i]!r} is not a time" if stamp.iloc[i] else "no timestamp",
        )
        rows.fail(~fine, lambda i: f"timestamp {stamp.iloc[i]!r} is out of range (1990..2200): a wrong unit?")
        self._labels(rows, out)
        if self.table == "bars":
            self._bar_values(rows, out)
        else:
            self._trade_values(rows, out)
        self._order(rows, out)
        self.rows += int((~rows.blank).sum())
        bad = np.flatnonzero(~rows.good & ~rows.blank)
        self.bad += len(bad)
        for i in bad[: max(0, MAX_PROBLEMS - len(self.problems))]:
            self.problems.append(f"line {rows.lines[i]}: {rows.why[i]}")
        keep = rows.good
        return {name: values[keep] for name, values in out.items()}

    def _labels(self, rows: _Rows, out: Arrays) -> None:
        """exchange, symbol, timeframe and source: from the file's columns, checked against the arguments."""
        default = self.exchange or ("binance" if self.layout.name.startswith("binance") else UNKNOWN_EXCHANGE)
        exchange = self.text(rows.frame, "exchange")
        if exchange is None:
            out["exchange"] = np.full(rows.n, default, dtype=object)
        else:
            values = exchange.to_numpy(dtype=object)
            rows.fail(values == "", lambda i: "no exchange")
            if self.exchange:
                rows.fail(
                    values != self.exchange, lambda i: f"exchange {values[i]!r} is not {self.exchange!r}"
                )
            out["exchange"] = values
        symbol = self.text(rows.frame, "symbol")
        if symbol is not None:
            wanted = _squash(self.symbol)
            values = symbol.to_numpy(dtype=object)
            others = [v for v in pd.unique(values) if _squash(v) != wanted]
            other = np.isin(values, others)
            rows.fail(
                other, lambda i: f"symbol {values[i]!r} is not {self.symbol} (the file holds another market)"
            )
        if self.table == "bars":
            timeframe = self.text(rows.frame, "timeframe")
            if timeframe is not None:
                values = timeframe.to_numpy(dtype=object)
                rows.fail(
                    values != self.timeframe, lambda i: f"timeframe {values[i]!r} is not {self.timeframe}"
                )
            source = self.text(rows.frame, "source")
            if source is None:
                out["source"] = np.full(rows.n, "exchange", dtype=object)
            else:
                values = source.to_numpy(dtype=object)
                rows.fail(
                    ~np.isin(values, SOURCES), lambda i: f"source {values[i]!r} is not one of {SOURCES}"
                )
                out["source"] = values

    def _number(self, rows: _Rows, column: str, *, positive: bool, required: bool) -> np.ndarray:
        text = self.text(rows.frame, column)
        if text is None:
            return np.full(rows.n, np.nan)
        values = _numbers(text)
        missing = (text == "").to_numpy(dtype=bool)
        if required:
            rows.fail(missing, lambda i: f"no {column}")
        rows.fail(
            ~missing & ~np.isfinite(values), lambda i: f"{column} {text.iloc[i]!r} is not a finite number"
        )
        with np.errstate(invalid="ignore"):
            if positive:
                rows.fail(values <= 0, lambda i: f"{column} {text.iloc[i]} must be > 0")
            else:
                rows.fail(values < 0, lambda i: f"{column} {text.iloc[i]} must be >= 0")
        return values

    def _bar_values(self, rows: _Rows, out: Arrays) -> None:
        o, h, lo, c = (
            self._number(rows, k, positive=True, required=True) for k in ("open", "high", "low", "close")
        )
        volume = self._number(rows, "volume", positive=False, required="volume" in self.layout.columns)
        if "volume" not in self.layout.columns:  # OHLC only: no volume known
            volume = np.zeros(rows.n)
        with np.errstate(invalid="ignore"):
            rows.fail(
                h < np.maximum(o, c),
                lambda i: f"high {float(h[i])!r} is below max(open {float(o[i])!r}, close {float(c[i])!r})",
            )
            rows.fail(
                lo > np.minimum(o, c),
                lambda i: f"low {float(lo[i])!r} is above min(open {float(o[i])!r}, close {float(c[i])!r})",
            )
        quote = self._number(rows, "quote_volume", positive=False, required=False)
        vwap = self._number(rows, "vwap", positive=True, required=False)
        buy = self._number(rows, "buy_volume", positive=False, required=False)
        sell = self._number(rows, "sell_volume", positive=False, required=False)
        with np.errstate(invalid="ignore", divide="ignore"):
            rows.fail(
                buy > volume * (1 + 1e-9),
                lambda i: f"buy volume {float(buy[i])!r} is above the volume {float(volume[i])!r}",
            )
            if "vwap" not in self.layout.columns and "quote_volume" in self.layout.columns:
                vwap = np.where(volume > 0, quote / volume, c)
            if "sell_volume" not in self.layout.columns and "buy_volume" in self.layout.columns:
                buy = np.minimum(buy, volume)
                sell = volume - buy
        count = self._number(rows, "count", positive=False, required=False)
        whole = np.isnan(count) | (count == np.floor(count))
        rows.fail(~whole, lambda i: f"count {float(count[i])!r} is not a whole number")
        out.update(open=o, high=h, low=lo, close=c, volume=volume, quote_volume=quote, vwap=vwap)
        out.update(buy_volume=buy, sell_volume=sell, count=np.nan_to_num(count, nan=0.0).astype(np.int64))
        out["ts_recv"] = self._recv(rows, out["ts"] + self.tf_ns)

    def _recv(self, rows: _Rows, default: np.ndarray) -> np.ndarray:
        text = self.text(rows.frame, "ts_recv")
        if text is None:
            return default
        ns, parsed, fine = parse_times(text)
        missing = (text == "").to_numpy(dtype=bool)
        rows.fail(~missing & ~(parsed & fine), lambda i: f"ts_recv {text.iloc[i]!r} is not a time")
        return np.where(missing, default, ns)

    def _trade_values(self, rows: _Rows, out: Arrays) -> None:
        out["price"] = self._number(rows, "price", positive=True, required=True)
        out["amount"] = self._number(rows, "amount", positive=True, required=True)
        side = self.text(rows.frame, "side")
        maker = self.text(rows.frame, "is_buyer_maker")
        if side is not None:
            values = side.str.lower().to_numpy(dtype=object)
            rows.fail(
                ~np.isin(values, ("buy", "sell", "")), lambda i: f"side {values[i]!r} is not buy or sell"
            )
        elif maker is not None:  # the buyer made the book: the seller took it
            flag = maker.str.lower()
            values = np.where(
                flag.isin(("true", "1")), "sell", np.where(flag.isin(("false", "0")), "buy", "")
            )
            values = values.astype(object)
        else:
            values = np.full(rows.n, "", dtype=object)
        out["side"] = values
        ids = self.text(rows.frame, "id")
        if ids is None:  # deterministic: the same row of the same file gets the same id
            out["id"] = self._made_ids(
                out["ts"].tolist(), out["price"].tolist(), out["amount"].tolist(), values
            )
        else:
            out["id"] = ids.to_numpy(dtype=object)
            rows.fail(out["id"] == "", lambda i: "no id")
        out["ts_recv"] = self._recv(rows, out["ts"])

    def _made_ids(
        self, ts: list[int], price: list[float], amount: list[float], side: np.ndarray
    ) -> np.ndarray:
        """``time:price:amount:side:n``, n counting identical rows (carried across chunks)."""
        counts = self.id_counts
        ids = []
        for key in zip(ts, price, amount, side.tolist(), strict=True):
            n = counts.get(key, 0)
            counts[key] = n + 1
            ids.append(f"{key[0]}:{key[1]!r}:{key[2]!r}:{key[3]}:{n}")
        last = max(ts, default=0)
        self.id_counts = {key: n for key, n in counts.items() if key[0] >= last}
        return np.array(ids, dtype=object)

    def _order(self, rows: _Rows, out: Arrays) -> None:
        """Times strictly increasing (bars) / never going back (trades) per exchange (and bar source);
        trade ids unique per exchange."""
        valid = rows.good
        groups = out["exchange"] if self.table == "trades" else out["exchange"] + "\x00" + out["source"]
        ts = out["ts"]
        early = np.zeros(rows.n, bool)
        for group in pd.unique(groups[valid]):
            at = np.flatnonzero(valid & (groups == group))
            key = str(group)
            before = np.maximum.accumulate(np.concatenate(([self.last_ts.get(key, -1)], ts[at][:-1])))
            early[at] = ts[at] <= before if self.table == "bars" else ts[at] < before
            self.last_ts[key] = max(int(before[-1]), int(ts[at][-1]))
        if self.table == "bars":
            rows.fail(
                early,
                lambda i: (
                    f"time {_time_text(int(ts[i]))} is not after the rows before it "
                    "(bar times must increase: monotonic and unique)"
                ),
            )
        else:
            rows.fail(early, lambda i: f"time {_time_text(int(ts[i]))} goes back before the rows above it")
            if "id" in self.layout.columns:
                self._unique_ids(rows, out["exchange"], out["id"])

    def _unique_ids(self, rows: _Rows, exchange: np.ndarray, ids: np.ndarray) -> None:
        valid = np.flatnonzero(rows.good)
        keys = pd.util.hash_array((exchange[valid] + "\x00" + ids[valid]).astype(object))
        repeated = np.zeros(rows.n, bool)
        seen = self.seen_ids
        for at, key in zip(valid, keys.tolist(), strict=True):
            if key in seen:
                repeated[at] = True
            else:
                seen.add(key)
        rows.fail(repeated, lambda i: f"trade id {ids[i]!r} repeats an earlier row")


# -- reading and storing ---------------------------------------------------------------------------------


def _chunks(path: Path, layout: Layout, progress: Any) -> Iterator[tuple[pd.DataFrame, int]]:
    """(chunk of text columns, line of its first row) of the file, advancing ``progress`` by bytes read."""
    raw, data = _open_text(path)
    with raw, data:
        reader = pd.read_csv(
            data,
            header=None,
            names=list(range(layout.fields)),
            skiprows=1 if layout.header else 0,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            index_col=False,
            chunksize=CHUNK_ROWS,
            encoding="utf-8-sig",
        )
        first_line = 2 if layout.header else 1
        done = 0
        try:
            for frame in reader:
                yield frame, first_line
                first_line += len(frame)
                position = raw.tell()
                progress.update(position - done)
                done = position
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
            reason = str(error).strip().replace("\n", " ")
            raise RejectedFile(
                f"{path}: not a well-formed CSV ({reason}); nothing was stored", (reason,), 1
            ) from None


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=not enabled, leave=False)


def show_progress(progress: bool | None) -> bool:
    """``progress`` as given; None: on in a terminal (stderr a tty) and in a Jupyter kernel."""
    if progress is not None:
        return progress
    ipython = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return hasattr(ipython, "kernel") or sys.stderr.isatty()


def _table_rows(table: str, symbol: str, timeframe: str | None, good: Arrays) -> list[tuple[Any, ...]]:
    n = len(good["ts"])
    names = {"symbol": [symbol] * n, "timeframe": [timeframe] * n}
    order = COLUMNS[table]  # the store's own column order
    columns = [names[c] if c in names else good[c].tolist() for c in order]
    return list(zip(*columns, strict=True))


def import_csv(
    store: Store | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    symbol: str,
    timeframe: str | None = None,
    exchange: str | None = None,
    skip_bad: bool = False,
    progress: bool | None = None,
) -> ImportReport:
    """Import the bars (``timeframe`` given) or trades (no ``timeframe``) of the CSV at ``path`` for
    ``symbol`` into ``store`` (see the module docstring). Raises ``RejectedFile`` for a bad file (nothing
    stored) unless ``skip_bad``; ``CaptureError`` for an unreadable one. ``progress``: a tqdm bar (None:
    in a terminal or notebook only)."""
    if not symbol or not symbol.strip():
        raise ConfigError("import: give the symbol the file holds, e.g. BTC/USDT")
    file = Path(path)
    if not file.is_file():
        raise CaptureError(f"{file}: no such file")
    table = "trades" if timeframe is None else "bars"
    tf_ns = timeframe_ns(timeframe) if timeframe is not None else 0
    layout = detect_layout(file, table)
    checker = _Checker(table, layout, symbol, exchange, timeframe, tf_ns)
    enabled = show_progress(progress)
    size = file.stat().st_size
    kept: list[Arrays] | None = []
    with _bar(size, f"check {file.name}", enabled) as bar:
        for frame, first_line in _chunks(file, layout, bar):
            good = checker.check(frame, first_line)
            if kept is not None:
                kept.append(good)
                if checker.rows > KEEP_ROWS:
                    kept = None  # too long to hold: read again to store
    if checker.bad and not skip_bad:
        shown = tuple(checker.problems)
        message = "\n  ".join(
            [
                f"{file}: {checker.bad} bad rows of {checker.rows}; nothing was stored "
                "(skip_bad / --skip-bad stores the good rows)",
                *shown,
            ]
        )
        raise RejectedFile(message + _more(checker.bad, shown), shown, checker.bad)
    stored = duplicates = 0
    owned = isinstance(store, Store)
    target = store if isinstance(store, Store) else Store(store)
    try:
        with _bar(size, f"store {file.name}", enabled and kept is None) as bar:
            if kept is None:
                again = _Checker(table, layout, symbol, exchange, timeframe, tf_ns)
                chunks: Iterator[Arrays] = (again.check(f, line) for f, line in _chunks(file, layout, bar))
            else:
                chunks = iter(kept)
            for good in chunks:
                rows = _table_rows(table, symbol, timeframe, good)
                if not rows:
                    continue
                result = target.commit({table: rows})
                stored += result.stored.get(table, 0)
                duplicates += result.duplicates.get(table, 0)
    finally:
        if not owned:
            target.close()
    return ImportReport(
        file,
        table,
        layout.name,
        symbol,
        timeframe,
        checker.rows,
        stored,
        duplicates,
        checker.bad,
        tuple(checker.problems),
    )


__all__ = ["ImportReport", "Layout", "detect_layout", "import_csv", "parse_times", "show_progress"]
