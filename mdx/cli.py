"""The ``mdx`` command: monitor, record, replay.

``--db PATH`` (monitor, record) stores what the session sees in the SQLite store at PATH (``mdx.Store``):
trades, closed bars, book tops and alerts. ``mdx record --db`` stores while it records (``--out`` is then
optional); ``mdx monitor --db`` opens the store first (a file that is not an mdx store is refused
before Voilà starts) and hands its absolute path to the kernels as ``MDX_DB``.

Arguments are checked before any work starts: a bad option value is an argparse error (usage, one line,
exit 2), and an ``MdxError`` from a command (an unknown exchange, a missing or unreadable file) is one line
``mdx COMMAND: message`` on stderr with exit 2. ``mdx replay`` fails the same way when a file yields no
events at all; ``mdx monitor`` checks its sources before it starts Voilà.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import (
    DEFAULT_CHANNELS,
    DEFAULT_HISTORY,
    DEFAULT_SYMBOLS,
    KNOWN_CHANNELS,
    Credentials,
    Settings,
    history_ns,
)
from .errors import ConfigError, MdxError
from .serve import DEFAULT_CULL_AFTER, DEFAULT_MAX_KERNELS

EPILOG = """\
sources:
  sim                 the embedded, seeded market simulator (default; needs no network)
  replay:PATH[,PATH]  Binance captures (gzip '<recv_ns> <json>' lines) or mdx recordings
  EXCHANGE            a ccxt exchange id such as binance (live, through ccxt.pro; needs network)
  A+B                 several sources side by side in one session, e.g. sim+replay:PATH (monitor)

examples:
  mdx monitor                                  serve the live dashboard on http://localhost:8866
  mdx monitor --source replay:../shared/data/binance-spot-l2-trades/btcusdt_20240808.gz --symbols BTC/USDT
  mdx record --seconds 60 --out sim.mdx.jsonl.gz   record 60 s of simulated market data
  mdx record --seconds 60 --db market.db           store 60 s of trades, bars and book tops
  mdx replay sim.mdx.jsonl.gz --timeframe 1m       replay a recording or capture and summarize it
"""


def _symbols(value: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in value.split(",") if s.strip())


def _positive(*, finite: bool) -> Callable[[str], float]:
    """An argparse type: a float > 0 (and finite when ``finite``), else a one-line error."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
        if not number > 0 or (finite and not math.isfinite(number)):
            bound = "a finite number > 0" if finite else "a number > 0 (inf: as fast as possible)"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value!r}")
        return number

    return parse


def _at_least_one(value: str) -> int:
    """An argparse type: a whole number >= 1, else a one-line error."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value!r}")
    return number


def _recording_path(value: str) -> Path:
    """An argparse type: a path a recording can be written to (``mdx.io.recording.check_output``)."""
    from .io.recording import check_output

    try:
        return check_output(value)
    except MdxError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _duration(value: str) -> str:
    try:
        history_ns(value)
    except MdxError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _db_path(value: str) -> Path:
    """An argparse type: the store's path, absolute (the monitor's kernels run in another folder)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("the store's path is empty")
    return Path(value).expanduser().resolve()


def _add_db_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--db", type=_db_path, default=None, metavar="PATH", help=what)


