"""Bars from trades: batch (resample_trades) == streaming (BarBuilder) == pandas == the exchanges' bars."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mdx.errors import DataError, InvalidTimeframe, InvalidValue
from mdx.events import Bar, Trade
from mdx.market.bars import BAR_COLUMNS, BarBuilder, bars_to_frame, resample_trades, trades_to_frame
from mdx.market.timeframes import timeframe_ns
from mdx.stats import Rejections

MS = 1_000_000
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC, ms
MINUTE = 60_000


def trades_frame(rows: list[tuple[int, float, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["timestamp", "price", "amount", "side"])


def synthetic(n: int, seed: int = 1, gap_every: int = 0) -> pd.DataFrame:
    """Random trades with bursts, long quiet gaps and a few unknown sides."""
    rng = np.random.default_rng(seed)
    dt = rng.exponential(900.0, n)
    if gap_every:
        dt[::gap_every] += rng.integers(60_000, 400_000, dt[::gap_every].size)
    ts = T0 + np.cumsum(dt).astype(np.int64)
    ts[5:15] = ts[5]  # a run of equal timestamps
    price = np.round(100 * np.exp(np.cumsum(rng.normal(0, 5e-4, n))), 2)
    amount = np.round(rng.exponential(2.0, n), 4) + 0.0001
    side = np.where(rng.random(n) < 0.5, "buy", "sell").astype(object)
    side[rng.random(n) < 0.02] = None
    return pd.DataFrame({"timestamp": ts, "price": price, "amount": amount, "side": side, "id": np.arange(n)})


def pandas_bars(trades: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Reference: the same bars through pandas resample (slow, obvious)."""
    df = trades.sort_values("timestamp", kind="stable")
    index = pd.to_datetime(df["timestamp"].to_numpy(), unit="ms", utc=True).as_unit("ns")
    side = df["side"] if "side" in df else pd.Series("", index=df.index)
    frame = pd.DataFrame(
        {
            "price": df["price"].to_numpy(),
            "amount": df["amount"].to_numpy(),
            "quote": (df["price"] * df["amount"]).to_numpy(),
            "buy": df["amount"].where(side == "buy", 0.0).to_numpy(),
            "sell": df["amount"].where(side == "sell", 0.0).to_numpy(),
        },
        index=index,
    )
    rule = pd.Timedelta(timeframe_ns(timeframe), "ns")
    r = frame.resample(rule)
    out = r["price"].ohlc()
    out["volume"] = r["amount"].sum()
    out["quote_volume"] = r["quote"].sum()
    out["buy_volume"] = r["buy"].sum()
    out["sell_volume"] = r["sell"].sum()
    out["count"] = r["price"].count().astype(np.int64)
    out["close"] = out["close"].ffill()
    for col in ("open", "high", "low"):
        out[col] = out[col].fillna(out["close"])
    out["vwap"] = (out["quote_volume"] / out["volume"]).where(out["count"] > 0, out["close"])
    out.index.name = "timestamp"
    return out[list(BAR_COLUMNS)]


def trade_events(trades: pd.DataFrame, exchange: str = "test", symbol: str = "BTC/USDT") -> list[Trade]:
    sides = trades["side"] if "side" in trades else [""] * len(trades)
    return [
        Trade(exchange, symbol, int(ts) * MS, int(ts) * MS + 7, str(i), float(p), float(a), s if s else "")
        for i, ts, p, a, s in zip(
            trades.index, trades["timestamp"], trades["price"], trades["amount"], sides, strict=True
        )
    ]


def stream(trades: list[Trade], timeframe: str) -> tuple[list[Bar], BarBuilder]:
    builder = BarBuilder("test", "BTC/USDT", timeframe)
    closed: list[Bar] = []
    for trade in trades:
        closed.extend(builder.update(trade))
    return closed, builder


def streamed_frame(trades: list[Trade], timeframe: str) -> pd.DataFrame:
    closed, builder = stream(trades, timeframe)
    assert all(bar.closed for bar in closed)
    current = builder.current
    return bars_to_frame([*closed, *([current] if current is not None else [])])


# -- batch: format and semantics --------------------------------------------------------------------


