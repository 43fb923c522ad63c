"""Connecting to Redis, and saying what went wrong without showing a password.

``connect(url)`` gives a ``redis.asyncio.Redis`` that does not retry by itself (mdx backs off, see
``mdx.backoff``) and reads raw bytes. ``Redactor(url)`` masks the URL's credentials in any text (a status
reason, a log line, an error): the URL becomes ``redact_url(url)`` and the password and user name ``***``.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...config import REDIS_SCHEMES, redact_url
from ...errors import ConfigError

# what "Redis went away" looks like: retried with backoff
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
REASON_MAX = 300


class Redactor:
    """Masks the credentials of ``url`` in text."""

    __slots__ = ("_secrets", "_shown", "_url")

    def __init__(self, url: str) -> None:
        self._url = url
        self._shown = redact_url(url)
        parts = urlsplit(url)
        secrets = {parts.password, parts.username}
        secrets |= {unquote(s) for s in secrets if s}
        self._secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))

    @property
    def url(self) -> str:
        """The URL as it may be shown."""
        return self._shown

    def __call__(self, text: str) -> str:
        text = text.replace(self._url, self._shown)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def check_url(url: str) -> str:
    """``url`` when it is a ``redis://`` / ``rediss://`` URL, else a ``ConfigError`` (which never shows
    the URL's password)."""
    if not url.startswith(REDIS_SCHEMES):
        raise ConfigError(f"not a Redis URL (redis://HOST:PORT/DB or rediss://...): {redact_url(url)!r}")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise ConfigError(f"bad Redis URL {redact_url(url)!r}: the port must be a number") from None
    if not parts.hostname and not parts.path:
        raise ConfigError(f"bad Redis URL {redact_url(url)!r}: no host")
    return url


def connect(url: str, *, socket_timeout: float | None = 10.0) -> aioredis.Redis:
    """An asyncio client for ``url``: bytes replies, a 2 s connect timeout, no retries of its own."""
    check_url(url)
    problem = ""
    try:
        return aioredis.Redis.from_url(
            url,
            socket_connect_timeout=2.0,
            socket_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
        )
    except ValueError as error:
        problem = Redactor(url)(str(error))
    raise ConfigError(f"bad Redis URL {redact_url(url)!r}: {problem}")


def describe(error: BaseException, redact: Redactor) -> str:
    """One redacted line for a failed Redis call."""
    if isinstance(error, AuthenticationError) or "NOAUTH" in str(error) or "WRONGPASS" in str(error):
        what = "authentication failed (check the password in the URL)"
    else:
        what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    reason = redact(f"redis {redact.url} unreachable: {what}")
    return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 3] + "..."


__all__ = ["CONNECTION_ERRORS", "Redactor", "check_url", "connect", "describe"]
