"""The engine behind ``Worker.run()``: slots that fetch and process jobs, a lock
renewer, and the stalled checker, under one ``asyncio.TaskGroup``.

Each of ``concurrency`` slots loops: take a job, run the processor, finish the
job *and fetch the next one in the same call*, so a busy worker costs one round
trip per job. Idle slots share a single blocking wait for work, so a quiet
worker costs nothing. The lock renewer extends the locks of every job in hand
in one batched call every ``lock_duration / 2``; a job whose lock was lost is
reported and never finished with its stale token.

Shutdown (``Worker.close()``): stop fetching, let running jobs finish for up to
``grace`` seconds, then return the unfinished ones to wait without counting an
attempt. ``Worker.close(grace=0)`` or a second signal ends at once: those jobs
keep their locks until they expire and then stall back to the queue.
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
from typing import TYPE_CHECKING, Any, cast

from corral._client import now_ms
from corral.backends.base import Fetched
from corral.errors import LockError, RateLimitError, error_from_code
from corral.job import Job, take_fetched

if TYPE_CHECKING:
    from corral.worker import Worker

__all__ = ["Runner"]

logger = logging.getLogger("corral.worker")

MAX_RATE_LIMIT_SLEEP = 30.0
"""The longest a worker sleeps on a rate limit before looking again (seconds)."""


class Runner:
    """One run of a processor worker. Created by ``Worker.run()``; not public."""

    def __init__(self, worker: Worker, processor: Callable[[Job], Any]) -> None:
        self.worker = worker
        self.processor = processor
        self.is_async = inspect.iscoroutinefunction(processor) or inspect.iscoroutinefunction(
            getattr(processor, "__call__", None)  # noqa: B004 - an object with async __call__
        )
        self.executor: ThreadPoolExecutor | None = None
        self.stopping = asyncio.Event()
        self.active: dict[str, Job] = {}
        """Jobs in hand, by id: their tokens are renewed by the lock renewer."""
        self.lost: set[str] = set()
        self.processing: set[asyncio.Task[Any]] = set()
        self.shared_wait: asyncio.Future[int | None] | None = None
        self.drained = False
        self.forced = False
        self.worker_id = uuid.uuid4().hex
        self.token_counter = 0

    # -- the task group ----------------------------------------------------------

    async def run(self) -> None:
        worker = self.worker
        if not self.is_async:
            self.executor = ThreadPoolExecutor(
                max_workers=worker.concurrency, thread_name_prefix=f"corral-{worker.name}"
            )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._renew_locks(), name="corral-lock-renewer")
                group.create_task(self._check_stalled(), name="corral-stalled-checker")
                slots = [
                    group.create_task(self._slot(), name=f"corral-slot-{i}")
                    for i in range(worker.concurrency)
                ]
                await asyncio.wait(slots)
                # Slots are done: stop the helpers.
                self.stopping.set()
        finally:
            if self.executor is not None:
                self.executor.shutdown(wait=False, cancel_futures=True)

    def next_token(self) -> str:
        self.token_counter += 1
        return f"{self.worker_id}:{self.token_counter}"

    # -- slots ----------------------------------------------------------------------

    async def _slot(self) -> None:
        job: Job | None = None
        failures = 0
        task = asyncio.current_task()
        assert task is not None
        while not self.stopping.is_set():
            try:
                if job is None:
                    job = await self._fetch()
                    if failures:
                        logger.info("worker on queue %r: the store answers again", self.worker.name)
                        failures = 0
                    continue
                self.processing.add(task)
                try:
                    job = await self._process(job)
                finally:
                    self.processing.discard(task)
            except Exception as error:
                # The store is unreachable or failed: report, back off, try again.
                # A job in hand keeps its lock until it expires, then stalls back.
                job = None
                failures += 1
                delay = min(0.1 * 2**failures, 5.0)
                logger.warning(
                    "worker on queue %r: %s; retrying in %.1fs", self.worker.name, error, delay
                )
                await self.worker._emit("error", error, None)
                await self._sleep(delay)
        if job is not None:
            # Fetched as we were stopping: give it straight back.
            await self._give_back(job)

    async def _fetch(self) -> Job | None:
        worker = self.worker
        wait = worker.rate_limited_for
        if wait > 0:
            await self._sleep(min(wait, MAX_RATE_LIMIT_SLEEP))
            return None
        token = self.next_token()
        fetched = await worker._move_to_active(worker._fetch_request(token))
        job = await take_fetched(worker, fetched, token)
        if job is not None:
            self.drained = False
            return job
        if fetched.rate_limited_for_ms > 0:
            return None
        if not self.drained:
            self.drained = True
            await worker._emit("drained")
        await self._wait_for_work(fetched)
        return None

    async def _wait_for_work(self, fetched: Fetched) -> None:
        """All idle slots share one blocking wait on the store."""
        worker = self.worker
        timeout = worker.drain_delay_ms
        if fetched.next_delayed_at_ms:
            timeout = max(1, min(timeout, fetched.next_delayed_at_ms - now_ms()))
        if self.shared_wait is None or self.shared_wait.done():
            self.shared_wait = asyncio.ensure_future(
                worker.backend.wait_for_job(worker.name, timeout)
            )
            # Whoever is waiting reads the outcome; at shutdown nobody may, so
            # mark it read here to keep a late error from being reported as lost.
            self.shared_wait.add_done_callback(_mark_read)
        stop: asyncio.Future[Any] = asyncio.ensure_future(self.stopping.wait())
        waits: set[asyncio.Future[Any]] = {self.shared_wait, stop}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if self.shared_wait.done() and not self.shared_wait.cancelled():
            exc = self.shared_wait.exception()
            if exc is not None:
                await worker._emit("error", exc, None)
                await self._sleep(1.0)
                return
            woke = self.shared_wait.result()
            if woke is not None and woke > now_ms() + 1:
                # Woken for a delayed job that is not due yet: sleep until it is.
                await self._sleep(min((woke - now_ms()) / 1000, worker.drain_delay_ms / 1000))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    # -- processing -------------------------------------------------------------------

    async def _call_processor(self, job: Job) -> Any:
        if self.is_async:
            return await cast(Callable[[Job], Awaitable[Any]], self.processor)(job)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.processor, job)

    async def _process(self, job: Job) -> Job | None:
        """Run one job and finish it; returns the next job fetched in the same call."""
        worker = self.worker
        token = job.token
        assert token is not None
        self.active[job.id] = job
        hooks = worker._hooks
        if hooks:
            await worker._emit("active", job)
        started = time.perf_counter()
        try:
            try:
                result = await self._call_processor(job)
            except asyncio.CancelledError:
                raise
            except RateLimitError:
                left = await job.move_to_wait(token)
                worker._limit_until = now_ms() + round(left * 1000)
                return None
            except Exception as error:
                if self._lock_lost(job):
                    return None
                nxt = await job.move_to_failed(error, token, fetch_next=self._may_fetch())
                if logger.isEnabledFor(logging.INFO):
                    logger.info(
                        "job %s (%s) failed after %.0f ms: %s",
                        job.id, job.name, (time.perf_counter() - started) * 1000,
                        job.failed_reason,
                    )  # fmt: skip
                if hooks:
                    await worker._emit("failed", job, error)
                return nxt
            if self._lock_lost(job):
                return None
            nxt = await job.move_to_completed(result, token, fetch_next=self._may_fetch())
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "job %s (%s) completed in %.0f ms",
                    job.id, job.name, (time.perf_counter() - started) * 1000,
                )  # fmt: skip
            if hooks:
                await worker._emit("completed", job, result)
            return nxt
        except LockError as error:
            logger.error("job %s: %s", job.id, error)
            await worker._emit("error", error, job)
            return None
        finally:
            self.active.pop(job.id, None)
            self.lost.discard(job.id)

    def _may_fetch(self) -> bool:
        if self.stopping.is_set():
            return False
        return self.worker._limit_until == 0 or self.worker.rate_limited_for <= 0

    def _lock_lost(self, job: Job) -> bool:
        if job.id not in self.lost:
            return False
        logger.error(
            "job %s: its lock was lost while it ran (it may run again elsewhere); "
            "its result is not recorded",
            job.id,
        )
        return True

    async def _give_back(self, job: Job) -> None:
        # A LockError means it already stalled back or was taken over: nothing to return.
        with contextlib.suppress(LockError):
            await job.move_to_wait(job.token)

    # -- helpers -----------------------------------------------------------------------

    async def _renew_locks(self) -> None:
        worker = self.worker
        interval = worker.lock_duration_ms / 2000
        while not self.stopping.is_set():
            await self._sleep(interval)
            held = [(job_id, job.token) for job_id, job in self.active.items() if job.token]
            if not held:
                continue
            try:
                failed = await worker.backend.extend_locks(
                    worker.name, held, worker.lock_duration_ms, now_ms()
                )
            except Exception as error:
                logger.warning("could not renew locks on queue %r: %s", worker.name, error)
                await worker._emit("error", error, None)
                continue
            for job_id, code in failed.items():
                if job_id in self.active:
                    self.lost.add(job_id)
                    lost = error_from_code(code, job_id=job_id, operation="extend_locks")
                    await worker._emit("error", lost, self.active.get(job_id))

    async def _check_stalled(self) -> None:
        worker = self.worker
        while not self.stopping.is_set():
            try:
                await worker._report_stalled(await worker.check_stalled_jobs())
            except Exception as error:
                logger.warning("stalled check failed on queue %r: %s", worker.name, error)
                await worker._emit("error", error, None)
            await self._sleep(worker.stalled_interval_ms / 1000)

    # -- shutdown -------------------------------------------------------------------------

    def force(self) -> None:
        """Stop now: cancel running jobs and leave their locks to expire."""
        self.forced = True
        self.stopping.set()
        for task in self.processing:
            task.cancel()

    async def shutdown(self, grace: float | None) -> None:
        """Stop fetching; wait up to ``grace`` seconds (None: forever) for running
        jobs, then return the unfinished ones to wait."""
        self.stopping.set()
        if grace == 0:
            self.forced = True
        if self.shared_wait is not None and not self.shared_wait.done():
            self.shared_wait.cancel()
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
        started = time.monotonic()
        for job in unfinished:
            await self._give_back(job)
        logger.info(
            "returned %d unfinished job(s) to wait in %.2fs",
            len(unfinished),
            time.monotonic() - started,
        )


def _mark_read(future: asyncio.Future[int | None]) -> None:
    if not future.cancelled():
        future.exception()
