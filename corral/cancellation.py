"""Cancelling a job: what ``queue.cancel`` / ``job.cancel`` ask, and what they answer.

A job that is not running yet (waiting, prioritized, delayed, or a parent waiting
for its children) fails at once, with no retry. A running job is marked in the
store; whichever worker holds it, in any process or on any host, sees the mark
within about a second and stops the processor (an async processor gets
``asyncio.CancelledError`` at its next ``await``; a plain function can poll
``job.is_cancelled`` or call ``job.raise_if_cancelled()``), then fails the job.
Either way the job ends ``failed`` with the reason ``cancelled: <reason>``, and
a ``cancelled`` event is written to the queue's events. A job already finished,
or one that does not exist, is left alone and the answer says so.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from corral import _clock
from corral._codec import check_text
from corral.backends.base import CANCEL_REASON_PREFIX, Backend, JobState, KeepJobs
from corral.options import parse_opts

__all__ = [
    "DEFAULT_CANCEL_REASON",
    "CancelOutcome",
    "Cancellation",
    "cancel_job",
    "cancel_reason",
]

DEFAULT_CANCEL_REASON = "by request"
"""The reason of a cancel that gives none (the job fails with ``cancelled: by request``)."""


class CancelOutcome(enum.StrEnum):
    """What a cancel did."""

    CANCELLED = "cancelled"
    """The job was not running yet: it is failed now."""
    REQUESTED = "requested"
    """The job is running: the worker holding it stops it and fails it."""
    FINISHED = "finished"
    """The job had already completed or failed: nothing changed."""
    UNKNOWN = "unknown"
    """There is no such job: nothing changed."""


@dataclass(frozen=True, slots=True)
class Cancellation:
    """The answer to a cancel: the job, what happened, and the state it was in."""

    job_id: str
    outcome: CancelOutcome
    state: JobState
    """The job's state when the cancel arrived (``unknown`` if there is no such job)."""
    reason: str
    """The failed reason the job gets (``cancelled: ...``)."""

    @property
    def accepted(self) -> bool:
        """Whether the job is (or is being) cancelled."""
        return self.outcome in (CancelOutcome.CANCELLED, CancelOutcome.REQUESTED)

    @property
    def message(self) -> str:
        """One line saying what happened, e.g. for the CLI."""
        job = f"job {self.job_id}"
        if self.outcome is CancelOutcome.CANCELLED:
            return f"{job}: cancelled (it was {self.state.value})"
        if self.outcome is CancelOutcome.REQUESTED:
            return f"{job}: active; the worker holding it is stopping it"
        if self.outcome is CancelOutcome.FINISHED:
            return f"{job}: already {self.state.value}, nothing to cancel"
        return f"{job}: no such job, nothing to cancel"

    def __str__(self) -> str:
        return self.message


def cancel_reason(reason: object) -> str:
    """The failed reason of a cancel with ``reason``: ``cancelled: <reason>``."""
    if reason is None:
        reason = DEFAULT_CANCEL_REASON
    if not isinstance(reason, str):
        raise TypeError(f"reason must be a string, not {type(reason).__name__}")
    if not reason.strip():
        raise ValueError("reason must not be empty (leave it out for 'by request')")
    check_text(reason, "cancel reason")
    return CANCEL_REASON_PREFIX + reason


async def cancel_job(backend: Backend, queue: str, job_id: object, reason: object) -> Cancellation:
    """Cancel job ``job_id`` of ``queue`` on ``backend`` (see the module docstring)."""
    if not isinstance(job_id, str):
        raise TypeError(f"job_id must be a string, not {type(job_id).__name__}")
    if not job_id:
        raise ValueError("job_id must not be empty")
    full = cancel_reason(reason)
    record = await backend.get_job(queue, job_id)
    if record is None:
        return Cancellation(job_id, CancelOutcome.UNKNOWN, JobState.UNKNOWN, full)
    keep: KeepJobs = parse_opts(record.opts).keep_on_fail
    state = await backend.cancel_job(queue, job_id, full, _clock.now_ms(), keep)
    if state is JobState.UNKNOWN:
        outcome = CancelOutcome.UNKNOWN
    elif state in (JobState.COMPLETED, JobState.FAILED):
        outcome = CancelOutcome.FINISHED
    elif state is JobState.ACTIVE:
        outcome = CancelOutcome.REQUESTED
    else:
        outcome = CancelOutcome.CANCELLED
    return Cancellation(job_id, outcome, state, full)
