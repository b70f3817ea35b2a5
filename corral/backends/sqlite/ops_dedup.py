"""Deduplication on SQLite: the rules of BullMQ 6's ``de:<id>`` keys, in SQL rows.

A ``dedup_keys`` row is a live ``de:<id>`` key: the id of the job that owns the
deduplication id, until ``expires_at`` (NULL: no expiry, it goes when its owner
finishes). A ``dedup_next`` row is ``dn:<id>``: the job kept aside by
``keepLastIfActive`` until the active owner finishes. The functions run inside
the operation that calls them (an add, a finish, a remove), in its transaction;
TTLs are judged by the adding caller's ``now``, as every time on SQLite.
"""

from __future__ import annotations

import json

from corral.backends.base import DedupRule, NewJob
from corral.backends.sqlite._tx import Tx
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q

__all__ = [
    "after_finish",
    "deduplicate",
    "get_deduplication_job_id",
    "on_removed",
    "remove_deduplication_key",
]


class _Keys:
    """The dedup rows of one queue, at one ``now``."""

    def __init__(self, tx: Tx, now: int) -> None:
        self.tx = tx
        self.sql = tx.sql
        self.qid = tx.qid
        self.now = now

    def get(self, dedup_id: str) -> tuple[str, int | None] | None:
        row = self.sql.execute(Q["dedup_get"], (self.qid, dedup_id)).fetchone()
        if row is None:
            return None
        job_id, expires_at = row
        if expires_at is not None and expires_at <= self.now:
            self.sql.execute(Q["dedup_delete"], (self.qid, dedup_id))
            return None
        return str(job_id), expires_at

    def set(self, dedup_id: str, job_id: str, ttl_ms: int) -> None:
        expires = self.now + ttl_ms if ttl_ms > 0 else None
        self.sql.execute(Q["dedup_put"], (self.qid, dedup_id, job_id, expires))

    def set_keep_ttl(self, dedup_id: str, job_id: str) -> None:
        self.sql.execute(Q["dedup_set_owner"], (job_id, self.qid, dedup_id))

    def owner_state(self, job_id: str) -> str | None:
        row = self.sql.execute(Q["job_row_state"], (self.qid, job_id)).fetchone()
        return None if row is None else str(row[1])


def _set_for(keys: _Keys, dedup: DedupRule, dedup_id: str, job_id: str) -> None:
    keys.set(dedup_id, job_id, 0 if dedup.keep_last_if_active else dedup.ttl_ms)


def _recover_stale(
    keys: _Keys, dedup: DedupRule, current: tuple[str, int | None], job_id: str
) -> bool:
    """A key without expiry whose owner is gone (lost in an outage) is stale: the
    incoming job takes it over."""
    owner, expires_at = current
    if expires_at is None and keys.owner_state(owner) is None:
        keys.sql.execute(Q["dedup_next_delete"], (keys.qid, dedup.id))
        _set_for(keys, dedup, dedup.id, job_id)
        return True
    return False


def _keep_next(keys: _Keys, dedup: DedupRule, owner: str, job_id: str, job: NewJob) -> bool:
    """keepLastIfActive: an add that meets an active owner is kept aside (the latest
    one wins) and the owner's key stops expiring while it runs."""
    if not dedup.keep_last_if_active or keys.owner_state(owner) != "active":
        return False
    kept = {
        "name": job.name, "data": job.data, "opts": job.opts, "jid": job_id,
        "delay": job.delay_ms, "priority": job.priority, "lifo": job.lifo,
        "ttl": dedup.ttl_ms, "extend": dedup.extend, "replace": dedup.replace,
        "reschedule": dedup.reschedule,
    }  # fmt: skip
    keys.sql.execute(Q["dedup_next_put"], (keys.qid, dedup.id, json.dumps(kept)))
    keys.sql.execute(Q["dedup_persist"], (keys.qid, dedup.id))
    _deduplicated(keys.tx, owner, dedup.id, job_id)
    return True


def _deduplicated(tx: Tx, kept: str, dedup_id: str, refused: str) -> None:
    tx.event("deduplicated", jobId=kept, deduplicationId=dedup_id, deduplicatedJobId=refused)


