"""What Queue and Worker share: a queue name, a backend, and a clean close."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Self

from corral.backends import open_backend
from corral.backends.base import Backend, Fetched, FetchRequest
from corral.options import validate_queue_name

if TYPE_CHECKING:
    from corral._policy import BackoffStrategy

__all__ = ["DEFAULT_LOCK_DURATION_MS", "QueueClient", "now_ms"]

DEFAULT_LOCK_DURATION_MS = 30_000


def now_ms() -> int:
    """The wall clock in epoch milliseconds: the ``now`` handed to backends."""
    return time.time_ns() // 1_000_000


class QueueClient:
    """Base of :class:`~corral.Queue` and :class:`~corral.Worker`: one queue on one store."""

    def __init__(self, name: str, *, url: str | None, prefix: str) -> None:
        self._name = validate_queue_name(name)
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("prefix must be a non-empty string such as 'bull'")
        self._prefix = prefix
        self._backend: Backend = open_backend(url, prefix=prefix)
        self._closed = False

    @property
    def name(self) -> str:
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

    # Hooks used by Job; a Worker overrides them with its own settings.
    def _fetch_request(self, token: str) -> FetchRequest:
        return FetchRequest(token=token, lock_duration_ms=DEFAULT_LOCK_DURATION_MS)

    def _note_fetch(self, fetched: Fetched | None) -> None:
        """Called with every fetch result, so a worker can track rate limits."""

    @property
    def _backoff_strategy(self) -> BackoffStrategy | None:
        return None

    async def close(self) -> None:
        """Close the connection to the store. Safe to call more than once."""
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
