"""A live exchange that cannot be used from here: no network, no DNS, a refused connection, HTTP 451.

The real ccxt.pro binance client is pointed at addresses nothing answers on (a closed loopback port, a
name under ``.invalid``) or at the loopback fake answering 451. Time is a ``SimulatedClock``: the slow
retries are read from the statuses' ``next_retry_ns``, never waited for.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import ccxt
import pytest

from mdx.clock import Clock, SimulatedClock
from mdx.errors import SourceError, SourceUnavailable
from mdx.events import Trade
from mdx.session import Session
from mdx.sources.live import LiveSource, network_advice
from mdx.sources.live.ccxt_source import UNREACHABLE_BACKOFF
from mdx.ui.status import StatusLine
from mdx.ui.values import StatusInfo
from tests.fake_binance import FakeBinance, ccxt_config_for
from tests.test_live import FAST, SYMBOL, Harness, subscribed

pytestmark = pytest.mark.timeout(30)

START_NS = 1_000_000_000
ADVICE = "try --source sim or a replay (--source replay:PATH)"


def run(coro: Any, timeout: float = 20.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nowhere(host: str, port: int, **extra: Any) -> dict[str, Any]:
    """ccxt options pointing binance's REST and websocket urls at ``host:port``."""
    return ccxt_config_for(f"http://{host}:{port}", f"ws://{host}:{port}/stream/ws", timeout=5000, **extra)


class TimedHarness(Harness):
    """A Harness that also notes the clock's time of each status: a retry's delay is next_retry_ns - then."""

    def __init__(self, source: LiveSource, clock: Clock) -> None:
        self.reported_at: list[int] = []
        super().__init__(source, clock)

    def _on_status(self, state: str, reason: str = "", attempt: int = 0, next_retry_ns: int = 0) -> None:
        self.reported_at.append(self.clock.now_ns())
        super()._on_status(state, reason, attempt, next_retry_ns)

    def retries(self) -> list[tuple[str, str, int, int]]:
        return [status for status in self.statuses if status[0] == "reconnecting"]

    def delays(self) -> list[float]:
        """Seconds each retry waits, in the order they were scheduled."""
        return [
            (status[3] - at) / 1e9
            for status, at in zip(self.statuses, self.reported_at, strict=True)
            if status[0] == "reconnecting"
        ]


@asynccontextmanager
async def streaming(options: dict[str, Any], clock: Clock, **kwargs: Any) -> AsyncIterator[TimedHarness]:
    kwargs.setdefault("backoff", FAST)
    kwargs.setdefault("rng", random.Random(5))
    source = LiveSource("binance", [SYMBOL], exchange_options=options, **kwargs)
    harness = TimedHarness(source, clock)
    try:
        yield harness
    finally:
        await harness.stop()


def slow_delays(count: int, seed: int = 5) -> list[float]:
    rng = random.Random(seed)
    return [UNREACHABLE_BACKOFF.delay(n, rng) for n in range(1, count + 1)]


# -- never reached ----------------------------------------------------------------------------------


def test_a_refused_connection_at_start_says_cannot_reach_and_slows_to_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = closed_port()

    async def main() -> TimedHarness:
        async with streaming(nowhere("127.0.0.1", port), SimulatedClock(START_NS), max_attempts=7) as h:
            await h.task
            return h

    with caplog.at_level(logging.WARNING, logger="mdx"):
        h = run(main())
    expected = f"cannot reach binance (no network or DNS?): 127.0.0.1:{port}: Connection refused; {ADVICE}"
    assert [s[1] for s in h.retries()] == [expected] * 7
    assert [s[2] for s in h.retries()] == list(range(1, 8))
    # the slow backoff, not the stream's FAST one (capped at 0.1 s): 1, 4, 16 s, then about a minute
    assert h.delays() == pytest.approx(slow_delays(7), abs=1e-9)
    assert h.delays()[0] < 1.5 and all(48 <= d <= 60 for d in h.delays()[3:])
    assert isinstance(h.error, SourceUnavailable)
    assert str(h.error) == f"{expected} (gave up after 7 retries)"
    assert h.statuses[0][0] == "connecting" and h.statuses[-1] == ("error", str(h.error), 0, 0)
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("mdx")]
    assert sum(message.startswith(expected) for message in logged) == 7  # "...; retry N in S s"
    assert network_advice("binance", h.error) == str(h.error)


