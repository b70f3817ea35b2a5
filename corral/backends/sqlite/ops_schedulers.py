"""Job schedulers on SQLite: one synchronous function per Backend operation.

A scheduler is a row of ``job_schedulers``: its next run and the fields of
BullMQ's ``repeat:<id>`` hash as JSON (:mod:`corral.backends.scheduler_fields`).
Its iterations are ordinary jobs named ``repeat:<id>:<due ms>``, added through
:func:`.ops.add_jobs` in the same transaction, so they take the queue's lines,
counters and events exactly as any added job does. The rules are those of the
Redis scripts (``lua/upsert_job_scheduler.lua``, ``lua/add_next_iteration.lua``).
"""

from __future__ import annotations

import json

from corral.backends.base import NewJob, SchedulerIteration, SchedulerRecord, SchedulerSpec
from corral.backends.scheduler_fields import every_next, scheduler_fields, scheduler_record
from corral.backends.sqlite import ops
from corral.backends.sqlite._tx import Tx
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q
from corral.errors import ErrorCode, error_from_code

__all__ = [
    "add_next_iteration",
    "get_job_scheduler",
    "get_job_schedulers",
    "get_job_schedulers_count",
    "remove_job_scheduler",
    "upsert_job_scheduler",
]

_PENDING = ("delayed", "prioritized", "waiting")


def _fields(text: str) -> dict[str, str]:
    try:
        raw = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None


def _add_iteration(
    conn: Conn,
    queue: str,
    job_id: str,
    name: str,
    data: str,
    iteration: SchedulerIteration,
    delay: int,
    now: int,
) -> None:
    opts = json.loads(iteration.opts)
    opts["jobId"] = job_id
    opts["delay"] = delay
    job = NewJob(
        name,
        data,
        json.dumps(opts, separators=(",", ":"), ensure_ascii=False),
        now,
        delay,
        iteration.priority,
        iteration.lifo,
        job_id,
    )
    ops.add_jobs(conn, queue, [job])


def upsert_job_scheduler(
    conn: Conn, queue: str, spec: SchedulerSpec, iteration: SchedulerIteration, now: int
) -> tuple[str, int]:
    qid = conn.qid(queue)
    sql = conn.sql
    found = sql.execute(Q["scheduler_get"], (qid, spec.id)).fetchone()
    prev: int | None = None if found is None else int(found[0])
    old = {} if found is None else _fields(found[1])
    due = iteration.due_ms
    offset: int | None = None
    same_every = False
    if spec.every_ms is not None:
        start_from = None
        if prev is not None and _int(old.get("every")) == spec.every_ms:
            start_from, same_every = prev, True
        due, offset = every_next(start_from, spec.every_ms, now, 0, spec.start_ms)
    removed = False
    if prev is not None:
        row = sql.execute(Q["job_row_state"], (qid, f"repeat:{spec.id}:{prev}")).fetchone()
        if row is not None and row[1] in _PENDING:
            sql.execute(Q["job_delete"], (row[0],))
            removed = True
    if removed and same_every and prev is not None:
        due = prev
        offset = _int(old.get("offset")) or offset
    job_id = f"repeat:{spec.id}:{due}"
    if sql.execute(Q["job_exists"], (qid, job_id)).fetchone():
        if spec.every_ms is None:
            raise error_from_code(
                ErrorCode.SCHEDULER_JOB_ID_COLLISION,
                operation="upsert_job_scheduler",
                job_id=job_id,
            )
        for _ in range(32):
            due += spec.every_ms
            job_id = f"repeat:{spec.id}:{due}"
            if not sql.execute(Q["job_exists"], (qid, job_id)).fetchone():
                break
        else:
            raise error_from_code(
                ErrorCode.SCHEDULER_JOB_SLOTS_BUSY, operation="upsert_job_scheduler", job_id=job_id
            )
    if offset is None and spec.every_ms is None:
        offset = 0
    count = _int(old.get("ic")) or 1
    fields = scheduler_fields(spec, offset, count)
    if spec.every_ms is None:
        fields["offset"] = "0"
    sql.execute(Q["scheduler_put"], (qid, spec.id, due, json.dumps(fields)))
    delay = max(due - now, 0)
    _add_iteration(conn, queue, job_id, spec.name, spec.data, iteration, delay, now)
    return job_id, delay


