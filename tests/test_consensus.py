"""Multi-timeframe consensus (votes, alignment without look-ahead, streaming equals batch) and the
``ConfluenceMaker`` in sessions: a replayed capture and the simulator, with a simulated clock."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import mdx
from mdx.analytics.confluence import DIMENSIONS, ConfluenceParams, book_metrics, confluence
from mdx.analytics.consensus import MultiTimeframeConsensus, consensus, consensus_from_scores, vote_of
from mdx.analytics.live import Confluence, ConfluenceMaker, Consensus
from mdx.consumer import Consumer
from mdx.errors import ConfigError, DataError, InvalidTimeframe
from mdx.events import KINDS, Bar
from mdx.market.timeframes import timeframe_ns

S = 1_000_000_000
T0 = 1_700_000_000 * S
SMALL = ConfluenceParams(rsi=5, macd_fast=3, macd_slow=6, macd_signal=3, ema_fast=3, ema_slow=6, bollinger=5,
                         atr=5, slope=2, volume=5, flow=3, structure=6)  # fmt: skip


def trades_frame(n: int = 120_000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = 1_723_161_000_000 + np.cumsum(rng.exponential(90.0, n)).astype(np.int64)  # ms, ~1 hour
    price = 60_000 * np.exp(np.cumsum(rng.normal(0, 2e-4, n)) + np.sin(np.arange(n) / 3000) * 0.01)
    return pd.DataFrame(
        {"timestamp": ts, "price": price, "amount": rng.gamma(1.5, 0.02, n),
         "side": np.where(rng.random(n) < 0.5, "buy", "sell")}
    )  # fmt: skip


def test_votes_and_their_consensus() -> None:
    assert [vote_of(x) for x in (0, 40, 40.1, 59.9, 60, 100, math.nan)] == [
        "SELL", "SELL", "NEUTRAL", "NEUTRAL", "BUY", "BUY", ""
    ]  # fmt: skip
    c = MultiTimeframeConsensus(("1h", "1m", "5m", "15m"))
    assert c.timeframes == ("1m", "5m", "15m", "1h")  # finest first
    assert c.value.signal == "NEUTRAL" and c.value.confidence == 0 and math.isnan(c.value.net)
    c.update("1m", 70)
    v = c.update("5m", 65)
    assert (v.signal, v.strength, v.confidence) == ("BUY", 1.0, 0.5)  # two of four timeframes vote yet
    v = c.update("15m", 30)
    assert v.signal == "NEUTRAL" and v.strength == pytest.approx(1 / 3) and v.confidence == 0
    v = c.update("1h", 61)
    assert (v.signal, v.strength, v.confidence) == ("BUY", 0.5, 0.75)
    assert v.votes == (("1m", "BUY"), ("5m", "BUY"), ("15m", "SELL"), ("1h", "BUY"))
    for tf in c.timeframes:
        v = c.update(tf, 10)
    assert (v.signal, v.strength, v.confidence, v.net) == ("SELL", 1.0, 1.0, -1.0)
    heavy = MultiTimeframeConsensus(("1m", "1h"), weights={"1h": 3})
    heavy.update("1m", 80)
    assert heavy.update("1h", 20).signal == "SELL"  # net (1 - 3) / 4 = -0.5


def test_batch_aligns_votes_by_close_time_without_look_ahead() -> None:
    trades = trades_frame()
    bars = {tf: mdx.resample_trades(trades, tf) for tf in ("1m", "5m", "15m")}
    result = consensus(bars, params=SMALL)
    scores = {tf: confluence(frame, params=SMALL)["score"] for tf, frame in bars.items()}
    assert len(result) == sum(len(b) for b in bars.values())
    assert result.index.is_monotonic_increasing
    # each row's vote of a timeframe is the vote of its latest bar closed by then (checked with merge_asof);
    # at a close time shared with a finer timeframe, the finer row comes first, before the coarser vote
    rows = pd.DataFrame({"ts": result.index}).reset_index()
    finer_row = result["timeframe"].map(timeframe_ns).to_numpy()
    for tf, score in scores.items():
        closes = pd.DataFrame(
            {"ts": score.index + pd.Timedelta(timeframe_ns(tf), "ns"), "score": score.values}
        )
        inclusive = pd.merge_asof(rows, closes, on="ts", direction="backward")["score"]
        before = pd.merge_asof(rows, closes, on="ts", direction="backward", allow_exact_matches=False)[
            "score"
        ]
        joined = np.where(finer_row < timeframe_ns(tf), before, inclusive)
        expected = [vote_of(s) for s in joined]
        assert result[f"vote_{tf}"].tolist() == expected, tf
        # nothing votes before its first bar closed
        first = closes["ts"].iloc[0]
        assert (result.loc[result.index < first, f"vote_{tf}"] == "").all()
    assert set(result["signal"]) <= {"BUY", "SELL", "NEUTRAL"} and result["confidence"].between(0, 1).all()
    assert Counter(result["timeframe"]) == {tf: len(b) for tf, b in bars.items()}


def test_streaming_equals_batch() -> None:
    trades = trades_frame(seed=4)
    bars = {tf: mdx.resample_trades(trades, tf) for tf in ("1m", "5m", "15m")}
    batch = consensus(bars, params=SMALL, weights={"15m": 2})
    streaming = MultiTimeframeConsensus(bars, weights={"15m": 2})
    scorers = {tf: mdx.analytics.confluence.ConfluenceScore(params=SMALL) for tf in bars}
    steps = sorted(
        (ts + timeframe_ns(tf), timeframe_ns(tf), tf, row)
        for tf, frame in bars.items()
        for ts, row in zip(frame.index.asi8, frame.itertuples(), strict=True)
    )
    values = [streaming.update(tf, scorers[tf].update(row).score) for _, _, tf, row in steps]
    assert [v.signal for v in values] == batch["signal"].tolist()
    np.testing.assert_array_equal([v.confidence for v in values], batch["confidence"])
    np.testing.assert_array_equal([v.strength for v in values], batch["strength"])
    assert Counter(batch["signal"]).keys() >= {"BUY", "SELL"}


def test_bad_consensus_settings() -> None:
    with pytest.raises(InvalidTimeframe):
        MultiTimeframeConsensus(("1m", "7q"))
    with pytest.raises(ConfigError, match="not among"):
        MultiTimeframeConsensus(("1m",), weights={"5m": 1})
    with pytest.raises(ConfigError, match="all zero"):
        MultiTimeframeConsensus(("1m", "5m"), weights={"1m": 0, "5m": 0})
    with pytest.raises(ConfigError, match="below buy_above"):
        MultiTimeframeConsensus(("1m",), buy_above=40, sell_below=60)
    with pytest.raises(ConfigError, match="agree"):
        MultiTimeframeConsensus(("1m",), agree=2)
    with pytest.raises(ConfigError, match="not among"):
        MultiTimeframeConsensus(("1m",)).update("5m", 50)
    with pytest.raises(DataError):
        consensus({})
    short = mdx.resample_trades(trades_frame(2000), "1m")  # 3 bars: no vote yet, as in a session
    assert consensus({"1m": short})["vote_1m"].tolist() == ["", "", ""]
    short.iloc[1, short.columns.get_loc("low")] = np.nan
    with pytest.raises(DataError, match="row 1"):
        consensus({"1m": short})
    with pytest.raises(ConfigError):
        ConfluenceMaker(("1m",), weights={"volume": -1})
    with pytest.raises(ConfigError, match="book_max_age_s"):
        ConfluenceMaker(("1m",), book_max_age_s=-1)


# -- in a session ------------------------------------------------------------------------------------------


class Collect(Consumer):
    """Records closed bars, book views, closed-bar confluence and consensus events in the order they pass,
    and apart from them the previews, each with the open bar it previewed (None for a consensus)."""

    takes = (Bar, mdx.BookView, Confluence, Consensus)

    def __init__(self) -> None:
        self.events: list[object] = []
        self.previews: list[tuple[Bar | None, Confluence | Consensus]] = []
        self._open: dict[tuple[str, str, str], Bar] = {}
        self.last: dict[tuple[type, str], object] = {}  # the last confluence (per timeframe) and consensus

    def on_event(self, event: object) -> None:
        if type(event) in (Confluence, Consensus):
            self.last[(type(event), getattr(event, "timeframe", ""))] = event
        if type(event) is Bar and not event.closed:
            self._open[(event.exchange, event.symbol, event.timeframe)] = event
        elif type(event) is Confluence and not event.final:
            self.previews.append((self._open[(event.exchange, event.symbol, event.timeframe)], event))
        elif type(event) is Consensus and not event.final:
            self.previews.append((None, event))
        else:
            self.events.append(event)

    def of(self, cls: type) -> list:
        return [e for e in self.events if type(e) is cls]


def run_replay(paths: list, timeframes: tuple[str, ...]) -> tuple[mdx.Session, ConfluenceMaker, Collect]:
    maker, collect = ConfluenceMaker(timeframes), Collect()
    session = mdx.Session(mdx.ReplaySource(paths), timeframes=timeframes, consumers=[maker, collect],
                          clock=mdx.SimulatedClock())  # fmt: skip
    return session.run_until_done(), maker, collect


def book_columns(frame: pd.DataFrame, timeframe: str, views: list, max_age_ns: int = 10 * S) -> pd.DataFrame:
    """The bars with the metrics of the latest in-sync view before each close (an independent lookup)."""
    if not views:
        return frame
    found = pd.DataFrame(
        {"ts": [v.ts_event for v in views if v.in_sync], "view": [v for v in views if v.in_sync]}
    )
    closes = pd.DataFrame({"ts": frame.index.as_unit("ns").asi8 + timeframe_ns(timeframe)})
    joined = pd.merge_asof(closes, found, on="ts", direction="backward", allow_exact_matches=False,
                           tolerance=max_age_ns)  # fmt: skip
    metrics = [book_metrics(v) if isinstance(v, mdx.BookView) else (np.nan, np.nan) for v in joined["view"]]
    out = frame.copy()
    out["book_imbalance"] = [m[0] for m in metrics]
    out["book_depth_ratio"] = [m[1] for m in metrics]
    return out


def warming(frame: pd.DataFrame) -> pd.DataFrame:
    """What the batch says of a timeframe too short for a score: nothing yet."""
    out = pd.DataFrame(np.nan, index=frame.index, columns=["score", *DIMENSIONS])
    out["label"] = ""
    return out


def assert_session_equals_batch(collect: Collect, timeframes: tuple[str, ...], key: tuple[str, str]) -> None:
    bars = [b for b in collect.of(Bar) if (b.exchange, b.symbol) == key]
    views = [v for v in collect.of(mdx.BookView) if (v.exchange, v.symbol) == key]
    scores = {}
    for tf in timeframes:
        frame = mdx.bars_to_frame(sorted((b for b in bars if b.timeframe == tf), key=lambda b: b.ts_event))
        batch = confluence(book_columns(frame, tf, views)) if len(frame) >= 34 else warming(frame)
        events = [e for e in collect.of(Confluence) if (e.exchange, e.symbol, e.timeframe) == (*key, tf)]
        assert [e.ts_event for e in events] == (frame.index.as_unit("ns").asi8 + timeframe_ns(tf)).tolist()
        for column in ("score", "technical", "volume", "order_flow", "order_book", "structure", "sentiment"):
            np.testing.assert_array_equal([getattr(e, column) for e in events], batch[column], err_msg=column)
        assert [e.label for e in events] == batch["label"].tolist()
        scores[tf] = batch["score"]
    expected = consensus_from_scores(scores)
    got = [e for e in collect.of(Consensus) if (e.exchange, e.symbol) == key]
    assert [e.ts_event for e in got] == expected.index.as_unit("ns").asi8.tolist()
    assert [e.signal for e in got] == expected["signal"].tolist()
    np.testing.assert_array_equal([e.confidence for e in got], expected["confidence"])
    np.testing.assert_array_equal([e.strength for e in got], expected["strength"])
    votes = [
        tuple(zip(timeframes, row, strict=True))
        for row in expected[[f"vote_{tf}" for tf in timeframes]].values
    ]
    assert [e.votes for e in got] == votes


def test_a_replayed_capture_gives_the_batch_values_and_the_same_events_twice(shared_data) -> None:
    spot = shared_data / "binance-spot-l2-trades"
    paths = [spot / "btcusdt_20240808.gz", spot / "btcusdt_20240809.gz"]
    timeframes = ("1s", "5s", "15s")
    session, maker, collect = run_replay(paths, timeframes)
    assert session.rejections.total == 0 and maker.rejections.total == 0
    confluences = collect.of(Confluence)
    assert Counter(e.timeframe for e in confluences) == Counter(b.timeframe for b in collect.of(Bar))
    scored = [e for e in confluences if not math.isnan(e.score)]
    assert len(scored) > 500 and all(not math.isnan(e.order_book) for e in scored[-100:])
    assert {e.label for e in scored} >= {"buy", "sell"} and all(math.isnan(e.sentiment) for e in scored)
    assert_session_equals_batch(collect, timeframes, ("binance", "BTC/USDT"))
    key = ("binance", "BTC/USDT")
    history = session.cache.history(Confluence, key, "5s")  # closed bars only; the latest may be a preview
    assert history == [e for e in confluences if e.timeframe == "5s"][-len(history) :]
    assert session.cache.latest(Confluence, key, "5s") is collect.last[(Confluence, "5s")]
    assert session.cache.latest(Consensus, key) is collect.last[(Consensus, "")]
    assert not collect.last[(Consensus, "")].final  # the run ends on trades after the last close
    assert KINDS[Confluence].topic == "confluence" and KINDS[Consensus].topic == "consensus"
    again = run_replay(paths, timeframes)[2]
    derived = [repr(e) for e in collect.events if type(e) in (Confluence, Consensus)]
    assert [repr(e) for e in again.events if type(e) in (Confluence, Consensus)] == derived
    assert [repr(e) for _, e in again.previews] == [repr(e) for _, e in collect.previews]


def test_the_simulator_with_history_warms_every_timeframe() -> None:
    timeframes = ("1m", "5m", "15m", "1h")
    maker, collect = ConfluenceMaker(timeframes), Collect()
    sim = mdx.Simulator(("BTC/USDT",), seed=7, start_ns=T0, history="12h")
    session = mdx.Session(
        sim, timeframes=timeframes, consumers=[maker, collect], clock=mdx.SimulatedClock(T0)
    )
    session.run_until_done(until_ns=T0 + 150 * S)
    assert session.rejections.total == 0 and maker.rejections.total == 0
    last = {e.timeframe: e for e in collect.of(Confluence)}
    assert not any(math.isnan(last[tf].score) for tf in ("1m", "5m", "15m"))
    assert math.isnan(last["1h"].score)  # 12 one-hour bars: still warming up (34)
    final = collect.of(Consensus)[-1]
    assert dict(final.votes)["1h"] == "" and final.confidence <= 0.75
    assert all(e.ts_event > T0 for e in collect.of(Confluence)[-3:])  # the stream's bars, after the history
    assert_session_equals_batch(collect, timeframes, ("sim", "BTC/USDT"))


def test_a_bad_bar_is_counted_and_the_session_goes_on() -> None:
    maker = ConfluenceMaker(("1m",), params=SMALL)
    emitted: list[object] = []
    maker.bind(emitted.append)
    good = Bar("x", "BTC/USDT", "1m", 0, 0, 100, 101, 99, 100, 1, 100, 100, 0.5, 0.5, 3, True)
    bad = Bar("x", "BTC/USDT", "1m", 60 * S, 0, 100, math.nan, 99, 100, 1, 100, 100, 0.5, 0.5, 3, True)
    for bar in (good, bad):
        maker.on_event(bar)
    maker.close()
    assert maker.rejections.by_reason == {"InvalidValue": 1}
    assert [type(e).__name__ for e in emitted] == ["Confluence", "Consensus"]


def test_a_confluence_event_round_trips_through_a_recording() -> None:
    from mdx.io.recording import decode, encode

    event = Confluence(
        "x", "BTC/USDT", 60 * S, 61 * S, "1m", 62.5, 0.7, math.nan, 0.6, math.nan, 0.5, math.nan, "buy"
    )
    assert repr(decode(encode(event))) == repr(event)


# -- open bars: previews -------------------------------------------------------------------------------------


def test_a_consensus_preview_is_the_last_batch_row_with_the_open_bars_and_changes_nothing() -> None:
    c = MultiTimeframeConsensus(("1m", "5m", "15m"))
    for tf, score in (("1m", 70.0), ("1m", 65.0), ("5m", 30.0)):  # closing at 4, 5 and 5 minutes
        c.update(tf, score)
    before = c.value
    preview = c.preview({"1m": 20.0, "5m": 25.0})  # the open 1m and 5m bars look bearish
    assert (preview.signal, preview.confidence, preview.votes) == (
        "SELL", 2 / 3, (("1m", "SELL"), ("5m", "SELL"), ("15m", ""))
    )  # fmt: skip

    def at(*minutes: int) -> pd.DatetimeIndex:
        return pd.DatetimeIndex([T0 + m * 60 * S for m in minutes], tz="UTC")

    closed = {  # the same in batch: the bars so far, then the open 1m and 5m bars appended as if closed
        "1m": pd.Series([70.0, 65.0, 20.0], index=at(3, 4, 5)),
        "5m": pd.Series([30.0, 25.0], index=at(0, 5)),
        "15m": pd.Series([], index=at(), dtype=float),
    }
    last = consensus_from_scores(closed).iloc[-1]
    assert (last["signal"], last["confidence"], last["vote_1m"], last["vote_5m"]) == (
        preview.signal, preview.confidence, "SELL", "SELL"
    )  # fmt: skip
    assert c.value == before and c.update("15m", 50.0).votes[:2] == (("1m", "BUY"), ("5m", "SELL"))
    with pytest.raises(ConfigError, match="not among"):
        c.preview({"1h": 50.0})


def run_sim(open_bar_interval: float | None, timeframes: tuple[str, ...] = ("1m", "5m")) -> Collect:
    maker, collect = ConfluenceMaker(timeframes, open_bar_interval=open_bar_interval), Collect()
    sim = mdx.Simulator(("BTC/USDT",), seed=5, start_ns=T0, history="6h")
    session = mdx.Session(
        sim, timeframes=timeframes, consumers=[maker, collect], clock=mdx.SimulatedClock(T0)
    )
    session.run_until_done(until_ns=T0 + 120 * S)
    assert session.rejections.total == 0 and maker.rejections.total == 0
    return collect


def test_session_previews_equal_the_batch_with_the_open_bars_as_closed() -> None:
    timeframes = ("1m", "5m")
    collect = run_sim(1.0, timeframes)
    views = [v for v in collect.of(mdx.BookView) if v.in_sync]
    view_ts = np.array([v.ts_event for v in views])
    closed = {
        tf: book_columns(mdx.bars_to_frame(b for b in collect.of(Bar) if b.timeframe == tf), tf, views)
        for tf in timeframes
    }
    closed_scores = {tf: confluence(frame)["score"] for tf, frame in closed.items()}
    previewed: dict[str, float] = {}
    checked = Counter()
    for bar, event in collect.previews:
        now = event.ts_event
        if type(event) is Confluence:
            assert bar is not None and bar.ts_event <= now < bar.ts_event + timeframe_ns(bar.timeframe)
            tf = event.timeframe
            # the bars before the open one, then the open bar as if closed now, with the book as of now
            row = mdx.bars_to_frame([bar])
            at = np.searchsorted(view_ts, now, side="right") - 1
            view = views[at] if at >= 0 and now - views[at].ts_event <= 10 * S else None
            row["book_imbalance"], row["book_depth_ratio"] = book_metrics(view) if view else (np.nan, np.nan)
            frame = pd.concat([closed[tf][closed[tf].index < row.index[0]], row])
            expected = confluence(frame).iloc[-1]
            got = [event.score, *(getattr(event, d) for d in DIMENSIONS)]
            assert np.array_equal(got, expected[["score", *DIMENSIONS]].to_numpy(float), equal_nan=True)
            assert event.label == expected["label"] and not math.isnan(event.score)
            previewed[tf] = event.score
            checked[tf] += 1
            continue
        # the consensus: each timeframe's closed scores so far, the previewed open bars appended; last row
        scores = {}
        for tf in timeframes:
            done = closed_scores[tf]
            done = done[done.index + pd.Timedelta(timeframe_ns(tf), "ns") <= pd.Timestamp(now, tz="UTC")]
            if tf in previewed:
                opened = done.index[-1] + pd.Timedelta(timeframe_ns(tf), "ns")
                done = pd.concat([done, pd.Series([previewed[tf]], index=[opened])])
            scores[tf] = done
        last = consensus_from_scores(scores).iloc[-1]
        assert (event.signal, event.confidence, event.strength) == (
            last["signal"], last["confidence"], last["strength"]
        )  # fmt: skip
        assert event.votes == tuple((tf, last[f"vote_{tf}"]) for tf in timeframes)
        previewed.clear()
        checked["consensus"] += 1
    assert checked["1m"] == checked["5m"] == checked["consensus"] > 100


def test_previews_come_once_per_interval_of_event_time_and_change_no_closed_value() -> None:
    every_second, every_five, never = run_sim(1.0), run_sim(5.0), run_sim(None)
    assert never.previews == [] and run_sim(0).previews == []
    for collect, interval in ((every_second, 1), (every_five, 5)):
        rounds = sorted({e.ts_event for _, e in collect.previews if type(e) is Consensus})
        assert min(np.diff(rounds)) >= interval * S and len(rounds) >= 100 // interval
        # the closed-bar events are the same as without previews, bit for bit
        derived = [repr(e) for e in collect.events if type(e) in (Confluence, Consensus)]
        assert derived == [repr(e) for e in never.events if type(e) in (Confluence, Consensus)]
    again = run_sim(1.0)
    assert [repr(e) for _, e in again.previews] == [repr(e) for _, e in every_second.previews]
    with pytest.raises(ConfigError, match="open_bar_interval"):
        ConfluenceMaker(("1m",), open_bar_interval=-1)