def test_an_unresolvable_host_says_cannot_reach_naming_the_host() -> None:
    async def main() -> TimedHarness:
        async with streaming(
            nowhere("nonexistent.invalid", 9), SimulatedClock(START_NS), max_attempts=2
        ) as h:
            await h.task
            return h

    h = run(main())
    for _, reason, _, _ in h.retries():
        # the resolver's words vary by system ("Name or service not known", "Temporary failure in name
        # resolution", or a timeout when no DNS server answers): the frame does not
        assert reason.startswith("cannot reach binance (no network or DNS?): nonexistent.invalid:9: ")
        assert reason.endswith(ADVICE)
    assert h.delays() == pytest.approx(slow_delays(2), abs=1e-9)
    assert isinstance(h.error, SourceUnavailable) and "nonexistent.invalid" in str(h.error)


def test_a_websocket_nothing_answers_on_is_unreachable_too() -> None:
    """REST answers (markets load) but the websocket port is closed, e.g. a firewall blocking it."""
    port = closed_port()

    async def main() -> None:
        async with FakeBinance() as fake:
            options = ccxt_config_for(fake.base_url, f"ws://127.0.0.1:{port}/stream/ws")
            async with streaming(options, SimulatedClock(START_NS), max_attempts=2) as h:
                await h.task
                refused = f"127.0.0.1:{port}: Connection refused"
                reasons = {s[1] for s in h.retries()}
                assert reasons == {f"cannot reach binance (no network or DNS?): {refused}; {ADVICE}"}
                # two watchers (trades, book), each on its own count of attempts, both slow
                for (_, _, attempt, _), delay in zip(h.retries(), h.delays(), strict=True):
                    base = UNREACHABLE_BACKOFF.base_delay(attempt)
                    assert base * 0.8 <= delay <= base * 1.2
                assert isinstance(h.error, SourceUnavailable)
                assert ("/api/v3/exchangeInfo", {}) in fake.requests

    run(main())


def test_once_data_has_flowed_a_refused_reconnect_uses_the_normal_backoff() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.ladder("BTCUSDT", 100.0)
            async with streaming(fake.ccxt_config(), SimulatedClock(START_NS)) as h:
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 100.1, 1.0)
                await h.wait(lambda: len(h.of(Trade)) == 1 and h.state == "connected", "a trade")
                await fake.stop()  # the port closes: every reconnect is refused
                await h.wait(lambda: max((s[2] for s in h.retries()), default=0) >= 3, "three retries")
                assert not any(s[1].startswith("cannot reach") for s in h.statuses)
                assert any("Cannot connect to host 127.0.0.1" in s[1] for s in h.retries())
                assert h.delays() and all(0 < delay <= FAST.cap for delay in h.delays())

    run(main())


# -- blocked in this region -------------------------------------------------------------------------


def test_http_451_is_a_final_error_saying_the_region_is_blocked() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.fail_rest("/api/v3/exchangeInfo", times=3, status=451)
            async with streaming(fake.ccxt_config(), SimulatedClock(START_NS)) as h:
                await h.task
                message = f"binance is blocked in this region (HTTP 451); {ADVICE}"
                assert isinstance(h.error, SourceError) and not isinstance(h.error, SourceUnavailable)
                assert str(h.error) == message
                assert h.error.__cause__ is None and h.error.__context__ is None
                assert [s[0] for s in h.statuses] == ["connecting", "error"]
                assert h.statuses[-1][1] == message
                assert fake.requests.count(("/api/v3/exchangeInfo", {})) == 1  # not retried
                assert fake.ws_opened == 0
                assert network_advice("binance", h.error) == message

    run(main())


def test_a_451_websocket_handshake_is_the_same_final_error() -> None:
    async def main() -> None:
        async with FakeBinance() as fake:
            fake.refuse_ws, fake.refuse_ws_status = 10, 451
            async with streaming(fake.ccxt_config(), SimulatedClock(START_NS)) as h:
                await h.task
                assert isinstance(h.error, SourceError) and not isinstance(h.error, SourceUnavailable)
                assert str(h.error) == f"binance is blocked in this region (HTTP 451); {ADVICE}"
                assert h.statuses[-1][0] == "error" and not h.retries()

    run(main())


