"""corral's own Redis client: pipelining, errors, reconnects, the command
timeout against a silent peer, keepalive, URLs."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.backends.redis import RedisBackend
from corral.backends.redis.client import (
    RedisClient,
    RedisConnectionError,
    RedisReplyError,
    Replied,
    block_seconds,
    enable_keepalive,
    pack_args,
    pack_command,
    parse_redis_url,
)
from corral.backends.redis.connection import CommandHead
from corral.errors import ConfigurationError, StoreUnavailableError
from tests.conftest import start_redis_server, stop_redis_server


async def test_concurrent_commands_share_one_connection_in_order(redis_url: str) -> None:
    client = RedisClient(redis_url)
    try:
        await client.execute("DEL", "pipelined")
        replies = await asyncio.gather(
            *(client.execute("RPUSH", "pipelined", i) for i in range(500))
        )
        assert replies == list(range(1, 501))
        assert await client.execute("LRANGE", "pipelined", 0, 2) == ["0", "1", "2"]
        clients = await client.execute("CLIENT", "LIST")
        assert clients.count("cmd=client") == 1  # one connection served them all
    finally:
        await client.close()


async def test_error_replies_raise_and_do_not_disturb_others(redis_url: str) -> None:
    client = RedisClient(redis_url)
    try:
        await client.execute("SET", "a-string", "x")
        replies: list[object] = await asyncio.gather(
            client.execute("GET", "a-string"),
            client.execute("LPUSH", "a-string", "y"),
            client.execute("GET", "a-string"),
            return_exceptions=True,
        )
        good, bad, after = replies
        assert good == "x"
        assert isinstance(bad, RedisReplyError)
        assert "WRONGTYPE" in str(bad)
        assert after == "x"
    finally:
        await client.close()


async def test_a_cancelled_command_keeps_replies_in_order(redis_url: str) -> None:
    client = RedisClient(redis_url)
    try:
        await client.execute("SET", "k1", "one")
        await client.execute("SET", "k2", "two")
        slow = asyncio.ensure_future(client.execute("GET", "k1"))
        nxt = asyncio.ensure_future(client.execute("GET", "k2"))
        slow.cancel()
        assert await nxt == "two"
        assert await client.execute("GET", "k1") == "one"
    finally:
        await client.close()


def _head(*args: str) -> CommandHead:
    return CommandHead(len(args), pack_args(args), args)


async def test_a_reply_sent_now_is_handed_over_as_it_is_read(redis_url: str) -> None:
    client = RedisClient(redis_url)
    try:
        await client.execute("SET", "replied", "v")
        got: list[tuple[object, object]] = []
        turn: list[int] = []

        def boom(reply: object, error: BaseException | None) -> None:
            raise RuntimeError("a handler's own bug")

        def keep(reply: object, error: BaseException | None) -> None:
            got.append((reply, error))
            # Called while the reply is read: the next command's future is not set yet.
            turn.append(int(later.done()))

        loop = asyncio.get_running_loop()
        reported: list[dict[str, object]] = []
        loop.set_exception_handler(lambda _, context: reported.append(context))
        assert client.send_now(_head("GET"), ["replied"], Replied(boom))
        assert client.send_now(_head("LPUSH"), ["replied", "x"], Replied(keep))
        assert client.send_now(_head("GET"), ["replied"], Replied(keep))
        later = asyncio.ensure_future(client.execute("GET", "replied"))
        assert await later == "v"
        assert [reply for reply, _ in got] == [None, "v"]
        assert isinstance(got[0][1], RedisReplyError)  # WRONGTYPE, to the handler
        assert turn == [0, 0]
        # The failing handler is reported, and the replies after it still arrived.
        assert [str(c["exception"]) for c in reported] == ["a handler's own bug"]
    finally:
        asyncio.get_running_loop().set_exception_handler(None)
        await client.close()


async def test_nothing_is_sent_now_on_a_connection_not_open(redis_url: str) -> None:
    client = RedisClient(redis_url)
    try:
        got: list[object] = []
        replied = Replied(lambda reply, error: got.append(reply))
        assert not client.send_now(_head("PING"), [], replied)
        assert await client.execute("PING") == "PONG"  # opens the connection
        assert client.send_now(_head("PING"), [], replied)
        await client.execute("PING")
        assert got == ["PONG"]
    finally:
        await client.close()


async def test_reconnects_after_the_connection_is_killed(redis_url: str) -> None:
    client = RedisClient(redis_url, name="corral-victim")
    admin = RedisClient(redis_url)
    try:
        assert await client.execute("PING") == "PONG"
        in_flight = asyncio.ensure_future(client.execute("BLPOP", "nothing-comes", 30))
        await asyncio.sleep(0.2)
        listing = await admin.execute("CLIENT", "LIST")
        victim = next(line for line in listing.splitlines() if "name=corral-victim" in line)
        client_id = victim.split("id=", 1)[1].split()[0]
        assert await admin.execute("CLIENT", "KILL", "ID", client_id) == 1
        # What was in flight has an unknown outcome: it fails, it is not retried.
        with pytest.raises(RedisConnectionError, match="connection to Redis"):
            await in_flight
        # The next command connects again, with the same name.
        assert await client.execute("PING") == "PONG"
        assert await client.execute("CLIENT", "GETNAME") == "corral-victim"
    finally:
        await client.close()
        await admin.close()


async def test_large_and_non_ascii_values_round_trip(redis_url: str) -> None:
    client = RedisClient(redis_url)
    try:
        big = "é" * 5_000_000
        await client.execute("SET", "big", big)
        assert await client.execute("GET", "big") == big
    finally:
        await client.close()


async def test_unreachable_server_is_a_clear_error() -> None:
    client = RedisClient("redis://127.0.0.1:1/0?socket_connect_timeout=2")
    with pytest.raises(RedisConnectionError, match=r"cannot connect to Redis at 127\.0\.0\.1:1"):
        await client.execute("PING")
    await client.close()


async def test_closed_client_refuses_commands(redis_url: str) -> None:
    client = RedisClient(redis_url)
    await client.execute("PING")
    await client.close()
    with pytest.raises(RedisConnectionError, match="closed"):
        await client.execute("PING")


def test_urls() -> None:
    s = parse_redis_url("redis://user:p%40ss@example.com:6380/3")
    assert (s.host, s.port, s.db, s.username, s.password) == (
        "example.com",
        6380,
        3,
        "user",
        "p@ss",
    )
    s = parse_redis_url("redis://:secret@localhost")
    assert (s.username, s.password, s.db) == (None, "secret", 0)
    s = parse_redis_url("unix:///run/redis.sock?db=2")
    assert (s.path, s.db, s.host) == ("/run/redis.sock", 2, None)
    s = parse_redis_url("rediss://cache.internal:6380/0?ssl_cert_reqs=none")
    assert s.ssl is not None
    assert s.server_hostname == "cache.internal"
    with pytest.raises(ConfigurationError, match="redis://, rediss:// or unix://"):
        parse_redis_url("http://localhost")
    with pytest.raises(ConfigurationError, match="bad Redis URL"):
        parse_redis_url("redis://localhost/zero")
    with pytest.raises(ConfigurationError, match="ssl_cert_reqs"):
        parse_redis_url("rediss://localhost?ssl_cert_reqs=maybe")


def test_the_command_timeout_is_read_from_the_url() -> None:
    assert parse_redis_url("redis://localhost/0").timeout == 5.0
    assert parse_redis_url("redis://localhost/0?socket_timeout=2.5").timeout == 2.5
    settings = parse_redis_url("unix:///run/redis.sock?socket_timeout=1&socket_connect_timeout=3")
    assert (settings.timeout, settings.connect_timeout) == (1.0, 3.0)
    for bad in ("0", "-1", "soon", "nan", "inf", ""):
        with pytest.raises(ConfigurationError, match="socket_timeout is a number of seconds > 0"):
            parse_redis_url(f"redis://localhost/0?socket_timeout={bad}")


def test_blocking_commands_are_allowed_their_block_time() -> None:
    assert block_seconds(("BZPOPMIN", "k", 2.5)) == 2.5
    assert block_seconds(("blpop", "a", "b", "3")) == 3.0
    assert block_seconds(("XREAD", "COUNT", 10, "BLOCK", 1500, "STREAMS", "s", "$")) == 1.5
    assert block_seconds(("BZPOPMIN", "k", 0)) == float("inf")  # 0 blocks for ever
    assert block_seconds(("XREAD", "COUNT", 10, "STREAMS", "s", "$")) is None
    assert block_seconds(("GET", "k")) is None


def test_keepalive_is_switched_on_with_the_platform_tuning() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        enable_keepalive(sock)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 10
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3


@contextlib.asynccontextmanager
async def silent_peer(port: int = 0) -> AsyncIterator[int]:
    """A TCP server on loopback that accepts connections and never answers; yields its port."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keep the connection open, read nothing, say nothing

    server = await asyncio.start_server(accept, "127.0.0.1", port)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def test_a_silent_peer_fails_every_command_in_flight_within_the_timeout() -> None:
    async with silent_peer() as port:
        client = RedisClient(f"redis://127.0.0.1:{port}/0?socket_timeout=0.5")
        try:
            # The bound only keeps a broken client from hanging the test.
            async with asyncio.timeout(10):
                replies = await asyncio.gather(
                    client.execute("PING"),
                    client.execute("SET", "k", "v"),
                    client.execute_many([("MULTI",), ("INCR", "n"), ("EXEC",)]),
                    return_exceptions=True,
                )
            for reply in replies:
                assert isinstance(reply, RedisConnectionError)
                assert "did not answer within 0.5s" in str(reply)
                assert "outcome" in str(reply)
        finally:
            await client.close()


