"""The runner behind ``Worker.run()``: slots that fetch and process jobs.

Each of ``concurrency`` slots loops: take a job, run the processor, finish the
job *and fetch the next one in the same call*, so a busy worker costs one round
trip per job. Idle slots share a single blocking wait for work (the fetcher's),
so a quiet worker costs nothing. The lock renewer and the stalled checker run
beside the slots under one ``asyncio.TaskGroup``.

The runner is given its collaborators (fetcher, processor call, hooks, renewer,
stalled checker) and never sees the Worker that assembled it.

Shutdown (``Worker.close()``): stop fetching, let running jobs finish for up to
``grace`` seconds, then return the unfinished ones to wait without counting an
attempt. :meth:`Runner.force` (``close(grace=0)`` or a second signal) ends at
once: those jobs keep their locks until they expire and then stall back.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Protocol, cast

from corral import _clock
from corral._codec import UnencodableError
from corral._engine import eager
from corral._engine.fetcher import Fetcher
from corral._engine.hooks import Hooks
from corral._engine.locks import LockRenewer
from corral._engine.stalled import StalledChecker
from corral._engine.stops import Stops
from corral.errors import (
    BackendError,
    DelayedError,
    FailedChildrenError,
    JobCancelledError,
    LockError,
    PendingDependenciesError,
    ProcessorError,
    RateLimitError,
    StoreReplacedError,
    StoreUnavailableError,
    UnrecoverableError,
    WaitingChildrenError,
)
from corral.job import Job

__all__ = [
    "MAX_RATE_LIMIT_SLEEP",
    "MIN_RATE_LIMIT_HOLD_OFF_MS",
    "GivenUp",
    "JobNotStarted",
    "ProcessorCall",
    "Runner",
]

logger = logging.getLogger("corral.worker")

MAX_RATE_LIMIT_SLEEP = 30.0
"""The longest a slot sleeps on a rate limit before looking again (seconds)."""

MIN_RATE_LIMIT_HOLD_OFF_MS = 1000
"""How long a worker holds off after a ``RateLimitError`` when the queue has no limit
set (ms): without it the job would run again at once, thousands of times a second."""


class JobNotStarted(Exception):
    """Raised by a processor call that handed its job back to wait without running it
    (a process worker stopping before a child took the job): nothing more to write."""


class GivenUp(Exception):
    """Raised by a processor call that outlasted its grace after being stopped, once it
    ends: its job was failed without it, so nothing more to write."""


class Call(Protocol):
    """How the runner runs a job's processor: in-process (:class:`ProcessorCall`) or in
    a child process (:class:`corral._process.pool.ProcessPool`)."""

    async def __call__(self, job: Job) -> Any:
        """The processor's return value for ``job`` (an exception fails the attempt)."""
        ...

    def force(self) -> None:
        """The worker stops at once: stop what can be stopped."""
        ...

    def shutdown(self) -> None:
        """The runner is done with this call."""
        ...


_AsyncProcessor = Callable[[Job], Awaitable[Any]]


class ProcessorCall:
    """Calls a processor: awaited when it is a coroutine function, else in a thread pool
    of ``concurrency`` threads (plain functions must not block the event loop)."""

    def __init__(self, processor: Callable[[Job], Any], *, concurrency: int, name: str) -> None:
        self.processor = processor
        self.is_async = inspect.iscoroutinefunction(processor) or inspect.iscoroutinefunction(
            getattr(processor, "__call__", None)  # noqa: B004 - an object with async __call__
        )
        self.concurrency = concurrency
        self.name = name
        self.executor: ThreadPoolExecutor | None = None
        self._retired: list[ThreadPoolExecutor] = []
        if not self.is_async:
            self.executor = ThreadPoolExecutor(
                max_workers=concurrency, thread_name_prefix=f"corral-{name}"
            )

    async def __call__(self, job: Job) -> Any:
        """Run the processor on ``job``. Cancelling the awaiting task is how the
        engine stops it (see :mod:`corral._engine.stops`): an async processor gets
        ``CancelledError``; a thread cannot be stopped, so it is left to finish and
        later jobs get a fresh pool."""
        if self.is_async:
            return await cast(_AsyncProcessor, self.processor)(job)
        executor = self.executor
        assert executor is not None
        running = executor.submit(self.processor, job)
        try:
            return await asyncio.wrap_future(running)
        except asyncio.CancelledError:
            if running.running() and job.stop_reason is not None:
                self._abandon(job, executor)
            raise

    def _abandon(self, job: Job, executor: ThreadPoolExecutor) -> None:
        """A stopped job's thread runs on: warn, and give later jobs a new pool."""
        logger.warning(
            "job %s (%s): %s, but its processor is a plain function running in a thread, "
            "which cannot be stopped: the job is failed and the thread is left to finish "
            "(check job.is_cancelled or call job.raise_if_cancelled() in the function to "
            "end it early, or run it in a process worker, which can be stopped)",
            job.id, job.name, job.stop_reason,
        )  # fmt: skip
        if executor is self.executor:
            self.executor = ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix=f"corral-{self.name}"
            )
            self._retired.append(executor)
            executor.shutdown(wait=False)

    def force(self) -> None:
        """Nothing to do: a thread cannot be stopped (its job's lock is left to expire)."""

    def shutdown(self) -> None:
        """Stop the thread pool without waiting for threads still running."""
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self._retired.clear()


