"""Job: one unit of work, and the moves its lock holder may make.

A job fetched by a worker carries the ``token`` that locks it. Only that token
may complete it, fail it, extend its lock or put it back in wait; any other
token, or an expired lock, raises a :class:`~corral.LockError` and changes
nothing.

A job moves through a :class:`JobMover`: its backend and queue, the backoff
strategy that decides its retries and, for a job a worker fetched, that worker's
fetcher, which ``fetch_next`` uses. What a move does therefore depends only on
the mover the job was read through, never on private state of whoever read it.

Payload fields (``data``, ``return_value``, ``progress``) are decoded from JSON
when first read, so a job with a corrupt payload can still be fetched, failed
and reported (reading the bad field raises :class:`~corral.CorruptJobError`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from corral import _clock
from corral._children import Dependencies, read_dependencies
from corral._codec import check_text, dumps, loads, loads_field
from corral._finished import wait_until_finished
from corral._policy import BackoffStrategy, decide_failure
from corral._wire import record_from_fields
from corral.backends.base import (
    Backend,
    Completed,
    DependencyBucket,
    DependencyCounts,
    Fetched,
    FetchRequest,
    JobRecord,
    JobState,
    Retry,
)
from corral.cancellation import Cancellation, cancel_job
from corral.errors import ProcessorError
from corral.options import (
    Duration,
    JobOptions,
    ParentOption,
    ParentRef,
    check_priority,
    check_when,
    ms_to_datetime,
    parse_opts,
    qualify_parent,
    to_ms,
)

__all__ = ["Job", "JobMover", "JobState"]

_UNSET: Any = object()


class NextJobs(Protocol):
    """What ``fetch_next`` needs: a worker's fetch request, and turning a result into a Job."""

    def request(self, token: str) -> FetchRequest:
        """The fetch request for ``token``."""
        ...

    async def take(self, fetched: Fetched | None, token: str) -> Job | None:
        """The job a fetch result hands out, locked with ``token``."""
        ...


@dataclass(frozen=True, slots=True)
class JobMover:
    """The narrow interface a job's moves go through.

    ``fetcher`` is the fetcher of the worker that handed the job out (None for a
    job read with ``Queue.get_job``: its ``fetch_next`` fetches nothing);
    ``backoff_strategy`` decides custom backoff types.
    """

    backend: Backend
    queue: str
    fetcher: NextJobs | None = None
    backoff_strategy: BackoffStrategy | None = None
    metrics_max_points: int = 0
    """> 0: jobs finished through this mover are counted in the queue's per-minute
    metrics, keeping that many minutes (the worker's ``metrics``)."""
    max_started_attempts: int = 0
    """> 0: a failed job started this often or more is not retried (the worker's
    ``max_started_attempts``)."""


class JobSource(Protocol):
    """Anything jobs are read through: a Queue or a Worker (``job_mover``)."""

    @property
    def job_mover(self) -> JobMover:
        """How jobs read through this client move."""
        ...


class Adds(Protocol):
    """What :meth:`Job.create` needs: a queue's ``add``."""

    @property
    def add(self) -> Callable[..., Awaitable[Job]]:
        """Add a job."""
        ...


