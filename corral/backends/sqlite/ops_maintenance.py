"""Queue maintenance, global limits, the worker list and job edits on SQLite.

One synchronous function per :class:`~corral.backends.base.Backend` operation, as
in :mod:`.ops`: each runs in one write (or read) transaction on the database
thread. The bulk operations take one batch of at most ``limit`` jobs per call,
so a database shared with workers in other processes is never held for long.
A job removed here goes as ``remove_job`` without its descendants removes it.
"""

from __future__ import annotations

from corral.backends.admin_types import CLEAN_WINDOW, CleanBatch, GlobalLimits, WorkerRecord
from corral.backends.base import WORKER_SEEN_TIMEOUT_MS, JobState, Limiter
from corral.backends.sqlite import ops_flows
from corral.backends.sqlite._tx import Tx, existing
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q
from corral.errors import ErrorCode, error_from_code

__all__ = [
    "change_delay",
    "change_priority",
    "clean",
    "drain",
    "get_global_limits",
    "get_workers",
    "move_jobs_to_wait",
    "move_to_delayed",
    "set_global_concurrency",
    "set_global_rate_limit",
    "trim_events",
    "update_data",
    "worker_gone",
    "worker_seen",
]

_FINISHED = (JobState.COMPLETED, JobState.FAILED)
_NEVER = 2**62
"""A time after every due time (promote_jobs takes every delayed job)."""
_BEFORE_EVERY_LINE = (-(2**62), 0)
"""A (lane, seq) before every job of a line: where a first clean batch starts."""


def _prune(fam: ops_flows.Family, tx: Tx, rowid: int, job_id: str, now: int) -> None:
    """Remove one job as remove_job without its descendants, with no event."""
    ops_flows.remove_family(fam, tx, job_id, rowid, now, False)
    tx.run("job_delete", rowid)


def clean(
    conn: Conn,
    queue: str,
    state: JobState,
    before_ms: int,
    limit: int,
    now: int,
    cursor: tuple[int, ...],
) -> CleanBatch:
    qid = conn.find_qid(queue)
    if qid is None:
        return CleanBatch([], None)
    tx = Tx(conn, qid)
    following: tuple[int, ...] | None = None
    if state in _FINISHED:
        rows = tx.run("clean_finished", qid, state.value, before_ms, limit).fetchall()
        if len(rows) == limit:
            following = ()
    else:
        # The line from its oldest entry, after the last one earlier batches looked
        # at (the cursor: its lane and seq), each with whether it goes; stop at
        # `limit` gone.
        after = cursor or _BEFORE_EVERY_LINE
        window = max(limit, CLEAN_WINDOW)
        seen = tx.run("clean_line", qid, state.value, before_ms, window, now, *after).fetchall()
        rows = []
        last: tuple[int, ...] | None = None
        for rowid, job_id, lane, seq, goes in seen:
            if len(rows) == limit:
                break
            last = (lane, seq)
            if goes:
                rows.append((rowid, job_id))
        if last is not None and (len(rows) == limit or len(seen) == window):
            following = last
    fam = ops_flows.Family(conn, tx)
    for rowid, job_id in rows:
        _prune(fam, tx, rowid, job_id, now)
    if rows or not cursor:
        tx.event("cleaned", count=str(len(rows)))
    fam.flush()
    tx.flush()
    return CleanBatch([job_id for _, job_id in rows], following)


def drain(conn: Conn, queue: str, delayed: bool, limit: int, now: int) -> int:
    qid = conn.find_qid(queue)
    if qid is None:
        return 0
    tx = Tx(conn, qid)
    rows = tx.run("drain_batch", qid, delayed, limit).fetchall()
    fam = ops_flows.Family(conn, tx)
    for rowid, job_id in rows:
        _prune(fam, tx, rowid, job_id, now)
    fam.flush()
    tx.flush()
    return len(rows)


def move_jobs_to_wait(conn: Conn, queue: str, state: JobState, before_ms: int, limit: int) -> int:
    qid = conn.find_qid(queue)
    if qid is None:
        return 0
    tx = Tx(conn, qid)
    before = _NEVER if state is JobState.DELAYED else before_ms
    rows = tx.run("retry_batch", qid, state.value, before, limit).fetchall()
    for rowid, job_id in rows:
        # As Node's moveJobsToWait: every job waits behind the others, whatever its
        # priority or lifo (it keeps its priority).
        line, lane, seq = "waiting", 0, tx.back()
        if state is JobState.DELAYED:
            tx.run("job_promote_all", line, lane, seq, rowid)
        else:
            ops_flows.back_to_dependencies(tx, rowid, job_id, state.value)
            completed = state is JobState.COMPLETED
            tx.run("job_reprocess", line, lane, seq, rowid, completed, False)
        tx.event("waiting", jobId=job_id, prev=state.value)
    tx.flush()
    return len(rows)


def trim_events(conn: Conn, queue: str, max_length: int) -> None:
    qid = conn.find_qid(queue)
    if qid is not None:
        conn.sql.execute(Q["events_keep_newest"], (qid, max_length))


def set_global_concurrency(conn: Conn, queue: str, concurrency: int | None) -> None:
    conn.sql.execute(Q["queue_set_global_concurrency"], (concurrency or 0, conn.qid(queue)))


