"""Every exception corral raises, under one root.

```
CorralError
├── ConfigurationError (also ValueError)   bad URL, unknown backend scheme
├── MissingDependency (also ImportError)   an optional package is not installed
├── BackendError                            the store failed or answered what we cannot read
│   ├── StoreUnavailableError               the store could not be reached (outcome unknown)
│   ├── StoreReplacedError                  the SQLite file was deleted or replaced under corral
│   └── CorruptJobError                     a stored job has a field we cannot decode
├── JobError                                an operation on one job was refused
│   ├── JobNotFoundError                    no such job (code -1)
│   ├── JobStateError                       the job is not in the state the operation needs (-3)
│   ├── LockError                           the caller does not hold the job's lock
│   │   ├── MissingLockError                the lock expired or was never taken (-2)
│   │   └── LockMismatchError               another token holds the lock (-6)
│   ├── PendingDependenciesError            the job still has children to wait for (-4)
│   ├── ParentNotFoundError                 a child's parent job does not exist (-5)
│   ├── ParentConflictError                 the job already has another parent (-7)
│   ├── FailedChildrenError                 a child failed the job, so it cannot complete (-9)
│   └── JobFailedError                      the job a caller waited for failed (its reason)
├── QueueError                              a queue-wide operation was refused
│   └── ObliterateError                     the queue is not paused, or has active jobs
└── ProcessorError                          raised *by user code* to steer a job's outcome
    ├── UnrecoverableError                  fail at once, no retry
    │   └── JobCancelledError               the job was cancelled (``queue.cancel``)
    ├── JobTimeoutError (also TimeoutError)  the attempt ran past its ``timeout``
    ├── RateLimitError                      put the job back and pause fetching
    ├── WaitingChildrenError                the job now waits for its children
    └── DelayedError                        the job was moved to delayed (step jobs)

Process workers (``Worker(..., processes=N)``) fail an attempt with:
CorralError
├── ChildJobError                           the processor raised in a child process
└── ChildCrashedError                       the child died while running the job
```

Invalid arguments raise the standard ``ValueError`` / ``TypeError`` with the rule
in the message, before anything is written.

Backends report refusals as an :class:`ErrorCode`: the numbers BullMQ uses for
the refusals it has (so a code seen in Redis means the same in both languages),
and corral's own codes from -100 down for the ones it does not.
:func:`error_from_code` is the one place that turns a code into an exception.
"""

from __future__ import annotations

import enum
from datetime import timedelta

__all__ = [
    "BackendError",
    "ChildCrashedError",
    "ChildJobError",
    "ConfigurationError",
    "CorralError",
    "CorruptJobError",
    "DelayedError",
    "ErrorCode",
    "FailedChildrenError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobStateError",
    "JobTimeoutError",
    "LockError",
    "LockMismatchError",
    "MissingDependency",
    "MissingLockError",
    "ObliterateError",
    "ParentConflictError",
    "ParentNotFoundError",
    "PendingDependenciesError",
    "ProcessorError",
    "StoreReplacedError",
    "StoreUnavailableError",
    "QueueError",
    "RateLimitError",
    "UnrecoverableError",
    "WaitingChildrenError",
    "error_from_code",
]


class ErrorCode(enum.IntEnum):
    """Refusal codes shared by every backend.

    -1 … -9 are the values BullMQ's scripts return; -100 and below are corral's own,
    outside BullMQ's range so the two can never be confused.
    """

    JOB_NOT_EXIST = -1
    JOB_LOCK_NOT_EXIST = -2
    JOB_NOT_IN_STATE = -3
    JOB_PENDING_DEPENDENCIES = -4
    PARENT_JOB_NOT_EXIST = -5
    JOB_LOCK_MISMATCH = -6
    PARENT_JOB_CANNOT_BE_REPLACED = -7
    JOB_BELONGS_TO_JOB_SCHEDULER = -8
    JOB_HAS_FAILED_CHILDREN = -9
    SCHEDULER_JOB_ID_COLLISION = -10
    """upsert_job_scheduler: the next iteration's id is taken by a job that is not pending."""
    SCHEDULER_JOB_SLOTS_BUSY = -11
    """upsert_job_scheduler: every slot an ``every`` scheduler tried is taken."""
    QUEUE_NOT_PAUSED = -100
    """obliterate: the queue must be paused first."""
    QUEUE_HAS_ACTIVE_JOBS = -101
    """obliterate: jobs are active and ``force`` was not given."""
    JOB_LOCKED = -102
    """remove: the job is active and its lock is live."""


