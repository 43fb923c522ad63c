"""The Redis source's lean connection (``mdx.sources.redis.wire``) against a real ``redis-server``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from redis.exceptions import ResponseError

from mdx.sources.redis import RedisSource
from mdx.sources.redis.wire import Wire, WireError
from tests.redis_server import RedisServer, redis_binary


def test_the_wire_answers_commands_and_stays_in_step_after_an_error_reply(redis_url: str) -> None:
    async def run() -> None:
        wire = await Wire.open(redis_url)
        try:
            assert await wire.call("SET", "k", "v") == b"OK"
            assert await wire.pipeline([("GET", "k"), ("RPUSH", "l", 1, 2), ("GET", "missing")]) == [
                b"v",
                2,
                None,
            ]
            with pytest.raises(ResponseError, match="WRONGTYPE"):
                await wire.pipeline([("GET", "l"), ("GET", "k")])
            assert await wire.call("GET", "k") == b"v"  # the reply after the error was read, not left
        finally:
            await wire.close()

    asyncio.run(run())


def test_the_wire_uses_the_database_of_the_url(redis_server: RedisServer) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/3"

    async def run() -> None:
        wire = await Wire.open(url)
        try:
            await wire.call("SET", "where", "db3")
        finally:
            await wire.close()

    asyncio.run(run())
    assert redis.Redis(port=redis_server.port, db=3).get("where") == b"db3"
    assert redis.Redis(port=redis_server.port, db=0).get("where") is None


def test_a_wrong_password_is_a_wire_error_that_does_not_show_it(tmp_path: Path) -> None:
    secret, wrong = "s3cr3t-wire-pw", "not-the-pw-42"
    server = RedisServer(redis_binary(), tmp_path, password=secret)
    server.start()
    try:

        async def run() -> None:
            with pytest.raises(WireError) as refused:
                await Wire.open(server.url.replace(secret, wrong))
            assert wrong not in str(refused.value) and secret not in str(refused.value)
            assert "WRONGPASS" in str(refused.value) or "invalid" in str(refused.value)
            with pytest.raises(WireError):  # no password at all: the first command is refused
                wire = await Wire.open(f"redis://127.0.0.1:{server.port}/0")
                await wire.call("GET", "k")
            for url in (server.url, server.url.replace("://:", "://default:")):  # password, user:password
                wire = await Wire.open(url)
                assert await wire.call("PING") == b"PONG"
                await wire.close()

        asyncio.run(run())
    finally:
        server.stop()


def test_a_server_that_went_away_is_a_wire_error(redis_server: RedisServer) -> None:
    async def run() -> None:
        wire = await Wire.open(redis_server.url)
        assert await wire.call("PING") == b"PONG"
        redis_server.stop()
        with pytest.raises(WireError):
            await wire.call("PING", timeout_s=5.0)
        with pytest.raises(WireError):
            await Wire.open(redis_server.url)

    asyncio.run(run())


def test_one_read_takes_a_whole_publisher_round_written_while_it_waited(redis_url: str) -> None:
    """The source's blocked read wakes at the first entry of a MULTI/EXEC round and still brings every
    entry of it, across streams, in one round trip."""
    source = RedisSource(redis_url, ["BTC/USDT"], block_ms=5000)
    source.offsets = {"a": "0-0", "b": "0-0"}
    writer = redis.Redis.from_url(redis_url)

    async def run() -> list[object]:
        wire = await Wire.open(redis_url)
        try:
            read = asyncio.create_task(source._read(wire))
            await asyncio.sleep(0.2)  # let it block (the test holds whatever the timing: see below)
            pipe = writer.pipeline(transaction=True)
            for n in range(1, 51):
                pipe.xadd("a" if n % 2 else "b", {"e": str(n)}, id=f"{n}-0")
            await asyncio.to_thread(pipe.execute)
            reply = await read
        finally:
            await wire.close()
        return reply or []

    reply = asyncio.run(run())
    entries = {stream: [fields[1] for _, fields in got] for stream, got in reply}  # type: ignore[misc]
    assert entries == {
        b"a": [str(n).encode() for n in range(1, 51, 2)],
        b"b": [str(n).encode() for n in range(2, 51, 2)],
    }
