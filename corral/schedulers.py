"""Job schedulers: jobs added on a schedule (every N seconds, or a cron pattern).

A scheduler is stored once (BullMQ 6's ``repeat`` ZSET and ``repeat:<id>`` hash on
Redis, the ``job_schedulers`` table on SQLite) and keeps exactly one *iteration*
pending: a job ``repeat:<scheduler id>:<due ms>``, delayed until its run. When a
worker starts an iteration, it adds the next one in the same breath (as Node
BullMQ's workers do): so a schedule lives on as long as any worker, Node or
corral, takes its jobs, however many die, and a slow job never piles iterations
up. Only the current iteration moves a scheduler on, so two workers never add
the same iteration twice.

This module checks what :meth:`corral.Queue.upsert_job_scheduler` is given,
decides the due time of each iteration (cron patterns through
:mod:`corral._cron`, as Node's cron-parser does), and defines
:class:`JobScheduler`, what ``get_job_scheduler`` returns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from corral import _cron
from corral._codec import check_text, dumps
from corral.backends.base import (
    Backend,
    JobRecord,
    SchedulerIteration,
    SchedulerRecord,
    SchedulerSpec,
)
from corral.backends.scheduler_fields import every_next
from corral.options import (
    BackoffOption,
    Duration,
    JobOptions,
    KeepPolicy,
    TimestampOption,
    _check_timestamp,
    ms_to_datetime,
    parse_opts,
    prepare_options,
    to_ms,
)

__all__ = ["JobScheduler", "after_fetch", "plan_scheduler"]

logger = logging.getLogger("corral.worker")

_TEMPLATE_OPTIONS = (
    "attempts",
    "backoff",
    "priority",
    "lifo",
    "remove_on_complete",
    "remove_on_fail",
)
"""The job options an iteration takes from its scheduler (those of ``Queue.add``
that make sense for every run; an iteration's id, delay and timestamp are the
scheduler's to choose)."""

# Options of the current iteration that the next one does not inherit.
_PER_ITERATION = frozenset({"jobId", "delay", "timestamp", "prevMillis", "repeat"})


@dataclass(frozen=True, slots=True)
class JobScheduler:
    """A job scheduler as stored: what :meth:`corral.Queue.get_job_scheduler` returns.

    Exactly one of ``every`` (seconds) and ``cron`` is set. ``iteration_count`` is
    how many iterations it has added; ``next_run`` when the pending one runs.
    ``name``, ``data`` and ``options`` are the template of every iteration job.
    """

    id: str
    name: str
    every: float | None
    cron: str | None
    tz: str | None
    limit: int | None
    start: datetime | None
    end: datetime | None
    iteration_count: int
    next_run: datetime
    data: Any
    """The iterations' data (decoded JSON; ``{}`` when none was given)."""
    options: JobOptions
    """The iterations' job options (attempts, backoff, priority, retention …)."""

    @classmethod
    def from_record(cls, record: SchedulerRecord) -> JobScheduler:
        """The scheduler a backend returned."""
        data: Any = {}
        if record.data is not None:
            try:
                data = json.loads(record.data)
            except ValueError:
                data = record.data
        return cls(
            id=record.id,
            name=record.name,
            every=None if record.every_ms is None else record.every_ms / 1000,
            cron=record.pattern,
            tz=record.tz,
            limit=record.limit,
            start=_when(record.start_ms),
            end=_when(record.end_ms),
            iteration_count=record.iteration_count,
            next_run=ms_to_datetime(max(record.next_ms, 0)) or _EPOCH_DT,
            data=data,
            options=parse_opts(record.template_opts or "{}"),
        )


_EPOCH_DT = datetime.fromtimestamp(0).astimezone()


def _when(ms: int | None) -> datetime | None:
    try:
        return ms_to_datetime(ms)
    except ValueError:
        return None


def _checked_id(scheduler_id: object) -> str:
    if not isinstance(scheduler_id, str):
        raise TypeError(f"scheduler id must be a string, not {type(scheduler_id).__name__}")
    if not scheduler_id:
        raise ValueError("scheduler id must be a non-empty string such as 'nightly-report'")
    if ":" in scheduler_id:
        raise ValueError(
            f"scheduler id {scheduler_id!r} must not contain ':' (its jobs are named "
            "'repeat:<id>:<time>'); use '-' or '.' instead"
        )
    check_text(scheduler_id, "scheduler id")
    return scheduler_id


def check_scheduler_id(scheduler_id: object) -> str:
    """``scheduler_id`` if it names a scheduler (reads of any id are allowed)."""
    if not isinstance(scheduler_id, str):
        raise TypeError(f"scheduler id must be a string, not {type(scheduler_id).__name__}")
    return scheduler_id


def _repeat_opts(spec: SchedulerSpec, count: int) -> dict[str, object]:
    """The ``repeat`` entry of an iteration's opts, as Node's workers read it."""
    repeat: dict[str, object] = {}
    if spec.every_ms is not None:
        repeat["every"] = spec.every_ms
    if spec.pattern is not None:
        repeat["pattern"] = spec.pattern
    for key, value in (
        ("tz", spec.tz),
        ("limit", spec.limit),
        ("startDate", spec.start_ms),
        ("endDate", spec.end_ms),
    ):
        if value is not None:
            repeat[key] = value
    repeat["count"] = count
    return repeat


def plan_scheduler(
    scheduler_id: object,
    *,
    every: Duration | None,
    cron: str | None,
    tz: str | None,
    name: str | None,
    data: object,
    limit: int | None,
    start: TimestampOption,
    end: TimestampOption,
    immediately: bool,
    options: Mapping[str, object],
    now_ms: int,
) -> tuple[SchedulerSpec, SchedulerIteration]:
    """Check a scheduler's definition and decide its first iteration; raises
    ValueError / TypeError naming what is wrong, before anything is written."""
    sid = _checked_id(scheduler_id)
    if every is not None and cron is not None:
        raise ValueError("give either every= (seconds) or cron= (a pattern), not both")
    if every is None and cron is None:
        raise ValueError(
            "give every= (seconds between runs) or cron= (a pattern such as '0 3 * * *')"
        )
    every_ms: int | None = None
    pattern: str | None = None
    if every is not None:
        if isinstance(every, int | float) and not isinstance(every, bool) and every <= 0:
            raise ValueError(f"every must be more than 0 seconds, got {every}")
        every_ms = to_ms(every, name="every", allow_zero=False)
        if tz is not None:
            raise ValueError("tz applies to cron patterns only; an every= schedule has no zone")
    else:
        pattern = _cron.check_pattern(cron) if isinstance(cron, str) else _cron.check_pattern("")
        if tz is not None:
            _cron.check_zone(tz)
    if name is None:
        name = sid
    if not isinstance(name, str):
        raise TypeError(f"job name must be a string, not {type(name).__name__}")
    check_text(name, "job name")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise TypeError("limit must be an integer number of runs")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 run, got {limit}")
    if not isinstance(immediately, bool):
        raise TypeError("immediately must be True or False")
    start_ms = _check_timestamp(start)
    end_ms = _check_timestamp(end)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ValueError("end must be after start")
    if end_ms is not None and end_ms <= now_ms:
        raise ValueError("end is in the past: the scheduler would never run")
    if immediately and start_ms is not None:
        raise ValueError("give either immediately=True or start=, not both")
    unknown = sorted(set(options) - set(_TEMPLATE_OPTIONS))
    if unknown:
        raise TypeError(
            f"unknown scheduler job option(s) {unknown}; known: {', '.join(_TEMPLATE_OPTIONS)}"
        )
    job_options, template = prepare_options(options)
    spec = SchedulerSpec(
        id=sid,
        name=name,
        every_ms=every_ms,
        pattern=pattern,
        tz=tz,
        limit=limit,
        start_ms=start_ms,
        end_ms=end_ms,
        data=dumps({} if data is None else data, what="scheduler data"),
        template_opts=template,
    )
    due = now_ms
    if pattern is not None and not immediately:
        after = max(now_ms, start_ms or 0)
        found = _cron.next_run_ms(pattern, tz, after)
        if found is None:
            raise ValueError(f"cron pattern {cron!r} never runs")
        if end_ms is not None and found > end_ms:
            raise ValueError("the pattern's first run is after end: the scheduler would never run")
        due = found
    opts = json.loads(template)
    return spec, _iteration(spec.id, opts, _repeat_opts(spec, 1), due, now_ms, job_options)


def _iteration(
    scheduler_id: str,
    template: dict[str, Any],
    repeat: dict[str, object],
    due_ms: int,
    now_ms: int,
    job_options: JobOptions,
) -> SchedulerIteration:
    opts = dict(template)
    opts["repeat"] = repeat
    opts["repeatJobKey"] = scheduler_id
    opts["timestamp"] = now_ms
    if "pattern" in repeat:
        opts["prevMillis"] = due_ms
    return SchedulerIteration(
        due_ms=due_ms,
        opts=json.dumps(opts, separators=(",", ":"), ensure_ascii=False),
        priority=job_options.priority,
        lifo=job_options.lifo,
    )


def _number(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def next_iteration(record: JobRecord, now_ms: int) -> tuple[str, SchedulerIteration] | None:
    """The scheduler of iteration ``record`` and its next iteration, or None when the
    job is no scheduler's or its schedule has ended (limit reached, end passed)."""
    try:
        opts = json.loads(record.opts)
    except ValueError:
        return None
    if not isinstance(opts, dict):
        return None
    sid = opts.get("repeatJobKey")
    repeat = opts.get("repeat")
    if not isinstance(sid, str) or not isinstance(repeat, dict):
        return None
    count = _number(repeat.get("count")) or 0
    limit = _number(repeat.get("limit"))
    if limit is not None and count + 1 > limit:
        return None
    end = _number(repeat.get("endDate"))
    if end is not None and now_ms > end:
        return None
    pattern = repeat.get("pattern")
    every = _number(repeat.get("every"))
    due = now_ms
    if isinstance(pattern, str) and pattern:
        tz = repeat.get("tz")
        after = max(
            now_ms, _number(opts.get("prevMillis")) or 0, _number(repeat.get("startDate")) or 0
        )
        try:
            found = _cron.next_run_ms(pattern, tz if isinstance(tz, str) and tz else None, after)
        except ValueError:
            return None
        if found is None or (end is not None and found > end):
            return None
        due = max(found, now_ms)
    elif not every:
        return None
    elif end is not None:
        # The store places an `every` iteration itself; skip one that would run after end.
        _, _, prev_text = record.id.rpartition(":")
        if prev_text.isdigit():
            prev = int(prev_text)
            predicted, _ = every_next(prev, every, now_ms, prev % every, None)
            if predicted > end:
                return None
    template = {k: v for k, v in opts.items() if k not in _PER_ITERATION}
    next_repeat = dict(repeat)
    next_repeat["count"] = count + 1
    job_options = parse_opts(record.opts)
    return sid, _iteration(sid, template, next_repeat, due, now_ms, job_options)


async def after_fetch(backend: Backend, queue: str, record: JobRecord, now_ms: int) -> None:
    """Move a scheduler on when one of its iterations starts: add the next iteration.

    A no-op for any other job. Errors are logged, never raised: the fetched job is
    handed out whatever happens to its schedule.
    """
    if '"repeatJobKey"' not in record.opts:
        return
    try:
        planned = next_iteration(record, now_ms)
        if planned is not None:
            sid, iteration = planned
            await backend.add_next_iteration(queue, sid, record.id, iteration, now_ms)
    except Exception as error:
        logger.warning(
            "queue %r: could not add the next iteration of the scheduler of job %r: %s",
            queue,
            record.id,
            error,
        )


def template_options(
    *,
    attempts: int,
    backoff: BackoffOption,
    priority: int,
    lifo: bool,
    remove_on_complete: KeepPolicy | None,
    remove_on_fail: KeepPolicy | None,
) -> dict[str, object]:
    """The template options given to ``upsert_job_scheduler``, by ``Queue.add`` name."""
    return {
        "attempts": attempts,
        "backoff": backoff,
        "priority": priority,
        "lifo": lifo,
        "remove_on_complete": remove_on_complete,
        "remove_on_fail": remove_on_fail,
    }