async def test_a_silent_store_is_reported_as_unavailable_by_the_backend(queue_name: str) -> None:
    async with silent_peer() as port:
        backend = RedisBackend(f"redis://127.0.0.1:{port}/0?socket_timeout=0.5")
        try:
            async with asyncio.timeout(10):
                with pytest.raises(StoreUnavailableError, match="did not answer"):
                    await backend.is_paused(queue_name)
                with pytest.raises(StoreUnavailableError, match="did not answer"):
                    await backend.wait_for_job(queue_name, 200)
        finally:
            await backend.close()


async def test_a_blocking_command_longer_than_the_timeout_is_not_cut_short(redis_url: str) -> None:
    client = RedisClient(redis_url + "?socket_timeout=0.3")
    try:
        await client.execute("DEL", "never-filled")
        assert await client.execute("BZPOPMIN", "never-filled", 1.2) is None
        assert (
            await client.execute("XREAD", "COUNT", 1, "BLOCK", 1200, "STREAMS", "nil", "$") is None
        )
        # Two blocking waits queued on one connection: the second is timed from
        # when the first answered, not from when it was sent.
        first, second = await asyncio.gather(
            client.execute("BLPOP", "never-filled-2", 0.8),
            client.execute("BLPOP", "never-filled-2", 0.8),
        )
        assert (first, second) == (None, None)
        assert await client.execute("PING") == "PONG"
    finally:
        await client.close()


