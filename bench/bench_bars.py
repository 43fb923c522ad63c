"""Bars from trades: mdx.resample_trades vs pandas' cheapest OHLCV, in one run. Prints tables.

    .venv/bin/python bench/bench_bars.py [--trades 5000000] [--timeframes 1s,1m] [--repeats 7]

The input is the frame a user has: ``pd.DataFrame(exchange.fetch_trades(...))``, i.e. ccxt's columns
(info, id, timestamp in ms, datetime, symbol, order, type, side, takerOrMaker, price, amount, cost, fee,
fees). It is built column by column (5M dicts would take GBs) and checked to carry exactly the dtypes
``pd.DataFrame(list_of_dicts)`` gives on the same rows. Trades are synthetic and seeded (~50 a second,
random-walk prices, buy/sell sides at random).

``side`` is timed as pandas gives it (pandas 3: ``str``, Arrow-backed) and in the other forms a user
may hold: Python objects shared by every row (ccxt's string literals, e.g. Binance), one object per
row (sides parsed from JSON, or pandas 2), ``string[pyarrow]`` and a categorical.

The pandas baseline is the cheapest OHLCV: ``resample().ohlc()`` on price plus ``resample().sum()`` on
amount, timestamp conversion included (mdx also gives quote volume, vwap, buy/sell volume and counts).
Every figure is the median of ``--repeats`` runs after a warm-up that compiles or loads the kernels.
The last table splits mdx's time on the pandas-default frame into its steps.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mdx.market.bar_kernel import resample_kernel
from mdx.market.bars import BAR_COLUMNS, _index, _numbers, _sides, _timestamps, resample_trades
from mdx.market.timeframes import timeframe_ns

SYMBOL = "BTC/USDT"


def median_of(fn: Callable[[], object], runs: int) -> float:
    """The median of ``runs`` timed calls of ``fn``, in seconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _text(values: pa.Array) -> pd.Series:
    """An Arrow string array as the column pandas builds from Python strings (``str`` in pandas 3)."""
    return pd.Series(values.to_numpy(zero_copy_only=False), dtype=pd.Series(["x"]).dtype)


def ccxt_trades(n: int, seed: int = 42) -> pd.DataFrame:
    """A frame shaped like ``pd.DataFrame(exchange.fetch_trades(symbol))`` with ``n`` trades."""
    rng = np.random.default_rng(seed)
    ts = 1_700_000_000_000 + np.cumsum(rng.exponential(20.0, n)).astype(np.int64)
    price = np.round(30_000 * np.exp(np.cumsum(rng.normal(0, 1e-4, n))), 2)
    amount = np.round(rng.exponential(0.05, n), 5) + 1e-5
    literals = np.array(["sell", "buy"], dtype=object)  # ccxt's literals: every row shares two objects
    side = literals[(rng.random(n) < 0.5).astype(np.intp)]
    info = np.empty(n, dtype=object)
    info[:] = [{"m": True}]  # one raw-payload dict shared by all rows: resample_trades never reads it
    fees = np.empty(n, dtype=object)
    fees[:] = [[]]
    nothing = np.full(n, None, dtype=object)
    times = pa.array(ts.astype("datetime64[ms]"))
    return pd.DataFrame(
        {
            "info": info,
            "id": _text(pc.cast(pa.array(np.arange(n) + 10**9), pa.string())),
            "timestamp": ts,
            "datetime": _text(pc.strftime(times, format="%Y-%m-%dT%H:%M:%SZ")),
            "symbol": _text(pa.array(np.full(n, SYMBOL, dtype=object))),
            "order": nothing,
            "type": nothing.copy(),
            "side": pd.Series(side, dtype=pd.Series(["x"]).dtype),
            "takerOrMaker": nothing.copy(),
            "price": price,
            "amount": amount,
            "cost": price * amount,
            "fee": nothing.copy(),
            "fees": fees,
        }
    )


def check_shape(trades: pd.DataFrame) -> None:
    """The frame's dtypes equal what pandas makes of ccxt's list of dicts on the same rows."""
    records = trades.iloc[:1000].to_dict("records")
    for record in records:
        record["side"] = "buy" if record["side"] == "buy" else "sell"  # fresh str objects, as JSON gives
    rebuilt = pd.DataFrame(records)
    if not rebuilt.dtypes.equals(trades.dtypes):
        both = pd.concat([rebuilt.dtypes, trades.dtypes], axis=1, keys=["list of dicts", "bench"])
        raise SystemExit(f"the bench frame is not ccxt-shaped:\n{both}")


