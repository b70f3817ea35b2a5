"""What every SQLite operation is built from: the unit of work and row decoding.

:class:`Tx` is one operation on one queue, inside the transaction the
:class:`~corral.backends.sqlite.connection.Database` thread opened: it reads the
queue's row once, hands out line positions, collects events, checks locks, and
:meth:`Tx.flush` writes what it collected. :func:`record` turns a job row into a
:class:`~corral.backends.base.JobRecord`. The ``ops*`` modules use these and
nothing else of one another.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from corral.backends.base import RATE_LIMIT_SENTINEL, JobRecord, ParentLink, ParentPolicy
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q
from corral.errors import CorruptJobError, ErrorCode, error_from_code

__all__ = [
    "MAX_EVENTS",
    "TRIM_EVERY",
    "QueueRow",
    "Tx",
    "existing",
    "lock_refusal",
    "record",
    "shared_tx",
]

MAX_EVENTS = 10_000
"""Events kept per queue (about: the log is trimmed every TRIM_EVERY inserts)."""

TRIM_EVERY = 500
"""How many event inserts pass between trims of a queue's event log."""

_ROWS_AT_ONCE = 64
"""Events written by one multi-row INSERT (more go through ``executemany``)."""

_EVENT_INSERTS = tuple(
    Q["event_insert"] + ", (?, ?, ?)" * (n - 1) for n in range(1, _ROWS_AT_ONCE + 1)
)
"""``event_insert`` with 1, 2, … rows of values: one statement, and the last id
from the cursor (no ``last_insert_rowid()`` statement)."""

_compact = json.JSONEncoder(separators=(",", ":")).encode
"""``json.dumps(…, separators=(",", ":"))`` without making an encoder per call."""

_quote = encode_basestring_ascii
"""A string as JSON, exactly as ``_compact`` writes it (the encoder's own C function)."""


def _fields_json(fields: dict[str, str]) -> str:
    """An event's fields as ``_compact`` writes them, about three times faster (the
    fields are strings: one C call per key and per value); anything else goes
    through ``_compact``."""
    try:
        return "{" + ",".join([_quote(k) + ":" + _quote(v) for k, v in fields.items()]) + "}"
    except TypeError:
        return _compact(fields)


# Integer columns of a job row (in record's order) by their BullMQ field names.
_INT_FIELDS = {
    4: "timestamp", 5: "delay", 6: "priority", 8: "atm", 9: "ats", 10: "stc",
    11: "processedOn", 12: "finishedOn",
}  # fmt: skip
_TEXT_FIELDS = {1: "name", 2: "data", 3: "opts"}


def record(row: Sequence[Any]) -> JobRecord:
    """A job row (the columns ``queries.sql`` lists for a record) as a record; a
    hand-edited column of the wrong type raises CorruptJobError naming the job and
    the field."""
    for index, field in _INT_FIELDS.items():
        value = row[index]
        if not isinstance(value, int) and (value is not None or index < 11):
            raise CorruptJobError(str(row[0]), field, f"expected an integer, got {value!r}")
    for index, field in _TEXT_FIELDS.items():
        if not isinstance(row[index], str):
            raise CorruptJobError(str(row[0]), field, f"expected text, got {row[index]!r}")
    if len(row) == 18 or row[18] is None:
        return JobRecord(*row[:18])
    queue_key, _, parent_id = str(row[18]).rpartition(":")
    policy = row[19] if row[19] in _POLICIES else ParentPolicy.NONE
    fields: list[Any] = [*row[:18], ParentLink(queue_key, parent_id, ParentPolicy(policy))]
    return JobRecord(*fields)


_POLICIES = frozenset(p.value for p in ParentPolicy)


def lock_refusal(
    state: str, held_by: str | None, lock_until: int | None, token: str, now: int
) -> ErrorCode | None:
    """Why ``token`` may not move a job with this lock at ``now``, or None if it may.

    Checked in BullMQ's order: no live lock (-2), another holder (-6), not active (-3).
    """
    if held_by is None or lock_until is None or lock_until <= now:
        return ErrorCode.JOB_LOCK_NOT_EXIST
    if held_by != token:
        return ErrorCode.JOB_LOCK_MISMATCH
    if state != "active":
        return ErrorCode.JOB_NOT_IN_STATE
    return None


@dataclass(slots=True)
class QueueRow:
    """A queue's counters, flags and global limits, as read at the start of an operation."""

    qid: int
    id_counter: int
    seq_back: int
    seq_front: int
    paused: int
    limiter_count: int
    limiter_expires_at: int
    limiter_max: int
    stalled_check_until: int
    global_concurrency: int
    global_rate_max: int
    global_rate_duration: int