def test_format_and_gap_filling() -> None:
    trades = trades_frame(
        [
            (T0 + 1_000, 10.0, 1.0, "buy"),
            (T0 + 2_000, 12.0, 2.0, "sell"),
            (T0 + 3_000, 9.0, 1.0, "buy"),
            (T0 + 3 * MINUTE + 500, 11.0, 4.0, "sell"),
        ]
    )
    bars = resample_trades(trades, "1m")
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert bars.index.name == "timestamp"
    assert str(bars.index.tz) == "UTC"
    assert bars["count"].dtype == np.int64
    assert (bars.dtypes.drop("count") == np.float64).all()
    assert bars.attrs["rejected"] == 0
    start = pd.Timestamp(T0 // MINUTE * MINUTE, unit="ms", tz="UTC")
    assert list(bars.index) == [start + pd.Timedelta(minutes=i) for i in range(4)]
    first = bars.iloc[0]
    assert (first.open, first.high, first.low, first.close) == (10.0, 12.0, 9.0, 9.0)
    assert (first.volume, first.quote_volume, first.buy_volume, first.sell_volume) == (4.0, 43.0, 2.0, 2.0)
    assert first.vwap == 43.0 / 4.0
    assert first["count"] == 3
    for i in (1, 2):  # empty minutes: flat at the previous close, nothing traded, vwap = close
        gap = bars.iloc[i]
        assert (gap.open, gap.high, gap.low, gap.close, gap.vwap) == (9.0,) * 5
        assert gap[["volume", "quote_volume", "buy_volume", "sell_volume", "count"]].tolist() == [0] * 5
    last = bars.iloc[3]
    assert (last.open, last.close, last.volume, last.sell_volume, last["count"]) == (11.0, 11.0, 4.0, 4.0, 1)


def test_empty_input() -> None:
    empty = trades_frame([])
    bars = resample_trades(empty, "1m")
    assert bars.empty
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert bars["count"].dtype == np.int64
    assert isinstance(bars.index, pd.DatetimeIndex) and str(bars.index.tz) == "UTC"
    assert bars.attrs["rejected"] == 0
    pd.testing.assert_frame_equal(bars, bars_to_frame([]))


def test_single_trade() -> None:
    bars = resample_trades(trades_frame([(T0 + 59_999, 5.0, 2.0, "buy")]), "1m")
    assert len(bars) == 1
    assert bars.index[0] == pd.Timestamp(T0 + 59_999 - (T0 + 59_999) % MINUTE, unit="ms", tz="UTC")
    row = bars.iloc[0]
    assert row[["open", "high", "low", "close", "vwap"]].tolist() == [5.0] * 5
    assert (row.volume, row.buy_volume, row.sell_volume, row["count"]) == (2.0, 2.0, 0.0, 1)


def test_bar_boundaries_are_half_open() -> None:
    start = T0 // MINUTE * MINUTE
    trades = trades_frame(
        [(start, 1.0, 1.0, "buy"), (start + MINUTE - 1, 2.0, 1.0, "buy"), (start + MINUTE, 3.0, 1.0, "buy")]
    )
    bars = resample_trades(trades, "1m")
    assert bars["count"].tolist() == [2, 1]
    assert bars["close"].tolist() == [2.0, 3.0]


def test_side_missing_or_unknown() -> None:
    trades = synthetic(500)
    no_side = resample_trades(trades.drop(columns="side"), "1m")
    assert (no_side["buy_volume"] == 0).all() and (no_side["sell_volume"] == 0).all()
    with_side = resample_trades(trades, "1m")
    pd.testing.assert_frame_equal(
        no_side.drop(columns=["buy_volume", "sell_volume"]),
        with_side.drop(columns=["buy_volume", "sell_volume"]),
    )
    unknown = trades["side"].isna()
    assert unknown.any()
    # unknown sides count in neither: buy + sell < volume in the bars that hold one
    assert (with_side["buy_volume"] + with_side["sell_volume"] <= with_side["volume"] + 1e-9).all()
    weird = trades.assign(side=trades["side"].where(~unknown, "BUY?"))
    pd.testing.assert_frame_equal(resample_trades(weird, "1m"), with_side)


def test_side_as_categorical_bool_and_pandas_string() -> None:
    trades = synthetic(2_000).dropna(subset=["side"])
    expected = resample_trades(trades, "5m")
    as_category = trades.assign(side=trades["side"].astype("category"))
    as_bool = trades.assign(side=trades["side"] == "buy")
    as_string = trades.assign(side=trades["side"].astype("str"))
    for variant in (as_category, as_bool, as_string):
        pd.testing.assert_frame_equal(resample_trades(variant, "5m"), expected)
    with pytest.raises(DataError, match="side"):
        resample_trades(trades.assign(side=1.5), "5m")
    shouting = resample_trades(trades.assign(side=trades["side"].str.upper().astype("category")), "5m")
    assert (shouting["buy_volume"] == 0).all() and (shouting["sell_volume"] == 0).all()  # exact names only


def test_matches_pandas_resample() -> None:
    trades = synthetic(20_000, seed=3, gap_every=997)
    for timeframe in ("1s", "1m", "15m", "1h"):
        ours = resample_trades(trades, timeframe)
        ref = pandas_bars(trades, timeframe)
        assert (ours["volume"] == 0).any() or timeframe in ("15m", "1h")
        # OHLC and counts are exact; sums agree to rounding (pandas sums with compensation)
        pd.testing.assert_frame_equal(ours, ref, check_exact=False, rtol=1e-12, atol=1e-9, check_freq=False)
        ohlc = ["open", "high", "low", "close", "count"]
        pd.testing.assert_frame_equal(ours[ohlc], ref[ohlc], check_exact=True, check_freq=False)


def test_unsorted_input_is_sorted_stably() -> None:
    trades = synthetic(3_000, seed=5)
    shuffled = trades.sample(frac=1.0, random_state=7)
    stable = shuffled.sort_values("timestamp", kind="stable")
    pd.testing.assert_frame_equal(resample_trades(shuffled, "1m"), resample_trades(stable, "1m"))
    # stability: trades with equal timestamps keep their input order, so the last one is the close
    start = T0 // MINUTE * MINUTE
    tied = trades_frame(
        [(start + 5, 2.0, 1.0, "buy"), (start + 1, 1.0, 1.0, "buy"), (start + 5, 3.0, 1.0, "buy")]
    )
    bars = resample_trades(tied, "1m")
    assert (bars.iloc[0].open, bars.iloc[0].close) == (1.0, 3.0)
    # a trade later than the last row, and a last row earlier than the first one
    jumbled = trades_frame(
        [
            (start + 2 * MINUTE, 2.0, 1.0, "buy"),
            (start + 9 * MINUTE, 9.0, 1.0, "buy"),
            (start, 1.0, 1.0, "buy"),
        ]
    )
    bars = resample_trades(jumbled, "1m")
    assert len(bars) == 10 and bars["count"].sum() == 3
    assert bars["close"].tolist() == [1.0, 1.0, 2.0, *[2.0] * 6, 9.0]


def test_bad_rows_are_dropped_and_counted() -> None:
    good = synthetic(1_000, seed=9)
    bad = pd.DataFrame(
        {
            "timestamp": good["timestamp"].iloc[[0, 10, 500, 999, 999, 3, 700]].to_numpy(),
            "price": [np.nan, -1.0, 0.0, 5.0, np.inf, 10.0, 1e200],
            "amount": [1.0, 1.0, 1.0, np.nan, 1.0, 0.0, 1e200],  # the last: price * amount overflows
            "side": "buy",
            "id": -1,
        }
    )
    mixed = pd.concat([bad.iloc[:1], good, bad.iloc[1:]], ignore_index=True)
    bars = resample_trades(mixed, "1m")
    assert bars.attrs["rejected"] == len(bad)
    expected = resample_trades(good, "1m")
    pd.testing.assert_frame_equal(bars, expected)


def test_float_timestamps_with_nan_are_rejected_rows() -> None:
    trades = synthetic(200, seed=2)
    with_nan = trades.astype({"timestamp": np.float64})
    with_nan.loc[[3, 50], "timestamp"] = np.nan
    bars = resample_trades(with_nan, "1m")
    assert bars.attrs["rejected"] == 2
    pd.testing.assert_frame_equal(bars, resample_trades(trades.drop(index=[3, 50]), "1m"))


def test_datetime_timestamps() -> None:
    trades = synthetic(1_000, seed=4)
    expected = resample_trades(trades, "1m")
    for unit in ("ms", "ns"):
        as_dt = trades.assign(
            timestamp=pd.to_datetime(trades["timestamp"], unit="ms", utc=True).dt.as_unit(unit)
        )
        pd.testing.assert_frame_equal(resample_trades(as_dt, "1m"), expected)
    naive = trades.assign(timestamp=pd.to_datetime(trades["timestamp"], unit="ms"))
    pd.testing.assert_frame_equal(resample_trades(naive, "1m"), expected)


def test_weekly_bars_open_on_monday() -> None:
    monday = pd.Timestamp("2024-01-08", tz="UTC")
    ms = [int((monday + pd.Timedelta(days=d, hours=3)).value // MS) for d in (-1, 0, 6, 7)]
    bars = resample_trades(trades_frame([(t, 1.0 + i, 1.0, "buy") for i, t in enumerate(ms)]), "1w")
    assert list(bars.index) == [monday - pd.Timedelta(days=7), monday, monday + pd.Timedelta(days=7)]
    assert bars["count"].tolist() == [1, 2, 1]
    assert all(ts.day_of_week == 0 for ts in bars.index)


def test_errors() -> None:
    trades = synthetic(10)
    for timeframe in ("7q", "1M", "", "m1"):
        with pytest.raises(InvalidTimeframe):
            resample_trades(trades, timeframe)
    with pytest.raises(DataError, match="amount"):
        resample_trades(trades.drop(columns="amount"), "1m")
    with pytest.raises(DataError, match="timestamp"):
        resample_trades(trades.drop(columns=["timestamp", "price"]), "1m")
    with pytest.raises(DataError, match="DataFrame"):
        resample_trades(trades.to_dict("records"), "1m")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="price"):
        resample_trades(trades.assign(price="abc"), "1m")


# -- streaming ------------------------------------------------------------------------------------


def test_builder_returns_closed_bars_with_gaps_in_order() -> None:
    start = T0 // MINUTE * MINUTE
    builder = BarBuilder("x", "A/B", "1m")
    assert builder.current is None
    mk = lambda t, p, a=1.0, s="buy": Trade("x", "A/B", t * MS, t * MS + 1, "", p, a, s)  # noqa: E731
    assert builder.update(mk(start + 1, 10.0)) == []
    assert builder.update(mk(start + 2, 11.0, 2.0, "sell")) == []
    current = builder.current
    assert current is not None and not current.closed
    assert (current.open, current.high, current.close, current.volume, current.count) == (10, 11, 11, 3, 2)
    assert current.ts_event == start * MS and current.ts_recv == (start + 2) * MS + 1
    closed = builder.update(mk(start + 3 * MINUTE + 5, 12.0))
    assert [bar.ts_event for bar in closed] == [(start + i * MINUTE) * MS for i in range(3)]
    assert all(bar.closed for bar in closed)
    assert closed[0].count == 2 and closed[0].sell_volume == 2.0 and closed[0].buy_volume == 1.0
    for gap in closed[1:]:
        assert (gap.open, gap.high, gap.low, gap.close, gap.vwap) == (11.0,) * 5
        assert (gap.volume, gap.quote_volume, gap.count) == (0.0, 0.0, 0)
        assert gap.ts_recv == (start + 3 * MINUTE + 5) * MS + 1
    assert builder.current is not None and builder.current.ts_event == (start + 3 * MINUTE) * MS


def test_builder_late_and_out_of_order_trades() -> None:
    start = T0 // MINUTE * MINUTE
    mk = lambda t, p: Trade("x", "A/B", t * MS, 0, "", p, 1.0, "buy")  # noqa: E731
    builder = BarBuilder("x", "A/B", "1m")
    builder.update(mk(start + 10, 5.0))
    builder.update(mk(start + MINUTE + 30, 6.0))  # closes the first bar
    assert builder.update(mk(start + 20, 99.0)) == []  # belongs to the closed bar: late, dropped
    assert builder.late == 1
    # out of order inside the open bar: placed by event time as a stable sort would
    builder.update(mk(start + MINUTE + 10, 4.0))  # earlier than the open trade -> new open
    builder.update(mk(start + MINUTE + 20, 8.0))  # earlier than the close trade -> not the close
    builder.update(mk(start + MINUTE + 30, 7.0))  # same time as the close trade, later arrival -> close
    bar = builder.current
    assert bar is not None
    assert (bar.open, bar.high, bar.low, bar.close, bar.count) == (4.0, 8.0, 4.0, 7.0, 4)
    batch = resample_trades(
        trades_frame(
            [
                (start + 10, 5.0, 1.0, "buy"),
                (start + MINUTE + 30, 6.0, 1.0, "buy"),
                (start + MINUTE + 10, 4.0, 1.0, "buy"),
                (start + MINUTE + 20, 8.0, 1.0, "buy"),
                (start + MINUTE + 30, 7.0, 1.0, "buy"),
            ]
        ),
        "1m",
    )
    pd.testing.assert_frame_equal(bars_to_frame([builder.current]), batch.iloc[1:])
    builder.reset()
    assert builder.current is None and builder.late == 0


def test_builder_rejects_bad_trades_without_changing_state() -> None:
    builder = BarBuilder("x", "A/B", "1m")
    builder.update(Trade("x", "A/B", T0 * MS, 0, "1", 10.0, 1.0, "buy"))
    before = builder.current
    for price, amount in ((np.nan, 1.0), (10.0, 0.0), (-1.0, 1.0), (10.0, float("inf")), (1e200, 1e200)):
        with pytest.raises(InvalidValue):
            builder.update(Trade("x", "A/B", T0 * MS + 5, 0, "2", price, amount, "buy"))
    assert builder.current == before
    with pytest.raises(InvalidTimeframe):
        BarBuilder("x", "A/B", "2x")


def test_streaming_equals_batch_synthetic() -> None:
    trades = synthetic(5_000, seed=11, gap_every=301)
    events = trade_events(trades)
    for timeframe in ("1s", "1m", "5m", "1h"):
        pd.testing.assert_frame_equal(
            streamed_frame(events, timeframe), resample_trades(trades, timeframe), check_exact=True
        )


def test_bars_to_frame_of_closed_bars_only() -> None:
    trades = synthetic(1_000, seed=12)
    closed, _ = stream(trade_events(trades), "1m")
    batch = resample_trades(trades, "1m")
    pd.testing.assert_frame_equal(bars_to_frame(closed), batch.iloc[:-1], check_exact=True)


# -- real data: the exchanges' own bars ---------------------------------------------------------------


def binance_trades(shared_data: Path) -> pd.DataFrame:
    path = shared_data / "trades-with-exchange-bars" / "binance-xrpeth" / "XRP_OLD-trades.json.gz"
    with gzip.open(path, "rt") as f:
        raw = json.load(f)
    return pd.DataFrame(raw)[["timestamp", "price", "amount", "side", "id"]]


def binance_klines(shared_data: Path, timeframe: str) -> pd.DataFrame:
    path = shared_data / "trades-with-exchange-bars" / "binance-xrpeth" / f"XRP_ETH-{timeframe}.json"
    klines = pd.DataFrame(
        json.loads(path.read_text()), columns=["t", "open", "high", "low", "close", "volume"]
    )
    klines.index = pd.DatetimeIndex(
        pd.to_datetime(klines.pop("t"), unit="ms", utc=True).dt.as_unit("ns"), name="timestamp"
    )
    return klines


@pytest.mark.data
@pytest.mark.parametrize("timeframe", ["1m", "5m"])
def test_binance_klines_match_exactly(shared_data: Path, timeframe: str) -> None:
    """Every Binance XRP/ETH kline, zero-volume ones included, equals our bar exactly (OHLC and volume,
    bit for bit: the amounts are whole numbers); the windows coincide (3,560 1m / 712 5m bars)."""
    trades = binance_trades(shared_data)
    assert len(trades) == 12_477
    bars = resample_trades(trades, timeframe)
    klines = binance_klines(shared_data, timeframe)
    assert bars.attrs["rejected"] == 0
    assert len(bars) == len(klines) == {"1m": 3_560, "5m": 712}[timeframe]
    pd.testing.assert_frame_equal(bars[list(klines.columns)], klines, check_exact=True)
    empty = klines["volume"] == 0
    assert empty.sum() == {"1m": 1_091, "5m": 6}[timeframe]
    assert (bars.loc[empty, "count"] == 0).all()
    assert (bars.loc[~empty, "count"] > 0).all()
    assert bars["count"].sum() == len(trades)
    side_total = bars["buy_volume"] + bars["sell_volume"]
    np.testing.assert_allclose(side_total, bars["volume"], rtol=1e-12)


@pytest.mark.data
def test_binance_streaming_equals_batch(shared_data: Path) -> None:
    trades = binance_trades(shared_data)
    events = [
        Trade("binance", "XRP/ETH", int(ts) * MS, int(ts) * MS, str(i), p, a, s)
        for ts, p, a, s, i in trades.itertuples(index=False)
    ]
    for timeframe in ("1m", "5m", "1h"):
        pd.testing.assert_frame_equal(
            streamed_frame(events, timeframe), resample_trades(trades, timeframe), check_exact=True
        )


def kraken(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = shared_data / "trades-with-exchange-bars" / "kraken-xbtusdt"
    rows = json.loads((folder / "http_trades.json").read_text())["result"]["XBTUSDT"]
    # ccxt's parse: price, amount, time (float s) -> int ms, "b"/"s" -> buy/sell; id last
    trades = pd.DataFrame(
        {
            "timestamp": [int(float(r[2]) * 1000) for r in rows],
            "price": [float(r[0]) for r in rows],
            "amount": [float(r[1]) for r in rows],
            "side": ["buy" if r[3] == "b" else "sell" for r in rows],
            "id": [str(r[6]) for r in rows],
        }
    )
    ohlc = pd.DataFrame(
        json.loads((folder / "http_ohlc.json").read_text())["result"]["XBTUSDT"],
        columns=["t", "open", "high", "low", "close", "vwap", "volume", "count"],
    ).astype({c: float for c in ("open", "high", "low", "close", "vwap", "volume")})
    ohlc.index = pd.DatetimeIndex(
        pd.to_datetime(ohlc.pop("t"), unit="s", utc=True).dt.as_unit("ns"), name="timestamp"
    )
    return trades, ohlc


@pytest.mark.data
def test_kraken_interior_minutes_match(shared_data: Path) -> None:
    """Kraken 1m OHLC vs our bars from its 1,000 trades. The first and last minute are only partly
    covered by the trades, so only the interior minutes are compared. OHLC and count match exactly;
    volume to float rounding (Kraken sums decimals); Kraken's vwap is the trade vwap truncated to one
    decimal, and 0.0 in empty minutes (ours is the close there, as documented)."""
    trades, ohlc = kraken(shared_data)
    assert len(trades) == 1_000
    bars = resample_trades(trades, "1m")
    interior = bars.index[1:-1]
    assert len(interior) == 409
    ours, theirs = bars.loc[interior], ohlc.loc[interior]
    exact = ["open", "high", "low", "close"]
    pd.testing.assert_frame_equal(ours[exact], theirs[exact], check_exact=True)
    assert (ours["count"] == theirs["count"]).all()
    np.testing.assert_allclose(ours["volume"], theirs["volume"], rtol=1e-12, atol=1e-15)
    empty = ours["count"] == 0
    assert empty.sum() > 100
    assert (theirs.loc[empty, "vwap"] == 0.0).all()
    assert (ours.loc[empty, "vwap"] == ours.loc[empty, "close"]).all()
    truncation = ours.loc[~empty, "vwap"] - theirs.loc[~empty, "vwap"]
    assert truncation.between(-1e-9, 0.1).all()  # floor to 0.1, up to float noise on exact tenths


@pytest.mark.data
def test_kraken_streaming_equals_batch(shared_data: Path) -> None:
    trades, _ = kraken(shared_data)
    events = trade_events(trades, "kraken", "BTC/USDT")
    for timeframe in ("1m", "15m"):
        pd.testing.assert_frame_equal(
            streamed_frame(events, timeframe), resample_trades(trades, timeframe), check_exact=True
        )


def test_trades_to_frame_feeds_resample_trades_with_the_same_bars_as_the_builder() -> None:
    s = 1_000_000_000
    trades = [
        Trade("x", "BTC/USDT", 60 * s + i * s // 3, 60 * s + i * s // 3, str(i), 100.0 + (i % 5), 0.5, side)
        for i, side in enumerate(["buy", "sell", ""] * 100)
    ]
    frame = trades_to_frame(trades)
    assert list(frame.columns[:5]) == ["timestamp", "price", "amount", "side", "id"]
    assert frame["side"].isna().sum() == 100
    builder = BarBuilder("x", "BTC/USDT", "10s")
    closed = [bar for t in trades for bar in builder.update(t)]
    expected = bars_to_frame([*closed, builder.current])
    pd.testing.assert_frame_equal(resample_trades(frame, "10s"), expected)


def test_the_compiled_trade_rule_agrees_with_the_one_rule() -> None:
    from mdx.market.bar_kernel import _valid
    from mdx.market.trades import valid_trade

    values = [0.0, -0.0, 1e-300, 1.0, -1.0, 1e300, math.inf, -math.inf, math.nan, 5e-324]
    for price in values:
        for amount in values:
            assert bool(_valid(price, amount)) == valid_trade(price, amount), (price, amount)


# -- column types (timestamps, prices, sides): converted, or a specific InvalidValue --------------------

SECOND_MS = 1_000


def typed_base() -> tuple[pd.DataFrame, pd.DataFrame]:
    trades = synthetic(400, seed=21).dropna(subset=["side"]).reset_index(drop=True)
    return trades, resample_trades(trades, "1m")


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda ms: ms.astype("Int64"), id="Int64"),
        pytest.param(lambda ms: ms.astype("int64[pyarrow]"), id="int64[pyarrow]"),
        pytest.param(lambda ms: ms.astype("uint64"), id="uint64"),
        pytest.param(lambda ms: ms.astype("Float64"), id="Float64"),
        pytest.param(
            lambda ms: pd.to_datetime(ms, unit="ms").astype("timestamp[ms][pyarrow]"),
            id="timestamp[ms][pyarrow]",
        ),
        pytest.param(
            lambda ms: pd.to_datetime(ms, unit="ms", utc=True).astype("timestamp[us, tz=UTC][pyarrow]"),
            id="timestamp[us,UTC][pyarrow]",
        ),
        pytest.param(
            lambda ms: pd.to_datetime(ms, unit="ms", utc=True).dt.tz_convert("Asia/Tokyo"), id="tz Tokyo"
        ),
        pytest.param(lambda ms: pd.to_datetime(ms, unit="ms").astype("str"), id="str datetimes"),
        pytest.param(lambda ms: pd.to_datetime(ms, unit="ms").astype("string"), id="string datetimes"),
        pytest.param(
            lambda ms: pd.to_datetime(ms, unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), id="ISO 8601 Z"
        ),
        pytest.param(lambda ms: ms.astype("str"), id="str numbers"),
        pytest.param(lambda ms: ms / SECOND_MS, id="float seconds"),
        pytest.param(lambda ms: ms * 1_000, id="int microseconds"),
        pytest.param(lambda ms: ms * 1_000_000, id="int nanoseconds (ts_event)"),
        pytest.param(
            lambda ms: pd.Series(list(pd.to_datetime(ms, unit="ms")), dtype=object), id="Timestamps"
        ),
    ],
)
def test_timestamp_column_types_give_the_same_bars(convert) -> None:  # type: ignore[no-untyped-def]
    """The original failures: Int64, int64[pyarrow], timestamp[ms][pyarrow] and str/string timestamps
    raised a raw TypeError; nanosecond integers gave bars dated 1829 (or 2077)."""
    trades, expected = typed_base()
    bars = resample_trades(trades.assign(timestamp=convert(trades["timestamp"])), "1m")
    pd.testing.assert_frame_equal(bars, expected)
    assert bars.attrs["rejected"] == 0


def test_integer_seconds_are_read_as_seconds() -> None:
    trades, _ = typed_base()
    seconds = trades["timestamp"] // SECOND_MS
    bars = resample_trades(trades.assign(timestamp=seconds), "1m")
    expected = resample_trades(trades.assign(timestamp=seconds * SECOND_MS), "1m")
    pd.testing.assert_frame_equal(bars, expected)
    assert bars.index[0].year == 2023
    small = resample_trades(trades_frame([(0, 1.0, 1.0, "buy"), (60_000, 2.0, 1.0, "buy")]), "1m")
    assert small.index[-1] == pd.Timestamp("1970-01-01 00:01", tz="UTC")  # toy values are ccxt's ms


def test_missing_values_in_nullable_columns_are_counted_rejections() -> None:
    trades, _ = typed_base()
    ts = trades["timestamp"].astype("Int64")
    ts.iloc[[3, 30]] = pd.NA
    price = trades["price"].astype("double[pyarrow]")
    price.iloc[7] = None
    amount = trades["amount"].astype("Float64")
    amount.iloc[9] = pd.NA
    bars = resample_trades(trades.assign(timestamp=ts, price=price, amount=amount), "1m")
    assert bars.attrs["rejected"] == 4 and bars.attrs["rejected_by_reason"] == {"InvalidValue": 4}
    pd.testing.assert_frame_equal(bars, resample_trades(trades.drop(index=[3, 30, 7, 9]), "1m"))


def test_nullable_and_pyarrow_sides() -> None:
    trades, expected = typed_base()
    sides = trades["side"]
    for variant in (sides.astype("string[pyarrow]"), (sides == "buy").astype("boolean")):
        pd.testing.assert_frame_equal(resample_trades(trades.assign(side=variant), "1m"), expected)
    unknown = (sides == "buy").astype("bool[pyarrow]")
    unknown.iloc[0] = None  # a missing side is an unknown side: in neither buy nor sell volume
    bars = resample_trades(trades.assign(side=unknown), "1m")
    assert bars["buy_volume"].sum() + bars["sell_volume"].sum() == pytest.approx(
        expected["volume"].sum() - trades["amount"].iloc[0]
    )


def _side_forms(sides: pd.Series) -> dict[str, pd.Series]:
    """One side column (strings and None) in every form resample_trades reads."""
    literals = np.array(["buy", "sell"], dtype=object)
    as_objects = sides.to_numpy(dtype=object)
    shared = np.where(as_objects == "buy", literals[0], np.where(as_objects == "sell", literals[1], None))
    return {
        "object, one per row": pd.Series(
            [None if v is None else "".join(v) for v in as_objects], dtype=object
        ),
        "object, shared literals": pd.Series(shared, dtype=object),
        "str": sides.astype("str"),
        "string[pyarrow]": sides.astype("string[pyarrow]"),
        "string[python]": sides.astype("string[python]"),
        "large_string[pyarrow]": sides.astype(pd.ArrowDtype(pa.large_string())),
        "category": sides.astype("category"),
    }


@pytest.mark.parametrize("form", list(_side_forms(pd.Series(["buy"])).keys()))
def test_every_side_dtype_gives_the_same_bars(form: str) -> None:
    trades, expected = typed_base()
    sides = _side_forms(trades["side"])[form]
    assert len(sides) == len(trades)
    bars = resample_trades(trades.assign(side=sides.set_axis(trades.index)), "1m")
    pd.testing.assert_frame_equal(bars, expected)
    view = trades["side"].astype(pd.ArrowDtype(pa.string_view()))  # (pandas cannot hold nulls in these)
    pd.testing.assert_frame_equal(resample_trades(trades.assign(side=view), "1m"), expected)
    as_bool = resample_trades(trades.assign(side=trades["side"] == "buy"), "1m")  # True = buy
    pd.testing.assert_frame_equal(as_bool, expected)


@pytest.mark.parametrize("form", list(_side_forms(pd.Series(["buy"])).keys()))
def test_unknown_missing_and_mixed_case_sides_count_in_neither_volume(form: str) -> None:
    """Only exact "buy"/"sell" count; anything else (None, "Buy", "SELL", "", "sell ", "b") keeps its
    trade in the bar (volume, count) but in neither buy nor sell volume, and is no rejection."""
    trades, _ = typed_base()
    odd = ["Buy", "SELL", "", "sell ", "b", "buyer", "sel", None]
    sides = trades["side"].astype(object).copy()
    sides.iloc[: len(odd)] = odd
    sides.iloc[len(odd) : 2 * len(odd)] = [v if v is None else v.upper() for v in odd[:-1]] + ["x"]
    plain = trades.assign(side=sides)
    expected = resample_trades(plain, "1m")  # the object path, compared row by row
    assert expected.attrs["rejected"] == 0
    odd_amount = trades["amount"].iloc[: 2 * len(odd)].sum()
    total = expected["buy_volume"].sum() + expected["sell_volume"].sum()
    assert total == pytest.approx(expected["volume"].sum() - odd_amount)
    form_of = _side_forms(sides)[form].set_axis(trades.index)
    bars = resample_trades(trades.assign(side=form_of), "1m")
    pd.testing.assert_frame_equal(bars, expected)
    assert bars.attrs["rejected"] == 0 and bars.attrs["rejected_by_reason"] == {}


def test_arrow_sides_with_nulls_slices_and_chunks() -> None:
    """Arrow sides are read from their buffers: nulls, a sliced array (offset) and several chunks."""
    trades, expected = typed_base()
    with_null = trades["side"].astype("str").astype(object)
    with_null.iloc[5] = None
    reference = resample_trades(trades.assign(side=with_null), "1m")
    for dtype in ("str", "string[pyarrow]"):
        bars = resample_trades(trades.assign(side=with_null.astype(dtype)), "1m")
        pd.testing.assert_frame_equal(bars, reference)
    half = len(trades) // 2
    strings = pa.array(trades["side"].tolist(), type=pa.string())
    chunked = pa.chunked_array([strings[:half], strings[half:]])
    two_chunks = pd.Series(pd.arrays.ArrowExtensionArray(chunked), index=trades.index)
    pd.testing.assert_frame_equal(resample_trades(trades.assign(side=two_chunks), "1m"), expected)
    padded = pa.array(["junk", *trades["side"].tolist()], type=pa.large_string())[1:]  # offset 1
    sliced = pd.Series(pd.arrays.ArrowExtensionArray(padded), index=trades.index)
    pd.testing.assert_frame_equal(resample_trades(trades.assign(side=sliced), "1m"), expected)


def test_arrow_and_shared_object_sides_survive_sorting_filtering_and_time_jumps() -> None:
    """The paths that reorder or drop rows (unsorted input, missing timestamps, a bad timestamp far
    away) turn the sides read from buffers or object identities into codes first."""
    trades, _ = typed_base()
    ts = trades["timestamp"].astype("Int64")
    ts.iloc[4] = pd.NA
    ts.iloc[9] = ts.iloc[9] + 400 * 86_400_000  # a year ahead: a TimeJump rejection
    messy = trades.assign(timestamp=ts).iloc[::-1]
    expected = resample_trades(messy.assign(side=messy["side"].astype("category")), "1m")
    assert expected.attrs["rejected_by_reason"] == {"InvalidValue": 1, "TimeJump": 1}
    for form, sides in _side_forms(messy["side"]).items():
        bars = resample_trades(messy.assign(side=sides.set_axis(messy.index)), "1m")
        pd.testing.assert_frame_equal(bars, expected, obj=form)
        assert bars.attrs == expected.attrs
    backwards = trades.iloc[::-1]  # unsorted, nothing dropped: the text is coded before sorting
    expected = resample_trades(backwards.assign(side=backwards["side"].astype("category")), "1m")
    for form, sides in _side_forms(backwards["side"]).items():
        bars = resample_trades(backwards.assign(side=sides.set_axis(backwards.index)), "1m")
        pd.testing.assert_frame_equal(bars, expected, obj=form)


def test_object_sides_that_refuse_comparison_are_unknown() -> None:
    """pd.NA in an object column (it refuses to be a bool) is an unknown side, not a crash."""
    trades, _ = typed_base()
    sides = trades["side"].astype(object).copy()
    sides.iloc[3] = pd.NA
    bars = resample_trades(trades.assign(side=sides), "1m")
    expected = resample_trades(trades.assign(side=sides.where(sides.notna(), None)), "1m")
    pd.testing.assert_frame_equal(bars, expected)


def test_unusable_timestamp_columns_raise_invalid_value_naming_column_and_dtype() -> None:
    trades, _ = typed_base()
    for column, dtype in (
        (trades["timestamp"] > 0, "bool"),
        (pd.Series(["soon"] * len(trades)), "str"),
        (pd.to_timedelta(trades["timestamp"], unit="ms"), "timedelta64"),
    ):
        with pytest.raises(InvalidValue, match=rf"'timestamp'.*{dtype}"):
            resample_trades(trades.assign(timestamp=column), "1m")
    too_far = trades.assign(timestamp=np.full(len(trades), 5 * 10**16))  # read as us: the year 3554
    with pytest.raises(InvalidValue, match="outside the datetime64"):
        resample_trades(too_far, "1m")


# -- time jumps: one bad timestamp never fills millions of bars, never makes the rest late ----------------

YEAR_MS = 365 * 86_400_000


@pytest.mark.parametrize(
    ("row", "timestamp", "timeframe"),
    [
        pytest.param(5, lambda t: t + YEAR_MS, "1s", id="a year ahead at 1s (31.5M bars)"),
        pytest.param(-1, lambda t: t + 10 * YEAR_MS, "1s", id="ten years ahead at 1s (MemoryError)"),
        pytest.param(5, lambda t: 0, "1m", id="ts=0 at 1m (28.7M bars)"),
        pytest.param(0, lambda t: t - 86_400_000 * 2, "1m", id="two days before the first row"),
        pytest.param(-1, lambda t: t + 86_400_000, "1m", id="a day after the last row"),
    ],
)
def test_one_far_off_row_is_dropped_and_counted(row: int, timestamp, timeframe: str) -> None:  # type: ignore[no-untyped-def]
    trades = synthetic(5_000, seed=23)
    bad = trades.copy()
    bad.loc[bad.index[row], "timestamp"] = timestamp(int(bad["timestamp"].iloc[row]))
    bars = resample_trades(bad, timeframe)
    assert bars.attrs["rejected"] == 1 and bars.attrs["rejected_by_reason"] == {"TimeJump": 1}
    pd.testing.assert_frame_equal(bars, resample_trades(trades.drop(index=trades.index[row]), timeframe))


def test_real_pauses_longer_than_max_gap_are_kept_as_holes() -> None:
    """Two real sessions 7 hours apart (>= JUMP_CONFIRM trades each): both kept, the pause not filled
    with 419 empty minutes; with a longer max_gap it is filled like pandas does."""
    start = T0 // MINUTE * MINUTE
    morning = [(start + i * 20_000, 10.0 + i, 1.0, "buy") for i in range(10)]
    evening = [(start + 7 * 60 * MINUTE + i * 20_000, 20.0 + i, 1.0, "sell") for i in range(10)]
    trades = trades_frame(morning + evening)
    bars = resample_trades(trades, "1m")
    assert bars.attrs["rejected"] == 0 and bars["count"].sum() == 20
    assert len(bars) == 4 + 4 and (bars.index[4] - bars.index[0]) == pd.Timedelta(hours=7)
    assert (bars["count"] > 0).all()
    filled = resample_trades(trades, "1m", max_gap="8h")
    assert len(filled) == 7 * 60 + 4
    pd.testing.assert_frame_equal(filled, pandas_bars(trades, "1m"), check_freq=False)
    pd.testing.assert_frame_equal(resample_trades(trades, "1m", max_gap=None), filled)
    pd.testing.assert_frame_equal(filled.loc[bars.index], bars)


def test_small_far_segments_are_bad_timestamps_even_in_the_middle() -> None:
    trades = synthetic(2_000, seed=24)
    bad = trades.copy()
    far = int(trades["timestamp"].iloc[1_000]) + 30 * 86_400_000
    bad.loc[[100, 1_500], "timestamp"] = [far, far + 5]  # two rows a month ahead, near each other
    bad.loc[200, "price"] = np.nan  # an invalid row stays an InvalidValue
    bars = resample_trades(bad, "1m")
    assert bars.attrs["rejected_by_reason"] == {"InvalidValue": 1, "TimeJump": 2}
    assert bars.attrs["rejected"] == 3
    pd.testing.assert_frame_equal(bars, resample_trades(trades.drop(index=[100, 200, 1_500]), "1m"))


def test_tiny_inputs_keep_their_largest_segment() -> None:
    start = T0 // MINUTE * MINUTE
    one = resample_trades(trades_frame([(start, 1.0, 1.0, "buy")]), "1s")
    assert len(one) == 1 and one.attrs["rejected"] == 0
    pair = resample_trades(trades_frame([(start, 1.0, 1.0, "buy"), (start + YEAR_MS, 2.0, 1.0, "buy")]), "1s")
    assert (
        len(pair) == 1
        and pair["close"].iloc[0] == 1.0
        and pair.attrs["rejected_by_reason"] == {"TimeJump": 1}
    )
    three = trades_frame([(0, 9.0, 1.0, "buy"), (start, 1.0, 1.0, "buy"), (start + 1, 2.0, 1.0, "buy")])
    bars = resample_trades(three, "1m")
    assert (
        len(bars) == 1 and bars["count"].iloc[0] == 2 and bars.attrs["rejected_by_reason"] == {"TimeJump": 1}
    )


def test_max_gap_errors() -> None:
    from mdx.errors import ConfigError

    for bad in ("6q", "", 6, "1M"):
        with pytest.raises(ConfigError, match="max_gap"):
            resample_trades(synthetic(10), "1m", max_gap=bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="max_gap"):
            BarBuilder("x", "A/B", "1m", max_gap=bad)  # type: ignore[arg-type]


def test_a_span_too_long_to_fill_is_a_time_jump_error_not_a_memory_error() -> None:
    from mdx.errors import TimeJump

    start = T0 // MINUTE * MINUTE
    rows = [(start + i, 1.0, 1.0, "buy") for i in range(5)] + [
        (start + 200 * YEAR_MS + i, 1.0, 1.0, "buy") for i in range(5)
    ]
    with pytest.raises(TimeJump, match="too many 1s bars"):
        resample_trades(trades_frame(rows), "1s", max_gap="73000d")


# -- streaming: time jumps and late trades -------------------------------------------------------------


def jump_stream(trades: list[Trade], timeframe: str, **kwargs) -> tuple[pd.DataFrame, BarBuilder, Rejections]:  # type: ignore[no-untyped-def]
    rejections = Rejections(log_first=0)
    builder = BarBuilder("test", "BTC/USDT", timeframe, rejections=rejections, **kwargs)
    closed = [bar for trade in trades for bar in builder.update(trade)]
    builder.flush()
    current = builder.current
    return bars_to_frame([*closed, *([current] if current else [])]), builder, rejections


def far(trade: Trade, ms: int, trade_id: str = "bad") -> Trade:
    """The trade with its event time moved by ``ms`` and its receive time unchanged (a bad timestamp)."""
    return Trade(
        trade.exchange, trade.symbol, trade.ts_event + ms * MS, trade.ts_recv, trade_id, 1.0, 1.0, ""
    )


@pytest.mark.parametrize(
    ("shift", "timeframe"),
    [
        pytest.param(YEAR_MS, "1s", id="a year ahead at 1s"),
        pytest.param(86_400_000, "1m", id="a day ahead at 1m"),
        pytest.param(-10 * YEAR_MS, "1m", id="ten years back at 1m"),
    ],
)
def test_builder_one_bad_timestamp_neither_hangs_nor_makes_later_trades_late(
    shift: int, timeframe: str
) -> None:
    """The original failure: a trade a year ahead made BarBuilder fill 31.5M bars (minutes, GBs); a day
    ahead made every later real trade late, silently dropped. Now it is rejected as a TimeJump and the
    bars equal the batch bars without it."""
    trades = synthetic(3_000, seed=25)
    events = trade_events(trades)
    bad = far(events[1_000], shift)
    started = __import__("time").perf_counter()
    bars, builder, rejections = jump_stream([*events[:1_001], bad, *events[1_001:]], timeframe)
    assert __import__("time").perf_counter() - started < 5
    assert builder.late == 0 and builder.jumps == 1
    assert (
        rejections.by_reason == {"TimeJump": 1}
        and "more than max_gap 6h" in rejections.last_message["TimeJump"]
    )
    pd.testing.assert_frame_equal(bars, resample_trades(trades, timeframe), check_exact=True)


def test_builder_real_pause_confirmed_by_trades_equals_batch() -> None:
    """A 7 h pause with a receive clock that says nothing (ts_recv constant, as in a backfill): the first
    trades after it are held until JUMP_CONFIRM agree, then the bars go on after a hole, like batch."""
    start = T0 // MINUTE * MINUTE
    rows = [(start + i * 20_000, 10.0 + i, 1.0, "buy") for i in range(10)]
    rows += [(start + 7 * 60 * MINUTE + i * 20_000, 20.0 + i, 1.0, "sell") for i in range(10)]
    events = [Trade("test", "BTC/USDT", t * MS, 0, str(i), p, a, s) for i, (t, p, a, s) in enumerate(rows)]
    builder = BarBuilder("test", "BTC/USDT", "1m")
    assert [len(builder.update(e)) for e in events[:12]] == [0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]
    assert len(builder.held) == 2 and builder.current is not None and builder.current.count == 1
    closed = builder.update(events[12])  # the third: confirmed -> the open bar closes, no empty bars
    assert [b.count for b in closed] == [1] and builder.current.count == 3  # no empty bars
    assert builder.current.ts_event == (start + 7 * 60 * MINUTE) * MS
    bars, builder, rejections = jump_stream(events, "1m")
    assert rejections.total == 0 and builder.jumps == 0
    pd.testing.assert_frame_equal(bars, resample_trades(trades_frame(rows), "1m"), check_exact=True)


def test_builder_real_pause_witnessed_by_the_receive_clock_is_taken_at_once() -> None:
    start = T0 // MINUTE * MINUTE
    builder = BarBuilder("x", "A/B", "1m")
    t1, t2 = start * MS, (start + 7 * 60 * MINUTE) * MS
    builder.update(Trade("x", "A/B", t1, t1 + 5, "1", 10.0, 1.0, "buy"))
    closed = builder.update(Trade("x", "A/B", t2, t2 + 9, "2", 11.0, 1.0, "buy"))  # receive clock moved too
    assert len(closed) == 1 and builder.current is not None and builder.current.ts_event == t2
    assert builder.jumps == 0 and builder.held == ()


@pytest.mark.parametrize(
    "shift", [-YEAR_MS * 53, YEAR_MS], ids=["first trade at ts=0", "first trade a year ahead"]
)
def test_builder_bad_first_trade_is_dropped_once_real_trades_confirm(shift: int) -> None:
    trades = synthetic(500, seed=26)
    events = trade_events(trades)
    bad = far(events[0], shift)
    if shift < 0:
        bad = Trade(bad.exchange, bad.symbol, 0, bad.ts_recv, "bad", 1.0, 1.0, "")
    bars, builder, rejections = jump_stream([bad, *events], "1m")
    assert rejections.by_reason == {"TimeJump": 1} and builder.late == 0
    pd.testing.assert_frame_equal(bars, resample_trades(trades, "1m"), check_exact=True)
    batch = resample_trades(pd.concat([trades_frame([(bad.ts_event // MS, 1.0, 1.0, "")]), trades]), "1m")
    assert batch.attrs["rejected_by_reason"] == {"TimeJump": 1}
    pd.testing.assert_frame_equal(bars, batch, check_exact=True)


def test_builder_late_trades_are_counted_rejections_and_flush_rejects_held_trades() -> None:
    start = T0 // MINUTE * MINUTE
    rejections = Rejections(log_first=0)
    builder = BarBuilder("x", "A/B", "1m", rejections=rejections)
    mk = lambda t, i="": Trade("x", "A/B", t * MS, t * MS, i, 5.0, 1.0, "buy")  # noqa: E731
    builder.update(mk(start + 10))
    builder.update(mk(start + MINUTE + 30))
    assert builder.update(mk(start + 20, "late")) == []
    assert builder.late == 1 and rejections.by_reason == {"LateTrade": 1}
    assert "'late'" in rejections.last_message["LateTrade"] and "1m" in rejections.last_message["LateTrade"]
    builder.update(Trade("x", "A/B", (start + YEAR_MS) * MS, (start + MINUTE) * MS, "far", 5.0, 1.0, "buy"))
    assert len(builder.held) == 1 and builder.flush() == 1 and builder.held == ()
    assert rejections.by_reason == {"LateTrade": 1, "TimeJump": 1} and builder.jumps == 1
