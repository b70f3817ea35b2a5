"""Fixtures shared by the backend-specific tests.

* ``backend``: the backend a module is about, on the test's fresh store: a
  ``RedisBackend`` in ``test_redis_*`` modules, a ``SQLiteBackend`` in ``test_sqlite_*``.
* ``k``: the key names of the test's queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from corral.backends.base import Backend
from corral.backends.redis import RedisBackend
from corral.backends.redis.keys import QueueKeys
from corral.backends.sqlite import SQLiteBackend


@pytest.fixture
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    module = request.module.__name__.rpartition(".")[2]
    if module.startswith("test_redis_"):
        opened: Backend = RedisBackend(request.getfixturevalue("redis_url"))
    elif module.startswith("test_sqlite_"):
        opened = SQLiteBackend(request.getfixturevalue("sqlite_url"))
    else:
        raise AssertionError(f"{module}: name it test_redis_* or test_sqlite_* for a backend")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def k(queue_name: str) -> QueueKeys:
    """The key names of the test's queue under the default prefix."""
    return QueueKeys("bull", queue_name)
