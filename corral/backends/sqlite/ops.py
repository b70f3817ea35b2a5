"""The fetch / finish cycle on SQLite: adding, fetching, finishing, locks and stalled jobs.

One synchronous function per :class:`~corral.backends.base.Backend` operation,
run by :class:`~corral.backends.sqlite.connection.Database` on its thread inside
``BEGIN IMMEDIATE … COMMIT``, so each is atomic: a refusal raises (through
:func:`~corral.errors.error_from_code`) before anything is written, or the
operation's savepoint is rolled back. The names match the Backend methods (and
the Redis scripts); the SQL is in ``queries.sql``, run as ``tx.run(name, …)``.
Reads are in :mod:`.ops_read`, changes by hand in :mod:`.ops_admin`.

Ordering. Every line is ordered by ``(lane, seq)`` in the index
``jobs_by_line (qid, state, lane, seq)``, so the next job is one index seek however
many wait. ``seq`` comes from two per-queue counters: ``seq_back`` counts up
(the back of a line, like BullMQ's LPUSH) and ``seq_front`` counts down (the
front, like RPUSH), so placing a job costs no lookup. ``lane`` is 0 in wait, the
priority in prioritized, the due time in delayed and ``finished_on`` in
completed / failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from corral.backends.base import (
    STALLED_LIMIT_REASON,
    Completed,
    Failed,
    Fetched,
    FetchRequest,
    NewJob,
    Retry,
)
from corral.backends.sqlite import ops_dedup, ops_flows, ops_maintenance, ops_metrics
from corral.backends.sqlite._tx import Tx, existing, lock_refusal, record, shared_tx
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q
from corral.errors import CorruptJobError, ErrorCode, error_from_code

__all__ = [
    "add_jobs",
    "extend_lock",
    "extend_locks",
    "move_stalled_to_wait",
    "move_to_active",
    "move_to_finished",
    "move_to_wait",
    "retry_job",
]


# -- adding ----------------------------------------------------------------------


def add_jobs(conn: Conn, queue: str, jobs: Sequence[NewJob]) -> list[str]:
    tx = Tx(conn, conn.qid(queue))
    counter = tx.q.id_counter
    ids: list[str] = []
    rows: list[tuple[object, ...]] = []
    taken: set[str] = set()
    for job in jobs:
        counter += 1
        if job.job_id is None:
            job_id = str(counter)
        else:
            job_id = job.job_id
            if job_id in taken or tx.run("job_exists", tx.qid, job_id).fetchone():
                tx.event("duplicated", jobId=job_id)
                ids.append(job_id)
                continue
        if job.deduplication is not None:
            # The owner may be a job of this batch: store the batch so far first.
            tx.sql.executemany(Q["job_insert"], rows)
            rows.clear()
            kept = ops_dedup.deduplicate(tx, job_id, job)
            if kept is not None:
                ids.append(kept)
                continue
        taken.add(job_id)
        ids.append(job_id)
        tx.event("added", jobId=job_id, name=job.name)
        if job.delay_ms > 0:
            due = job.timestamp_ms + job.delay_ms
            place: tuple[str, int, int] = ("delayed", due, tx.back())
            tx.event("delayed", jobId=job_id, delay=str(due))
        else:
            if job.priority > 0:
                place = ("prioritized", job.priority, tx.back())
            else:
                place = ("waiting", 0, tx.front() if job.lifo else tx.back())
            tx.event("waiting", jobId=job_id)
        row = (tx.qid, job_id, job.name, job.data, job.opts, job.timestamp_ms, job.delay_ms)
        rows.append((*row, job.priority, int(job.lifo), *place))
    tx.sql.executemany(Q["job_insert"], rows)
    tx.run("queue_set_id_counter", counter, tx.qid)
    tx.flush()
    return ids


# -- fetching ----------------------------------------------------------------------


def _promote_due(tx: Tx, now: int) -> int:
    """Move delayed jobs due by ``now`` to the back of their line; return how many."""
    due = tx.run("delayed_due", tx.qid, now).fetchall()
    for rowid, job_id, priority in due:
        state, lane = ("prioritized", priority) if priority > 0 else ("waiting", 0)
        tx.run("job_promote", state, lane, tx.back(), rowid)
        tx.event("waiting", jobId=job_id, prev="delayed")
    return len(due)


def _fetch(tx: Tx, fetch: FetchRequest, now: int) -> Fetched:
    """The fetch step shared by every operation that hands out a job.

    Delayed jobs due by ``now`` are promoted first, whatever the fetch then finds;
    one statement finds the front of wait and tells whether any is due (usually
    none: no second look)."""
    q = tx.q
    limiter, concurrency = ops_maintenance.effective_limits(tx, fetch.limiter)
    limited = tx.rate_limit_ttl(now, limiter.max if limiter else 0)
    if limited:
        _promote_due(tx, now)
        return Fetched(None, rate_limited_for_ms=limited)
    if q.paused:
        _promote_due(tx, now)
        return Fetched(None)
    line = "waiting"
    row = tx.run("job_next_waiting", tx.qid, now).fetchone()
    if row is None or row[2]:
        # Wait is empty, or a delayed job is due: promote first, then look again.
        _promote_due(tx, now)
        row = None
    if ops_maintenance.maxed(tx, concurrency):
        return Fetched(None)
    row = tx.run("job_next", tx.qid, line).fetchone() if row is None else row[:2]
    if row is None:
        line = "prioritized"
        row = tx.run("job_next", tx.qid, line).fetchone()
    if row is None:
        due = tx.run("delayed_next", tx.qid).fetchone()
        if due is not None:
            return Fetched(None, next_delayed_at_ms=int(due[0]))
        return Fetched(None)
    rowid, deferred_failure = row
    if limiter is not None and deferred_failure is None:
        if q.limiter_expires_at <= now:
            q.limiter_count, q.limiter_expires_at = 1, now + limiter.duration_ms
        else:
            q.limiter_count += 1
        q.limiter_max = limiter.max
        tx.run("queue_set_limiter", q.limiter_count, q.limiter_expires_at, q.limiter_max, tx.qid)
    tx.run(
        "job_activate",
        tx.back(),
        fetch.token,
        now + fetch.lock_duration_ms,
        now,
        fetch.worker_name,
        rowid,
    )
    row = tx.run("job_record_at", rowid).fetchone()
    tx.conn.count_activation(tx.qid, line)
    tx.event("active", jobId=row[0], prev="waiting")
    try:
        job = record(row)
    except CorruptJobError as exc:
        # Unreadable: fail it now with the reason, and hand out the next job instead.
        parent = tx.run("job_fail", now, tx.back(), now, str(exc), "[]", rowid).fetchone()
        family = ops_flows.Family(tx.conn, tx)
        ops_flows.on_child_finished(family, (tx.qid, exc.job_id), parent, False, str(exc), now)
        family.flush()
        tx.event("failed", jobId=exc.job_id, failedReason=str(exc), prev="active")
        return _fetch(tx, fetch, now)
    return Fetched(job)


def move_to_active(conn: Conn, queue: str, fetch: FetchRequest, now: int) -> Fetched:
    tx = shared_tx(conn, conn.qid(queue))
    fetched = _fetch(tx, fetch, now)
    tx.flush()
    return fetched


def move_to_finished(
    conn: Conn,
    queue: str,
    job_id: str,
    token: str,
    outcome: Completed | Failed,
    now: int,
    fetch: FetchRequest | None,
) -> Fetched | None:
    tx = existing(conn, queue, job_id, "move_to_finished", shared=True)
    # One look for the lock, the children that may refuse a completion, and
    # deduplication ids to free; refusals in the order they always had.
    found = tx.run("job_finish_check", tx.qid, job_id).fetchone()
    if isinstance(outcome, Completed):
        if found is None:
            ops_flows.completion_refused(tx, job_id, "move_to_finished")
        else:
            ops_flows.refuse_completion(found[7], job_id, "move_to_finished")
    rowid, *_, attempts_made, _, owns_dedup, parent_qid, parent_id, policy = tx.check_lock(
        found, job_id, token, now, "move_to_finished"
    )
    attempts_made += 1
    # A child's parent is updated first (its events come before the child's).
    family = ops_flows.Family(conn, tx)
    keep = outcome.keep
    # A job not kept is deleted at once: nothing reads its finished row.
    gone = keep.count == 0
    if isinstance(outcome, Completed):
        target = "completed"
        if gone:
            # Not RETURNING: SQLite would gather the returned row in a temporary
            # table; the parent was read with the lock.
            tx.run("job_delete", rowid)
            parent = (parent_qid, parent_id, policy)
        else:
            parent = tx.run(
                "job_complete", now, tx.back(), now, outcome.return_value, rowid
            ).fetchone()
        ops_flows.on_child_finished(
            family, (tx.qid, job_id), parent, True, outcome.return_value, now
        )
        tx.event("completed", jobId=job_id, returnvalue=outcome.return_value, prev="active")
    else:
        target = "failed"
        if gone:
            tx.run("job_delete", rowid)
            parent = (parent_qid, parent_id, policy)
        else:
            parent = tx.run(
                "job_fail", now, tx.back(), now, outcome.reason, outcome.stacktrace, rowid
            ).fetchone()
        ops_flows.on_child_finished(family, (tx.qid, job_id), parent, False, outcome.reason, now)
        tx.event("failed", jobId=job_id, failedReason=outcome.reason, prev="active")
        if attempts_made >= outcome.attempts:
            tx.event("retries-exhausted", jobId=job_id, attemptsMade=str(attempts_made))
    if outcome.metrics_max_points > 0:
        ops_metrics.collect(tx, target, outcome.metrics_max_points, now)
    removed: list[tuple[str, int | None, str | None]] = []
    if gone:
        removed.append((job_id, parent[0], parent[1]))
    else:
        if keep.age_ms is not None:
            removed += tx.run("finished_remove_older", tx.qid, target, now - keep.age_ms).fetchall()
        if keep.count > 0:
            removed += tx.run("finished_keep_newest", tx.qid, target, keep.count).fetchall()
    for gone_id, parent_qid, parent_id in removed:
        ops_flows.drop_pending(family, (tx.qid, gone_id), (parent_qid, parent_id), now)
    family.flush()
    result = None if fetch is None else _fetch(tx, fetch, now)
    # As on Redis (BullMQ's moveToFinished): drained when nothing is waiting,
    # prioritized or active any more, whatever is delayed.
    handed_out = result is not None and result.job is not None
    if not handed_out and tx.run("jobs_unfinished_exist", tx.qid).fetchone() is None:
        tx.event("drained")
    tx.flush()
    if owns_dedup:
        ops_dedup.after_finish(conn, queue, tx, job_id, now)
    return result


def retry_job(
    conn: Conn,
    queue: str,
    job_id: str,
    token: str,
    retry: Retry,
    now: int,
    fetch: FetchRequest | None,
) -> Fetched | None:
    tx = existing(conn, queue, job_id, "retry_job")
    rowid, _, _, _, priority, lifo, _ = tx.locked(job_id, token, now, "retry_job")
    if retry.delay_ms > 0:
        due = now + retry.delay_ms
        place: tuple[str, int, int] = ("delayed", due, tx.back())
        delay: int | None = retry.delay_ms
        tx.event("delayed", jobId=job_id, delay=str(due))
    else:
        # As on Redis (BullMQ's retryJob): due delayed jobs go ahead of this one.
        _promote_due(tx, now)
        if priority > 0:
            place = ("prioritized", priority, tx.back())
        else:
            place = ("waiting", 0, tx.front() if lifo else tx.back())
        delay = None
        tx.event("waiting", jobId=job_id, prev="active")
    tx.run("job_retry", *place, delay, retry.reason, retry.stacktrace, rowid)
    result = _fetch(tx, fetch, now) if fetch is not None else None
    tx.flush()
    return result


def move_to_wait(conn: Conn, queue: str, job_id: str, token: str, now: int) -> int:
    tx = existing(conn, queue, job_id, "move_to_wait")
    rowid, _, _, _, priority, _, _ = tx.locked(job_id, token, now, "move_to_wait")
    if priority > 0:
        tx.run("job_requeue", "prioritized", priority, tx.front(), rowid)
    else:
        tx.run("job_requeue", "waiting", 0, tx.front(), rowid)
    tx.event("waiting", jobId=job_id, prev="active")
    tx.flush()
    # As on Redis: a worker limiter's window is the fetching worker's business; only
    # the queue's own limit (rate_limit's sentinel) counts here.
    return tx.rate_limit_ttl(now)


# -- locks and stalled jobs ------------------------------------------------------------


def _extend(
    conn: Conn, qid: int, job_id: str, token: str, until: int, now: int
) -> tuple[ErrorCode, str | None] | None:
    """Extend one lock to ``until`` with one statement; if it was refused, a second
    look says why: the code and the job's state (None when there is no job)."""
    if conn.sql.execute(Q["lock_extend"], (until, qid, job_id, token, now)).rowcount == 1:
        return None
    row = conn.sql.execute(Q["job_lock"], (qid, job_id)).fetchone()
    if row is None:
        return ErrorCode.JOB_NOT_EXIST, None
    _, state, held_by, lock_until, *_ = row
    # The update matched nothing, so one of the checks fails (-3 at the latest).
    return lock_refusal(state, held_by, lock_until, token, now) or ErrorCode.JOB_NOT_IN_STATE, state


