"""The engine's small parts: hub, cache, clocks, timeframes, settings, exception tree."""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

import pytest

import mdx
from mdx.cache import Cache
from mdx.clock import SimulatedClock
from mdx.config import Settings
from mdx.errors import ConfigError, DataError, InvalidTimeframe, MdxError
from mdx.events import Bar, Quote, Trade
from mdx.hub import LOG_FIRST_FAILURES, Hub, handler_name, topic_for
from mdx.market.timeframes import timeframe_ns


def trade(price: float = 100.0, ts: int = 1_000, symbol: str = "BTC/USDT") -> Trade:
    return Trade("sim", symbol, ts, ts + 5, "1", price, 0.5, "buy")


def test_hub_delivers_to_exact_and_prefix_subscribers_and_survives_a_broken_handler() -> None:
    hub = Hub()
    seen: list[tuple[str, str]] = []
    hub.subscribe("trades.sim.BTC/USDT", lambda t, m: seen.append(("exact", t)))
    hub.subscribe("trades.*", lambda t, m: seen.append(("prefix", t)))
    hub.subscribe("trades.*", lambda t, m: 1 / 0)
    unsubscribe = hub.subscribe("*", lambda t, m: seen.append(("all", t)))
    hub.publish("trades.sim.BTC/USDT", trade())
    hub.publish("quotes.sim.BTC/USDT", None)
    assert seen == [
        ("exact", "trades.sim.BTC/USDT"),
        ("prefix", "trades.sim.BTC/USDT"),
        ("all", "trades.sim.BTC/USDT"),
        ("all", "quotes.sim.BTC/USDT"),
    ]
    assert hub.handler_errors == 1
    unsubscribe()
    hub.publish("quotes.sim.BTC/USDT", None)
    assert len(seen) == 4


