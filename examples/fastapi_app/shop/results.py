"""Wait for jobs to finish from a web app: one event reader shared by every request.

A request that wants a job's result registers a future, then checks the job's
state (so a job that finished in between is not missed), then waits for the
future. One :class:`corral.QueueEvents` per process resolves the futures from
the queue's ``completed`` and ``failed`` events, however many requests wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

from corral import Queue, QueueEvents

FINISHED = ("completed", "failed")


class ResultWaiter:
    """Follows a queue's events and wakes the requests waiting for a job."""

    def __init__(self, events: QueueEvents) -> None:
        self._events = events
        self._waiting: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._events.__aenter__()  # fix the starting point: nothing after it is missed
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        await self._events.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        async for event in self._events:
            job_id = event.job_id
            if event.event in FINISHED and job_id is not None and job_id in self._waiting:
                for future in self._waiting.pop(job_id):
                    if not future.done():
                        future.set_result(None)

    async def wait(self, queue: Queue, job_id: str, timeout: float) -> str:
        """Wait up to ``timeout`` seconds for the job to finish; return its state."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[job_id].add(future)
        try:
            state = await queue.get_job_state(job_id)
            if state not in FINISHED and state != "unknown":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(future, timeout)
                state = await queue.get_job_state(job_id)
            return str(state)
        finally:
            waiters = self._waiting.get(job_id)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._waiting[job_id]
