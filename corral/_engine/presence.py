"""A worker telling its store that it is taking jobs (``Queue.get_workers``).

The worker says so when it starts (``run``, or in the background once its first
``get_next_job`` returns), then
every :data:`BEAT_S` seconds while it runs, and says it is gone when it closes.
On Redis the first beat names the worker's blocking connection as Node names its
own, which is what both languages' worker lists read; on SQLite each beat
refreshes the worker's row. A beat that fails is logged at debug level and
tried again at the next one: the worker list is information, never a reason for
a worker to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

from corral import _clock
from corral.backends.admin_types import WorkerRecord
from corral.backends.base import Backend

__all__ = ["BEAT_S", "Presence"]

logger = logging.getLogger("corral.worker")

BEAT_S = 10.0
"""Seconds between a running worker's beats."""


class Presence:
    """One worker's entry in its queue's worker list."""

    def __init__(self, backend: Backend, queue: str, name: str | None) -> None:
        self.backend = backend
        self.queue = queue
        self.record = WorkerRecord(
            id=str(uuid.uuid4()),
            name=name,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at_ms=_clock.now_ms(),
            last_seen_ms=_clock.now_ms(),
        )
        self._last_beat: float | None = None
        self._beating: asyncio.Task[None] | None = None

    async def beat(self) -> None:
        """Say the worker is here now (failures are logged, not raised)."""
        self._last_beat = time.monotonic()
        try:
            await self.backend.worker_seen(self.queue, self.record, _clock.now_ms())
        except Exception as error:  # the list is information only
            logger.debug("worker on queue %r: could not record itself: %s", self.queue, error)

    async def beat_if_due(self) -> None:
        """:meth:`beat` if the last one is :data:`BEAT_S` old (or there was none)."""
        if self._last_beat is None or time.monotonic() - self._last_beat >= BEAT_S:
            await self.beat()

    def beat_soon(self) -> None:
        """:meth:`beat_if_due` in the background (a hand-driven worker's fetch does
        not wait for it, and cancelling the fetch leaves nothing behind)."""
        if self._beating is None or self._beating.done():
            due = self._last_beat is None or time.monotonic() - self._last_beat >= BEAT_S
            if due:
                self._last_beat = time.monotonic()
                self._beating = asyncio.create_task(self.beat(), name="corral-presence")

    async def run(self, stop: asyncio.Event) -> None:
        """Beat now and every :data:`BEAT_S` seconds until ``stop`` is set."""
        while not stop.is_set():
            await self.beat_if_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BEAT_S)

    async def leave(self) -> None:
        """Say the worker is gone (only if it ever said it was here)."""
        if self._last_beat is None:
            return
        if self._beating is not None and not self._beating.done():
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
        try:
            await self.backend.worker_gone(self.queue, self.record.id)
        except Exception as error:
            logger.debug("worker on queue %r: could not remove itself: %s", self.queue, error)
