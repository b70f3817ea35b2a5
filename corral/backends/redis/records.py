"""Turn Redis replies into the backend's typed results.

Jobs may have been written by Node BullMQ of any 5.x/6.x version, so reading is
tolerant where Node is: ``atm`` or the legacy ``attemptsMade``, ``stc`` or the
legacy ``stalledCounter``, a missing ``delay``/``priority``/``timestamp`` reads
as 0 and a missing ``data`` as ``{}``. A number field that holds something else
is corruption, reported as :class:`~corral.errors.CorruptJobError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from corral.backends.base import Event, Fetched, JobRecord
from corral.errors import BackendError, CorruptJobError

__all__ = ["parse_events", "parse_fetched", "parse_job", "parse_jobs"]


def _int(job_id: str, fields: Mapping[str, str], name: str, default: int) -> int:
    raw = fields.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        # Node writes numbers with JSON.stringify, which may give "1e+21" or "5.0";
        # accept any whole number, reject anything else.
        try:
            number = float(raw)
        except ValueError:
            number = float("nan")
        if number.is_integer():
            return int(number)
        raise CorruptJobError(job_id, name, f"{raw!r} is not an integer") from None


def _opt_int(job_id: str, fields: Mapping[str, str], name: str) -> int | None:
    if fields.get(name) in (None, ""):
        return None
    return _int(job_id, fields, name, 0)


def parse_job(job_id: str, fields: Mapping[str, str]) -> JobRecord:
    """The job stored as hash ``fields`` (as HGETALL returns it)."""
    get = fields.get
    return JobRecord(
        id=job_id,
        name=get("name", ""),
        data=get("data") or "{}",
        opts=get("opts") or "{}",
        timestamp=_int(job_id, fields, "timestamp", 0),
        delay=_int(job_id, fields, "delay", 0),
        priority=_int(job_id, fields, "priority", 0),
        progress=get("progress"),
        attempts_made=_int(job_id, fields, "atm" if "atm" in fields else "attemptsMade", 0),
        attempts_started=_int(job_id, fields, "ats", 0),
        stalled_counter=_int(job_id, fields, "stc" if "stc" in fields else "stalledCounter", 0),
        processed_on=_opt_int(job_id, fields, "processedOn"),
        finished_on=_opt_int(job_id, fields, "finishedOn"),
        return_value=get("returnvalue"),
        failed_reason=get("failedReason"),
        stacktrace=get("stacktrace"),
        deferred_failure=get("defa"),
        processed_by=get("pb"),
    )


def parse_fetched(reply: Sequence[Any]) -> Fetched:
    """A fetch reply ``[flat job fields | 0, id | 0, rate limit ms, next due ms]``."""
    try:
        flat, job_id, rate_limit_delay, next_delayed_at = reply
    except (TypeError, ValueError):
        raise BackendError(f"unexpected fetch reply from Redis: {reply!r}") from None
    if not flat:
        return Fetched(None, int(rate_limit_delay), int(next_delayed_at))
    return Fetched(parse_job(str(job_id), _pairs(flat)))


def parse_jobs(reply: Sequence[Any]) -> list[JobRecord]:
    """A job listing ``[id, [flat job fields], id, [flat job fields], ...]``."""
    it = iter(reply)
    return [parse_job(job_id, _pairs(flat)) for job_id, flat in zip(it, it, strict=True)]


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    it = iter(flat)
    return dict(zip(it, it, strict=True))


def parse_events(reply: Any) -> list[Event]:
    """XREAD's reply for one stream (RESP2 list or RESP3 map) as events."""
    if not reply:
        return []
    # RESP3 answers {stream: [entries]}, RESP2 [[stream, entries]].
    entries = next(iter(reply.values()))[0] if isinstance(reply, dict) else reply[0][1]
    events = []
    for entry_id, fields in entries:
        name = fields.pop("event", "")  # the reply's own dict: safe to change
        events.append(Event(entry_id, name, fields))
    return events