def set_global_rate_limit(conn: Conn, queue: str, limit: Limiter | None) -> None:
    rate = (0, 0) if limit is None else (limit.max, limit.duration_ms)
    conn.sql.execute(Q["queue_set_global_rate"], (*rate, conn.qid(queue)))


def global_limits(conn: Conn, qid: int) -> GlobalLimits:
    """The global limits of the queue ``qid`` (also read by every fetch)."""
    row = conn.sql.execute(Q["queue_global_limits"], (qid,)).fetchone()
    concurrency, rate_max, duration = (int(v) for v in row)
    return GlobalLimits(concurrency or None, rate_max or None, duration or None)


def get_global_limits(conn: Conn, queue: str) -> GlobalLimits:
    qid = conn.find_qid(queue)
    return GlobalLimits() if qid is None else global_limits(conn, qid)


def worker_seen(conn: Conn, queue: str, worker: WorkerRecord, now: int) -> None:
    row = (worker.id, worker.name, worker.host, worker.pid or 0, worker.started_at_ms, now)
    qid = conn.qid(queue)
    conn.sql.execute(Q["worker_upsert"], (qid, *row))
    # Every heartbeat forgets the queue's workers that died without saying goodbye,
    # so listing them stays a read.
    conn.sql.execute(Q["workers_expire"], (qid, now - WORKER_SEEN_TIMEOUT_MS))


def worker_gone(conn: Conn, queue: str, worker_id: str) -> None:
    qid = conn.find_qid(queue)
    if qid is not None:
        conn.sql.execute(Q["worker_delete"], (qid, worker_id))


def get_workers(conn: Conn, queue: str, now: int) -> list[WorkerRecord]:
    """The queue's workers seen lately (a read: nothing is deleted here)."""
    qid = conn.find_qid(queue)
    if qid is None:
        return []
    rows = conn.sql.execute(Q["workers_list"], (qid, now - WORKER_SEEN_TIMEOUT_MS)).fetchall()
    return [WorkerRecord(str(r[0]), r[1], r[2], int(r[3]), int(r[4]), int(r[5])) for r in rows]


# -- what every fetch obeys ------------------------------------------------------------


def effective_limits(tx: Tx, worker: Limiter | None) -> tuple[Limiter | None, int]:
    """The rate limit a fetch obeys and the queue's global concurrency (0: none).

    As BullMQ decides: the queue's ``max`` wins over the worker limiter's, the
    worker limiter's duration over the queue's.
    """
    q = tx.q
    concurrency, rate_max, duration = (
        q.global_concurrency,
        q.global_rate_max,
        q.global_rate_duration,
    )
    if not rate_max or not (duration or worker):
        return worker, concurrency
    window = worker.duration_ms if worker is not None else duration
    return Limiter(rate_max, window), concurrency


def maxed(tx: Tx, concurrency: int) -> bool:
    """Whether the queue's global concurrency is reached."""
    if concurrency <= 0:
        return False
    tx.conn.flush_counts()
    return int(tx.run("jobs_count", tx.qid, "active").fetchone()[0]) >= concurrency


# -- editing one job -----------------------------------------------------------------------


def _job_row(tx: Tx, job_id: str, operation: str) -> tuple[int, str, int | None, int, int]:
    row = tx.run("job_for_change", tx.qid, job_id).fetchone()
    if row is None:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation=operation)
    rowid, state, lock_until, priority, lifo = row
    return rowid, state, lock_until, priority, lifo


def change_delay(conn: Conn, queue: str, job_id: str, delay_ms: int, now: int) -> None:
    tx = existing(conn, queue, job_id, "change_delay")
    rowid, state, *_ = _job_row(tx, job_id, "change_delay")
    if state != "delayed":
        raise error_from_code(
            ErrorCode.JOB_NOT_IN_STATE, job_id=job_id, operation="change_delay", state=state
        )
    due = now + delay_ms
    tx.run("job_set_due", due, tx.back(), delay_ms, rowid)
    tx.event("delayed", jobId=job_id, delay=str(due))
    tx.flush()


def change_priority(conn: Conn, queue: str, job_id: str, priority: int, lifo: bool) -> None:
    tx = existing(conn, queue, job_id, "change_priority")
    rowid, state, *_ = _job_row(tx, job_id, "change_priority")
    row = tx.run("job_lane", rowid).fetchone()
    line, lane, seq = state, row[0], row[1]
    if state in ("waiting", "prioritized"):
        if priority > 0:
            line, lane = "prioritized", priority
        else:
            line, lane = "waiting", 0
        seq = tx.front() if lifo else tx.back()
    tx.run("job_set_priority", priority, line, lane, seq, rowid)
    tx.flush()


def update_data(conn: Conn, queue: str, job_id: str, data: str) -> None:
    qid = conn.find_qid(queue)
    if qid is None or conn.sql.execute(Q["job_set_data"], (data, qid, job_id)).rowcount != 1:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation="update_data")


def move_to_delayed(
    conn: Conn, queue: str, job_id: str, token: str, delay_ms: int, now: int
) -> None:
    tx = existing(conn, queue, job_id, "move_to_delayed")
    rowid, *_ = tx.locked(job_id, token, now, "move_to_delayed")
    due = now + delay_ms
    tx.run("job_delay_active", due, tx.back(), delay_ms, rowid)
    tx.event("delayed", jobId=job_id, delay=str(due))
    tx.flush()
