"""One synchronous function per Backend operation, each run as one transaction.

:class:`~corral.backends.sqlite.connection.Database` calls these on its thread
inside ``BEGIN IMMEDIATE … COMMIT`` (the read-only ones inside a deferred
``BEGIN``), so each is atomic: a refusal raises before anything is written, or
the transaction is rolled back. The names match the :class:`Backend` methods
(and the Redis scripts); the SQL is in ``queries.sql`` and used as ``Q[name]``.

Ordering. Every line is ordered by ``(lane, seq)`` in the index
``jobs_by_line (qid, state, lane, seq)``, so the next job is one index seek however
many wait. ``seq`` comes from two per-queue counters: ``seq_back`` counts up
(the back of a line, like BullMQ's LPUSH) and ``seq_front`` counts down (the
front, like RPUSH), so placing a job costs no lookup. ``lane`` is 0 in wait, the
priority in prioritized, the due time in delayed and ``finished_on`` in
completed / failed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from corral.backends.base import (
    RATE_LIMIT_SENTINEL,
    STALLED_LIMIT_REASON,
    Completed,
    Event,
    Failed,
    Fetched,
    FetchRequest,
    JobRecord,
    JobState,
    NewJob,
    Retry,
)
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q
from corral.errors import CorruptJobError, ErrorCode, ObliterateError, error_from_code

MAX_EVENTS = 10_000
"""Events kept per queue (about: the log is trimmed every TRIM_EVERY inserts)."""

TRIM_EVERY = 500

_STATES_IN_TABLE = frozenset({"waiting", "prioritized", "delayed", "active", "completed", "failed"})


# Integer columns of a job row (in _record's order) by their BullMQ field names.
_INT_FIELDS = {
    4: "timestamp", 5: "delay", 6: "priority", 8: "atm", 9: "ats", 10: "stc",
    11: "processedOn", 12: "finishedOn",
}  # fmt: skip
_TEXT_FIELDS = {1: "name", 2: "data", 3: "opts"}


def _record(row: Sequence[Any]) -> JobRecord:
    """A job row as a record; a hand-edited column of the wrong type raises
    CorruptJobError naming the job and the field."""
    for index, field in _INT_FIELDS.items():
        value = row[index]
        if not isinstance(value, int) and (value is not None or index < 11):
            raise CorruptJobError(str(row[0]), field, f"expected an integer, got {value!r}")
    for index, field in _TEXT_FIELDS.items():
        if not isinstance(row[index], str):
            raise CorruptJobError(str(row[0]), field, f"expected text, got {row[index]!r}")
    return JobRecord(*row)


@dataclass(slots=True)
class _QueueRow:
    qid: int
    id_counter: int
    seq_back: int
    seq_front: int
    paused: int
    limiter_count: int
    limiter_expires_at: int
    limiter_max: int
    stalled_check_until: int


class _Tx:
    """One operation on one queue: its row, its new line positions and its events."""

    def __init__(self, conn: Conn, qid: int) -> None:
        self.sql = conn.sql
        self.qid = qid
        row = self.sql.execute(Q["queue_get"], (qid,)).fetchone()
        self.q = _QueueRow(qid, *row)
        self._seq_moved = False
        self._events: list[tuple[int, str, str]] = []

    def back(self) -> int:
        """A sequence number behind every job of every line."""
        self.q.seq_back += 1
        self._seq_moved = True
        return self.q.seq_back

    def front(self) -> int:
        """A sequence number ahead of every job of every line."""
        self.q.seq_front -= 1
        self._seq_moved = True
        return self.q.seq_front

    def event(self, name: str, /, **fields: str) -> None:
        self._events.append((self.qid, name, json.dumps(fields, separators=(",", ":"))))

    def run(self, query: str, *args: object) -> sqlite3.Cursor:
        return self.sql.execute(Q[query], args)

    def done(self) -> None:
        """Write the counters and events collected by the operation."""
        if self._seq_moved:
            self.run("queue_set_seq", self.q.seq_back, self.q.seq_front, self.qid)
        if self._events:
            self.sql.executemany(Q["event_insert"], self._events)
            last = int(self.run("last_rowid").fetchone()[0])
            if last // TRIM_EVERY != (last - len(self._events)) // TRIM_EVERY:
                self.run("events_trim", self.qid, self.qid, MAX_EVENTS)
            self._events.clear()

    def locked(self, job_id: str, token: str, now: int, operation: str) -> tuple[Any, ...]:
        """The job's lock row if ``token`` holds its live lock and it is active; else refuse."""
        row = self.run("job_lock", self.qid, job_id).fetchone()
        if row is None:
            raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation=operation)
        _, state, held_by, lock_until, *_ = row
        if held_by is None or lock_until is None or lock_until <= now:
            code = ErrorCode.JOB_LOCK_NOT_EXIST
        elif held_by != token:
            code = ErrorCode.JOB_LOCK_MISMATCH
        elif state != "active":
            code = ErrorCode.JOB_NOT_IN_STATE
        else:
            return tuple(row)
        raise error_from_code(code, job_id=job_id, operation=operation)

    def rate_limit_ttl(self, now: int, limiter_max: int = 0) -> int:
        """ms left while the window is full (sentinel, or ``limiter_max`` reached), else 0."""
        q = self.q
        if q.limiter_expires_at <= now:
            return 0
        full = q.limiter_count >= RATE_LIMIT_SENTINEL or (
            limiter_max > 0 and q.limiter_count >= limiter_max
        )
        return q.limiter_expires_at - now if full else 0


