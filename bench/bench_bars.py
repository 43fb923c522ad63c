"""Bars from trades: mdx.resample_trades vs pandas resample, and BarBuilder streaming. Prints a table.

    .venv/bin/python bench/bench_bars.py [--trades 5000000] [--timeframe 1m]

Synthetic, seeded trades (~50 a second, random-walk prices, buy/sell sides). The numba kernel is
compiled (or loaded from its cache) by a warm-up call before anything is timed; each figure is the
best of several runs. The pandas baseline builds the same bars (OHLC, volume, quote volume, buy/sell
volume, count, vwap, empty intervals filled) with ``resample().agg(...)``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from timing import best_of

from mdx.events import Trade
from mdx.market.bars import BAR_COLUMNS, BarBuilder, resample_trades
from mdx.market.timeframes import timeframe_ns


def synthetic_trades(n: int, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = 1_700_000_000_000 + np.cumsum(rng.exponential(20.0, n)).astype(np.int64)
    price = np.round(30_000 * np.exp(np.cumsum(rng.normal(0, 1e-4, n))), 2)
    amount = np.round(rng.exponential(0.05, n), 5) + 1e-5
    side = pd.Categorical.from_codes((rng.random(n) < 0.5).astype(np.int8), categories=["sell", "buy"])
    return pd.DataFrame({"timestamp": ts, "price": price, "amount": amount, "side": side})


def pandas_resample(trades: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """The same bars the plain pandas way."""
    buy = trades["side"] == "buy"
    sell = trades["side"] == "sell"
    frame = pd.DataFrame(
        {
            "price": trades["price"].to_numpy(),
            "amount": trades["amount"].to_numpy(),
            "quote": (trades["price"] * trades["amount"]).to_numpy(),
            "buy": trades["amount"].where(buy, 0.0).to_numpy(),
            "sell": trades["amount"].where(sell, 0.0).to_numpy(),
        },
        index=pd.DatetimeIndex(pd.to_datetime(trades["timestamp"].to_numpy(), unit="ms", utc=True)),
    )
    agg = frame.resample(pd.Timedelta(timeframe_ns(timeframe), "ns")).agg(
        {
            "price": ["first", "max", "min", "last", "count"],
            "amount": "sum",
            "quote": "sum",
            "buy": "sum",
            "sell": "sum",
        }
    )
    agg.columns = [
        "open",
        "high",
        "low",
        "close",
        "count",
        "volume",
        "quote_volume",
        "buy_volume",
        "sell_volume",
    ]
    agg["close"] = agg["close"].ffill()
    for col in ("open", "high", "low"):
        agg[col] = agg[col].fillna(agg["close"])
    agg["vwap"] = (agg["quote_volume"] / agg["volume"]).where(agg["count"] > 0, agg["close"])
    agg.index.name = "timestamp"
    return agg[list(BAR_COLUMNS)]


def stream(events: list[Trade], timeframe: str) -> int:
    builder = BarBuilder("bench", "BTC/USDT", timeframe)
    update = builder.update
    closed = 0
    for trade in events:
        closed += len(update(trade))
    return closed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=5_000_000)
    parser.add_argument("--stream-trades", type=int, default=500_000)
    parser.add_argument("--timeframe", default="1m")
    args = parser.parse_args()
    n, tf = args.trades, args.timeframe

    trades = synthetic_trades(n)
    variants = {
        "side categorical": trades,
        "side str (pandas default)": trades.assign(side=trades["side"].astype(str)),
        "side str objects": trades.assign(side=trades["side"].astype(str).astype(object)),
        "no side column": trades.drop(columns="side"),
    }
    for frame in variants.values():  # warm-up: compile or load every kernel specialization
        resample_trades(frame.iloc[:1000], tf)

    rows: list[tuple[str, int, float]] = []
    for name, frame in variants.items():
        rows.append((f"mdx resample_trades, {name}", n, best_of(lambda f=frame: resample_trades(f, tf), 5)))
    pandas_seconds = best_of(lambda: pandas_resample(trades, tf), 2)
    rows.append(("pandas resample().agg, side categorical", n, pandas_seconds))
    pandas_default_seconds = best_of(lambda: pandas_resample(variants["side str (pandas default)"], tf), 2)
    rows.append(("pandas resample().agg, side str (pandas default)", n, pandas_default_seconds))
    pandas_str_seconds = best_of(lambda: pandas_resample(variants["side str objects"], tf), 2)
    rows.append(("pandas resample().agg, side str objects", n, pandas_str_seconds))

    m = min(args.stream_trades, n)
    head = trades.iloc[:m]
    events = [
        Trade("bench", "BTC/USDT", int(t) * 1_000_000, int(t) * 1_000_000, "", p, a, s)
        for t, p, a, s in zip(
            head["timestamp"].tolist(),
            head["price"].tolist(),
            head["amount"].tolist(),
            head["side"].tolist(),
            strict=True,
        )
    ]
    stream(events[:1000], tf)
    rows.append(("mdx BarBuilder.update (streaming)", m, best_of(lambda: stream(events, tf), 3)))

    ours = resample_trades(trades, tf)
    ref = pandas_resample(trades, tf)
    same = np.allclose(ours.to_numpy(float), ref.to_numpy(float), rtol=1e-9) and ours.index.equals(ref.index)

    print(f"{n:,} synthetic trades -> {len(ours):,} {tf} bars (equal to the pandas result: {same})")
    print(f"{'method':<50} {'trades':>10} {'seconds':>9} {'M trades/s':>11} {'vs pandas':>10}")
    for name, count, seconds in rows:
        base = pandas_seconds
        if "str objects" in name:
            base = pandas_str_seconds
        elif "pandas default" in name:
            base = pandas_default_seconds
        ratio = f"{base / seconds * count / n:9.1f}x" if "streaming" not in name else ""
        print(f"{name:<50} {count:>10,} {seconds:>9.4f} {count / seconds / 1e6:>11.1f} {ratio:>10}")


if __name__ == "__main__":
    main()
