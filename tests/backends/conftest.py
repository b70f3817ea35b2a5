"""Fixtures shared by the backend-specific tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from corral.backends.redis.keys import QueueKeys


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain redis-py client on the test server, to inspect the stored layout."""
    r = Redis.from_url(redis_url, decode_responses=True)
    yield r
    await r.aclose()


@pytest.fixture
def k(queue_name: str) -> QueueKeys:
    """The key names of the test's queue under the default prefix."""
    return QueueKeys("bull", queue_name)
