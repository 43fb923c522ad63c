"""Alert rules, cooldowns by event time, the engine in a session on real captures, and the sinks (a real
loopback HTTP server for webhooks)."""

from __future__ import annotations

import itertools
import json
import logging
import math
import statistics
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mdx.alerts import (
    Alert,
    AlertEngine,
    ConfluenceLabelChange,
    ConsensusChange,
    ImbalanceBeyond,
    LogSink,
    PctChange,
    PriceAbove,
    PriceBelow,
    PriceCross,
    SpreadAbove,
    Stale,
    VolatilitySpike,
    WebhookSink,
    ZScoreBeyond,
)
from mdx.analytics.confluence import label_of
from mdx.analytics.live import Confluence, ConfluenceMaker, Consensus
from mdx.backoff import Backoff
from mdx.clock import SimulatedClock
from mdx.errors import ConfigError, InvalidTimeframe
from mdx.events import Bar, Trade
from mdx.io.capture import read_capture
from mdx.session import Session
from mdx.sources.replay import ReplaySource
from mdx.sources.sim import Simulator

S = 1_000_000_000


def wait_until(condition: Any, timeout: float) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds passed (a generous bound, not a measure)."""
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return True
        done.wait(0.02)
    return bool(condition())


T0 = 1_722_000_000 * S


def trade(price: float, second: float, symbol: str = "BTC/USDT", i: int = 0) -> Trade:
    ts = T0 + int(second * S)
    return Trade("x", symbol, ts, ts, str(i or second), price, 1.0, "buy")


def bar(close: float, minute: int, timeframe: str = "1m", closed: bool = True) -> Bar:
    ts = T0 + minute * 60 * S
    return Bar(
        "x", "BTC/USDT", timeframe, ts, ts, close, close, close, close, 1.0, close, close, 0.5, 0.5, 1, closed
    )


def engine_with(*rules: Any, **options: Any) -> tuple[AlertEngine, list[Alert]]:
    """An engine outside any session: what it emits goes to a list."""
    out: list[Alert] = []
    engine = AlertEngine(rules, **options)
    engine.bind(out.append)
    return engine, out


def feed(engine: AlertEngine, events: list[Any]) -> None:
    for event in events:
        engine.on_event(event)


def test_price_cross_fires_on_every_crossing_both_ways_with_the_direction_in_its_text() -> None:
    engine, out = engine_with(PriceCross("BTC/USDT", 100.0, cooldown=0))
    prices = [99.0, 99.5, 100.0, 101.0, 99.0, 100.5, 100.5, 98.0]
    feed(engine, [trade(p, i) for i, p in enumerate(prices)])
    assert [(a.value, a.text.split(" crossed ")[1].split()[0]) for a in out] == [
        (100.0, "above"),
        (99.0, "below"),
        (100.5, "above"),
        (98.0, "below"),
    ]
    assert {(a.kind, a.threshold, a.rule) for a in out} == {
        ("price_cross", 100.0, "price_cross:BTC/USDT:100")
    }
    assert [a.ts_event for a in out] == [T0 + i * S for i in (2, 4, 5, 7)]


def test_cooldown_is_event_time_and_suppressed_firings_are_counted() -> None:
    engine, out = engine_with(PriceAbove("BTC/USDT", 100.0, cooldown=10))
    # above on every trade from t=0 to t=25: fires at 0, 10, 20 only
    feed(engine, [trade(101.0, s) for s in range(26)])
    assert [(a.ts_event - T0) // S for a in out] == [0, 10, 20]
    assert engine.fired == 3 and engine.suppressed == 23
    assert out[0].text == "BTC/USDT price 101 is above 100"


def test_below_and_other_symbols_and_exchanges_are_kept_apart() -> None:
    engine, out = engine_with(
        PriceBelow("BTC/USDT", 50.0, cooldown=0), PriceBelow("ETH/USDT", 50.0, exchange="y", cooldown=0)
    )
    feed(engine, [trade(40.0, 1), trade(40.0, 2, "ETH/USDT"), trade(60.0, 3)])
    assert [(a.symbol, a.value) for a in out] == [("BTC/USDT", 40.0)]  # ETH's rule is for exchange "y"


def test_pct_change_over_an_event_time_window_up_and_down() -> None:
    engine, out = engine_with(PctChange("BTC/USDT", 2.0, "1m", cooldown=0))
    feed(engine, [trade(100.0, 0), trade(101.0, 30), trade(102.5, 59), trade(103.0, 100), trade(100.0, 120)])
    # at 59 s: +2.5% from 100 (still in the window); at 100 s the window starts at 101.0 (30 s): +1.98%;
    # at 120 s the window holds 103.0 (100 s) and 100.0: -2.9%
    assert [round(a.value, 3) for a in out] == [2.5, -2.913]
    up, _ = engine_with(PctChange("BTC/USDT", 2.0, "1m", direction="up", cooldown=0))
    feed(up, [trade(100.0, 0), trade(97.0, 10)])
    assert up.fired == 0


def test_zscore_rule_on_closed_bars_of_its_timeframe_only() -> None:
    engine, out = engine_with(ZScoreBeyond("BTC/USDT", k=3.0, n=20, timeframe="1m", cooldown=0))
    closes = [100.0 + (i % 2) * 0.1 for i in range(30)] + [103.0]
    feed(engine, [bar(c, i) for i, c in enumerate(closes)])
    feed(engine, [bar(200.0, 40, closed=False), bar(200.0, 40, timeframe="5m")])  # open bar, other timeframe
    assert len(out) == 1 and out[0].value > 3.0 and out[0].ts_event == T0 + 30 * 60 * S
    assert "z-score" in out[0].text and "20 1m bars" in out[0].text


def test_volatility_spike_against_the_median_of_its_own_history() -> None:
    engine, out = engine_with(VolatilitySpike("BTC/USDT", k=3.0, short=5, long=40, cooldown=0))
    closes = [100.0 * math.exp(0.001 * (-1) ** i) for i in range(60)]  # steady small moves
    closes += [closes[-1] * f for f in (1.03, 0.97, 1.04)]  # then large ones
    feed(engine, [bar(c, i) for i, c in enumerate(closes)])
    assert out, "no spike flagged"
    assert all(a.ts_event >= T0 + 60 * 60 * S for a in out) and out[0].value > 3.0


def test_stale_fires_once_per_silence_from_other_events_and_from_tick() -> None:
    engine, out = engine_with(Stale("ETH/USDT", seconds=30, cooldown=0))
    feed(engine, [trade(1.0, 0, "ETH/USDT"), trade(2.0, 10), trade(2.0, 35), trade(2.0, 50)])
    assert [(round(a.value), a.symbol) for a in out] == [(35, "ETH/USDT")]  # once for this silence
    feed(engine, [trade(1.0, 60, "ETH/USDT")])
    engine.tick(T0 + 100 * S)  # no other event: the clock's tick judges it
    assert [round(a.value) for a in out] == [35, 40]


def test_bad_rules_and_unknown_symbols_are_specific_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown symbol 'BTC/USD'; did you mean BTC/USDT"):
        AlertEngine([PriceAbove("BTC/USD", 1.0)], symbols=("BTC/USDT", "ETH/USDT"))
    for make, match in [
        (lambda: PriceAbove("BTC/USDT", math.nan), "finite"),
        (lambda: PriceCross("BTC/USDT", -1.0), "> 0"),
        (lambda: PriceAbove("BTC/USDT", 1.0, cooldown=-1), "cooldown"),
        (lambda: PctChange("BTC/USDT", 1.0, direction="sideways"), "direction"),
        (lambda: ZScoreBeyond("BTC/USDT", n=1), "n must be"),
        (lambda: VolatilitySpike("BTC/USDT", short=10, long=10), "longer"),
        (lambda: ImbalanceBeyond("BTC/USDT", 1.5), r"\(0, 1\)"),
        (lambda: PriceAbove("", 1.0), "symbol"),
    ]:
        with pytest.raises(ConfigError, match=match):
            make()
    with pytest.raises(InvalidTimeframe):
        ZScoreBeyond("BTC/USDT", timeframe="7q")
    engine = AlertEngine([PriceAbove("BTC/USDT", 1.0)])
    with pytest.raises(ConfigError, match="exists already"):
        engine.add_rule(PriceAbove("BTC/USDT", 1.0))
    assert engine.remove_rule("price_above:BTC/USDT:1") and not engine.remove_rule("nothing")
    assert engine.rules == ()


@pytest.fixture
def capture(shared_data: Path) -> Path:
    return shared_data / "binance-spot-l2-trades" / "btcusdt_20240808.gz"


def run_capture(path: Path, engine: AlertEngine) -> Session:
    session = Session(ReplaySource([path]), consumers=[engine], timeframes=("1m",), clock=SimulatedClock())
    return session.run_until_done()


def test_on_a_real_capture_crossings_equal_an_independent_count_and_replays_repeat_exactly(
    capture: Path,
) -> None:
    prices = [e.price for e in read_capture(capture) if isinstance(e, Trade)]
    level = statistics.median(prices)
    crossings = sum(a < level <= b or a > level >= b for a, b in itertools.pairwise(prices))
    runs = []
    for _ in range(2):
        engine = AlertEngine([PriceCross("BTC/USDT", level, cooldown=0), PctChange("BTC/USDT", 0.05, "1m")])
        session = run_capture(capture, engine)
        runs.append(engine.recent())
        assert session.rejections.total == 0
    assert crossings > 10 and sum(a.kind == "price_cross" for a in runs[0]) == crossings
    assert runs[0] == runs[1]  # the same recording fires the same alerts, values and event times included
    assert any(a.kind == "pct_change" for a in runs[0])


def test_book_rules_on_a_real_capture_reach_the_hub_and_the_cache(capture: Path) -> None:
    views: list[Any] = []
    engine = AlertEngine(
        [SpreadAbove("BTC/USDT", 0.01, cooldown=30), ImbalanceBeyond("BTC/USDT", 0.9, cooldown=30)],
        symbols=("BTC/USDT",),
    )
    session = Session(ReplaySource([capture]), consumers=[engine], timeframes=(), clock=SimulatedClock())
    published: list[tuple[str, Alert]] = []
    session.hub.subscribe("alerts.*", lambda topic, alert: published.append((topic, alert)))
    session.hub.subscribe("book_view*", lambda topic, view: views.append(view))
    session.run_until_done()
    kinds = {a.kind for a in engine.recent()}
    assert kinds == {"spread_above", "imbalance"}
    assert [a for _, a in published] == engine.recent()
    assert {topic for topic, _ in published} == {"alerts.binance.BTC/USDT"}
    assert session.cache.history(Alert, ("binance", "BTC/USDT")) == engine.recent()
    for alert in engine.recent():
        assert (alert.value > 0.01) if alert.kind == "spread_above" else abs(alert.value) >= 0.9
    gaps = [b.ts_event - a.ts_event for a, b in zip(engine.recent(), engine.recent()[1:], strict=False)
            if a.kind == b.kind]  # fmt: skip
    assert min(gaps) >= 30 * S  # the cooldown, per rule


class Receiver(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []  # a fixture makes a fresh subclass per test
    bodies: ClassVar[list[dict[str, Any]]] = []
    paths: ClassVar[list[str]] = []
    gate: ClassVar[threading.Event | None] = None  # set: answer only once it is set

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.gate is not None:
            self.gate.wait(60)
        code = self.answers.pop(0) if self.answers else 200
        if code == 200:
            self.bodies.append(json.loads(body))
            self.paths.append(self.path)
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("R", (Receiver,), {"answers": [], "bodies": [], "paths": [], "gate": None})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


FAST = Backoff(initial=0.01, cap=0.05)


def test_webhook_posts_json_and_retries_a_failing_endpoint(
    receiver: tuple[str, type[Receiver]], caplog: pytest.LogCaptureFixture
) -> None:
    url, handler = receiver
    handler.answers.extend([503, 500])  # two failures, then accepted
    sink = WebhookSink(url + "/hooks/T0KEN-SECRET", backoff=FAST)
    engine, _ = engine_with(PriceCross("BTC/USDT", 100.0, cooldown=0), sinks=[sink])
    with caplog.at_level(logging.INFO, logger="mdx"):
        feed(engine, [trade(99.0, 0), trade(101.0, 1)])
        assert wait_until(lambda: sink.delivered == 1, timeout=20)
        assert sink.close()
    assert handler.bodies == [
        {
            "rule": "price_cross:BTC/USDT:100",
            "kind": "price_cross",
            "exchange": "x",
            "symbol": "BTC/USDT",
            "value": 101.0,
            "threshold": 100.0,
            "ts_event": T0 + S,
            "text": "BTC/USDT price 101 crossed above 100",
        }
    ]
    assert handler.paths == ["/hooks/T0KEN-SECRET"] and sink.retries == 2 and sink.failed == 0
    assert "HTTP 503" in caplog.text and "T0KEN-SECRET" not in caplog.text and "T0KEN" not in repr(sink)


def test_a_hung_webhook_never_stalls_the_engine_and_every_alert_is_accounted_for(
    capture: Path, receiver: tuple[str, type[Receiver]], caplog: pytest.LogCaptureFixture
) -> None:
    url, handler = receiver
    handler.gate = threading.Event()  # the endpoint holds every request until the run is over
    handler.answers.extend([503] * 1000)
    sink = WebhookSink(url + "/hook", attempts=2, backoff=FAST, queue_size=3, timeout=120)
    prices = [e.price for e in read_capture(capture) if isinstance(e, Trade)]
    engine = AlertEngine([PriceCross("BTC/USDT", statistics.median(prices), cooldown=0)], sinks=[sink])
    with caplog.at_level(logging.WARNING, logger="mdx"):
        session = Session(ReplaySource([capture]), consumers=[engine], timeframes=(), clock=SimulatedClock())
        session.run_until_done()  # while the webhook's first post hangs
        assert session.status.state == "done" and engine.fired > 10
        assert sink.dropped == engine.fired - 1 - 3  # one in flight, three queued, the rest dropped (counted)
        handler.gate.set()
        assert wait_until(lambda: sink.delivered + sink.failed + sink.dropped == engine.fired, timeout=30)
        assert sink.close()
    assert sink.delivered == 0 and sink.failed == 4
    assert "not delivered after 2 attempt(s): HTTP 503" in caplog.text and "queue full" in caplog.text


def test_log_sink_writes_one_warning_per_alert(caplog: pytest.LogCaptureFixture) -> None:
    engine, _ = engine_with(PriceAbove("BTC/USDT", 1.0, cooldown=0), sinks=[LogSink()])
    with caplog.at_level(logging.WARNING, logger="mdx"):
        feed(engine, [trade(2.0, 0), trade(3.0, 1)])
    lines = [r.getMessage() for r in caplog.records if r.name == "mdx.alerts"]
    assert lines == [
        "alert price_above:BTC/USDT:1: BTC/USDT price 2 is above 1",
        "alert price_above:BTC/USDT:1: BTC/USDT price 3 is above 1",
    ]


def test_bad_webhook_urls_are_refused() -> None:
    for url in ("ftp://host/x", "not a url", "http:///path"):
        with pytest.raises(ConfigError, match="webhook URL"):
            WebhookSink(url)


# -- confluence and consensus signal changes -----------------------------------------------------------------


def confluence_event(score: float, minute: int, timeframe: str = "1m", final: bool = True) -> Confluence:
    ts = T0 + minute * 60 * S
    n = math.nan
    return Confluence("x", "BTC/USDT", ts, ts, timeframe, score, n, n, n, n, n, n, label_of(score), final)


def consensus_event(signal: str, minute: int, confidence: float = 0.5, final: bool = True) -> Consensus:
    ts = T0 + minute * 60 * S
    votes = (("1m", signal), ("5m", "NEUTRAL"))
    return Consensus("x", "BTC/USDT", ts, ts, signal, confidence, confidence, votes, final)


def test_confluence_label_change_fires_on_each_change_of_its_timeframe_with_the_cutoff_crossed() -> None:
    engine, out = engine_with(ConfluenceLabelChange("BTC/USDT", "1m", cooldown=0))
    scores = [math.nan, 50.0, 55.0, 65.0, 64.0, 85.0, 30.0, 30.0, 10.0]
    feed(engine, [confluence_event(s, i) for i, s in enumerate(scores)])
    feed(engine, [confluence_event(90.0, 9, "5m"), confluence_event(90.0, 10, final=False)])  # not its own
    # warm-up (NaN) and the first label are no change; then neutral -> buy -> strong buy -> sell -> strong
    # sell
    assert [(a.value, a.threshold, (a.ts_event - T0) // (60 * S)) for a in out] == [
        (65.0, 60.0, 3), (85.0, 80.0, 5), (30.0, 40.0, 6), (10.0, 20.0, 8)
    ]  # fmt: skip
    assert out[0].text == "BTC/USDT 1m confluence turned buy from neutral: score 65.0 (cut-off 60)"
    assert {a.kind for a in out} == {"confluence_change"} and out[0].rule == "confluence_change:BTC/USDT:1m"


def test_confluence_label_change_into_out_of_and_cooldown() -> None:
    scores = [50.0, 65.0, 50.0, 85.0, 65.0, 50.0]
    into, out = engine_with(ConfluenceLabelChange("BTC/USDT", into=("buy", "strong buy"), cooldown=0))
    feed(into, [confluence_event(s, i) for i, s in enumerate(scores)])
    assert [a.text.split(" turned ")[1].split(":")[0] for a in out] == [
        "buy from neutral", "strong buy from neutral", "buy from strong buy"
    ]  # fmt: skip
    leaving, out = engine_with(ConfluenceLabelChange("BTC/USDT", out_of="buy", cooldown=0))
    feed(leaving, [confluence_event(s, i) for i, s in enumerate(scores)])
    assert [a.value for a in out] == [50.0, 50.0]
    cooled, out = engine_with(ConfluenceLabelChange("BTC/USDT", cooldown=150))  # 2.5 minutes
    feed(cooled, [confluence_event(s, i) for i, s in enumerate(scores)])
    assert [(a.ts_event - T0) // (60 * S) for a in out] == [1, 4] and cooled.suppressed == 3


def test_provisional_values_count_only_when_asked() -> None:
    events = [confluence_event(50.0, 0), confluence_event(65.0, 1, final=False), confluence_event(50.0, 1)]
    closed_only, out = engine_with(ConfluenceLabelChange("BTC/USDT", cooldown=0))
    feed(closed_only, events)
    assert out == []  # the open bar looked like a buy; the closed bar stayed neutral
    early, out = engine_with(ConfluenceLabelChange("BTC/USDT", provisional=True, cooldown=0))
    feed(early, events)
    assert [a.text.endswith("(open bar)") for a in out] == [True, False]  # buy on the open bar, then back
    consensus, out = engine_with(ConsensusChange("BTC/USDT", provisional=True, cooldown=0))
    feed(consensus, [consensus_event("NEUTRAL", 0), consensus_event("BUY", 1, final=False)])
    assert out[0].text.endswith("(open bars)")


def test_consensus_change_with_a_minimum_confidence() -> None:
    engine, out = engine_with(ConsensusChange("BTC/USDT", cooldown=0))
    signals = ["NEUTRAL", "NEUTRAL", "BUY", "BUY", "SELL", "NEUTRAL"]
    feed(engine, [consensus_event(s, i) for i, s in enumerate(signals)])
    assert [(a.value, a.threshold, (a.ts_event - T0) // (60 * S)) for a in out] == [
        (0.5, 0.0, 2), (0.5, 0.0, 4), (0.5, 0.0, 5)
    ]  # fmt: skip
    assert out[0].text == "BTC/USDT consensus turned BUY from NEUTRAL: confidence 0.50 (1m BUY, 5m NEUTRAL)"
    sure, out = engine_with(ConsensusChange("BTC/USDT", 0.75, into="BUY", cooldown=0))
    steps = [("SELL", 0.8), ("BUY", 0.5), ("BUY", 0.75), ("NEUTRAL", 0.9), ("BUY", 1.0)]
    feed(sure, [consensus_event(s, i, c) for i, (s, c) in enumerate(steps)])
    # BUY at 0.5 is not sure enough to count; at 0.75 it is a change from SELL
    assert [(a.value, (a.ts_event - T0) // (60 * S)) for a in out] == [(0.75, 2), (1.0, 4)]


def test_bad_signal_change_rules_are_specific_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown signal 'buyy' \(did you mean 'buy'\?\)"):
        ConfluenceLabelChange("BTC/USDT", into="buyy")
    with pytest.raises(ConfigError, match="unknown signal 'HOLD'"):
        ConsensusChange("BTC/USDT", out_of=("HOLD",))
    with pytest.raises(ConfigError, match="empty"):
        ConsensusChange("BTC/USDT", into=())
    with pytest.raises(ConfigError, match="min_confidence"):
        ConsensusChange("BTC/USDT", 1.5)
    with pytest.raises(InvalidTimeframe):
        ConfluenceLabelChange("BTC/USDT", "7q")
    for rule in (ConfluenceLabelChange("BTC/USD", "5m"), ConsensusChange("BTC/USD")):
        with pytest.raises(ConfigError, match=r"unknown symbol 'BTC/USD'; did you mean BTC/USDT"):
            AlertEngine([rule], symbols=("BTC/USDT", "ETH/USDT"))


def run_signal_alerts() -> tuple[list[Alert], list[Any]]:
    """The simulator (seeded, with history) through a ConfluenceMaker and an AlertEngine, simulated clock."""
    timeframes = ("1m", "5m")
    maker = ConfluenceMaker(timeframes)
    engine = AlertEngine(
        [ConfluenceLabelChange("BTC/USDT", "1m", cooldown=0), ConsensusChange("BTC/USDT", cooldown=0)],
        symbols=("BTC/USDT",),
    )
    sim = Simulator(("BTC/USDT",), seed=11, start_ns=T0, history="6h")
    session = Session(sim, timeframes=timeframes, consumers=[maker, engine], clock=SimulatedClock(T0))
    signals: list[Any] = []
    session.hub.subscribe("confluence.*", lambda topic, event: signals.append(event))
    session.hub.subscribe("consensus.*", lambda topic, event: signals.append(event))
    session.run_until_done(until_ns=T0 + 120 * S)
    assert session.rejections.total == 0
    return engine.recent(), signals


def test_signal_changes_in_a_session_follow_the_closed_bar_events_and_replay_identically() -> None:
    alerts, signals = run_signal_alerts()
    assert all(e.final for e in signals)  # the hub's closed-bar topics; previews go to *_open
    labels = [e.label for e in signals if type(e) is Confluence and e.timeframe == "1m" and e.label]
    label_changes = sum(a != b for a, b in itertools.pairwise(labels))
    verdicts = [e.signal for e in signals if type(e) is Consensus]
    signal_changes = sum(a != b for a, b in itertools.pairwise(verdicts))
    kinds = [a.kind for a in alerts]
    assert label_changes > 5 and kinds.count("confluence_change") == label_changes
    assert signal_changes > 2 and kinds.count("consensus_change") == signal_changes
    assert alerts == run_signal_alerts()[0]  # the same input fires the identical alerts
