"""The Redis backend: queues stored exactly as Node BullMQ 6 stores them.

Needs the ``redis`` package (redis-py ≥ 5; ``hiredis`` makes it faster). The key
layout is documented in :mod:`corral.backends.redis.keys`; each operation is one
Lua script in ``lua/``.
"""

from __future__ import annotations

from corral.errors import MissingDependency

try:
    import redis.asyncio  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency(
        "the Redis backend needs the 'redis' package: pip install redis (or pip install corral)"
    ) from exc

from corral.backends.redis.backend import RedisBackend

__all__ = ["RedisBackend"]
