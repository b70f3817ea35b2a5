"""The Cluster and Sentinel connections keep corral's connection rules (RESP2
replies, errors as RedisReplyError / RedisConnectionError, blocking commands on
dedicated connections, SCAN over every primary) on the session's real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from corral.backends.redis.connection import (
    RedisConnection,
    RedisConnectionError,
    RedisReplyError,
)
from corral.backends.redis.deployments import parse_deployment_url
from corral.backends.redis.redispy import SentinelConnection, _client_kwargs, open_deployment

pytestmark = [pytest.mark.cluster, pytest.mark.redis_only]


@pytest.fixture(params=["cluster", "sentinel"])
async def managed(request: pytest.FixtureRequest) -> AsyncIterator[RedisConnection]:
    url = request.getfixturevalue(f"{request.param}_url")
    connection = open_deployment(parse_deployment_url(url))
    try:
        yield connection
    finally:
        await connection.close()


async def test_replies_keep_resp2_shapes_and_errors_keep_the_server_text(
    managed: RedisConnection, queue_name: str
) -> None:
    key = "{" + queue_name + "}:h"
    assert await managed.execute("ECHO", "hi") == "hi"
    await managed.execute("HSET", key, "a", "1")
    assert await managed.execute("HGETALL", key) == ["a", "1"]
    with pytest.raises(RedisReplyError, match="WRONGTYPE"):
        await managed.execute("LPUSH", key, "x")
    with pytest.raises(RedisReplyError, match=r"^NOSCRIPT"):
        await managed.execute("EVALSHA", "0" * 40, 1, key)
    with pytest.raises(RedisReplyError, match="boom"):
        await managed.execute("EVAL", "return redis.error_reply('boom')", 1, key)
    assert "password" not in repr(managed)


async def test_a_blocking_command_waits_on_a_dedicated_connection(
    managed: RedisConnection, queue_name: str
) -> None:
    key = "{" + queue_name + "}:marker"
    blocking = managed.dedicated(name="corral-test")
    try:
        waiting = asyncio.create_task(blocking.execute("BZPOPMIN", key, 0))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await managed.execute("ZADD", key, 1, "m")  # the shared connection is not held up
        assert await waiting == [key, "m", "1"]
    finally:
        await blocking.close()


async def test_a_closed_connection_refuses_commands(managed: RedisConnection) -> None:
    await managed.close()
    with pytest.raises(RedisConnectionError, match="closed"):
        await managed.execute("PING")


async def test_scan_on_a_cluster_walks_every_primary(cluster_url: str, queue_name: str) -> None:
    connection = open_deployment(parse_deployment_url(cluster_url))
    try:
        keys = {"{" + f"{queue_name}-{i}" + "}:k" for i in range(30)}
        for key in keys:
            await connection.execute("SET", key, "1")
        found: set[str] = set()
        cursor = "0"
        while True:
            cursor, batch = await connection.execute(
                "SCAN", cursor, "MATCH", "{" + queue_name + "-*", "COUNT", 5
            )
            found |= set(batch)
            if cursor == "0":
                break
        assert found == keys
        assert await connection.execute("SCAN", "9-0") == ["0", []]  # past the last primary
        with pytest.raises(RedisReplyError, match="must name a key"):
            await connection.execute_many([("PING",)])
    finally:
        await connection.close()


def test_tls_settings_reach_the_servers_and_the_sentinels() -> None:
    url = "rediss+sentinel://s1:26379/svc?ssl_cert_reqs=none"
    deployment = parse_deployment_url(url)
    kwargs = _client_kwargs(deployment, name=None, blocking=False)
    assert (kwargs["ssl"], kwargs["ssl_cert_reqs"], kwargs["ssl_check_hostname"]) == (
        True,
        "none",
        False,
    )
    connection = SentinelConnection(deployment)
    assert connection._sentinel.sentinel_kwargs["ssl"] is True
