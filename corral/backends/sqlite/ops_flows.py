"""Flows on SQLite: parents and children, across queues (and prefixes) of one file.

A child's row names its parent (``parent_qid``, ``parent_id``, ``parent_key``,
``parent_policy``); a parent's children are rows of ``job_deps``, one per edge,
in four buckets (0 unprocessed, 1 processed, 2 ignored, 3 failed: Redis's
``<id>:dependencies``, ``:processed``, ``:failed``, ``:unsuccessful``). Whether a
parent still has a pending child is one probe of the index
``job_deps_by_bucket``, so finishing a child costs the same with 10 siblings or
10,000.

The functions here are the operations :mod:`.ops` and :mod:`.ops_admin` do not
own (``add_flow``, ``move_to_waiting_children``, ``get_dependencies``,
``get_dependency_counts``), and the steps those modules call when a job that may
be a child finishes, is removed or runs again. An operation that reaches other
queues through parent links keeps one :class:`~._tx.Tx` per queue in a
:class:`Family`, and names the queues that got work in ``conn.woken`` so the
backend wakes their waiters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from corral.backends.base import (
    DependencyBucket,
    DependencyCounts,
    DependencyPage,
    FlowEntry,
    ParentPolicy,
)
from corral.backends.sqlite._tx import Tx, existing
from corral.backends.sqlite.connection import Conn
from corral.backends.sqlite.sql import Q
from corral.errors import ErrorCode, error_from_code

__all__ = [
    "Family",
    "add_flow",
    "back_to_dependencies",
    "collecting",
    "completion_refused",
    "drop_pending",
    "get_dependencies",
    "get_dependency_counts",
    "move_to_waiting_children",
    "on_child_finished",
    "remove_family",
]

T = TypeVar("T")

PENDING, PROCESSED, IGNORED, FAILED = 0, 1, 2, 3
_BUCKETS = {
    DependencyBucket.PROCESSED: PROCESSED,
    DependencyBucket.UNPROCESSED: PENDING,
    DependencyBucket.IGNORED: IGNORED,
    DependencyBucket.FAILED: FAILED,
}


def collecting(conn: Conn, fn: Callable[..., T], *args: Any) -> tuple[T, set[str]]:
    """Run ``fn(conn, *args)``; also return the queues (stored names) that got work."""
    conn.woken = set()
    result = fn(conn, *args)
    return result, conn.woken


class Family:
    """The queues one operation reaches through parent links: one Tx per queue, so a
    queue's line counters and events are kept once, in order."""

    def __init__(self, conn: Conn, first: Tx | None = None) -> None:
        self.conn = conn
        self.first = first
        self._txs: dict[int, Tx] = {} if first is None else {first.qid: first}
        self._names: dict[int, str] = {}

    def tx(self, qid: int) -> Tx:
        found = self._txs.get(qid)
        if found is None:
            found = self._txs[qid] = Tx(self.conn, qid)
        return found

    def name(self, qid: int) -> str:
        name = self._names.get(qid)
        if name is None:
            name = self._names[qid] = str(
                self.conn.sql.execute(Q["queue_name_of"], (qid,)).fetchone()[0]
            )
        return name

    def wake(self, qid: int) -> None:
        self.conn.woken.add(self.name(qid))

    def flush(self) -> None:
        """Write what every queue but ``first`` collected (its owner flushes that one)."""
        for tx in self._txs.values():
            if tx is not self.first:
                tx.flush()


# -- releasing a parent ------------------------------------------------------------


def _release(
    fam: Family, qid: int, rowid: int, job_id: str, priority: int, delay: int, now: int
) -> None:
    """Put a parent taken out of waiting-children (or delayed) where it runs: delayed
    by its own delay, else prioritized, else the front of wait."""
    tx = fam.tx(qid)
    if delay > 0:
        due = now + delay
        tx.run("job_release", "delayed", due, tx.back(), rowid)
        tx.event("delayed", jobId=job_id, delay=str(due))
    else:
        if priority > 0:
            tx.run("job_release", "prioritized", priority, tx.back(), rowid)
        else:
            tx.run("job_release", "waiting", 0, tx.front(), rowid)
        tx.event("waiting", jobId=job_id, prev="waiting-children")
    fam.wake(qid)


def _release_if_waiting(fam: Family, qid: int, job_id: str, now: int) -> None:
    row = fam.conn.sql.execute(Q["flow_job_row"], (qid, job_id)).fetchone()
    if row is not None and row[1] == "waiting-children":
        _release(fam, qid, row[0], job_id, row[2], row[3], now)


def _release_if_no_pending(fam: Family, qid: int, job_id: str, now: int) -> None:
    if fam.conn.sql.execute(Q["dep_in_bucket"], (qid, job_id, PENDING)).fetchone() is None:
        _release_if_waiting(fam, qid, job_id, now)


