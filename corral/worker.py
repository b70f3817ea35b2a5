"""Worker: takes jobs from a queue under a lock owned by a token.

With a processor, :meth:`Worker.run` processes jobs until :meth:`Worker.close`
(``concurrency`` at a time), renewing their locks and checking for stalled
jobs; the processor's return value completes the job and an exception fails
the attempt. Driven by hand (no processor), a worker hands out jobs with
:meth:`Worker.get_next_job`; the caller does the work and finishes the job
with ``job.move_to_completed`` / ``job.move_to_failed`` using the same token.

Hooks (``worker.on(event, fn)``; ``fn`` may be sync or async, its errors are
logged and never stop the worker):

| event | arguments | when |
|---|---|---|
| ``active`` | job | the processor is about to run the job |
| ``completed`` | job, result | the job completed |
| ``failed`` | job, error | an attempt failed (the job may be retried) |
| ``stalled`` | job_id | the stalled checker returned a job to wait |
| ``drained`` | | the queue has no job left to fetch |
| ``error`` | error, job or None | something went wrong outside a processor (lost lock, store down) |
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, Self

from corral._client import QueueClient, now_ms
from corral._policy import BackoffStrategy
from corral.backends.base import Failed, Fetched, FetchRequest, KeepJobs, Limiter
from corral.errors import BackendError, CorruptJobError
from corral.job import Job, take_fetched
from corral.options import Duration, RateLimiter, to_ms

if TYPE_CHECKING:
    from corral._runner import Runner

__all__ = ["Processor", "Worker", "WorkerEvent"]

WorkerEvent = Literal["active", "completed", "failed", "stalled", "drained", "error"]
"""The names :meth:`Worker.on` accepts."""

_EVENTS: frozenset[str] = frozenset(
    {"active", "completed", "failed", "stalled", "drained", "error"}
)

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
    - ``concurrency``: how many jobs ``run()`` processes at once.
    - ``backoff_strategy``: ``fn(attempts_made, backoff_type, error) -> seconds``
      for jobs whose backoff type is neither ``fixed`` nor ``exponential``.
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
        concurrency: int = 1,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise TypeError("concurrency must be an integer")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
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
        self.concurrency = concurrency
        self._limit_until = 0
        self._stalled_task: asyncio.Task[None] | None = None
        self._hooks: dict[str, list[Callable[..., Any]]] = {}
        self._runner: Runner | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._run_done = asyncio.Event()
        self._signal_tasks: set[asyncio.Task[None]] = set()
        self._close_task: asyncio.Future[None] | None = None
        self.stopped_at_once = False
        """True when the last :meth:`run` ended with ``close(grace=0)`` or a second
        signal: jobs it held were abandoned (they stall back), and threads running a
        plain-function processor may still be busy."""

    # -- hooks used by Job ---------------------------------------------------------

    def _fetch_request(self, token: str) -> FetchRequest:
        return FetchRequest(token, self.lock_duration_ms, self._limiter_wire, self.worker_name)

    def _note_fetch(self, fetched: Fetched | None) -> None:
        if fetched is not None and fetched.job is None and fetched.rate_limited_for_ms > 0:
            self._limit_until = now_ms() + fetched.rate_limited_for_ms

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
            fetched = await self._move_to_active(request)
            job = await take_fetched(self, fetched, token)
            if job is not None or fetched.rate_limited_for_ms > 0 or not block:
                return job
            if not await self._wait_for_work(deadline, fetched.next_delayed_at_ms):
                return None

    async def _move_to_active(self, request: FetchRequest) -> Fetched:
        """Fetch a job; one whose stored fields cannot be read (it is locked with our
        token by then) is failed with the reason, and the next one is fetched."""
        while True:
            try:
                return await self._backend.move_to_active(self._name, request, now_ms())
            except CorruptJobError as exc:
                logger.error("queue %r: failing unreadable job: %s", self._name, exc)
                failed = Failed(str(exc), "[]", KeepJobs(), 0)
                await self._backend.move_to_finished(
                    self._name, exc.job_id, request.token, failed, now_ms()
                )

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
            except BackendError as error:
                # The store is down or restarting: one clear line, no traceback.
                logger.warning(
                    "stalled check failed on queue %r: %s; will retry", self._name, error
                )
                await self._emit("error", error, None)
            except Exception:
                logger.exception("stalled check failed on queue %r; will retry", self._name)

    async def _report_stalled(self, ids: list[str]) -> None:
        for job_id in ids:
            logger.warning(
                "job %s on queue %r stalled and was returned to wait", job_id, self._name
            )
            await self._emit("stalled", job_id)

    # -- hooks ------------------------------------------------------------------------------

    def on(self, event: WorkerEvent, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback`` on ``event`` (see the module docstring); returns it."""
        if event not in _EVENTS:
            raise ValueError(f"unknown worker event {event!r}; known: {sorted(_EVENTS)}")
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._hooks.setdefault(event, []).append(callback)
        return callback

    async def _emit(self, event: str, *args: Any) -> None:
        for callback in self._hooks.get(event, ()):
            try:
                result = callback(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("worker %r hook raised; ignored", event)

    # -- processing ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether :meth:`run` is processing jobs."""
        return self._runner is not None

    async def run(self, *, handle_signals: bool = False, grace: float | None = 30.0) -> None:
        """Process jobs with the processor until :meth:`close` is called.

        Keeps ``concurrency`` jobs in progress, renews their locks every
        ``lock_duration / 2`` in one batched call, and runs the stalled checker
        every ``stalled_interval``. With ``handle_signals`` (the CLI's default),
        SIGINT/SIGTERM start a graceful close (running jobs get ``grace`` seconds
        to finish) and a second signal stops at once.
        """
        if self.processor is None:
            raise ValueError(
                "run() needs a processor: Worker(queue_name, processor); a worker without "
                "one is driven by hand with get_next_job()"
            )
        if self._runner is not None:
            raise RuntimeError("this worker is already running")
        if self._closed:
            raise RuntimeError("this worker is closed")
        from corral._runner import Runner

        runner = self._runner = Runner(self, self.processor)
        self._run_done.clear()
        remove_signals = self._install_signals(grace) if handle_signals else None
        try:
            await runner.run()
        finally:
            if remove_signals is not None:
                remove_signals()
            self.stopped_at_once = runner.forced
            self._runner = None
            self._run_done.set()

    def _install_signals(self, grace: float | None) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        seen = 0

        def handler(signum: int) -> None:
            nonlocal seen
            seen += 1
            if seen == 1:
                logger.info(
                    "%s received: finishing running jobs (send it again to stop now)",
                    signal.Signals(signum).name,
                )
                self._signal_tasks.add(loop.create_task(self.close(grace=grace)))
            else:
                logger.warning("second signal: stopping now; unfinished jobs will stall back")
                self._signal_tasks.add(loop.create_task(self.close(grace=0)))

        for sig in signals:
            loop.add_signal_handler(sig, handler, sig)

        def remove() -> None:
            for sig in signals:
                loop.remove_signal_handler(sig)

        return remove

    async def __aenter__(self) -> Self:
        """With a processor, start :meth:`run` in the background; :meth:`close` on exit."""
        if self.processor is not None and self._run_task is None:
            self._run_task = asyncio.create_task(self.run(), name=f"corral-worker-{self._name}")
        return self

    # -- lifecycle -----------------------------------------------------------------------

    async def close(self, *, grace: float | None = 30.0) -> None:
        """Stop fetching and close the connection.

        A running worker lets its jobs finish for up to ``grace`` seconds (None:
        as long as they take), then returns the unfinished ones to wait without
        counting an attempt; ``grace=0`` stops at once and leaves them to stall
        back when their locks expire. Jobs fetched by hand keep their locks until
        they expire.
        """
        if self._close_task is not None:
            # Already closing: a second, immediate close escalates (e.g. a second signal).
            if grace == 0 and self._runner is not None:
                self._runner.force()
            await asyncio.shield(self._close_task)
            return
        if self._closed:
            return
        self._close_task = asyncio.ensure_future(self._shutdown(grace))
        await asyncio.shield(self._close_task)

    async def _shutdown(self, grace: float | None) -> None:
        runner = self._runner
        if runner is not None:
            await runner.shutdown(grace)
        run_task, self._run_task = self._run_task, None
        if run_task is not None and run_task is not asyncio.current_task():
            await asyncio.gather(run_task, return_exceptions=True)
        elif runner is not None:
            # run() is awaited elsewhere; wait for it to wind down.
            await self._run_done.wait()
        task, self._stalled_task = self._stalled_task, None
        self._closed = True
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._backend.close()
