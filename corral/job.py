"""Job: one unit of work, and the moves its lock holder may make.

A job fetched by a worker carries the ``token`` that locks it. Only that token
may complete it, fail it, extend its lock or put it back in wait; any other
token, or an expired lock, raises a :class:`~corral.LockError` and changes
nothing.

Payload fields (``data``, ``return_value``, ``progress``) are decoded from JSON
when first read, so a job with a corrupt payload can still be fetched, failed
and reported (reading the bad field raises :class:`~corral.CorruptJobError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from corral import _policy
from corral._client import QueueClient, now_ms
from corral._codec import dumps, loads, loads_field, record_from_fields
from corral.backends.base import (
    Completed,
    Failed,
    Fetched,
    JobRecord,
    JobState,
    Retry,
)
from corral.options import Duration, JobOptions, ms_to_datetime, parse_opts, to_ms

if TYPE_CHECKING:
    from corral.queue import Queue

__all__ = ["Job", "JobState"]

_UNSET: Any = object()


class Job:
    """A job as read from its queue.

    Times are aware UTC datetimes; ``delay`` is in seconds. ``token`` is the lock
    token the job was fetched with (None for a job read with ``Queue.get_job``).
    """

    __slots__ = (
        "_data",
        "_finished_on",
        "_opts",
        "_owner",
        "_progress",
        "_record",
        "_return_value",
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

    def __init__(self, owner: QueueClient, record: JobRecord, token: str | None = None) -> None:
        self._owner = owner
        self._record = record
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

    # -- construction ------------------------------------------------------------

    @classmethod
    def from_json(
        cls, owner: QueueClient, raw: Mapping[str, str], job_id: str, token: str | None = None
    ) -> Job:
        """Build a Job from its stored fields (BullMQ's hash field names), e.g. a raw
        ``HGETALL`` of a job written by Node. ``owner`` is the Queue or Worker that
        the job's moves will go through."""
        return cls(owner, record_from_fields(job_id, raw), token)

    @classmethod
    async def create(cls, queue: Queue, /, name: str, data: Any = None, **options: Any) -> Job:
        """Add a job to ``queue``; the same as ``queue.add(name, data, **options)``."""
        return await queue.add(name, data, **options)

    # -- decoded fields -------------------------------------------------------------

    @property
    def queue_name(self) -> str:
        """The name of the job's queue."""
        return self._owner.name

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
        return chosen

    async def move_to_completed(
        self, return_value: Any = None, token: str | None = None, *, fetch_next: bool = True
    ) -> Job | None:
        """Complete the job with ``return_value`` (JSON-encodable).

        With ``fetch_next`` (the default) the next job is fetched and locked with
        the same token in the same step, and returned (None if there is none).
        Raises a LockError if ``token`` does not hold the job's lock.
        """
        token = self._token_for(token, "move_to_completed")
        encoded = dumps(return_value, what="return value")
        owner = self._owner
        fetch = owner._fetch_request(token) if fetch_next else None
        fetched = await owner.backend.move_to_finished(
            owner.name,
            self.id,
            token,
            Completed(encoded, self.opts.keep_on_complete()),
            now_ms(),
            fetch,
        )
        self._finished()
        self._return_value = return_value
        return await take_fetched(owner, fetched, token)

    async def move_to_failed(
        self, error: BaseException, token: str | None = None, *, fetch_next: bool = False
    ) -> Job | None:
        """Record a failed attempt with ``error``.

        While attempts remain (``attempts`` option) the job goes back to wait, or to
        delayed for its ``backoff``; otherwise it fails for good. An
        :class:`~corral.UnrecoverableError` fails it at once. With ``fetch_next``
        the next job is fetched with the same token and returned.
        """
        token = self._token_for(token, "move_to_failed")
        if not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception, not {type(error).__name__}")
        owner = self._owner
        opts = self.opts
        reason = _policy.failure_reason(error)
        stack = _policy.failure_stacktrace(self._record.stacktrace, error)
        delay = _policy.retry_delay(opts, self.attempts_made, error, custom=owner._backoff_strategy)
        fetch = owner._fetch_request(token) if fetch_next else None
        fetched: Fetched | None
        if delay is None:
            outcome = Failed(reason, stack, opts.keep_on_fail(), opts.attempts)
            fetched = await owner.backend.move_to_finished(
                owner.name, self.id, token, outcome, now_ms(), fetch
            )
            self._finished()
        else:
            fetched = await owner.backend.retry_job(
                owner.name, self.id, token, Retry(reason, stack, delay), now_ms(), fetch
            )
            self.attempts_made += 1
            self.token = None
        self.failed_reason = reason
        return await take_fetched(owner, fetched, token)

    async def move_to_wait(self, token: str | None = None) -> float:
        """Put the job back at the front of the line without using an attempt
        (e.g. after ``queue.rate_limit(...)``); its lock is released.

        Returns the seconds left on the queue's rate limit (0.0 when it is not
        limited), so a caller knows how long to hold off.
        """
        token = self._token_for(token, "move_to_wait")
        owner = self._owner
        left = await owner.backend.move_to_wait(owner.name, self.id, token, now_ms())
        self.token = None
        return max(0, left) / 1000

    async def extend_lock(self, token: str | None, duration: Duration) -> None:
        """Make the lock expire ``duration`` seconds from now.

        Raises :class:`~corral.LockError` if ``token`` no longer holds the lock (it
        expired, or another worker has the job).
        """
        token = self._token_for(token, "extend_lock")
        ms = to_ms(duration, name="duration", allow_zero=False)
        owner = self._owner
        await owner.backend.extend_lock(owner.name, self.id, token, ms, now_ms())

    async def update_progress(self, progress: Any) -> None:
        """Report progress (a number or any JSON value); stored on the job and sent
        to ``QueueEvents`` listeners as a ``progress`` event."""
        encoded = dumps(progress, what="progress")
        await self._owner.backend.update_progress(self._owner.name, self.id, encoded)
        self._progress = progress

    async def log(self, line: str, *, keep: int | None = None) -> int:
        """Append ``line`` to the job's log; with ``keep``, only the newest ``keep``
        lines are kept. Returns how many lines the log has."""
        if not isinstance(line, str):
            raise TypeError(f"log line must be a string, not {type(line).__name__}")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise ValueError(f"keep must be a whole number >= 1, got {keep!r}")
        return await self._owner.backend.add_log(self._owner.name, self.id, line, keep)

    async def get_logs(self, start: int = 0, end: int = -1) -> list[str]:
        """The job's log lines ``[start, end]``, oldest first."""
        lines, _count = await self._owner.backend.get_logs(self._owner.name, self.id, start, end)
        return lines

    async def remove(self) -> bool:
        """Remove the job and its logs. Returns False if it was already gone; an
        active job whose lock is live cannot be removed (JobStateError)."""
        return await self._owner.backend.remove_job(self._owner.name, self.id, now_ms())

    async def promote(self) -> None:
        """Run a delayed job now. Raises JobStateError if it is not delayed."""
        await self._owner.backend.promote(self._owner.name, self.id)

    async def retry(
        self, state: JobState | str = JobState.FAILED, *, reset_attempts: bool = False
    ) -> None:
        """Run a completed or failed job again (back to wait). With ``reset_attempts``
        its attempt counters start from zero. Raises JobStateError if it is not in
        ``state``."""
        parsed = JobState(state)
        if parsed not in (JobState.COMPLETED, JobState.FAILED):
            raise ValueError(f"only completed or failed jobs can be retried, not {parsed.value!r}")
        await self._owner.backend.reprocess_job(
            self._owner.name, self.id, parsed, reset_attempts=reset_attempts
        )

    async def get_state(self) -> JobState:
        """The job's current state in its queue."""
        return await self._owner.backend.get_state(self._owner.name, self.id)

    def _finished(self) -> None:
        self.attempts_made += 1
        self._finished_on = now_ms()
        self.token = None

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, name={self.name!r}, queue={self.queue_name!r})"


async def take_fetched(owner: QueueClient, fetched: Fetched | None, token: str) -> Job | None:
    """Turn a fetch result into a Job for ``owner``.

    A fetched job marked with a deferred failure (it stalled too often) is never
    handed out: it is failed at once and the next job is fetched instead.
    """
    backend = owner.backend
    while fetched is not None and fetched.job is not None and fetched.job.deferred_failure:
        stale = Job(owner, fetched.job, token)
        opts = stale.opts
        outcome = Failed(
            fetched.job.deferred_failure,
            fetched.job.stacktrace or "[]",
            opts.keep_on_fail(),
            opts.attempts,
        )
        fetched = await backend.move_to_finished(
            owner.name, stale.id, token, outcome, now_ms(), owner._fetch_request(token)
        )
    owner._note_fetch(fetched)
    if fetched is None or fetched.job is None:
        return None
    return Job(owner, fetched.job, token)
