"""Cancellation on SQLite: ``cancel_job`` and ``get_cancel_requests``.

A job not yet running is failed in the cancel's own transaction; a running one
is marked in ``deferred_failure`` for the worker holding it (which polls with
``get_cancel_requests``), and a fetch fails it should it stall back instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from corral.backends.base import CANCEL_REASON_PREFIX, JobState, KeepJobs
from corral.backends.sqlite import ops_flows
from corral.backends.sqlite._tx import Tx
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q

__all__ = ["cancel_job", "get_cancel_requests"]

_UNCHANGED = frozenset({"completed", "failed"})


def cancel_job(
    conn: Conn, queue: str, job_id: str, reason: str, now: int, keep: KeepJobs
) -> JobState:
    qid = conn.find_qid(queue)
    if qid is None:
        return JobState.UNKNOWN
    tx = Tx(conn, qid)
    row = tx.run("cancel_job_row", qid, job_id).fetchone()
    if row is None:
        return JobState.UNKNOWN
    rowid, state = row
    if state in _UNCHANGED:
        return JobState(state)
    tx.event("cancelled", jobId=job_id, reason=reason, prev=state)
    if state == "active":
        tx.run("cancel_job_mark", reason, rowid)
        tx.flush()
        return JobState.ACTIVE
    family = ops_flows.Family(conn, tx)
    parent = tx.run("cancel_job_fail", now, tx.back(), now, reason, rowid).fetchone()
    ops_flows.on_child_finished(family, (qid, job_id), parent, False, reason, now)
    removed: list[tuple[str, int | None, str | None]] = []
    if keep.count == 0:
        tx.run("job_delete", rowid)
        removed.append((job_id, parent[0], parent[1]))
    else:
        if keep.age_ms is not None:
            removed += tx.run("finished_remove_older", qid, "failed", now - keep.age_ms).fetchall()
        if keep.count > 0:
            removed += tx.run("finished_keep_newest", qid, "failed", keep.count).fetchall()
    for gone_id, parent_qid, parent_id in removed:
        ops_flows.drop_pending(family, (qid, gone_id), (parent_qid, parent_id), now)
    tx.event("failed", jobId=job_id, failedReason=reason, prev=state)
    family.flush()
    tx.flush()
    return JobState(state)


def get_cancel_requests(conn: Conn, queue: str, job_ids: Sequence[str]) -> dict[str, str]:
    qid = conn.find_qid(queue)
    if qid is None or not job_ids:
        return {}
    asked = (qid, json.dumps(list(job_ids)), CANCEL_REASON_PREFIX)
    rows = conn.sql.execute(Q["cancel_requests"], asked).fetchall()
    return {str(job_id): str(reason) for job_id, reason in rows}