def side_variants(trades: pd.DataFrame) -> dict[str, pd.DataFrame]:
    side = trades["side"]
    return {
        f"side {side.dtype} (pandas {pd.__version__} default)": trades,
        "side object, shared literals (ccxt)": trades.assign(side=side.to_numpy(dtype=object)),
        "side object, one per row (JSON)": trades.assign(side=side.astype(object)),
        "side string[pyarrow]": trades.assign(side=side.astype("string[pyarrow]")),
        "side category": trades.assign(side=side.astype("category")),
    }


def pandas_ohlcv(trades: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """pandas' cheapest OHLCV: ``resample().ohlc()`` plus a volume sum, on a UTC DatetimeIndex."""
    index = pd.DatetimeIndex(pd.to_datetime(trades["timestamp"].to_numpy(), unit="ms", utc=True))
    columns = {"price": trades["price"].to_numpy(), "amount": trades["amount"].to_numpy()}
    frame = pd.DataFrame(columns, index=index)
    resampler = frame.resample(pd.Timedelta(timeframe_ns(timeframe), "ns"))
    bars = resampler["price"].ohlc()
    bars["volume"] = resampler["amount"].sum()
    return bars


def steps(trades: pd.DataFrame, timeframe: str, runs: int) -> list[tuple[str, float]]:
    """mdx's time per step on ``trades`` (sorted, clean): the parts of ``resample_trades``."""
    ts, per_unit, _ = _timestamps(trades["timestamp"])
    price = _numbers(trades["price"], "price")
    amount = _numbers(trades["amount"], "amount")
    sides = _sides(trades["side"])
    tf = timeframe_ns(timeframe) // per_unit
    result = resample_kernel(ts, price, amount, *sides.kernel_args(), tf, 0, 1 << 62, 0)

    def frame() -> pd.DataFrame:
        columns = dict(zip(BAR_COLUMNS, result[3], strict=False))
        columns["count"] = result[4]
        return pd.DataFrame(columns, index=_index(result[2] * per_unit))

    codes = sides.as_codes()

    def kernel(side_args: tuple[object, ...]) -> object:
        return resample_kernel(ts, price, amount, *side_args, tf, 0, 1 << 62, 0)

    def numbers() -> object:
        return _numbers(trades["price"], "price"), _numbers(trades["amount"], "amount")

    return [
        ("timestamp column -> int64 view + unit", median_of(lambda: _timestamps(trades["timestamp"]), runs)),
        ("price, amount -> float64 views", median_of(numbers, runs)),
        ("side column -> Arrow buffers", median_of(lambda: _sides(trades["side"]), runs)),
        ("kernel: one pass, sides read from Arrow", median_of(lambda: kernel(sides.kernel_args()), runs)),
        ("  (same pass given int8 side codes)", median_of(lambda: kernel(codes.kernel_args()), runs)),
        ("bars -> DataFrame", median_of(frame, runs)),
        ("whole resample_trades", median_of(lambda: resample_trades(trades, timeframe), runs)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=5_000_000)
    parser.add_argument("--timeframes", default="1s,1m")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    n, runs = args.trades, args.repeats

    trades = ccxt_trades(n)
    check_shape(trades)
    variants = side_variants(trades)
    for frame in variants.values():  # warm-up: compile or load every kernel specialization
        resample_trades(frame.iloc[:1000], "1m")
    print(f"{n:,} ccxt-shaped trades, pandas {pd.__version__}, median of {runs} runs")
    for timeframe in args.timeframes.split(","):
        base = median_of(lambda tf=timeframe: pandas_ohlcv(trades, tf), runs)
        ours = resample_trades(trades, timeframe)
        ref = pandas_ohlcv(trades, timeframe)
        traded = ours[ours["count"] > 0][["open", "high", "low", "close", "volume"]].to_numpy()
        same = np.allclose(traded, ref.dropna().to_numpy(), rtol=1e-12)
        print(f"\n{timeframe}: {len(ours):,} bars (bars with trades equal to pandas' OHLCV: {same})")
        print(f"{'method':<58} {'ms':>8} {'M trades/s':>11} {'x pandas':>9}")
        label = "pandas resample().ohlc() + volume sum"
        print(f"{label:<58} {base * 1e3:>8.1f} {n / base / 1e6:>11.1f} {1:>8.1f}x")
        for name, frame in variants.items():
            seconds = median_of(lambda f=frame, tf=timeframe: resample_trades(f, tf), runs)
            label = f"mdx resample_trades, {name}"
            print(f"{label:<58} {seconds * 1e3:>8.1f} {n / seconds / 1e6:>11.1f} {base / seconds:>8.1f}x")
        print(f"\n{timeframe}: mdx steps on the pandas-default frame")
        for name, seconds in steps(trades, timeframe, runs):
            print(f"  {name:<56} {seconds * 1e3:>8.2f} ms")


if __name__ == "__main__":
    main()
