"""Worker: takes jobs from a queue under a lock owned by a token.

Driven by hand (no processor), a worker hands out jobs with
:meth:`Worker.get_next_job`; the caller does the work and finishes the job with
``job.move_to_completed`` / ``job.move_to_failed`` using the same token. The
stalled checker (:meth:`Worker.start_stalled_check_timer`) returns the jobs of
workers that died to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from corral._client import QueueClient, now_ms
from corral._policy import BackoffStrategy
from corral.backends.base import Fetched, FetchRequest, Limiter
from corral.job import Job, take_fetched
from corral.options import Duration, RateLimiter, to_ms

__all__ = ["Processor", "Worker"]

logger = logging.getLogger("corral.worker")

Processor = Callable[[Job], Awaitable[Any]] | Callable[[Job], Any]
"""A function that does a job's work: ``async def`` or plain ``def``; its return
value becomes the job's return value, an exception fails the attempt."""


class Worker(QueueClient):
    """Takes jobs from the queue ``queue_name``.

    - ``lock_duration`` (seconds): how long a fetched job stays locked to its
      token unless the lock is extended.
    - ``stalled_interval`` (seconds): how often the stalled checker runs.
    - ``max_stalled_count``: how many times a job may stall before it fails.
    - ``drain_delay`` (seconds): how long a blocking ``get_next_job`` waits for work.
    - ``limiter``: at most ``limiter.max`` jobs per ``limiter.duration`` seconds,
      shared by every worker of the queue.
    - ``name``: recorded on each job this worker takes (``job.processed_by``).
    """

    def __init__(
        self,
        queue_name: str,
        processor: Processor | None = None,
        *,
        url: str | None = None,
        prefix: str = "bull",
        lock_duration: Duration = 30,
        stalled_interval: Duration = 30,
        max_stalled_count: int = 1,
        drain_delay: Duration = 5,
        limiter: RateLimiter | None = None,
        name: str | None = None,
        backoff_strategy: BackoffStrategy | None = None,
    ) -> None:
        lock_ms = to_ms(lock_duration, name="lock_duration", allow_zero=False)
        stalled_ms = to_ms(stalled_interval, name="stalled_interval", allow_zero=False)
        drain_ms = to_ms(drain_delay, name="drain_delay", allow_zero=False)
        if isinstance(max_stalled_count, bool) or not isinstance(max_stalled_count, int):
            raise TypeError("max_stalled_count must be an integer")
        if max_stalled_count < 0:
            raise ValueError(f"max_stalled_count must be >= 0, got {max_stalled_count}")
        if limiter is not None and not isinstance(limiter, RateLimiter):
            raise TypeError("limiter must be a corral.RateLimiter(max=..., duration=...)")
        if name is not None and not isinstance(name, str):
            raise TypeError("name must be a string")
        if processor is not None and not callable(processor):
            raise TypeError("processor must be a function taking a Job")
        super().__init__(queue_name, url=url, prefix=prefix)
        self.processor = processor
        self.lock_duration_ms = lock_ms
        self.stalled_interval_ms = stalled_ms
        self.max_stalled_count = max_stalled_count
        self.drain_delay_ms = drain_ms
        self.limiter = limiter
        self.worker_name = name
        self._custom_backoff = backoff_strategy
        self._limiter_wire = (
            None
            if limiter is None
            else Limiter(limiter.max, to_ms(limiter.duration, name="limiter duration"))
        )
        self._limit_until = 0
        self._stalled_task: asyncio.Task[None] | None = None

    # -- hooks used by Job ---------------------------------------------------------

    def _fetch_request(self, token: str) -> FetchRequest:
        return FetchRequest(token, self.lock_duration_ms, self._limiter_wire, self.worker_name)

    def _note_fetch(self, fetched: Fetched | None) -> None:
        if fetched is not None and fetched.job is None and fetched.rate_limit_delay > 0:
            self._limit_until = now_ms() + fetched.rate_limit_delay

    @property
    def _backoff_strategy(self) -> BackoffStrategy | None:
        return self._custom_backoff

    # -- manual fetching -----------------------------------------------------------

    @property
    def rate_limited_for(self) -> float:
        """Seconds until the rate limit this worker last saw ends (0.0 if none)."""
        return max(0, self._limit_until - now_ms()) / 1000

    async def get_next_job(self, token: str | None = None, *, block: bool = True) -> Job | None:
        """Fetch the next job and lock it with ``token`` for ``lock_duration``.

        With no token a random one is made (``job.token`` holds it). With ``block``
        the call waits up to ``drain_delay`` for a job to arrive, without busy
        polling. Returns None when there is no job, the queue is paused, or it is
        rate limited (see :attr:`rate_limited_for`).
        """
        if self._closed:
            return None
        if token is None:
            token = str(uuid.uuid4())
        elif not isinstance(token, str) or not token:
            raise TypeError("token must be a non-empty string")
        request = self._fetch_request(token)
        deadline = time.monotonic() + self.drain_delay_ms / 1000
        while True:
            fetched = await self._backend.move_to_active(self._name, request, now_ms())
            job = await take_fetched(self, fetched, token)
            if job is not None or fetched.rate_limit_delay > 0 or not block:
                return job
            if not await self._wait_for_work(deadline, fetched.next_delayed_at):
                return None

    async def _wait_for_work(self, deadline: float, next_delayed_at: int) -> bool:
        """Sleep until work may be there (True) or the deadline passes (False)."""
        due = next_delayed_at
        while not self._closed:
            remaining = round((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                return False
            timeout = remaining
            if due > 0:
                until_due = due - now_ms()
                if until_due <= 0:
                    return True
                timeout = min(timeout, until_due)
            woke = await self._backend.wait_for_job(self._name, max(1, timeout))
            if woke is None:
                # Timed out: either the deadline or a delayed job's due time.
                if due > 0 and due <= now_ms():
                    return True
                continue
            if woke == 0 or woke <= now_ms() + 1:
                return True
            due = woke if due <= 0 else min(due, woke)
        return False

    # -- stalled jobs ------------------------------------------------------------------

    async def check_stalled_jobs(self) -> list[str]:
        """Run the stalled check once; return the ids of jobs returned to wait."""
        return await self._backend.move_stalled_to_wait(
            self._name, self.max_stalled_count, self.stalled_interval_ms, now_ms()
        )

    async def start_stalled_check_timer(self) -> None:
        """Check for stalled jobs now, then every ``stalled_interval`` until :meth:`close`."""
        if self._stalled_task is not None and not self._stalled_task.done():
            return
        await self._report_stalled(await self.check_stalled_jobs())
        self._stalled_task = asyncio.create_task(
            self._stalled_loop(), name=f"corral-stalled-{self._name}"
        )

    async def _stalled_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.stalled_interval_ms / 1000)
            if self._closed:
                return
            try:
                await self._report_stalled(await self.check_stalled_jobs())
            except Exception:
                logger.exception("stalled check failed on queue %r; will retry", self._name)

    async def _report_stalled(self, ids: list[str]) -> None:
        for job_id in ids:
            logger.warning(
                "job %s on queue %r stalled and was returned to wait", job_id, self._name
            )

    # -- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the stalled checker and close the connection. Jobs this worker still
        holds keep their locks until they expire, then stall back to the queue."""
        if self._closed:
            return
        task, self._stalled_task = self._stalled_task, None
        self._closed = True
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._backend.close()
