"""Live updates: one reader per queue follows its event log and fans events out.

However many browsers watch a queue, the dashboard reads its events once: the
first subscriber starts a reader task for the queue, the last one to leave stops
it. Each subscriber gets the events in an ``asyncio.Queue`` of its own; one that
does not keep up loses events (the page only needs to know that something
changed, and re-reads what it shows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from corral.backends.base import Backend

__all__ = ["EventHub"]

logger = logging.getLogger("corral.dashboard")

BLOCK_MS = 2000
"""How long one read of a queue's events waits for one to arrive."""

BACKLOG = 1000
"""How many events a subscriber may have unread before new ones are dropped."""


class EventHub:
    """Fans each watched queue's events out to its subscribers."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}

    @contextlib.asynccontextmanager
    async def subscribe(
        self, queues: Iterable[str]
    ) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """Receive the events of ``queues`` (``{"queue", "event", "job_id"}`` dicts)
        for as long as the context lasts."""
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=BACKLOG)
        names = sorted(set(queues))
        for name in names:
            self._subscribers.setdefault(name, set()).add(inbox)
            if name not in self._readers or self._readers[name].done():
                cursor = await self._backend.events_cursor(name)
                self._readers[name] = asyncio.create_task(
                    self._read(name, cursor), name=f"corral-dashboard-events-{name}"
                )
        try:
            yield inbox
        finally:
            for name in names:
                watchers = self._subscribers.get(name)
                if watchers is not None:
                    watchers.discard(inbox)

    async def _read(self, name: str, cursor: str) -> None:
        failures = 0
        while self._subscribers.get(name):
            try:
                events = await self._backend.read_events(name, cursor, count=100, block_ms=BLOCK_MS)
                failures = 0
            except Exception as exc:  # the store is down: say so, and keep trying
                failures += 1
                logger.warning("dashboard: reading queue %r's events failed: %s", name, exc)
                await asyncio.sleep(min(0.5 * failures, 5.0))
                continue
            for event in events:
                cursor = event.id
                message = {"queue": name, "event": event.name, "job_id": event.fields.get("jobId")}
                for inbox in list(self._subscribers.get(name, ())):
                    with contextlib.suppress(asyncio.QueueFull):
                        inbox.put_nowait(message)
        if self._readers.get(name) is asyncio.current_task():
            del self._readers[name]

    async def close(self) -> None:
        """Stop every reader."""
        readers, self._readers = list(self._readers.values()), {}
        self._subscribers.clear()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