class Runner:
    """One run of a processor worker: ``concurrency`` slots plus their helpers."""

    def __init__(
        self,
        *,
        fetcher: Fetcher,
        call: Call,
        hooks: Hooks,
        renewer: LockRenewer,
        stalled: StalledChecker,
        active: dict[str, Job],
        concurrency: int,
        stops: Stops | None = None,
        timeout_ms: int | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.call = call
        self.hooks = hooks
        self.renewer = renewer
        self.stalled = stalled
        self.concurrency = concurrency
        self.queue = fetcher.queue
        self.stops = (
            stops
            if stops is not None
            else Stops(backend=fetcher.backend, queue=fetcher.queue, hooks=hooks)
        )
        """The processor calls in progress, and how to stop one (cancel, timeout)."""
        self.stops.on_give_up = self._give_up
        self.timeout_ms = timeout_ms
        """The worker's default timeout for a job (ms; None: none)."""
        self._abandoned: set[asyncio.Future[Any]] = set()
        """Failing the jobs of processors given up on (kept so they are not collected)."""
        self.stopping = asyncio.Event()
        self.active = active
        """Jobs in hand, by id (the renewer's ``held``: it extends their locks)."""
        self.processing: set[asyncio.Task[Any]] = set()
        self.drained = False
        self.forced = False
        self.fatal: StoreReplacedError | None = None
        """Why the run ended by itself: the store is gone for good (run() raises it)."""
        self._worker_id = uuid.uuid4().hex
        self._token_counter = 0
        self._returning: asyncio.Future[list[BackendError | None]] | None = None
        self._slots_done = asyncio.Event()
        self._idle: asyncio.Event | None = None
        """Set once no slot is processing a job, while :meth:`wait_idle` waits."""

    # -- the task group ----------------------------------------------------------

    async def run(self) -> None:
        """Process jobs until :meth:`shutdown` or :meth:`force`."""
        try:
            async with asyncio.TaskGroup() as group:
                # Locks are renewed until the last slot is done: jobs finishing during
                # a graceful stop's grace period keep their locks.
                group.create_task(self.renewer.run(self._slots_done), name="corral-lock-renewer")
                group.create_task(self.stalled.run(self.stopping), name="corral-stalled-checker")
                group.create_task(self.stops.run(self._slots_done), name="corral-cancel-watch")
                slots = [
                    group.create_task(self._slot(), name=f"corral-slot-{i}")
                    for i in range(self.concurrency)
                ]
                await asyncio.wait(slots)
                # Slots are done: stop the helpers.
                self.stopping.set()
                self.fetcher.cancel_wait()
                late = self.fetcher.unpark()
                if late and not self.forced:
                    # A wake-up fetched these as the last slot stopped.
                    await self._give_back_all(late)
                self._slots_done.set()
        finally:
            self.call.shutdown()
        if self.fatal is not None:
            raise self.fatal

    def _next_token(self) -> str:
        self._token_counter += 1
        return f"{self._worker_id}:{self._token_counter}"

    # -- slots ----------------------------------------------------------------------

    async def _slot(self) -> None:
        job: Job | None = None
        failures = 0
        task = asyncio.current_task()
        assert task is not None
        fetcher = self.fetcher
        while not self.stopping.is_set():
            try:
                if fetcher.paused:
                    held = fetcher.unpark() if job is None else [job, *fetcher.unpark()]
                    if held:
                        # Fetched as the worker was paused: give it back, run nothing.
                        await self._give_back_all(held)
                        job = None
                    await fetcher.wait_resumed(self.stopping)
                    continue
                if job is None:
                    job = await self._fetch()
                    if failures:
                        logger.info("worker on queue %r: the store answers again", self.queue)
                        failures = 0
                    continue
                self.processing.add(task)
                try:
                    job = await self._process(job)
                finally:
                    self.processing.discard(task)
                    if self._idle is not None and not self.processing:
                        self._idle.set()
            except StoreReplacedError as error:
                # No later call can succeed: stop now, leaving running jobs to stall back.
                if self.fatal is None:
                    self.fatal = error  # run() raises it: no log line of its own
                    await self.hooks.emit("error", error, None)
                self.force()
                return
            except Exception as error:
                # The store is unreachable or failed: report, back off, try again.
                # A job in hand keeps its lock until it expires, then stalls back.
                job = None
                failures += 1
                delay = min(0.1 * 2**failures, 5.0)
                logger.warning(
                    "worker on queue %r: %s; retrying in %.1fs", self.queue, error, delay
                )
                await self.hooks.emit("error", error, None)
                await self._sleep(delay)
        held = fetcher.unpark() if job is None else [job, *fetcher.unpark()]
        if held:
            # Fetched as we were stopping: give it straight back.
            await self._give_back_all(held)

    async def _fetch(self) -> Job | None:
        fetcher = self.fetcher
        wait_ms = fetcher.rate_limited_for_ms()
        if wait_ms > 0:
            await self._sleep(min(wait_ms / 1000, MAX_RATE_LIMIT_SLEEP))
            return None
        job = await fetcher.claim()
        if job is not None:
            self.drained = False
            return job
        job, fetched = await fetcher.fetch(self._next_token())
        if job is not None:
            self.drained = False
            return job
        if fetched.rate_limited_for_ms > 0:
            return None
        if not self.drained:
            self.drained = True
            await self.hooks.emit("drained")
        deadline = time.monotonic() + fetcher.drain_delay_ms / 1000
        await fetcher.wait_for_work(
            deadline, fetched.next_delayed_at_ms, self.stopping, self._next_token
        )
        return None

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    # -- processing -------------------------------------------------------------------

    async def _process(self, job: Job) -> Job | None:
        """Run one job and finish it; returns the next job fetched in the same call."""
        token = job.token
        assert token is not None
        hooks = self.hooks
        self.active[job.id] = job
        if "active" in hooks:
            await hooks.emit("active", job)
        started = job._started = time.perf_counter()
        try:
            try:
                result = await self._call(job)
            except asyncio.CancelledError:
                raise
            except RateLimitError as limited:
                await self._rate_limited(job, token, limited.retry_after_ms)
                return None
            except (JobNotStarted, GivenUp):
                return None
            except (WaitingChildrenError, DelayedError):
                # The processor parked the job (move_to_waiting_children, move_to_delayed):
                # nothing to write for this run, no attempt used; it runs again later.
                return None
            except Exception as error:
                nxt = await self._finish(job, partial(job.move_to_failed, error, token))
                await self._failed(job, error, started)
                return nxt
            try:
                nxt = await self._finish(job, partial(job.move_to_completed, result, token))
            except (UnencodableError, PendingDependenciesError, FailedChildrenError) as refused:
                # Refused before anything was written: the attempt fails with why (as
                # Node's worker: pending children is an ordinary failure, a child that
                # failed the job an unrecoverable one).
                failure: Exception = refused
                if isinstance(refused, UnencodableError):
                    failure = ValueError(
                        f"the processor's return value could not be stored: {refused}"
                    )
                elif isinstance(refused, FailedChildrenError):
                    failure = UnrecoverableError(str(refused))
                nxt = await self._finish(job, partial(job.move_to_failed, failure, token))
                level = logging.ERROR if isinstance(refused, UnencodableError) else logging.INFO
                logger.log(level, "job %s (%s) failed: %s", job.id, job.name, failure)
                if "failed" in hooks:
                    await hooks.emit("failed", job, failure)
                return nxt
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "job %s (%s) completed in %.0f ms",
                    job.id, job.name, (time.perf_counter() - started) * 1000,
                )  # fmt: skip
            if "completed" in hooks:
                await hooks.emit("completed", job, result)
            return nxt
        except LockError as error:
            logger.error("job %s: %s", job.id, error)
            await hooks.emit("error", error, job)
            return None
        finally:
            self.active.pop(job.id, None)

    async def _failed(self, job: Job, error: Exception, started: float) -> None:
        """Say that an attempt of ``job`` failed with ``error`` (a log line, the hooks)."""
        hooks = self.hooks
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "job %s (%s) failed after %.0f ms: %s",
                job.id, job.name, (time.perf_counter() - started) * 1000, job.failed_reason,
            )  # fmt: skip
        if isinstance(error, JobCancelledError) and "cancelled" in hooks:
            await hooks.emit("cancelled", job, error.reason)
        if "failed" in hooks:
            await hooks.emit("failed", job, error)

    async def _rate_limited(self, job: Job, token: str, retry_after_ms: int | None) -> None:
        """The processor raised ``RateLimitError``: set the queue's window when it gave
        one, put the job back to wait (no attempt used), and take no job until the
        window passes; with no window anywhere, hold off a minimum and say so."""
        fetcher = self.fetcher
        if retry_after_ms is not None:
            await fetcher.backend.rate_limit(self.queue, retry_after_ms, _clock.now_ms())
        left_ms = round(await job.move_to_wait(token) * 1000)
        if retry_after_ms is not None:
            left_ms = max(left_ms, retry_after_ms)
        if left_ms <= 0:
            limiter = fetcher.limiter
            left_ms = max(MIN_RATE_LIMIT_HOLD_OFF_MS, 0 if limiter is None else limiter.duration_ms)
            logger.warning(
                "job %s raised RateLimitError but queue %r has no rate limit set: holding "
                "off %d ms before taking another job; raise RateLimitError(retry_after="
                "seconds), or call queue.rate_limit(seconds) before raising it",
                job.id, self.queue, left_ms,
            )  # fmt: skip
        fetcher.hold_off(left_ms)

    async def _call(self, job: Job) -> Any:
        """Run the processor on ``job``; once it was stopped (see
        :mod:`corral._engine.stops`), the job's reason is raised, whatever it did.

        Its first step runs at once (:mod:`corral._engine.eager`): a processor that
        does not wait for anything is simply done. The rest is awaited here, in the
        slot's task: a stop cancels this task, and the cancel is withdrawn
        (``Task.uncancel``) once the processor has heard it, so that only a
        cancellation of the slot itself (a shutdown) goes on up."""
        started = eager.start(self.call, job)
        rest = started.rest
        if rest is None:
            return started.result  # it finished without waiting: there was nothing to stop
        task = asyncio.current_task()
        assert task is not None
        stops = self.stops
        run = stops.start(job, task, job.opts.timeout_ms or self.timeout_ms)
        try:
            result = await rest
        except asyncio.CancelledError:
            if not run.stopped or task.uncancel() > 0:
                raise  # the slot is being stopped (a shutdown): the processor with it
            run.stopped = False
        except BaseException:
            if run.stopped:
                run.stopped = False
                task.uncancel()
            if job.stop_reason is None and not run.given_up:
                raise
        else:
            if run.stopped:
                # It heard the stop and ended anyway: withdraw the cancel all the same.
                run.stopped = False
                task.uncancel()
            if job.stop_reason is None and not run.given_up:
                return result
        finally:
            stops.finish(run)
        if run.given_up:
            raise GivenUp  # failed already, when its grace ran out
        # Stopped: the job fails with the reason (its own ending is superseded).
        reason = job.stop_reason
        assert reason is not None
        raise type(reason)(str(reason))

    def _give_up(self, job: Job, reason: ProcessorError) -> None:
        """A stopped processor outlasted its grace: fail its job now, without it (its
        lock is no longer renewed); the processor keeps its slot until it ends."""
        self.active.pop(job.id, None)
        logger.warning(
            "job %s (%s): its processor did not stop within %gs of being told to (%s); "
            "the job is failed and the processor is left running",
            job.id, job.name, self.stops.grace, reason,
        )  # fmt: skip
        failing = asyncio.ensure_future(self._fail_without(job, type(reason)(str(reason))))
        self._abandoned.add(failing)
        failing.add_done_callback(self._abandoned.discard)

    async def _fail_without(self, job: Job, error: ProcessorError) -> None:
        started = time.perf_counter()
        try:
            await job.move_to_failed(error, job.token)
        except Exception as failure:
            logger.error("job %s: could not fail it after its processor was stopped: %s",
                         job.id, failure)  # fmt: skip
            await self.hooks.emit("error", failure, job)
            return
        await self._failed(job, error, started)

    async def _finish(self, job: Job, move: Callable[..., Awaitable[Job | None]]) -> Job | None:
        """Finish ``job`` with ``move(fetch_next=...)``. When the store does not answer (the
        outcome is unknown), the same move is made again, without fetching, until it
        answers: the job stays in hand meanwhile (its lock renewed whenever the store
        answers), and a refusal then (its lock was lost, or the first try had gone
        through) is reported like any other, so no lost lock goes unsaid."""
        try:
            return await move(fetch_next=self._may_fetch())
        except StoreUnavailableError as error:
            logger.warning(
                "job %s on queue %r: the store did not answer when the job was finished "
                "(%s); trying again until it does",
                job.id, self.queue, error,
            )  # fmt: skip
            await self.hooks.emit("error", error, job)
        failures = 0
        while True:
            failures += 1
            await asyncio.sleep(min(0.1 * 2**failures, 5.0))
            try:
                return await move(fetch_next=False)
            except StoreUnavailableError:
                continue

    def _may_fetch(self) -> bool:
        fetcher = self.fetcher
        return (
            not self.stopping.is_set() and not fetcher.paused and fetcher.rate_limited_for_ms() <= 0
        )

    async def _give_back(self, job: Job) -> BackendError | None:
        """Return an unfinished job to wait; the store's error if it cannot take it back
        now. One that already stalled back or was taken over has nothing to return."""
        try:
            await job.move_to_wait(job.token)
        except LockError:
            pass
        except BackendError as error:
            return error
        return None

    async def _give_back_all(self, jobs: list[Job]) -> None:
        """Return ``jobs`` to wait, all at once (during an outage each waits out the
        store's timeout, together), and say how it went in one log line. Jobs the store
        cannot take back keep their locks and stall back when those expire; so do all
        of them when :meth:`force` interrupts."""
        started = time.monotonic()
        returning = asyncio.ensure_future(asyncio.gather(*map(self._give_back, jobs)))
        self._returning = returning
        try:
            errors = await returning
        except asyncio.CancelledError:
            if not (returning.cancelled() and self.forced):
                raise
            logger.warning(
                "stopped at once while returning %d job(s) to wait on queue %r; they will "
                "stall back when their locks expire",
                len(jobs), self.queue,
            )  # fmt: skip
            return
        finally:
            self._returning = None
        failed = [error for error in errors if error is not None]
        if failed:
            logger.warning(
                "%d of %d unfinished job(s) on queue %r could not be returned to wait (%s); "
                "they keep their locks and will stall back when those expire",
                len(failed), len(jobs), self.queue, failed[0],
            )  # fmt: skip
        else:
            logger.info(
                "returned %d unfinished job(s) to wait in %.2fs",
                len(jobs), time.monotonic() - started,
            )  # fmt: skip

    # -- pausing ----------------------------------------------------------------------------

    async def wait_idle(self) -> None:
        """Return once no slot is processing a job (the worker is paused: none starts)."""
        while self.processing and not self._slots_done.is_set():
            idle = self._idle
            if idle is None or idle.is_set():
                idle = self._idle = asyncio.Event()
            waits = [
                asyncio.ensure_future(idle.wait()),
                asyncio.ensure_future(self._slots_done.wait()),
            ]
            try:
                await asyncio.wait(waits, return_when="FIRST_COMPLETED")
            finally:
                for wait in waits:
                    wait.cancel()
        self._idle = None

    # -- shutdown -------------------------------------------------------------------------

    def force(self) -> None:
        """Stop now: cancel running jobs and leave their locks to expire."""
        self.forced = True
        self.stopping.set()
        self.fetcher.cancel_wait()
        self.call.force()
        for task in self.processing:
            task.cancel()
        if self._returning is not None:
            self._returning.cancel()

    async def shutdown(self, grace: float | None) -> None:
        """Stop fetching; wait up to ``grace`` seconds (None: forever) for running
        jobs, then return the unfinished ones to wait."""
        self.stopping.set()
        self.fetcher.cancel_wait()
        if grace == 0:
            self.forced = True
            self.call.force()
        running = set(self.processing)
        if running and not self.forced:
            await asyncio.wait(running, timeout=grace)
        pending = {task for task in running if not task.done()}
        if not pending:
            return
        unfinished = list(self.active.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self.forced:
            return  # leave the locks to expire; the jobs stall back
        await self._give_back_all(unfinished)