class Records(logging.Handler):
    """The records the ``mdx`` logger's handlers get (what the monitor's log panel attaches to)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Chart:
    def on_bar(self, topic: str, message: object) -> None:
        raise KeyError("missing series")


def test_a_failing_handler_is_logged_on_the_mdx_logger_by_name_a_few_times() -> None:
    # Before: every failure was logged, as "handler <bound method Chart.on_bar of <...Chart object at 0x..>>":
    # a handler failing on each bar flooded the log panel with unreadable names.
    hub = Hub()
    seen: list[str] = []
    hub.subscribe("bars.*", Chart().on_bar)
    hub.subscribe("bars.*", lambda t, m: seen.append(t))
    records = Records()
    logging.getLogger("mdx").addHandler(records)
    try:
        for _ in range(10):
            hub.publish("bars.sim.BTC/USDT.1m", None)
    finally:
        logging.getLogger("mdx").removeHandler(records)
    assert len(seen) == 10 and hub.handler_errors == 10
    assert hub.failures == {"tests.test_engine.Chart.on_bar": 10}
    assert len(records.records) == LOG_FIRST_FAILURES
    first, last = records.records[0], records.records[-1]
    assert first.levelno == logging.ERROR and first.name.startswith("mdx") and first.exc_info is not None
    assert first.getMessage() == (
        "hub handler tests.test_engine.Chart.on_bar failed on topic bars.sim.BTC/USDT.1m: "
        "KeyError: 'missing series'"
    )
    assert last.getMessage().endswith("(its further failures are counted, not logged)")


def test_handler_names_are_readable() -> None:
    def on_trade(topic: str, message: object) -> None:
        pass

    class Printer:
        def __call__(self, topic: str, message: object) -> None:
            pass

    local = "tests.test_engine.test_handler_names_are_readable.<locals>"
    assert handler_name(on_trade) == f"{local}.on_trade"
    assert handler_name(Printer()) == f"{local}.Printer"
    assert handler_name(functools.partial(on_trade, "x")) == f"partial({local}.on_trade)"
    assert handler_name(print) == "builtins.print"


def test_topic_for_names_topics_by_kind_exchange_and_symbol() -> None:
    assert topic_for(trade()) == "trades.sim.BTC/USDT"
    assert topic_for(Quote("x", "ETH/USDT", 1, 1, 1, 1.0, 1.0, 2.0, 1.0)) == "quotes.x.ETH/USDT"


def test_cache_history_is_bounded_and_returns_copies() -> None:
    cache = Cache(maxlen={"trade": 3})
    key = ("sim", "BTC/USDT")
    trades = [trade(100.0 + i, ts=i) for i in range(5)]
    for t in trades:
        cache.put(t)
    history = cache.trades(key)
    assert history == trades[2:]
    history.append(trades[0])
    assert cache.trades(key, 2) == trades[3:]
    assert cache.trades(("sim", "nope")) == []
    assert cache.trade(key) is trades[-1] and cache.keys(Trade) == [key]


def test_cache_keeps_open_bars_apart_from_closed_ones_and_refuses_unknown_kinds() -> None:
    cache = Cache(maxlen={Bar: 2})
    key = ("sim", "BTC/USDT")

    def bar(ts: int, closed: bool) -> Bar:
        return Bar("sim", "BTC/USDT", "1m", ts, ts, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1, closed)

    cache.put(bar(0, True))
    cache.put(bar(60, False))
    assert [b.ts_event for b in cache.bars(key, "1m")] == [0]
    assert [b.ts_event for b in cache.bars(key, "1m", include_open=True)] == [0, 60]
    assert cache.open_bar(key, "1m") == bar(60, False) and cache.bars(key, "5m") == []
    cache.put(bar(60, True))  # the open bar closed: it is history now, and no longer open
    cache.put(bar(120, True))
    assert [b.ts_event for b in cache.bars(key, "1m", include_open=True)] == [60, 120]  # maxlen 2
    assert cache.open_bar(key, "1m") is None
    with pytest.raises(ConfigError, match="unknown event kind 'bars'"):
        Cache(maxlen={"bars": 10})  # once silently ignored
    with pytest.raises(ConfigError, match="maxlen"):
        Cache(maxlen={"trade": 0})


def test_simulated_clock_jumps_instead_of_sleeping() -> None:
    clock = SimulatedClock(100)
    asyncio.run(clock.sleep_until(10**18))
    assert clock.now_ns() == 10**18
    clock.advance_to(5)  # never goes backwards
    assert clock.now_ns() == 10**18


@pytest.mark.parametrize(
    ("tf", "ns"),
    [
        ("1s", 10**9),
        ("1m", 60 * 10**9),
        ("5m", 300 * 10**9),
        ("4h", 4 * 3600 * 10**9),
        ("1w", 7 * 86400 * 10**9),
    ],
)
def test_timeframes(tf: str, ns: int) -> None:
    assert timeframe_ns(tf) == ns


@pytest.mark.parametrize("bad", ["", "1M", "0m", "m", "5 m", "1y", None])
def test_unknown_timeframes_are_rejected_with_the_value(bad: object) -> None:
    with pytest.raises(InvalidTimeframe, match="unknown timeframe"):
        timeframe_ns(bad)  # type: ignore[arg-type]


def test_settings_round_trip_through_the_environment_and_hide_the_redis_url() -> None:
    settings = Settings(
        source="replay:a.gz,b.gz", symbols=("BTC/USDT",), speed=10.0, redis_url="redis://:hunter2@h"
    )
    assert Settings.from_env(settings.to_env()) == settings
    assert settings.replay_paths == ("a.gz", "b.gz") and settings.source_kind == "replay"
    assert "hunter2" not in repr(settings)
    with pytest.raises(ConfigError):
        Settings.from_env({"MDX_SPEED": "fast"})
    with pytest.raises(InvalidTimeframe):
        Settings(timeframes=("7q",))


def test_exception_tree_has_one_root() -> None:
    for name in (
        "ConfigError",
        "InvalidTimeframe",
        "DataError",
        "MalformedFrame",
        "InvalidValue",
        "CaptureError",
        "BookError",
        "BookOutOfSync",
        "CrossedBook",
        "SourceError",
        "SourceUnavailable",
        "UnknownSymbol",
    ):
        assert issubclass(getattr(mdx, name), MdxError)
    assert issubclass(mdx.InvalidValue, DataError) and issubclass(mdx.DataError, ValueError)


def test_public_api_resolves() -> None:
    missing = [name for name in mdx.__all__ if not hasattr(mdx, name)]
    assert missing == []


def test_settings_join_several_sources_with_a_plus(tmp_path: Path) -> None:
    from mdx.io.recording import write_recording
    from mdx.sources import make_source, make_sources
    from mdx.sources.replay import ReplaySource
    from mdx.sources.sim import Simulator

    path = tmp_path / "one.mdx.jsonl.gz"
    write_recording(path, [trade()])
    settings = Settings(source=f"sim+replay:{path}", symbols=("ETH/USDT",))
    sim, replay = make_sources(settings)
    assert isinstance(sim, Simulator) and sim.symbols == ("ETH/USDT",)
    assert isinstance(replay, ReplaySource) and replay.paths == (path,)
    assert [type(s) for s in make_sources(Settings())] == [Simulator]
    with pytest.raises(ConfigError, match="several sources"):
        make_source(settings)
