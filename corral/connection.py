"""Connection: one store connection shared by many queues, workers and event readers.

```python
from corral import Connection, Queue, Worker

async with Connection("redis://localhost:6379/0") as conn:
    emails = Queue("emails", connection=conn)
    reports = Queue("reports", connection=conn, prefix="app")
    worker = Worker("emails", send, connection=conn)
```

Without one, every Queue, Worker and QueueEvents opens its own connection(s) from
its ``url``. With one, they all go through the same pipelined Redis connection
(or the same SQLite database thread), whatever their prefix; closing a client
leaves the connection open and :meth:`Connection.close` closes it for all.
Nothing is connected until the first operation. One Connection serves one
event loop (the sync API's loop, or your own).

:class:`BackendHolder` is what a Connection and every client share: a backend,
closed once, on :meth:`~BackendHolder.close` or at the end of ``async with``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from corral.backends import open_backend, resolve_url
from corral.backends.base import Backend

__all__ = ["Connection", "SharedConnection"]


@runtime_checkable
class SharedConnection(Protocol):
    """What ``connection=`` takes: :class:`Connection`, or ``corral.sync.Connection``."""

    def backend(self, prefix: str) -> Backend:
        """A backend for ``prefix`` on the shared connection; closing it closes nothing."""
        ...


class BackendHolder:
    """Holds one backend and closes it once, on :meth:`close` or at the end of
    ``async with``: the base of :class:`Connection` and of every client
    (``corral._client.StoreClient``)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._closed = False

    @property
    def url(self) -> str:
        """The store's URL, with any password masked."""
        return self._backend.url

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

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


class Connection(BackendHolder):
    """A store connection to share: ``url`` as for :class:`~corral.Queue`
    (None: ``$CORRAL_URL``, else ``sqlite:///corral.db``)."""

    def __init__(self, url: str | None = None) -> None:
        super().__init__(open_backend(resolve_url(url)))

    def backend(self, prefix: str) -> Backend:
        """A backend for queues under ``prefix`` on this connection (closing it
        closes nothing)."""
        if self._closed:
            raise RuntimeError("this corral.Connection is closed")
        return self._backend.share(prefix)

    async def close(self) -> None:
        """Close the connection for every client using it. Safe to call more than once."""
        await super().close()

    def __repr__(self) -> str:
        return f"Connection({self.url!r})"