def deduplicate(tx: Tx, job_id: str, job: NewJob) -> str | None:
    """Apply ``job``'s deduplication before it is stored as ``job_id``: return the id of
    the job kept instead (nothing is to be added), or None (add it; the key is
    now ``job_id``'s)."""
    dedup = job.deduplication
    assert dedup is not None
    keys = _Keys(tx, dedup.now_ms)
    current = keys.get(dedup.id)
    if dedup.replace:
        if current is None:
            _set_for(keys, dedup, dedup.id, job_id)
            return None
        owner, _ = current
        row = keys.sql.execute(Q["job_row_state"], (keys.qid, owner)).fetchone()
        if row is not None and row[1] == "delayed":
            keys.sql.execute(Q["job_delete"], (row[0],))
            tx.event("removed", jobId=owner, prev="delayed")
            _deduplicated(tx, job_id, dedup.id, owner)
            keys.sql.execute(Q["dedup_next_delete"], (keys.qid, dedup.id))
            if not dedup.keep_last_if_active and not dedup.extend and dedup.ttl_ms > 0:
                keys.set_keep_ttl(dedup.id, job_id)
            else:
                _set_for(keys, dedup, dedup.id, job_id)
            return None
        if _recover_stale(keys, dedup, current, job_id):
            return None
        _keep_next(keys, dedup, owner, job_id, job)
        return owner
    if current is None:
        _set_for(keys, dedup, dedup.id, job_id)
        return None
    owner, _ = current
    if _recover_stale(keys, dedup, current, job_id):
        return None
    if _keep_next(keys, dedup, owner, job_id, job):
        return owner
    if dedup.extend and dedup.ttl_ms > 0:
        _set_for(keys, dedup, dedup.id, owner)
    _deduplicated(tx, owner, dedup.id, job_id)
    if dedup.reschedule:
        row = keys.sql.execute(Q["job_row_state"], (keys.qid, owner)).fetchone()
        if row is not None and row[1] == "delayed":
            due = job.timestamp_ms + job.delay_ms
            keys.sql.execute(Q["job_reschedule"], (job.delay_ms, due, tx.back(), row[0]))
            tx.event("delayed", jobId=owner, delay=str(due))
    return owner


def after_finish(conn: Conn, queue: str, tx: Tx, job_id: str, now: int) -> None:
    """A finished job frees the deduplication ids it owns that have no expiry (one
    with a ttl stays until it expires); an add kept aside for one of them
    (keepLastIfActive) is added now, under the id it was given, and takes it over."""
    owned = [str(r[0]) for r in tx.sql.execute(Q["dedup_owned"], (tx.qid, job_id)).fetchall()]
    if not owned:
        return
    tx.sql.execute(Q["dedup_release"], (tx.qid, job_id))
    jobs: list[NewJob] = []
    for dedup_id in owned:
        row = tx.sql.execute(Q["dedup_next_get"], (tx.qid, dedup_id)).fetchone()
        if row is None:
            continue
        tx.sql.execute(Q["dedup_next_delete"], (tx.qid, dedup_id))
        kept = json.loads(row[0])
        rule = DedupRule(
            dedup_id, kept["ttl"], kept["extend"], kept["replace"], True, kept["reschedule"], now
        )
        job = NewJob(kept["name"], kept["data"], kept["opts"], now, kept["delay"],
                     kept["priority"], kept["lifo"], kept["jid"], None, rule)  # fmt: skip
        jobs.append(job)
    if jobs:
        from corral.backends.sqlite import ops  # ops calls this module: import late

        ops.add_jobs(conn, queue, jobs)


def on_removed(tx: Tx, job_id: str) -> None:
    """A removed job frees every deduplication id it owns, and what was kept aside."""
    for (dedup_id,) in tx.sql.execute(Q["dedup_owned"], (tx.qid, job_id)).fetchall():
        tx.sql.execute(Q["dedup_delete"], (tx.qid, dedup_id))
        tx.sql.execute(Q["dedup_next_delete"], (tx.qid, dedup_id))


def get_deduplication_job_id(conn: Conn, queue: str, dedup_id: str, now: int) -> str | None:
    qid = conn.find_qid(queue)
    if qid is None:
        return None
    row = conn.sql.execute(Q["dedup_get"], (qid, dedup_id)).fetchone()
    if row is None or (row[1] is not None and row[1] <= now):
        return None
    return str(row[0])


def remove_deduplication_key(conn: Conn, queue: str, dedup_id: str) -> bool:
    qid = conn.find_qid(queue)
    if qid is None:
        return False
    return conn.sql.execute(Q["dedup_delete"], (qid, dedup_id)).rowcount == 1