def test_a_session_shows_and_logs_why_the_exchange_cannot_be_used(caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()

    async def main() -> None:
        clock = SimulatedClock(START_NS)
        source = LiveSource("binance", [SYMBOL], exchange_options=nowhere("127.0.0.1", port))
        session = Session(source, clock=clock)
        task = asyncio.create_task(session.run())
        deadline = asyncio.get_running_loop().time() + 10
        while session.statuses["binance"].attempt < 2:
            assert asyncio.get_running_loop().time() < deadline and not task.done(), session.statuses
            await asyncio.sleep(0.01)
        status = session.statuses["binance"]
        assert status.state == "reconnecting" and status.reason.startswith("cannot reach binance")
        assert status.next_retry_ns > clock.now_ns() - 1
        line = StatusLine()
        line.update(session.status, StatusInfo(now_ns=clock.now_ns()))
        shown = line.widget.value
        assert "reconnecting" in shown and "attempt 2" in shown and "next try in" in shown
        assert "cannot reach binance (no network or DNS?)" in shown and "--source sim" in shown
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

        async with FakeBinance() as fake:
            fake.fail_rest("/api/v3/exchangeInfo", times=10, status=451)  # history, then the stream
            session = Session(LiveSource("binance", [SYMBOL], exchange_options=fake.ccxt_config()))
            with pytest.raises(SourceError, match=r"blocked in this region \(HTTP 451\)"):
                await session.run()
            status = session.statuses["binance"]
            assert status.state == "error" and "blocked in this region (HTTP 451)" in status.reason
            line.update(session.status, StatusInfo(now_ns=clock.now_ns() + 10**9))
            assert "blocked in this region (HTTP 451)" in line.widget.value

    with caplog.at_level(logging.WARNING, logger="mdx"):
        run(main())
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("mdx")]
    assert any(level == logging.WARNING and "cannot reach binance" in text for level, text in messages)
    assert any(level == logging.ERROR and "blocked in this region" in text for level, text in messages)


# -- the advice for any exception -------------------------------------------------------------------


def test_network_advice_words_raw_errors_and_leaves_others_alone() -> None:
    port = closed_port()

    async def refused() -> BaseException:
        exchange = ccxt.pro.binance(nowhere("127.0.0.1", port))
        try:
            await exchange.load_markets()
        except ccxt.BaseError as error:
            return error
        finally:
            await exchange.close()
        raise AssertionError("loaded markets from a closed port")

    error = run(refused())
    assert isinstance(error, ccxt.ExchangeNotAvailable)
    assert network_advice("binance", error) == (
        f"cannot reach binance (no network or DNS?): 127.0.0.1:{port}: Connection refused; {ADVICE}"
    )
    timeout = ccxt.RequestTimeout("binance GET https://api.binance.com/api/v3/exchangeInfo")
    assert network_advice("binance", timeout) == (
        f"cannot reach binance (no network or DNS?): api.binance.com: timed out; {ADVICE}"
    )
    url = "https://api.binance.com/api/v3/exchangeInfo"
    intercepted = ccxt.ExchangeNotAvailable(f"binance GET {url}")
    intercepted.__cause__ = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    assert network_advice("binance", intercepted) == (
        f"cannot reach binance (no network or DNS?): api.binance.com: [SSL: CERTIFICATE_VERIFY_FAILED] "
        f"self-signed; {ADVICE}"
    )
    blocked = ccxt.ExchangeNotAvailable(f'binance GET {url} 451 Unavailable For Legal Reasons {{"code":0}}')
    assert network_advice("binance", blocked) == f"binance is blocked in this region (HTTP 451); {ADVICE}"
    # an HTTP answer (the exchange was reached), data errors and our other errors get no advice
    busy = ccxt.ExchangeNotAvailable(f"binance GET {url} 503 Service Unavailable ")
    assert network_advice("binance", busy) is None
    assert network_advice("binance", ValueError("bad frame")) is None
    assert network_advice("binance", SourceError("binance load markets failed: auth")) is None
