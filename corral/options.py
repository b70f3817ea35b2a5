"""Job options: validation, and their encoding in BullMQ's ``opts`` JSON.

Everything a user passes is checked here, before anything is written; a bad
value raises ``ValueError`` or ``TypeError`` with the rule in the message.
Durations are seconds (``int | float | timedelta``); on the wire they are
milliseconds, exactly as Node BullMQ stores them, so a Node worker reads a job
added by corral and the other way round.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from corral.backends.base import MAX_PRIORITY, KeepJobs

__all__ = [
    "Backoff",
    "Duration",
    "JobOptions",
    "KeepPolicy",
    "RemovePolicy",
    "RateLimiter",
    "to_ms",
    "validate_queue_name",
]

Duration = int | float | timedelta
"""A duration in seconds, or a ``timedelta``."""

_INTEGER_ID = re.compile(r"-?(0|[1-9][0-9]*)")


def to_ms(value: Duration, *, name: str, allow_zero: bool = True) -> int:
    """Convert a duration in seconds (or a timedelta) to whole milliseconds.

    Raises TypeError for a non-number and ValueError for a negative, infinite or
    NaN value (or zero when ``allow_zero`` is False), naming the parameter.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{name} must be a number of seconds or a timedelta, not {type(value).__name__}"
        )
    else:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {rule} seconds, got {value!r}")
    ms = round(seconds * 1000)
    if ms > 2**53:
        raise ValueError(f"{name} is too large: {value!r} seconds")
    if ms == 0 and seconds > 0 and not allow_zero:
        raise ValueError(f"{name} must be at least 0.001 seconds, got {value!r}")
    return ms


def validate_queue_name(name: object) -> str:
    """Return ``name`` if it is a usable queue name, else raise with the rule."""
    if not isinstance(name, str):
        raise TypeError(f"queue name must be a string, not {type(name).__name__}")
    if not name:
        raise ValueError("queue name must not be empty")
    if ":" in name:
        raise ValueError(f"queue name {name!r} must not contain ':' (it separates key parts)")
    return name


def validate_job_id(job_id: object) -> str:
    """Return a custom job id if it follows BullMQ's rules, else raise with the rule."""
    if not isinstance(job_id, str):
        raise TypeError(f"job_id must be a string, not {type(job_id).__name__}")
    if not job_id:
        raise ValueError("job_id must not be empty")
    if _INTEGER_ID.fullmatch(job_id):
        raise ValueError(
            f"custom job_id {job_id!r} must not look like an integer: integer ids are "
            "reserved for the queue's own counter"
        )
    if ":" in job_id:
        raise ValueError(f"custom job_id {job_id!r} must not contain ':'")
    return job_id


def _int_in(value: object, *, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        rule = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {rule}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before retrying a failed attempt.

    ``fixed``: ``delay`` every time. ``exponential``: ``delay * 2**(n-1)`` before
    attempt n+1. ``jitter`` (0..1) spreads each wait randomly over
    ``[wait * (1 - jitter), wait]``.
    """

    type: Literal["fixed", "exponential"] | str = "fixed"
    delay: Duration = 0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not self.type:
            raise ValueError("backoff type must be 'fixed', 'exponential' or a custom name")
        to_ms(self.delay, name="backoff delay")
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, int | float):
            raise TypeError("backoff jitter must be a number between 0 and 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be between 0 and 1, got {self.jitter!r}")

    @property
    def delay_ms(self) -> int:
        """The base delay in milliseconds."""
        return to_ms(self.delay, name="backoff delay")

    def to_wire(self) -> dict[str, Any]:
        """BullMQ's stored form: ``{"type": ..., "delay": ms[, "jitter": j]}``."""
        out: dict[str, Any] = {"type": self.type, "delay": self.delay_ms}
        if self.jitter:
            out["jitter"] = self.jitter
        return out

    @classmethod
    def from_wire(cls, raw: object) -> Backoff | None:
        """Read a stored backoff (a number of ms, or an object); None if absent or unreadable."""
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int | float):
            return cls("fixed", raw / 1000)
        if isinstance(raw, Mapping):
            kind = raw.get("type", "fixed")
            delay = raw.get("delay", 0)
            jitter = raw.get("jitter", 0) or 0
            if not isinstance(kind, str) or isinstance(delay, bool):
                return None
            if not isinstance(delay, int | float) or not isinstance(jitter, int | float):
                return None
            try:
                return cls(kind, max(0, delay) / 1000, float(jitter))
            except (TypeError, ValueError):
                return None
        return None