def _existing(conn: Conn, queue: str, job_id: str, operation: str) -> _Tx:
    qid = conn.find_qid(queue)
    if qid is None:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation=operation)
    return _Tx(conn, qid)


# -- adding ----------------------------------------------------------------------


def add_jobs(conn: Conn, queue: str, jobs: Sequence[NewJob]) -> list[str]:
    tx = _Tx(conn, conn.qid(queue))
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
    tx.done()
    return ids


# -- fetching ----------------------------------------------------------------------


def _promote_due(tx: _Tx, now: int) -> int:
    """Move delayed jobs due by ``now`` to the back of their line; return how many."""
    due = tx.run("delayed_due", tx.qid, now).fetchall()
    for rowid, job_id, priority in due:
        state, lane = ("prioritized", priority) if priority > 0 else ("waiting", 0)
        tx.run("job_promote", state, lane, tx.back(), rowid)
        tx.event("waiting", jobId=job_id, prev="delayed")
    return len(due)


def _fetch(tx: _Tx, fetch: FetchRequest, now: int) -> tuple[Fetched, bool]:
    """The fetch step shared by every operation that hands out a job.

    Returns the result and whether the queue simply had nothing (not paused,
    not limited, nothing delayed): the case where a finish reports ``drained``.
    """
    _promote_due(tx, now)
    q = tx.q
    limited = tx.rate_limit_ttl(now, fetch.limiter.max if fetch.limiter else 0)
    if limited:
        return Fetched(None, rate_limited_for_ms=limited), False
    if q.paused:
        return Fetched(None), False
    row = tx.run("job_next", tx.qid, "waiting").fetchone()
    if row is None:
        row = tx.run("job_next", tx.qid, "prioritized").fetchone()
    if row is None:
        due = tx.run("delayed_next", tx.qid).fetchone()
        if due is not None:
            return Fetched(None, next_delayed_at_ms=int(due[0])), False
        return Fetched(None), True
    rowid, deferred_failure = row
    limiter = fetch.limiter
    if limiter is not None and deferred_failure is None:
        if q.limiter_expires_at <= now:
            q.limiter_count, q.limiter_expires_at = 1, now + limiter.duration_ms
        else:
            q.limiter_count += 1
        q.limiter_max = limiter.max
        tx.run("queue_set_limiter", q.limiter_count, q.limiter_expires_at, q.limiter_max, tx.qid)
    row = tx.run(
        "job_activate",
        tx.back(),
        fetch.token,
        now + fetch.lock_duration_ms,
        now,
        fetch.worker_name,
        rowid,
    ).fetchone()
    tx.event("active", jobId=row[0], prev="waiting")
    try:
        job = _record(row)
    except CorruptJobError as exc:
        # Unreadable: fail it now with the reason, and hand out the next job instead.
        tx.run("job_fail", now, tx.back(), now, str(exc), "[]", rowid)
        tx.event("failed", jobId=exc.job_id, failedReason=str(exc), prev="active")
        return _fetch(tx, fetch, now)
    return Fetched(job), False


