"""The confluence score: streaming equals batch (generated and real bars), bounds, direction (a mirrored
market gives the mirrored score), exclusion and re-weighting of dimensions, bad input."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import mdx
from mdx.analytics.confluence import (
    DIMENSIONS,
    LABELS,
    ConfluenceParams,
    ConfluenceScore,
    book_metrics,
    confluence,
    label_of,
)
from mdx.errors import ConfigError, DataError, InvalidValue
from mdx.events import BookSnapshot

COLUMNS = ["score", *DIMENSIONS]


def make_bars(n: int = 600, seed: int = 3, book: bool = True, sentiment: bool = False) -> pd.DataFrame:
    """Random-walk bars with trending stretches, some empty bars (NaN vwap, no volume) and, on request,
    book and sentiment columns."""
    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.normal(0, 0.002, n // 50 + 1), 50)[:n]
    close = 100 * np.exp(np.cumsum(drift + rng.normal(0, 0.004, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.003, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.003, n))
    volume = rng.gamma(2.0, 5.0, n)
    buy = volume * rng.beta(2, 2, n)
    vwap = low + (high - low) * rng.uniform(0.2, 0.8, n)
    empty = rng.random(n) < 0.05
    volume[empty] = buy[empty] = 0.0
    vwap[empty] = np.nan
    high[empty] = low[empty] = close[empty] = open_[empty]
    index = pd.date_range("2024-08-08", periods=n, freq="1min", tz="UTC", name="timestamp")
    bars = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "vwap": vwap,
         "buy_volume": buy, "sell_volume": volume - buy},
        index=index,
    )  # fmt: skip
    if book:
        bars["book_imbalance"] = rng.uniform(-1, 1, n)
        bars["book_depth_ratio"] = rng.uniform(0, 1, n)
        bars.loc[bars.index[rng.random(n) < 0.1], "book_imbalance"] = np.nan  # no book for some bars
    if sentiment:
        bars["funding_rate"] = rng.normal(1e-4, 2e-4, n)
        bars["open_interest"] = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return bars


def stream(bars: pd.DataFrame, scorer: ConfluenceScore | None = None) -> pd.DataFrame:
    scorer = scorer if scorer is not None else ConfluenceScore()
    rows = []
    nan = np.full(len(bars), np.nan)
    imbalance = bars["book_imbalance"].to_numpy() if "book_imbalance" in bars else nan
    depth = bars["book_depth_ratio"].to_numpy() if "book_depth_ratio" in bars else nan
    funding = bars["funding_rate"].to_numpy() if "funding_rate" in bars else nan
    oi = bars["open_interest"].to_numpy() if "open_interest" in bars else nan
    for k, bar in enumerate(bars.itertuples()):
        book = (imbalance[k], depth[k]) if "book_imbalance" in bars else None
        rows.append(scorer.update(bar, book, funding[k], oi[k]))
    return pd.DataFrame(rows, index=bars.index)


def assert_same(streamed: pd.DataFrame, batch: pd.DataFrame) -> None:
    for column in COLUMNS:
        np.testing.assert_array_equal(streamed[column].to_numpy(), batch[column].to_numpy(), err_msg=column)
    assert streamed["label"].tolist() == batch["label"].tolist()


def mirror(bars: pd.DataFrame, centre: float = 200.0) -> pd.DataFrame:
    """The same market upside down: prices reflected around ``centre``, buyers and sellers swapped."""
    out = bars.copy()
    out["open"], out["close"], out["vwap"] = (
        centre - bars["open"],
        centre - bars["close"],
        centre - bars["vwap"],
    )
    out["high"], out["low"] = centre - bars["low"], centre - bars["high"]
    out["buy_volume"], out["sell_volume"] = bars["sell_volume"], bars["buy_volume"]
    if "book_imbalance" in bars:
        out["book_imbalance"], out["book_depth_ratio"] = -bars["book_imbalance"], 1 - bars["book_depth_ratio"]
    return out


@pytest.mark.parametrize("sentiment", [False, True])
def test_streaming_equals_batch_on_generated_bars(sentiment: bool) -> None:
    bars = make_bars(sentiment=sentiment)
    batch = confluence(bars)
    assert_same(stream(bars), batch)
    warm = ConfluenceParams().warmup
    assert batch["score"].iloc[: warm - 1].isna().all() and batch["score"].iloc[warm - 1 :].notna().all()
    assert batch["sentiment"].notna().any() == sentiment


def test_streaming_equals_batch_with_other_params_and_weights() -> None:
    bars = make_bars(400, seed=11)
    params = ConfluenceParams(rsi=7, macd_fast=5, macd_slow=13, macd_signal=4, ema_fast=4, ema_slow=10,
                              bollinger=10, atr=7, slope=3, volume=8, flow=3, structure=9)  # fmt: skip
    weights = {"technical": 1, "volume": 2.5, "order_book": 0}
    assert_same(stream(bars, ConfluenceScore(weights, params)), confluence(bars, weights, params))
    assert params.warmup == 16 and confluence(bars, weights, params)["score"].iloc[15:].notna().all()


def test_streaming_equals_batch_on_real_bars(shared_data) -> None:
    spot = shared_data / "binance-spot-l2-trades"
    events = [
        *mdx.read_capture(spot / "btcusdt_20240808.gz"),
        *mdx.read_capture(spot / "btcusdt_20240809.gz"),
    ]
    trades = mdx.trades_to_frame(events)
    for timeframe in ("1s", "5s"):
        bars = mdx.resample_trades(trades, timeframe)
        batch = confluence(bars)
        assert_same(stream(bars), batch)
        scored = batch.dropna(subset=["score"])
        assert len(scored) >= 90
        # real bars carry buy/sell volume: order flow is there; no book columns: the book is excluded
        assert scored["order_flow"].notna().all() and scored["order_book"].isna().all()


def test_bounds_and_labels() -> None:
    batch = confluence(make_bars(sentiment=True))
    scored = batch.dropna(subset=["score"])
    assert scored["score"].between(0, 100).all()
    for dimension in DIMENSIONS:
        values = scored[dimension].dropna()
        assert len(values) and values.between(0, 1).all(), dimension
    assert set(scored["label"]) <= set(LABELS)
    # labels are ordered as the scores are: a higher score never has a weaker label
    rank = scored["label"].map(LABELS.index).to_numpy()
    order = np.argsort(scored["score"].to_numpy(), kind="stable")
    assert (np.diff(rank[order]) >= 0).all()
    assert [label_of(x) for x in (0, 20, 20.5, 40, 40.5, 59.9, 60, 79.9, 80, 100, math.nan)] == [
        "strong sell", "strong sell", "sell", "sell", "neutral", "neutral", "buy", "buy", "strong buy",
        "strong buy", "",
    ]  # fmt: skip


def test_a_mirrored_market_gets_the_mirrored_score() -> None:
    """0.5 is neutral and 1 bullish in every dimension: the same bars upside down (prices reflected,
    buyers and sellers swapped, book sides swapped) give 1 - each sub-score and 100 - the score."""
    bars = make_bars(500, seed=5)
    up, down = confluence(bars), confluence(mirror(bars))
    for column in DIMENSIONS:
        np.testing.assert_allclose(down[column], 1 - up[column], atol=1e-9, err_msg=column)
    np.testing.assert_allclose(down["score"], 100 - up["score"], atol=1e-7)


def test_trends_score_on_their_side() -> None:
    n = 200
    rising = make_bars(n, seed=2, book=False)
    steps = np.linspace(100, 130, n)
    for column in ("open", "high", "low", "close", "vwap"):
        rising[column] = rising[column] / rising["close"] * steps
    rising["buy_volume"] = rising["volume"] * 0.7
    rising["sell_volume"] = rising["volume"] * 0.3
    up = confluence(rising).dropna(subset=["score"])
    down = confluence(mirror(rising)).dropna(subset=["score"])
    assert (up["score"] > 55).mean() > 0.9 and (down["score"] < 45).mean() > 0.9
    assert up["technical"].median() > 0.6 and np.allclose(up["order_flow"], 0.7)


def test_dimensions_without_data_are_excluded_and_the_rest_reweighted() -> None:
    bars = make_bars(400, seed=8)
    with_book = confluence(bars)
    without_book = confluence(bars.drop(columns=["book_imbalance", "book_depth_ratio"]))
    zero_book = confluence(bars, {"order_book": 0})
    assert without_book["order_book"].isna().all() and without_book["sentiment"].isna().all()
    np.testing.assert_array_equal(zero_book["score"], without_book["score"])
    assert not np.allclose(with_book["score"].dropna(), without_book["score"].dropna())
    # the score is the weighted mean of the dimensions with data
    scored = without_book.dropna(subset=["score"])
    w = {"technical": 25, "volume": 20, "order_flow": 15, "structure": 15}
    expected = 100 * sum(scored[d] * x for d, x in w.items()) / sum(w.values())
    np.testing.assert_allclose(scored["score"], expected, rtol=1e-12)
    # one dimension alone is the score; scaling every weight changes nothing
    only = confluence(bars, dict.fromkeys(DIMENSIONS, 0) | {"structure": 3})
    np.testing.assert_allclose(only["score"], 100 * only["structure"], rtol=1e-12)
    scaled = confluence(bars, {d: 7 * w for d, w in mdx.analytics.confluence.DEFAULT_WEIGHTS.items()})
    np.testing.assert_allclose(scaled["score"], with_book["score"], rtol=1e-12)


def test_bars_without_buy_sell_volume_exclude_order_flow() -> None:
    bars = make_bars(300, book=False)
    bars["buy_volume"] = bars["sell_volume"] = np.nan  # e.g. OHLCV candles from an exchange
    batch = confluence(bars)
    assert batch["order_flow"].isna().all() and batch["score"].iloc[40:].notna().all()
    assert_same(stream(bars), batch)


def test_book_metrics_of_a_book_view() -> None:
    book = mdx.OrderBook("x", "BTC/USDT")
    bids = ((100.0, 1.0), (99.95, 2.0), (99.0, 50.0))  # 99.0 is 100 bps away: outside 10 bps
    asks = ((100.1, 1.0), (100.15, 1.0), (101.0, 40.0))
    book.apply(BookSnapshot("x", "BTC/USDT", 1, 1, 10, bids, asks))
    imbalance, ratio = book_metrics(book.view(), 10.0)
    assert imbalance == pytest.approx((53 - 42) / 95)
    assert ratio == pytest.approx(3.0 / 5.0)
    assert book_metrics(book.view(), 1000.0)[1] == pytest.approx(53 / 95)
    scorer = ConfluenceScore(params=ConfluenceParams(depth_bps=10.0))
    assert scorer._book(book.view()) == pytest.approx(((1 + imbalance) / 2 + 0.6) / 2)


@pytest.mark.parametrize(
    "weights, match",
    [
        ({"technical": -1}, "technical.*>= 0"),
        ({"volume": math.inf}, "finite"),
        ({"volume": "20"}, "volume"),
        (dict.fromkeys(DIMENSIONS, 0), "all zero"),
        ({"orderbook": 10}, "did you mean 'order_book'"),
        ([("technical", 1)], "map dimension names"),
    ],
)
def test_bad_weights_are_config_errors(weights: object, match: str) -> None:
    bars = make_bars(100)
    with pytest.raises(ConfigError, match=match):
        confluence(bars, weights)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=match):
        ConfluenceScore(weights)  # type: ignore[arg-type]


def test_bad_params_are_config_errors() -> None:
    for bad in ({"rsi": 0}, {"macd_fast": 30}, {"ema_fast": 21}, {"depth_bps": -1}, {"structure": 1.5}):
        with pytest.raises(ConfigError):
            ConfluenceParams(**bad)  # type: ignore[arg-type]


def test_bad_bars_are_data_errors() -> None:
    bars = make_bars(100, book=False)
    with pytest.raises(DataError, match=r"at least 34 bars.*got 20"):
        confluence(bars.iloc[:20])
    with pytest.raises(DataError, match=r"column\(s\) \['volume'\]"):
        confluence(bars.drop(columns=["volume"]))
    gap = bars.copy()
    gap.iloc[50, gap.columns.get_loc("close")] = np.nan
    with pytest.raises(InvalidValue, match=r"row 50.*NaN gaps"):
        confluence(gap)
    with pytest.raises(DataError, match="DataFrame"):
        confluence(bars["close"])  # type: ignore[arg-type]


def test_a_bad_bar_in_a_stream_is_refused_and_changes_nothing() -> None:
    bars = make_bars(200, book=False)
    scorer = ConfluenceScore()
    rows = []
    for k, bar in enumerate(bars.itertuples()):
        if k == 60:
            for bad in (math.nan, -1.0, math.inf):
                with pytest.raises(InvalidValue, match="close"):
                    scorer.update(SimpleNamespace(high=1.0, low=1.0, close=bad, volume=1.0))
        rows.append(scorer.update(bar))
    assert_same(pd.DataFrame(rows, index=bars.index), confluence(bars))


def open_version(bars: pd.DataFrame, k: int, part: float) -> pd.DataFrame:
    """Bar ``k`` as it looked part-way (``part`` in (0, 1]): the same open, a close between open and the
    final close, a narrower range, part of the volume — an open bar, as a one-row frame."""
    row = bars.iloc[[k]].copy()
    o, c = row["open"].iloc[0], row["close"].iloc[0]
    close = o + (c - o) * part
    row["close"] = close
    row["high"] = max(o, close) + (row["high"].iloc[0] - max(o, c)) * part
    row["low"] = min(o, close) - (min(o, c) - row["low"].iloc[0]) * part
    for column in ("volume", "buy_volume", "sell_volume"):
        row[column] = row[column] * part
    return row


def test_preview_equals_the_batch_with_the_open_bar_as_closed_and_changes_nothing() -> None:
    bars = make_bars(160, seed=5)
    previewed, plain = ConfluenceScore(), ConfluenceScore()
    imbalance, depth = bars["book_imbalance"].to_numpy(), bars["book_depth_ratio"].to_numpy()
    checked = 0
    for k, bar in enumerate(bars.itertuples()):
        book = (imbalance[k], depth[k])
        for part in (0.3, 0.7, 1.0):  # the open bar growing, as the session previews it
            partial = open_version(bars, k, part)
            value = previewed.preview(next(partial.itertuples()), book)
            if k + 1 >= previewed.params.warmup:
                batch = confluence(pd.concat([bars.iloc[:k], partial])).iloc[-1]
                assert np.array_equal([*value[:-1]], batch[COLUMNS].to_numpy(float), equal_nan=True)
                assert value.label == batch["label"]
                checked += 1
            else:
                assert math.isnan(value.score) and value.label == ""
        # the bar closes: previews changed nothing
        closed, unpreviewed = previewed.update(bar, book), plain.update(bar, book)
        assert np.array_equal([*closed[:-1]], [*unpreviewed[:-1]], equal_nan=True)
        assert closed.label == unpreviewed.label
        assert previewed.count == plain.count == k + 1
    assert checked == 3 * (len(bars) - ConfluenceParams().warmup + 1)
    # and what comes after is the same as without previews, bit for bit
    more = make_bars(80, seed=6)
    after = [previewed.update(bar) for bar in more.itertuples()]
    assert_same(pd.DataFrame(after), pd.DataFrame([plain.update(bar) for bar in more.itertuples()]))


def test_a_snapshot_shares_no_state() -> None:
    bars = make_bars(120, seed=8, book=False)
    scorer = ConfluenceScore()
    rows = list(bars.itertuples())
    for bar in rows[:80]:
        scorer.update(bar)
    twin = scorer.snapshot()
    for bar in rows[80:100]:
        twin.update(bar)  # runs ahead
    assert scorer.count == 80 and twin.count == 100
    rest = [scorer.update(bar) for bar in rows[80:]]
    assert_same(pd.DataFrame(rest), stream(bars).iloc[80:].reset_index(drop=True))
    with pytest.raises(InvalidValue):
        scorer.preview(SimpleNamespace(high=1.0, low=1.0, close=math.nan, volume=1.0))
    assert scorer.count == 120


def test_the_maker_scores_sentiment_from_funding_and_open_interest_events() -> None:
    from mdx.analytics.live import Confluence, ConfluenceMaker
    from mdx.channel_events import Funding, OpenInterest
    from mdx.clock import SimulatedClock
    from mdx.session import Session
    from mdx.sources.sim.simulator import Simulator

    class WithFunding(Simulator):
        """The simulator's events, plus a funding rate and open interest every minute of event time."""

        def iter_events(self, rejections):  # type: ignore[no-untyped-def]
            next_ns = 0
            oi = 1000.0
            for event in super().iter_events(rejections):
                if event.ts_event >= next_ns:
                    next_ns = event.ts_event + 60_000_000_000
                    oi *= 1.01
                    yield Funding(event.exchange, event.symbol, event.ts_event, event.ts_recv, 3e-4, 0)
                    ex, sym, ts, recv = event.exchange, event.symbol, event.ts_event, event.ts_recv
                    yield OpenInterest(ex, sym, ts, recv, oi, math.nan)
                yield event

    def run(source: Simulator) -> list[Confluence]:
        maker = ConfluenceMaker(timeframes=("1m",), open_bar_interval=0)
        start = 1_700_000_000_000_000_000
        session = Session(source, timeframes=("1m",), clock=SimulatedClock(start), consumers=[maker])
        session.run_until_done(until_ns=start + 40 * 60 * 10**9)
        return session.cache.history(Confluence, ("sim", "BTC/USDT"), "1m")

    kwargs = {"seed": 3, "start_ns": 1_700_000_000_000_000_000, "history": None}
    with_sentiment = run(WithFunding(("BTC/USDT",), **kwargs))
    without = run(Simulator(("BTC/USDT",), **kwargs))
    scored = [c for c in with_sentiment if not math.isnan(c.sentiment)]
    assert scored and all(0.0 <= c.sentiment <= 1.0 for c in scored)
    assert without and all(math.isnan(c.sentiment) for c in without)
