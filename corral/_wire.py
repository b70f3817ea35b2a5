"""BullMQ's stored forms: the job hash, and the values of a job's ``opts`` JSON.

A job is stored as a hash with BullMQ's field names (``atm``, ``ats``, ``stc``,
``defa``, ``pb``, ...), and its options as one JSON object in Node's encodings:
every duration in milliseconds, retention as ``true`` / a count /
``{"age": seconds, "count": n}``, a backoff as a number of ms or
``{"type", "delay", "jitter"}``. This module knows those forms, so a job written
here reads the same in Node and the other way round. Which option lives under
which ``opts`` key is the option table in :mod:`corral.options`; each row there
names one :class:`Form` from here.

Writing is exact: what Node itself would write. Reading ``opts`` is lenient: a
value in a form corral does not know reads as "not set", because a job Node
wrote must still run. Reading the hash is strict where it matters: a number
field that holds something else raises :class:`~corral.errors.CorruptJobError`
naming the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Generic, TypeVar

from corral.backends.base import JobRecord, KeepJobs, ParentLink, ParentPolicy
from corral.errors import CorruptJobError

__all__ = [
    "COUNT",
    "EPOCH_MS",
    "FLAG",
    "INTEGER",
    "KEEP",
    "MS",
    "TEXT",
    "Form",
    "backoff_read",
    "backoff_write",
    "keep_read",
    "keep_write",
    "parent_field",
    "parent_from_fields",
    "record_from_fields",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Form(Generic[T]):
    """How one option's normalised value is written in the ``opts`` JSON and read back."""

    write: Callable[[T], object]
    """The JSON value Node would store for it."""
    read: Callable[[object], T | None]
    """What a stored value means; None when it is not in a form corral knows."""


def number(raw: object) -> float | None:
    """A stored JSON number as a finite float; None for anything else (bools included)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw) if math.isfinite(raw) else None


def _identity(value: T) -> T:
    return value


def _text(raw: object) -> str | None:
    return raw if isinstance(raw, str) else None


def _ms(raw: object) -> int | None:
    value = number(raw)
    return None if value is None else max(0, round(value))


def _count(raw: object) -> int | None:
    value = number(raw)
    return None if value is None else max(0, int(value))


def _integer(raw: object) -> int | None:
    value = number(raw)
    return None if value is None else int(value)


def _flag(raw: object) -> bool | None:
    return True if raw is True else None


TEXT: Form[str] = Form(_identity, _text)
"""A string, stored as is (``jobId``)."""
MS: Form[int] = Form(_identity, _ms)
"""A duration in whole milliseconds (``delay``)."""
COUNT: Form[int] = Form(_identity, _count)
"""A count >= 0 (``attempts``)."""
INTEGER: Form[int] = Form(_identity, _integer)
"""A whole number (``priority``)."""
EPOCH_MS: Form[int] = Form(_identity, _integer)
"""A time as Unix epoch milliseconds (``timestamp``)."""
FLAG: Form[bool] = Form(_identity, _flag)
"""``true``; absent (or anything else) means false (``lifo``)."""


def _seconds(ms: int) -> int | float:
    # Node stores retention ages in seconds, as an integer when the age is whole.
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def keep_write(keep: KeepJobs) -> bool | int | dict[str, int | float]:
    """``removeOnComplete`` / ``removeOnFail`` as Node stores them: ``true`` (remove at
    once), ``n`` (keep the newest n), ``{"age": s, "count": n}``; ``false`` keeps all."""
    if keep.age_ms is None:
        if keep.count < 0:
            return False
        return True if keep.count == 0 else keep.count
    out: dict[str, int | float] = {"age": _seconds(keep.age_ms)}
    if keep.count >= 0:
        out["count"] = keep.count
    return out


def keep_read(raw: object) -> KeepJobs | None:
    """The retention a stored ``removeOnComplete`` / ``removeOnFail`` asks for, read
    as Node's worker reads it (a negative count keeps all)."""
    if raw is True:
        return KeepJobs(count=0)
    if raw is False:
        return KeepJobs()
    count = number(raw)
    if count is not None:
        return KeepJobs(count=int(count) if count >= 0 else -1)
    if isinstance(raw, Mapping):
        count = number(raw.get("count"))
        age = number(raw.get("age"))
        return KeepJobs(
            count=int(count) if count is not None and count >= 0 else -1,
            age_ms=round(age * 1000) if age is not None and age >= 0 else None,
        )
    return None


