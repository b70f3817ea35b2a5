"""The Redis backend: queues stored exactly as Node BullMQ 6 stores them.

Talks to Redis through its own pipelining client (:mod:`.client`), which parses
replies with the ``hiredis`` package: the ``redis`` extra
(``pip install 'corral[redis]'``), so that the embedded SQLite backend needs no C
extension. The key layout is documented in :mod:`corral.backends.redis.keys`;
each operation is one Lua script in ``lua/``. The backend speaks through the
:class:`RedisConnection` protocol, so a connection can be handed in
(``RedisBackend(url, connection=...)``) and shared by many backends
(``backend.share(prefix)``).
"""

from __future__ import annotations

from corral.errors import MissingDependency

try:
    import hiredis  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependency(
        "the Redis backend needs the 'hiredis' package, which corral installs only "
        "with its redis extra: pip install 'corral[redis]'"
    ) from exc

from corral.backends.redis.backend import RedisBackend
from corral.backends.redis.connection import RedisConnection

__all__ = ["RedisBackend", "RedisConnection"]
