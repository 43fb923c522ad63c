"""Closed bars from an exchange's candles, so charts open with history already drawn (no ccxt here).

Two row shapes, each mapped to ``mdx.events.Bar`` (``closed=True``, ``ts_event`` = the bar's open time,
``ts_recv`` = when the candles arrived):

- ccxt OHLCV, any exchange (``fetch_ohlcv``)::

      [1723075200000, 61837.63, 61900.0, 61800.1, 61850.2, 12.5]   # [open ms, o, h, l, c, base volume]

  OHLCV says nothing about quote volume, VWAP, aggressor side or trade count, and mdx does not invent
  them: ``quote_volume``, ``vwap``, ``buy_volume`` and ``sell_volume`` are NaN, ``count`` is 0 (unknown).
  Bar consumers tolerate that: the VWAP indicator skips bars whose vwap is not finite, recordings
  round-trip NaN vwaps, the candle chart draws OHLC and volume as usual.

- Binance spot klines (``GET /api/v3/klines``), which carry what a bar built from trades has::

      [1723075200000, "61837.63", "61900.00", "61800.10", "61850.20", "12.50000000", 1723075259999,
       "773129.41", 1532, "7.25000000", "448299.40", "0"]
      # open ms, o, h, l, c, volume, close ms, quote volume, trades, taker-buy base, taker-buy quote, unused

  ``quote_volume`` and ``count`` as given, ``vwap = quote_volume / volume`` (the close when the bar had no
  volume, as mdx's own empty bars), ``buy_volume`` = taker-buy base volume (trades whose buyer was the
  aggressor, mdx's ``side == "buy"``), ``sell_volume = volume - buy_volume``.

A row that cannot be read is a counted ``MalformedFrame``; NaN / infinite / non-positive prices, negative
volumes, ``high < low`` or an open / close outside ``[low, high]`` are a counted ``InvalidValue``. The bar
still open at ``now`` (open time + timeframe > now) is dropped: history is closed bars only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ...errors import DataError, InvalidValue, MalformedFrame
from ...events import Bar, Trade, fast_constructor
from ...market.trades import valid_trade
from ...stats import Rejections

NAN = math.nan
KLINE_FIELDS = 11  # a Binance kline has 12; the last one is unused
BarReader = Callable[[str, str, str, Sequence[Any], int], Bar]  # (exchange, symbol, timeframe, row, ts_recv)


def finite_number(value: object) -> float | None:
    """A finite float, or None for None / NaN / inf / non-numbers (numeric strings are read)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _open_ms(row: Sequence[Any], where: str) -> int:
    stamp = row[0]
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not stamp > 0 or stamp % 1:
        raise MalformedFrame(f"{where}: bad open time {stamp!r}")
    return int(stamp)


def _prices(row: Sequence[Any], where: str) -> tuple[float, float, float, float, float]:
    """Open, high, low, close and base volume of a candle, checked."""
    values = [finite_number(value) for value in row[1:6]]
    o, h, low, c, v = values
    if o is None or h is None or low is None or c is None or v is None:
        raise InvalidValue(f"{where}: not a finite number in open/high/low/close/volume {list(row[1:6])!r}")
    if min(o, h, low, c) <= 0 or v < 0:
        raise InvalidValue(f"{where}: non-positive price or negative volume {list(row[1:6])!r}")
    if h < low or not low <= o <= h or not low <= c <= h:
        raise InvalidValue(f"{where}: high {h} / low {low} do not hold open {o} and close {c}")
    return o, h, low, c, v


def ohlcv_bar(exchange: str, symbol: str, timeframe: str, row: Sequence[Any], ts_recv: int) -> Bar:
    """A ccxt ``[ts, o, h, l, c, v]`` candle as a closed ``Bar``; raises ``DataError`` for a bad one."""
    where = f"{exchange} {symbol} {timeframe} candle"
    if not isinstance(row, Sequence) or isinstance(row, str) or len(row) < 6:
        raise MalformedFrame(f"{where}: expected [ts, open, high, low, close, volume], got {row!r}"[:300])
    ts_ms = _open_ms(row, where)
    o, h, low, c, v = _prices(row, f"{where} at {ts_ms}")
    return Bar(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        ts_event=ts_ms * 1_000_000,
        ts_recv=ts_recv,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=v,
        quote_volume=NAN,
        vwap=NAN,
        buy_volume=NAN,
        sell_volume=NAN,
        count=0,
        closed=True,
    )


