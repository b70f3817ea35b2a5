"""What the dashboard shows and does, as plain JSON-ready dicts (no web framework here).

Every read is bounded, whatever the size of the queue: a list page reads one page
of jobs by position (``get_jobs(start, end)``) and the counts per state; a search
looks a job up by id, or scans at most :data:`SEARCH_SCAN` jobs of a state for a
name, and says how many it looked at. Nothing ever loads a whole queue.

Times go out as epoch milliseconds; the browser shows them in the viewer's local
time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Mapping
from typing import Any

from corral import _clock
from corral._cli_admin import parse_duration
from corral.backends.base import JobState
from corral.connection import Connection
from corral.errors import CorralError
from corral.job import Job
from corral.metrics import METRICS_KINDS, Metrics
from corral.options import validate_queue_name
from corral.queue import DEFAULT_COUNT_STATES, Queue

__all__ = [
    "BULK_CLEAN_STATES",
    "JOB_ACTIONS",
    "LIST_STATES",
    "MAX_PAGE",
    "QUEUE_ACTIONS",
    "QUEUE_LIST_TTL_S",
    "SEARCH_SCAN",
    "DashboardData",
    "NotFound",
]

QUEUE_LIST_TTL_S = 30.0
"""How old the list of the store's queues may get before it is read again."""

LIST_STATES: tuple[str, ...] = tuple(s.value for s in DEFAULT_COUNT_STATES)
"""The states a queue's jobs can be listed in."""

CHART_MINUTES = 60
"""How many minutes of completed / failed counts a queue's chart shows."""

MINUTE_MS = 60_000

MAX_PAGE = 100
"""The most jobs one list page shows."""

SEARCH_SCAN = 1000
"""How many jobs of a state a search by name looks at (newest or next first)."""

PREVIEW_CHARS = 120
"""How much of a job's data a list row shows."""

SHOWN_CHARS = 65_536
"""How much of one payload (data, return value) a job's page shows."""

LOG_LINES = 200
"""How many of a job's newest log lines its page shows."""

CHILDREN_SHOWN = 50

CANCEL_REASON = "from the dashboard"
"""Why a job cancelled from the dashboard was (its failed reason: ``cancelled: …``)."""

UNFINISHED = frozenset(
    s.value
    for s in (
        JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED, JobState.ACTIVE,
        JobState.WAITING_CHILDREN,
    )
)  # fmt: skip
"""How many children per bucket a job's page shows."""

JOB_ACTIONS: tuple[str, ...] = ("retry", "promote", "cancel", "remove")
"""What the dashboard can do to one job."""

QUEUE_ACTIONS: tuple[str, ...] = (
    "pause", "resume", "retry-all", "promote-all", "clean", "drain",
)  # fmt: skip
"""What the dashboard can do to a queue: pause and resume it, run every failed
job again (``retry-all``, ``Queue.retry_jobs``), run every delayed job now
(``promote-all``, ``Queue.promote_jobs``), remove the completed or failed jobs
older than a duration (``clean``, ``Queue.clean``), remove every job that waits
(``drain``, ``Queue.drain``)."""

BULK_CLEAN_STATES: tuple[str, ...] = ("completed", "failed")
"""The states the dashboard's ``clean`` takes."""


class NotFound(CorralError):
    """The queue or job the request names does not exist."""