def _channels(value: str) -> tuple[str, ...]:
    channels = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [c for c in channels if c not in KNOWN_CHANNELS]
    if unknown or not channels:
        raise argparse.ArgumentTypeError(f"channels are some of {', '.join(KNOWN_CHANNELS)}; got {value!r}")
    return channels


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        default="sim",
        help="sim | replay:PATH[,PATH] | EXCHANGE[,EXCHANGE] | redis://HOST:PORT/DB, or several joined by + "
        "(default: sim)",
    )
    parser.add_argument(
        "--channels",
        type=_channels,
        default=DEFAULT_CHANNELS,
        help="what live sources follow per symbol, comma-separated: trades, book, ticker, ohlcv, funding, "
        "mark, open_interest, liquidations (default: trades,book)",
    )
    parser.add_argument("--exchange", default="", help="exchange name shown for the source (optional)")
    parser.add_argument(
        "--symbols",
        type=_symbols,
        default=DEFAULT_SYMBOLS,
        help="comma-separated unified symbols (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (default: 7)")
    parser.add_argument(
        "--speed",
        type=_positive(finite=False),
        default=1.0,
        help="playback speed x real time (default: 1)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mdx",
        description="mdx: watch and study crypto markets in Jupyter — live books, trades, bars, indicators.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    monitor = commands.add_parser("monitor", help="serve the live monitor dashboard with Voilà")
    _add_source_options(monitor)
    monitor.add_argument("--port", type=int, default=8866, help="port to serve on (default: 8866)")
    monitor.add_argument("--no-browser", action="store_true", help="do not open a browser")
    monitor.add_argument(
        "--preheat", action="store_true", help="keep preheated kernels for instant first render"
    )
    monitor.add_argument(
        "--history",
        type=_duration,
        default=DEFAULT_HISTORY,
        metavar="DURATION",
        help="how far back the charts start: simulator history, exchange candles (e.g. 90m, 6h, 2d; 0: none; "
        f"default: {DEFAULT_HISTORY})",
    )
    monitor.add_argument(
        "--cull-after",
        type=_positive(finite=True),
        default=DEFAULT_CULL_AFTER,
        metavar="SECONDS",
        help=f"shut a kernel down this long after its viewer is gone (default: {DEFAULT_CULL_AFTER:g})",
    )
    monitor.add_argument(
        "--max-kernels",
        type=_at_least_one,
        default=DEFAULT_MAX_KERNELS,
        metavar="N",
        help="viewers served at once; one more is told it is full, HTTP 503 "
        f"(default: {DEFAULT_MAX_KERNELS})",
    )
    _add_db_option(monitor, "store trades, closed bars, book tops and alerts in this SQLite file")

    record = commands.add_parser("record", help="record normalized events from a source to a file")
    _add_source_options(record)
    record.add_argument(
        "--out",
        type=_recording_path,
        help="output file: NAME.mdx.jsonl.gz (or NAME.mdx.jsonl, not compressed) in an existing folder "
        "(required unless --db is given)",
    )
    _add_db_option(record, "also store trades, closed bars and book tops in this SQLite file")
    record.add_argument(
        "--seconds",
        type=_positive(finite=True),
        default=60.0,
        help="event-time seconds to record (default: 60)",
    )
    record.add_argument(
        "--realtime",
        action="store_true",
        help="pace offline sources in real time (default: as fast as possible)",
    )

    replay = commands.add_parser("replay", help="replay captures or recordings and print a summary")
    replay.add_argument("paths", nargs="+", help="Binance capture files or mdx recordings")
    replay.add_argument("--timeframe", default="1m", help="bar timeframe to build (default: 1m)")
    replay.add_argument("--bars", type=int, default=5, help="how many of the last bars to print (default: 5)")

    backfill = commands.add_parser(
        "backfill",
        help="fetch an exchange's past candles (and trades) into the store; resumable",
        description="Page an exchange's past candles (and with --trades its trades) into the store, within "
        "its rate limit. A second run carries on after the last stored row; nothing is stored twice. "
        "Holes in the exchange's own history are listed. ccxt options (urls, ...) come from "
        "MDX_<EXCHANGE>_CCXT_OPTIONS.",
    )
    backfill.add_argument("exchange_id", metavar="EXCHANGE", help="a ccxt exchange id, e.g. binance")
    backfill.add_argument("symbol", metavar="SYMBOL", help="a unified symbol, e.g. BTC/USDT")
    backfill.add_argument("--timeframe", default="1m", help="candle timeframe (default: 1m)")
    backfill.add_argument(
        "--since", type=_time_ms, required=True, metavar="DATE", help="start: a date or ISO time, UTC"
    )
    backfill.add_argument(
        "--until", type=_time_ms, default=None, metavar="DATE", help="end, exclusive (default: now)"
    )
    backfill.add_argument("--trades", action="store_true", help="also fetch past trades (tick history)")
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_db_option(backfill, "the SQLite store (default: MDX_DB, else the user's data directory)")

    collect = commands.add_parser(
        "collect",
        help="run one source and publish it to Redis for many dashboards (--source redis://...)",
        description="Run the session once and publish its events to Redis Streams (one per exchange, "
        "symbol and channel), latest values and book views to keys with a TTL, and the last closed bars; "
        "dashboards then read it with `mdx monitor --source redis://HOST:PORT/DB`. A password in the URL "
        "(redis://:PASSWORD@HOST:PORT/DB) is never printed.",
    )
    _add_source_options(collect)
    collect.add_argument(
        "--redis", default="", metavar="URL", help="redis://[:PASSWORD@]HOST:PORT/DB (default: MDX_REDIS_URL)"
    )
    collect.add_argument(
        "--seconds", type=_positive(finite=True), default=None, help="stop after this long (default: never)"
    )
    collect.add_argument(
        "--history", type=_duration, default=DEFAULT_HISTORY, metavar="DURATION",
        help=f"bars published before the stream (simulator, exchange candles; default: {DEFAULT_HISTORY})",
    )  # fmt: skip
    collect.add_argument("--maxlen", type=_at_least_one, default=100_000, help="entries kept per stream")
    collect.add_argument("--ttl", type=_positive(finite=True), default=60.0, help="latest values live, s")
    collect.add_argument("--bars", type=_at_least_one, default=500, help="closed bars kept per timeframe")
    collect.set_defaults(db=None)
    _add_import_export(commands)
    return parser


def _add_import_export(commands: Any) -> None:
    """``mdx import`` and ``mdx export`` (``mdx.store.import_csv`` / ``mdx.store.export``)."""
    imp = commands.add_parser(
        "import",
        help="import bars or trades from a CSV file into the store (checked; a bad file stores nothing)",
        description="Import OHLCV bars (with --timeframe) or trades (without) from a CSV: ccxt-style "
        "columns, Binance kline or trade dumps (ms or µs times; .csv, .gz, .zip) or mdx export output. "
        "A file with bad rows is refused whole, listing their lines; --skip-bad stores the good rows. "
        "Importing a file again stores nothing twice.",
    )
    imp.add_argument("file", metavar="FILE", help="the CSV file")
    imp.add_argument("--symbol", required=True, help="the unified symbol it holds, e.g. BTC/USDT")
    imp.add_argument("--timeframe", default=None, help="bar timeframe, e.g. 1m (omit for trades)")
    imp.add_argument("--exchange", default=None, help="exchange name (default: the file's)")
    imp.add_argument("--skip-bad", action="store_true", help="store the good rows and report the bad ones")
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_db_option(imp, "the SQLite store (default: MDX_DB, else the user's data directory)")

    exp = commands.add_parser(
        "export",
        help="export a symbol's trades or bars from the store to CSV or a Parquet dataset",
        description="Write the trades (no --timeframe) or bars of a symbol to one CSV file or to a "
        "Hive-partitioned Parquet dataset OUT/exchange=/symbol=/date= (symbols percent-encoded: "
        "symbol=BTC%%2FUSDT) that DuckDB, Polars, pandas and Spark read as is.",
    )
    exp.add_argument("--symbol", required=True, help="unified symbol, e.g. BTC/USDT")
    exp.add_argument("--timeframe", default=None, help="bar timeframe, e.g. 1m (omit for trades)")
    exp.add_argument("--format", required=True, choices=("csv", "parquet"), help="csv or parquet")
    exp.add_argument("--out", required=True, type=Path, metavar="PATH", help="CSV file / dataset folder")
    exp.add_argument("--exchange", default=None, help="only this exchange's rows")
    exp.add_argument("--start", default=None, metavar="TIME", help="from this date or ISO time, UTC")
    exp.add_argument("--end", default=None, metavar="TIME", help="until this time, exclusive")
    exp.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_db_option(exp, "the SQLite store (default: MDX_DB, else the user's data directory)")


def cmd_import(args: argparse.Namespace) -> int:
    from .store import import_csv

    with _open_store(args.db) as store:
        report = import_csv(
            store,
            args.file,
            symbol=args.symbol,
            timeframe=args.timeframe,
            exchange=args.exchange,
            skip_bad=args.skip_bad,
            progress=False if args.no_progress else None,
        )
        print(f"{report}\nstore: {store.path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .store import export

    with _open_store(args.db) as store:
        report = export(
            store,
            symbol=args.symbol,
            timeframe=args.timeframe,
            format=args.format,
            out=args.out,
            exchange=args.exchange,
            start=args.start,
            end=args.end,
            progress=False if args.no_progress else None,
        )
    print(report)
    return 0


def _time_ms(value: str) -> int:
    """An argparse type: a date or ISO time (naive: UTC) as ms since the epoch."""
    from .store.reader import to_ns

    try:
        ns = to_ns(value, "time")
    except MdxError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return (ns or 0) // 1_000_000


def _settings(args: argparse.Namespace) -> Settings:
    """The settings the options describe, with the exchange credentials of the environment
    (``MDX_<EXCHANGE>_API_KEY`` ..., ``MDX_CREDENTIALS_FILE``) when a source is live: only then are they
    read, so a broken credentials file does not stop the simulator or a replay."""
    settings = Settings(
        source=args.source,
        exchange=args.exchange,
        symbols=args.symbols,
        speed=args.speed,
        seed=args.seed,
        history=getattr(args, "history", DEFAULT_HISTORY),
        db=str(args.db or ""),
        channels=args.channels,
    )
    if settings.live_exchanges:
        settings = replace(settings, credentials=Credentials.from_env())
    return settings


def cmd_monitor(args: argparse.Namespace) -> int:
    from .serve import serve_monitor

    if args.db is not None:
        _open_store(args.db).close()  # created or migrated now: a bad file fails here, not in every kernel

    return serve_monitor(
        _settings(args),
        port=args.port,
        open_browser=not args.no_browser,
        preheat=args.preheat,
        cull_after=args.cull_after,
        max_kernels=args.max_kernels,
    )


def _open_store(path: Path) -> Any:
    from .store import Store

    return Store(path)


def cmd_record(args: argparse.Namespace) -> int:
    import asyncio

    from .io.recorder import record_offline, record_stream
    from .sources import OfflineSource, make_source

    if args.db is not None:
        return _record_to_store(args)
    if args.out is None:
        raise ConfigError("give --out FILE (a recording), --db PATH (a store), or both")
    source = make_source(_settings(args))
    if isinstance(source, OfflineSource) and not args.realtime:
        result = record_offline(source, args.out, seconds=args.seconds)
        span = "of event time"
    else:
        result = asyncio.run(record_stream(source, args.out, seconds=args.seconds, speed=args.speed))
        span = "of wall-clock time"
    print(
        f"recorded {result.events} events ({args.seconds:g} s {span}) to {args.out}; "
        f"rejected {result.rejections.total} {dict(result.rejections.by_reason)}"
    )
    return 0


class _Tee:
    """Each event of a source: into the recording (as ``mdx.io.recorder`` writes it) and through a session
    that stores it."""

    def __init__(self, session: Any, recording: Any) -> None:
        self.session, self.recording, self.events = session, recording, 0

    def take(self, event: Any) -> None:
        if self.recording is not None:
            self.recording.write(event)
        self.session.process(event)
        self.events += 1


def _record_to_store(args: argparse.Namespace) -> int:
    """``mdx record --db``: the source's events through a session writing to the store (and to the
    recording when ``--out`` is given): the first ``--seconds`` of event time of an offline source, as
    fast as it reads, else ``--seconds`` of wall-clock time."""
    import asyncio
    import contextlib

    from .clock import SimulatedClock
    from .io.recording import RecordingWriter
    from .session import Session
    from .sources import OfflineSource, make_source

    settings = _settings(args)
    store = _open_store(args.db)
    source = make_source(settings)
    offline = isinstance(source, OfflineSource) and not args.realtime
    clock = SimulatedClock() if offline else None
    session = Session(source, timeframes=settings.timeframes, clock=clock, store=store)
    with contextlib.ExitStack() as stack:
        recording = None
        if args.out is not None:
            recording = stack.enter_context(RecordingWriter(args.out, meta={"source": source.name}))
        tee = _Tee(session, recording)
        if offline:
            _take_offline(source, tee, args.seconds)
            span = "of event time"
        else:
            asyncio.run(_take_stream(source, tee, args.seconds, args.speed))
            span = "of wall-clock time"
    writer = session.store_writer
    writer.close()
    stats = writer.stats()
    tables = ", ".join(f"{table} {n}" for table, n in sorted(stats.stored.items())) or "nothing new"
    into = f" to {args.out} and" if args.out is not None else ""
    print(
        f"recorded {tee.events} events ({args.seconds:g} s {span}){into} to the store {store.path}: "
        f"stored {tables}; already there {sum(stats.duplicates.values())}; "
        f"rejected {session.rejections.total} {dict(session.rejections.by_reason)}"
    )
    return 0


def _take_offline(source: Any, tee: _Tee, seconds: float) -> None:
    end_ns: int | None = None
    for event in source.iter_events(tee.session.rejections):
        if end_ns is None:
            end_ns = event.ts_event + int(seconds * 1e9)
        if event.ts_event > end_ns:
            break
        tee.take(event)


async def _take_stream(source: Any, tee: _Tee, seconds: float, speed: float) -> None:
    import asyncio
    import contextlib

    from .sources.base import open_stream

    stream = open_stream(source, tee.session.clock, tee.session.rejections, speed)
    async with contextlib.aclosing(stream):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for event in stream:
                    tee.take(event)


def cmd_replay(args: argparse.Namespace) -> int:
    from .clock import SimulatedClock
    from .events import Bar
    from .io.capture import check_capture
    from .market.bars import bars_to_frame
    from .session import Session
    from .sources.replay import ReplaySource

    for path in args.paths:  # a file that yields no event at all is an error, not an empty summary
        check_capture(path)
    session = Session(ReplaySource(args.paths), timeframes=(args.timeframe,), clock=SimulatedClock())
    started = time.perf_counter()
    session.run_until_done()
    elapsed = time.perf_counter() - started
    print(
        f"{session.events_processed} events in {elapsed:.2f} s ({session.events_processed / elapsed:,.0f}/s)"
    )
    for (exchange, symbol), book in sorted(session.books.items()):  # the run is over: safe to read
        state = "in sync" if book.in_sync else "OUT OF SYNC"
        print(
            f"  {exchange} {symbol}: book {state} at seq {book.seq}, "
            f"mid {book.mid:.8g}, spread {book.spread_bps:.2f} bps"
        )
    tf = args.timeframe
    for key in session.cache.keys(Bar):
        bars = session.cache.bars(key, tf, include_open=True)
        print(f"  {key[0]} {key[1]} {tf}: {len(bars)} bars; last {min(args.bars, len(bars))}:")
        if bars:
            print(bars_to_frame(bars[-args.bars :]).to_string())
    print(f"rejected: {session.rejections.total} {dict(session.rejections.by_reason)}")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from .store.backfill import run_backfill

    with _open_store(args.db) as store:
        report = run_backfill(
            store,
            args.exchange_id,
            args.symbol,
            args.timeframe,
            args.since,
            args.until,
            trades=args.trades,
            progress=not args.no_progress,
        )
    print(report.summary())
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from .config import redact_url
    from .sources import make_sources
    from .sources.redis import Collector

    url = args.redis or os.environ.get("MDX_REDIS_URL", "")
    if not url:
        raise ConfigError("collect needs --redis redis://HOST:PORT/DB (or MDX_REDIS_URL)")
    settings = replace(_settings(args), redis_url=url)
    if any(spec.startswith(("redis://", "rediss://")) for spec in settings.source_specs):
        raise ConfigError("collect publishes a simulator, a replay or an exchange; it does not read Redis")
    collector = Collector(
        make_sources(settings), url, timeframes=settings.timeframes, speed=settings.speed,
        maxlen=args.maxlen, ttl_s=args.ttl, bars_kept=args.bars,
    )  # fmt: skip
    session, publisher = collector.session, collector.publisher
    print(f"collecting {session.name} {','.join(session.symbols)} into {redact_url(url)}", flush=True)
    asyncio.run(collector.run(seconds=args.seconds))
    print(
        f"published {publisher.published} events to {redact_url(url)}; already there {publisher.skipped}; "
        f"lost to a full buffer {publisher.dropped}; not written {publisher.pending}; "
        f"rejected {session.rejections.total} {dict(session.rejections.by_reason)}"
    )
    return 0 if collector.drained else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    handlers = {"monitor": cmd_monitor, "record": cmd_record, "replay": cmd_replay, "backfill": cmd_backfill}
    handlers["collect"] = cmd_collect
    handlers["import"], handlers["export"] = cmd_import, cmd_export
    try:
        return handlers[args.command](args)
    except MdxError as error:
        print(f"mdx {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