KEEP: Form[KeepJobs] = Form(keep_write, keep_read)
"""Retention of a finished job (``removeOnComplete``, ``removeOnFail``)."""


def backoff_write(kind: str, delay_ms: int, jitter: float) -> dict[str, object]:
    """A backoff as Node stores it: ``{"type": ..., "delay": ms[, "jitter": j]}``."""
    out: dict[str, object] = {"type": kind, "delay": delay_ms}
    if jitter:
        out["jitter"] = jitter
    return out


def backoff_read(raw: object) -> tuple[str, int, float] | None:
    """A stored backoff as ``(type, delay_ms, jitter)``: a bare number is a fixed delay
    in ms; None when the value is not a backoff Node could have written."""
    delay = number(raw)
    if delay is not None:
        return "fixed", max(0, round(delay)), 0.0
    if not isinstance(raw, Mapping):
        return None
    kind = raw.get("type", "fixed")
    delay = number(raw.get("delay", 0))
    jitter = number(raw.get("jitter", 0) or 0)
    if not isinstance(kind, str) or not kind or delay is None or jitter is None:
        return None
    if not 0 <= jitter <= 1:
        return None
    return kind, max(0, round(delay)), jitter


# -- the job hash -------------------------------------------------------------------


def _int(job_id: str, fields: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        raw = fields.get(name)
        if raw is None or raw == "":
            continue
        try:
            return int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if math.isfinite(value) and value == int(value):
                return int(value)
            raise CorruptJobError(job_id, name, f"expected an integer, got {raw!r}") from None
    return None


def _int0(job_id: str, fields: Mapping[str, str], *names: str) -> int:
    value = _int(job_id, fields, *names)
    return 0 if value is None else value


_POLICIES = tuple(p for p in ParentPolicy if p is not ParentPolicy.NONE)


def parent_field(link: ParentLink) -> str:
    """A child's ``parent`` hash field as Node writes it: ``{"id", "queueKey"}`` plus
    the child's failure flag (``"fpof": true`` ...) when it has one."""
    out: dict[str, object] = {"id": link.id, "queueKey": link.queue_key}
    if link.policy is not ParentPolicy.NONE:
        out[link.policy.value] = True
    return json.dumps(out, separators=(",", ":"))


def parent_from_fields(fields: Mapping[str, str]) -> ParentLink | None:
    """A child's parent from its ``parent`` JSON field (with its failure flag), else
    from ``parentKey`` alone (split at its last ``:``, as Node's scripts do)."""
    raw = fields.get("parent")
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            parent_id, queue_key = parsed.get("id"), parsed.get("queueKey")
            if isinstance(parent_id, str) and isinstance(queue_key, str):
                policy = next((p for p in _POLICIES if parsed.get(p.value)), ParentPolicy.NONE)
                return ParentLink(queue_key, parent_id, policy)
    key = fields.get("parentKey")
    if key:
        queue_key, _, parent_id = key.rpartition(":")
        if queue_key and parent_id:
            return ParentLink(queue_key, parent_id)
    return None


_RECORD_FIELDS = (
    "id", "name", "data", "opts", "timestamp_ms", "delay_ms", "priority", "progress",
    "attempts_made", "attempts_started", "stalled_counter", "processed_on_ms",
    "finished_on_ms", "return_value", "failed_reason", "stacktrace", "deferred_failure",
    "processed_by", "parent",
)  # fmt: skip
if tuple(f.name for f in dataclass_fields(JobRecord)) != _RECORD_FIELDS:  # pragma: no cover
    raise RuntimeError("JobRecord's fields changed: update _RECORD_FIELDS in corral/_wire.py")

# A job read on every fetch is built slot by slot: a frozen dataclass's __init__
# sets each field through object.__setattr__, twice the cost of the whole read.
_new_record = object.__new__
(
    _set_id, _set_name, _set_data, _set_opts, _set_timestamp, _set_delay, _set_priority,
    _set_progress, _set_attempts_made, _set_attempts_started, _set_stalled, _set_processed_on,
    _set_finished_on, _set_return_value, _set_failed_reason, _set_stacktrace,
    _set_deferred_failure, _set_processed_by, _set_parent,
) = (getattr(JobRecord, name).__set__ for name in _RECORD_FIELDS)  # fmt: skip


def record_from_fields(job_id: str, fields: Mapping[str, str]) -> JobRecord:
    """Build a JobRecord from a job's stored fields (BullMQ's hash field names).

    Tolerates what other clients write: legacy ``attemptsMade`` / ``stalledCounter``,
    missing ``delay`` / ``priority`` / ``data`` / ``opts``. An integer field that is
    not an integer raises :class:`CorruptJobError`.
    """
    get = fields.get
    try:
        # The common case, every number a plain integer string: one pass, no checks.
        processed_on = get("processedOn")
        finished_on = get("finishedOn")
        record: JobRecord = _new_record(JobRecord)
        _set_id(record, job_id)
        _set_name(record, get("name", ""))
        _set_data(record, get("data") or "{}")
        _set_opts(record, get("opts") or "{}")
        _set_timestamp(record, int(get("timestamp") or 0))
        _set_delay(record, int(get("delay") or 0))
        _set_priority(record, int(get("priority") or 0))
        _set_progress(record, get("progress"))
        _set_attempts_made(record, int(get("atm") or get("attemptsMade") or 0))
        _set_attempts_started(record, int(get("ats") or 0))
        _set_stalled(record, int(get("stc") or get("stalledCounter") or 0))
        _set_processed_on(record, int(processed_on) if processed_on else None)
        _set_finished_on(record, int(finished_on) if finished_on else None)
        _set_return_value(record, get("returnvalue"))
        _set_failed_reason(record, get("failedReason"))
        _set_stacktrace(record, get("stacktrace"))
        _set_deferred_failure(record, get("defa"))
        _set_processed_by(record, get("pb"))
        _set_parent(
            record,
            parent_from_fields(fields) if "parentKey" in fields or "parent" in fields else None,
        )
        return record
    except (TypeError, ValueError):
        pass  # something unusual: read it field by field, naming what is wrong
    return JobRecord(
        id=job_id,
        name=fields.get("name", ""),
        data=fields.get("data") or "{}",
        opts=fields.get("opts") or "{}",
        timestamp_ms=_int0(job_id, fields, "timestamp"),
        delay_ms=_int0(job_id, fields, "delay"),
        priority=_int0(job_id, fields, "priority"),
        progress=fields.get("progress"),
        attempts_made=_int0(job_id, fields, "atm", "attemptsMade"),
        attempts_started=_int0(job_id, fields, "ats"),
        stalled_counter=_int0(job_id, fields, "stc", "stalledCounter"),
        processed_on_ms=_int(job_id, fields, "processedOn"),
        finished_on_ms=_int(job_id, fields, "finishedOn"),
        return_value=fields.get("returnvalue"),
        failed_reason=fields.get("failedReason"),
        stacktrace=fields.get("stacktrace"),
        deferred_failure=fields.get("defa"),
        processed_by=fields.get("pb"),
        parent=parent_from_fields(fields),
    )
