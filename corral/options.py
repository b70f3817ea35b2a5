"""Job options: the one table that names them, the checks that normalise them once.

Every option of ``Queue.add`` is one row of :data:`OPTIONS`: its parameter name,
its key in BullMQ's ``opts`` JSON, the check that turns what a user passes into
its normalised value, its default, and how ``corral add`` takes it on the command
line. The unknown-option check, the ``opts`` encoding and decoding and the CLI
flags all read the table, so a new option is one row plus its check (and a
:class:`~corral._wire.Form` when it is stored in a form not yet known).

A user's value is checked before anything is written; a bad one raises
``ValueError`` or ``TypeError`` naming the option and the rule. What passes is
normalised once into :class:`JobOptions`: durations and times become whole
milliseconds, retention a :class:`~corral.backends.base.KeepJobs`. At the door
durations are seconds (``int | float | timedelta``), as everywhere in corral's API.

:func:`new_job` is the path of ``Queue.add``: it checks a job and encodes it for
the store, and checks and encodes each distinct set of options only once.
:func:`parse_opts` reads a stored ``opts`` JSON (written by corral or by Node).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Generic, Literal, Protocol, TypeVar

from corral import _wire
from corral._codec import check_text, dumps
from corral._wire import Form
from corral.backends.base import MAX_PRIORITY, KeepJobs, NewJob, ParentLink, ParentPolicy
from corral.backends.keyspace import RESERVED_JOB_IDS
from corral.dedup import (
    Deduplication,
    check_deduplication,
    dedup_read,
    dedup_rule,
    dedup_write,
)

__all__ = [
    "MAX_DUE_MS",
    "MAX_TIMESTAMP_MS",
    "OPTIONS",
    "Backoff",
    "BackoffOption",
    "Cli",
    "Duration",
    "JobOptions",
    "KeepPolicy",
    "Option",
    "ParentOption",
    "ParentRef",
    "RateLimiter",
    "RemovePolicy",
    "TimestampOption",
    "ms_to_datetime",
    "new_job",
    "parse_opts",
    "prepare_options",
    "qualify_parent",
    "to_ms",
    "validate_job_id",
    "validate_queue_name",
]

T = TypeVar("T")

Duration = int | float | timedelta
"""A duration in seconds, or a ``timedelta``."""

TimestampOption = datetime | int | float | None
"""A job's creation time: an aware datetime or Unix epoch seconds; None means now."""

_INTEGER_ID = re.compile(r"-?(0|[1-9][0-9]*)")

MAX_TIMESTAMP_MS = 253_402_300_799_999
"""The latest ``timestamp`` a job may have: 9999-12-31T23:59:59.999Z, the last
moment a ``datetime`` holds (``job.timestamp`` is one)."""

MAX_DUE_MS = 2**53 - 1
"""The latest a job may fall due (``timestamp + delay``, epoch ms): the largest whole
number a Redis score, a SQLite integer and a Node number all hold exactly."""


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
        raise ValueError(
            f"{name} is too large: {value!r} seconds (at most 2**53 ms, about 285,000 years)"
        )
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
    return check_text(name, "queue name")


def validate_job_id(job_id: object) -> str:
    """Return a custom job id if it follows BullMQ's rules, else raise with the rule."""
    if not isinstance(job_id, str):
        raise TypeError(f"job_id must be a string, not {type(job_id).__name__}")
    if not job_id:
        raise ValueError("job_id must not be empty")
    check_text(job_id, "job_id")
    if _INTEGER_ID.fullmatch(job_id):
        raise ValueError(
            f"custom job_id {job_id!r} must not look like an integer: integer ids are "
            "reserved for the queue's own counter"
        )
    if ":" in job_id:
        raise ValueError(f"custom job_id {job_id!r} must not contain ':'")
    if job_id in RESERVED_JOB_IDS:
        raise ValueError(
            f"custom job_id {job_id!r} is reserved: it names one of the queue's own keys "
            f"in BullMQ's layout (reserved: {', '.join(sorted(RESERVED_JOB_IDS))}); "
            "choose another id"
        )
    return job_id


