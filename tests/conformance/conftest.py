"""Fixtures for the conformance suite: every test here runs on every backend.

Three stores: SQLite, a standalone Redis, and a Redis Cluster (``redis-cluster``,
marked ``cluster``: ``-m 'not cluster'`` leaves it out locally; one cluster
serves the whole session). On the cluster every queue name is braced
(``{q-…}``), so each test's queues, and the queues it derives from that name,
share one hash slot, as a Cluster deployment must.

``clock`` drives time instead of sleeping: ``await clock.advance(seconds)`` moves
corral's clock (``corral._clock.now_ms``, the ``now`` every operation hands its
store) and, on Redis, ages the queue's keys that expire by the server's clock
(locks, the limiter window, the stalled-check gate), as that much time would.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis, RedisCluster

from corral import Queue, Worker, _clock
from corral.backends.redis.client import RedisClient
from tests.contract.support import Clock
from tests.deployments import raw_client
from tests.key_check import LOG, breaches, checking_keys, key_specs
from tests.support import Workers

WorkerFactory = Callable[..., Worker]


@pytest.fixture(
    params=["sqlite", "redis", pytest.param("redis-cluster", marks=pytest.mark.cluster)]
)
def url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh store on each backend in turn (and on a Redis Cluster)."""
    fixture = {"sqlite": "sqlite_url", "redis": "redis_url", "redis-cluster": "cluster_url"}
    return str(request.getfixturevalue(fixture[request.param]))


@pytest.fixture(autouse=True)
async def declared_keys(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    """On the standalone Redis, every script runs with the key check of
    :mod:`tests.key_check`; a test fails if a script touched a key its caller knew
    without naming it in KEYS (what a Redis Cluster's contract requires)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or callspec.params.get("url") != "redis":
        yield
        return
    raw = RedisClient(str(request.getfixturevalue("redis_url")))
    try:
        specs = await key_specs(raw)
        await raw.execute("DEL", LOG, f"{LOG}:calls")
        with checking_keys(monkeypatch, specs):
            yield
        found = breaches(await raw.execute("LRANGE", LOG, 0, -1))
        await raw.execute("DEL", LOG, f"{LOG}:calls")
        assert not found, "scripts touched keys their callers did not declare:\n" + "\n".join(found)
    finally:
        await raw.close()


@pytest.fixture
def queue_name(request: pytest.FixtureRequest) -> str:
    name = f"q-{uuid.uuid4().hex[:12]}"
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("url") == "redis-cluster":
        return "{" + name + "}"
    return name


@pytest.fixture
async def queue(url: str, queue_name: str) -> AsyncIterator[Queue]:
    async with Queue(queue_name, url=url) as q:
        yield q


@pytest.fixture
async def make_worker(url: str, queue_name: str) -> AsyncIterator[WorkerFactory]:
    """Make workers on the test's queue; all are closed at the end of the test."""
    async with contextlib.aclosing(Workers(url)) as workers:
        yield functools.partial(workers.make, queue_name)


class ApiClock:
    """corral's clock, driven: real time plus what :meth:`advance` added."""

    def __init__(self, raw: Redis | RedisCluster | None, queue: str) -> None:
        self._store = Clock(raw, queue)  # type: ignore[arg-type]  # a cluster client too
        self._offset_ms = 0
        self._real = _clock.now_ms

    def now_ms(self) -> int:
        """What corral reads as the time."""
        return self._real() + self._offset_ms

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for corral and for the store."""
        ms = round(seconds * 1000)
        self._offset_ms += ms
        await self._store.advance(ms)


@pytest.fixture
async def clock(
    url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ApiClock]:
    raw = raw_client(url) if url.startswith("redis") else None
    driven = ApiClock(raw, queue_name)
    monkeypatch.setattr(_clock, "now_ms", driven.now_ms)
    try:
        yield driven
    finally:
        if raw is not None:
            await raw.aclose()