async def test_after_a_silent_peer_heals_the_client_reconnects(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    async with silent_peer() as port:
        client = RedisClient(f"redis://127.0.0.1:{port}/0?socket_timeout=0.5", name="healed")
        async with asyncio.timeout(10):
            with pytest.raises(RedisConnectionError, match="did not answer"):
                await client.execute("PING")
    server = await asyncio.to_thread(start_redis_server, tmp_path, port=port)
    try:
        assert await client.execute("PING") == "PONG"
        assert await client.execute("CLIENT", "GETNAME") == "healed"
    finally:
        await client.close()
        await asyncio.to_thread(stop_redis_server, server)


def test_pack_command() -> None:
    assert pack_command(("SET", "k", 5, 1.5, b"\x00")) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$3\r\n1.5\r\n$1\r\n\x00\r\n"
    )
    with pytest.raises(TypeError, match="cannot send dict"):
        pack_command(("SET", {}))


def test_every_argument_type_packs_as_the_server_reads_it() -> None:
    """Commands are packed by hiredis when it knows every argument's type, else one by
    one: either way each argument is the bulk string Redis must read."""

    class Code(enum.IntEnum):
        REFUSED = -2

    args: list[object] = ["é☃", "", 0, -3, 2**70, 0.1, 1e20, 1 / 3, b"\x00\xff", True, False]
    args += [Code.REFUSED, bytearray(b"ba"), memoryview(b"mv")]
    expected = [
        "é☃".encode(), b"", b"0", b"-3", str(2**70).encode(), b"0.1", b"1e+20",
        repr(1 / 3).encode(), b"\x00\xff", b"1", b"0", b"-2", b"ba", b"mv",
    ]  # fmt: skip
    for arg, data in zip(args, expected, strict=True):
        bulk = b"$%d\r\n%s\r\n" % (len(data), data)
        assert pack_command(("ECHO", arg)) == b"*2\r\n$4\r\nECHO\r\n" + bulk, arg
        assert pack_args((arg,)) == bulk, arg
    mixed = pack_command(("ECHO", *args))
    assert mixed.startswith(b"*15\r\n$4\r\nECHO\r\n")
    with pytest.raises(UnicodeEncodeError):
        pack_command(("ECHO", "\ud800"))


async def test_an_unreachable_store_is_reported_as_unavailable(queue_name: str) -> None:
    from corral import Queue, StoreUnavailableError

    async with Queue(queue_name, url="redis://127.0.0.1:1/0?socket_connect_timeout=2") as queue:
        with pytest.raises(StoreUnavailableError, match="cannot connect to Redis at 127"):
            await queue.add("x", {})
