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


LOOPBACK = "127.0.0.1"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (certificate, key) PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mdx test redis")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_a_tls_url_checks_the_certificate_unless_told_not_to(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = RedisServer(redis_binary(), tmp_path, tls=(cert, key))
    server.start()
    try:
        assert server.url.startswith("rediss://")

        async def run() -> None:
            with pytest.raises(WireError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
                await Wire.open(server.url)  # a certificate no known authority signed
            for query in (f"?ssl_ca_certs={cert}", "?ssl_cert_reqs=none"):
                wire = await Wire.open(server.url + query)
                assert await wire.call("PING") == b"PONG"
                await wire.close()
            with pytest.raises(WireError):  # TLS spoken to a TLS port only: plain redis:// is refused
                wire = await Wire.open(server.url.replace("rediss://", "redis://"))
                await wire.call("PING", timeout_s=5.0)

        asyncio.run(run())
    finally:
        server.stop()
