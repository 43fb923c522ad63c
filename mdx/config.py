"""Frozen settings, read from arguments or the environment, and the source they describe.

Environment (what ``mdx monitor`` passes to the Voilà kernels):
``MDX_SOURCE`` (``sim`` | ``replay:PATH[,PATH...]`` | a ccxt exchange id, several joined by ``+`` to run
side by side: ``sim+replay:PATH``), ``MDX_EXCHANGE``,
``MDX_SYMBOLS`` (comma-separated unified symbols), ``MDX_TIMEFRAMES``, ``MDX_SPEED``, ``MDX_SEED``,
``MDX_HISTORY`` (how far back the charts start: ``6h`` by default, ``0`` for none; see ``history_ns``),
``MDX_CHANNELS`` (what a live source follows per symbol: ``trades,book`` by default, plus any of ``ticker``,
``ohlcv``, ``funding``, ``mark``, ``open_interest``, ``liquidations``),
``MDX_DB`` (the SQLite store a session writes to; see ``db_path``), ``MDX_REDIS_URL`` (read and
carried, not used yet). ``MDX_SOURCE=redis://[:PASSWORD@]HOST:PORT/DB`` (or ``rediss://``) reads the streams
an ``mdx collect`` process publishes (``mdx.sources.redis``). A URL's password is never shown: ``repr`` of
``Settings`` and of ``to_env()``'s mapping pass every value through ``redact_url``.

Exchange credentials (only live sources use them; public market data needs none), as ccxt options
(``apiKey``, ``secret``, ``password``, ...; see ``CREDENTIAL_KEYS``), for each exchange from the first of:

1. ``MDX_<EXCHANGE>_API_KEY``, ``MDX_<EXCHANGE>_SECRET``, ``MDX_<EXCHANGE>_PASSWORD``, ... (the ccxt id in
   capitals: ``MDX_BINANCE_API_KEY``);
2. the file named by ``MDX_CREDENTIALS_FILE``: JSON, or TOML when it ends in ``.toml``, by exchange id::

       {"binance": {"apiKey": "...", "secret": "..."}}

   It must be readable by its owner only (``chmod 600``): a file other users can read or write is refused;
3. ``MDX_API_KEY``, ``MDX_SECRET``, ``MDX_PASSWORD``, ...: only when the settings stream from exactly one
   live exchange (with several, they are ambiguous: name the exchange).

Other ccxt options of an exchange (not secret: where it is, timeouts, ...) come from
``MDX_<EXCHANGE>_CCXT_OPTIONS``, a JSON object handed to the ccxt constructor as is, e.g. to point it at
another address (``{"urls": {"api": {"public": "http://127.0.0.1:8080/api/v3", ...}}}``: a loopback fake
exchange, a proxy, a mirror) or to change a timeout (``{"timeout": 5000}``). See ``parse_ccxt_options``:
anything but a JSON object is an error, and so is a credential in it (those have the variables above).

Each takes the whole set from one place; keys are never mixed across them. ``Settings.from_env`` reads
them; ``Settings(...)`` built by hand has none unless given ``credentials=`` (``Credentials.from_env()``,
or a ``{"binance": {...}}`` mapping). Credentials never show in
``repr``/``str`` of ``Settings`` or ``Credentials``, nor in the repr of ``to_env()``'s mapping, and no
error message quotes a value or the file's content.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError
from .market.timeframes import timeframe_ns

DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
DEFAULT_HISTORY = "6h"
_NO_HISTORY = frozenset({"", "0", "none", "off"})


def history_ns(value: str | timedelta | int | None) -> int:
    """The length in ns of the history a source loads before its stream (0: none).

    ``value``: a duration in ccxt timeframe syntax (``"6h"``, ``"90m"``, ``"2d"``), a ``timedelta``, or
    ns as an int; ``None``, ``0``, ``"0"``, ``""``, ``"none"`` and ``"off"`` mean no history. Anything
    else (a negative length, ``"6 hours"``) is a ``ConfigError``."""
    if value is None:
        return 0
    if isinstance(value, timedelta):
        ns = value // timedelta(microseconds=1) * 1_000
    elif isinstance(value, int) and not isinstance(value, bool):
        ns = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _NO_HISTORY:
            return 0
        try:
            ns = timeframe_ns(text)
        except ConfigError:
            raise ConfigError(
                f"history must be a duration like '6h', '90m', '2d' (or '0': none), got {value!r}"
            ) from None
    else:
        raise ConfigError(f"history must be a duration string, a timedelta or ns, got {value!r}")
    if ns < 0:
        raise ConfigError(f"history must not be negative, got {value!r}")
    return ns


def db_path(value: str | os.PathLike[str] = "", environ: Mapping[str, str] | None = None) -> Path:
    """Where the SQLite store lives: ``value`` (``--db``, ``Settings.db``), else ``MDX_DB``, else
    ``$XDG_DATA_HOME/mdx/mdx.db`` (``~/.local/share/mdx/mdx.db`` without it). ``~`` is expanded."""
    env = os.environ if environ is None else environ
    chosen = os.fspath(value) or env.get("MDX_DB", "")
    if chosen:
        return Path(chosen).expanduser()
    data_home = env.get("XDG_DATA_HOME", "") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "mdx" / "mdx.db"


REDIS_SCHEMES = ("redis://", "rediss://")
# the channels a live source can follow per symbol (mdx.sources.live.channels reads each)
KNOWN_CHANNELS = ("trades", "book", "ticker", "ohlcv", "funding", "mark", "open_interest", "liquidations")
DEFAULT_CHANNELS = ("trades", "book")


def redact_url(text: str) -> str:
    """``text`` with the credentials of a URL in it masked: ``redis://:pw@host:6379/0`` gives
    ``redis://***@host:6379/0`` (user and password both go). Text that is not such a URL is returned as
    it is; a URL that cannot be parsed loses everything between ``//`` and the last ``@``."""
    if "@" not in text or "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port is not None else "")
        if ":" in host:  # an IPv6 literal
            netloc = f"***@[{host}]" + (f":{parts.port}" if parts.port is not None else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        scheme, _, rest = text.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}"


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