class CorralError(Exception):
    """The root of every exception corral raises on purpose."""


class ConfigurationError(CorralError, ValueError):
    """A URL, option or environment setting that corral cannot use."""


class MissingDependency(CorralError, ImportError):
    """An optional package needed for the requested backend is not installed."""


class BackendError(CorralError):
    """The storage backend failed, or replied with something corral cannot read."""


class StoreUnavailableError(BackendError):
    """The store could not be reached, or the connection dropped during the operation.

    The operation may or may not have taken effect. Retrying is safe for reads and
    for adds with a custom ``job_id`` (a duplicate id adds nothing); a worker
    retries by itself, with backoff.
    """


class StoreReplacedError(BackendError):
    """The SQLite database file was deleted, moved or replaced while corral had it open:
    the path no longer names the file corral opened.

    Every later operation of that connection is refused with this error (what it
    would write could never be read at that path), and a running worker stops with
    it. Open the queue again (restart the process) to use the file now at the path.
    """


class CorruptJobError(BackendError):
    """A stored job could not be decoded (a field is missing or is not valid JSON)."""

    def __init__(self, job_id: str, field: str, problem: str) -> None:
        self.job_id = job_id
        self.field = field
        super().__init__(f"job {job_id!r} has an unreadable {field!r} field: {problem}")


class JobError(CorralError):
    """An operation on a single job was refused; nothing was changed."""

    code: ErrorCode | None = None
    index: int | None = None
    """For a refusal of a batch (``add_flow``): the position of the job it is about."""

    def __init__(self, message: str, *, job_id: str, operation: str) -> None:
        self.job_id = job_id
        self.operation = operation
        super().__init__(message)


class JobNotFoundError(JobError):
    """The job does not exist (it was removed, or never added)."""

    code = ErrorCode.JOB_NOT_EXIST


class JobStateError(JobError):
    """The job is not in the state the operation needs (e.g. completing a job that is not active)."""

    code = ErrorCode.JOB_NOT_IN_STATE


class LockError(JobError):
    """The caller does not hold the job's lock, so it may not move the job."""


class MissingLockError(LockError):
    """The job has no lock: it expired (the job may have stalled) or was never taken."""

    code = ErrorCode.JOB_LOCK_NOT_EXIST


class LockMismatchError(LockError):
    """The job's lock is held by a different token."""

    code = ErrorCode.JOB_LOCK_MISMATCH


class PendingDependenciesError(JobError):
    """The job still waits for child jobs, so it cannot complete yet."""

    code = ErrorCode.JOB_PENDING_DEPENDENCIES


class ParentNotFoundError(JobError):
    """A job was to be added as the child of a parent job that does not exist; nothing
    was added. ``parent_key`` is the parent's job key (``<prefix>:<queue>:<id>``)."""

    code = ErrorCode.PARENT_JOB_NOT_EXIST
    parent_key: str | None = None


class ParentConflictError(JobError):
    """A job id that exists already belongs to another parent that still exists, so it
    cannot be given a new one; nothing was added."""

    code = ErrorCode.PARENT_JOB_CANNOT_BE_REPLACED
    parent_key: str | None = None


class FailedChildrenError(JobError):
    """A child failed with ``fail_parent_on_failure``, so the job cannot complete
    (a worker fails it at once, without retry)."""

    code = ErrorCode.JOB_HAS_FAILED_CHILDREN


class QueueError(CorralError):
    """A queue-wide operation was refused."""


class ObliterateError(QueueError):
    """``obliterate`` was refused: the queue is not paused, or has active jobs without ``force``."""


class ProcessorError(CorralError):
    """Base of the exceptions a processor raises to steer what happens to its job."""


class UnrecoverableError(ProcessorError):
    """Raise from a processor to fail the job at once, whatever attempts remain."""