# -- a child finishes, leaves or runs again ---------------------------------------------


def completion_refused(tx: Tx, job_id: str, operation: str) -> None:
    """Refuse to complete a job with a pending child (-4) or a child that failed it (-9)."""
    row = tx.run("dep_completion_refused", tx.qid, job_id).fetchone()
    refuse_completion(None if row is None else int(row[0]), job_id, operation)


def refuse_completion(bucket: int | None, job_id: str, operation: str) -> None:
    """Raise -4 or -9 for what ``dep_completion_refused`` found (``bucket``), if anything."""
    if bucket is not None:
        code = (
            ErrorCode.JOB_PENDING_DEPENDENCIES
            if bucket == PENDING
            else ErrorCode.JOB_HAS_FAILED_CHILDREN
        )
        raise error_from_code(code, job_id=job_id, operation=operation)


def _settle(
    fam: Family,
    parent: tuple[int, str],
    child: tuple[int, str],
    bucket: int,
    value: str | None,
    now: int,
) -> bool:
    """Move a pending child to ``bucket``; whether it was pending (Redis's SREM == 1)."""
    cursor = fam.conn.sql.execute(Q["dep_settle"], (bucket, value, now, *parent, *child))
    return cursor.rowcount == 1


def on_child_finished(
    fam: Family,
    child: tuple[int, str],
    parent_row: tuple[int | None, str | None, str],
    completed: bool,
    value: str,
    now: int,
) -> None:
    """What a child's finish (``child``: its qid and id) does to its parent:
    see ``Backend.move_to_finished``. ``value`` is the return value or failed reason."""
    parent_qid, parent_id, policy = parent_row
    if parent_qid is None or parent_id is None:
        return
    parent = (parent_qid, parent_id)
    edge = child
    if completed:
        if _settle(fam, parent, edge, PROCESSED, value, now):
            _release_if_no_pending(fam, parent_qid, parent_id, now)
        return
    if policy == ParentPolicy.FAIL_PARENT:
        if not _settle(fam, parent, edge, FAILED, None, now):
            return
        row = fam.conn.sql.execute(Q["flow_job_row"], parent).fetchone()
        if row is None:
            return
        rowid, state, priority, delay = row[0], row[1], row[2], row[3]
        failure = f"child {fam.name(child[0])}:{child[1]} failed"
        if state in ("waiting-children", "delayed"):
            if state == "delayed":
                fam.conn.sql.execute(Q["job_clear_delay"], (rowid,))
                delay = 0
            fam.conn.sql.execute(Q["job_mark_failed_child"], (failure, rowid))
            _release(fam, parent_qid, rowid, parent_id, priority, delay, now)
        elif state != "failed":
            fam.conn.sql.execute(Q["job_mark_failed_child"], (failure, rowid))
    elif policy == ParentPolicy.CONTINUE_PARENT:
        if _settle(fam, parent, edge, IGNORED, value, now):
            _release_if_waiting(fam, parent_qid, parent_id, now)
    elif policy == ParentPolicy.IGNORE:
        if _settle(fam, parent, edge, IGNORED, value, now):
            _release_if_no_pending(fam, parent_qid, parent_id, now)
    elif policy == ParentPolicy.REMOVE:
        drop_pending(fam, child, parent, now)


def drop_pending(
    fam: Family, child: tuple[int, str], parent: tuple[int | None, str | None], now: int
) -> None:
    """A child is going away: it leaves its parent's pending children, releasing the
    parent if it was the last."""
    parent_qid, parent_id = parent
    if parent_qid is None or parent_id is None:
        return
    cursor = fam.conn.sql.execute(Q["dep_drop_pending"], (parent_qid, parent_id, *child))
    if cursor.rowcount == 1:
        _release_if_no_pending(fam, parent_qid, parent_id, now)


def back_to_dependencies(tx: Tx, rowid: int, job_id: str, state: str) -> None:
    """A finished child runs again: back into its parent's pending children if it had
    left them for the bucket of ``state``; the parent is not moved."""
    row = tx.run("flow_parent_of", rowid).fetchone()
    if row is None or row[0] is None:
        return
    buckets = (PROCESSED, PROCESSED) if state == "completed" else (IGNORED, FAILED)
    tx.run("dep_back_to_pending", row[0], row[1], tx.qid, job_id, *buckets)


