"""``SQLiteBackend``: the embedded, zero-setup backend.

Each async method forwards to one function of :mod:`.ops` (fetch / finish),
:mod:`.ops_read` (reads) or :mod:`.ops_admin` (changes by hand), run on the
database thread (one thread hop, one transaction), then nudges in-process
waiters of the queue (:mod:`.wakeups`). Queues are stored as
``<prefix>:<name>``, so backends opened with different prefixes never see each
other's queues; :meth:`SQLiteBackend.share` opens another prefix on the same
connection.

Clocks: every ``now`` an operation takes is the caller's, and SQLite judges
locks, limiter windows and due times by it alone. The wall clock is read only
to *sleep*: ``wait_for_job`` sleeps until the next delayed job's due time by
it, and the blocking calls time their waits with ``time.monotonic``; what is
fetched is always decided by the caller's next ``move_to_active(now)``.

URLs: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` and
``sqlite://:memory:``, an in-process database shared by every ``:memory:``
backend of the process (a real test double: Queue and Worker objects of one
test see the same jobs) until the last of them is closed.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from corral.backends import mask_url
from corral.backends.base import (
    CleanBatch,
    Completed,
    DependencyBucket,
    DependencyCounts,
    DependencyPage,
    Event,
    Failed,
    Fetched,
    FetchRequest,
    FlowEntry,
    GlobalLimits,
    JobRecord,
    JobState,
    KeepJobs,
    Limiter,
    MetricsPage,
    NewJob,
    Retry,
    SchedulerIteration,
    SchedulerRecord,
    SchedulerSpec,
    WorkerRecord,
)
from corral.backends.keyspace import validate_prefix
from corral.backends.sqlite import (
    ops,
    ops_admin,
    ops_cancel,
    ops_dedup,
    ops_flows,
    ops_maintenance,
    ops_metrics,
    ops_read,
    ops_schedulers,
    wakeups,
)
from corral.backends.sqlite.connection import MEMORY, Conn, Database
from corral.errors import BackendError, ConfigurationError, ErrorCode

__all__ = ["SQLiteBackend", "parse_url"]

P = ParamSpec("P")
T = TypeVar("T")

_URL_FORMS = "'sqlite:///relative/path.db', 'sqlite:////absolute/path.db' or 'sqlite://:memory:'"


def parse_url(url: str) -> str:
    """The database path in a ``sqlite://`` URL (``:memory:`` for the in-process one)."""
    if url == "sqlite://:memory:":
        return MEMORY
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise ConfigurationError(f"bad SQLite URL {mask_url(url)!r}: use {_URL_FORMS}")
    path = url[len("sqlite:///") :]
    if "?" in path or "#" in path:
        raise ConfigurationError(
            f"bad SQLite URL {mask_url(url)!r}: query strings are not supported; use {_URL_FORMS}"
        )
    return path


class _SharedMemory:
    """The process's ``:memory:`` database, reference-counted by its backends."""

    lock = threading.Lock()
    db: Database | None = None
    users = 0

    @classmethod
    def acquire(cls) -> Database:
        with cls.lock:
            if cls.db is None:
                cls.db = Database(MEMORY)
            cls.users += 1
            return cls.db

    @classmethod
    def release(cls) -> Database | None:
        """Drop one user; the database to close when it was the last, else None."""
        with cls.lock:
            cls.users -= 1
            if cls.users > 0:
                return None
            db, cls.db = cls.db, None
            return db


BATCH_PAUSE_S = 0.01
"""The pause after a full batch of a bulk operation (clean, drain, retry_jobs)."""


async def _let_others_write(done: int, limit: int) -> None:
    """After a full batch (more may follow at once), leave the write lock free for a
    moment: a writer in another process waiting for it polls (SQLite's busy handler
    sleeps 1, 2, 5, 10 … ms between tries) and would otherwise keep missing the instant
    between two batches, waiting for the whole operation."""
    if done >= limit > 0:
        await asyncio.sleep(BATCH_PAUSE_S)


