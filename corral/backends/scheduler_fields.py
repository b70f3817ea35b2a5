"""A job scheduler's stored fields, shared by both backends.

A scheduler is stored as BullMQ 6's ``repeat:<id>`` hash holds it (``name``,
``every`` or ``pattern``, ``tz``, ``limit``, ``startDate``, ``endDate``,
``offset``, ``opts``, ``data``, ``ic``): Redis keeps the hash, SQLite the same
fields as one JSON object. This module turns a :class:`SchedulerSpec` into those
fields and the fields back into a :class:`SchedulerRecord`.
"""

from __future__ import annotations

from collections.abc import Mapping

from corral.backends.base import SchedulerRecord, SchedulerSpec

__all__ = ["every_next", "scheduler_fields", "scheduler_record"]


def scheduler_fields(spec: SchedulerSpec, offset: int | None, count: int) -> dict[str, str]:
    """The stored fields of ``spec``, with its slot ``offset`` and iteration ``count``."""
    fields = {"name": spec.name}
    optional = {
        "tz": spec.tz,
        "limit": spec.limit,
        "pattern": spec.pattern,
        "startDate": spec.start_ms,
        "endDate": spec.end_ms,
        "every": spec.every_ms,
        "offset": offset,
    }
    fields.update({k: str(v) for k, v in optional.items() if v is not None and v != ""})
    if spec.template_opts != "{}":
        fields["opts"] = spec.template_opts
    if spec.data != "{}":
        fields["data"] = spec.data
    fields["ic"] = str(count)
    return fields


def _int(fields: Mapping[str, str], name: str) -> int | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def scheduler_record(scheduler_id: str, next_ms: int, fields: Mapping[str, str]) -> SchedulerRecord:
    """A stored scheduler, read leniently (a field it cannot read counts as unset)."""
    return SchedulerRecord(
        id=scheduler_id,
        name=fields.get("name", ""),
        next_ms=next_ms,
        iteration_count=_int(fields, "ic") or 0,
        every_ms=_int(fields, "every"),
        pattern=fields.get("pattern") or None,
        tz=fields.get("tz") or None,
        limit=_int(fields, "limit"),
        start_ms=_int(fields, "startDate"),
        end_ms=_int(fields, "endDate"),
        offset_ms=_int(fields, "offset"),
        data=fields.get("data"),
        template_opts=fields.get("opts"),
    )


def every_next(
    prev: int | None, every: int, now: int, offset: int, start: int | None
) -> tuple[int, int]:
    """When an ``every`` scheduler's next iteration runs, and its slot offset.

    From the previous due time ``prev`` (None: a new scheduler), catching up past
    missed slots onto the slot grid; a new scheduler starts at ``start`` (not
    before ``now``), else at the next slot of a known ``offset``, else now. The
    offset is the due time modulo ``every`` unless one is known. This is BullMQ's
    rule, so a scheduler keeps its slots whichever side moves it on.
    """
    if prev is None:
        if start is not None:
            due = max(start, now)
        elif offset > 0:
            due = now // every * every + offset
            if due <= now:
                due += every
        else:
            due = now
    else:
        due = prev + every
        if due < now:
            due = now // every * every + offset
            if due <= now:
                due += every
    if offset == 0:
        offset = due - due // every * every
    return due, offset