def remove_family(
    fam: Family, tx: Tx, job_id: str, rowid: int, now: int, remove_children: bool
) -> None:
    """For ``remove_job``: refuse if a descendant reachable through pending children is
    locked; drop the job's link to its parent; remove its descendants (children first,
    no event for a parent that goes too). The caller removes the job itself."""
    if remove_children and tx.run("family_locked", tx.qid, job_id, now).fetchone() is not None:
        raise error_from_code(ErrorCode.JOB_LOCKED, job_id=job_id, operation="remove_job")
    parent = tx.run("flow_parent_of", rowid).fetchone()
    drop_pending(fam, (tx.qid, job_id), (parent[0], parent[1]), now)
    if not remove_children:
        return
    descendants = tx.run("family_of", tx.qid, job_id).fetchall()
    for child_rowid, qid, child_id, state in reversed(descendants):
        fam.conn.sql.execute(Q["job_delete"], (child_rowid,))
        # Node names the list a waiting job was taken from, not its state.
        fam.tx(qid).event("removed", jobId=child_id, prev="wait" if state == "waiting" else state)


# -- adding ------------------------------------------------------------------------


def _exists(conn: Conn, job_key: str) -> bool:
    queue_key, _, job_id = job_key.rpartition(":")
    qid = conn.find_qid(queue_key)
    return (
        qid is not None and conn.sql.execute(Q["job_exists"], (qid, job_id)).fetchone() is not None
    )


def add_flow(
    conn: Conn, prefix: str, entries: Sequence[FlowEntry], now: int, operation: str
) -> list[str]:
    names = [f"{e.prefix or prefix}:{e.queue}" for e in entries]
    seen: set[str] = set()
    in_call: list[bool] = []
    for entry, name in zip(entries, names, strict=True):
        parent = entry.job.parent
        in_call.append(parent is not None and parent.key in seen)
        if entry.job.job_id is not None:
            seen.add(f"{name}:{entry.job.job_id}")
    named = {e.job.parent.key for e in entries if e.job.parent is not None}

    # Checks first: a refusal writes nothing.
    for index, (entry, name, inside) in enumerate(zip(entries, names, in_call, strict=True)):
        job, parent = entry.job, entry.job.parent
        if parent is None:
            continue
        refused = None
        if not inside and not _exists(conn, parent.key):
            refused = ErrorCode.PARENT_JOB_NOT_EXIST
        elif job.job_id is not None:
            qid = conn.find_qid(name)
            row = (
                None
                if qid is None
                else conn.sql.execute(Q["flow_job_row"], (qid, job.job_id)).fetchone()
            )
            current = None if row is None else row[6]
            if current and current != parent.key and _exists(conn, current):
                refused = ErrorCode.PARENT_JOB_CANNOT_BE_REPLACED
        if refused is not None:
            raise error_from_code(
                refused, operation=operation, job_id=job.job_id, parent=parent.key, index=index
            )

    fam = Family(conn)
    counters: dict[int, int] = {}
    taken: set[tuple[int, str]] = set()
    rows: list[tuple[object, ...]] = []
    edges: list[tuple[object, ...]] = []
    ids: list[str] = []
    parents: dict[str, None] = {}
    for entry, name in zip(entries, names, strict=True):
        job, parent = entry.job, entry.job.parent
        qid = conn.qid(name)
        tx = fam.tx(qid)
        counters[qid] = counter = counters.get(qid, tx.q.id_counter) + 1
        job_id = str(counter) if job.job_id is None else job.job_id
        ids.append(job_id)
        job_key = f"{name}:{job_id}"
        parent_qid = None if parent is None else conn.qid(parent.queue_key)
        if parent is not None:
            parents.setdefault(parent.key)
        if job.job_id is not None and (
            (qid, job_id) in taken or tx.run("job_exists", qid, job_id).fetchone()
        ):
            tx.event("duplicated", jobId=job_id)
            if parent is None:
                continue
            if (qid, job_id) in taken:  # the same node twice in one call: already linked
                continue
            row = tx.run("flow_job_row", qid, job_id).fetchone()
            if row[1] == "completed":
                edges.append(
                    (parent_qid, parent.id, qid, job_id, job_key, PROCESSED, row[7] or "null", now)
                )
            else:
                edges.append((parent_qid, parent.id, qid, job_id, job_key, PENDING, None, now))
            tx.run(
                "flow_set_parent", parent_qid, parent.id, parent.key, parent.policy.value, row[0]
            )
            continue
        taken.add((qid, job_id))
        tx.event("added", jobId=job_id, name=job.name)
        if job_key in named:
            place: tuple[str, int, int] = ("waiting-children", job.timestamp_ms, tx.back())
            tx.event("waiting-children", jobId=job_id)
        elif job.delay_ms > 0:
            due = job.timestamp_ms + job.delay_ms
            place = ("delayed", due, tx.back())
            tx.event("delayed", jobId=job_id, delay=str(due))
        else:
            if job.priority > 0:
                place = ("prioritized", job.priority, tx.back())
            else:
                place = ("waiting", 0, tx.front() if job.lifo else tx.back())
            tx.event("waiting", jobId=job_id)
            fam.wake(qid)
        link = (
            (None, None, None, "")
            if parent is None
            else (parent_qid, parent.id, parent.key, parent.policy.value)
        )
        rows.append(
            (
                qid,
                job_id,
                job.name,
                job.data,
                job.opts,
                job.timestamp_ms,
                job.delay_ms,
                job.priority,
                int(job.lifo),
                *place,
                *link,
            )
        )
        if parent is not None:
            edges.append(
                (parent_qid, parent.id, qid, job_id, job_key, PENDING, None, job.timestamp_ms)
            )
    conn.sql.executemany(Q["flow_job_insert"], rows)
    conn.sql.executemany(Q["dep_upsert"], edges)
    for qid, counter in counters.items():
        conn.sql.execute(Q["queue_set_id_counter"], (counter, qid))
    for parent_key in parents:
        queue_key, _, parent_id = parent_key.rpartition(":")
        parent_qid = conn.find_qid(queue_key)
        if parent_qid is not None:
            _release_if_no_pending(fam, parent_qid, parent_id, now)
    fam.flush()
    return ids


