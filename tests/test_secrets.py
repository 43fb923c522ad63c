"""Exchange credentials: from the environment or a private file, through Settings to the live source, and
never shown anywhere (logs, statuses, errors and their chains, reprs, stdout/stderr)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mdx.backoff import Backoff
from mdx.clock import LiveClock
from mdx.config import Credentials, Settings
from mdx.errors import ConfigError, MdxError, SourceError
from mdx.session import Session
from mdx.sources import make_source, make_sources
from mdx.sources.live.ccxt_source import LiveSource
from tests.fake_binance import FakeBinance

KEY, SECRET = "AK-7f3e9c1d2b", "SK-0a9b8c7d6e5f"
SYMBOL = "BTC/USDT"
FAST = Backoff(initial=0.02, factor=2.0, cap=0.1, jitter=0.2)


def private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


# -- where credentials come from ------------------------------------------------------------------------


def test_credentials_come_from_the_environment_by_exchange_or_as_a_default() -> None:
    env = {"MDX_SOURCE": "binance", "MDX_API_KEY": KEY, "MDX_SECRET": SECRET, "MDX_KRAKEN_API_KEY": "kk"}
    settings = Settings.from_env(env)
    assert settings.exchange_options("binance") == {"apiKey": KEY, "secret": SECRET}  # the one live exchange
    assert settings.exchange_options("kraken") == {"apiKey": "kk"}  # its own set, never mixed with defaults
    source = make_source(settings)
    assert isinstance(source, LiveSource) and source.credential_keys == ("apiKey", "secret")
    assert source.redact(f"header {KEY}") == "header ***"
    # named for the exchange: wins over the defaults, whole
    named = Settings.from_env({**env, "MDX_BINANCE_API_KEY": "bk", "MDX_BINANCE_SECRET": "bs"})
    assert named.exchange_options("binance") == {"apiKey": "bk", "secret": "bs"}
    # with two live exchanges the defaults are ambiguous: a clear error rather than a guess
    two = Settings.from_env({**env, "MDX_SOURCE": "binance+bybit"})
    with pytest.raises(ConfigError, match=r"MDX_BINANCE_API_KEY.*MDX_BYBIT_API_KEY") as caught:
        make_sources(two)
    assert KEY not in str(caught.value)
    assert Settings.from_env({**env, "MDX_SOURCE": "sim"}).exchange_options("binance") == {
        "apiKey": KEY,
        "secret": SECRET,
    }  # kept for a later switch to a live source (the monitor's source box)


def test_settings_never_show_credentials_and_carry_them_to_kernels_only_when_streaming_live() -> None:
    settings = Settings(source="binance", credentials={"binance": {"apiKey": KEY, "secret": SECRET}})
    shown = [repr(settings), str(settings), repr(settings.credentials), repr(settings.to_env())]
    assert not any(KEY in text or SECRET in text for text in shown)
    assert repr(settings.credentials) == "Credentials(binance=['apiKey', 'secret'])"
    env = settings.to_env()
    assert env["MDX_BINANCE_API_KEY"] == KEY and env["MDX_BINANCE_SECRET"] == SECRET
    assert Settings.from_env(env) == settings  # a Voilà kernel rebuilds the same settings
    simulated = Settings(credentials={"binance": {"apiKey": KEY, "secret": SECRET}})
    assert not any(KEY in value or SECRET in value for value in simulated.to_env().values())  # not needed
    with pytest.raises(ConfigError, match=r"unknown credential option.*apikey") as caught:
        Settings(credentials={"binance": {"apikey": KEY}})
    assert KEY not in str(caught.value)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_credentials_file_must_be_private_and_the_environment_wins_over_it(tmp_path: Path) -> None:
    data = {"binance": {"apiKey": KEY, "secret": SECRET}, "kraken": {"apiKey": "kk", "secret": "ks"}}
    path = private_file(tmp_path / "keys.json", json.dumps(data))
    env = {"MDX_SOURCE": "binance", "MDX_CREDENTIALS_FILE": str(path), "MDX_KRAKEN_API_KEY": "from-env"}
    settings = Settings.from_env(env)
    assert settings.exchange_options("binance") == {"apiKey": KEY, "secret": SECRET}
    assert settings.exchange_options("kraken") == {"apiKey": "from-env"}
    toml = private_file(tmp_path / "keys.toml", f'[binance]\napiKey = "{KEY}"\nsecret = "{SECRET}"\n')
    assert Credentials.from_env({"MDX_CREDENTIALS_FILE": str(toml)}).of("binance") == data["binance"]

    path.chmod(0o644)  # readable by every user of the machine
    with pytest.raises(ConfigError, match=r"open to other users.*chmod 600"):
        Settings.from_env(env)
    with pytest.raises(ConfigError, match="cannot be read"):
        Settings.from_env({"MDX_CREDENTIALS_FILE": str(tmp_path / "missing.json")})
    # a syntax error quotes neither the file nor, through a chained JSONDecodeError.doc, its content
    broken = private_file(tmp_path / "broken.json", f'{{"binance": {{"apiKey": "{KEY}", secret: 1}}}}')
    with pytest.raises(ConfigError, match="not valid JSON") as caught:
        Settings.from_env({"MDX_CREDENTIALS_FILE": str(broken)})
    assert_clean(caught.value)


def test_verbose_is_refused_with_credentials() -> None:
    """ccxt's verbose mode print()s the request headers, API key included, to stdout: nothing to redact."""
    with pytest.raises(ConfigError, match="verbose=True cannot be used with credentials") as caught:
        LiveSource("binance", [SYMBOL], exchange_options={"apiKey": KEY, "secret": SECRET, "verbose": True})
    assert_clean(caught.value)
    assert LiveSource("binance", [SYMBOL], exchange_options={"verbose": True}).credential_keys == ()


