"""Queue: add jobs, look at them, and steer the queue as a whole."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from corral import _clock, otel
from corral import _queue_admin as admin
from corral._client import QueueClient
from corral._job_defaults import check_default_options, with_defaults
from corral._queue_admin import WorkerInfo
from corral.backends.base import Backend, JobRecord, JobState, Limiter, NewJob
from corral.cancellation import Cancellation, cancel_job
from corral.connection import SharedConnection
from corral.dedup import DeduplicationOption, check_deduplication_id
from corral.errors import JobNotFoundError
from corral.job import Job
from corral.metrics import METRICS_KINDS, Metrics, MetricsMeta
from corral.options import (
    BackoffOption,
    Duration,
    KeepPolicy,
    ParentOption,
    RateLimiter,
    TimestampOption,
    new_job,
    qualify_parent,
    to_ms,
)
from corral.schedulers import (
    JobScheduler,
    check_scheduler_id,
    plan_scheduler,
    template_options,
)

__all__ = ["DEFAULT_COUNT_STATES", "Queue", "WorkerInfo"]

DEFAULT_COUNT_STATES: tuple[JobState, ...] = (
    JobState.ACTIVE,
    JobState.COMPLETED,
    JobState.DELAYED,
    JobState.FAILED,
    JobState.PRIORITIZED,
    JobState.WAITING,
    JobState.WAITING_CHILDREN,
)
"""The states ``get_job_counts()`` reports when none are named (as BullMQ 6)."""


class Queue(QueueClient):
    """A named queue on a store.

    ``url``: ``sqlite:///path.db`` (embedded, the default), ``redis://host:port/db``;
    None reads ``CORRAL_URL``, else uses ``sqlite:///corral.db``. ``prefix`` keeps
    groups of queues apart (BullMQ's default ``bull``). ``connection``: a
    :class:`~corral.Connection` to share with other queues instead of ``url``.
    ``default_job_options``: the options every :meth:`add` and :meth:`add_bulk`
    starts from, by :meth:`add`'s names (BullMQ's ``defaultJobOptions``); an
    option given to ``add`` wins (one given at its default value counts as not given).
    """

    def __init__(
        self,
        name: str,
        *,
        url: str | None = None,
        prefix: str = "bull",
        connection: SharedConnection | None = None,
        default_job_options: Mapping[str, Any] | None = None,
    ) -> None:
        defaults = check_default_options(default_job_options)
        super().__init__(name, url=url, prefix=prefix, connection=connection)
        self.default_job_options: Mapping[str, Any] = defaults
        """The options every added job starts from (empty: none)."""

    async def add(
        self,
        name: str,
        data: object = None,
        *,
        job_id: str | None = None,
        delay: Duration = 0,
        priority: int = 0,
        lifo: bool = False,
        attempts: int = 0,
        backoff: BackoffOption = None,
        remove_on_complete: KeepPolicy | None = None,
        remove_on_fail: KeepPolicy | None = None,
        timestamp: TimestampOption = None,
        timeout: Duration | None = None,
        parent: ParentOption = None,
        fail_parent_on_failure: bool = False,
        continue_parent_on_failure: bool = False,
        ignore_dependency_on_failure: bool = False,
        remove_dependency_on_failure: bool = False,
        keep_logs: int | None = None,
        size_limit: int | None = None,
        stack_trace_limit: int | None = None,
        deduplication: DeduplicationOption = None,
    ) -> Job:
        """Add a job and return it.

        - ``data``: any JSON-encodable value (None is stored as ``{}``).
        - ``job_id``: a custom id (not integer-like, no ``:``, not one of the
          queue's own key names such as ``meta``: see
          :data:`corral.backends.keyspace.RESERVED_JOB_IDS`); adding an id that
          exists adds nothing and returns the existing job.
        - ``delay`` (seconds): run no earlier than this long after ``timestamp``.
        - ``priority``: 1 (first) … 2,097,151; 0 means none (runs before prioritized jobs).
        - ``lifo``: run before the jobs already waiting.
        - ``attempts`` / ``backoff``: retry a failure while attempts remain, waiting
          per ``backoff`` (seconds, a :class:`~corral.Backoff` or a dict).
        - ``remove_on_complete`` / ``remove_on_fail``: True, a count to keep, or a
          :class:`~corral.RemovePolicy`.
        - ``timestamp``: creation time (aware datetime or epoch seconds, 1970 to
          9999); default now. The job falls due at ``timestamp + delay``, at most
          2**53 - 1 ms after 1970.
        - ``timeout`` (seconds): an attempt that runs longer fails with a
          :class:`~corral.JobTimeoutError` (retried while attempts remain); None
          leaves it to the worker's ``timeout``.
        - ``parent``: add the job as a child of an existing job, given as
          ``{"id": ..., "queue": ...}`` (``queue`` is ``<prefix>:<name>``, or a plain
          name under this queue's prefix), a :class:`~corral.ParentRef` or a Job. The
          parent waits for it (see :class:`~corral.FlowProducer`); a missing parent
          raises :class:`~corral.ParentNotFoundError` and nothing is written.
        - ``fail_parent_on_failure`` / ``continue_parent_on_failure`` /
          ``ignore_dependency_on_failure`` / ``remove_dependency_on_failure``: what
          this child failing for good does to its parent (at most one; none: the
          parent keeps waiting until the child is retried and completes).
        - ``keep_logs``: keep only the newest that many log lines (``job.log``).
        - ``size_limit``: refuse (ValueError, with the size) data whose JSON is
          larger than that many bytes.
        - ``stack_trace_limit``: keep the stack traces of that many failed attempts
          (default 10; 0: none).
        - ``deduplication``: ``{"id": ..., "ttl": seconds, "extend": ..., "replace":
          ..., "keep_last_if_active": ..., "reschedule": ...}`` or a
          :class:`~corral.Deduplication`: add nothing while another job holds the
          id, and return that job instead (see :mod:`corral.dedup`, BullMQ's modes).

        The options are those of :data:`corral.options.OPTIONS`; bad input raises
        before anything is written.
        """
        spec = new_job(
            name,
            data,
            with_defaults(self.default_job_options, {
                "job_id": job_id,
                "delay": delay,
                "priority": priority,
                "lifo": lifo,
                "attempts": attempts,
                "backoff": backoff,
                "remove_on_complete": remove_on_complete,
                "remove_on_fail": remove_on_fail,
                "timestamp": timestamp,
                "timeout": timeout,
                "parent": qualify_parent(parent, self._prefix),
                "fail_parent_on_failure": fail_parent_on_failure,
                "continue_parent_on_failure": continue_parent_on_failure,
                "ignore_dependency_on_failure": ignore_dependency_on_failure,
                "remove_dependency_on_failure": remove_dependency_on_failure,
                "keep_logs": keep_logs,
                "size_limit": size_limit,
                "stack_trace_limit": stack_trace_limit,
                "deduplication": deduplication,
            }),
            now_ms=_clock.now_ms(),
        )  # fmt: skip
        (added_id,) = await _add_jobs(self._backend, self._name, [spec])
        if spec.job_id is not None or spec.deduplication is not None:
            return await self._stored_job(added_id, spec)
        return self._job_after_add(added_id, spec)

    async def add_bulk(self, jobs: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Add many jobs in one atomic step: all are added, or none.

        Each item is a mapping with ``name``, optional ``data`` and any option of
        :meth:`add`, e.g. ``{"name": "email", "data": {...}, "attempts": 3}``.
        Every item is validated before anything is written.
        """
        specs: list[NewJob] = []
        now = _clock.now_ms()
        for index, item in enumerate(jobs):
            if not isinstance(item, Mapping):
                raise TypeError(f"add_bulk item {index} must be a mapping with 'name' and 'data'")
            if "name" not in item:
                raise ValueError(f"add_bulk item {index} has no 'name'")
            options = {k: v for k, v in item.items() if k not in ("name", "data")}
            options = with_defaults(self.default_job_options, options)
            try:
                if options.get("parent") is not None:
                    options["parent"] = qualify_parent(options["parent"], self._prefix)
                specs.append(new_job(item["name"], item.get("data"), options, now_ms=now))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"add_bulk item {index}: {exc}") from None
        if not specs:
            return []
        ids = await _add_jobs(self._backend, self._name, specs)
        return [
            self._job_after_add(i, s)
            if s.job_id is None and s.deduplication is None
            else await self._stored_job(i, s)
            for i, s in zip(ids, specs, strict=True)
        ]

    async def _stored_job(self, job_id: str, spec: NewJob) -> Job:
        # A custom id may have existed already, or a deduplicated add returned the
        # job that holds the id: show the job that is really stored.
        existing = await self.get_job(job_id)
        return existing if existing is not None else self._job_after_add(job_id, spec)

    def _job_after_add(self, job_id: str, spec: NewJob) -> Job:
        record = JobRecord(
            id=job_id,
            name=spec.name,
            data=spec.data,
            opts=spec.opts,
            timestamp_ms=spec.timestamp_ms,
            delay_ms=spec.delay_ms,
            priority=spec.priority,
            parent=spec.parent,
        )
        return Job(self._mover, record)

    async def get_job(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        if not isinstance(job_id, str):
            raise TypeError(f"job_id must be a string, not {type(job_id).__name__}")
        record = await self._backend.get_job(self._name, job_id)
        return None if record is None else Job(self._mover, record)

    async def get_job_state(self, job_id: str) -> JobState:
        """The job's state: waiting, active, delayed, prioritized, completed, failed,
        waiting-children, or unknown if there is no such job."""
        if not isinstance(job_id, str):
            raise TypeError(f"job_id must be a string, not {type(job_id).__name__}")
        return await self._backend.get_state(self._name, job_id)

    async def get_job_counts(self, *states: str | Sequence[str]) -> dict[str, int]:
        """How many jobs are in each state; all states when none are named. States
        may be given one by one or as a list: ``get_job_counts(["failed", "completed"])``."""
        wanted = _parse_states(admin.flatten_states(states))
        counts = await self._backend.get_counts(self._name, wanted)
        return {state.value: counts.get(state, 0) for state in wanted}

    async def get_jobs(
        self,
        *states: str | Sequence[str],
        start: int = 0,
        end: int = -1,
        asc: bool | None = None,
    ) -> list[Job]:
        """Jobs in ``states`` (all states when none are named; one by one or as a
        list: ``get_jobs(["failed", "completed"])``), state after state, sliced
        ``[start, end]`` inclusive (``end=-1``: to the last) over them all.

        ``asc`` None: finished and active jobs come newest first, waiting,
        prioritized and delayed jobs in the order they will run; ``asc=True``:
        every state oldest first (by run order, due time, fetch or finish time);
        ``asc=False``: every state newest first.
        """
        wanted = _parse_states(admin.flatten_states(states))
        _check_range(start, end)
        if asc is not None and not isinstance(asc, bool):
            raise TypeError("asc must be True, False or None")
        if asc is None:
            records = await self._backend.get_jobs(self._name, wanted, start, end)
        else:
            records = await admin.ordered_jobs(self._backend, self._name, wanted, start, end, asc)
        return [Job(self._mover, record) for record in records]

    async def get_job_logs(self, job_id: str, start: int = 0, end: int = -1) -> list[str]:
        """A job's log lines ``[start, end]``, oldest first."""
        _check_range(start, end)
        lines, _count = await self._backend.get_logs(self._name, job_id, start, end)
        return lines

    async def remove(self, job_id: str, *, remove_children: bool = True) -> bool:
        """Remove a job (and, by default, its descendants); False if there was none.
        See :meth:`corral.Job.remove`."""
        return await self._backend.remove_job(
            self._name, job_id, _clock.now_ms(), remove_children=remove_children
        )

    async def rate_limit(self, duration: Duration) -> None:
        """Hand out no job to any worker of this queue for ``duration`` seconds."""
        ms = to_ms(duration, name="duration", allow_zero=False)
        await self._backend.rate_limit(self._name, ms, _clock.now_ms())

    async def get_rate_limit_ttl(self) -> float:
        """Seconds left on the queue's rate limit (0.0 when it is not limited)."""
        return await self._backend.get_rate_limit_ttl(self._name, _clock.now_ms()) / 1000

    async def pause(self) -> None:
        """Stop workers from getting jobs; jobs keep arriving and wait."""
        await self._backend.pause(self._name)

    async def resume(self) -> None:
        """Let workers get jobs again."""
        await self._backend.resume(self._name)

    async def is_paused(self) -> bool:
        """Whether the queue is paused."""
        return await self._backend.is_paused(self._name)

    async def obliterate(self, *, force: bool = False) -> None:
        """Remove the queue and every job in it, for good.

        Refused (:class:`~corral.ObliterateError`) while jobs are active, unless
        ``force``. The queue is paused first, so no worker picks up a job meanwhile.
        """
        await self._backend.pause(self._name)
        await self._backend.obliterate(self._name, force=force)

    # -- maintenance --------------------------------------------------------------------

    async def clean(self, state: str, *, grace: Duration, limit: int = 0) -> list[str]:
        """Remove the jobs of ``state`` that finished (or, for unfinished states, were
        last processed or created) more than ``grace`` seconds ago; return their ids,
        oldest first. ``limit``: at most that many (0: all).

        States: completed, failed, delayed, prioritized, waiting (BullMQ's ``wait``)
        and active (only jobs whose lock is gone). A job scheduler's next run is
        never removed (the schedule goes on). A removed child leaves its parent's
        pending children (the parent runs if it was the last); a removed parent's
        children stay. Works in batches of 1000, each atomic, so the store serves
        other clients meanwhile; for the unfinished states each batch looks at the
        next 1000 entries from the oldest, so jobs too young (or locked) among the
        oldest never stop the cleaning: it goes on until ``limit`` jobs are removed
        or every entry has been looked at. (Node's ``clean`` with a limit looks only
        at the ``limit`` oldest entries.)
        """
        parsed = admin.clean_state(state)
        grace_ms = to_ms(grace, name="grace")
        admin.check_count(limit, "limit", allow_zero=True)
        now = _clock.now_ms()
        removed: list[str] = []
        cursor: tuple[int, ...] = ()
        while True:
            step = admin.BATCH if limit == 0 else min(admin.BATCH, limit - len(removed))
            batch = await self._backend.clean(self._name, parsed, now - grace_ms, step, now, cursor)
            removed += batch.ids
            if batch.cursor is None or (limit and len(removed) >= limit):
                return removed
            cursor = batch.cursor

    async def drain(self, *, delayed: bool = False) -> int:
        """Remove every job that waits to run (waiting and prioritized; with
        ``delayed``, delayed jobs too); active, completed and failed jobs stay, and
        so does a job scheduler's next run, whatever its state (as Node's drain:
        the schedule goes on). Returns how many were removed. In batches of 1000,
        as :meth:`clean`."""
        if not isinstance(delayed, bool):
            raise TypeError("delayed must be True or False")
        removed = 0
        while True:
            now = _clock.now_ms()
            batch = await self._backend.drain(self._name, delayed, admin.BATCH, now)
            removed += batch
            if batch < admin.BATCH:
                return removed

    async def retry_jobs(self, state: str = "failed", *, count: int = 1000) -> int:
        """Run again every job of ``state`` (failed or completed) that finished before
        this call; returns how many. ``count``: jobs moved per atomic step (BullMQ's
        ``count``). Each goes to wait with its attempts kept, oldest first behind the
        jobs waiting already; as Node's ``retryJobs``, a job with a priority (or
        ``lifo``) waits in line with the others (:meth:`corral.Job.retry` honours
        them)."""
        if state not in ("failed", "completed"):
            raise ValueError(f"retry_jobs takes 'failed' or 'completed' jobs, not {state!r}")
        admin.check_count(count, "count")
        before = _clock.now_ms()
        moved = 0
        while True:
            batch = await self._backend.move_jobs_to_wait(
                self._name, JobState(state), before, count
            )
            moved += batch
            if batch < count:
                return moved

    async def promote_jobs(self, *, count: int = 1000) -> int:
        """Run every delayed job now; returns how many. ``count``: jobs moved per
        atomic step (BullMQ's ``count``). As Node's ``promoteJobs``, every job goes to
        wait, soonest due first, a job with a priority too (:meth:`corral.Job.promote`
        honours it)."""
        admin.check_count(count, "count")
        moved = 0
        while True:
            batch = await self._backend.move_jobs_to_wait(self._name, JobState.DELAYED, 0, count)
            moved += batch
            if batch < count:
                return moved

    async def trim_events(self, max_length: int) -> None:
        """Keep only the newest ``max_length`` events of the queue's event log."""
        admin.check_count(max_length, "max_length", allow_zero=True)
        await self._backend.trim_events(self._name, max_length)

    # -- global limits --------------------------------------------------------------------

    async def set_global_concurrency(self, concurrency: int) -> None:
        """Let at most ``concurrency`` jobs of this queue run at once, across every
        worker (Node's and corral's), whatever each worker's own concurrency."""
        admin.check_count(concurrency, "concurrency")
        await self._backend.set_global_concurrency(self._name, concurrency)

    async def remove_global_concurrency(self) -> None:
        """Remove the queue's global concurrency limit."""
        await self._backend.set_global_concurrency(self._name, None)

    async def get_global_concurrency(self) -> int | None:
        """The queue's global concurrency limit (None when not set)."""
        return (await self._backend.get_global_limits(self._name)).concurrency

    async def set_global_rate_limit(self, max: int, duration: Duration) -> None:
        """Hand out at most ``max`` jobs per ``duration`` seconds across every worker
        of the queue. It wins over a worker's ``limiter.max``; a worker's
        ``limiter.duration`` wins over ``duration`` (as in BullMQ)."""
        admin.check_count(max, "max")
        ms = to_ms(duration, name="duration", allow_zero=False)
        await self._backend.set_global_rate_limit(self._name, Limiter(max, ms))

    async def remove_global_rate_limit(self) -> None:
        """Remove the queue's global rate limit."""
        await self._backend.set_global_rate_limit(self._name, None)

    async def get_global_rate_limit(self) -> RateLimiter | None:
        """The queue's global rate limit (``duration`` in seconds), or None."""
        limits = await self._backend.get_global_limits(self._name)
        if limits.rate_max is None or limits.rate_duration_ms is None:
            return None
        return RateLimiter(max=limits.rate_max, duration=limits.rate_duration_ms / 1000)

    async def get_workers(self) -> list[WorkerInfo]:
        """The workers taking jobs from this queue now, oldest first (on Redis, Node's
        workers too, as Node's ``getWorkers()`` lists corral's)."""
        records = await self._backend.get_workers(self._name, _clock.now_ms())
        return [WorkerInfo.from_record(r) for r in records]

    # -- job schedulers ------------------------------------------------------------

    async def upsert_job_scheduler(
        self,
        scheduler_id: str,
        *,
        every: Duration | None = None,
        cron: str | None = None,
        tz: str | None = None,
        name: str | None = None,
        data: object = None,
        limit: int | None = None,
        start: TimestampOption = None,
        end: TimestampOption = None,
        immediately: bool = False,
        attempts: int = 0,
        backoff: BackoffOption = None,
        priority: int = 0,
        lifo: bool = False,
        remove_on_complete: KeepPolicy | None = None,
        remove_on_fail: KeepPolicy | None = None,
    ) -> Job:
        """Create or replace the job scheduler ``scheduler_id``; return the job of its
        next iteration (a delayed job, or a waiting one when it runs now).

        - ``every`` (seconds) or ``cron`` (a pattern: 5 fields, or 6 with seconds
          first; ``@daily`` and the like), not both. An ``every`` schedule runs its
          first iteration at once (or at ``start``), then every ``every`` seconds.
        - ``tz``: the IANA zone a cron pattern is read in (default UTC); clock
          changes run a job once (a 02:30 job on a spring-forward day runs at 03:30).
        - ``name`` / ``data``: the name (default: the scheduler id) and data of
          every iteration job.
        - ``limit``: at most this many iterations; ``start`` / ``end`` (aware
          datetimes or epoch seconds): no run before ``start`` nor after ``end``;
          ``immediately``: a cron schedule's first iteration runs now.
        - ``attempts``, ``backoff``, ``priority``, ``lifo``, ``remove_on_complete``,
          ``remove_on_fail``: the job options of every iteration, as :meth:`add` takes them.

        Upserting an existing id replaces its definition and its pending
        iteration (its iteration count is kept). The next iteration is added when
        the current one starts, by whichever worker (corral or Node) takes it.
        Bad input raises ValueError / TypeError naming the problem; nothing is
        written then.
        """
        now = _clock.now_ms()
        spec, iteration = plan_scheduler(
            scheduler_id,
            every=every,
            cron=cron,
            tz=tz,
            name=name,
            data=data,
            limit=limit,
            start=start,
            end=end,
            immediately=immediately,
            options=template_options(
                attempts=attempts,
                backoff=backoff,
                priority=priority,
                lifo=lifo,
                remove_on_complete=remove_on_complete,
                remove_on_fail=remove_on_fail,
            ),
            now_ms=now,
        )
        job_id, _delay = await self._backend.upsert_job_scheduler(self._name, spec, iteration, now)
        job = await self.get_job(job_id)
        if job is None:  # pragma: no cover - removed by someone else at once
            raise JobNotFoundError(
                f"the iteration {job_id!r} of scheduler {spec.id!r} was removed at once",
                job_id=job_id,
                operation="upsert_job_scheduler",
            )
        return job

    async def get_job_scheduler(self, scheduler_id: str) -> JobScheduler | None:
        """The job scheduler ``scheduler_id`` (Node's or corral's), or None."""
        record = await self._backend.get_job_scheduler(self._name, check_scheduler_id(scheduler_id))
        return None if record is None else JobScheduler.from_record(record)

    async def get_job_schedulers(self, start: int = 0, end: int = -1) -> list[JobScheduler]:
        """The queue's job schedulers, next run first, sliced ``[start, end]``
        inclusive (``end=-1``: to the last)."""
        _check_range(start, end)
        records = await self._backend.get_job_schedulers(self._name, start, end, asc=True)
        return [JobScheduler.from_record(record) for record in records]

    async def get_job_schedulers_count(self) -> int:
        """How many job schedulers the queue has."""
        return await self._backend.get_job_schedulers_count(self._name)

    async def remove_job_scheduler(self, scheduler_id: str) -> bool:
        """Remove the job scheduler and its pending (delayed) iteration; False if
        there was none. An iteration already running finishes, and adds no next one."""
        return await self._backend.remove_job_scheduler(
            self._name, check_scheduler_id(scheduler_id)
        )

    async def cancel(self, job_id: str, *, reason: str | None = None) -> Cancellation:
        """Cancel a job; it ends ``failed`` with the reason ``cancelled: <reason>``
        (default ``cancelled: by request``) and is never retried.

        A waiting, prioritized or delayed job (or a parent waiting for its children)
        fails at once. An active job is stopped by whichever worker holds it, in any
        process or on any host, within about a second: an async processor gets
        ``asyncio.CancelledError`` at its next ``await``, a plain function can poll
        ``job.is_cancelled``; the worker then fails the job and its ``cancelled``
        hook runs. A finished or unknown job is left alone. The answer says which
        (:class:`~corral.Cancellation`); the queue's events get ``cancelled``.
        """
        return await cancel_job(self._backend, self._name, job_id, reason)

    # -- deduplication ---------------------------------------------------------------

    async def get_deduplication_job_id(self, dedup_id: str) -> str | None:
        """The id of the job that holds deduplication id ``dedup_id`` (Node's or
        corral's), or None when the id is free."""
        checked = check_deduplication_id(dedup_id)
        return await self._backend.get_deduplication_job_id(self._name, checked, _clock.now_ms())

    async def remove_deduplication_key(self, dedup_id: str) -> bool:
        """Free deduplication id ``dedup_id`` now, whoever holds it (the next add with
        it is added); False if it was free."""
        return await self._backend.remove_deduplication_key(
            self._name, check_deduplication_id(dedup_id)
        )

    async def get_metrics(self, kind: str, start: int = 0, end: int = -1) -> Metrics:
        """The queue's jobs per minute of ``kind`` (``"completed"`` or ``"failed"``),
        as workers with ``metrics=`` record them (BullMQ's ``getMetrics``): the data
        points ``[start, end]``, newest first, and the counters behind them."""
        if kind not in METRICS_KINDS:
            raise ValueError(f"metrics kind must be 'completed' or 'failed', not {kind!r}")
        _check_range(start, end)
        page = await self._backend.get_metrics(self._name, kind, start, end)
        return Metrics(
            MetricsMeta(page.count, page.prev_ts_ms, page.prev_count), page.data, page.points
        )


async def _add_jobs(backend: Backend, queue: str, specs: list[NewJob]) -> list[str]:
    # Traced only with the otel extra (corral.otel): otherwise this is all it costs.
    if otel.ENABLED:
        return await otel.add_jobs(backend, queue, specs)
    return await backend.add_jobs(queue, specs)


def _parse_states(states: tuple[str, ...]) -> list[JobState]:
    wanted: list[JobState] = []
    for state in states or DEFAULT_COUNT_STATES:
        try:
            parsed = JobState(state)
        except ValueError:
            known = ", ".join(s.value for s in DEFAULT_COUNT_STATES)
            raise ValueError(f"unknown job state {state!r}; known: {known}") from None
        if parsed is JobState.UNKNOWN:
            raise ValueError("'unknown' is not a state jobs can be listed or counted in")
        wanted.append(parsed)
    return wanted


def _check_range(start: int, end: int) -> None:
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer")
    if start < 0 or end < -1:
        raise ValueError("start must be >= 0 and end >= -1 (-1: to the last)")
