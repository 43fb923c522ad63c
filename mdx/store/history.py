"""Stored bars as a chart's history: what a monitor opened with ``--db`` shows before its source's own.

``stored_bars(path, exchange, symbols, timeframes, start_ns, end_ns)`` reads the closed bars the store
holds for one exchange, as ``Bar`` events in time order per (symbol, timeframe). Where the store has a
bar both built by mdx and built by the exchange at the same open time, mdx's own is taken (it is what
the live session would have drawn).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..events import Bar
from ..market.bars import BAR_COLUMNS
from . import reader

_NAMES = (*BAR_COLUMNS, "ts_recv")
_COLUMNS = ", ".join(_NAMES)
_PREFERENCE = "CASE source WHEN 'mdx' THEN 0 ELSE 1 END"


def stored_bars(
    path: str | Path,
    exchange: str,
    symbols: Iterable[str],
    timeframes: Iterable[str],
    start_ns: int,
    end_ns: int,
) -> list[Bar]:
    """Closed bars of ``exchange`` with ``start_ns <= open < end_ns``, one per open time (mdx-built
    preferred), ordered by (symbol, timeframe, open time)."""
    bars: list[Bar] = []
    with reader.connect(Path(path)) as conn:
        for symbol in symbols:
            for timeframe in timeframes:
                rows = conn.execute(
                    f"SELECT ts, {_COLUMNS} FROM bars WHERE symbol = ? AND timeframe = ? AND exchange = ? "
                    f"AND ts >= ? AND ts < ? ORDER BY ts, {_PREFERENCE}",
                    (symbol, timeframe, exchange, start_ns, end_ns),
                ).fetchall()
                last = None
                for row in rows:
                    if row[0] == last:  # the exchange-built twin of a bar mdx built
                        continue
                    last = row[0]
                    bars.append(_bar(exchange, symbol, timeframe, row))
    return bars


def _bar(exchange: str, symbol: str, timeframe: str, row: tuple) -> Bar:
    values = dict(zip(_NAMES, row[1:], strict=True))
    nan = float("nan")
    return Bar(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        ts_event=int(row[0]),
        ts_recv=int(values["ts_recv"]),
        open=float(values["open"]),
        high=float(values["high"]),
        low=float(values["low"]),
        close=float(values["close"]),
        volume=float(values["volume"]),
        quote_volume=_float(values["quote_volume"], nan),
        vwap=_float(values["vwap"], nan),
        buy_volume=_float(values["buy_volume"], nan),
        sell_volume=_float(values["sell_volume"], nan),
        count=int(values["count"]),
        closed=True,
    )


def _float(value: object, default: float) -> float:
    return default if value is None else float(value)  # type: ignore[arg-type]
