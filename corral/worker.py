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
| ``cancelled`` | job, reason | a job this worker ran was cancelled (``queue.cancel``) and failed |
| ``paused`` | | :meth:`Worker.pause` stopped this worker taking jobs |
| ``resumed`` | | :meth:`Worker.resume` let it take jobs again |
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Self, overload

from corral import otel
from corral._client import QueueClient
from corral._codec import check_text
from corral._engine.fetcher import Fetcher
from corral._engine.hooks import Hooks, WorkerEvent
from corral._engine.locks import LockRenewer
from corral._engine.presence import Presence
from corral._engine.runner import ProcessorCall, Runner
from corral._engine.signals import ShutdownSignals
from corral._engine.stalled import StalledChecker
from corral._engine.stops import Stops
from corral._policy import BackoffStrategy
from corral._process.options import check_processor
from corral._process.pool import PROCESS_STOP_MARGIN, ProcessPool
from corral.backends.base import Limiter
from corral.connection import SharedConnection
from corral.job import Job, JobMover
from corral.metrics import check_max_points
from corral.options import Duration, RateLimiter, to_ms

__all__ = ["Processor", "Worker", "WorkerEvent"]

logger = logging.getLogger("corral.worker")

Processor = Callable[[Job], Awaitable[Any]] | Callable[[Job], Any]
"""A function that does a job's work: ``async def`` or plain ``def``; its return
value becomes the job's return value, an exception fails the attempt."""

Hook = Callable[..., Any]