def _backoff_from_user(value: object) -> Backoff | None:
    if value is None or isinstance(value, Backoff):
        return value
    if isinstance(value, int | float | timedelta) and not isinstance(value, bool):
        return Backoff("fixed", value)
    if isinstance(value, Mapping):
        unknown = set(value) - {"type", "delay", "jitter"}
        if unknown:
            raise ValueError(f"backoff has unknown keys {sorted(unknown)}: use type, delay, jitter")
        return Backoff(**value)
    raise TypeError(
        "backoff must be a number of seconds, a Backoff(type, delay, jitter) or a dict with "
        f"those keys, not {type(value).__name__}"
    )


@dataclass(frozen=True, slots=True)
class RemovePolicy:
    """Which finished jobs to keep: at most ``count`` of the newest, none older than ``age``."""

    age: Duration | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if self.age is not None:
            to_ms(self.age, name="remove policy age")
        if self.count is not None:
            _int_in(self.count, name="remove policy count", low=0)
        if self.age is None and self.count is None:
            raise ValueError("RemovePolicy needs an age, a count, or both")


KeepPolicy = bool | int | RemovePolicy
"""``True`` removes a finished job at once, ``False`` keeps all, ``n`` keeps the newest
n, a :class:`RemovePolicy` keeps by age and/or count."""


def _keep_to_wire(value: object, *, name: str) -> bool | int | dict[str, Any]:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _int_in(value, name=name, low=0)
    if isinstance(value, RemovePolicy):
        out: dict[str, Any] = {}
        if value.age is not None:
            # BullMQ keeps this age in seconds.
            out["age"] = to_ms(value.age, name=f"{name} age") / 1000
        if value.count is not None:
            out["count"] = value.count
        return out
    raise TypeError(f"{name} must be True, False, a count of jobs to keep or a RemovePolicy")


def keep_from_wire(raw: object) -> KeepJobs:
    """The retention a stored ``removeOnComplete`` / ``removeOnFail`` asks for."""
    if raw is True:
        return KeepJobs(count=0)
    if raw is None or raw is False:
        return KeepJobs()
    if isinstance(raw, int | float):
        return KeepJobs(count=max(0, int(raw)))
    if isinstance(raw, Mapping):
        count = raw.get("count")
        age = raw.get("age")
        return KeepJobs(
            count=int(count) if isinstance(count, int | float) and count >= 0 else -1,
            age_ms=int(age * 1000) if isinstance(age, int | float) and age >= 0 else None,
        )
    return KeepJobs()


def _timestamp_ms(value: object) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware (e.g. datetime.now(UTC))")
        return round(value.timestamp() * 1000)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"timestamp must be a finite number of epoch seconds >= 0, got {value}"
            )
        return round(value * 1000)
    raise TypeError("timestamp must be an aware datetime or epoch seconds")


@dataclass(frozen=True, slots=True)
class RateLimiter:
    """A worker limit: at most ``max`` jobs per ``duration`` seconds, across every
    worker of the queue (Python and Node alike)."""

    max: int
    duration: Duration

    def __post_init__(self) -> None:
        _int_in(self.max, name="limiter max", low=1)
        to_ms(self.duration, name="limiter duration", allow_zero=False)