# ccxt's credential options -> the suffix of their MDX_* environment variables
CREDENTIAL_KEYS: dict[str, str] = {
    "apiKey": "API_KEY",
    "secret": "SECRET",
    "password": "PASSWORD",
    "uid": "UID",
    "login": "LOGIN",
    "privateKey": "PRIVATE_KEY",
    "walletAddress": "WALLET_ADDRESS",
    "token": "TOKEN",
    "twofa": "TWOFA",
}
_ENV_KEYS = {suffix: key for key, suffix in CREDENTIAL_KEYS.items()}
_ENV_CREDENTIAL = re.compile(r"MDX_(?:([A-Z0-9]+)_)?(" + "|".join(_ENV_KEYS) + ")")
CREDENTIALS_FILE_VAR = "MDX_CREDENTIALS_FILE"

Options = tuple[tuple[str, str], ...]


def _options(where: str, values: Mapping[str, Any]) -> Options:
    """Checked credential options (names only in errors, never values); empty values are dropped."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a table of credential options, got {type(values).__name__}")
    unknown = sorted(str(key) for key in values if key not in CREDENTIAL_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown credential option(s) {', '.join(unknown)}; "
            f"ccxt's are {', '.join(CREDENTIAL_KEYS)}"
        )
    options: list[tuple[str, str]] = []
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(f"{where}: {key} must be a string, got {type(value).__name__}")
        if str(value).strip():
            options.append((key, str(value).strip()))
    return tuple(sorted(options))


class Credentials:
    """API credentials as ccxt options, by exchange id (``by_exchange``), plus an unnamed ``default`` set
    (``MDX_API_KEY`` ...) for when the settings stream from a single live exchange. Immutable and
    hashable; never shows a value: ``repr`` names only which options are set.

    ``Credentials({"binance": {"apiKey": "...", "secret": "..."}})``; ``Credentials.from_env()`` reads
    the environment and the credentials file (see the module docstring)."""

    __slots__ = ("_by_exchange", "_default")

    def __init__(
        self,
        by_exchange: Mapping[str, Mapping[str, Any]] | None = None,
        default: Mapping[str, Any] | None = None,
    ) -> None:
        by: dict[str, Options] = {}
        for exchange, values in (by_exchange or {}).items():
            options = _options(f"credentials for {exchange!r}", values)
            if options:
                by[str(exchange).lower()] = options
        self._by_exchange: tuple[tuple[str, Options], ...] = tuple(sorted(by.items()))
        self._default: Options = _options("default credentials", default or {})

    @property
    def exchanges(self) -> tuple[str, ...]:
        """The exchange ids with credentials of their own."""
        return tuple(exchange for exchange, _ in self._by_exchange)

    def of(self, exchange_id: str) -> dict[str, str]:
        """The credentials named for ``exchange_id`` ({} when none; the default set is not used here)."""
        return dict(dict(self._by_exchange).get(exchange_id.lower(), ()))

    @property
    def default(self) -> dict[str, str]:
        return dict(self._default)

    def __bool__(self) -> bool:
        return bool(self._by_exchange or self._default)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return (self._by_exchange, self._default) == (other._by_exchange, other._default)

    def __hash__(self) -> int:
        return hash((self._by_exchange, self._default))

    def __repr__(self) -> str:
        parts = [f"{exchange}={[key for key, _ in options]}" for exchange, options in self._by_exchange]
        if self._default:
            parts.append(f"default={[key for key, _ in self._default]}")
        return f"Credentials({', '.join(parts)})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # copy/pickle without going through repr
        return (Credentials, ({e: dict(o) for e, o in self._by_exchange}, dict(self._default)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Credentials from ``MDX_<EXCHANGE>_<KEY>`` and ``MDX_<KEY>`` variables and the file named by
        ``MDX_CREDENTIALS_FILE`` (per exchange, the variables win over the file: see the module docstring).
        """
        env = os.environ if environ is None else environ
        by_exchange: dict[str, dict[str, str]] = {}
        default: dict[str, str] = {}
        for name, value in env.items():
            match = _ENV_CREDENTIAL.fullmatch(name)
            if match is None or not value:
                continue
            exchange, suffix = match.groups()
            target = default if exchange is None else by_exchange.setdefault(exchange.lower(), {})
            target[_ENV_KEYS[suffix]] = value
        path = env.get(CREDENTIALS_FILE_VAR, "")
        if path:
            for exchange, options in read_credentials_file(path).items():
                by_exchange.setdefault(exchange, options)  # an exchange named in the environment keeps it
        return cls(by_exchange, default)


