"""The connections a Redis backend uses, opened on first use and closed together.

* **shared**: one pipelined connection for every ordinary command and script,
  shared by every coroutine (and by every backend made with ``share``);
* **marker** connections: one per queue for the blocking ``BZPOPMIN`` on the
  queue's marker, named ``<prefix>:<base64(queue)>`` like a Node worker's, so
  ``queue.getWorkers()`` in Node lists it;
* **events** connections: one per queue for ``XREAD BLOCK``.

The blocking ones are dedicated connections of the shared one
(:meth:`~corral.backends.redis.connection.RedisConnection.dedicated`), so a
connection the user hands in serves blocking commands too. :class:`Connections`
closes what it opened, and never a connection it was given.
"""

from __future__ import annotations

import asyncio
import base64

from corral.backends.redis.client import RedisClient
from corral.backends.redis.connection import RedisConnection
from corral.backends.redis.deployments import (
    Deployment,
    is_deployment_url,
    parse_deployment_url,
)
from corral.backends.redis.settings import ConnectionSettings, parse_redis_url
from corral.errors import MissingDependency

__all__ = ["Connections"]


class Connections:
    """The connections of one Redis server, for one or more backends.

    ``url`` is read at once (a bad URL fails here, before any I/O). With
    ``connection``, that object is the shared connection and the source of the
    dedicated ones; otherwise corral's own client is opened from ``url``.
    """

    def __init__(self, url: str, connection: RedisConnection | None = None) -> None:
        self._settings: ConnectionSettings | None = None
        self._deployment: Deployment | None = None
        if connection is None:
            if is_deployment_url(url):
                self._deployment = parse_deployment_url(url)
                self._settings = self._deployment.settings
            else:
                self._settings = parse_redis_url(url)
        elif not isinstance(connection, RedisConnection):
            raise TypeError(
                f"connection must be a RedisConnection (execute, execute_with_head, "
                f"execute_many, dedicated, close), not {type(connection).__name__}; wrap "
                "another client in a small adapter (see corral.backends.redis.connection)"
            )
        self._given = connection
        self._shared: RedisConnection | None = connection
        self._markers: dict[tuple[str, str], RedisConnection] = {}
        self._events: dict[tuple[str, str], RedisConnection] = {}
        self.reclaiming: set[asyncio.Task[None]] = set()
        """Fetches queued behind a marker pop whose waiter went away: each task reads
        its fetch's reply and gives back the job it took. :meth:`close` lets them
        end first."""

    @property
    def cluster(self) -> bool:
        """Whether the keys are spread over a Redis Cluster's hash slots (a given
        connection says so with a true ``cluster`` attribute)."""
        if self._deployment is not None:
            return self._deployment.kind == "cluster"
        return bool(getattr(self._given, "cluster", False))

    @property
    def min_replicas(self) -> tuple[int, int]:
        """How many replicas must acknowledge a write script, and the ms to wait for
        them (``(0, 0)``: do not wait)."""
        s = self._settings
        if s is None or not s.min_replicas:
            return (0, 0)
        return (s.min_replicas, max(1, round(s.min_replicas_timeout * 1000)))

    @property
    def shared(self) -> RedisConnection:
        """The pipelined connection for ordinary commands (created on first use)."""
        shared = self._shared
        if shared is None:
            if self._deployment is not None:
                shared = self._shared = _open_deployment(self._deployment)
            else:
                assert self._settings is not None  # set whenever no connection was given
                shared = self._shared = RedisClient(self._settings)
        return shared

    def marker(self, prefix: str, queue: str, worker_name: str | None = None) -> RedisConnection:
        """The connection that blocks on ``queue``'s marker, named like a Node worker's
        (with ``:w:<worker_name>`` when it is made for a named worker)."""
        key = (prefix, queue)
        connection = self._markers.get(key)
        if connection is None:
            name = f"{prefix}:{base64.b64encode(queue.encode()).decode()}"
            if worker_name is not None:
                name += f":w:{worker_name}"
            connection = self._markers[key] = self.shared.dedicated(name=name)
        return connection

    def has_marker(self, prefix: str, queue: str) -> bool:
        """Whether ``queue``'s marker connection was made already."""
        return (prefix, queue) in self._markers

    def events(self, prefix: str, queue: str) -> RedisConnection:
        """The connection that blocks reading ``queue``'s event stream."""
        key = (prefix, queue)
        connection = self._events.get(key)
        if connection is None:
            connection = self._events[key] = self.shared.dedicated(name=None)
        return connection

    async def close(self) -> None:
        """Close every connection opened here (not a given one). Safe to call more
        than once; connections open again on next use."""
        if self.reclaiming:
            await asyncio.wait(set(self.reclaiming), timeout=_RECLAIM_WAIT)
        opened = [*self._markers.values(), *self._events.values()]
        if self._shared is not self._given and self._shared is not None:
            opened.append(self._shared)
        self._markers, self._events = {}, {}
        self._shared = self._given
        for connection in opened:
            await connection.close()


_RECLAIM_WAIT = 10.0
"""Seconds :meth:`Connections.close` waits for fetches still being given back (each
is bounded by the socket timeout already; this only keeps close from hanging)."""


def _open_deployment(deployment: Deployment) -> RedisConnection:
    try:
        from corral.backends.redis.redispy import open_deployment
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependency(
            f"Redis {deployment.kind} URLs need the 'redis' package (redis-py), which "
            "corral installs with its redis extra: pip install 'corral[redis]'"
        ) from exc
    return open_deployment(deployment)
