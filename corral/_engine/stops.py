"""Stopping a running job's processor: on a cancel, or when its timeout passes.

The one hook is :meth:`Stops.stop` ("stop the processor of job X for reason R"):
it records the reason on the job (``job.stop_reason``, which ``job.is_cancelled``
and ``job.raise_if_cancelled()`` read) and cancels the asyncio task awaiting the
processor call. What that cancellation does is the processor call's business:
an async processor gets ``asyncio.CancelledError`` at its next ``await``; a plain
function in a thread cannot be interrupted, so its thread is left to finish; a
call that runs the processor elsewhere (a child process) stops it there when its
awaiting task is cancelled, reading ``job.stop_reason`` to know why.

Whatever the processor does, the job's slot goes on after at most
:data:`STOP_GRACE` seconds: the runner fails the job with the reason (a
:class:`~corral.JobCancelledError` fails it for good; a
:class:`~corral.JobTimeoutError` is retried while attempts remain) and stops
renewing its lock, so a stuck processor never holds the lock past the lock
duration.

Cancels reach a worker through the store: every :data:`CANCEL_POLL_INTERVAL`
while jobs are in hand, one ``get_cancel_requests`` call asks which of them are
marked (``queue.cancel`` on any process or host marks them).

Jobs handed out by hand (``Worker.get_next_job``, ``fetch_next``) are watched the
same way (:meth:`Stops.watch`): there is no processor call to stop, so a cancel
only records its reason on the job (``job.is_cancelled`` becomes true) for the
code working on it to see. A job is watched until its holder moves it on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from corral._engine.hooks import Hooks
from corral.backends.base import Backend
from corral.errors import JobCancelledError, JobTimeoutError, ProcessorError

if TYPE_CHECKING:
    from corral.job import Job

__all__ = ["CANCEL_POLL_INTERVAL", "STOP_GRACE", "Stops"]

logger = logging.getLogger("corral.worker")

CANCEL_POLL_INTERVAL = 0.5
"""How often (seconds) a worker asks the store whether a job it holds was cancelled."""

STOP_GRACE = 1.0
"""How long (seconds) a processor that was told to stop gets to unwind before its job
is failed anyway and the processor is left to itself."""


class _Run:
    """One processor call in progress."""

    __slots__ = ("done", "grace", "job", "task", "timer")

    def __init__(self, job: Job, task: asyncio.Future[Any], done: asyncio.Future[None]) -> None:
        self.job = job
        self.task = task
        self.done = done
        self.timer: asyncio.TimerHandle | None = None
        self.grace: asyncio.TimerHandle | None = None


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


class Stops:
    """The processor calls of one runner, and the means to stop each of them."""

    def __init__(
        self,
        *,
        backend: Backend,
        queue: str,
        hooks: Hooks,
        poll_interval: float = CANCEL_POLL_INTERVAL,
        grace: float = STOP_GRACE,
    ) -> None:
        self.backend = backend
        self.queue = queue
        self.hooks = hooks
        self.poll_interval = poll_interval
        self.grace = grace
        self.running: dict[str, _Run] = {}
        """Processor calls in progress, by job id."""
        self.watched: dict[str, Job] = {}
        """Jobs handed out by hand, by id: a cancel records its reason on them."""
        self._watching: asyncio.Task[None] | None = None

    def start(
        self, job: Job, task: asyncio.Future[Any], timeout_ms: int | None
    ) -> asyncio.Future[None]:
        """Track ``task`` (the processor call of ``job``); stop it after ``timeout_ms``
        if given. Returns a future that is done when the task is, or when a stopped
        task has had its :data:`STOP_GRACE`."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        task.add_done_callback(lambda _: _settle(done))
        run = self.running[job.id] = _Run(job, task, done)
        if timeout_ms is not None:
            seconds = timeout_ms / 1000
            error = JobTimeoutError(f"timed out after {seconds:g} seconds")
            run.timer = loop.call_later(seconds, self.stop, job.id, error)
        return done

    def finish(self, job_id: str) -> None:
        """Stop tracking the call of ``job_id`` (it ended, or its slot gave up on it)."""
        run = self.running.pop(job_id, None)
        if run is None:
            return
        if run.timer is not None:
            run.timer.cancel()
        if run.grace is not None:
            run.grace.cancel()

    def stop(self, job_id: str, reason: ProcessorError) -> bool:
        """Stop the processor of job ``job_id`` for ``reason`` (a JobCancelledError or
        a JobTimeoutError): record it on the job and cancel the task awaiting the
        call. False when the job is not running here, or is already being stopped."""
        run = self.running.get(job_id)
        if run is None or run.task.done() or not run.job.request_stop(reason):
            return False
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        logger.info("job %s on queue %r: stopping its processor: %s", job_id, self.queue, reason)
        run.task.cancel()
        run.grace = asyncio.get_running_loop().call_later(self.grace, _settle, run.done)
        return True

    async def poll(self) -> None:
        """Ask the store once whether a job in hand was cancelled; stop those that were."""
        watched = self.watched
        for job_id, job in list(watched.items()):
            if job.token is None:  # moved on (finished, put back): no longer held
                del watched[job_id]
        ids = [job_id for job_id, run in self.running.items() if run.job.stop_reason is None]
        ids.extend(watched)
        if not ids:
            return
        try:
            found = await self.backend.get_cancel_requests(self.queue, ids)
        except Exception as error:
            logger.warning("could not check for cancelled jobs on queue %r: %s", self.queue, error)
            await self.hooks.emit("error", error, None)
            return
        for job_id, reason in found.items():
            held = watched.pop(job_id, None)
            if held is None:
                self.stop(job_id, JobCancelledError(reason))
            elif held.token is not None and held.request_stop(JobCancelledError(reason)):
                logger.info(
                    "job %s on queue %r: cancelled while held: %s", job_id, self.queue, reason
                )

    # -- jobs handed out by hand ----------------------------------------------------------

    def watch(self, job: Job, stop: asyncio.Event) -> None:
        """Watch ``job`` (handed out by hand) for a cancel until its holder moves it on
        or ``stop`` is set; the polling runs only while something is watched."""
        self.watched[job.id] = job
        task = self._watching
        if task is None or task.done():
            self._watching = asyncio.get_running_loop().create_task(
                self._watch_loop(stop), name=f"corral-cancel-watch-{self.queue}"
            )

    async def _watch_loop(self, stop: asyncio.Event) -> None:
        while self.watched and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval)
            if stop.is_set():
                break
            await self.poll()
        self._watching = None

    async def unwatch_all(self) -> None:
        """Stop watching (the worker closes)."""
        self.watched.clear()
        task, self._watching = self._watching, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every :attr:`poll_interval` until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval)
            if stop.is_set():
                return
            await self.poll()
