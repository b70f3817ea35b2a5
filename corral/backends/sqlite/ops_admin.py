"""Changes by hand on SQLite: to one job (progress, logs, remove, promote,
reprocess) and to a whole queue (rate limit, pause, resume, obliterate).

Outside the fetch / finish cycle of :mod:`.ops`, but built the same way: one
synchronous function per :class:`~corral.backends.base.Backend` operation, run
in a write transaction on the database thread; a refusal raises through
:func:`~corral.errors.error_from_code` before anything is written.
"""

from __future__ import annotations

from corral.backends.base import RATE_LIMIT_SENTINEL, JobState
from corral.backends.sqlite import ops_dedup, ops_flows
from corral.backends.sqlite._tx import Tx, existing
from corral.backends.sqlite.connection import Conn
from corral.errors import ErrorCode, error_from_code

__all__ = [
    "add_log",
    "obliterate",
    "pause",
    "promote",
    "rate_limit",
    "remove_job",
    "reprocess_job",
    "resume",
    "update_progress",
]

_FINISHED = (JobState.COMPLETED, JobState.FAILED)


def _job(tx: Tx, job_id: str, operation: str) -> tuple[int, str, int | None, int, int]:
    """``rowid, state, lock_until, priority, lifo`` of a job that must exist."""
    row = tx.run("job_for_change", tx.qid, job_id).fetchone()
    if row is None:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation=operation)
    rowid, state, lock_until, priority, lifo = row
    return rowid, state, lock_until, priority, lifo


# -- one job ------------------------------------------------------------------------


def update_progress(conn: Conn, queue: str, job_id: str, progress: str) -> None:
    tx = existing(conn, queue, job_id, "update_progress")
    if tx.run("job_set_progress", progress, tx.qid, job_id).rowcount != 1:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation="update_progress")
    tx.event("progress", jobId=job_id, data=progress)
    tx.flush()


def add_log(conn: Conn, queue: str, job_id: str, line: str, keep: int | None) -> int:
    tx = existing(conn, queue, job_id, "add_log")
    if tx.run("job_exists", tx.qid, job_id).fetchone() is None:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation="add_log")
    last = tx.run("log_last", tx.qid, job_id).fetchone()
    n = (int(last[0]) if last else 0) + 1
    tx.run("log_insert", tx.qid, job_id, n, line)
    if keep is not None:
        tx.run("log_trim", tx.qid, job_id, n - max(keep, 0))
    return int(tx.run("log_count", tx.qid, job_id).fetchone()[0])


def remove_job(conn: Conn, queue: str, job_id: str, now: int, remove_children: bool) -> bool:
    qid = conn.find_qid(queue)
    if qid is None:
        return False
    tx = Tx(conn, qid)
    row = tx.run("job_for_change", tx.qid, job_id).fetchone()
    if row is None:
        return False
    rowid, state, lock_until, _, _ = row
    if state == "active" and lock_until is not None and lock_until > now:
        raise error_from_code(
            ErrorCode.JOB_LOCKED, job_id=job_id, operation="remove_job", state=state
        )
    family = ops_flows.Family(conn, tx)
    ops_flows.remove_family(family, tx, job_id, rowid, now, remove_children)
    ops_dedup.on_removed(tx, job_id)
    tx.run("job_delete", rowid)
    # Node names the list a waiting job was taken from, not its state.
    tx.event("removed", jobId=job_id, prev="wait" if state == "waiting" else state)
    family.flush()
    tx.flush()
    return True


def promote(conn: Conn, queue: str, job_id: str) -> None:
    tx = existing(conn, queue, job_id, "promote")
    rowid, state, _, priority, _ = _job(tx, job_id, "promote")
    if state != "delayed":
        raise error_from_code(
            ErrorCode.JOB_NOT_IN_STATE, job_id=job_id, operation="promote", state=state
        )
    line, lane = ("prioritized", priority) if priority > 0 else ("waiting", 0)
    tx.run("job_promote", line, lane, tx.back(), rowid)
    tx.event("waiting", jobId=job_id, prev="delayed")
    tx.flush()


def reprocess_job(
    conn: Conn, queue: str, job_id: str, state: JobState, reset_attempts: bool
) -> None:
    if state not in _FINISHED:
        raise ValueError(
            f"reprocess_job takes a finished job out of 'completed' or 'failed', "
            f"not {state.value!r}"
        )
    tx = existing(conn, queue, job_id, "reprocess_job")
    rowid, found, _, priority, lifo = _job(tx, job_id, "reprocess_job")
    if found != state.value:
        raise error_from_code(
            ErrorCode.JOB_NOT_IN_STATE,
            job_id=job_id,
            operation="reprocess_job",
            state=found,
            expected=state.value,
        )
    if priority > 0:
        line, lane, seq = "prioritized", priority, tx.back()
    else:
        line, lane, seq = "waiting", 0, tx.front() if lifo else tx.back()
    completed = state is JobState.COMPLETED
    ops_flows.back_to_dependencies(tx, rowid, job_id, state.value)
    tx.run("job_reprocess", line, lane, seq, rowid, completed, reset_attempts)
    tx.event("waiting", jobId=job_id, prev=state.value)
    tx.flush()


# -- queue-wide ------------------------------------------------------------------------


def rate_limit(conn: Conn, queue: str, duration_ms: int, now: int) -> None:
    tx = Tx(conn, conn.qid(queue))
    tx.run("queue_set_limiter", RATE_LIMIT_SENTINEL, now + duration_ms, tx.q.limiter_max, tx.qid)


def pause(conn: Conn, queue: str) -> None:
    tx = Tx(conn, conn.qid(queue))
    tx.run("queue_set_paused", 1, tx.qid)
    tx.event("paused")
    tx.flush()


def resume(conn: Conn, queue: str) -> None:
    tx = Tx(conn, conn.qid(queue))
    tx.run("queue_set_paused", 0, tx.qid)
    tx.event("resumed")
    tx.flush()


def obliterate(conn: Conn, queue: str, force: bool, *, shown_as: str) -> None:
    """Obliterate the stored queue ``queue``; refusals name it ``shown_as`` (the
    name the caller knows, without the prefix)."""
    qid = conn.find_qid(queue)
    tx = None if qid is None else Tx(conn, qid)
    if tx is None or not tx.q.paused:
        raise error_from_code(ErrorCode.QUEUE_NOT_PAUSED, operation="obliterate", queue=shown_as)
    conn.flush_counts()
    active = int(tx.run("jobs_count", tx.qid, "active").fetchone()[0])
    if active and not force:
        raise error_from_code(
            ErrorCode.QUEUE_HAS_ACTIVE_JOBS, operation="obliterate", queue=shown_as, count=active
        )
    tx.run("logs_delete_queue", tx.qid)
    tx.run("jobs_delete_queue", tx.qid)
    tx.run("schedulers_delete_queue", tx.qid)
    tx.run("dedup_delete_queue", tx.qid)
    tx.run("dedup_next_delete_queue", tx.qid)
    tx.run("events_delete_queue", tx.qid)
    tx.run("metrics_delete_queue", tx.qid)
    tx.run("metrics_points_delete_queue", tx.qid)
    tx.run("queue_reset", tx.qid)