class Worker(QueueClient):
    """Takes jobs from the queue ``queue_name``.

    - ``lock_duration`` (seconds): how long a fetched job stays locked to its
      token unless the lock is extended.
    - ``stalled_interval`` (seconds): how often the stalled checker runs.
    - ``max_stalled_count``: how many times a job may stall before it fails.
    - ``drain_delay`` (seconds): how long a blocking ``get_next_job`` waits for work.
    - ``limiter``: at most ``limiter.max`` jobs per ``limiter.duration`` seconds,
      shared by every worker of the queue.
    - ``name``: this worker's name, recorded on each job it takes
      (``job.processed_by``); read it back as :attr:`worker_name`.
    - ``concurrency``: how many jobs ``run()`` processes at once (default 1, or
      ``processes`` when that is set).
    - ``processor``: a function taking a Job (``async def`` or plain ``def``), or its
      path ``"package.module:function"``.
    - ``processes``: run the processor in this many child processes (one job per
      child at a time); this process keeps the store connection, the locks and
      their renewal, the stalled check. The processor must be a top-level function
      or its path (a lambda or closure is refused). None (default): in this process.
    - ``max_jobs_per_child`` / ``max_memory_per_child`` (bytes of resident memory):
      replace a child after that many jobs / once a job leaves it larger.
    - ``kill_grace`` (seconds): how long a child that must stop (a timeout, a
      shutdown past its grace) has between SIGTERM and SIGKILL.
    - ``backoff_strategy``: ``fn(attempts_made, backoff_type, error) -> seconds``
      for jobs whose backoff type is neither ``fixed`` nor ``exponential``.
    - ``connection``: a :class:`~corral.Connection` to share instead of ``url``.
    - ``timeout`` (seconds): how long :meth:`run` lets an attempt run when its job
      has no ``timeout`` option; past it the processor is stopped and the attempt
      fails with a :class:`~corral.JobTimeoutError` (retried while attempts remain).
      None: no limit.
    - ``max_started_attempts``: a job started more often than this (each fetch
      counts, ``job.attempts_started``: a retry, a stall, a ``RateLimitError``, a
      ``move_to_wait``) fails with ``job started more than allowable limit``
      instead of running again, and a failure once it was started that often is
      not retried, as Node BullMQ's option. None or 0 (default): no cap.
    - ``metrics``: count the jobs this worker completes and fails per minute,
      keeping this many minutes (e.g. :attr:`~corral.MetricsTime.ONE_WEEK`), as
      Node BullMQ's ``metrics.maxDataPoints``; read with ``Queue.get_metrics``.
    """

    def __init__(
        self,
        queue_name: str,
        processor: Processor | str | None = None,
        *,
        url: str | None = None,
        prefix: str = "bull",
        connection: SharedConnection | None = None,
        lock_duration: Duration = 30,
        stalled_interval: Duration = 30,
        max_stalled_count: int = 1,
        drain_delay: Duration = 5,
        limiter: RateLimiter | None = None,
        name: str | None = None,
        backoff_strategy: BackoffStrategy | None = None,
        concurrency: int | None = None,
        timeout: Duration | None = None,
        processes: int | None = None,
        max_jobs_per_child: int | None = None,
        max_memory_per_child: int | None = None,
        kill_grace: Duration = 5,
        metrics: int | None = None,
        max_started_attempts: int | None = None,
    ) -> None:
        function, process_options = check_processor(
            processor,
            processes=processes,
            max_jobs_per_child=max_jobs_per_child,
            max_memory_per_child=max_memory_per_child,
            kill_grace=kill_grace,
        )
        if concurrency is None:
            concurrency = 1 if processes is None else processes
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise TypeError("concurrency must be an integer")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        lock_ms = to_ms(lock_duration, name="lock_duration", allow_zero=False)
        stalled_ms = to_ms(stalled_interval, name="stalled_interval", allow_zero=False)
        drain_ms = to_ms(drain_delay, name="drain_delay", allow_zero=False)
        timeout_ms = None if timeout is None else to_ms(timeout, name="timeout", allow_zero=False)
        if isinstance(max_stalled_count, bool) or not isinstance(max_stalled_count, int):
            raise TypeError("max_stalled_count must be an integer")
        if max_stalled_count < 0:
            raise ValueError(f"max_stalled_count must be >= 0, got {max_stalled_count}")
        if max_started_attempts is not None and (
            isinstance(max_started_attempts, bool) or not isinstance(max_started_attempts, int)
        ):
            raise TypeError("max_started_attempts must be an integer (or None for no cap)")
        if max_started_attempts is not None and max_started_attempts < 0:
            raise ValueError(
                f"max_started_attempts must be >= 0 (0 or None: no cap), got {max_started_attempts}"
            )
        if limiter is not None and not isinstance(limiter, RateLimiter):
            raise TypeError("limiter must be a corral.RateLimiter(max=..., duration=...)")
        if name is not None and not isinstance(name, str):
            raise TypeError("name must be a string")
        if name is not None:
            check_text(name, "worker name")
        if backoff_strategy is not None and not callable(backoff_strategy):
            raise TypeError(
                "backoff_strategy must be a function (attempts, type, error) -> seconds"
            )
        metrics_points = 0 if metrics is None else check_max_points(metrics)
        super().__init__(queue_name, url=url, prefix=prefix, connection=connection)
        self.processor: Processor | None = function
        """The function :meth:`run` calls for each job (None: driven by hand)."""
        self.processes = processes
        """How many child processes run the processor (None: it runs in this process)."""
        self.max_jobs_per_child = max_jobs_per_child
        """A child is replaced after this many jobs (None: never)."""
        self.max_memory_per_child = max_memory_per_child
        """A child is replaced after a job leaves it above this resident memory (bytes)."""
        self.kill_grace = to_ms(kill_grace, name="kill_grace") / 1000
        """Seconds between SIGTERM and SIGKILL when a child must stop."""
        self._process_options = process_options
        self.lock_duration_ms = lock_ms
        """How long a fetched job's lock lasts unless extended (ms)."""
        self.stalled_interval_ms = stalled_ms
        """How often the stalled check runs (ms)."""
        self.max_stalled_count = max_stalled_count
        """How many times a job may stall before it fails."""
        self.drain_delay_ms = drain_ms
        """How long a blocking fetch waits for work (ms)."""
        self.limiter = limiter
        """The rate limit this worker takes part in, if any."""
        self.worker_name = name
        """This worker's name (``job.processed_by`` of the jobs it takes), if given."""
        self.concurrency = concurrency
        """How many jobs :meth:`run` processes at once."""
        self.backoff_strategy = backoff_strategy
        """The custom backoff, if any (see the class docstring)."""
        self.timeout_ms = timeout_ms
        """How long an attempt of a job without its own ``timeout`` may run (ms; None: no limit)."""
        self.max_started_attempts = max_started_attempts
        """A job started more often than this fails instead of running (None: no cap)."""
        self._hooks = Hooks()
        limiter_wire = (
            None
            if limiter is None
            else Limiter(limiter.max, to_ms(limiter.duration, name="limiter duration"))
        )
        self._fetcher = Fetcher(
            backend=self._backend,
            queue=self._name,
            lock_duration_ms=lock_ms,
            drain_delay_ms=drain_ms,
            limiter=limiter_wire,
            worker_name=name,
            backoff_strategy=backoff_strategy,
            hooks=self._hooks,
            metrics_max_points=metrics_points,
            max_started_attempts=max_started_attempts or 0,
        )
        self.metrics = metrics
        """How many minutes of per-minute counts this worker keeps (None: none)."""
        self._stalled = StalledChecker(
            backend=self._backend,
            queue=self._name,
            max_stalled_count=max_stalled_count,
            stalled_interval_ms=stalled_ms,
            hooks=self._hooks,
        )
        self._presence = Presence(self._backend, self._name, name)
        # Jobs handed out by hand are watched for a cancel (job.is_cancelled).
        self._manual_stops = Stops(backend=self._backend, queue=self._name, hooks=self._hooks)
        self._closing = asyncio.Event()
        self._watch_manual = partial(self._manual_stops.watch, stop=self._closing)
        self._fetcher.watch = self._watch_manual
        self._stalled_task: asyncio.Task[None] | None = None
        self._runner: Runner | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._run_done = asyncio.Event()
        self._close_task: asyncio.Future[None] | None = None
        self.stopped_at_once = False
        """True when the last :meth:`run` ended with ``close(grace=0)`` or a second
        signal: jobs it held were abandoned (they stall back), and threads running a
        plain-function processor may still be busy."""

    @property
    def job_mover(self) -> JobMover:
        """How the jobs this worker hands out move: through its fetcher (so
        ``fetch_next`` uses this worker's settings) and its backoff strategy."""
        return self._fetcher.mover

    # -- manual fetching -----------------------------------------------------------

    @property
    def rate_limited_for(self) -> float:
        """Seconds until the rate limit this worker last saw ends (0.0 if none)."""
        return self._fetcher.rate_limited_for_ms() / 1000

    async def get_next_job(self, token: str | None = None, *, block: bool = True) -> Job | None:
        """Fetch the next job and lock it with ``token`` for ``lock_duration``.

        With no token a random one is made (``job.token`` holds it). With ``block``
        the call waits up to ``drain_delay`` for a job to arrive, without busy
        polling. Returns None when there is no job, the queue or this worker is
        paused, or it is rate limited (see :attr:`rate_limited_for`).

        Until it is moved on, the job is watched for a cancel (``queue.cancel`` from
        anywhere): ``job.is_cancelled`` becomes true within about a second, for the
        code working on it to stop and fail it (``job.raise_if_cancelled()``).
        """
        if self._closed:
            return None
        if token is None:
            token = str(uuid.uuid4())
        elif not isinstance(token, str) or not token:
            raise TypeError("token must be a non-empty string")
        else:
            check_text(token, "token")
        if self._fetcher.paused:
            return None
        job = await self._fetcher.next_job(token, block=block, stop=self._closing)
        # After the fetch, in the background: a fetch that is waiting (or is cancelled)
        # has nothing else running beside it.
        self._presence.beat_soon()
        return job

    # -- stalled jobs ------------------------------------------------------------------

    async def check_stalled_jobs(self) -> list[str]:
        """Run the stalled check once; return the ids of jobs returned to wait."""
        return await self._stalled.check()

    async def start_stalled_check_timer(self) -> None:
        """Check for stalled jobs now, then every ``stalled_interval`` until :meth:`close`."""
        if self._stalled_task is not None and not self._stalled_task.done():
            return
        await self._stalled.check()
        self._stalled_task = asyncio.create_task(
            self._stalled.run(self._closing, first_now=False), name=f"corral-stalled-{self._name}"
        )

    # -- hooks ------------------------------------------------------------------------------

    @overload
    def on(self, event: WorkerEvent, callback: Hook) -> Hook: ...

    @overload
    def on(self, event: WorkerEvent, callback: None = None) -> Callable[[Hook], Hook]: ...

    def on(self, event: WorkerEvent, callback: Hook | None = None) -> Hook | Callable[[Hook], Hook]:
        """Call ``callback`` on ``event`` (see the module docstring); returns it.

        Without ``callback`` it is a decorator: ``@worker.on("completed")``.
        """
        if callback is None:
            self._hooks.check(event)
            return lambda fn: self._hooks.on(event, fn)
        return self._hooks.on(event, callback)

    def off(self, event: WorkerEvent, callback: Hook | None = None) -> bool:
        """Stop calling ``callback`` on ``event`` (every callback of it when None);
        returns whether one was removed."""
        return self._hooks.off(event, callback)

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
        active: dict[str, Job] = {}
        pool = None if self._process_options is None else self._make_pool()
        runner = self._runner = Runner(
            fetcher=self._fetcher,
            call=(
                ProcessorCall(
                    otel.traced(self.processor, self.worker_name)
                    if otel.ENABLED
                    else self.processor,
                    concurrency=self.concurrency,
                    name=self._name,
                )
                if pool is None
                else pool
            ),
            hooks=self._hooks,
            renewer=LockRenewer(
                backend=self._backend,
                queue=self._name,
                lock_duration_ms=self.lock_duration_ms,
                held=active,
                hooks=self._hooks,
            ),
            stalled=self._stalled,
            active=active,
            concurrency=self.concurrency,
            timeout_ms=self.timeout_ms,
            stops=None if pool is None else self._process_stops(),
        )
        self._run_done.clear()
        # The runner watches the jobs it runs itself (and can stop their processors).
        self._fetcher.watch = None
        remove_signals = None
        if handle_signals:
            signals = ShutdownSignals(lambda wait: self.close(grace=wait), grace)
            remove_signals = signals.install_on_loop(asyncio.get_running_loop())
        # Started before the first fetch can block: on Redis its first beat names the
        # blocking connection (synchronously, before the task's first await).
        presence = asyncio.create_task(
            self._presence.run(self._closing), name=f"corral-presence-{self._name}"
        )
        try:
            if pool is not None:
                await pool.start(runner.stopping)
            await runner.run()
        finally:
            presence.cancel()
            if pool is not None:
                await pool.close()
            if remove_signals is not None:
                remove_signals()
            self.stopped_at_once = runner.forced
            self._fetcher.watch = self._watch_manual
            self._runner = None
            self._run_done.set()

    def _process_stops(self) -> Stops:
        # A child told to stop gets kill_grace before SIGKILL: wait for that, so the
        # job is failed once its child is gone (never while it still runs).
        return Stops(
            backend=self._backend, queue=self._name, hooks=self._hooks,
            grace=self.kill_grace + PROCESS_STOP_MARGIN,
        )  # fmt: skip

    def _make_pool(self) -> ProcessPool:
        options = self._process_options
        assert options is not None
        return ProcessPool(
            options.target,
            processes=options.processes,
            max_jobs_per_child=options.max_jobs_per_child,
            max_memory_per_child=options.max_memory_per_child,
            kill_grace=options.kill_grace,
            name=self._name,
        )

    async def __aenter__(self) -> Self:
        """With a processor, start :meth:`run` in the background; :meth:`close` on exit."""
        if self.processor is not None and self._run_task is None:
            self._run_task = asyncio.create_task(self.run(), name=f"corral-worker-{self._name}")
        return self

    # -- pausing this worker -----------------------------------------------------------------

    async def pause(self, *, do_not_wait_for_active: bool = False) -> None:
        """Stop this worker taking jobs; the queue and its other workers go on.

        Jobs already running finish (their locks are renewed meanwhile); the call
        returns once they have, or at once with ``do_not_wait_for_active``. While
        paused, :meth:`run` keeps running, idle (a job fetched just as it paused is
        given back to wait, not run), and :meth:`get_next_job` returns None.
        Pausing a paused worker does nothing. Undo with :meth:`resume`; use
        ``queue.pause()`` to stop every worker of the queue.
        """
        fetcher = self._fetcher
        if fetcher.paused:
            return
        fetcher.pause()
        runner = self._runner
        if not do_not_wait_for_active and runner is not None:
            await runner.wait_idle()
        if "paused" in self._hooks:
            await self._hooks.emit("paused")

    async def resume(self) -> None:
        """Let this worker take jobs again after :meth:`pause` (nothing if not paused)."""
        fetcher = self._fetcher
        if not fetcher.paused:
            return
        fetcher.resume()
        if "resumed" in self._hooks:
            await self._hooks.emit("resumed")

    def is_paused(self) -> bool:
        """Whether :meth:`pause` stopped this worker taking jobs (the queue's own
        pause is ``await queue.is_paused()``)."""
        return self._fetcher.paused

    # -- lifecycle -----------------------------------------------------------------------

    async def close(self, *, grace: float | None = 30.0) -> None:
        """Stop fetching and close the connection.

        A running worker lets its jobs finish for up to ``grace`` seconds (None:
        as long as they take), then returns the unfinished ones to wait without
        counting an attempt; ``grace=0`` stops at once and leaves them to stall
        back when their locks expire. Jobs fetched by hand keep their locks until
        they expire. Closing always finishes, even while the store is unreachable
        (what cannot be handed back stalls back later).
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
        self._closing.set()
        self._fetcher.cancel_wait()
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
        await self._manual_stops.unwatch_all()
        await self._presence.leave()
        try:
            await self._backend.close()
        except Exception as error:
            logger.warning(
                "worker on queue %r: closing the store connection: %s", self._name, error
            )

    # -- observing --------------------------------------------------------------------

    @property
    def jobs_in_progress(self) -> int:
        """How many jobs :meth:`run` is processing right now (0 when not running)."""
        runner = self._runner
        return 0 if runner is None else len(runner.active)