# -- step jobs ------------------------------------------------------------------------


def move_to_waiting_children(
    conn: Conn, queue: str, job_id: str, token: str, now: int, child_key: str | None
) -> bool:
    tx = existing(conn, queue, job_id, "move_to_waiting_children")
    if tx.run("job_exists", tx.qid, job_id).fetchone() is None:
        raise error_from_code(
            ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation="move_to_waiting_children"
        )
    if tx.run("dep_in_bucket", tx.qid, job_id, FAILED).fetchone() is not None:
        raise error_from_code(
            ErrorCode.JOB_HAS_FAILED_CHILDREN, job_id=job_id, operation="move_to_waiting_children"
        )
    rowid = tx.locked(job_id, token, now, "move_to_waiting_children")[0]
    if child_key is None:
        pending = tx.run("dep_in_bucket", tx.qid, job_id, PENDING).fetchone() is not None
    else:
        child_queue, _, child_id = child_key.rpartition(":")
        child_qid = conn.find_qid(child_queue)
        pending = (
            child_qid is not None
            and tx.run("dep_is_pending", tx.qid, job_id, child_qid, child_id).fetchone() is not None
        )
    if not pending:
        return False
    tx.run("job_wait_children", now, tx.back(), rowid)
    tx.event("waiting-children", jobId=job_id, prev="active")
    tx.flush()
    return True


# -- reading ------------------------------------------------------------------------


def _start(cursor: str) -> int:
    if not cursor.isdigit():
        raise ValueError(f"a cursor must come from a DependencyPage, not {cursor!r}")
    return int(cursor)


def get_dependencies(
    conn: Conn,
    queue: str,
    job_id: str,
    limit: int | None,
    cursors: Mapping[DependencyBucket, str] | None,
) -> DependencyPage:
    qid = conn.find_qid(queue)
    pages: dict[DependencyBucket, list[tuple[str, str | None]]] = {b: [] for b in _BUCKETS}
    nexts: dict[DependencyBucket, str] = {}
    for bucket, number in _BUCKETS.items():
        if cursors is not None and bucket not in cursors:
            continue
        offset = 0 if cursors is None else _start(cursors[bucket])
        if qid is None:
            continue
        want = -1 if limit is None else limit + 1  # one more: is there a next page?
        if number == FAILED:
            rows = conn.sql.execute(Q["deps_page_by_time"], (qid, job_id, want, offset)).fetchall()
        else:
            rows = conn.sql.execute(Q["deps_page"], (qid, job_id, number, want, offset)).fetchall()
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            nexts[bucket] = str(offset + limit)
        pages[bucket] = [(str(key), value) for key, value in rows]
    return DependencyPage(
        processed={k: v or "null" for k, v in pages[DependencyBucket.PROCESSED]},
        unprocessed=[k for k, _ in pages[DependencyBucket.UNPROCESSED]],
        ignored={k: v or "" for k, v in pages[DependencyBucket.IGNORED]},
        failed=[k for k, _ in pages[DependencyBucket.FAILED]],
        cursors=nexts,
    )


def get_dependency_counts(conn: Conn, queue: str, job_id: str) -> DependencyCounts:
    qid = conn.find_qid(queue)
    if qid is None:
        return DependencyCounts()
    counts = dict.fromkeys((PENDING, PROCESSED, IGNORED, FAILED), 0)
    for bucket, count in conn.sql.execute(Q["deps_counts"], (qid, job_id)):
        counts[int(bucket)] = int(count)
    return DependencyCounts(counts[PROCESSED], counts[PENDING], counts[IGNORED], counts[FAILED])
