"""corral's own Redis client: pipelining, errors, reconnects, URLs."""

from __future__ import annotations

import asyncio

import pytest

from corral.backends.redis.client import (
    RedisClient,
    RedisConnectionError,
    RedisReplyError,
    pack_command,
    parse_redis_url,
)
from corral.errors import ConfigurationError


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


def test_pack_command() -> None:
    assert pack_command(("SET", "k", 5, 1.5, b"\x00")) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$3\r\n1.5\r\n$1\r\n\x00\r\n"
    )
    with pytest.raises(TypeError, match="cannot send dict"):
        pack_command(("SET", {}))


async def test_an_unreachable_store_is_reported_as_unavailable(queue_name: str) -> None:
    from corral import Queue, StoreUnavailableError

    async with Queue(queue_name, url="redis://127.0.0.1:1/0?socket_connect_timeout=2") as queue:
        with pytest.raises(StoreUnavailableError, match="cannot connect to Redis at 127"):
            await queue.add("x", {})
