"""A lean Redis connection for the consumer's read loop: RESP over asyncio streams, parsed by hiredis.

A dashboard kernel reading the collector's streams does one ``XREAD`` per publisher flush, hundreds a
second, and twenty kernels share two cores: redis-py's asyncio client spends most of a read in Python
(command objects, connection-pool bookkeeping, reply callbacks turning every entry into a dict), so the
reads of twenty kernels alone kept a core busy. ``Wire`` writes commands packed by hiredis and hands back
hiredis's raw replies (lists of bytes, ints, None): a stream entry stays ``[id, [field, value]]``.

``Wire.open(url)`` connects to ``redis://`` or ``rediss://`` (TLS; ``?ssl_cert_reqs=none`` and
``?ssl_ca_certs=PATH`` as for redis-py) URLs with the user, password and database in them (``AUTH``,
``SELECT``). Any failure — refused, reset, timed out, a wrong or missing password, a database the
server lacks — is a ``WireError``, a ``ConnectionError`` (so ``CONNECTION_ERRORS`` covers it) whose text
never holds the password; the connection is then closed, and the caller opens a new ``Wire``. An error
reply to a command (``WRONGTYPE`` ...) is a ``ResponseError`` and leaves the connection usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import hiredis
from redis.exceptions import ResponseError

from .connection import check_url

CONNECT_TIMEOUT_S = 2.0
READ_SIZE = 1 << 16
AUTH_ERRORS = ("NOAUTH", "WRONGPASS")  # error replies that are about the connection, not the command
Command = Sequence[str | bytes | int]


class WireError(ConnectionError):
    """The connection failed or was closed; open a new one."""


class Wire:
    """One connection; one caller at a time (the source's read loop). See the module docstring."""

    __slots__ = ("_parser", "_reader", "_writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader()

    @classmethod
    async def open(cls, url: str) -> Wire:
        """A connection to ``url``, authenticated and on its database."""
        parts = urlsplit(check_url(url))
        host = parts.hostname or "localhost"
        port = parts.port or 6379
        tls = _tls(parts.query) if parts.scheme == "rediss" else None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        except (OSError, TimeoutError) as error:
            raise WireError(f"cannot connect to {host}:{port}: {type(error).__name__} {error}") from None
        wire = cls(reader, writer)
        setup: list[Command] = []
        if parts.password is not None:
            user = unquote(parts.username) if parts.username else ""
            password = unquote(parts.password)
            setup.append(("AUTH", user, password) if user else ("AUTH", password))
        db = parts.path.strip("/")
        if db and db != "0":
            setup.append(("SELECT", db))
        try:
            if setup:
                await wire.pipeline(setup, timeout_s=CONNECT_TIMEOUT_S)
        except ResponseError as error:  # a database the server lacks: said, and retried like an outage
            await wire.close()
            raise WireError(str(error)) from None
        except BaseException:
            await wire.close()
            raise
        return wire

    async def call(self, *command: str | bytes | int, timeout_s: float = 10.0) -> Any:
        """One command's reply."""
        return (await self.pipeline((command,), timeout_s=timeout_s))[0]

    async def pipeline(self, commands: Sequence[Command], *, timeout_s: float = 10.0) -> list[Any]:
        """The replies of ``commands`` sent in one write; ``ResponseError`` for the first error reply
        (after every reply was read, so the connection stays in step)."""
        writer = self._writer
        writer.write(b"".join(hiredis.pack_command(tuple(c)) for c in commands))
        replies: list[Any] = []
        parser = self._parser
        want = len(commands)
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    reply = parser.gets()
                    while reply is not False:
                        replies.append(reply)
                        if len(replies) == want:
                            break
                        reply = parser.gets()
                    if len(replies) == want:
                        break
                    data = await self._reader.read(READ_SIZE)
                    if not data:
                        raise WireError("connection closed by the server")
                    parser.feed(data)
        except (OSError, TimeoutError, hiredis.ProtocolError) as error:
            self._writer.close()
            if isinstance(error, WireError):
                raise
            raise WireError(f"{type(error).__name__} {error}".strip()) from None
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                if str(reply).startswith(AUTH_ERRORS):  # like a refused connection: retried, and said so
                    self._writer.close()
                    raise WireError(str(reply))
                raise ResponseError(str(reply))
        return replies

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self._writer.wait_closed()


def _tls(query: str) -> ssl.SSLContext:
    """The TLS context of a ``rediss://`` URL: certificates verified, unless its query says
    ``ssl_cert_reqs=none``; ``ssl_ca_certs=PATH`` names the CA file (redis-py's names for both)."""
    options = dict(parse_qsl(query))
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs") or None)
    if options.get("ssl_cert_reqs", "required").lower() == "none":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


__all__ = ["Wire", "WireError"]