def _int_in(value: object, *, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        rule = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {rule}, got {value}")
    return value


# -- the public option types ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before retrying a failed attempt.

    ``fixed``: ``delay`` every time. ``exponential``: ``delay * 2**(n-1)`` before
    attempt n+1. Any other ``type`` is run by the worker's ``backoff_strategy``.
    ``jitter`` (0..1) spreads each wait randomly over ``[wait * (1 - jitter), wait]``.
    ``delay`` is in seconds (or a timedelta); ``delay_ms`` is the same in whole
    milliseconds, and two backoffs are equal when their type, ms and jitter are.
    """

    type: Literal["fixed", "exponential"] | str = "fixed"
    delay: Duration = field(default=0, compare=False)
    jitter: float = 0.0
    delay_ms: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not self.type:
            raise ValueError("backoff type must be 'fixed', 'exponential' or a custom name")
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, int | float):
            raise TypeError("backoff jitter must be a number between 0 and 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be between 0 and 1, got {self.jitter!r}")
        object.__setattr__(self, "delay_ms", to_ms(self.delay, name="backoff delay"))


BackoffOption = Backoff | Duration | Mapping[str, object] | None
"""What ``backoff=`` takes: seconds (a fixed delay), a :class:`Backoff`, or a mapping
with its keys (``{"type": "exponential", "delay": 2}``); None for no backoff."""


@dataclass(frozen=True, slots=True)
class RemovePolicy:
    """Which finished jobs to keep: at most ``count`` of the newest, none older than ``age``.

    ``age`` is in seconds (or a timedelta); ``age_ms`` is the same in milliseconds.
    """

    age: Duration | None = field(default=None, compare=False)
    count: int | None = None
    age_ms: int | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        age_ms = None if self.age is None else to_ms(self.age, name="remove policy age")
        if self.count is not None:
            _int_in(self.count, name="remove policy count", low=0)
        if self.age is None and self.count is None:
            raise ValueError("RemovePolicy needs an age, a count, or both")
        object.__setattr__(self, "age_ms", age_ms)


KeepPolicy = bool | int | RemovePolicy
"""``True`` removes a finished job at once, ``False`` keeps all, ``n`` keeps the newest
n, a :class:`RemovePolicy` keeps by age and/or count."""


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
class ParentRef:
    """A parent job, for the ``parent`` option: its ``id`` and its queue key
    ``<prefix>:<queue>`` (BullMQ's qualified queue name). A plain queue name (no
    ``:``) is taken as under the prefix of the queue the child is added to."""

    id: str
    queue_key: str

    def __post_init__(self) -> None:
        for name, value in (("id", self.id), ("queue", self.queue_key)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"parent {name} must be a non-empty string, not {value!r}")

    @property
    def key(self) -> str:
        """The parent's job key ``<prefix>:<queue>:<id>``."""
        return f"{self.queue_key}:{self.id}"

    @property
    def queue_name(self) -> str:
        """The parent's queue name, without the prefix."""
        return self.queue_key.rpartition(":")[2]


class _ParentJob(Protocol):
    """A Job, as a parent: its id and its queue key."""

    @property
    def id(self) -> str: ...

    @property
    def queue_qualified_name(self) -> str: ...


ParentOption = ParentRef | Mapping[str, str] | _ParentJob | None
"""What ``parent=`` takes: ``{"id": ..., "queue": ...}``, a :class:`ParentRef` or a
Job; None for no parent."""

_KEEP_ALL = KeepJobs()
_NO_EXTRA: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class JobOptions:
    """A job's options, checked and normalised: times in ms, retention as KeepJobs.

    ``job.opts`` is one of these. Besides the fields, ``delay`` reads the delay in
    seconds and ``remove_on_complete`` / ``remove_on_fail`` the retention as it is
    given to ``Queue.add`` (True, a count, a :class:`RemovePolicy`, or None when
    every finished job is kept). ``keep_on_complete`` / ``keep_on_fail`` are what
    the store applies when the job finishes.

    ``extra`` holds the ``opts`` entries corral does not interpret (e.g. set by a
    Node producer); they are written back unchanged.
    """

    job_id: str | None = None
    delay_ms: int = 0
    priority: int = 0
    lifo: bool = False
    attempts: int = 0
    backoff: Backoff | None = None
    keep_on_complete: KeepJobs = _KEEP_ALL
    """How many finished jobs to keep when this one completes (KeepJobs(): all)."""
    keep_on_fail: KeepJobs = _KEEP_ALL
    """How many finished jobs to keep when this one fails for good."""
    timestamp_ms: int | None = None
    """Creation time in epoch ms, if it was given explicitly."""
    timeout_ms: int | None = None
    """How long an attempt may run before it fails with a JobTimeoutError (ms; None:
    the worker's ``timeout``, if any)."""
    parent: ParentRef | None = None
    """The job is a child of this job (a flow)."""
    fail_parent_on_failure: bool = False
    continue_parent_on_failure: bool = False
    ignore_dependency_on_failure: bool = False
    remove_dependency_on_failure: bool = False
    deduplication: Deduplication | None = None
    """How the job was deduplicated when added (BullMQ's ``de``), if it was."""
    extra: Mapping[str, object] = field(default_factory=lambda: _NO_EXTRA)

    @property
    def delay(self) -> float:
        """The delay in seconds."""
        return self.delay_ms / 1000

    @property
    def parent_policy(self) -> ParentPolicy:
        """What failing for good does to the parent: the one failure option set."""
        for row in _FAILURE_OPTIONS:
            if getattr(self, row.attr):
                return ParentPolicy(row.wire)
        return ParentPolicy.NONE

    @property
    def remove_on_complete(self) -> KeepPolicy | None:
        """Retention on completion as ``Queue.add`` takes it (None: keep every job)."""
        return _policy_of(self.keep_on_complete)

    @property
    def remove_on_fail(self) -> KeepPolicy | None:
        """Retention on failure as ``Queue.add`` takes it (None: keep every job)."""
        return _policy_of(self.keep_on_fail)

    @classmethod
    def build(cls, **options: object) -> JobOptions:
        """Check options given by their ``Queue.add`` names; raises ValueError or
        TypeError naming the bad one (or the unknown names)."""
        return _build(options)

    def to_wire(self) -> dict[str, object]:
        """The ``opts`` object as Node BullMQ stores it (ms, camelCase, ``attempts`` always)."""
        out: dict[str, object] = dict(self.extra)
        for row in OPTIONS:
            value = getattr(self, row.attr)
            if row.always or value != row.unset:
                out[row.wire] = row.form.write(value)
        return out

    @classmethod
    def from_wire(cls, raw: object) -> JobOptions:
        """Read stored opts leniently: what corral understands becomes a field, unknown
        keys stay in ``extra``, a known key whose value it cannot read counts as unset."""
        if not isinstance(raw, Mapping):
            return cls()
        values: dict[str, Any] = {}
        for row in OPTIONS:
            if row.wire in raw:
                value = row.form.read(raw[row.wire])
                if value is not None:
                    values[row.attr] = value
        extra = {k: v for k, v in raw.items() if k not in _WIRE_NAMES}
        return cls(**values, extra=MappingProxyType(extra) if extra else _NO_EXTRA)


def _policy_of(keep: KeepJobs) -> KeepPolicy | None:
    if keep.age_ms is None:
        if keep.count < 0:
            return None
        return True if keep.count == 0 else keep.count
    return RemovePolicy(age=keep.age_ms / 1000, count=None if keep.count < 0 else keep.count)


# -- the checks, one per option ------------------------------------------------------------


def _check_job_id(value: object) -> str | None:
    return None if value is None else validate_job_id(value)


def _check_delay(value: object) -> int:
    if isinstance(value, int | float | timedelta):
        return to_ms(value, name="delay")
    raise TypeError(f"delay must be a number of seconds or a timedelta, not {type(value).__name__}")


def _check_timeout(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float | timedelta):
        return to_ms(value, name="timeout", allow_zero=False)
    raise TypeError(
        f"timeout must be a number of seconds or a timedelta, not {type(value).__name__}"
    )


def _check_priority(value: object) -> int:
    return _int_in(value, name="priority", low=0, high=MAX_PRIORITY)


def _check_lifo(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("lifo must be True or False")
    return value


def _check_attempts(value: object) -> int:
    return _int_in(value, name="attempts", low=0)


def _check_backoff(value: object) -> Backoff | None:
    if value is None or isinstance(value, Backoff):
        return value
    if isinstance(value, int | float | timedelta) and not isinstance(value, bool):
        return Backoff("fixed", value)
    if isinstance(value, Mapping):
        unknown = set(value) - {"type", "delay", "jitter"}
        if unknown:
            raise ValueError(f"backoff has unknown keys {sorted(unknown)}: use type, delay, jitter")
        given: Mapping[str, Any] = value  # Backoff checks each field's type itself
        return Backoff(**given)
    raise TypeError(
        "backoff must be a number of seconds, a Backoff(type, delay, jitter) or a dict with "
        f"those keys, not {type(value).__name__}"
    )


def _retention(name: str) -> Callable[[object], KeepJobs]:
    def check(value: object) -> KeepJobs:
        if value is None or value is False:
            return _KEEP_ALL
        if value is True:
            return KeepJobs(count=0)
        if isinstance(value, int):
            return KeepJobs(count=_int_in(value, name=name, low=0))
        if isinstance(value, RemovePolicy):
            count = -1 if value.count is None else value.count
            return KeepJobs(count=count, age_ms=value.age_ms)
        raise TypeError(f"{name} must be True, False, a count of jobs to keep or a RemovePolicy")

    return check


def _check_timestamp(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware (e.g. datetime.now(UTC))")
        ms = round(value.timestamp() * 1000)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"timestamp must be a finite number of epoch seconds >= 0, got {value}"
            )
        ms = round(value * 1000)
    else:
        raise TypeError("timestamp must be an aware datetime or epoch seconds")
    if not 0 <= ms <= MAX_TIMESTAMP_MS:
        raise ValueError(
            f"timestamp must be between 1970-01-01 and 9999-12-31 (epoch seconds 0 to "
            f"{MAX_TIMESTAMP_MS / 1000}), got {value!r}"
        )
    return ms


def _check_parent(value: object) -> ParentRef | None:
    if value is None or isinstance(value, ParentRef):
        return value
    if isinstance(value, Mapping):
        if set(value) != {"id", "queue"}:
            raise ValueError(
                f"parent must have exactly the keys 'id' and 'queue', not {sorted(value)}"
            )
        return ParentRef(value["id"], value["queue"])
    queue_key = getattr(value, "queue_qualified_name", None)
    job_id = getattr(value, "id", None)
    if isinstance(queue_key, str) and isinstance(job_id, str):
        return ParentRef(job_id, queue_key)  # a Job
    raise TypeError(
        "parent must be a mapping {'id': ..., 'queue': ...}, a ParentRef or a Job, "
        f"not {type(value).__name__}"
    )


def _check_flag(name: str) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False")
        return value

    return check


def qualify_parent(value: object, prefix: str) -> ParentRef | None:
    """The ``parent`` option ``value``, checked, with a plain queue name put under
    ``prefix``; raises like the option's check."""
    parent = _check_parent(value)
    if parent is None or ":" in parent.queue_key:
        return parent
    return ParentRef(parent.id, f"{prefix}:{parent.queue_key}")


def _read_parent(raw: object) -> ParentRef | None:
    if isinstance(raw, Mapping):
        job_id, queue_key = raw.get("id"), raw.get("queue")
        if isinstance(job_id, str) and job_id and isinstance(queue_key, str) and queue_key:
            return ParentRef(job_id, queue_key)
    return None


_PARENT: Form[ParentRef] = Form(lambda p: {"id": p.id, "queue": p.queue_key}, _read_parent)


def _read_backoff(raw: object) -> Backoff | None:
    read = _wire.backoff_read(raw)
    if read is None:
        return None
    kind, delay_ms, jitter = read
    return Backoff(kind, delay_ms / 1000, jitter)


_DEDUP: Form[Deduplication] = Form(dedup_write, dedup_read)

_BACKOFF: Form[Backoff] = Form(
    lambda b: _wire.backoff_write(b.type, b.delay_ms, b.jitter), _read_backoff
)


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cli:
    """How ``corral add`` takes an option: ``--option-name VALUE``, or a bare switch."""

    parse: Callable[[str], object] | None
    """Turns the flag's text into the option's value (raising ValueError); None: a
    switch that sets the option to True."""
    what: str = ""
    """What the text must be, for the error message (e.g. "a number of seconds")."""
    metavar: str = ""
    help: str = ""


@dataclass(frozen=True, slots=True)
class Option(Generic[T]):
    """One job option: its names, its check, its default and its stored form."""

    name: str
    """The ``Queue.add`` parameter (and, dashed, the ``corral add`` flag)."""
    wire: str
    """Its key in BullMQ's ``opts`` JSON."""
    attr: str
    """The :class:`JobOptions` field that holds the normalised value."""
    default: object
    """The ``Queue.add`` default; passing it is the same as not passing the option."""
    check: Callable[[object], T | None]
    """Normalises a user's value; raises ValueError / TypeError naming the option."""
    form: Form[T]
    """How the normalised value is stored in ``opts``."""
    cli: Cli | None = None
    """How ``corral add`` takes it; None: not on the command line."""
    always: bool = False
    """Written even when unset (Node always writes ``attempts``)."""
    unset: object = field(init=False, repr=False)
    """The normalised value of ``default``: not written to ``opts``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "unset", self.check(self.default))

    @property
    def flag(self) -> str:
        """The ``corral add`` flag, e.g. ``--remove-on-complete``."""
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option[Any], ...] = (
    Option("job_id", "jobId", "job_id", None, _check_job_id, _wire.TEXT,
           Cli(str, "an id", "ID", "a custom job id (adding an existing id adds nothing)")),
    Option("delay", "delay", "delay_ms", 0, _check_delay, _wire.MS,
           Cli(float, "a number of seconds", "SECONDS", "run no earlier than this many seconds")),
    Option("priority", "priority", "priority", 0, _check_priority, _wire.INTEGER,
           Cli(int, "an integer", "N", f"1 (first) ... {MAX_PRIORITY}; 0: none")),
    Option("lifo", "lifo", "lifo", False, _check_lifo, _wire.FLAG,
           Cli(None, help="run before the jobs already waiting")),
    Option("attempts", "attempts", "attempts", 0, _check_attempts, _wire.COUNT,
           Cli(int, "an integer", "N", "retry a failure until this many attempts are made"),
           always=True),
    Option("backoff", "backoff", "backoff", None, _check_backoff, _BACKOFF,
           Cli(float, "a number of seconds", "SECONDS", "seconds to wait before each retry")),
    Option("remove_on_complete", "removeOnComplete", "keep_on_complete", None,
           _retention("remove_on_complete"), _wire.KEEP,
           Cli(int, "a count", "N", "keep only the newest N completed jobs (0: remove at once)")),
    Option("remove_on_fail", "removeOnFail", "keep_on_fail", None,
           _retention("remove_on_fail"), _wire.KEEP,
           Cli(int, "a count", "N", "keep only the newest N failed jobs (0: remove at once)")),
    Option("timestamp", "timestamp", "timestamp_ms", None, _check_timestamp, _wire.EPOCH_MS),
    Option("timeout", "timeout", "timeout_ms", None, _check_timeout, _wire.MS,
           Cli(float, "a number of seconds", "SECONDS",
               "fail an attempt that runs longer than this many seconds")),
    Option("parent", "parent", "parent", None, _check_parent, _PARENT),
    Option("fail_parent_on_failure", "fpof", "fail_parent_on_failure", False,
           _check_flag("fail_parent_on_failure"), _wire.FLAG),
    Option("continue_parent_on_failure", "cpof", "continue_parent_on_failure", False,
           _check_flag("continue_parent_on_failure"), _wire.FLAG),
    Option("ignore_dependency_on_failure", "idof", "ignore_dependency_on_failure", False,
           _check_flag("ignore_dependency_on_failure"), _wire.FLAG),
    Option("remove_dependency_on_failure", "rdof", "remove_dependency_on_failure", False,
           _check_flag("remove_dependency_on_failure"), _wire.FLAG),
    Option("deduplication", "de", "deduplication", None, check_deduplication, _DEDUP),
)  # fmt: skip
"""Every job option, in the order ``Queue.add`` lists them."""

_FAILURE_OPTIONS = tuple(row for row in OPTIONS if row.wire in ("fpof", "cpof", "idof", "rdof"))
"""What a child's failure does to its parent: at most one of these may be set."""

_BY_NAME: dict[str, Option[Any]] = {row.name: row for row in OPTIONS}
_WIRE_NAMES = frozenset(row.wire for row in OPTIONS)
_KNOWN = ", ".join(_BY_NAME)


def _build(options: Mapping[str, object]) -> JobOptions:
    values: dict[str, Any] = {}
    for name, value in options.items():
        row = _BY_NAME.get(name)
        if row is None:
            unknown = sorted(set(options) - _BY_NAME.keys())
            raise TypeError(f"unknown job option(s) {unknown}; known: {_KNOWN}")
        values[row.attr] = row.check(value)
    chosen = [row.name for row in _FAILURE_OPTIONS if values.get(row.attr)]
    if len(chosen) > 1:
        raise ValueError(
            f"the options {', '.join(chosen)} cannot be used together: a child's failure "
            "does one thing to its parent; choose one"
        )
    return JobOptions(**values)


# -- the path of Queue.add -----------------------------------------------------------------

_PREPARED: dict[object, tuple[JobOptions, str]] = {}
_PREPARED_MAX = 512


def prepare_options(options: Mapping[str, object]) -> tuple[JobOptions, str]:
    """Check ``options`` (by their ``Queue.add`` names) and encode them as ``opts`` JSON.

    The same options, common in bulk adds, are checked and encoded once. Options
    with a custom ``job_id`` or ``timestamp`` are never cached (each is different).
    """
    key: object = None
    if options.get("job_id") is None and options.get("timestamp") is None:
        # The types are part of the key: 1 == True == 1.0, but only 1 is a valid priority.
        key = (tuple(options.items()), tuple(map(type, options.values())))
        try:
            hit = _PREPARED.get(key)
        except TypeError:  # an unhashable value (e.g. a dict backoff): no caching
            key = hit = None
        if hit is not None:
            return hit
    opts = _build(options)
    prepared = opts, dumps(opts.to_wire(), what="job options")
    if key is not None:
        if len(_PREPARED) >= _PREPARED_MAX:
            _PREPARED.clear()
        _PREPARED[key] = prepared
    return prepared


def new_job(name: object, data: object, options: Mapping[str, object], *, now_ms: int) -> NewJob:
    """A job to add, checked and encoded for the store.

    ``name`` must be a string, ``data`` JSON-encodable (None is stored as ``{}``),
    ``options`` any of ``Queue.add``'s options by name. The job's timestamp is the
    ``timestamp`` option if given, else ``now_ms``. Raises TypeError / ValueError
    naming what is wrong, before anything is written.
    """
    if not isinstance(name, str):
        raise TypeError(f"job name must be a string, not {type(name).__name__}")
    check_text(name, "job name")
    opts, wire = prepare_options(options)
    stamp = opts.timestamp_ms
    if opts.delay_ms and (now_ms if stamp is None else stamp) + opts.delay_ms > MAX_DUE_MS:
        raise ValueError(
            f"delay of {opts.delay} seconds puts the job's due time (timestamp + delay) past "
            f"2**53 - 1 ms, the latest time a store holds exactly: use a shorter delay"
        )
    parent = opts.parent
    dedup = opts.deduplication
    if dedup is not None and parent is not None:
        raise ValueError(
            "deduplication and parent cannot be used together (as in BullMQ): a child "
            "belongs to one parent; give the child a job_id instead"
        )
    return NewJob(
        name,
        dumps({} if data is None else data, what="job data"),
        wire,
        now_ms if stamp is None else stamp,
        opts.delay_ms,
        opts.priority,
        opts.lifo,
        opts.job_id,
        None if parent is None else ParentLink(parent.queue_key, parent.id, opts.parent_policy),
        None if dedup is None else dedup_rule(dedup, now_ms),
    )


@functools.lru_cache(maxsize=1024)
def parse_opts(text: str) -> JobOptions:
    """A job's stored ``opts`` JSON as :class:`JobOptions` (unreadable → defaults).

    Cached by text: jobs of one kind share the same options string, and
    JobOptions is immutable.
    """
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raw = None
    return JobOptions.from_wire(raw)


def ms_to_datetime(ms: int | None) -> datetime | None:
    """Epoch milliseconds as an aware UTC datetime (None stays None)."""
    if ms is None:
        return None
    # Exact to the ms at any date (a float of seconds is not, near year 9999).
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise ValueError(f"{ms} ms after 1970 is past the year 9999 a datetime holds") from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
