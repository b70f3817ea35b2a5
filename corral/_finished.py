"""Waiting for a job to finish (``Job.wait_until_finished``), across processes.

One *watcher* per backend and queue reads the queue's event log for every
waiter of that queue at once (one blocking read at a time, so waiters never
queue up behind each other on Redis's blocking connection). There is no race
between the job finishing and the wait starting: the watcher takes its cursor
*before* a waiter looks at the job's state, so a job that finishes after that
look is in the events read after the cursor, and one that finished before it is
seen by the look. Every few seconds without a relevant event the watcher looks
at its waiters' jobs again, so a trimmed event log or a removed job cannot leave
a waiter hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from corral._codec import loads_field
from corral.backends.base import Backend, JobState
from corral.errors import JobFailedError, JobNotFoundError

__all__ = ["RECHECK_S", "wait_until_finished"]

RECHECK_S = 5.0
"""Seconds between the watcher's own looks at its waiters' jobs."""

_BLOCK_MS = 1000


class _Watcher:
    """The waiters of one queue on one backend, and the task reading its events."""

    def __init__(self, backend: Backend, queue: str) -> None:
        self.backend = backend
        self.queue = queue
        self.waiters: dict[str, set[asyncio.Future[Any]]] = {}
        self.cursor: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None

    def add(self, job_id: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(job_id, set()).add(future)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run(), name=f"corral-wait-{self.queue}")
        return future

    def drop(self, job_id: str, future: asyncio.Future[Any]) -> None:
        futures = self.waiters.get(job_id)
        if futures is not None:
            futures.discard(future)
            if not futures:
                del self.waiters[job_id]

    def _settle(
        self, job_id: str, *, value: Any = None, error: BaseException | None = None
    ) -> None:
        for future in self.waiters.pop(job_id, ()):
            if not future.done():
                if error is None:
                    future.set_result(value)
                else:
                    future.set_exception(error)

    async def _run(self) -> None:
        try:
            if not self.cursor.done():
                self.cursor.set_result(await self.backend.events_cursor(self.queue))
            cursor = self.cursor.result()
            loop = asyncio.get_running_loop()
            recheck_at = loop.time() + RECHECK_S
            while self.waiters:
                events = await self.backend.read_events(
                    self.queue, cursor, count=500, block_ms=_BLOCK_MS
                )
                for event in events:
                    cursor = event.id
                    job_id = event.fields.get("jobId")
                    if job_id is None or job_id not in self.waiters:
                        continue
                    if event.name == "completed":
                        value = loads_field(job_id, "returnvalue", event.fields.get("returnvalue"))
                        self._settle(job_id, value=value)
                    elif event.name == "failed":
                        self._settle(
                            job_id, error=_failed(job_id, event.fields.get("failedReason"))
                        )
                    elif event.name == "removed":
                        await self.look(job_id)
                if loop.time() >= recheck_at:
                    for job_id in list(self.waiters):
                        await self.look(job_id)
                    recheck_at = loop.time() + RECHECK_S
        except Exception as error:  # the store failed: every waiter learns why
            if not self.cursor.done():
                self.cursor.set_exception(error)
            for job_id in list(self.waiters):
                self._settle(job_id, error=error)

    async def look(self, job_id: str) -> None:
        """Settle the waiters of ``job_id`` if the job is finished (or gone)."""
        # The state first: a record read after it is at least as new (a finished job
        # stays finished), so a completed job's record holds its return value.
        state = await self.backend.get_state(self.queue, job_id)
        if state is not JobState.COMPLETED and state is not JobState.FAILED:
            if state is JobState.UNKNOWN:
                self._settle(job_id, error=_gone(job_id, self.queue))
            return
        record = await self.backend.get_job(self.queue, job_id)
        if record is None:
            self._settle(job_id, error=_gone(job_id, self.queue))
        elif state is JobState.COMPLETED:
            value = loads_field(job_id, "returnvalue", record.return_value)
            self._settle(job_id, value=value)
        elif state is JobState.FAILED:
            self._settle(job_id, error=_failed(job_id, record.failed_reason))


def _failed(job_id: str, reason: str | None) -> JobFailedError:
    text = reason or "no reason given"
    return JobFailedError(f"job {job_id!r} failed: {text}", job_id=job_id, reason=text)


def _gone(job_id: str, queue: str) -> JobNotFoundError:
    return JobNotFoundError(
        f"job {job_id!r} of queue {queue!r} does not exist (wait_until_finished): it was "
        "never added, or removed before it finished (remove_on_complete removes a job as it "
        "completes: wait before it can)",
        job_id=job_id,
        operation="wait_until_finished",
    )


_WATCHERS: weakref.WeakKeyDictionary[Backend, dict[str, _Watcher]] = weakref.WeakKeyDictionary()


async def wait_until_finished(
    backend: Backend, queue: str, job_id: str, timeout: float | None
) -> Any:
    """The job's return value once it completes; raises JobFailedError when it fails
    for good, TimeoutError after ``timeout`` seconds (None: no limit)."""
    watchers = _WATCHERS.setdefault(backend, {})
    watcher = watchers.get(queue)
    if watcher is None or watcher.task is None or watcher.task.done():
        watcher = watchers[queue] = _Watcher(backend, queue)
    future = watcher.add(job_id)
    try:
        await asyncio.shield(watcher.cursor)  # the cursor is taken before the look
        await watcher.look(job_id)
        async with asyncio.timeout(timeout):
            return await future
    except TimeoutError:
        raise TimeoutError(
            f"job {job_id!r} of queue {queue!r} did not finish within {timeout:g} s"
        ) from None
    finally:
        watcher.drop(job_id, future)
        if not future.done():
            future.cancel()
        with contextlib.suppress(asyncio.InvalidStateError, asyncio.CancelledError):
            future.exception()
