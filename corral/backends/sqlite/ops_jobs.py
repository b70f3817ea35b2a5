"""Operations on single jobs and listings, outside the fetch / finish cycle.

Listing (``get_jobs``, ``get_logs``, ``list_queues``) and changing one job by
hand (``update_progress``, ``add_log``, ``remove_job``, ``promote``,
``reprocess_job``). Like :mod:`ops`, one synchronous function per Backend
operation, each run as one transaction on the database thread.
"""

from __future__ import annotations

from collections.abc import Sequence

from corral.backends.base import JobRecord, JobState
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.ops import _existing, _record, _Tx
from corral.backends.sqlite.sql import Q
from corral.errors import ErrorCode, JobStateError, error_from_code

_OLDEST_FIRST = frozenset({JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED})
_NEWEST_FIRST = frozenset({JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED})


def _window(start: int, end: int, total: int) -> tuple[int, int]:
    """``[start, end]`` (inclusive, negatives count from the end) as ``(offset, limit)``."""
    if start < 0:
        start = max(total + start, 0)
    if end < 0:
        end = total + end
    return start, max(end - start + 1, 0)


# -- reading ------------------------------------------------------------------------


def get_jobs(
    conn: Conn, queue: str, states: Sequence[JobState], start: int, end: int
) -> list[JobRecord]:
    qid = conn.find_qid(queue)
    listed = [s for s in states if s in _OLDEST_FIRST or s in _NEWEST_FIRST]
    if qid is None or not listed:
        return []
    counts = [int(conn.sql.execute(Q["jobs_count"], (qid, s.value)).fetchone()[0]) for s in listed]
    skip, want = _window(start, end, sum(counts))
    jobs: list[JobRecord] = []
    for state, count in zip(listed, counts, strict=True):
        if want <= 0:
            break
        if skip >= count:
            skip -= count
            continue
        query = "jobs_page_oldest_first" if state in _OLDEST_FIRST else "jobs_page_newest_first"
        rows = conn.sql.execute(Q[query], (qid, state.value, want, skip)).fetchall()
        jobs.extend(_record(row) for row in rows)
        want -= len(rows)
        skip = 0
    return jobs


def get_logs(conn: Conn, queue: str, job_id: str, start: int, end: int) -> tuple[list[str], int]:
    qid = conn.find_qid(queue)
    if qid is None:
        return [], 0
    total = int(conn.sql.execute(Q["log_count"], (qid, job_id)).fetchone()[0])
    offset, limit = _window(start, end, total)
    rows = conn.sql.execute(Q["log_page"], (qid, job_id, limit, offset)).fetchall()
    return [str(row[0]) for row in rows], total


def list_queues(conn: Conn, prefix: str) -> list[str]:
    head = f"{prefix}:"
    return [str(row[0])[len(head) :] for row in conn.sql.execute(Q["queues_in_use"], (head,))]


# -- changing one job -------------------------------------------------------------------


def update_progress(conn: Conn, queue: str, job_id: str, progress: str) -> None:
    tx = _existing(conn, queue, job_id, "update_progress")
    if tx.run("job_set_progress", progress, tx.qid, job_id).rowcount != 1:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation="update_progress")
    tx.event("progress", jobId=job_id, data=progress)
    tx.done()


def add_log(conn: Conn, queue: str, job_id: str, line: str, keep: int | None) -> int:
    tx = _existing(conn, queue, job_id, "add_log")
    if tx.run("job_exists", tx.qid, job_id).fetchone() is None:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation="add_log")
    last = tx.run("log_last", tx.qid, job_id).fetchone()
    n = (int(last[0]) if last else 0) + 1
    tx.run("log_insert", tx.qid, job_id, n, line)
    if keep is not None:
        tx.run("log_trim", tx.qid, job_id, n - max(keep, 0))
    return int(tx.run("log_count", tx.qid, job_id).fetchone()[0])


def _job(tx: _Tx, job_id: str, operation: str) -> tuple[int, str, int | None, int, int]:
    row = tx.run("job_for_change", tx.qid, job_id).fetchone()
    if row is None:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation=operation)
    rowid, state, lock_until, priority, lifo = row
    return rowid, state, lock_until, priority, lifo


def remove_job(conn: Conn, queue: str, job_id: str, now: int) -> bool:
    qid = conn.find_qid(queue)
    if qid is None:
        return False
    tx = _Tx(conn, qid)
    row = tx.run("job_for_change", tx.qid, job_id).fetchone()
    if row is None:
        return False
    rowid, state, lock_until, _, _ = row
    if state == "active" and lock_until is not None and lock_until > now:
        raise JobStateError(
            f"job {job_id!r} is active and locked by a worker, so it cannot be removed "
            "(remove_job)",
            job_id=job_id,
            operation="remove_job",
        )
    tx.run("job_delete", rowid)
    tx.event("removed", jobId=job_id, prev=state)
    tx.done()
    return True


def promote(conn: Conn, queue: str, job_id: str, now: int) -> None:
    tx = _existing(conn, queue, job_id, "promote")
    rowid, state, _, priority, _ = _job(tx, job_id, "promote")
    if state != "delayed":
        raise error_from_code(ErrorCode.JOB_NOT_IN_STATE, job_id=job_id, operation="promote")
    line, lane = ("prioritized", priority) if priority > 0 else ("waiting", 0)
    tx.run("job_promote", line, lane, tx.back(), rowid)
    tx.event("waiting", jobId=job_id, prev="delayed")
    tx.done()


def reprocess_job(
    conn: Conn, queue: str, job_id: str, state: JobState, reset_attempts: bool, now: int
) -> None:
    tx = _existing(conn, queue, job_id, "reprocess_job")
    rowid, found, _, priority, lifo = _job(tx, job_id, "reprocess_job")
    if found != state.value or state not in (JobState.COMPLETED, JobState.FAILED):
        raise error_from_code(ErrorCode.JOB_NOT_IN_STATE, job_id=job_id, operation="reprocess_job")
    if priority > 0:
        line, lane, seq = "prioritized", priority, tx.back()
    else:
        line, lane, seq = "waiting", 0, tx.front() if lifo else tx.back()
    completed = state is JobState.COMPLETED
    tx.run("job_reprocess", line, lane, seq, rowid, completed, reset_attempts)
    tx.event("waiting", jobId=job_id, prev=state.value)
    tx.done()
