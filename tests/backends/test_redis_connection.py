"""The Redis backend behind the RedisConnection protocol: a connection handed in
(corral's own client, or an adapter over redis-py), backends shared with
``share(prefix)`` on one connection, and who closes what."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import redis.exceptions
from redis.asyncio import Redis

from corral._clock import now_ms
from corral.backends import open_backend
from corral.backends.base import Completed, FetchRequest, JobState, NewJob
from corral.backends.redis import RedisBackend
from corral.backends.redis.client import RedisClient
from corral.backends.redis.connection import (
    CommandHead,
    RedisConnection,
    RedisConnectionError,
    RedisReplyError,
)
from corral.errors import ConfigurationError


def new_job(name: str = "j") -> NewJob:
    return NewJob(name, '{"n":1}', "{}", now_ms())


async def names_in_client_list(raw: Redis) -> list[str]:
    """The name of every client connected to the server (from a redis-py client)."""
    return [str(c.get("name", "")) for c in await raw.client_list()]


async def until(condition: Any) -> None:
    """Wait for ``condition()`` (a coroutine function) to hold; the server notices a
    closed connection asynchronously."""
    for _ in range(500):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not come true in 10 s")


class RedisPyConnection:
    """A RedisConnection over redis-py's asyncio client: the protocol is all the
    backend needs, whoever speaks to Redis."""

    def __init__(self, url: str, *, name: str | None = None) -> None:
        self.url = url
        self.client: Any = Redis.from_url(url, decode_responses=True, client_name=name, protocol=2)
        self.client.response_callbacks.clear()  # raw RESP2 shapes, as the protocol says
        self.closed = False

    async def _call(self, *args: Any) -> Any:
        try:
            return await self.client.execute_command(*args)
        except redis.exceptions.ResponseError as exc:
            raise RedisReplyError(str(exc)) from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise RedisConnectionError(str(exc)) from None

    async def execute(self, *args: Any) -> Any:
        return await self._call(*args)

    async def execute_with_head(self, head: CommandHead, args: Sequence[Any]) -> Any:
        return await self._call(*head.args, *args)

    async def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        # One pipeline: sent together on one connection, nothing in between.
        pipeline = self.client.pipeline(transaction=False)
        for command in commands:
            pipeline.execute_command(*command)
        try:
            return list(await pipeline.execute())
        except redis.exceptions.ResponseError as exc:
            raise RedisReplyError(str(exc)) from None

    def dedicated(self, *, name: str | None = None) -> RedisPyConnection:
        return RedisPyConnection(self.url, name=name)

    async def close(self) -> None:
        self.closed = True
        await self.client.aclose()


def test_the_adapter_and_the_fast_client_are_connections(redis_url: str) -> None:
    assert isinstance(RedisPyConnection(redis_url), RedisConnection)
    assert isinstance(RedisClient(redis_url), RedisConnection)


def test_a_client_that_is_not_a_connection_is_refused_with_the_fix(redis_url: str) -> None:
    with pytest.raises(TypeError, match=r"connection must be a RedisConnection.*not Redis; wrap"):
        RedisBackend(redis_url, connection=Redis.from_url(redis_url))  # type: ignore[arg-type]


async def test_open_backend_takes_a_connection_for_redis_only(redis_url: str) -> None:
    given = RedisClient(redis_url)
    try:
        backend = open_backend(None, connection=given)
        assert isinstance(backend, RedisBackend)
        assert backend.redis is given
        assert await backend.list_queues() is not None
        with pytest.raises(ConfigurationError, match="not a Redis URL"):
            open_backend("sqlite:///x.db", connection=given)
    finally:
        await given.close()


@pytest.mark.parametrize("kind", ["corral", "redis-py"])
async def test_a_given_connection_serves_every_operation_and_is_not_closed(
    redis_url: str, raw: Redis, queue_name: str, kind: str
) -> None:
    name = f"given-{uuid.uuid4().hex[:8]}"
    given: RedisConnection = (
        RedisClient(redis_url, name=name)
        if kind == "corral"
        else RedisPyConnection(redis_url, name=name)
    )
    backend = RedisBackend("redis://the-given-one/0", connection=given)
    try:
        cursor = await backend.events_cursor(queue_name)
        (job_id,) = await backend.add_jobs(queue_name, [new_job()])
        # Blocking commands go to dedicated connections made from the given one.
        assert await backend.wait_for_job(queue_name, 1_000) == 0
        events = await backend.read_events(queue_name, cursor, block_ms=1_000)
        assert [e.name for e in events][:2] == ["added", "waiting"]
        fetched = await backend.move_to_active(queue_name, FetchRequest("tok", 30_000), now_ms())
        assert fetched.job is not None
        assert fetched.job.id == job_id
        await backend.move_to_finished(queue_name, job_id, "tok", Completed("1"), now_ms())
        assert await backend.get_state(queue_name, job_id) == JobState.COMPLETED
        assert await backend.get_logs(queue_name, job_id) == ([], 0)
        assert (await names_in_client_list(raw)).count(name) == 1
        marker = f"bull:{base64.b64encode(queue_name.encode()).decode()}"
        assert marker in await names_in_client_list(raw)
    finally:
        await backend.close()
    # The backend closed what it opened (the marker connection), not the given one.
    assert await given.execute("PING") == "PONG"
    await until(lambda: _absent(raw, marker))
    assert (await names_in_client_list(raw)).count(name) == 1
    await given.close()


async def _absent(raw: Redis, name: str) -> bool:
    return name not in await names_in_client_list(raw)


async def test_shared_backends_keep_their_queues_apart_on_one_connection(
    redis_url: str, raw: Redis, queue_name: str
) -> None:
    one = RedisBackend(redis_url, prefix=f"p1-{uuid.uuid4().hex[:6]}")
    two = one.share(f"p2-{uuid.uuid4().hex[:6]}")
    three = one.share(one.prefix)
    try:
        assert two.prefix != one.prefix
        name = f"shared-{uuid.uuid4().hex[:8]}"
        await one.redis.execute("CLIENT", "SETNAME", name)
        await one.add_jobs(queue_name, [new_job("a")])
        await two.add_jobs(queue_name, [new_job("b"), new_job("c")])
        await two.add_jobs("only-in-two", [new_job("d")])
        waiting = [JobState.WAITING]
        assert await one.get_counts(queue_name, waiting) == {JobState.WAITING: 1}
        assert await two.get_counts(queue_name, waiting) == {JobState.WAITING: 2}
        assert await one.list_queues() == [queue_name]
        assert await two.list_queues() == sorted([queue_name, "only-in-two"])
        # Both talk through the one connection named above: one line in CLIENT LIST.
        assert await two.redis.execute("CLIENT", "GETNAME") == name
        assert (await names_in_client_list(raw)).count(name) == 1
        # Closing a shared backend releases nothing: the others keep working.
        await two.close()
        await three.close()
        assert await one.add_jobs(queue_name, [new_job("e")]) == ["2"]
        assert await one.redis.execute("CLIENT", "GETNAME") == name
        assert await two.get_counts(queue_name, waiting) == {JobState.WAITING: 2}
    finally:
        await one.close()
    # The owner's close releases the connection for every backend shared from it.
    await until(lambda: _absent(raw, name))
