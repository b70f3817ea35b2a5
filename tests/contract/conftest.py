"""Fixtures of the contract suite: every test here runs once per backend.

* ``store_url``: a fresh store, ``[sqlite]`` then ``[redis]`` (from the shared
  ``sqlite_url`` / ``redis_url`` fixtures of ``tests/conftest.py``).
* ``backend``: a :class:`~corral.backends.base.Backend` opened on it.
* ``clock``: the test's driven time (:class:`tests.contract.support.Clock`).
* ``store``: writes below the contract, for states no operation reaches.
* ``queue``: the test's unique queue name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from corral.backends import open_backend
from corral.backends.base import Backend
from tests.contract.support import Clock, StoreAccess


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh store on each backend in turn."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def raw_redis(store_url: str) -> AsyncIterator[Redis | None]:
    """A plain redis-py client on the test's Redis server; None on SQLite."""
    if not store_url.startswith("redis"):
        yield None
        return
    raw = Redis.from_url(store_url, decode_responses=True)
    try:
        yield raw
    finally:
        await raw.aclose()


@pytest.fixture
async def backend(store_url: str) -> AsyncIterator[Backend]:
    opened = open_backend(store_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def queue(queue_name: str) -> str:
    return queue_name


@pytest.fixture
def clock(raw_redis: Redis | None, queue: str) -> Clock:
    return Clock(raw_redis, queue)


@pytest.fixture
def store(store_url: str, raw_redis: Redis | None) -> StoreAccess:
    return StoreAccess(store_url, raw_redis)
