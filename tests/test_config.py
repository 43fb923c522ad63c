"""``MDX_<EXCHANGE>_CCXT_OPTIONS``: more ccxt options for an exchange (where it is, timeouts, ...), as JSON.

Parsed strictly (bad JSON, anything but an object, or a credential in it is a ``ConfigError`` naming the
variable and never quoting its value), carried by ``Settings`` read-only, written back by ``to_env``, and
handed to the live source's ccxt constructor with the credentials on top. The last test points the real
ccxt client at the loopback fake Binance through the variable alone and streams a trade from it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from mdx.clock import LiveClock
from mdx.config import Settings, ccxt_options_var, parse_ccxt_options
from mdx.errors import ConfigError
from mdx.events import Trade
from mdx.sources import make_source, make_sources
from mdx.sources.live import LiveSource
from tests.fake_binance import FakeBinance
from tests.test_live import SYMBOL, Harness, subscribed

VAR = "MDX_BINANCE_CCXT_OPTIONS"
KEY = "k3y-9f2c41d0"  # a fake credential: no message may quote it
ELSEWHERE = {"urls": {"api": {"public": "http://127.0.0.1:9/api/v3"}}, "timeout": 5000}


def live_env(**extra: str) -> dict[str, str]:
    return {"MDX_SOURCE": "binance", "MDX_SYMBOLS": SYMBOL, "MDX_HISTORY": "0", **extra}


# --- parsing ----------------------------------------------------------------------------------------------


def test_the_variable_is_named_for_the_exchange_and_holds_a_json_object() -> None:
    assert ccxt_options_var("binance") == VAR
    assert parse_ccxt_options(VAR, json.dumps(ELSEWHERE)) == ELSEWHERE
    assert parse_ccxt_options(VAR, ' {"hostname": "unreachable.invalid"} ') == {
        "hostname": "unreachable.invalid"
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"urls": {"api": ', "is not valid JSON"),
        ("{'timeout': 5000}", "is not valid JSON"),  # Python, not JSON
        ("", "is not valid JSON"),
        ('["urls"]', "got list"),
        ('"binance.us"', "got str"),
        ("5000", "got int"),
        ("null", "got NoneType"),
    ],
)
def test_anything_but_a_json_object_is_an_error_naming_the_variable(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        parse_ccxt_options(VAR, text)
    assert VAR in str(caught.value)


@pytest.mark.parametrize("key", ["apiKey", "secret", "password", "privateKey"])
def test_a_credential_in_the_options_is_refused_without_quoting_it(key: str) -> None:
    text = json.dumps({"timeout": 5000, key: KEY})
    with pytest.raises(ConfigError, match="are credentials") as caught:
        parse_ccxt_options(VAR, text)
    message = str(caught.value)
    assert VAR in message and key in message and "MDX_<EXCHANGE>_API_KEY" in message
    assert KEY not in message


def test_bad_json_is_reported_without_its_text_or_a_chained_exception() -> None:
    text = '{"apiKey": "' + KEY + '", oops}'  # someone pasted a key into a broken value
    with pytest.raises(ConfigError) as caught:
        parse_ccxt_options(VAR, text)
    assert KEY not in str(caught.value) and "line 1, column" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None  # no JSONDecodeError.doc


# --- carried by Settings ----------------------------------------------------------------------------------


def test_from_env_reads_each_exchanges_options_and_ignores_empty_ones() -> None:
    env = live_env(
        **{VAR: json.dumps(ELSEWHERE), "MDX_KRAKEN_CCXT_OPTIONS": "", "MDX_OKX_CCXT_OPTIONS": '{"a": 1}'}
    )
    settings = Settings.from_env(env)
    assert dict(settings.ccxt_options) == {"binance": ELSEWHERE, "okx": {"a": 1}}
    assert Settings.from_env(live_env()).ccxt_options == {}


def test_a_bad_variable_fails_settings_from_env_naming_it() -> None:
    with pytest.raises(ConfigError, match=VAR):
        Settings.from_env(live_env(**{VAR: '{"secret": "x"}'}))
    with pytest.raises(ConfigError, match="MDX_OKX_CCXT_OPTIONS"):
        Settings.from_env(live_env(MDX_OKX_CCXT_OPTIONS="[1, 2]"))


def test_to_env_round_trips_the_options() -> None:
    settings = Settings(source="binance", symbols=(SYMBOL,), ccxt_options={"Binance": ELSEWHERE})
    env = settings.to_env()
    assert json.loads(env[VAR]) == ELSEWHERE  # exchange ids are lower case, variables upper case
    again = Settings.from_env(env)
    assert again == settings and dict(again.ccxt_options) == {"binance": ELSEWHERE}


def test_settings_hold_a_read_only_copy_and_hand_out_fresh_ones() -> None:
    given: dict[str, Any] = {"binance": {"urls": {"api": {"public": "http://a"}}}}
    settings = Settings(source="binance", ccxt_options=given)
    given["binance"]["urls"]["api"]["public"] = "http://changed"  # the caller's dict is not shared
    with pytest.raises(TypeError):
        settings.ccxt_options["binance"]["timeout"] = 1  # type: ignore[index]
    config = settings.ccxt_config("binance")
    config["urls"]["api"]["public"] = "http://mutated-by-ccxt"  # ccxt may change what it is given
    assert settings.ccxt_config("binance") == {"urls": {"api": {"public": "http://a"}}}
    hash(settings)  # still hashable (the options take no part in the hash)


def test_settings_built_in_python_are_checked_like_the_variable() -> None:
    with pytest.raises(ConfigError, match="apiKey are credentials"):
        Settings(source="binance", ccxt_options={"binance": {"apiKey": KEY}})
    with pytest.raises(ConfigError, match="got list"):
        Settings(source="binance", ccxt_options={"binance": ["urls"]})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="JSON values"):
        Settings(source="binance", ccxt_options={"binance": {"timeout": object()}})


def test_ccxt_config_puts_the_credentials_on_top_of_the_options() -> None:
    settings = Settings.from_env(
        live_env(**{VAR: json.dumps(ELSEWHERE), "MDX_BINANCE_API_KEY": KEY, "MDX_BINANCE_SECRET": KEY})
    )
    assert settings.ccxt_config("binance") == {**ELSEWHERE, "apiKey": KEY, "secret": KEY}
    assert settings.ccxt_config("kraken") == {}
    assert KEY not in repr(settings) and KEY not in repr(settings.to_env())


# --- handed to the live source ----------------------------------------------------------------------------


def test_make_sources_gives_the_live_source_the_options_and_the_credentials() -> None:
    settings = Settings.from_env(
        live_env(**{VAR: json.dumps(ELSEWHERE), "MDX_BINANCE_API_KEY": KEY, "MDX_BINANCE_SECRET": KEY})
    )
    (source,) = make_sources(settings)
    assert isinstance(source, LiveSource)
    assert source.credential_keys == ("apiKey", "secret")
    assert repr(source).endswith("exchange_options=['apiKey', 'secret', 'timeout', 'urls'])")
    assert KEY not in repr(source)


def test_the_variable_alone_points_ccxt_at_the_loopback_fake_exchange() -> None:
    """No monkeypatch, no test hook: the real ccxt client streams from where the variable says."""

    async def main() -> Trade:
        async with FakeBinance() as fake:
            source = make_source(Settings.from_env(live_env(**{VAR: json.dumps(fake.ccxt_config())})))
            assert isinstance(source, LiveSource)
            h = Harness(source, LiveClock())
            try:
                await subscribed(fake)
                await fake.push_trade("BTCUSDT", 61837.63, 0.02, trade_id=42)
                await h.wait(lambda: bool(h.of(Trade)), "a trade from the fake exchange")
                return h.of(Trade)[0]
            finally:
                await h.stop()

    trade = asyncio.run(asyncio.wait_for(main(), 30))
    assert (trade.exchange, trade.symbol, trade.price, trade.amount) == ("binance", SYMBOL, 61837.63, 0.02)


def test_source_specs_split_exchanges_and_keep_a_redis_url_whole() -> None:
    assert Settings(source="binance,bybit").source_specs == ("binance", "bybit")
    assert Settings(source="sim+binance, bybit").source_specs == ("sim", "binance", "bybit")
    assert Settings(source="replay:a.gz,b.gz").source_specs == ("replay:a.gz,b.gz",)
    assert Settings(source="redis://:pa+ss@h:6379/0").source_specs == ("redis://:pa+ss@h:6379/0",)
    assert Settings(source="sim+redis://:a+b@h:1/0").source_specs == ("sim", "redis://:a+b@h:1/0")
