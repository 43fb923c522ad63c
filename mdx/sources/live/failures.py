"""Why a live exchange cannot be used, in one line a newcomer can act on.

Two failures get words of their own, because the raw ccxt text (``ExchangeNotAvailable: binance GET
https://api.binance.com/api/v3/exchangeInfo``) names neither the cause nor a way out:

- **unreachable** — no HTTP answer at all: the name did not resolve, the connection was refused or reset,
  or it timed out. ccxt raises ``ExchangeNotAvailable`` / ``NetworkError`` / ``RequestTimeout`` and keeps
  the socket error as the exception's ``__cause__`` (REST) or first argument (websocket dial)::

      cannot reach binance (no network or DNS?): api.binance.com:443: Name or service not known;
      try --source sim or a replay (--source replay:PATH)

- **blocked** — HTTP 451 ("Unavailable For Legal Reasons"), what Binance answers from restricted regions
  (body ``{"code":0,"msg":"Service unavailable from a restricted location ..."}``). ccxt maps 451 to
  ``ExchangeNotAvailable`` (``Exchange.httpExceptions``), a *retryable* class; a region does not change
  while mdx retries, so mdx treats it as final::

      binance is blocked in this region (HTTP 451); try --source sim or a replay (--source replay:PATH)

An HTTP error status other than 451 (429, 503, ...) is an answer, not "unreachable": it keeps ccxt's text.
``network_advice`` gives the same line for any exception (the CLI prints it); ``LiveSource`` shows it as
the status reason and logs it. None of these texts hold secrets by themselves, but they quote URLs and
socket errors: ``LiveSource`` redacts them like every other reason.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import ccxt

from ...errors import ExchangeBlocked, ExchangeUnreachable, MdxError

OFFLINE_HINT = "try --source sim or a replay (--source replay:PATH)"
DETAIL_MAX = 120
# ccxt's REST errors for an HTTP status: "<id> <METHOD> <url> <status> <reason> <body>"
_HTTP_STATUS = re.compile(r"^\S+ (?:GET|POST|PUT|DELETE|PATCH|HEAD) \S+ (\d{3})\b")
_URL_HOST = re.compile(r"\b(?:https?|wss?)://([^/\s?#]+)")
# what regional blocks say when they come with another status (CloudFront's geo-restriction page)
_BLOCKED_TEXT = ("restricted location", "block access from your country")


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it wraps: ``__cause__`` / ``__context__``, or an exception passed as its first
    argument (ccxt.pro's ``NetworkError(aiohttp error)`` on a failed websocket dial). Each link once."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen and len(seen) < 16:
        seen.add(id(link))
        yield link
        wrapped = link.args[0] if link.args and isinstance(link.args[0], BaseException) else None
        link = link.__cause__ or wrapped or link.__context__


def http_status(error: BaseException) -> int | None:
    """The HTTP status an exchange answered with, if ``error`` came from one (REST or websocket handshake)."""
    for link in _chain(error):
        status = getattr(link, "status", None)
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
            return status
        match = _HTTP_STATUS.match(str(link))
        if match:
            return int(match.group(1))
    return None


def blocked_status(error: BaseException) -> int | None:
    """The HTTP status when the exchange refuses this region (451, or a geo-block page), else None."""
    status = http_status(error)
    if status == 451:
        return status
    if status is not None and any(text in str(link) for link in _chain(error) for text in _BLOCKED_TEXT):
        return status
    return None


def is_unreachable(error: BaseException) -> bool:
    """True when no answer came at all: a DNS failure, a refused or reset connection, a timeout."""
    if http_status(error) is not None:
        return False
    return any(isinstance(link, ccxt.RequestTimeout | OSError) for link in _chain(error))


def unreachable_detail(error: BaseException) -> str:
    """The short root cause of an unreachable exchange: ``host:port: what the socket said``."""
    links = list(_chain(error))
    where = next((f"{link.host}:{link.port}" for link in links if _has_address(link)), "")
    if not where:
        where = next((m.group(1) for link in links if (m := _URL_HOST.search(str(link)))), "")
    os_errors = [link for link in links if isinstance(link, OSError)]
    if any(isinstance(link, ccxt.RequestTimeout | TimeoutError) for link in links):
        what = "timed out"
    elif os_errors:
        what = _socket_text(os_errors[-1])
    else:
        what = f"{type(error).__name__}: {error}"
    detail = f"{where}: {what}" if where else what
    return detail if len(detail) <= DETAIL_MAX else detail[: DETAIL_MAX - 3] + "..."


def _has_address(link: BaseException) -> bool:
    return isinstance(getattr(link, "host", None), str) and getattr(link, "port", None) is not None


def _socket_text(error: OSError) -> str:
    """``Name or service not known`` / ``Connection refused`` rather than ``[Errno 111] Connect call ...``."""
    if isinstance(error, socket.gaierror | ssl.SSLError) and error.strerror:
        return (
            getattr(error, "verify_message", None) or error.strerror
        )  # ssl's errno is its own, not the OS's
    if isinstance(error.errno, int) and error.errno > 0:
        return os.strerror(error.errno)
    return error.strerror or str(error) or type(error).__name__


def unreachable_message(exchange: str, error: BaseException) -> str:
    """``cannot reach <exchange> (no network or DNS?): <root cause>; try --source sim or a replay ...``"""
    return f"cannot reach {exchange} (no network or DNS?): {unreachable_detail(error)}; {OFFLINE_HINT}"


def blocked_message(exchange: str, status: int = 451) -> str:
    """``<exchange> is blocked in this region (HTTP 451); try --source sim or a replay ...``"""
    return f"{exchange} is blocked in this region (HTTP {status}); {OFFLINE_HINT}"


def network_advice(exchange: str, error: BaseException) -> str | None:
    """The one-line message for ``error`` when it means ``exchange`` cannot be used from here — unreachable
    or blocked in this region — with what to run instead; None for any other error.

    Takes a ccxt error, a socket / aiohttp / timeout error, or the ``MdxError`` a ``LiveSource`` stream
    ended with (whose message already is that line). Not redacted: pass errors that hold no secrets, or
    redact the result (``LiveSource.redact``)."""
    if isinstance(error, ExchangeUnreachable | ExchangeBlocked):
        return str(error)
    if isinstance(error, MdxError):
        return None
    status = blocked_status(error)
    if status is not None:
        return blocked_message(exchange, status)
    if is_unreachable(error):
        return unreachable_message(exchange, error)
    return None


def retry_after_s(headers: Mapping[str, Any] | None) -> float | None:
    """The ``Retry-After`` of a response's ``headers`` in seconds (a number of seconds; an HTTP date is not
    read), or None when absent or unreadable."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if 0 <= seconds < 86_400 else None
    return None


__all__ = [
    "OFFLINE_HINT",
    "blocked_message",
    "blocked_status",
    "http_status",
    "is_unreachable",
    "network_advice",
    "retry_after_s",
    "unreachable_detail",
    "unreachable_message",
]
