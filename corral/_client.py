"""What Queue, Worker and QueueEvents share: a queue name, a backend, and a clean close.

A client either opens its own backend from a URL (and closes it with itself) or
borrows one from a :class:`~corral.Connection` shared with other clients (and
leaves it open: the connection's owner closes it).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from corral.backends import open_backend
from corral.backends.base import Backend
from corral.backends.keyspace import validate_prefix
from corral.connection import SharedConnection
from corral.job import JobMover
from corral.options import validate_queue_name

__all__ = ["QueueClient"]


class QueueClient:
    """Base of :class:`~corral.Queue`, :class:`~corral.Worker` and
    :class:`~corral.QueueEvents`: one queue on one store."""

    def __init__(
        self, name: str, *, url: str | None, prefix: str, connection: SharedConnection | None
    ) -> None:
        self._name = validate_queue_name(name)
        validate_prefix(prefix)
        if connection is not None:
            if url is not None:
                raise ValueError("give either url= or connection=, not both")
            if not isinstance(connection, SharedConnection):
                raise TypeError(
                    f"connection must be a corral.Connection, not {type(connection).__name__}"
                )
            self._backend = connection.backend(prefix)
        else:
            self._backend = open_backend(url, prefix=prefix)
        self._prefix = prefix
        self._closed = False
        self._mover = JobMover(self._backend, self._name)

    @property
    def name(self) -> str:
        """The queue's name (BullMQ's spelling; see also :attr:`queue_name`)."""
        return self._name

    @property
    def queue_name(self) -> str:
        """The queue's name."""
        return self._name

    @property
    def prefix(self) -> str:
        """The key prefix the queue lives under (``bull`` by default, as in BullMQ)."""
        return self._prefix

    @property
    def url(self) -> str:
        """The store's URL, with any password masked."""
        return self._backend.url

    @property
    def backend(self) -> Backend:
        """The storage backend this client talks to."""
        return self._backend

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    @property
    def job_mover(self) -> JobMover:
        """How jobs read through this client move (see :class:`corral.job.JobMover`);
        :meth:`corral.Job.from_json` uses it."""
        return self._mover

    async def close(self) -> None:
        """Close the connection to the store (a borrowed :class:`~corral.Connection`
        stays open). Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        await self._backend.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, url={self.url!r}, prefix={self._prefix!r})"