class Job:
    """A job as read from its queue.

    Times are aware UTC datetimes; ``delay`` is in seconds. ``token`` is the lock
    token the job was fetched with (None for a job read with ``Queue.get_job``).
    """

    __slots__ = (
        "_data",
        "_finished_on",
        "_mover",
        "_opts",
        "_progress",
        "_record",
        "_return_value",
        "_started",
        "_stop",
        "attempts_made",
        "attempts_started",
        "deferred_failure",
        "failed_reason",
        "id",
        "name",
        "processed_by",
        "stalled_counter",
        "token",
    )

    def __init__(self, mover: JobMover, record: JobRecord, token: str | None = None) -> None:
        self._mover = mover
        self._record = record
        self._started: float | None = None
        """When a worker's run of this attempt began (``time.perf_counter``)."""
        self.id: str = record.id
        self.name: str = record.name
        self.token: str | None = token
        self.attempts_made: int = record.attempts_made
        self.attempts_started: int = record.attempts_started
        self.stalled_counter: int = record.stalled_counter
        self._finished_on = record.finished_on_ms
        self.failed_reason: str | None = record.failed_reason
        self.deferred_failure: str | None = record.deferred_failure
        self.processed_by: str | None = record.processed_by
        self._data: Any = _UNSET
        self._opts: JobOptions | None = None
        self._progress: Any = _UNSET
        self._return_value: Any = _UNSET
        self._stop: ProcessorError | None = None

    # -- construction ------------------------------------------------------------

    @classmethod
    def from_json(
        cls, owner: JobSource, raw: Mapping[str, str], job_id: str, token: str | None = None
    ) -> Job:
        """Build a Job from its stored fields (BullMQ's hash field names), e.g. a raw
        ``HGETALL`` of a job written by Node. ``owner`` is the Queue or Worker that
        the job's moves will go through."""
        return cls(owner.job_mover, record_from_fields(job_id, raw), token)

    @classmethod
    async def create(cls, queue: Adds, /, name: str, data: Any = None, **options: Any) -> Job:
        """Add a job to ``queue``; the same as ``queue.add(name, data, **options)``
        (BullMQ's ``Job.create``)."""
        if not callable(getattr(queue, "add", None)):
            raise TypeError(f"Job.create needs a Queue to add to, not {type(queue).__name__}")
        return await queue.add(name, data, **options)

    # -- decoded fields -------------------------------------------------------------

    @property
    def queue_name(self) -> str:
        """The name of the job's queue."""
        return self._mover.queue

    @property
    def queue_qualified_name(self) -> str:
        """The job's queue key ``<prefix>:<queue>`` (BullMQ's ``queueQualifiedName``),
        e.g. for ``queue.add(..., parent={"id": job.id, "queue": job.queue_qualified_name})``."""
        return f"{self._mover.backend.prefix}:{self._mover.queue}"

    @property
    def parent(self) -> ParentRef | None:
        """The job's parent, if it is a child in a flow."""
        link = self._record.parent
        return None if link is None else ParentRef(link.id, link.queue_key)

    @property
    def parent_key(self) -> str | None:
        """The parent's job key ``<prefix>:<queue>:<id>`` (BullMQ's ``parentKey``)."""
        link = self._record.parent
        return None if link is None else link.key

    @property
    def data(self) -> Any:
        """The job's payload (decoded JSON)."""
        if self._data is _UNSET:
            self._data = loads_field(self.id, "data", self._record.data)
        return self._data

    @property
    def opts(self) -> JobOptions:
        """The job's options; options corral does not know are kept in ``opts.extra``."""
        if self._opts is None:
            self._opts = parse_opts(self._record.opts)
        return self._opts

    @property
    def timestamp(self) -> datetime:
        """When the job was created."""
        stamp = ms_to_datetime(self._record.timestamp_ms)
        assert stamp is not None
        return stamp

    @property
    def processed_on(self) -> datetime | None:
        """When the job was last fetched (None if never)."""
        return ms_to_datetime(self._record.processed_on_ms)

    @property
    def finished_on(self) -> datetime | None:
        """When the job completed or failed for good (None before)."""
        return ms_to_datetime(self._finished_on)

    @property
    def delay(self) -> float:
        """The job's delay in seconds (0 once it has been promoted)."""
        return self._record.delay_ms / 1000

    @property
    def priority(self) -> int:
        """0 for none; otherwise 1 (first) … 2,097,151 (last)."""
        return self._record.priority

    @property
    def progress(self) -> Any:
        """The last progress reported for the job (decoded JSON; 0 if none)."""
        if self._progress is _UNSET:
            self._progress = loads_field(self.id, "progress", self._record.progress, 0)
        return self._progress

    @property
    def return_value(self) -> Any:
        """What the job completed with (decoded JSON; None before it completes)."""
        if self._return_value is _UNSET:
            self._return_value = loads_field(self.id, "returnvalue", self._record.return_value)
        return self._return_value

    @property
    def stacktrace(self) -> list[str]:
        """Stack traces of the failed attempts, oldest first (at most 10)."""
        try:
            traces = loads(self._record.stacktrace) if self._record.stacktrace else []
        except ValueError:
            return []
        return [t for t in traces if isinstance(t, str)] if isinstance(traces, list) else []

    # -- moves by the lock holder ------------------------------------------------------

    def _token_for(self, token: str | None, operation: str) -> str:
        chosen = token if token is not None else self.token
        if chosen is None:
            raise ValueError(
                f"{operation} of job {self.id!r} needs the lock token: pass the token the job "
                "was fetched with (job.token is not set on a job read with get_job)"
            )
        if not isinstance(chosen, str) or not chosen:
            raise TypeError("token must be a non-empty string")
        return check_text(chosen, "token")

    async def move_to_completed(
        self, return_value: Any = None, token: str | None = None, *, fetch_next: bool = True
    ) -> Job | None:
        """Complete the job with ``return_value`` (JSON-encodable).

        With ``fetch_next`` (the default) on a job a worker handed out, the next job
        is fetched and locked with the same token in the same step, with that
        worker's settings, and returned (None if there is none). A job read with
        ``Queue.get_job`` fetches nothing. Raises a LockError if ``token`` does not
        hold the job's lock.
        """
        token = self._token_for(token, "move_to_completed")
        encoded = dumps(return_value, what="return value")
        mover = self._mover
        fetcher = mover.fetcher if fetch_next else None
        fetched = await mover.backend.move_to_finished(
            mover.queue,
            self.id,
            token,
            Completed(encoded, self.opts.keep_on_complete, mover.metrics_max_points),
            _clock.now_ms(),
            None if fetcher is None else fetcher.request(token),
        )
        self._finished()
        self._return_value = return_value
        return None if fetcher is None else await fetcher.take(fetched, token)

    async def move_to_failed(
        self, error: BaseException, token: str | None = None, *, fetch_next: bool = False
    ) -> Job | None:
        """Record a failed attempt with ``error``.

        While attempts remain (``attempts`` option) the job goes back to wait, or to
        delayed for its ``backoff``; otherwise it fails for good. An
        :class:`~corral.UnrecoverableError` fails it at once. With ``fetch_next`` on a
        job a worker handed out, the next job is fetched with the same token and
        returned.
        """
        token = self._token_for(token, "move_to_failed")
        if not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception, not {type(error).__name__}")
        mover = self._mover
        started_limit = mover.max_started_attempts
        decision = decide_failure(
            self.opts,
            self.attempts_made,
            error,
            previous_stacktrace=self._record.stacktrace,
            custom=mover.backoff_strategy,
            retry=not 0 < started_limit <= self.attempts_started,
        )
        fetcher = mover.fetcher if fetch_next else None
        fetch = None if fetcher is None else fetcher.request(token)
        fetched: Fetched | None
        if isinstance(decision, Retry):
            fetched = await mover.backend.retry_job(
                mover.queue, self.id, token, decision, _clock.now_ms(), fetch
            )
            self.attempts_made += 1
            self.token = None
        else:
            if mover.metrics_max_points:
                decision = replace(decision, metrics_max_points=mover.metrics_max_points)
            fetched = await mover.backend.move_to_finished(
                mover.queue, self.id, token, decision, _clock.now_ms(), fetch
            )
            self._finished()
        self.failed_reason = decision.reason
        return None if fetcher is None else await fetcher.take(fetched, token)

    async def move_to_wait(self, token: str | None = None) -> float:
        """Put the job back at the front of the line without using an attempt
        (e.g. after ``queue.rate_limit(...)``); its lock is released.

        Returns the seconds left on the queue's rate limit (0.0 when it is not
        limited), so a caller knows how long to hold off.
        """
        token = self._token_for(token, "move_to_wait")
        mover = self._mover
        left = await mover.backend.move_to_wait(mover.queue, self.id, token, _clock.now_ms())
        self.token = None
        return max(0, left) / 1000

    async def extend_lock(
        self, token: str | Duration | None = None, duration: Duration | None = None
    ) -> None:
        """Make the lock expire ``duration`` seconds from now: ``extend_lock(30)`` with
        the job's own token, or ``extend_lock(token, 30)`` (BullMQ's order).

        Raises :class:`~corral.MissingLockError` if the lock expired (or the job
        finished) and :class:`~corral.LockMismatchError` if another token holds it.
        """
        if duration is None and not isinstance(token, str) and token is not None:
            token, duration = None, token
        if duration is None:
            raise TypeError(
                "extend_lock needs a duration in seconds: job.extend_lock(30), or "
                "job.extend_lock(token, 30)"
            )
        if token is not None and not isinstance(token, str):
            raise TypeError("token must be a non-empty string")
        token = self._token_for(token, "extend_lock")
        ms = to_ms(duration, name="duration", allow_zero=False)
        mover = self._mover
        await mover.backend.extend_lock(mover.queue, self.id, token, ms, _clock.now_ms())

    async def update_progress(self, progress: Any) -> None:
        """Report progress (a number or any JSON value); stored on the job and sent
        to ``QueueEvents`` listeners as a ``progress`` event."""
        encoded = dumps(progress, what="progress")
        await self._mover.backend.update_progress(self._mover.queue, self.id, encoded)
        self._progress = progress

    async def log(self, line: str, *, keep: int | None = None) -> int:
        """Append ``line`` to the job's log; with ``keep`` (default: the job's
        ``keep_logs`` option), only the newest ``keep`` lines are kept. Returns how
        many lines the log has."""
        if not isinstance(line, str):
            raise TypeError(f"log line must be a string, not {type(line).__name__}")
        check_text(line, "log line")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise ValueError(f"keep must be a whole number >= 1, got {keep!r}")
        if keep is None:
            keep = self.opts.keep_logs
        return await self._mover.backend.add_log(self._mover.queue, self.id, line, keep)

    async def get_logs(self, start: int = 0, end: int = -1) -> list[str]:
        """The job's log lines ``[start, end]``, oldest first."""
        mover = self._mover
        lines, _count = await mover.backend.get_logs(mover.queue, self.id, start, end)
        return lines

    async def remove(self, *, remove_children: bool = True) -> bool:
        """Remove the job and its logs. Returns False if it was already gone; an
        active job whose lock is live cannot be removed (JobStateError).

        A parent's children go too (every descendant, finished or not) unless
        ``remove_children=False``; it is refused while one of its pending
        descendants is locked by a worker. A child leaves its parent's pending
        children, and the parent runs if it was the last.
        """
        mover = self._mover
        return await mover.backend.remove_job(
            mover.queue, self.id, _clock.now_ms(), remove_children=remove_children
        )

    # -- a parent's children (flows) -----------------------------------------------------

    async def get_dependencies(
        self,
        *,
        limit: int | None = None,
        cursors: Mapping[DependencyBucket, str] | Mapping[str, str] | None = None,
    ) -> Dependencies:
        """The job's children by job key, in four buckets: processed (with return
        values), unprocessed, ignored (with reasons) and failed. ``limit``: at most
        that many per bucket; pass a result's ``cursors`` to read the next page
        (only the buckets named there are read)."""
        mover = self._mover
        return await read_dependencies(
            mover.backend, mover.queue, self.id, limit=limit, cursors=cursors
        )

    async def get_dependencies_count(self) -> DependencyCounts:
        """How many children the job has in each bucket (BullMQ's ``getDependenciesCount``)."""
        return await self._mover.backend.get_dependency_counts(self._mover.queue, self.id)

    async def get_children_values(self) -> dict[str, Any]:
        """``{child job key: return value}`` of every completed child, e.g. inside a
        parent's processor."""
        return (await self.get_dependencies()).processed

    async def get_ignored_children_failures(self) -> dict[str, str]:
        """``{child job key: failed reason}`` of the failed children the job runs without
        (``continue_parent_on_failure`` / ``ignore_dependency_on_failure``)."""
        return (await self.get_dependencies()).ignored

    async def get_failed_children_values(self) -> dict[str, str]:
        """The same as :meth:`get_ignored_children_failures`, under BullMQ's older name
        (BullMQ's ``getFailedChildrenValues`` reads that bucket too); children that
        failed the job (``fail_parent_on_failure``) are ``get_dependencies().failed``."""
        return await self.get_ignored_children_failures()

    async def move_to_waiting_children(
        self, token: str | None = None, *, child: ParentOption = None
    ) -> bool:
        """Wait for the job's pending children (the step-job pattern): True when the
        job now waits in ``waiting-children`` (raise :class:`~corral.WaitingChildrenError`
        from the processor then), False when no child is pending, so it can go on at
        once. ``child`` (``{"id", "queue"}``, a ParentRef or a Job) waits for that
        child only. The lock is checked first: a wrong token raises a LockError."""
        token = self._token_for(token, "move_to_waiting_children")
        mover = self._mover
        wanted = qualify_parent(child, mover.backend.prefix)
        moved = await mover.backend.move_to_waiting_children(
            mover.queue, self.id, token, _clock.now_ms(), None if wanted is None else wanted.key
        )
        if moved:
            self.token = None
        return moved

    async def is_waiting_children(self) -> bool:
        """Whether the job waits for its children."""
        return await self.get_state() is JobState.WAITING_CHILDREN

    async def promote(self) -> None:
        """Run a delayed job now. Raises JobStateError if it is not delayed."""
        await self._mover.backend.promote(self._mover.queue, self.id)

    async def retry(
        self, state: JobState | str = JobState.FAILED, *, reset_attempts: bool = False
    ) -> None:
        """Run a completed or failed job again (back to wait). With ``reset_attempts``
        its attempt counters start from zero. Raises JobStateError (saying which
        state it is in) if it is not in ``state``."""
        parsed = JobState(state)
        if parsed not in (JobState.COMPLETED, JobState.FAILED):
            raise ValueError(f"only completed or failed jobs can be retried, not {parsed.value!r}")
        await self._mover.backend.reprocess_job(
            self._mover.queue, self.id, parsed, reset_attempts=reset_attempts
        )

    async def get_state(self) -> JobState:
        """The job's current state in its queue."""
        return await self._mover.backend.get_state(self._mover.queue, self.id)

    # -- editing, waiting and state checks ------------------------------------------------

    async def change_delay(self, delay: Duration) -> None:
        """Run a delayed job ``delay`` seconds from now instead (whatever its delay
        was). Raises JobStateError if it is not delayed."""
        ms = to_ms(delay, name="delay")
        mover = self._mover
        await mover.backend.change_delay(mover.queue, self.id, ms, _clock.now_ms())
        self._record = replace(self._record, delay_ms=ms)

    async def change_priority(self, priority: int = 0, lifo: bool = False) -> None:
        """Give the job a new ``priority`` (0 none, 1 first … 2,097,151). A waiting job
        moves to its new place: with ``lifo`` first among the jobs of that priority,
        else last; a job in another state gets it when it next waits."""
        value = check_priority(priority)
        if not isinstance(lifo, bool):
            raise TypeError("lifo must be True or False")
        await self._mover.backend.change_priority(self._mover.queue, self.id, value, lifo)
        self._record = replace(self._record, priority=value)

    async def update_data(self, data: Any) -> None:
        """Replace the job's data (any JSON-encodable value; None is stored as ``{}``)."""
        encoded = dumps({} if data is None else data, what="job data")
        limit = self.opts.size_limit
        if limit is not None and len(encoded.encode()) > limit:
            raise ValueError(
                f"job {self.id!r}: the new data is {len(encoded.encode()):,} bytes of JSON, "
                f"more than its size_limit of {limit:,} bytes"
            )
        await self._mover.backend.update_data(self._mover.queue, self.id, encoded)
        self._record = replace(self._record, data=encoded)
        self._data = {} if data is None else data

    async def move_to_delayed(self, when: datetime | float, token: str | None = None) -> None:
        """Put the active job in delayed until ``when`` (an aware datetime or epoch
        seconds; a past time means now) without using an attempt, then raise
        :class:`~corral.DelayedError` from the processor (the step-job pattern). The
        lock is checked first: a wrong token raises a LockError."""
        token = self._token_for(token, "move_to_delayed")
        due = check_when(when)
        now = _clock.now_ms()
        mover = self._mover
        delay = max(0, due - now)
        await mover.backend.move_to_delayed(mover.queue, self.id, token, delay, now)
        self._record = replace(self._record, delay_ms=delay)
        self.token = None

    async def wait_until_finished(self, timeout: Duration | None = None) -> Any:
        """Wait until the job finishes, from any process: its return value when it
        completes; a :class:`~corral.JobFailedError` (with its ``reason``) when it fails
        for good. A job that already finished answers at once (there is no race with
        it finishing). ``timeout`` (seconds; None: no limit) raises ``TimeoutError``.
        A job that does not exist, or is removed before it finishes, raises
        :class:`~corral.JobNotFoundError`."""
        seconds = None if timeout is None else to_ms(timeout, name="timeout") / 1000
        mover = self._mover
        return await wait_until_finished(mover.backend, mover.queue, self.id, seconds)

    async def is_completed(self) -> bool:
        """Whether the job completed."""
        return await self.get_state() is JobState.COMPLETED

    async def is_failed(self) -> bool:
        """Whether the job failed for good."""
        return await self.get_state() is JobState.FAILED

    async def is_active(self) -> bool:
        """Whether a worker holds the job now."""
        return await self.get_state() is JobState.ACTIVE

    async def is_waiting(self) -> bool:
        """Whether the job waits to run (waiting, or prioritized)."""
        return await self.get_state() in (JobState.WAITING, JobState.PRIORITIZED)

    async def is_delayed(self) -> bool:
        """Whether the job waits for its due time."""
        return await self.get_state() is JobState.DELAYED

    # -- cancellation and timeouts ---------------------------------------------------

    async def cancel(self, reason: str | None = None) -> Cancellation:
        """Cancel the job (see :meth:`corral.Queue.cancel`): it ends ``failed`` with the
        reason ``cancelled: <reason>`` and is not retried."""
        mover = self._mover
        return await cancel_job(mover.backend, mover.queue, self.id, reason)

    @property
    def stop_reason(self) -> ProcessorError | None:
        """Why the worker running this job wants its processor to stop: a
        :class:`~corral.JobCancelledError` (the job was cancelled) or a
        :class:`~corral.JobTimeoutError` (it ran past its timeout); None while it
        may go on. Set on a job that :meth:`corral.Worker.run` is processing, and
        (a cancel) on one a worker handed out by hand, until it is moved on."""
        return self._stop

    @property
    def is_cancelled(self) -> bool:
        """Whether the processor should stop now: the job was cancelled or timed out
        (see :attr:`stop_reason`). A plain-function processor polls it; an async
        one gets ``asyncio.CancelledError`` at its next ``await`` instead."""
        return self._stop is not None

    def raise_if_cancelled(self) -> None:
        """Raise :attr:`stop_reason` (a :class:`~corral.JobCancelledError` or
        :class:`~corral.JobTimeoutError`) if the processor should stop; for a
        plain-function processor to call now and then."""
        stop = self._stop
        if stop is not None:
            raise type(stop)(str(stop))

    def request_stop(self, reason: ProcessorError) -> bool:
        """Record why this job's processor must stop (for the engine); False if a
        stop was already recorded (the first reason stands)."""
        if self._stop is not None:
            return False
        self._stop = reason
        return True

    def _finished(self) -> None:
        self.attempts_made += 1
        self._finished_on = _clock.now_ms()
        self.token = None

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, name={self.name!r}, queue={self.queue_name!r})"