class SQLiteBackend:
    """The :class:`~corral.backends.base.Backend` on one SQLite database file."""

    def __init__(self, url: str, *, prefix: str = "bull") -> None:
        self.url = url
        self.prefix = validate_prefix(prefix)
        self._path = parse_url(url)
        self._memory = self._path == MEMORY
        self._db: Database | None = None
        self._key = "" if self._memory else os.path.realpath(self._path)
        self._closed = False
        self._owns_db = True

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.url!r}, prefix={self.prefix!r})"

    # -- plumbing ------------------------------------------------------------------

    def _database(self) -> Database:
        if self._db is None:
            if self._closed:
                raise BackendError(f"{self!r} is closed")
            if self._memory:
                self._db = _SharedMemory.acquire()
                self._key = f"{MEMORY}{id(self._db)}"
            else:
                self._db = Database(self._path)
        return self._db

    def _name(self, queue: str) -> str:
        return f"{self.prefix}:{queue}"

    def _notify(self, name: str, *, jobs: bool) -> None:
        wakeups.notify((self._key, name, "events"))
        if jobs:
            wakeups.notify((self._key, name, "jobs"))

    async def _write(
        self, fn: Callable[Concatenate[Conn, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._database().write(fn, *args, **kwargs)

    async def _read(
        self, fn: Callable[Concatenate[Conn, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._database().read(fn, *args, **kwargs)

    async def _write_waking(self, fn: Callable[..., T], *args: Any, sharing: bool = False) -> T:
        """A write that may give work to other queues (flows): their waiters are woken.
        ``sharing``: see :meth:`Database.write_sharing`."""
        db = self._database()
        write = db.write_sharing if sharing else db.write
        result, woken = await write(ops_flows.collecting, fn, *args)
        for name in woken:
            self._notify(name, jobs=True)
        return result

    def _watch(self) -> wakeups.CommitWatch:
        return wakeups.CommitWatch(self._database(), None if self._memory else self._path)

    # -- adding ------------------------------------------------------------------

    async def add_jobs(self, queue: str, jobs: Sequence[NewJob]) -> list[str]:
        name = self._name(queue)
        if any(job.parent is not None for job in jobs):
            # add_jobs takes no `now`: a parent released here is delayed from the
            # batch's creation time.
            entries = [FlowEntry(queue, job) for job in jobs]
            now = max(job.timestamp_ms for job in jobs)
            ids = await self._write_waking(ops_flows.add_flow, self.prefix, entries, now, "add")
        else:
            ids = await self._write(ops.add_jobs, name, list(jobs))
        self._notify(name, jobs=True)
        return ids

    async def add_flow(self, entries: Sequence[FlowEntry], now: int) -> list[str]:
        return await self._write_waking(
            ops_flows.add_flow, self.prefix, list(entries), now, "add_flow"
        )

    # -- fetching and finishing --------------------------------------------------

    async def move_to_active(self, queue: str, fetch: FetchRequest, now: int) -> Fetched:
        name = self._name(queue)
        fetched = await self._database().write_sharing(ops.move_to_active, name, fetch, now)
        self._notify(name, jobs=fetched.job is not None)
        return fetched

    async def move_to_finished(
        self,
        queue: str,
        job_id: str,
        token: str,
        outcome: Completed | Failed,
        now: int,
        fetch: FetchRequest | None = None,
    ) -> Fetched | None:
        name = self._name(queue)
        result = await self._write_waking(
            ops.move_to_finished, name, job_id, token, outcome, now, fetch, sharing=True
        )
        self._notify(name, jobs=result is not None and result.job is not None)
        return result

    async def retry_job(
        self,
        queue: str,
        job_id: str,
        token: str,
        retry: Retry,
        now: int,
        fetch: FetchRequest | None = None,
    ) -> Fetched | None:
        name = self._name(queue)
        result = await self._write(ops.retry_job, name, job_id, token, retry, now, fetch)
        self._notify(name, jobs=True)
        return result

    async def move_to_waiting_children(
        self, queue: str, job_id: str, token: str, now: int, child_key: str | None = None
    ) -> bool:
        name = self._name(queue)
        moved = await self._write(
            ops_flows.move_to_waiting_children, name, job_id, token, now, child_key
        )
        self._notify(name, jobs=False)
        return moved

    async def move_to_wait(self, queue: str, job_id: str, token: str, now: int) -> int:
        name = self._name(queue)
        ttl = await self._write(ops.move_to_wait, name, job_id, token, now)
        self._notify(name, jobs=True)
        return ttl

    async def extend_lock(
        self, queue: str, job_id: str, token: str, duration_ms: int, now: int
    ) -> None:
        await self._write(ops.extend_lock, self._name(queue), job_id, token, duration_ms, now)

    async def extend_locks(
        self, queue: str, locks: Sequence[tuple[str, str]], duration_ms: int, now: int
    ) -> dict[str, ErrorCode]:
        return await self._write(ops.extend_locks, self._name(queue), list(locks), duration_ms, now)

    async def move_stalled_to_wait(
        self, queue: str, max_stalled_count: int, stalled_interval_ms: int, now: int
    ) -> list[str]:
        name = self._name(queue)
        stalled = await self._write(
            ops.move_stalled_to_wait, name, max_stalled_count, stalled_interval_ms, now
        )
        self._notify(name, jobs=bool(stalled))
        return stalled

    # -- reading -----------------------------------------------------------------

    async def get_job(self, queue: str, job_id: str) -> JobRecord | None:
        return await self._read(ops_read.get_job, self._name(queue), job_id)

    async def get_state(self, queue: str, job_id: str) -> JobState:
        return await self._read(ops_read.get_state, self._name(queue), job_id)

    async def get_counts(self, queue: str, states: Sequence[JobState]) -> dict[JobState, int]:
        return await self._read(ops_read.get_counts, self._name(queue), list(states))

    async def read_events(
        self, queue: str, after: str | None, *, count: int = 100, block_ms: int = 0
    ) -> list[Event]:
        name = self._name(queue)
        try:
            cursor = None if after is None else int(after)
        except ValueError:
            raise ValueError(f"after must be an event id from read_events, not {after!r}") from None
        deadline = time.monotonic() + max(block_ms, 0) / 1000
        watch = self._watch()
        with wakeups.listening((self._key, name, "events")) as waiter:
            while True:
                waiter.event.clear()
                since = await watch.baseline() if block_ms > 0 else None
                events, cursor = await self._read(ops_read.read_events, name, cursor, count)
                if events or time.monotonic() >= deadline:
                    return events
                await watch.wait(waiter, deadline, since)

    async def events_cursor(self, queue: str) -> str:
        return await self._read(ops_read.events_cursor, self._name(queue))

    async def get_jobs(
        self, queue: str, states: Sequence[JobState], start: int = 0, end: int = -1
    ) -> list[JobRecord]:
        return await self._read(ops_read.get_jobs, self._name(queue), list(states), start, end)

    async def get_logs(
        self, queue: str, job_id: str, start: int = 0, end: int = -1
    ) -> tuple[list[str], int]:
        return await self._read(ops_read.get_logs, self._name(queue), job_id, start, end)

    async def get_dependencies(
        self,
        queue: str,
        job_id: str,
        *,
        limit: int | None = None,
        cursors: Mapping[DependencyBucket, str] | None = None,
    ) -> DependencyPage:
        return await self._read(
            ops_flows.get_dependencies, self._name(queue), job_id, limit, cursors
        )

    async def get_dependency_counts(self, queue: str, job_id: str) -> DependencyCounts:
        return await self._read(ops_flows.get_dependency_counts, self._name(queue), job_id)

    async def list_queues(self) -> list[str]:
        return await self._read(ops_read.list_queues, self.prefix)

    # -- changing one job ----------------------------------------------------------

    async def update_progress(self, queue: str, job_id: str, progress: str) -> None:
        name = self._name(queue)
        await self._write(ops_admin.update_progress, name, job_id, progress)
        self._notify(name, jobs=False)

    async def add_log(self, queue: str, job_id: str, line: str, keep: int | None = None) -> int:
        return await self._write(ops_admin.add_log, self._name(queue), job_id, line, keep)

    async def remove_job(
        self, queue: str, job_id: str, now: int, *, remove_children: bool = True
    ) -> bool:
        name = self._name(queue)
        removed = await self._write_waking(ops_admin.remove_job, name, job_id, now, remove_children)
        self._notify(name, jobs=False)
        return removed

    async def promote(self, queue: str, job_id: str) -> None:
        name = self._name(queue)
        await self._write(ops_admin.promote, name, job_id)
        self._notify(name, jobs=True)

    async def reprocess_job(
        self, queue: str, job_id: str, state: JobState, *, reset_attempts: bool
    ) -> None:
        name = self._name(queue)
        await self._write(ops_admin.reprocess_job, name, job_id, state, reset_attempts)
        self._notify(name, jobs=True)

    # -- queue-wide --------------------------------------------------------------

    async def rate_limit(self, queue: str, duration_ms: int, now: int) -> None:
        await self._write(ops_admin.rate_limit, self._name(queue), duration_ms, now)

    async def get_metrics(self, queue: str, kind: str, start: int, end: int) -> MetricsPage:
        return await self._read(ops_metrics.get_metrics, self._name(queue), kind, start, end)

    async def get_rate_limit_ttl(self, queue: str, now: int) -> int:
        return await self._read(ops_read.get_rate_limit_ttl, self._name(queue), now)

    async def pause(self, queue: str) -> None:
        name = self._name(queue)
        await self._write(ops_admin.pause, name)
        self._notify(name, jobs=False)

    async def resume(self, queue: str) -> None:
        name = self._name(queue)
        await self._write(ops_admin.resume, name)
        self._notify(name, jobs=True)

    async def is_paused(self, queue: str) -> bool:
        return await self._read(ops_read.is_paused, self._name(queue))

    async def obliterate(self, queue: str, *, force: bool) -> None:
        name = self._name(queue)
        await self._write(ops_admin.obliterate, name, force, shown_as=queue)
        self._notify(name, jobs=False)

    # -- waiting for work ----------------------------------------------------------

    async def wait_for_job(self, queue: str, timeout_ms: int) -> int | None:
        name = self._name(queue)
        deadline = time.monotonic() + max(timeout_ms, 0) / 1000
        watch = self._watch()
        with wakeups.listening((self._key, name, "jobs")) as waiter:
            while True:
                waiter.event.clear()
                since = await watch.baseline()
                ready, due = await self._read(ops_read.peek_work, name)
                if ready:
                    return 0
                until = deadline
                if due is not None:
                    # The wall clock only sets how long to sleep; whether the job
                    # is due is for the caller's move_to_active(now) to decide.
                    due_in = due / 1000 - time.time()
                    if due_in <= 0:
                        return due
                    until = min(deadline, time.monotonic() + due_in)
                if time.monotonic() >= deadline:
                    return None
                await watch.wait(waiter, until, since)

    async def wait_and_fetch(
        self, queue: str, timeout_ms: int, fetch: FetchRequest
    ) -> tuple[int | None, Fetched | None]:
        """:meth:`wait_for_job` only: the fetch after it is a local call, with no round
        trip to save, so the caller makes it."""
        return await self.wait_for_job(queue, timeout_ms), None

    # -- connections ---------------------------------------------------------------

    def share(self, prefix: str) -> SQLiteBackend:
        """A backend for queues under ``prefix`` on this backend's database: the same
        thread and connection (for ``sqlite://:memory:``, the same in-process
        database). No I/O happens; its :meth:`close` releases nothing, while this
        backend's :meth:`close` closes the database for both."""
        db = self._database()
        shared = SQLiteBackend(self.url, prefix=prefix)
        shared._db, shared._key, shared._owns_db = db, self._key, False
        return shared

    async def change_delay(self, queue: str, job_id: str, delay_ms: int, now: int) -> None:
        name = self._name(queue)
        await self._write(ops_maintenance.change_delay, name, job_id, delay_ms, now)
        self._notify(name, jobs=True)

    async def change_priority(self, queue: str, job_id: str, priority: int, lifo: bool) -> None:
        name = self._name(queue)
        await self._write(ops_maintenance.change_priority, name, job_id, priority, lifo)
        self._notify(name, jobs=True)

    async def update_data(self, queue: str, job_id: str, data: str) -> None:
        await self._write(ops_maintenance.update_data, self._name(queue), job_id, data)

    async def move_to_delayed(
        self, queue: str, job_id: str, token: str, delay_ms: int, now: int
    ) -> None:
        name = self._name(queue)
        await self._write(ops_maintenance.move_to_delayed, name, job_id, token, delay_ms, now)
        self._notify(name, jobs=True)

    # -- maintenance and queue settings (see .ops_maintenance) -------------------------

    async def clean(
        self,
        queue: str,
        state: JobState,
        before_ms: int,
        limit: int,
        now: int,
        cursor: tuple[int, ...] = (),
    ) -> CleanBatch:
        name = self._name(queue)
        batch = await self._write_waking(
            ops_maintenance.clean, name, state, before_ms, limit, now, cursor
        )
        self._notify(name, jobs=False)
        await _let_others_write(len(batch.ids), limit)
        return batch

    async def drain(self, queue: str, delayed: bool, limit: int, now: int) -> int:
        removed = await self._write_waking(
            ops_maintenance.drain, self._name(queue), delayed, limit, now
        )
        await _let_others_write(removed, limit)
        return removed

    async def move_jobs_to_wait(
        self, queue: str, state: JobState, before_ms: int, limit: int
    ) -> int:
        name = self._name(queue)
        moved = await self._write(ops_maintenance.move_jobs_to_wait, name, state, before_ms, limit)
        self._notify(name, jobs=moved > 0)
        await _let_others_write(moved, limit)
        return moved

    async def trim_events(self, queue: str, max_length: int) -> None:
        await self._write(ops_maintenance.trim_events, self._name(queue), max_length)

    async def set_global_concurrency(self, queue: str, concurrency: int | None) -> None:
        name = self._name(queue)
        await self._write(ops_maintenance.set_global_concurrency, name, concurrency)
        self._notify(name, jobs=True)

    async def set_global_rate_limit(self, queue: str, limit: Limiter | None) -> None:
        name = self._name(queue)
        await self._write(ops_maintenance.set_global_rate_limit, name, limit)
        self._notify(name, jobs=True)

    async def get_global_limits(self, queue: str) -> GlobalLimits:
        return await self._read(ops_maintenance.get_global_limits, self._name(queue))

    async def worker_seen(self, queue: str, worker: WorkerRecord, now: int) -> None:
        await self._write(ops_maintenance.worker_seen, self._name(queue), worker, now)

    async def worker_gone(self, queue: str, worker_id: str) -> None:
        await self._write(ops_maintenance.worker_gone, self._name(queue), worker_id)

    async def get_workers(self, queue: str, now: int) -> list[WorkerRecord]:
        return await self._read(ops_maintenance.get_workers, self._name(queue), now)

    # -- cancellation ----------------------------------------------------------------

    async def cancel_job(
        self, queue: str, job_id: str, reason: str, now: int, keep: KeepJobs
    ) -> JobState:
        name = self._name(queue)
        state = await self._write_waking(ops_cancel.cancel_job, name, job_id, reason, now, keep)
        self._notify(name, jobs=False)
        return state

    async def get_cancel_requests(self, queue: str, job_ids: Sequence[str]) -> dict[str, str]:
        return await self._read(ops_cancel.get_cancel_requests, self._name(queue), list(job_ids))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        db, self._db = self._db, None
        if db is None or not self._owns_db:
            return
        if self._memory:
            last = _SharedMemory.release()
            if last is not None:
                await last.close()
        else:
            await db.close()

    async def __aenter__(self) -> SQLiteBackend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- job schedulers --------------------------------------------------------------

    async def upsert_job_scheduler(
        self, queue: str, scheduler: SchedulerSpec, iteration: SchedulerIteration, now: int
    ) -> tuple[str, int]:
        name = self._name(queue)
        result = await self._write(
            ops_schedulers.upsert_job_scheduler, name, scheduler, iteration, now
        )
        self._notify(name, jobs=True)
        return result

    async def add_next_iteration(
        self,
        queue: str,
        scheduler_id: str,
        producer_id: str,
        iteration: SchedulerIteration,
        now: int,
    ) -> str | None:
        name = self._name(queue)
        added = await self._write(
            ops_schedulers.add_next_iteration, name, scheduler_id, producer_id, iteration, now
        )
        self._notify(name, jobs=added is not None)
        return added

    async def remove_job_scheduler(self, queue: str, scheduler_id: str) -> bool:
        name = self._name(queue)
        removed = await self._write(ops_schedulers.remove_job_scheduler, name, scheduler_id)
        self._notify(name, jobs=False)
        return removed

    async def get_job_scheduler(self, queue: str, scheduler_id: str) -> SchedulerRecord | None:
        return await self._read(ops_schedulers.get_job_scheduler, self._name(queue), scheduler_id)

    async def get_job_schedulers(
        self, queue: str, start: int = 0, end: int = -1, *, asc: bool = True
    ) -> list[SchedulerRecord]:
        return await self._read(
            ops_schedulers.get_job_schedulers, self._name(queue), start, end, asc
        )

    async def get_job_schedulers_count(self, queue: str) -> int:
        return await self._read(ops_schedulers.get_job_schedulers_count, self._name(queue))

    # -- deduplication -------------------------------------------------------------

    async def get_deduplication_job_id(self, queue: str, dedup_id: str, now: int) -> str | None:
        return await self._read(
            ops_dedup.get_deduplication_job_id, self._name(queue), dedup_id, now
        )

    async def remove_deduplication_key(self, queue: str, dedup_id: str) -> bool:
        return await self._write(ops_dedup.remove_deduplication_key, self._name(queue), dedup_id)