def move_to_active(conn: Conn, queue: str, fetch: FetchRequest, now: int) -> Fetched:
    tx = _Tx(conn, conn.qid(queue))
    fetched, _ = _fetch(tx, fetch, now)
    tx.done()
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
    tx = _existing(conn, queue, job_id, "move_to_finished")
    rowid, *_, attempts_made = tx.locked(job_id, token, now, "move_to_finished")
    attempts_made += 1
    if isinstance(outcome, Completed):
        target = "completed"
        tx.run("job_complete", now, tx.back(), now, outcome.return_value, rowid)
        tx.event("completed", jobId=job_id, returnvalue=outcome.return_value, prev="active")
    else:
        target = "failed"
        tx.run("job_fail", now, tx.back(), now, outcome.reason, outcome.stacktrace, rowid)
        tx.event("failed", jobId=job_id, failedReason=outcome.reason, prev="active")
        if attempts_made >= outcome.attempts:
            tx.event("retries-exhausted", jobId=job_id, attemptsMade=str(attempts_made))
    keep = outcome.keep
    if keep.count == 0:
        tx.run("job_delete", rowid)
    else:
        if keep.age_ms is not None:
            tx.run("finished_remove_older", tx.qid, target, now - keep.age_ms)
        if keep.count > 0:
            tx.run("finished_keep_newest", tx.qid, target, keep.count)
    result: Fetched | None = None
    idle = True
    if fetch is not None:
        result, idle = _fetch(tx, fetch, now)
    if idle and tx.run("jobs_unfinished_exist", tx.qid).fetchone() is None:
        tx.event("drained")
    tx.done()
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
    tx = _existing(conn, queue, job_id, "retry_job")
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
    result = _fetch(tx, fetch, now)[0] if fetch is not None else None
    tx.done()
    return result


def move_to_wait(conn: Conn, queue: str, job_id: str, token: str, now: int) -> int:
    tx = _existing(conn, queue, job_id, "move_to_wait")
    rowid, _, _, _, priority, _, _ = tx.locked(job_id, token, now, "move_to_wait")
    if priority > 0:
        tx.run("job_requeue", "prioritized", priority, tx.front(), rowid)
    else:
        tx.run("job_requeue", "waiting", 0, tx.front(), rowid)
    tx.event("waiting", jobId=job_id, prev="active")
    tx.done()
    return tx.rate_limit_ttl(now, tx.q.limiter_max)


# -- locks and stalled jobs ------------------------------------------------------------


def extend_locks(
    conn: Conn, queue: str, locks: Sequence[tuple[str, str]], duration: int, now: int
) -> list[str]:
    qid = conn.find_qid(queue)
    if qid is None:
        return [job_id for job_id, _ in locks]
    failed: list[str] = []
    for job_id, token in locks:
        cur = conn.sql.execute(Q["lock_extend"], (now + duration, qid, job_id, token, now))
        if cur.rowcount != 1:
            failed.append(job_id)
    return failed


def move_stalled_to_wait(
    conn: Conn, queue: str, max_stalled_count: int, stalled_interval: int, now: int
) -> list[str]:
    tx = _Tx(conn, conn.qid(queue))
    if now < tx.q.stalled_check_until:
        return []
    tx.run("queue_set_stalled_check", now + stalled_interval, tx.qid)
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
    tx.done()
    return stalled


# -- reading ------------------------------------------------------------------------


def get_job(conn: Conn, queue: str, job_id: str) -> JobRecord | None:
    qid = conn.find_qid(queue)
    row = None if qid is None else conn.sql.execute(Q["job_get"], (qid, job_id)).fetchone()
    return None if row is None else _record(row)


