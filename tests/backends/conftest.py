"""Fixtures shared by the backend-specific tests."""

from __future__ import annotations

import pytest

from corral.backends.redis.keys import QueueKeys


@pytest.fixture
def k(queue_name: str) -> QueueKeys:
    """The key names of the test's queue under the default prefix."""
    return QueueKeys("bull", queue_name)