NO_CREDENTIALS = Credentials()


def read_credentials_file(path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """``{exchange id: {ccxt option: value}}`` from a JSON (or ``.toml``) file only its owner can read.
    Errors name the file and what is wrong with it, never its content, and chain no exception (a
    ``JSONDecodeError`` keeps the whole document in ``.doc``: ``from None`` would still keep it reachable
    as ``__context__``, so errors are raised after the ``except`` blocks)."""
    file = Path(path).expanduser()
    problem = ""
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            problem = "is not a regular file"
        elif os.name == "posix" and info.st_mode & 0o077:
            problem = (
                f"is open to other users (mode {stat.filemode(info.st_mode)}); it holds secrets: "
                f"make it private with `chmod 600 {file}`"
            )
        else:
            text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem = f"cannot be read: {getattr(error, 'strerror', None) or type(error).__name__}"
    if problem:
        raise ConfigError(f"credentials file {file} {problem}")
    data: Any = None
    if file.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            problem = f"is not valid TOML: {error}"
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            problem = f"is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
    if problem:
        raise ConfigError(f"credentials file {file} {problem}")
    if not isinstance(data, dict):
        raise ConfigError(
            f"credentials file {file}: expected a table of exchanges, got {type(data).__name__}"
        )
    return {
        str(exchange).lower(): dict(_options(f"credentials file {file}, {exchange!r}", values))
        for exchange, values in data.items()
    }


_ENV_CCXT_OPTIONS = re.compile(r"MDX_([A-Z0-9]+)_CCXT_OPTIONS")

CcxtOptions = Mapping[str, Mapping[str, Any]]  # exchange id -> ccxt constructor options


def ccxt_options_var(exchange_id: str) -> str:
    """The variable holding ``exchange_id``'s ccxt options: ``MDX_BINANCE_CCXT_OPTIONS``."""
    return f"MDX_{exchange_id.upper()}_CCXT_OPTIONS"


def parse_ccxt_options(name: str, text: str) -> dict[str, Any]:
    """The ccxt options in ``text``, the value of the variable ``name``: a JSON object such as
    ``{"urls": {"api": {...}}}`` or ``{"timeout": 5000}``. ``ConfigError`` naming the variable for bad JSON,
    anything but an object, or a credential key in it. Errors never quote the value and chain nothing
    (a ``JSONDecodeError`` keeps the whole text, in case someone pasted a key into it)."""
    problem = ""
    data: Any = None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        problem = f"is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
    if problem:
        raise ConfigError(f"{name} {problem}; expected a JSON object of ccxt options")
    return check_ccxt_options(name, data)


def check_ccxt_options(where: str, options: Any) -> dict[str, Any]:
    """``options`` as a fresh plain dict of JSON values (so it survives ``to_env``), after checking it is
    a mapping with string keys and no credential (``CREDENTIAL_KEYS``: those have their own variables)."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}: expected a JSON object of ccxt options, got {type(options).__name__}")
    bad_keys = sorted(repr(key) for key in options if not isinstance(key, str))
    if bad_keys:
        raise ConfigError(f"{where}: ccxt option names must be strings, got {', '.join(bad_keys)}")
    secret = sorted(key for key in options if key in CREDENTIAL_KEYS)
    if secret:
        raise ConfigError(
            f"{where}: {', '.join(secret)} are credentials, not ccxt options to set here; use "
            f"MDX_<EXCHANGE>_API_KEY / _SECRET / ... or {CREDENTIALS_FILE_VAR} (never printed)"
        )
    try:
        plain: dict[str, Any] = json.loads(json.dumps(dict(options), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: ccxt options must be JSON values: {error}") from None
    return plain


def ccxt_options_from_env(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``{exchange id: options}`` from every non-empty ``MDX_<EXCHANGE>_CCXT_OPTIONS`` of ``environ``."""
    found: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        match = _ENV_CCXT_OPTIONS.fullmatch(name)
        if match is not None and value.strip():
            found[match.group(1).lower()] = parse_ccxt_options(name, value)
    return found


def _frozen_ccxt_options(options: CcxtOptions) -> CcxtOptions:
    """Checked, copied and read-only (the settings cross threads; nobody may change them in place)."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"ccxt_options: expected {{exchange id: options}}, got {type(options).__name__}")
    return MappingProxyType(
        {
            str(exchange).lower(): MappingProxyType(
                check_ccxt_options(f"ccxt options for {exchange!r}", value)
            )
            for exchange, value in options.items()
        }
    )


class SecretEnv(dict[str, str]):
    """Environment variables, some of which hold secrets: its repr masks their values (a log line or a
    debugger showing it does not leak them). Otherwise a plain ``dict``."""

    def __repr__(self) -> str:
        masked = {name: "***" if _is_secret_var(name) else redact_url(value) for name, value in self.items()}
        return repr(masked)

    __str__ = __repr__


def _is_secret_var(name: str) -> bool:
    return name == "MDX_REDIS_URL" or _ENV_CREDENTIAL.fullmatch(name) is not None


def _spec_exchange(spec: str, exchange: str) -> str | None:
    """The ccxt exchange id a source spec streams from, or None for the simulator and replays."""
    if spec == "sim" or spec.startswith(("replay:", *REDIS_SCHEMES)):
        return None
    return exchange if spec == "live" else spec


@dataclass(frozen=True, slots=True)
class Settings:
    source: str = "sim"
    exchange: str = ""
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    timeframes: tuple[str, ...] = ("1s", "1m", "5m")
    speed: float = 1.0
    seed: int = 7
    history: str = DEFAULT_HISTORY  # how far back the charts start (see history_ns); "0": no history
    channels: tuple[str, ...] = DEFAULT_CHANNELS  # what live sources follow per symbol (MDX_CHANNELS)
    db: str = ""
    redis_url: str = field(default="", repr=False)  # may hold a password: never printed
    credentials: Credentials = field(default=NO_CREDENTIALS, repr=False)  # never printed (see Credentials)
    # exchange id -> more ccxt options (not secret: urls, hostname, timeout, ...); read-only once built
    ccxt_options: CcxtOptions = field(default_factory=dict, hash=False)

    def __repr__(self) -> str:  # the fields dataclass would show, a URL's password masked
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        shown["source"] = redact_url(self.source)
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    def __post_init__(self) -> None:
        if not isinstance(self.credentials, Credentials):  # a plain {"binance": {...}} mapping
            object.__setattr__(self, "credentials", Credentials(self.credentials))
        if not isinstance(self.ccxt_options, MappingProxyType):
            object.__setattr__(self, "ccxt_options", _frozen_ccxt_options(self.ccxt_options))
        if not self.symbols:
            raise ConfigError("no symbols configured")
        for tf in self.timeframes:
            timeframe_ns(tf)
        if not self.speed > 0:
            raise ConfigError(f"speed must be > 0, got {self.speed!r}")
        history_ns(self.history)
        unknown = [c for c in self.channels if c not in KNOWN_CHANNELS]
        if unknown or not self.channels:
            raise ConfigError(
                f"channels must be some of {', '.join(KNOWN_CHANNELS)}; "
                f"got {', '.join(self.channels) or 'none'}"
            )

    @property
    def source_specs(self) -> tuple[str, ...]:
        """The sources to run side by side in one session: ``sim+replay:PATH`` gives two, and so does
        ``binance,bybit`` (one live source per exchange; a replay's commas separate its paths). A
        ``redis://`` URL comes last and runs to the end."""
        specs: list[str] = []
        source, url = self.source, ""
        at = min((i for i in (source.find(scheme) for scheme in REDIS_SCHEMES) if i >= 0), default=-1)
        if at >= 0:  # a Redis URL runs to the end (its password may hold a "+")
            source, url = source[:at], source[at:].strip()
        for part in (part.strip() for part in source.split("+")):
            if "," in part and not part.startswith(("replay:", *REDIS_SCHEMES)):
                specs.extend(_split(part))
            elif part:
                specs.append(part)
        if url:
            specs.append(url)
        return tuple(specs) or ("sim",)

    @property
    def source_kind(self) -> str:
        """``sim``, ``replay``, ``redis`` (``redis://``, ``rediss://``: what ``mdx collect`` publishes) or
        ``live``."""
        if self.source == "sim":
            return "sim"
        if self.source.startswith("replay:"):
            return "replay"
        if self.source.startswith(REDIS_SCHEMES):
            return "redis"
        return "live"

    @property
    def replay_paths(self) -> tuple[str, ...]:
        return _split(self.source.removeprefix("replay:")) if self.source_kind == "replay" else ()

    @property
    def live_exchanges(self) -> tuple[str, ...]:
        """The ccxt exchange ids the sources stream from (none for the simulator and replays)."""
        ids = (_spec_exchange(spec, self.exchange) for spec in self.source_specs)
        return tuple(dict.fromkeys(i for i in ids if i))

    def exchange_options(self, exchange_id: str) -> dict[str, str]:
        """The credentials for ``exchange_id`` as ccxt options ({} without any): its own, else the
        default set when it is the only live exchange of these settings (ambiguous otherwise)."""
        own = self.credentials.of(exchange_id)
        if own or not self.credentials.default:
            return own
        live = self.live_exchanges
        if len(live) > 1:
            names = ", ".join(f"MDX_{e.upper()}_API_KEY" for e in live)
            raise ConfigError(
                f"MDX_API_KEY / MDX_SECRET ... cannot tell which of {', '.join(live)} they are for; "
                f"name the exchange ({names}, ...) or use {CREDENTIALS_FILE_VAR}"
            )
        return self.credentials.default

    def ccxt_config(self, exchange_id: str) -> dict[str, Any]:
        """Everything a live source hands the ccxt constructor of ``exchange_id``: its ccxt options
        (``MDX_<EXCHANGE>_CCXT_OPTIONS``, a fresh copy) with its credentials (``exchange_options``) on top."""
        options = self.ccxt_options.get(exchange_id.lower(), {})
        return {**json.loads(json.dumps(dict(options))), **self.exchange_options(exchange_id)}

    def iter_credentials(self) -> Iterator[tuple[str, dict[str, str]]]:
        """(exchange id, options) for each live exchange of these settings that has credentials."""
        for exchange_id in self.live_exchanges:
            options = self.exchange_options(exchange_id)
            if options:
                yield exchange_id, options

    def to_env(self) -> dict[str, str]:
        """Environment variables that make ``from_env`` rebuild these settings in another process (the
        Voilà kernels). Credentials go only for the live exchanges streamed, as ``MDX_<EXCHANGE>_<KEY>``;
        the mapping's repr masks them and the redis URL."""
        env = SecretEnv(
            {
                "MDX_SOURCE": self.source,
                "MDX_EXCHANGE": self.exchange,
                "MDX_SYMBOLS": ",".join(self.symbols),
                "MDX_TIMEFRAMES": ",".join(self.timeframes),
                "MDX_SPEED": repr(self.speed),
                "MDX_SEED": str(self.seed),
                "MDX_HISTORY": self.history,
                "MDX_CHANNELS": ",".join(self.channels),
                "MDX_DB": self.db,
            }
        )
        if self.redis_url:
            env["MDX_REDIS_URL"] = self.redis_url
        for exchange_id, options in self.ccxt_options.items():
            env[ccxt_options_var(exchange_id)] = json.dumps(dict(options), sort_keys=True)
        for exchange_id, options in self.iter_credentials():
            for key, value in options.items():
                env[f"MDX_{exchange_id.upper()}_{CREDENTIAL_KEYS[key]}"] = value
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        try:
            return cls(
                source=env.get("MDX_SOURCE", "sim") or "sim",
                exchange=env.get("MDX_EXCHANGE", ""),
                symbols=_split(env.get("MDX_SYMBOLS", "")) or DEFAULT_SYMBOLS,
                timeframes=_split(env.get("MDX_TIMEFRAMES", "")) or ("1s", "1m", "5m"),
                speed=float(env.get("MDX_SPEED", "1") or 1),
                seed=int(env.get("MDX_SEED", "7") or 7),
                history=env.get("MDX_HISTORY", DEFAULT_HISTORY).strip() or DEFAULT_HISTORY,
                channels=_split(env.get("MDX_CHANNELS", "")) or DEFAULT_CHANNELS,
                db=env.get("MDX_DB", ""),
                redis_url=env.get("MDX_REDIS_URL", ""),
                credentials=Credentials.from_env(env),
                ccxt_options=ccxt_options_from_env(env),
            )
        except ConfigError:
            raise
        except ValueError as error:
            raise ConfigError(f"bad MDX_* environment value: {error}") from error


__all__ = [
    "CREDENTIAL_KEYS",
    "DEFAULT_HISTORY",
    "DEFAULT_SYMBOLS",
    "CcxtOptions",
    "Credentials",
    "SecretEnv",
    "Settings",
    "ccxt_options_var",
    "db_path",
    "history_ns",
    "parse_ccxt_options",
    "read_credentials_file",
    "redact_url",
]