@dataclass(frozen=True, slots=True)
class JobOptions:
    """A job's options, as given to ``Queue.add`` (durations in seconds).

    ``extra`` keeps options that corral does not interpret (e.g. set by a Node
    producer), so they survive a round trip.
    """

    job_id: str | None = None
    delay: float = 0.0
    priority: int = 0
    lifo: bool = False
    attempts: int = 0
    backoff: Backoff | None = None
    remove_on_complete: KeepPolicy | None = None
    remove_on_fail: KeepPolicy | None = None
    timestamp: int | None = None
    """Creation time in epoch ms, if it was given explicitly."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def delay_ms(self) -> int:
        """The delay in milliseconds."""
        return round(self.delay * 1000)

    @classmethod
    def build(
        cls,
        *,
        job_id: object = None,
        delay: object = 0,
        priority: object = 0,
        lifo: object = False,
        attempts: object = 0,
        backoff: object = None,
        remove_on_complete: object = None,
        remove_on_fail: object = None,
        timestamp: object = None,
    ) -> JobOptions:
        """Validate user options; raises ValueError/TypeError naming the bad one."""
        if job_id is not None:
            validate_job_id(job_id)
        delay_ms = to_ms(delay, name="delay")  # type: ignore[arg-type]
        _int_in(priority, name="priority", low=0, high=MAX_PRIORITY)
        if not isinstance(lifo, bool):
            raise TypeError("lifo must be True or False")
        _int_in(attempts, name="attempts", low=0)
        parsed_backoff = _backoff_from_user(backoff)
        for name, value in (
            ("remove_on_complete", remove_on_complete),
            ("remove_on_fail", remove_on_fail),
        ):
            if value is not None:
                _keep_to_wire(value, name=name)
        ts = None if timestamp is None else _timestamp_ms(timestamp)
        return cls(
            job_id=job_id,  # type: ignore[arg-type]
            delay=delay_ms / 1000,
            priority=priority,  # type: ignore[arg-type]
            lifo=lifo,
            attempts=attempts,  # type: ignore[arg-type]
            backoff=parsed_backoff,
            remove_on_complete=remove_on_complete,  # type: ignore[arg-type]
            remove_on_fail=remove_on_fail,  # type: ignore[arg-type]
            timestamp=ts,
        )

    def to_wire(self) -> dict[str, Any]:
        """The ``opts`` object as Node BullMQ stores it (ms, camelCase, ``attempts`` always)."""
        out: dict[str, Any] = dict(self.extra)
        if self.job_id is not None:
            out["jobId"] = self.job_id
        if self.delay_ms:
            out["delay"] = self.delay_ms
        if self.priority:
            out["priority"] = self.priority
        if self.lifo:
            out["lifo"] = True
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        if self.backoff is not None:
            out["backoff"] = self.backoff.to_wire()
        if self.remove_on_complete is not None:
            out["removeOnComplete"] = _keep_to_wire(
                self.remove_on_complete, name="remove_on_complete"
            )
        if self.remove_on_fail is not None:
            out["removeOnFail"] = _keep_to_wire(self.remove_on_fail, name="remove_on_fail")
        out["attempts"] = self.attempts
        return out

    @classmethod
    def from_wire(cls, raw: object) -> JobOptions:
        """Read stored opts leniently: what corral understands becomes a field, the
        rest stays in ``extra``; a value of the wrong type is treated as absent."""
        if not isinstance(raw, Mapping):
            return cls()
        known = {
            "jobId", "delay", "priority", "lifo", "attempts", "backoff",
            "removeOnComplete", "removeOnFail", "timestamp",
        }  # fmt: skip
        extra = MappingProxyType({k: v for k, v in raw.items() if k not in known})

        def number(key: str) -> float:
            value = raw.get(key, 0)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return float(value) if ok and math.isfinite(value) else 0.0

        job_id = raw.get("jobId")
        return cls(
            job_id=job_id if isinstance(job_id, str) else None,
            delay=max(0.0, number("delay")) / 1000,
            priority=int(number("priority")),
            lifo=raw.get("lifo") is True,
            attempts=max(0, int(number("attempts"))),
            backoff=Backoff.from_wire(raw.get("backoff")),
            remove_on_complete=_keep_from_wire_user(raw.get("removeOnComplete")),
            remove_on_fail=_keep_from_wire_user(raw.get("removeOnFail")),
            timestamp=int(number("timestamp")) if "timestamp" in raw else None,
            extra=extra,
        )

    def keep_on_complete(self) -> KeepJobs:
        """The retention to apply when the job completes."""
        return keep_from_wire(_wire_or_none(self.remove_on_complete, "remove_on_complete"))

    def keep_on_fail(self) -> KeepJobs:
        """The retention to apply when the job fails for good."""
        return keep_from_wire(_wire_or_none(self.remove_on_fail, "remove_on_fail"))


def _wire_or_none(value: KeepPolicy | None, name: str) -> object:
    return None if value is None else _keep_to_wire(value, name=name)


def _keep_from_wire_user(raw: object) -> KeepPolicy | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw >= 0:
        return raw
    if isinstance(raw, Mapping):
        age = raw.get("age")
        count = raw.get("count")
        age_ok = isinstance(age, int | float) and not isinstance(age, bool) and age >= 0
        count_ok = isinstance(count, int) and not isinstance(count, bool) and count >= 0
        if age_ok or count_ok:
            return RemovePolicy(age=age if age_ok else None, count=count if count_ok else None)
    return None


@functools.lru_cache(maxsize=1024)
def parse_opts(text: str) -> JobOptions:
    """A job's stored ``opts`` JSON as :class:`JobOptions` (unreadable → defaults).

    Cached by text: jobs of one kind share the same options string, and
    JobOptions is immutable.
    """
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raw = {}
    return JobOptions.from_wire(raw)


def ms_to_datetime(ms: int | None) -> datetime | None:
    """Epoch milliseconds as an aware UTC datetime (None stays None)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