def extend_lock(
    conn: Conn, queue: str, job_id: str, token: str, duration_ms: int, now: int
) -> None:
    qid = conn.find_qid(queue)
    if qid is None:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation="extend_lock")
    refused = _extend(conn, qid, job_id, token, now + duration_ms, now)
    if refused is not None:
        code, state = refused
        raise error_from_code(code, job_id=job_id, operation="extend_lock", state=state)


def extend_locks(
    conn: Conn, queue: str, locks: Sequence[tuple[str, str]], duration_ms: int, now: int
) -> dict[str, ErrorCode]:
    qid = conn.find_qid(queue)
    if qid is None:
        return {job_id: ErrorCode.JOB_NOT_EXIST for job_id, _ in locks}
    refused: dict[str, ErrorCode] = {}
    for job_id, token in locks:
        failure = _extend(conn, qid, job_id, token, now + duration_ms, now)
        if failure is not None:
            refused[job_id] = failure[0]
    return refused


def move_stalled_to_wait(
    conn: Conn, queue: str, max_stalled_count: int, stalled_interval_ms: int, now: int
) -> list[str]:
    tx = Tx(conn, conn.qid(queue))
    if now < tx.q.stalled_check_until:
        return []
    tx.run("queue_set_stalled_check", now + stalled_interval_ms, tx.qid)
    stalled: list[str] = []
    # Phase A: candidates marked at the previous check that are still active
    # and whose lock is gone go back to the front of wait.
    for rowid, job_id, counter, deferred in tx.run("stalled_candidates", tx.qid, now).fetchall():
        if counter + 1 > max_stalled_count:
            deferred = STALLED_LIMIT_REASON
        tx.run("job_stall", tx.front(), deferred, rowid)
        tx.event("waiting", jobId=job_id, prev="active")
        tx.event("stalled", jobId=job_id)
        stalled.append(job_id)
    # Phase B: every job active now is a candidate for the next check (requeued
    # jobs lost their mark; the others keep theirs).
    tx.run("stalled_mark_active", tx.qid)
    tx.flush()
    return stalled
