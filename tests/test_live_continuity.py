"""Trades across reconnects and REST polling, with the real ccxt client against the fake Binance: the gap a
reconnect leaves is filled from the REST history with no trade lost or sent twice (same ids, or other ids
matched by time), a gap the history does not cover is counted with its length, and after repeated
websocket failures trades and the book are polled over REST until the websocket is back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mdx.events import BookSnapshot, Trade
from tests.fake_binance import FakeBinance, agg_trade
from tests.test_live import SYMBOL, Harness, live, subscribed


def run(coro: Any, timeout: float = 40.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def trades_of(h: Harness) -> list[tuple[str, int, float]]:
    return [(t.id, t.ts_event // 1_000_000, t.price) for t in h.of(Trade)]


async def reconnect_with_history(fake: FakeBinance, h: Harness, history: list[dict]) -> None:
    """The websocket drops; while it is down the REST history is ``history``; then it comes back."""
    fake.set_agg_trades("BTCUSDT", history)
    await fake.disconnect()
    await h.wait(lambda: any(s[0] == "reconnecting" for s in h.statuses), "the drop seen")
    await subscribed(fake)


def test_a_reconnect_gap_is_filled_from_rest_each_trade_once() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            t0 = int(time.time() * 1000)
            async with live(fake) as h:
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 100.0, 1.0, trade_id=1, trade_ms=t0)
                await h.wait(lambda: len(h.of(Trade)) == 1, "the first trade")
                # the history holds the last trade seen, two the drop hid, and the first new one
                rows = [agg_trade(1, t0, 100.0, 1.0), agg_trade(2, t0 + 5, 100.1, 1.0),
                        agg_trade(3, t0 + 6, 100.2, 1.0), agg_trade(4, t0 + 10, 100.3, 1.0)]  # fmt: skip
                await reconnect_with_history(fake, h, rows)
                await fake.push_trade("BTCUSDT", 100.3, 1.0, trade_id=4, trade_ms=t0 + 10)
                await h.wait(lambda: len(h.of(Trade)) >= 4, "the gap and the new trade")
                await fake.push_trade("BTCUSDT", 100.4, 1.0, trade_id=5, trade_ms=t0 + 20)
                await h.wait(lambda: len(h.of(Trade)) >= 5, "the next trade")
                assert trades_of(h) == [
                    ("1", t0, 100.0), ("2", t0 + 5, 100.1), ("3", t0 + 6, 100.2), ("4", t0 + 10, 100.3),
                    ("5", t0 + 20, 100.4),
                ]  # fmt: skip
                assert fake.trade_requests("BTCUSDT")[0]["startTime"] == str(t0)
                assert h.rejections.total == 0

    run(main())


def test_rest_ids_of_another_kind_are_matched_by_time() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            t0 = int(time.time() * 1000)
            async with live(fake) as h:
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 100.0, 1.0, trade_id=1, trade_ms=t0)
                await h.wait(lambda: len(h.of(Trade)) == 1, "the first trade")
                # aggregate-trade ids (Binance's REST history) are not the websocket's trade ids
                rows = [agg_trade(9001, t0, 100.0, 1.0), agg_trade(9002, t0 + 5, 100.1, 1.0),
                        agg_trade(9003, t0 + 10, 100.3, 1.0)]  # fmt: skip
                await reconnect_with_history(fake, h, rows)
                await fake.push_trade("BTCUSDT", 100.3, 1.0, trade_id=3, trade_ms=t0 + 10)
                await h.wait(lambda: len(h.of(Trade)) >= 3, "the gap and the new trade")
                assert trades_of(h) == [("1", t0, 100.0), ("9002", t0 + 5, 100.1), ("3", t0 + 10, 100.3)]

    run(main())


def test_a_gap_the_history_does_not_reach_is_counted_with_its_length() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            t0 = int(time.time() * 1000)
            async with live(fake) as h:
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 100.0, 1.0, trade_id=1, trade_ms=t0)
                await h.wait(lambda: len(h.of(Trade)) == 1, "the first trade")
                await reconnect_with_history(fake, h, [agg_trade(7, t0 + 2500, 100.1, 1.0)])
                await fake.push_trade("BTCUSDT", 100.3, 1.0, trade_id=8, trade_ms=t0 + 4000)
                await h.wait(lambda: len(h.of(Trade)) >= 3, "what the history has and the new trade")
                assert [t[0] for t in trades_of(h)] == ["1", "7", "8"]
                assert h.rejections.by_reason["TradeGap"] == 1
                said = h.rejections.last_message["TradeGap"]
                assert (
                    "trades in 2.500 s after a reconnect may be missing" in said and "does not reach" in said
                )

    run(main())


def test_after_repeated_websocket_failures_trades_and_book_are_polled_then_the_websocket_returns() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            t0 = int(time.time() * 1000)
            async with live(fake, ws_failures_before_polling=2, websocket_retry_s=1.0,
                            poll_s={"trades": 0.05, "book": 0.05}) as h:  # fmt: skip
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 100.0, 1.0, trade_id=1, trade_ms=t0)
                await h.wait(lambda: len(h.of(Trade)) == 1, "the first trade")
                fake.refuse_ws = 10**6  # the websocket stays down
                fake.set_agg_trades(
                    "BTCUSDT", [agg_trade(1, t0, 100.0, 1.0), agg_trade(2, t0 + 5, 100.1, 1.0)]
                )
                await fake.disconnect()
                modes = h.source.modes
                await h.wait(
                    lambda: modes[f"trades {SYMBOL}"] == modes[f"book {SYMBOL}"] == "polling", "polling"
                )
                await h.wait(lambda: len(h.of(Trade)) == 2, "the trade polled over REST")
                snapshots = len(h.of(BookSnapshot))
                await h.wait(lambda: len(h.of(BookSnapshot)) > snapshots + 1, "books polled over REST")
                said = [s[1] for s in h.statuses if "polling REST every 0.05 s" in s[1]]
                assert said and "the websocket failed 2 times in a row" in said[0]
                fake.refuse_ws = 0
                await h.wait(lambda: modes[f"trades {SYMBOL}"] == "websocket", "back on the websocket", 15)
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 100.2, 1.0, trade_id=3, trade_ms=t0 + 30)
                await h.wait(lambda: [t[0] for t in trades_of(h)][-1:] == ["3"], "a websocket trade", 15)
                assert [t[0] for t in trades_of(h)] == ["1", "2", "3"]
                assert any("back on the websocket" in s[1] for s in h.statuses)

    run(main())
