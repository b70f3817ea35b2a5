"""The fetcher: the one place a worker takes jobs from its queue.

It owns everything a fetch depends on, for ``Worker.get_next_job``, the slots of
``Worker.run()`` and ``job.move_to_*(fetch_next=True)`` alike:

- the fetch request (lock duration, limiter, worker name) for a token;
- the queue's rate-limit window as this worker last saw it (the only copy), and
  any hold-off the worker decides on itself (a bare ``RateLimitError``);
- deferred failures: a fetched job marked to fail on its next fetch (it stalled
  too often, or a child with ``fail_parent_on_failure`` failed), or one started
  more often than the worker's ``max_started_attempts``, is failed at once with
  its reason, the worker's ``failed`` hooks fire, and the next job is fetched;
- pausing this worker (``Worker.pause``): no fetch while paused;
- turning a fetched record into a :class:`~corral.Job` that moves through this
  fetcher, so its ``fetch_next`` uses the same settings;
- waiting for work without busy polling: concurrent waiters of one worker share
  a single blocking wait on the store, which (for ``Worker.run``) also fetches the
  moment it wakes where the store can; the job it takes is parked here until a
  slot claims it, or given back to wait when the worker pauses or stops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from corral import _clock
from corral._engine.hooks import Hooks
from corral._policy import BackoffStrategy, failure_stacktrace
from corral.backends.base import Backend, Failed, Fetched, FetchRequest, Limiter
from corral.errors import UnrecoverableError
from corral.job import Job, JobMover
from corral.options import parse_opts
from corral.schedulers import after_fetch

__all__ = ["STARTED_TOO_OFTEN", "Fetcher"]

STARTED_TOO_OFTEN = "job started more than allowable limit"
"""The failed reason of a job started more often than ``max_started_attempts``
(Node BullMQ's words, so either side's readers see the same)."""


class Fetcher:
    """Fetches jobs of ``queue`` from ``backend`` with one worker's settings."""

    def __init__(
        self,
        *,
        backend: Backend,
        queue: str,
        lock_duration_ms: int,
        drain_delay_ms: int,
        limiter: Limiter | None = None,
        worker_name: str | None = None,
        backoff_strategy: BackoffStrategy | None = None,
        hooks: Hooks | None = None,
        metrics_max_points: int = 0,
        max_started_attempts: int = 0,
    ) -> None:
        self.backend = backend
        self.hooks = hooks
        """The worker's hooks: a deferred failure fires its ``failed`` hooks, as any
        other failure does."""
        self.queue = queue
        self.lock_duration_ms = lock_duration_ms
        self.drain_delay_ms = drain_delay_ms
        self.limiter = limiter
        self.worker_name = worker_name
        self.max_started_attempts = max_started_attempts
        """> 0: a job started more often than this fails instead of running again."""
        self.mover = JobMover(
            backend, queue, self, backoff_strategy, metrics_max_points, max_started_attempts
        )
        """What the jobs this fetcher hands out move through."""
        self.paused = False
        """Whether this worker takes no job now (``Worker.pause``)."""
        self.watch: Callable[[Job], None] | None = None
        """Called with each job handed out by hand (``next_job``, ``fetch_next``), to
        watch it for a cancel; None while ``Worker.run`` watches its own jobs."""
        self._resumed = asyncio.Event()
        self._resumed.set()
        self.limited_until_ms = 0
        """Epoch ms until which no job will be handed out (rate limit or hold-off)."""
        self._shared_wait: asyncio.Future[int | None] | None = None
        self._parked: list[tuple[Fetched, str]] = []
        """Jobs a wake-up fetched (with the token each is locked with), not yet claimed."""

    # -- the request and the window ----------------------------------------------

    def request(self, token: str) -> FetchRequest:
        """The fetch request for ``token``: this worker's lock duration, limiter and name."""
        return FetchRequest(token, self.lock_duration_ms, self.limiter, self.worker_name)

    def rate_limited_for_ms(self) -> int:
        """ms until the rate limit (or hold-off) this worker knows of ends; 0 if none."""
        if self.limited_until_ms == 0:
            return 0
        return max(0, self.limited_until_ms - _clock.now_ms())

    def hold_off(self, ms: int) -> None:
        """Hand out no job for ``ms`` from now (a window that is already longer stands)."""
        if ms > 0:
            self.limited_until_ms = max(self.limited_until_ms, _clock.now_ms() + ms)

    # -- pausing ----------------------------------------------------------------------

    def pause(self) -> None:
        """Take no job until :meth:`resume`; a wait for work in progress ends now."""
        self.paused = True
        self._resumed.clear()
        self.cancel_wait()

    def resume(self) -> None:
        """Take jobs again."""
        self.paused = False
        self._resumed.set()

    async def wait_resumed(self, stop: asyncio.Event) -> None:
        """Return once this worker is resumed, or ``stop`` is set."""
        if not self.paused or stop.is_set():
            return
        waits = [asyncio.ensure_future(self._resumed.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, return_when="FIRST_COMPLETED")
        finally:
            for wait in waits:
                wait.cancel()

    # -- fetching --------------------------------------------------------------------

    async def settle(self, fetched: Fetched | None, token: str) -> Fetched | None:
        """What a fetch result comes to once deferred failures are failed.

        A fetched job marked to fail on its next fetch (``deferred_failure``) is never
        handed out: it is failed with its reason and the next job is fetched in the
        same call. A result with no job because of a rate limit records the window.
        """
        while fetched is not None and fetched.job is not None:
            record = fetched.job
            reason = record.deferred_failure or self._started_too_often(record.attempts_started)
            if not reason:
                break
            opts = parse_opts(record.opts)
            # As Node: the job fails with an UnrecoverableError, whose trace is stored.
            trace = failure_stacktrace(record.stacktrace, UnrecoverableError(reason))
            outcome = Failed(reason, trace, opts.keep_on_fail, opts.attempts)
            fetched = await self.backend.move_to_finished(
                self.queue, record.id, token, outcome, _clock.now_ms(), self.request(token)
            )
            if self.hooks is not None and "failed" in self.hooks:
                failed = Job(self.mover, record, token)
                failed._finished()
                failed.failed_reason = reason
                await self.hooks.emit("failed", failed, UnrecoverableError(reason))
        if fetched is not None and fetched.job is None and fetched.rate_limited_for_ms > 0:
            self.limited_until_ms = _clock.now_ms() + fetched.rate_limited_for_ms
        if fetched is not None and fetched.job is not None:
            # A scheduler's iteration started: add its next one now (as Node's workers do).
            await after_fetch(self.backend, self.queue, fetched.job, _clock.now_ms())
        return fetched

    def _started_too_often(self, attempts_started: int) -> str | None:
        limit = self.max_started_attempts
        return STARTED_TOO_OFTEN if 0 < limit < attempts_started else None

    async def take(self, fetched: Fetched | None, token: str) -> Job | None:
        """The job a fetch result hands out (see :meth:`settle`), locked with ``token``."""
        fetched = await self.settle(fetched, token)
        if fetched is None or fetched.job is None:
            return None
        job = Job(self.mover, fetched.job, token)
        if self.watch is not None:
            self.watch(job)
        return job

    async def fetch(self, token: str) -> tuple[Job | None, Fetched]:
        """Try once: the job fetched and locked with ``token`` (or None), and the result."""
        fetched = await self.backend.move_to_active(
            self.queue, self.request(token), _clock.now_ms()
        )
        settled = await self.settle(fetched, token)
        if settled is None:  # pragma: no cover - a fetch always answers
            return None, fetched
        if settled.job is None:
            return None, settled
        return Job(self.mover, settled.job, token), settled

    async def claim(self) -> Job | None:
        """A job the last wake-up fetched, settled as any fetch is (None if none)."""
        while self._parked:
            fetched, token = self._parked.pop(0)
            job = await self.take(fetched, token)
            if job is not None:
                return job
        return None

    def unpark(self) -> list[Job]:
        """Every job fetched at a wake-up and not claimed, as jobs to give back."""
        parked, self._parked = self._parked, []
        return [Job(self.mover, fetched.job, token) for fetched, token in parked if fetched.job]

    async def next_job(self, token: str, *, block: bool, stop: asyncio.Event) -> Job | None:
        """``Worker.get_next_job``: fetch, and with ``block`` wait up to ``drain_delay``
        for a job to arrive. None when there is none, the queue is paused or limited."""
        deadline = time.monotonic() + self.drain_delay_ms / 1000
        while not stop.is_set() and not self.paused:
            job, fetched = await self.fetch(token)
            if job is not None and self.watch is not None:
                self.watch(job)
            if job is not None or fetched.rate_limited_for_ms > 0 or not block:
                return job
            if not await self.wait_for_work(deadline, fetched.next_delayed_at_ms, stop):
                return None
        return None

    # -- waiting for work ---------------------------------------------------------------

    async def wait_for_work(
        self,
        deadline: float,
        due_ms: int,
        stop: asyncio.Event,
        token: Callable[[], str] | None = None,
    ) -> bool:
        """Sleep until work may be there (True), or until the monotonic ``deadline``
        passes or ``stop`` is set (False). ``due_ms``: when the next delayed job falls
        due (epoch ms, 0 for none), so a wait never outlasts it. :meth:`pause` ends it
        (False). With ``token`` (a new token per call), the wait fetches as it wakes
        where the store can, and parks the job for :meth:`claim`."""
        while not stop.is_set() and not self.paused:
            remaining = round((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                return False
            timeout = remaining
            if due_ms > 0:
                until_due = due_ms - _clock.now_ms()
                if until_due <= 0:
                    return True
                timeout = min(timeout, until_due)
            woke = await self._wait_shared(max(1, timeout), stop, token)
            if woke is None:
                # Timed out (or stopped): the deadline, or a delayed job's due time.
                if due_ms > 0 and due_ms <= _clock.now_ms():
                    return True
                continue
            if woke == 0 or woke <= _clock.now_ms() + 1:
                return True
            due_ms = woke if due_ms <= 0 else min(due_ms, woke)
        return False

    async def _wait_shared(
        self, timeout_ms: int, stop: asyncio.Event, token: Callable[[], str] | None
    ) -> int | None:
        """One blocking wait on the store, shared by every concurrent waiter of this
        fetcher; each waiter gives up at its own timeout. Errors are raised to every
        waiter."""
        if self._parked:
            return 0
        shared = self._shared_wait
        if shared is None or shared.done():
            waiting = (
                self.backend.wait_for_job(self.queue, timeout_ms)
                if token is None
                else self._wait_and_park(timeout_ms, self.request(token()))
            )
            shared = self._shared_wait = asyncio.ensure_future(waiting)
            # A waiter that gave up never reads the outcome: mark it read, so a
            # late error is not reported as never retrieved.
            shared.add_done_callback(_mark_read)
        stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        waits: list[asyncio.Future[Any]] = [shared, stopped]
        try:
            await asyncio.wait(waits, timeout=timeout_ms / 1000, return_when="FIRST_COMPLETED")
        finally:
            stopped.cancel()
        if not shared.done() or shared.cancelled():
            return None
        return shared.result()

    async def _wait_and_park(self, timeout_ms: int, request: FetchRequest) -> int | None:
        woke, fetched = await self.backend.wait_and_fetch(self.queue, timeout_ms, request)
        if fetched is not None:
            if fetched.job is not None:
                self._parked.append((fetched, request.token))
            elif fetched.rate_limited_for_ms > 0:
                self.limited_until_ms = _clock.now_ms() + fetched.rate_limited_for_ms
        return woke

    def cancel_wait(self) -> None:
        """Abandon the shared wait on the store (the worker is stopping)."""
        shared, self._shared_wait = self._shared_wait, None
        if shared is not None and not shared.done():
            shared.cancel()


def _mark_read(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