class JobCancelledError(UnrecoverableError):
    """The job was cancelled (``queue.cancel`` / ``job.cancel``): it fails for good,
    with no retry, its failed reason ``cancelled: <reason>``.

    A plain-function processor raises it with ``job.raise_if_cancelled()``; an async
    one gets ``asyncio.CancelledError`` instead, and the worker records this.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        """The failed reason, ``cancelled: ...``."""


class JobTimeoutError(ProcessorError, TimeoutError):
    """The attempt ran longer than its ``timeout`` (the job's option, else the
    worker's): it fails with this as its reason and is retried while attempts remain."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class RateLimitError(ProcessorError):
    """Raise from a processor when the service it calls says "not now": the job goes
    back to wait without using an attempt, and the worker takes no job until the
    queue's rate-limit window passes.

    ``RateLimitError(retry_after=seconds)`` sets that window itself (as
    ``await queue.rate_limit(seconds)`` before raising would). Raised bare, it
    relies on a window already set; with none, the worker holds off for a minimum
    (its limiter's duration, else one second) and logs a warning.
    """

    def __init__(
        self,
        message: str = "bullmq:rateLimitExceeded",
        *,
        retry_after: float | timedelta | None = None,
    ) -> None:
        ms = None
        if retry_after is not None:
            from corral.options import to_ms  # errors.py is imported before options

            ms = to_ms(retry_after, name="retry_after", allow_zero=False)
        super().__init__(message)
        self.retry_after_ms = ms
        """The rate-limit window to set (ms), or None to rely on one already set."""

    @property
    def retry_after(self) -> float | None:
        """The rate-limit window this error sets (seconds), or None."""
        return None if self.retry_after_ms is None else self.retry_after_ms / 1000


class WaitingChildrenError(ProcessorError):
    """Raise from a processor once ``await job.move_to_waiting_children(token)`` returned
    True: the job waits for its children and runs again when they are done; the worker
    writes nothing for this run, uses no attempt, and takes its next job."""

    def __init__(self, message: str = "bullmq:movedToWaitingChildren") -> None:
        super().__init__(message)


class DelayedError(ProcessorError):
    """Raise from a processor once ``await job.move_to_delayed(when, token)`` returned:
    the job waits in delayed and runs again when it falls due; the worker writes
    nothing for this run, uses no attempt, and takes its next job."""

    def __init__(self, message: str = "bullmq:movedToDelayed") -> None:
        super().__init__(message)


class JobFailedError(JobError):
    """The job that :meth:`corral.Job.wait_until_finished` waited for failed for good;
    ``reason`` is its failed reason."""

    def __init__(self, message: str, *, job_id: str, reason: str) -> None:
        super().__init__(message, job_id=job_id, operation="wait_until_finished")
        self.reason = reason
        """The job's failed reason, as stored."""


_EXPECTED_STATE = {
    "move_to_finished": "active",
    "retry_job": "active",
    "move_to_delayed": "active",
    "move_to_wait": "active",
    "move_to_waiting_children": "active",
    "extend_lock": "active",
    "promote": "delayed",
    "change_delay": "delayed",
}
"""The state each operation needs, to word a ``JOB_NOT_IN_STATE`` refusal."""

_FINISHED = ("completed", "failed")


def error_from_code(
    code: int,
    *,
    operation: str,
    job_id: str | None = None,
    queue: str | None = None,
    state: str | None = None,
    expected: str | None = None,
    count: int | None = None,
    parent: str | None = None,
    index: int | None = None,
) -> CorralError:
    """Turn a backend refusal code into the exception the caller sees.

    The message names the job (or the queue) and the operation, so a log line
    alone says what was refused and why. ``state`` is the job's current state
    when the store reported it with the refusal; ``expected`` the state the
    operation needed (default: the operation's usual one); ``count`` the number a
    queue refusal is about (active jobs for ``QUEUE_HAS_ACTIVE_JOBS``);
    ``parent`` the parent job key a flow refusal is about; ``index`` the position
    of the refused job in its batch (set on the exception).
    """
    error = _error_from_code(
        code,
        operation=operation,
        job_id=job_id,
        queue=queue,
        state=state,
        expected=expected,
        count=count,
        parent=parent,
    )
    if index is not None and isinstance(error, JobError):
        error.index = index
    return error


def _error_from_code(
    code: int,
    *,
    operation: str,
    job_id: str | None,
    queue: str | None,
    state: str | None,
    expected: str | None,
    count: int | None,
    parent: str | None,
) -> CorralError:
    subject = f"job {job_id!r}" if job_id is not None else f"queue {queue!r}"
    jid = job_id if job_id is not None else ""
    try:
        known = ErrorCode(code)
    except ValueError:
        return JobError(
            f"{subject}: {operation} was refused with unknown code {code}",
            job_id=jid,
            operation=operation,
        )
    if known is ErrorCode.QUEUE_NOT_PAUSED:
        return ObliterateError(f"cannot obliterate {subject}: it is not paused; pause it first")
    if known is ErrorCode.QUEUE_HAS_ACTIVE_JOBS:
        how_many = "" if count is None else f"{count} "
        return ObliterateError(
            f"cannot obliterate {subject}: it has {how_many}active job(s); "
            "pass force=True to remove them too"
        )
    if known is ErrorCode.JOB_NOT_EXIST:
        return JobNotFoundError(
            f"{subject} does not exist ({operation})", job_id=jid, operation=operation
        )
    if known is ErrorCode.JOB_LOCK_NOT_EXIST:
        if state in _FINISHED:
            return MissingLockError(
                f"{subject} already {state}, so its lock is gone ({operation}): a job "
                "finishes once",
                job_id=jid,
                operation=operation,
            )
        return MissingLockError(
            f"{subject} has no lock ({operation}): the lock expired or the job was "
            "never fetched with a token; it may have been returned to wait as stalled",
            job_id=jid,
            operation=operation,
        )
    if known is ErrorCode.JOB_LOCK_MISMATCH:
        return LockMismatchError(
            f"{subject} is locked by another token ({operation}): only the token "
            "that fetched the job may move it",
            job_id=jid,
            operation=operation,
        )
    if known is ErrorCode.JOB_LOCKED:
        return JobStateError(
            f"{subject} is locked by a worker, so it cannot be removed ({operation})",
            job_id=jid,
            operation=operation,
        )
    if known is ErrorCode.JOB_NOT_IN_STATE:
        needed = expected or _EXPECTED_STATE.get(operation, "expected")
        now_in = f"{state}, not {needed}" if state else f"not in the {needed} state"
        return JobStateError(
            f"{subject} is {now_in} ({operation})", job_id=jid, operation=operation
        )
    if known is ErrorCode.JOB_PENDING_DEPENDENCIES:
        return PendingDependenciesError(
            f"{subject} has pending dependencies ({operation})",
            job_id=jid,
            operation=operation,
        )
    if known is ErrorCode.JOB_HAS_FAILED_CHILDREN:
        return FailedChildrenError(
            f"{subject} has at least one failed child, so it cannot complete ({operation})",
            job_id=jid,
            operation=operation,
        )
    if known is ErrorCode.PARENT_JOB_NOT_EXIST:
        who = subject if job_id else "the job"
        missing = ParentNotFoundError(
            f"parent job {parent!r} does not exist, so {who} cannot be added as its "
            f"child; nothing was added ({operation})",
            job_id=jid,
            operation=operation,
        )
        missing.parent_key = parent
        return missing
    if known is ErrorCode.PARENT_JOB_CANNOT_BE_REPLACED:
        conflict = ParentConflictError(
            f"{subject} exists and belongs to another parent that still exists, so it "
            f"cannot become a child of {parent!r}; nothing was added ({operation})",
            job_id=jid,
            operation=operation,
        )
        conflict.parent_key = parent
        return conflict
    if known in (ErrorCode.SCHEDULER_JOB_ID_COLLISION, ErrorCode.SCHEDULER_JOB_SLOTS_BUSY):
        return JobError(
            f"{subject} exists already and is not the scheduler's pending iteration, so "
            f"no iteration was added ({operation}); wait until it finishes or remove it",
            job_id=jid,
            operation=operation,
        )
    return JobError(
        f"{subject}: {operation} was refused ({known.name}, code {code})",
        job_id=jid,
        operation=operation,
    )


# -- process workers ---------------------------------------------------------------------


class ChildJobError(CorralError):
    """The processor raised in a process worker's child. Exceptions do not cross the
    process boundary (nothing is pickled): this one carries the original's message
    (the job's ``failed_reason``), its class name in :attr:`type_name`, and the
    child's traceback as its ``__cause__`` (so the job's stack trace shows it)."""

    def __init__(self, message: str, *, type_name: str = "Exception") -> None:
        super().__init__(message)
        self.type_name = type_name
        """The class name of the exception the processor raised (e.g. ``"KeyError"``)."""


class ChildCrashedError(CorralError):
    """A process worker's child died while running the job (a segfault, an OOM kill,
    ``os._exit``): the job's attempt fails with the signal or exit code, the child is
    replaced, and the worker goes on."""
