"""What clients share: a backend under a prefix and a clean close (:class:`StoreClient`,
the base of FlowProducer), and a queue name (:class:`QueueClient`, the base of Queue,
Worker and QueueEvents).

A client either opens its own backend from a URL (and closes it with itself) or
borrows one from a :class:`~corral.Connection` shared with other clients (and
leaves it open: the connection's owner closes it).
"""

from __future__ import annotations

from corral.backends import open_backend
from corral.backends.base import Backend
from corral.backends.keyspace import validate_prefix
from corral.connection import BackendHolder, SharedConnection
from corral.job import JobMover
from corral.options import validate_queue_name

__all__ = ["QueueClient", "StoreClient"]


class StoreClient(BackendHolder):
    """A client of one store, for queues under ``prefix``: its backend is borrowed
    from ``connection``, else its own, opened from ``url``."""

    def __init__(
        self, *, url: str | None, prefix: str, connection: SharedConnection | None
    ) -> None:
        if connection is None:
            backend = open_backend(url, prefix=prefix)
        elif url is not None:
            raise ValueError("give either url= or connection=, not both")
        elif not isinstance(connection, SharedConnection):
            raise TypeError(
                f"connection must be a corral.Connection, not {type(connection).__name__}"
            )
        else:
            backend = connection.backend(prefix)
        super().__init__(backend)
        self._prefix = prefix

    @property
    def backend(self) -> Backend:
        """The storage backend this client talks to."""
        return self._backend


class QueueClient(StoreClient):
    """Base of :class:`~corral.Queue`, :class:`~corral.Worker` and
    :class:`~corral.QueueEvents`: one queue on one store."""

    def __init__(
        self, name: str, *, url: str | None, prefix: str, connection: SharedConnection | None
    ) -> None:
        self._name = validate_queue_name(name)
        validate_prefix(prefix)
        super().__init__(url=url, prefix=prefix, connection=connection)
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
    def job_mover(self) -> JobMover:
        """How jobs read through this client move (see :class:`corral.job.JobMover`);
        :meth:`corral.Job.from_json` uses it."""
        return self._mover

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, url={self.url!r}, prefix={self._prefix!r})"
