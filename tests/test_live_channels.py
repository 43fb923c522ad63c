"""The public channels beyond trades and the book: ccxt structures to events (each rule), and the ticker
and the exchange's candles through the real ccxt client against the fake Binance's websocket."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from mdx.channel_events import ExchangeBar, Funding, Liquidation, MarkPrice, OpenInterest, Ticker
from mdx.clock import LiveClock
from mdx.config import KNOWN_CHANNELS, Settings
from mdx.errors import ConfigError, DataError, InvalidValue, MalformedFrame
from mdx.events import KINDS_BY_TAG, Trade
from mdx.sources.live import LiveSource
from mdx.sources.live.channels import (
    ALL_CHANNELS,
    CHANNELS,
    CandleFollower,
    funding_events,
    liquidation_events,
    mark_events,
    mode_of,
    open_interest_events,
    ticker_events,
)
from tests.fake_binance import FakeBinance
from tests.test_live import FAST, SYMBOL, Harness

RECV = 1_700_000_000_500_000_000
MS = 1_700_000_000_000


def run(coro: Any, timeout: float = 20.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


# -- ccxt structures to events ----------------------------------------------------------------------


def test_a_ticker_keeps_what_the_venue_gives_and_nan_for_the_rest() -> None:
    raw = {"timestamp": MS, "last": 100.5, "bid": 100.4, "ask": None, "percentage": -1.25,
           "baseVolume": 12.0, "quoteVolume": None}  # fmt: skip
    (t,) = ticker_events("binance", SYMBOL, raw, RECV)
    assert (t.exchange, t.symbol, t.ts_event, t.ts_recv) == ("binance", SYMBOL, MS * 1_000_000, RECV)
    assert (t.last, t.bid, t.change_pct, t.volume) == (100.5, 100.4, -1.25, 12.0)
    assert math.isnan(t.ask) and math.isnan(t.quote_volume)  # not given: unknown, not made up
    (no_time,) = ticker_events("binance", SYMBOL, {"close": 7.0}, RECV)
    assert no_time.ts_event == RECV and no_time.last == 7.0  # no exchange time: the receive time, said so
    with pytest.raises(InvalidValue, match="ticker"):
        ticker_events("binance", SYMBOL, {"last": -1.0}, RECV)
    with pytest.raises(MalformedFrame):
        ticker_events("binance", SYMBOL, ["not", "a", "ticker"], RECV)


def test_funding_carries_the_next_time_and_the_mark_when_given() -> None:
    raw = {"timestamp": MS, "fundingRate": 0.0001, "nextFundingTimestamp": MS + 3_600_000,
           "markPrice": 100.2, "indexPrice": 100.1}  # fmt: skip
    funding, mark = funding_events("bybit", "BTC/USDT:USDT", raw, RECV)
    assert isinstance(funding, Funding) and funding.rate == 0.0001
    assert funding.next_funding_ns == (MS + 3_600_000) * 1_000_000
    assert isinstance(mark, MarkPrice) and (mark.mark, mark.index) == (100.2, 100.1)
    (only,) = funding_events("bybit", "BTC/USDT:USDT", {"fundingRate": "-0.0002"}, RECV)
    assert only.rate == -0.0002 and only.next_funding_ns == 0
    with pytest.raises(MalformedFrame, match="no funding rate"):
        funding_events("bybit", "BTC/USDT:USDT", {"markPrice": 1.0}, RECV)
    with pytest.raises(InvalidValue):
        funding_events("bybit", "BTC/USDT:USDT", {"fundingRate": 3.0}, RECV)


def test_mark_open_interest_and_liquidations() -> None:
    (mark,) = mark_events("binance", "BTC/USDT:USDT", {"markPrice": 99.0}, RECV)
    assert mark.mark == 99.0 and math.isnan(mark.index)
    with pytest.raises(MalformedFrame):
        mark_events("binance", "BTC/USDT:USDT", {"indexPrice": 99.0}, RECV)
    (oi,) = open_interest_events("bybit", "BTC/USDT:USDT", {"openInterestAmount": 5000.0}, RECV)
    assert isinstance(oi, OpenInterest) and oi.amount == 5000.0 and math.isnan(oi.value)
    with pytest.raises(InvalidValue, match="neither"):
        open_interest_events("bybit", "BTC/USDT:USDT", {}, RECV)
    raw = [{"timestamp": MS, "price": 100.0, "contracts": 2.0, "contractSize": 0.5, "side": "sell"},
           {"timestamp": MS + 1, "price": 101.0, "baseValue": 3.0, "side": "BUY?"}]  # fmt: skip
    first, second = liquidation_events("bybit", "BTC/USDT:USDT", raw, RECV)
    assert isinstance(first, Liquidation) and (first.amount, first.side) == (1.0, "sell")
    assert (second.amount, second.side) == (3.0, "")
    with pytest.raises(InvalidValue):
        liquidation_events("bybit", "BTC/USDT:USDT", [{"price": 100.0, "contracts": 0.0}], RECV)


def test_candles_are_open_while_forming_and_closed_once_the_next_begins() -> None:
    follow = CandleFollower("binance", SYMBOL, "1m")
    (forming,) = follow.events([[MS, 10.0, 11.0, 9.0, 10.5, 1.0]], RECV)
    assert isinstance(forming, ExchangeBar) and not forming.closed and forming.close == 10.5
    closed, opened = follow.events(
        [[MS, 10.0, 12.0, 9.0, 11.0, 2.0], [MS + 60_000, 11.0, 11.0, 11.0, 11.0, 0.1]], RECV
    )
    assert closed.closed and (closed.high, closed.close, closed.volume) == (12.0, 11.0, 2.0)
    assert not opened.closed and opened.ts_event == (MS + 60_000) * 1_000_000
    assert follow.events([[MS, 1.0, 1.0, 1.0, 1.0, 1.0]], RECV)[0].ts_event == (MS + 60_000) * 1_000_000
    with pytest.raises(InvalidValue):  # high below the close
        CandleFollower("binance", SYMBOL, "1m").events([[MS, 10.0, 10.0, 9.0, 10.5, 1.0]], RECV)
    with pytest.raises(MalformedFrame):
        follow.events([[None, 1, 1, 1, 1, 1]], RECV)


def test_new_event_kinds_are_registered_and_checked_as_data_errors() -> None:
    for tag in ("ticker", "xbar", "funding", "mark", "open_interest", "liquidation"):
        assert tag in KINDS_BY_TAG and KINDS_BY_TAG[tag].check is not None
    assert issubclass(InvalidValue, DataError) and issubclass(MalformedFrame, DataError)


def test_settings_know_the_same_channels_and_refuse_others() -> None:
    assert ALL_CHANNELS == KNOWN_CHANNELS
    assert Settings.from_env({"MDX_CHANNELS": "trades,ticker,funding"}).channels == (
        "trades",
        "ticker",
        "funding",
    )
    assert Settings().channels == ("trades", "book")
    with pytest.raises(ConfigError, match="channels must be some of"):
        Settings(channels=("trades", "gossip"))
    env = Settings(source="binance,bybit", channels=("trades", "liquidations")).to_env()
    assert env["MDX_CHANNELS"] == "trades,liquidations"


def test_the_mode_follows_what_the_exchange_has() -> None:
    ticker = CHANNELS["ticker"]
    assert mode_of(ticker, {"watchTicker": True, "fetchTicker": True}) == "watch"
    assert mode_of(ticker, {"watchTicker": True, "fetchTicker": True}, websocket=False) == "poll"
    assert mode_of(ticker, {"fetchTicker": True}) == "poll"
    assert mode_of(CHANNELS["liquidations"], {"fetchTicker": True}) == ""
    with pytest.raises(ConfigError, match="unknown channel"):
        LiveSource("binance", [SYMBOL], channels=("trades", "gossip"))
    with pytest.raises(ConfigError, match="poll_s"):
        LiveSource("binance", [SYMBOL], poll_s={"ticker": 0})


# -- through ccxt against the fake ------------------------------------------------------------------


def mini_ticker_frame(last: float) -> dict[str, Any]:
    """Binance's ``<symbol>@miniTicker`` frame, what ccxt's ``watch_ticker`` subscribes to."""
    return {"e": "24hrMiniTicker", "E": MS, "s": "BTCUSDT", "c": str(last), "o": "98.5", "h": "101",
            "l": "98", "v": "1234.5", "q": "123000"}  # fmt: skip


def kline_frame(open_ms: int, close: float, closed: bool) -> dict[str, Any]:
    return {"e": "kline", "E": open_ms + 1000, "s": "BTCUSDT", "k": {
        "t": open_ms, "T": open_ms + 59_999, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 2, "o": "100.0",
        "c": str(close), "h": str(max(close, 100.0) + 1), "l": str(min(close, 100.0) - 1), "v": "5.0",
        "n": 2, "x": closed, "q": "500", "V": "2", "Q": "200", "B": "0"}}  # fmt: skip


def test_ticker_and_candles_stream_from_the_websocket_and_spot_skips_contract_channels(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            channels = ("trades", "ticker", "ohlcv", "funding", "open_interest")
            source = LiveSource("binance", [SYMBOL], exchange_options=fake.ccxt_config(), backoff=FAST,
                                channels=channels)  # fmt: skip
            h = Harness(source, LiveClock())
            try:
                await fake.wait_subscribed("btcusdt@miniTicker", "btcusdt@kline_1m", "btcusdt@trade")
                await fake.broadcast("btcusdt@miniTicker", mini_ticker_frame(100.5))
                await fake.broadcast("btcusdt@kline_1m", kline_frame(MS, 100.5, False))
                await fake.broadcast("btcusdt@kline_1m", kline_frame(MS + 60_000, 101.0, False))
                await fake.push_trade("BTCUSDT", 100.5, 0.1)
                await h.wait(lambda: h.of(Ticker) and len(h.of(ExchangeBar)) >= 3 and h.of(Trade), "channels")
                (t,) = h.of(Ticker)
                assert (t.last, t.volume, t.quote_volume, t.ts_event) == (
                    100.5,
                    1234.5,
                    123000.0,
                    MS * 1_000_000,
                )
                assert t.change_pct == pytest.approx(2 / 98.5 * 100)  # ccxt works it out from open and close
                assert math.isnan(t.bid) and math.isnan(t.ask)  # not in a mini ticker: unknown, not made up
                bars = h.of(ExchangeBar)
                assert [(b.ts_event // 1_000_000, b.closed) for b in bars[:3]] == [
                    (MS, False), (MS, True), (MS + 60_000, False)
                ]  # fmt: skip
                assert source.modes == {
                    f"trades {SYMBOL}": "websocket",
                    f"ticker {SYMBOL}": "websocket",
                    f"ohlcv {SYMBOL}": "websocket",
                }  # funding and open interest are for contracts: a spot market does not follow them
                assert not source.skipped
            finally:
                await h.stop()

    run(main())


def test_a_bybit_perpetual_gives_funding_mark_open_interest_and_liquidations_from_its_websocket() -> None:
    from tests.fake_bybit import FakeBybit

    perp = "BTC/USDT:USDT"

    async def main() -> None:
        async with FakeBybit() as fake:
            fake.ladder("BTCUSDT", 65000.0)
            channels = ("trades", "ticker", "funding", "mark", "open_interest", "liquidations")
            source = LiveSource("bybit", [perp], exchange_options=fake.ccxt_config(), backoff=FAST,
                                channels=channels)  # fmt: skip
            h = Harness(source, LiveClock())
            try:
                await fake.wait_subscribed("tickers.BTCUSDT", "publicTrade.BTCUSDT")
                next_ms = (MS // 28_800_000 + 1) * 28_800_000
                await fake.push_ticker("BTCUSDT", lastPrice=65010.0, markPrice=65008.5, indexPrice=65001.0,
                                       fundingRate=0.00012, nextFundingTime=next_ms, openInterest=1234.5,
                                       openInterestValue=80_250_000.0)  # fmt: skip
                await h.wait(lambda: h.of(Funding) and h.of(MarkPrice) and h.of(OpenInterest), "derivatives")
                topics = lambda: {t for c in fake.connections for t in c.topics}  # noqa: E731
                await fake.wait_until(lambda: any("iquidation" in t for t in topics()), what="liquidations")
                await fake.push_liquidation("BTCUSDT", 64900.0, 0.5, side="Sell")
                await h.wait(lambda: h.of(Liquidation), "a liquidation")
                funding, mark, oi = h.of(Funding)[-1], h.of(MarkPrice)[-1], h.of(OpenInterest)[-1]
                assert (funding.rate, funding.next_funding_ns) == (0.00012, next_ms * 1_000_000)
                assert (mark.mark, mark.index) == (65008.5, 65001.0)
                assert (oi.amount, oi.value) == (1234.5, 80_250_000.0)
                liq = h.of(Liquidation)[-1]
                assert (liq.symbol, liq.price, liq.amount, liq.side) == (perp, 64900.0, 0.5, "sell")
                assert h.of(Ticker)[-1].last == 65010.0
                assert source.modes == {f"{c} {perp}": "websocket" for c in channels}
                assert not source.skipped and h.rejections.total == 0
            finally:
                await h.stop()

    run(main())


def test_ccxt_keeps_enough_trades_for_a_burst_and_the_users_options_win() -> None:
    async def main() -> None:
        plain = LiveSource("binance", [SYMBOL])._create_exchange()
        mine = LiveSource("binance", [SYMBOL], exchange_options={"options": {"tradesLimit": 7, "x": 1}})
        custom = mine._create_exchange()
        try:
            assert plain.options["tradesLimit"] == 50_000  # ccxt's 1000 drops the oldest of a larger burst
            assert custom.options["tradesLimit"] == 7 and custom.options["x"] == 1
        finally:
            await plain.close()
            await custom.close()

    run(main())
