"""Turn Redis replies into the backend's typed results, and a new job into the
script arguments that store it (:func:`new_job_args`).

Jobs may have been written by Node BullMQ of any 5.x/6.x version, so reading is
tolerant where Node is: ``atm`` or the legacy ``attemptsMade``, ``stc`` or the
legacy ``stalledCounter``, a missing ``delay``/``priority``/``timestamp`` reads
as 0 and a missing ``data`` as ``{}``. A number field that holds something else
is corruption, reported as :class:`~corral.errors.CorruptJobError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from corral._wire import record_from_fields
from corral.backends.base import Event, Fetched, JobRecord, NewJob
from corral.backends.keyspace import RESERVED_JOB_IDS
from corral.errors import BackendError

__all__ = ["new_job_args", "pairs", "parse_events", "parse_fetched", "parse_job", "parse_jobs"]


def new_job_args(job: NewJob) -> tuple[Any, ...]:
    """A new job's ARGV fields, as ``add_jobs.lua`` and ``add_flow.lua`` read each job:
    id ("" for the store's next), name, data, opts, timestamp ms, delay ms, priority,
    lifo ("1"/"0")."""
    return (
        job.job_id or "",
        job.name,
        job.data,
        job.opts,
        job.timestamp_ms,
        job.delay_ms,
        job.priority,
        "1" if job.lifo else "0",
    )


def parse_job(job_id: str, fields: Mapping[str, str]) -> JobRecord:
    """The job stored as hash ``fields`` (as HGETALL returns it)."""
    return record_from_fields(job_id, fields)


def parse_fetched(reply: Sequence[Any]) -> Fetched:
    """A fetch reply ``[flat job fields | 0, id | 0, rate limit ms, next due ms]``."""
    try:
        flat, job_id, rate_limit_delay, next_delayed_at = reply
    except (TypeError, ValueError):
        raise BackendError(f"unexpected fetch reply from Redis: {reply!r}") from None
    if not flat:
        return Fetched(None, int(rate_limit_delay), int(next_delayed_at))
    return Fetched(parse_job(str(job_id), pairs(flat)))


def parse_jobs(reply: Sequence[Any]) -> list[JobRecord]:
    """A job listing ``[id, [flat job fields], id, [flat job fields], ...]``; an id that
    names one of the queue's own keys (a Node producer may list one) is no job."""
    it = iter(reply)
    return [
        parse_job(job_id, pairs(flat))
        for job_id, flat in zip(it, it, strict=True)
        if job_id not in RESERVED_JOB_IDS
    ]


def pairs(flat: Sequence[str]) -> dict[str, str]:
    """A flat ``[field, value, field, value, ...]`` reply as a dict."""
    it = iter(flat)
    return dict(zip(it, it, strict=True))


def parse_events(reply: Any) -> list[Event]:
    """XREAD's reply for one stream, ``[[stream, [[id, [field, value, ...]], ...]]]``,
    as events (None: nothing new)."""
    if not reply:
        return []
    events = []
    for entry_id, flat in reply[0][1]:
        fields = pairs(flat)
        name = fields.pop("event", "")
        events.append(Event(entry_id, name, fields))
    return events
