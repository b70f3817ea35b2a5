"""Stopping a running job's processor: on a cancel, or when its timeout passes.

The one hook is :meth:`Stops.stop` ("stop the processor of job X for reason R"):
it records the reason on the job (``job.stop_reason``, which ``job.is_cancelled``
and ``job.raise_if_cancelled()`` read) and cancels the slot's task, which is
awaiting the processor call (no task of its own: see :mod:`corral._engine.eager`).
What that cancellation does is the processor call's business: an async processor
gets ``asyncio.CancelledError`` at its next ``await``; a plain function in a
thread cannot be interrupted, so its thread is left to finish; a call that runs
the processor elsewhere (a child process) stops it there when it is cancelled,
reading ``job.stop_reason`` to know why. The runner tells that cancellation from
one of the slot itself (a shutdown) by withdrawing it (``Task.uncancel``).

Whatever the processor does, the job is failed with the reason after at most
:data:`STOP_GRACE` seconds (a :class:`~corral.JobCancelledError` fails it for
good; a :class:`~corral.JobTimeoutError` is retried while attempts remain) and
its lock is no longer renewed, so a stuck processor never holds the lock past the
lock duration: a processor that ignores being stopped is given up on
(:attr:`Stops.on_give_up`), and its slot stays taken until it ends.

Cancels reach a worker through the store: every :data:`CANCEL_POLL_INTERVAL`
while jobs are in hand, one ``get_cancel_requests`` call asks which of them are
marked (``queue.cancel`` on any process or host marks them).

Jobs handed out by hand (``Worker.get_next_job``, ``fetch_next``) are watched the
same way (:meth:`Stops.watch`): there is no processor call to stop, so a cancel
only records its reason on the job (``job.is_cancelled`` becomes true) for the
code working on it to see. A job is watched until its holder moves it on; one
moved on within a poll interval is never asked about (a fast loop costs no call),
so a cancel reaches a held job within two intervals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
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
    """One processor call in progress, awaited by ``task`` (its slot's)."""

    __slots__ = ("given_up", "grace", "job", "stopped", "task", "timer")

    def __init__(self, job: Job, task: asyncio.Task[Any]) -> None:
        self.job = job
        self.task = task
        self.timer: asyncio.TimerHandle | None = None
        self.grace: asyncio.TimerHandle | None = None
        self.stopped = False
        """Whether :meth:`Stops.stop` cancelled ``task`` (a cancel to withdraw)."""
        self.given_up = False
        """Whether the processor outlasted its grace: the job was failed without it."""


GiveUp = Callable[["Job", ProcessorError], None]
"""Called when a stopped processor outlasts its grace, with the job and the reason."""


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
        self.on_give_up: GiveUp | None = None
        """What to do with the job of a processor that outlasted its grace (the
        runner fails it)."""
        self.running: dict[str, _Run] = {}
        """Processor calls in progress, by job id."""
        self.watched: dict[str, tuple[Job, int]] = {}
        """Jobs handed out by hand, by id, with the poll they were handed out after: a
        cancel records its reason on them."""
        self._polls = 0
        self._watching: asyncio.Task[None] | None = None

    def start(self, job: Job, task: asyncio.Task[Any], timeout_ms: int | None) -> _Run:
        """Track the processor call of ``job``, awaited by ``task``; stop it after
        ``timeout_ms`` if given."""
        run = self.running[job.id] = _Run(job, task)
        if timeout_ms is not None:
            seconds = timeout_ms / 1000
            error = JobTimeoutError(f"timed out after {seconds:g} seconds")
            run.timer = asyncio.get_running_loop().call_later(seconds, self.stop, job.id, error)
        return run

    def finish(self, run: _Run) -> None:
        """Stop tracking ``run`` (its call ended)."""
        if self.running.get(run.job.id) is run:
            del self.running[run.job.id]
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
        run.stopped = True
        run.grace = asyncio.get_running_loop().call_later(self.grace, self._give_up, run, reason)
        return True

    def _give_up(self, run: _Run, reason: ProcessorError) -> None:
        if self.running.get(run.job.id) is not run:
            return  # it ended meanwhile
        del self.running[run.job.id]
        run.given_up = True
        if self.on_give_up is not None:
            self.on_give_up(run.job, reason)

    async def poll(self) -> None:
        """Ask the store once whether a job in hand was cancelled; stop those that were."""
        watched = self.watched
        polls = self._polls
        self._polls = polls + 1
        ids = [job_id for job_id, run in self.running.items() if run.job.stop_reason is None]
        for job_id, (job, since) in list(watched.items()):
            if job.token is None:  # moved on (finished, put back): no longer held
                del watched[job_id]
            elif since < polls:
                # Asked about from the poll after the one it was handed out after: a
                # job moved on within a poll interval (a fast loop) costs no call.
                ids.append(job_id)
        if not ids:
            return
        try:
            found = await self.backend.get_cancel_requests(self.queue, ids)
        except Exception as error:
            logger.warning("could not check for cancelled jobs on queue %r: %s", self.queue, error)
            await self.hooks.emit("error", error, None)
            return
        for job_id, reason in found.items():
            entry = watched.pop(job_id, None)
            if entry is None:
                self.stop(job_id, JobCancelledError(reason))
                continue
            held = entry[0]
            if held.token is not None and held.request_stop(JobCancelledError(reason)):
                logger.info(
                    "job %s on queue %r: cancelled while held: %s", job_id, self.queue, reason
                )

    # -- jobs handed out by hand ----------------------------------------------------------

    def watch(self, job: Job, stop: asyncio.Event) -> None:
        """Watch ``job`` (handed out by hand) for a cancel until its holder moves it on
        or ``stop`` is set; the polling runs only while something is watched."""
        self.watched[job.id] = (job, self._polls)
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
