"""JSON in and out of the store, and the one reading of a stored job's fields.

Payloads are JSON, never pickle: nothing read from a store is ever evaluated.
``record_from_fields`` reads a job written by corral or by Node BullMQ (its
hash field names) and reports a corrupt field by name instead of crashing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from corral.backends.base import JobRecord
from corral.errors import CorruptJobError

__all__ = ["UnencodableError", "dumps", "loads", "loads_field", "record_from_fields"]

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class UnencodableError(TypeError):
    """A value has no JSON form; the message names what it was and why."""


def dumps(value: Any, *, what: str = "value") -> str:
    """Encode ``value`` as compact JSON text; UnencodableError (a TypeError) names what
    could not be encoded and why."""
    try:
        return _encoder.encode(value)
    except TypeError as exc:
        raise UnencodableError(
            f"{what} must be JSON-encodable (dict, list, str, int, float, bool, None): {exc}"
        ) from None
    except ValueError as exc:
        # allow_nan=False: NaN and infinities have no JSON form.
        raise UnencodableError(
            f"{what} must be JSON-encodable: {exc} (NaN and Infinity are not JSON)"
        ) from None
    except RecursionError:
        raise UnencodableError(
            f"{what} is nested too deeply (or refers to itself) to encode as JSON"
        ) from None


def loads(text: str) -> Any:
    """Decode JSON text written by any client."""
    return json.loads(text)


def loads_field(job_id: str, field: str, text: str | None, default: Any = None) -> Any:
    """Decode one stored JSON field of a job, or raise CorruptJobError naming it."""
    if text is None:
        return default
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CorruptJobError(job_id, field, f"not valid JSON ({exc})") from None


def _int(job_id: str, fields: Mapping[str, str], *names: str, default: int | None = 0) -> Any:
    for name in names:
        raw = fields.get(name)
        if raw is None or raw == "":
            continue
        try:
            return int(raw)
        except ValueError:
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if math.isfinite(number) and number == int(number):
                return int(number)
            raise CorruptJobError(job_id, name, f"expected an integer, got {raw!r}") from None
    return default


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
        return JobRecord(
            job_id,
            get("name", ""),
            get("data") or "{}",
            get("opts") or "{}",
            int(get("timestamp") or 0),
            int(get("delay") or 0),
            int(get("priority") or 0),
            get("progress"),
            int(get("atm") or get("attemptsMade") or 0),
            int(get("ats") or 0),
            int(get("stc") or get("stalledCounter") or 0),
            int(processed_on) if processed_on else None,
            int(finished_on) if finished_on else None,
            get("returnvalue"),
            get("failedReason"),
            get("stacktrace"),
            get("defa"),
            get("pb"),
        )
    except (TypeError, ValueError):
        pass  # something unusual: read it field by field, naming what is wrong
    return JobRecord(
        id=job_id,
        name=fields.get("name", ""),
        data=fields.get("data") or "{}",
        opts=fields.get("opts") or "{}",
        timestamp_ms=_int(job_id, fields, "timestamp"),
        delay_ms=_int(job_id, fields, "delay"),
        priority=_int(job_id, fields, "priority"),
        progress=fields.get("progress"),
        attempts_made=_int(job_id, fields, "atm", "attemptsMade"),
        attempts_started=_int(job_id, fields, "ats"),
        stalled_counter=_int(job_id, fields, "stc", "stalledCounter"),
        processed_on_ms=_int(job_id, fields, "processedOn", default=None),
        finished_on_ms=_int(job_id, fields, "finishedOn", default=None),
        return_value=fields.get("returnvalue"),
        failed_reason=fields.get("failedReason"),
        stacktrace=fields.get("stacktrace"),
        deferred_failure=fields.get("defa"),
        processed_by=fields.get("pb"),
    )