class Tx:
    """One operation on one queue: its row, its new line positions and its events."""

    def __init__(self, conn: Conn, qid: int, *, deferred: bool = False) -> None:
        if not deferred and conn.shared:
            # Another Tx may hold this queue's row: write what the shared ones hold,
            # so this one reads it as it stands.
            conn.end_sharing()
        self.conn = conn
        self.sql = conn.sql
        self.qid = qid
        row = self.sql.execute(Q["queue_get"], (qid,)).fetchone()
        self.q = QueueRow(qid, *row)
        self._seq_moved = False
        self._events: list[tuple[int, str, str]] = []
        self.deferred = deferred
        """Shared by the operations of a group commit: :meth:`flush` waits for
        :meth:`Conn.end_sharing`."""

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
        """Record an event; it is written by :meth:`flush`."""
        self._events.append((self.qid, name, _fields_json(fields)))

    def run(self, query: str, *args: object) -> sqlite3.Cursor:
        """Run the named query of ``queries.sql`` with ``args``."""
        return self.sql.execute(Q[query], args)

    def flush(self) -> None:
        """Write what the operation collected: the moved line counters and its events
        (trimming the queue's event log when it has grown by TRIM_EVERY). A shared
        Tx (see :func:`shared_tx`) is written once, when the sharing ends."""
        if self.deferred:
            return
        if self._seq_moved:
            self._seq_moved = False
            self.run("queue_set_seq", self.q.seq_back, self.q.seq_front, self.qid)
        events = self._events
        if events:
            if len(events) <= _ROWS_AT_ONCE:
                values = [value for event in events for value in event]
                last = self.sql.execute(_EVENT_INSERTS[len(events) - 1], values).lastrowid
            else:
                self.sql.executemany(Q["event_insert"], events)
                last = self.run("last_rowid").fetchone()[0]
            last = int(last or 0)
            if last // TRIM_EVERY != (last - len(events)) // TRIM_EVERY:
                self.run("events_trim", self.qid, self.qid, MAX_EVENTS)
            events.clear()

    def locked(self, job_id: str, token: str, now: int, operation: str) -> tuple[Any, ...]:
        """The job's ``job_lock`` row if ``token`` holds its live lock and it is
        active; else refuse, with the job's state."""
        row = self.run("job_lock", self.qid, job_id).fetchone()
        return self.check_lock(row, job_id, token, now, operation)

    def check_lock(
        self, row: Sequence[Any] | None, job_id: str, token: str, now: int, operation: str
    ) -> tuple[Any, ...]:
        """:meth:`locked` on a row already read (its first columns are ``job_lock``'s)."""
        if row is None:
            raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation=operation)
        _, state, held_by, lock_until, *_ = row
        code = lock_refusal(state, held_by, lock_until, token, now)
        if code is not None:
            raise error_from_code(code, job_id=job_id, operation=operation, state=state)
        return tuple(row)

    def rate_limit_ttl(self, now: int, limiter_max: int = 0) -> int:
        """ms left while the window is full (sentinel, or ``limiter_max`` reached), else 0."""
        q = self.q
        if q.limiter_expires_at <= now:
            return 0
        full = q.limiter_count >= RATE_LIMIT_SENTINEL or (
            limiter_max > 0 and q.limiter_count >= limiter_max
        )
        return q.limiter_expires_at - now if full else 0


def shared_tx(conn: Conn, qid: int) -> Tx:
    """A :class:`Tx` on ``qid`` for an operation that may share it with the
    operations before and after it in the group commit (fetching and finishing):
    the queue's row is read once, and its line counters and events written once,
    for the whole group. Outside a sharing group (see :meth:`Conn.end_sharing`), a
    Tx of its own. Only operations that change the queue's row through the Tx
    itself may share one."""
    cache = conn.shared
    if cache is None:
        return Tx(conn, qid)
    tx = cache.get(qid)
    if tx is None:
        tx = cache[qid] = Tx(conn, qid, deferred=True)
    return tx


def existing(conn: Conn, queue: str, job_id: str, operation: str, *, shared: bool = False) -> Tx:
    """A :class:`Tx` on a queue that must exist, since the operation names one of
    its jobs: a queue never used refuses with -1 (the job cannot exist). ``shared``:
    from :func:`shared_tx`."""
    qid = conn.find_qid(queue)
    if qid is None:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation=operation)
    return shared_tx(conn, qid) if shared else Tx(conn, qid)