def kline_bar(exchange: str, symbol: str, timeframe: str, row: Sequence[Any], ts_recv: int) -> Bar:
    """A Binance kline (see the module docstring) as a closed ``Bar``; raises ``DataError`` for a bad one."""
    where = f"{exchange} {symbol} {timeframe} kline"
    if not isinstance(row, Sequence) or isinstance(row, str) or len(row) < KLINE_FIELDS:
        raise MalformedFrame(f"{where}: expected a Binance kline of 12 fields, got {row!r}"[:300])
    ts_ms = _open_ms(row, where)
    where = f"{where} at {ts_ms}"
    o, h, low, c, v = _prices(row, where)
    quote, buy, trades = finite_number(row[7]), finite_number(row[9]), row[8]
    if quote is None or buy is None or quote < 0 or buy < 0:
        raise InvalidValue(f"{where}: bad quote volume {row[7]!r} or taker-buy volume {row[9]!r}")
    if isinstance(trades, bool) or not isinstance(trades, int) or trades < 0:
        raise InvalidValue(f"{where}: bad trade count {trades!r}")
    if buy > v * (1 + 1e-9):
        raise InvalidValue(f"{where}: taker-buy volume {buy} above the volume {v}")
    buy = min(buy, v)
    return Bar(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        ts_event=ts_ms * 1_000_000,
        ts_recv=ts_recv,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=v,
        quote_volume=quote,
        vwap=quote / v if v > 0 else c,
        buy_volume=buy,
        sell_volume=v - buy,
        count=trades,
        closed=True,
    )


def closed_bars(
    rows: Iterable[Sequence[Any]],
    to_bar: BarReader,
    key: tuple[str, str, str],
    tf_ns: int,
    now_ns: int,
    limit: int,
    rejections: Rejections,
) -> list[Bar]:
    """The last ``limit`` closed bars of ``rows`` (oldest first) for ``key`` = (exchange, symbol, timeframe),
    read with ``to_bar`` (``ohlcv_bar`` or ``kline_bar``). Bad rows and rows out of time order are counted in
    ``rejections``; the bar still open at ``now_ns`` is dropped."""
    exchange, symbol, timeframe = key
    bars: list[Bar] = []
    for row in rows:
        try:
            bar = to_bar(exchange, symbol, timeframe, row, now_ns)
        except DataError as error:
            rejections.add(error)
            continue
        if bars and bar.ts_event <= bars[-1].ts_event:
            at_ms = bar.ts_event // 1_000_000
            rejections.add(
                MalformedFrame(f"{exchange} {symbol} {timeframe} candle at {at_ms}: not after the one before")
            )
            continue
        if bar.ts_event + tf_ns > now_ns:
            continue  # still open
        bars.append(bar)
    return bars[-limit:] if limit > 0 else []


def ccxt_trade(exchange: str, symbol: str, raw: Any, ts_recv: int, *, need_id: bool = False) -> Trade:
    """A ccxt trade structure (``id``, ``timestamp`` in ms, ``price``, ``amount``, ``side``) as a ``Trade``;
    ``MalformedFrame`` / ``InvalidValue`` for what cannot be one (``need_id``: a trade without an id too)."""
    if not isinstance(raw, Mapping):
        raise MalformedFrame(f"{exchange} trade on {symbol}: not a trade: {raw!r}"[:300])
    raw_id = raw.get("id")
    trade_id = "" if raw_id is None else raw_id if type(raw_id) is str else str(raw_id)
    timestamp = raw.get("timestamp")
    if type(timestamp) is not int or timestamp <= 0:
        raise MalformedFrame(f"{exchange} trade {trade_id} on {symbol}: bad timestamp {timestamp!r}")
    if need_id and not trade_id:
        raise MalformedFrame(f"{exchange} trade on {symbol} at {timestamp}: no id")
    price, amount = raw.get("price"), raw.get("amount")
    if type(price) is not float or type(amount) is not float:  # ccxt parses to floats: others are rare
        price, amount = finite_number(price), finite_number(amount)
    if price is None or amount is None or not valid_trade(price, amount):
        raise InvalidValue(
            f"{exchange} trade {trade_id} on {symbol}: "
            f"price {raw.get('price')!r} amount {raw.get('amount')!r}"
        )
    side = raw.get("side")
    return _make_trade(
        exchange, symbol, timestamp * 1_000_000, ts_recv, trade_id, price, amount,
        side if side == "buy" or side == "sell" else "",
    )  # fmt: skip


_make_trade = fast_constructor(Trade)

__all__ = ["ccxt_trade", "closed_bars", "finite_number", "kline_bar", "ohlcv_bar"]