def get_state(conn: Conn, queue: str, job_id: str) -> JobState:
    qid = conn.find_qid(queue)
    row = None if qid is None else conn.sql.execute(Q["job_state"], (qid, job_id)).fetchone()
    return JobState.UNKNOWN if row is None else JobState(row[0])


def get_counts(conn: Conn, queue: str, states: Sequence[JobState]) -> dict[JobState, int]:
    qid = conn.find_qid(queue)
    counts: dict[JobState, int] = {}
    for state in states:
        if qid is None or state.value not in _STATES_IN_TABLE:
            counts[state] = 0
        else:
            counts[state] = int(conn.sql.execute(Q["jobs_count"], (qid, state.value)).fetchone()[0])
    return counts


def read_events(conn: Conn, queue: str, after: int | None, count: int) -> tuple[list[Event], int]:
    """Events after cursor ``after`` (None: the newest id, so none yet) and the new cursor."""
    qid = conn.find_qid(queue)
    if qid is None:
        return [], after or 0
    if after is None:
        row = conn.sql.execute(Q["event_last_id"], (qid,)).fetchone()
        return [], int(row[0]) if row else 0
    rows = conn.sql.execute(Q["events_after"], (qid, after, count)).fetchall()
    events = [Event(str(i), name, json.loads(fields)) for i, name, fields in rows]
    return events, int(rows[-1][0]) if rows else after


def events_cursor(conn: Conn, queue: str) -> str:
    """The id of the queue's newest event ("0" when it has none)."""
    qid = conn.find_qid(queue)
    row = None if qid is None else conn.sql.execute(Q["event_last_id"], (qid,)).fetchone()
    return str(row[0]) if row else "0"


def peek_work(conn: Conn, queue: str) -> tuple[bool, int | None]:
    """For ``wait_for_job``: whether a fetch may find a job now, and the next due time."""
    qid = conn.find_qid(queue)
    if qid is None:
        return False, None
    paused = conn.sql.execute(Q["queue_get"], (qid,)).fetchone()[3]
    if not paused and conn.sql.execute(Q["jobs_ready_exist"], (qid,)).fetchone():
        return True, None
    due = conn.sql.execute(Q["delayed_next"], (qid,)).fetchone()
    return False, None if due is None else int(due[0])


# -- queue-wide ------------------------------------------------------------------------


def rate_limit(conn: Conn, queue: str, duration: int, now: int) -> None:
    tx = _Tx(conn, conn.qid(queue))
    tx.run("queue_set_limiter", RATE_LIMIT_SENTINEL, now + duration, tx.q.limiter_max, tx.qid)


def get_rate_limit_ttl(conn: Conn, queue: str, now: int) -> int:
    qid = conn.find_qid(queue)
    if qid is None:
        return 0
    tx = _Tx(conn, qid)
    return tx.rate_limit_ttl(now, tx.q.limiter_max)


def pause(conn: Conn, queue: str) -> None:
    tx = _Tx(conn, conn.qid(queue))
    tx.run("queue_set_paused", 1, tx.qid)
    tx.event("paused")
    tx.done()


def resume(conn: Conn, queue: str) -> None:
    tx = _Tx(conn, conn.qid(queue))
    tx.run("queue_set_paused", 0, tx.qid)
    tx.event("resumed")
    tx.done()


def is_paused(conn: Conn, queue: str) -> bool:
    qid = conn.find_qid(queue)
    return qid is not None and bool(_Tx(conn, qid).q.paused)


def obliterate(conn: Conn, queue: str, force: bool) -> None:
    qid = conn.find_qid(queue)
    tx = None if qid is None else _Tx(conn, qid)
    if tx is None or not tx.q.paused:
        raise ObliterateError(f"cannot obliterate queue {queue!r}: it is not paused")
    active = int(tx.run("jobs_count", tx.qid, "active").fetchone()[0])
    if active and not force:
        raise ObliterateError(
            f"cannot obliterate queue {queue!r}: it has {active} active job(s); "
            "pass force=True to remove them too"
        )
    tx.run("logs_delete_queue", tx.qid)
    tx.run("jobs_delete_queue", tx.qid)
    tx.run("events_delete_queue", tx.qid)
    tx.run("queue_reset", tx.qid)