def _shown(value: Any) -> str:
    """A decoded JSON value as indented JSON text, cut to :data:`SHOWN_CHARS`."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > SHOWN_CHARS:
        return text[:SHOWN_CHARS] + f"\n… ({len(text) - SHOWN_CHARS} more characters)"
    return text


def _field(job: Job, read: str) -> dict[str, str]:
    """One payload field of ``job`` for display: its JSON text, or why it cannot be read."""
    try:
        return {"json": _shown(getattr(job, read))}
    except CorralError as exc:
        return {"error": str(exc)}


def _ms(job_time: Any) -> int | None:
    return None if job_time is None else round(job_time.timestamp() * 1000)


def _opts(job: Job) -> dict[str, Any]:
    try:
        opts = job.opts
    except CorralError as exc:
        return {"error": str(exc)}
    shown = {
        f.name: getattr(opts, f.name)
        for f in dataclasses.fields(opts)
        if f.name != "extra" and getattr(opts, f.name) != f.default
    }
    shown.update(opts.extra)
    return json.loads(json.dumps(shown, default=_plain))  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _minutes(metrics: Metrics, now: int) -> dict[str, Any]:
    """A queue's metrics of one kind for the charts: jobs in each of the last
    :data:`CHART_MINUTES` minutes up to now, newest first (the minute now open
    first), and how many in the last whole minute."""
    if not metrics.meta.prev_ts:
        return {"recorded": False, "per_minute": [], "last_minute": 0, "total": 0}
    # The data points are the minutes up to the last close; the jobs counted since
    # belong to the close's minute; the minutes after it had none.
    since = now // MINUTE_MS - metrics.meta.prev_ts // MINUTE_MS
    minutes = [0] * min(max(since, 0), CHART_MINUTES) + [metrics.in_open_minute, *metrics.data]
    minutes = minutes[:CHART_MINUTES]
    return {
        "recorded": True,
        "per_minute": minutes,
        "last_minute": minutes[1] if len(minutes) > 1 else 0,
        "total": metrics.meta.count,
    }


def _scheduler_of(job_id: str) -> str | None:
    """The job scheduler a job is an iteration of: BullMQ names iterations
    ``repeat:<scheduler id>:<run time ms>``."""
    head, sep, rest = job_id.partition(":")
    if head != "repeat" or not sep:
        return None
    scheduler, sep, millis = rest.rpartition(":")
    return scheduler if sep and scheduler and millis.isdigit() else None


def job_row(job: Job, state: str) -> dict[str, Any]:
    """A job as one row of a list page."""
    try:
        preview = json.dumps(job.data, ensure_ascii=False, default=str)
    except CorralError as exc:
        preview = f"<{exc}>"
    if len(preview) > PREVIEW_CHARS:
        preview = preview[:PREVIEW_CHARS] + "…"
    reason = job.failed_reason
    return {
        "id": job.id,
        "name": job.name,
        "state": state,
        "data": preview,
        "timestamp": _ms(job.timestamp),
        "processed_on": _ms(job.processed_on),
        "finished_on": _ms(job.finished_on),
        "attempts_made": job.attempts_made,
        "failed_reason": None if reason is None else reason[:300],
    }


class DashboardData:
    """The dashboard's reads and actions on one store under one prefix.

    ``queues``: show only these queues (None: every queue the store has under
    ``prefix``). Queue objects are made once per name and share ``connection``.
    """

    def __init__(
        self, connection: Connection, *, prefix: str, queues: list[str] | None = None
    ) -> None:
        self.connection = connection
        self.prefix = prefix
        self.only = None if queues is None else [validate_queue_name(q) for q in queues]
        self._queues: dict[str, Queue] = {}
        self._names: list[str] | None = None
        self._names_at = 0.0
        self._names_task: asyncio.Task[list[str]] | None = None

    def queue(self, name: str) -> Queue:
        """The Queue called ``name`` (ValueError for a name no queue can have)."""
        queue = self._queues.get(name)
        if queue is None:
            validate_queue_name(name)
            if self.only is not None and name not in self.only:
                raise NotFound(f"queue {name!r} is not shown by this dashboard")
            queue = self._queues[name] = Queue(name, connection=self.connection, prefix=self.prefix)
        return queue

    async def queue_names(self) -> list[str]:
        """The queues to show, sorted.

        Listing a store's queues walks its keys on Redis (a ``SCAN``, slow with a
        million jobs), so the list is kept and re-read in the background once it is
        :data:`QUEUE_LIST_TTL_S` old: only the very first page waits for it.
        """
        if self.only is not None:
            return sorted(self.only)
        task = self._names_task
        stale = time.monotonic() - self._names_at > QUEUE_LIST_TTL_S
        if stale and (task is None or task.done()):
            task = self._names_task = asyncio.ensure_future(self._list_queues())
        if self._names is None:
            assert task is not None
            return await asyncio.shield(task)
        return self._names

    async def _list_queues(self) -> list[str]:
        names = await self.connection.backend(self.prefix).list_queues()
        self._names, self._names_at = names, time.monotonic()
        return names

    def forget_queue_list(self) -> None:
        """Read the store's queues afresh on the next :meth:`queue_names`."""
        self._names_at = 0.0

    async def close(self) -> None:
        """Stop a background read of the queue list."""
        task, self._names_task = self._names_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- reads ----------------------------------------------------------------------

    async def summary(self, name: str) -> dict[str, Any]:
        """One queue at a glance: counts per state, paused, rate limit, workers."""
        queue = self.queue(name)
        counts = await queue.get_job_counts(*LIST_STATES)
        now = _clock.now_ms()
        return {
            "name": name,
            "counts": counts,
            "paused": await queue.is_paused(),
            "rate_limited_ms": round(await queue.get_rate_limit_ttl() * 1000),
            "workers": len(await queue.get_workers()),
            "metrics": {
                kind: _minutes(await queue.get_metrics(kind, 0, CHART_MINUTES - 1), now)
                for kind in METRICS_KINDS
            },
        }

    async def overview(self) -> dict[str, Any]:
        """Every queue at a glance."""
        names = await self.queue_names()
        return {
            "queues": [await self.summary(name) for name in names],
            "now": _clock.now_ms(),
        }

    async def jobs(
        self, name: str, state: str, *, start: int = 0, size: int = 25, search: str = ""
    ) -> dict[str, Any]:
        """One page of a queue's jobs in ``state`` (with the queue's :meth:`summary`,
        so a page needs one request); with ``search``, the job with that id (in any
        state), else the jobs whose name contains it among the first
        :data:`SEARCH_SCAN` of the state."""
        if state not in LIST_STATES:
            raise ValueError(f"unknown state {state!r}; known: {', '.join(LIST_STATES)}")
        if start < 0:
            raise ValueError("start must be >= 0")
        if not 1 <= size <= MAX_PAGE:
            raise ValueError(f"size must be between 1 and {MAX_PAGE}")
        queue = self.queue(name)
        summary = await self.summary(name)
        total = summary["counts"][state]
        page: dict[str, Any] = {
            "queue": name, "state": state, "total": total, "start": start, "summary": summary,
        }  # fmt: skip
        search = search.strip()
        if not search:
            jobs = await queue.get_jobs(state, start=start, end=start + size - 1)
            page["jobs"] = [job_row(job, state) for job in jobs]
            return page
        page["search"] = search
        found = await self._by_id(queue, search)
        if found is not None:
            page["jobs"] = [found]
            page["scanned"] = 0
            return page
        needle = search.casefold()
        matches: list[dict[str, Any]] = []
        scanned = 0
        while scanned < min(total, SEARCH_SCAN) and len(matches) < size:
            batch = await queue.get_jobs(
                state, start=scanned, end=min(scanned + MAX_PAGE, SEARCH_SCAN) - 1
            )
            if not batch:
                break
            scanned += len(batch)
            matches.extend(job_row(j, state) for j in batch if needle in j.name.casefold())
        page["jobs"] = matches[:size]
        page["scanned"] = scanned
        return page

    async def _by_id(self, queue: Queue, job_id: str) -> dict[str, Any] | None:
        try:
            job = await queue.get_job(job_id)
        except CorralError:
            return None
        if job is None:
            return None
        return job_row(job, (await job.get_state()).value)

    async def job(self, name: str, job_id: str) -> dict[str, Any]:
        """Everything about one job, for its page."""
        queue = self.queue(name)
        job = await queue.get_job(job_id)
        if job is None:
            raise NotFound(f"queue {name!r} has no job {job_id!r}")
        state = (await job.get_state()).value
        logs, log_count = await self._logs(queue, job_id)
        detail = job_row(job, state)
        detail.update(
            {
                "queue": name,
                "data": _field(job, "data"),
                "return_value": _field(job, "return_value"),
                "progress": _field(job, "progress"),
                "opts": _opts(job),
                "failed_reason": job.failed_reason,
                "stacktrace": job.stacktrace,
                "attempts_started": job.attempts_started,
                "stalled_counter": job.stalled_counter,
                "processed_by": job.processed_by,
                "delay_ms": round(job.delay * 1000),
                "priority": job.priority,
                "due": _ms(job.timestamp) + round(job.delay * 1000)  # type: ignore[operator]
                if state == JobState.DELAYED.value
                else None,
                "logs": logs,
                "log_count": log_count,
                "parent": self._parent(job),
                "scheduler": _scheduler_of(job.id),
                "children": await self._children(job),
                "actions": self.job_actions(state),
            }
        )
        return detail

    async def _logs(self, queue: Queue, job_id: str) -> tuple[list[str], int]:
        lines, count = await queue.backend.get_logs(queue.name, job_id, 0, 0)
        if count <= LOG_LINES:
            lines, count = await queue.backend.get_logs(queue.name, job_id, 0, -1)
        else:
            lines, count = await queue.backend.get_logs(queue.name, job_id, count - LOG_LINES, -1)
        return lines, count

    def _parent(self, job: Job) -> dict[str, Any] | None:
        parent = job.parent
        if parent is None:
            return None
        head = f"{self.prefix}:"
        key = parent.queue_key
        queue = key[len(head) :] if key.startswith(head) else None
        return {"id": parent.id, "key": job.parent_key, "queue": queue}

    async def _children(self, job: Job) -> dict[str, Any]:
        counts = await job.get_dependencies_count()
        shown: dict[str, Any] = {
            "counts": dataclasses.asdict(counts),
        }
        if not any(dataclasses.asdict(counts).values()):
            return shown
        deps = await job.get_dependencies(limit=CHILDREN_SHOWN)
        shown["processed"] = [self._child(key) for key in deps.processed]
        shown["unprocessed"] = [self._child(key) for key in deps.unprocessed]
        shown["ignored"] = [self._child(key, reason) for key, reason in deps.ignored.items()]
        shown["failed"] = [self._child(key) for key in deps.failed]
        return shown

    def _child(self, key: str, reason: str | None = None) -> dict[str, Any]:
        head = f"{self.prefix}:"
        queue = job_id = None
        if key.startswith(head):
            queue, _, job_id = key[len(head) :].rpartition(":")
        child: dict[str, Any] = {"key": key, "queue": queue or None, "id": job_id}
        if reason is not None:
            child["reason"] = reason
        return child

    async def schedulers(self, name: str, *, start: int = 0, size: int = 25) -> dict[str, Any]:
        """A page of a queue's job schedulers, next run first."""
        if start < 0:
            raise ValueError("start must be >= 0")
        if not 1 <= size <= MAX_PAGE:
            raise ValueError(f"size must be between 1 and {MAX_PAGE}")
        queue = self.queue(name)
        listed = await queue.get_job_schedulers(start, start + size - 1)
        return {
            "queue": name,
            "total": await queue.get_job_schedulers_count(),
            "start": start,
            "schedulers": [
                {
                    "id": s.id,
                    "name": s.name,
                    "every_ms": None if s.every is None else round(s.every * 1000),
                    "cron": s.cron,
                    "tz": s.tz,
                    "limit": s.limit,
                    "iterations": s.iteration_count,
                    "next_run": _ms(s.next_run),
                    "start": _ms(s.start),
                    "end": _ms(s.end),
                    "data": _shown(s.data),
                }
                for s in listed
            ],
        }

    @staticmethod
    def job_actions(state: str) -> list[str]:
        """The actions that apply to a job in ``state``."""
        actions = []
        if state in (JobState.FAILED.value, JobState.COMPLETED.value):
            actions.append("retry")
        if state == JobState.DELAYED.value:
            actions.append("promote")
        if state in UNFINISHED:
            actions.append("cancel")
        actions.append("remove")
        return actions

    # -- actions ----------------------------------------------------------------------

    async def act_on_job(self, name: str, job_id: str, action: str) -> dict[str, Any]:
        """Do ``action`` (one of :data:`JOB_ACTIONS`) to a job; returns its new state."""
        if action not in JOB_ACTIONS:
            raise ValueError(f"unknown job action {action!r}; known: {', '.join(JOB_ACTIONS)}")
        queue = self.queue(name)
        job = await queue.get_job(job_id)
        if job is None:
            raise NotFound(f"queue {name!r} has no job {job_id!r}")
        if action == "retry":
            state = await job.get_state()
            await job.retry(state if state is JobState.COMPLETED else JobState.FAILED)
        elif action == "promote":
            await job.promote()
        elif action == "cancel":
            cancelled = await job.cancel(CANCEL_REASON)
            return {
                "queue": name,
                "id": job_id,
                "state": (await queue.get_job_state(job_id)).value,
                "message": cancelled.message,
            }
        else:
            if not await job.remove():
                raise NotFound(f"queue {name!r} has no job {job_id!r}")
        return {"queue": name, "id": job_id, "state": (await queue.get_job_state(job_id)).value}

    async def act_on_queue(
        self, name: str, action: str, options: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Do ``action`` (one of :data:`QUEUE_ACTIONS`) to a queue; returns its summary
        with a ``message`` saying what was done (and ``count``, for the bulk actions).

        ``options``: ``clean`` takes ``state`` (completed or failed), ``grace`` (how
        old a job must be: seconds, or ``30s``, ``5m``, ``1h``, ``1d``) and ``limit``
        (0: all); ``drain`` takes ``delayed`` (true: delayed jobs too). Checked before
        anything is done.
        """
        if action not in QUEUE_ACTIONS:
            raise ValueError(f"unknown queue action {action!r}; known: {', '.join(QUEUE_ACTIONS)}")
        options = {} if options is None else options
        queue = self.queue(name)
        count: int | None = None
        if action == "pause":
            await queue.pause()
            message = f"queue {name!r} is paused"
        elif action == "resume":
            await queue.resume()
            message = f"queue {name!r} is running"
        elif action == "retry-all":
            count = await queue.retry_jobs("failed")
            message = f"{count} failed job(s) of {name!r} waiting again"
        elif action == "promote-all":
            count = await queue.promote_jobs()
            message = f"{count} delayed job(s) of {name!r} waiting now"
        elif action == "clean":
            state, grace, limit = _clean_options(options)
            count = len(await queue.clean(state, grace=grace, limit=limit))
            message = f"{count} {state} job(s) of {name!r} removed"
        else:
            delayed = options.get("delayed", False)
            if not isinstance(delayed, bool):
                raise TypeError("drain's 'delayed' must be true or false")
            count = await queue.drain(delayed=delayed)
            message = f"{count} waiting job(s) of {name!r} removed" + (
                " (delayed ones too)" if delayed else ""
            )
        summary = await self.summary(name)
        summary["message"] = message
        if count is not None:
            summary["count"] = count
        return summary

    async def workers(self, name: str) -> dict[str, Any]:
        """The workers taking jobs from a queue now, oldest first."""
        queue = self.queue(name)
        return {
            "queue": name,
            "workers": [
                {
                    "id": w.id,
                    "name": w.name,
                    "host": w.host,
                    "pid": w.pid,
                    "started_at": _ms(w.started_at),
                    "last_seen": _ms(w.last_seen),
                }
                for w in await queue.get_workers()
            ],
        }


def _clean_options(options: Mapping[str, Any]) -> tuple[str, float, int]:
    """``clean``'s state, grace (seconds) and limit from an action's body."""
    state = options.get("state")
    if state not in BULK_CLEAN_STATES:
        raise ValueError(
            f"clean takes 'state': one of {', '.join(BULK_CLEAN_STATES)}, not {state!r}"
        )
    grace = options.get("grace")
    if isinstance(grace, str):
        seconds = parse_duration(grace)
    elif isinstance(grace, int | float) and not isinstance(grace, bool) and grace >= 0:
        seconds = float(grace)
    else:
        raise ValueError(
            "clean takes 'grace': how old a job must be, in seconds or as 30s, 5m, 1h, 1d"
        )
    limit = options.get("limit", 0)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"clean's 'limit' must be a whole number >= 0 (0: all), not {limit!r}")
    return str(state), seconds, limit
