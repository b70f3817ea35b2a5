"""Every read on SQLite: jobs, states, counts, listings, logs, events, queue flags.

One synchronous function per read-only :class:`~corral.backends.base.Backend`
operation (plus :func:`peek_work` and :func:`read_events`' cursor step, which
the backend's blocking calls are built on), each run by
:class:`~corral.backends.sqlite.connection.Database` in a read transaction, so
it sees one consistent state. A read never registers a queue: a queue never
used reads as empty.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from corral.backends.base import Event, JobRecord, JobState
from corral.backends.sqlite._tx import Tx, record
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q

__all__ = [
    "events_cursor",
    "get_counts",
    "get_job",
    "get_jobs",
    "get_logs",
    "get_rate_limit_ttl",
    "get_state",
    "is_paused",
    "list_queues",
    "peek_work",
    "read_events",
]

_OLDEST_FIRST = frozenset(
    {JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED, JobState.WAITING_CHILDREN}
)
_NEWEST_FIRST = frozenset({JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED})


def _window(start: int, end: int, total: int) -> tuple[int, int]:
    """``[start, end]`` (inclusive, negatives count from the end) as ``(offset, limit)``."""
    if start < 0:
        start = max(total + start, 0)
    if end < 0:
        end = total + end
    return start, max(end - start + 1, 0)


# -- one job ------------------------------------------------------------------------


def get_job(conn: Conn, queue: str, job_id: str) -> JobRecord | None:
    qid = conn.find_qid(queue)
    row = None if qid is None else conn.sql.execute(Q["job_get"], (qid, job_id)).fetchone()
    return None if row is None else record(row)


def get_state(conn: Conn, queue: str, job_id: str) -> JobState:
    qid = conn.find_qid(queue)
    row = None if qid is None else conn.sql.execute(Q["job_state"], (qid, job_id)).fetchone()
    return JobState.UNKNOWN if row is None else JobState(row[0])


def get_logs(conn: Conn, queue: str, job_id: str, start: int, end: int) -> tuple[list[str], int]:
    qid = conn.find_qid(queue)
    if qid is None:
        return [], 0
    total = int(conn.sql.execute(Q["log_count"], (qid, job_id)).fetchone()[0])
    offset, limit = _window(start, end, total)
    rows = conn.sql.execute(Q["log_page"], (qid, job_id, limit, offset)).fetchall()
    return [str(row[0]) for row in rows], total


# -- many jobs ----------------------------------------------------------------------


def get_counts(conn: Conn, queue: str, states: Sequence[JobState]) -> dict[JobState, int]:
    qid = conn.find_qid(queue)
    stored: dict[str, int] = {}
    if qid is not None:
        conn.flush_counts()
        stored = {str(s): int(n) for s, n in conn.sql.execute(Q["jobs_counts"], (qid,))}
    return {state: stored.get(state.value, 0) for state in states}


def get_jobs(
    conn: Conn, queue: str, states: Sequence[JobState], start: int, end: int
) -> list[JobRecord]:
    qid = conn.find_qid(queue)
    listed = [s for s in states if s in _OLDEST_FIRST or s in _NEWEST_FIRST]
    if qid is None or not listed:
        return []
    conn.flush_counts()
    counts = [int(conn.sql.execute(Q["jobs_count"], (qid, s.value)).fetchone()[0]) for s in listed]
    skip, want = _window(start, end, sum(counts))
    jobs: list[JobRecord] = []
    for state, count in zip(listed, counts, strict=True):
        if want <= 0:
            break
        if skip >= count:
            skip -= count
            continue
        rows = _page(conn, qid, state, skip, min(want, count - skip), count)
        jobs.extend(record(row) for row in rows)
        want -= len(rows)
        skip = 0
    return jobs


def _page(conn: Conn, qid: int, state: JobState, skip: int, take: int, count: int) -> list[Any]:
    """``take`` job rows of one state after the first ``skip`` of its ``count``, in its
    listing order. An index steps over the skipped entries one by one, so a page past
    the middle is read from the far end (and turned round): a page costs at most
    half the state's entries, and the first and last pages almost nothing."""
    forward = state in _OLDEST_FIRST
    from_end = count - skip - take
    turned = from_end < skip
    if turned:
        forward, skip = not forward, from_end
    query = "jobs_page_oldest_first" if forward else "jobs_page_newest_first"
    rows = conn.sql.execute(Q[query], (qid, state.value, take, skip)).fetchall()
    if turned:
        rows.reverse()
    return rows


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


# -- events ------------------------------------------------------------------------


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


# -- queues ------------------------------------------------------------------------


def list_queues(conn: Conn, prefix: str) -> list[str]:
    head = f"{prefix}:"
    return [str(row[0])[len(head) :] for row in conn.sql.execute(Q["queues_in_use"], (head,))]


def get_rate_limit_ttl(conn: Conn, queue: str, now: int) -> int:
    qid = conn.find_qid(queue)
    if qid is None:
        return 0
    tx = Tx(conn, qid)
    # As on Redis: a worker limiter's window is the fetching worker's business; only
    # the queue's own limits (rate_limit's sentinel, a global rate limit) count here.
    rate_max = conn.sql.execute(Q["queue_global_limits"], (qid,)).fetchone()[1]
    return tx.rate_limit_ttl(now, int(rate_max))


def is_paused(conn: Conn, queue: str) -> bool:
    qid = conn.find_qid(queue)
    return qid is not None and bool(Tx(conn, qid).q.paused)