def add_next_iteration(
    conn: Conn,
    queue: str,
    scheduler_id: str,
    producer_id: str,
    iteration: SchedulerIteration,
    now: int,
) -> str | None:
    qid = conn.find_qid(queue)
    if qid is None:
        return None
    sql = conn.sql
    found = sql.execute(Q["scheduler_get"], (qid, scheduler_id)).fetchone()
    if found is None:
        return None
    prev = int(found[0])
    if producer_id != f"repeat:{scheduler_id}:{prev}":
        return None
    fields = _fields(found[1])
    due = iteration.due_ms
    every = _int(fields.get("every"))
    if every:
        due, offset = every_next(
            prev, every, now, _int(fields.get("offset")) or 0, _int(fields.get("startDate"))
        )
        fields.setdefault("offset", str(offset))
    job_id = f"repeat:{scheduler_id}:{due}"
    if sql.execute(Q["job_exists"], (qid, job_id)).fetchone():
        tx = Tx(conn, qid)
        tx.event("duplicated", jobId=job_id)
        tx.flush()
        return None
    fields["ic"] = str((_int(fields.get("ic")) or 0) + 1)
    sql.execute(Q["scheduler_put"], (qid, scheduler_id, due, json.dumps(fields)))
    delay = max(due - now, 0)
    name, data = fields.get("name", ""), fields.get("data", "{}")
    _add_iteration(conn, queue, job_id, name, data, iteration, delay, now)
    return job_id


def remove_job_scheduler(conn: Conn, queue: str, scheduler_id: str) -> bool:
    qid = conn.find_qid(queue)
    if qid is None:
        return False
    sql = conn.sql
    found = sql.execute(Q["scheduler_get"], (qid, scheduler_id)).fetchone()
    if found is None:
        return False
    pending = f"repeat:{scheduler_id}:{int(found[0])}"
    row = sql.execute(Q["job_row_state"], (qid, pending)).fetchone()
    if row is not None and row[1] == "delayed":
        sql.execute(Q["job_delete"], (row[0],))
        tx = Tx(conn, qid)
        tx.event("removed", jobId=pending, prev="delayed")
        tx.flush()
    sql.execute(Q["scheduler_delete"], (qid, scheduler_id))
    return True


def get_job_scheduler(conn: Conn, queue: str, scheduler_id: str) -> SchedulerRecord | None:
    qid = conn.find_qid(queue)
    if qid is None:
        return None
    found = conn.sql.execute(Q["scheduler_get"], (qid, scheduler_id)).fetchone()
    if found is None:
        return None
    return scheduler_record(scheduler_id, int(found[0]), _fields(found[1]))


def get_job_schedulers(
    conn: Conn, queue: str, start: int, end: int, asc: bool
) -> list[SchedulerRecord]:
    qid = conn.find_qid(queue)
    if qid is None:
        return []
    total = int(conn.sql.execute(Q["schedulers_count"], (qid,)).fetchone()[0])
    first = start if start >= 0 else max(total + start, 0)
    last = end if end >= 0 else total + end
    if last < first:
        return []
    rows = conn.sql.execute(
        Q["schedulers_asc" if asc else "schedulers_desc"], (qid, last - first + 1, first)
    ).fetchall()
    return [scheduler_record(r[0], int(r[1]), _fields(r[2])) for r in rows]


def get_job_schedulers_count(conn: Conn, queue: str) -> int:
    qid = conn.find_qid(queue)
    if qid is None:
        return 0
    return int(conn.sql.execute(Q["schedulers_count"], (qid,)).fetchone()[0])