# -- never shown: the live source against the fake exchange, with keys ---------------------------------


def chain(error: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def assert_clean(*texts_or_errors: Any) -> None:
    for item in texts_or_errors:
        errors = list(chain(item)) if isinstance(item, BaseException) else []
        texts = [str(item), repr(item)] + [t for e in errors for t in (str(e), repr(e), *map(repr, e.args))]
        for text in texts:
            assert KEY not in text and SECRET not in text, text


class Crashing(LiveSource):
    """The real client, with a watcher failing in a way nobody foresaw, its message holding the key."""

    def _create_exchange(self) -> Any:
        exchange = super()._create_exchange()

        async def watch_trades(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"unforeseen failure while holding {exchange.apiKey}")

        exchange.watch_trades = watch_trades
        return exchange


@pytest.mark.timeout(30)
@pytest.mark.parametrize("failure", ["auth", "unforeseen"])
def test_secrets_appear_in_no_log_status_error_repr_or_output(
    failure: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    env = {"MDX_SOURCE": "binance", "MDX_BINANCE_API_KEY": KEY, "MDX_BINANCE_SECRET": SECRET}
    settings = Settings.from_env(env)
    options = settings.exchange_options("binance")
    assert options == {"apiKey": KEY, "secret": SECRET}
    caplog.set_level(logging.DEBUG)  # ccxt logs request headers (the key) at DEBUG

    async def main() -> tuple[Session, LiveSource, BaseException]:
        async with FakeBinance() as fake:
            # "unforeseen": no signed call while loading markets, so the watchers start
            quiet = {"fetchCurrencies": False, "fetchMargins": False} if failure == "unforeseen" else {}
            config = fake.ccxt_config(**options, options=quiet)
            cls = LiveSource if failure == "auth" else Crashing
            source = cls("binance", [SYMBOL], exchange_options=config, backoff=FAST, rng=random.Random(1))
            session = Session(source, clock=LiveClock())
            with pytest.raises(SourceError) as caught:
                await session.run()
            return session, source, caught.value

    session, source, error = asyncio.run(asyncio.wait_for(main(), 20))

    assert "***" in str(error)  # the key was there (the fake echoes it, ccxt quotes it), and masked
    assert error.__cause__ is None and error.__context__ is None  # the unredacted ccxt error is not kept
    assert_clean(error, source, settings, settings.to_env(), session.status, *session.statuses.values())
    assert any(r.name.startswith("ccxt") for r in caplog.records)  # ccxt did log, at DEBUG
    formatter = logging.Formatter("%(message)s")
    for record in caplog.records:
        assert_clean(formatter.format(record))  # the message, and any traceback attached to it
    assert any("Traceback" in r.getMessage() for r in caplog.records) == (failure == "unforeseen")
    out, err = capfd.readouterr()
    assert_clean(out, err)
    assert isinstance(error, MdxError) and session.status.state == "error"
