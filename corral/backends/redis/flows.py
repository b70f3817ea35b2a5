"""The flow operations of :class:`~corral.backends.redis.RedisBackend`.

``add_flow`` (also the path of ``add_jobs`` for jobs that name a parent),
``move_to_waiting_children``, ``get_dependencies`` and ``get_dependency_counts``,
kept here so the backend module stays about the fetch / finish cycle. The layout
is BullMQ 6's (see ``lua/includes/flow.lua``): a child's hash holds ``parentKey``
and the ``parent`` JSON, a parent four keys of child job keys.

Redis Cluster: the scripts derive the keys of every queue of a flow from the
queue keys in job keys and ``parent`` fields, as Node's do, so every queue of one
flow must hash to one slot: give them all one braced prefix (``{app}``). On a
Cluster, ``add_flow`` refuses a flow whose queues are in several slots before it
writes anything (:func:`~corral.backends.redis.slots.check_flow_slot`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from corral._wire import parent_field
from corral.backends.base import (
    DependencyBucket,
    DependencyCounts,
    DependencyPage,
    FlowEntry,
)
from corral.backends.redis.connection import RedisConnectionError, RedisReplyError
from corral.backends.redis.durability import run_durably
from corral.backends.redis.keys import QueueKeys
from corral.backends.redis.records import new_job_args, pairs
from corral.backends.redis.scripts import load_script, refusal
from corral.backends.redis.slots import check_flow_slot, check_queue_slot
from corral.errors import BackendError, StoreUnavailableError, error_from_code

if TYPE_CHECKING:
    from corral.backends.redis.backend import RedisBackend

__all__ = ["add_flow", "get_dependencies", "get_dependency_counts", "move_to_waiting_children"]

_BUCKETS = (
    DependencyBucket.PROCESSED,
    DependencyBucket.UNPROCESSED,
    DependencyBucket.IGNORED,
    DependencyBucket.FAILED,
)


_QUEUE_BLOCK = (
    "id",
    "meta",
    "wait",
    "paused",
    "active",
    "prioritized",
    "pc",
    "delayed",
    "marker",
    "events",
    "stalled",
    "completed",
    "failed",
    "waiting-children",
)
"""The keys of each queue ``add_flow.lua`` is handed, in its order."""


def _queue_base(job_key: str) -> str:
    """The base key of the queue holding the job at ``job_key`` (split at its last
    ``:``, as the scripts split it)."""
    return job_key.rsplit(":", 1)[0] + ":"


def _failure(message: str, exc: Exception) -> BackendError:
    if isinstance(exc, RedisConnectionError):
        return StoreUnavailableError(message)
    return BackendError(message)


async def add_flow(
    backend: RedisBackend, entries: Sequence[FlowEntry], now: int, *, operation: str
) -> list[str]:
    """Run ``add_flow.lua`` for ``entries``; ``operation`` names the caller in refusals."""
    if not entries:
        return []
    bases = [QueueKeys(e.prefix or backend.prefix, e.queue).base for e in entries]
    if backend._connections.cluster:
        parents = [e.job.parent.key for e in entries if e.job.parent is not None]
        for entry in entries:
            check_queue_slot(entry.prefix or backend.prefix, entry.queue)
        check_flow_slot([*bases, *parents])
    keys_before: set[str] = set()
    parents_of_later: set[str] = {e.job.parent.key for e in entries if e.job.parent is not None}
    # KEYS: a block per queue (the nodes' and the parents'), the custom ids' hashes,
    # then each parent's hash and two buckets; ARGV names the indexes.
    queue_bases = list(dict.fromkeys([*bases, *(_queue_base(p) for p in parents_of_later)]))
    flow_keys = [base + suffix for base in queue_bases for suffix in _QUEUE_BLOCK]
    block_at = {base: 1 + i * len(_QUEUE_BLOCK) for i, base in enumerate(queue_bases)}
    own_at: dict[str, int] = {}
    for entry, base in zip(entries, bases, strict=True):
        if entry.job.job_id is not None:
            own_at.setdefault(base + entry.job.job_id, len(flow_keys) + len(own_at) + 1)
    flow_keys += own_at
    parent_at: dict[str, int] = {}
    for parent_key in dict.fromkeys(e.job.parent.key for e in entries if e.job.parent):
        parent_at[parent_key] = len(flow_keys) + 1
        flow_keys += (parent_key, f"{parent_key}:dependencies", f"{parent_key}:processed")
    args: list[Any] = [now, len(queue_bases)]
    for entry, base in zip(entries, bases, strict=True):
        job, parent = entry.job, entry.job.parent
        own_key = base + job.job_id if job.job_id is not None else None
        args += (
            block_at[base],
            *new_job_args(job),
            "1" if own_key is not None and own_key in parents_of_later else "0",
            "" if parent is None else parent.key,
            "" if parent is None else parent_field(parent),
            "1" if parent is not None and parent.key in keys_before else "0",
            "" if own_key is None else own_at[own_key],
            "" if parent is None else parent_at[parent.key],
        )
        if own_key is not None:
            keys_before.add(own_key)
    first = entries[0]
    script = load_script("add_flow")
    head = script.head(flow_keys)
    replicas, wait_ms = backend._connections.min_replicas
    try:
        if replicas:
            reply = await run_durably(script, backend.redis, head, args, replicas, wait_ms)
        else:
            reply = await script.run(backend.redis, head, args)
    except (RedisReplyError, RedisConnectionError) as exc:
        raise _failure(f"redis add_flow on queue {first.queue!r} failed: {exc}", exc) from exc
    if reply and type(reply[0]) is int:
        code, index = reply
        refused = entries[index]
        raise error_from_code(
            code,
            operation=operation,
            job_id=refused.job.job_id,
            parent=None if refused.job.parent is None else refused.job.parent.key,
            index=index,
        )
    return [str(i) for i in reply]


async def move_to_waiting_children(
    backend: RedisBackend, queue: str, job_id: str, token: str, now: int, child_key: str | None
) -> bool:
    args = [job_id, token, now, child_key or ""]
    reply = await backend._run("move_to_waiting_children", queue, args, job_id=job_id)
    refusal(reply, job_id=job_id, operation="move_to_waiting_children")
    return bool(reply == 0)


async def get_dependencies(
    backend: RedisBackend,
    queue: str,
    job_id: str,
    limit: int | None,
    cursors: Mapping[DependencyBucket, str] | None,
) -> DependencyPage:
    starts = ["0"] * 4 if cursors is None else [cursors.get(b, "") for b in _BUCKETS]
    for start in starts:
        if start and not start.isdigit():
            raise ValueError(f"a cursor must come from a DependencyPage, not {start!r}")
    args = ["" if limit is None else limit, *starts]
    reply = await backend._run("get_dependencies", queue, args, job_id=job_id)
    processed, next_p, unprocessed, next_u, ignored, next_i, failed, next_f = reply
    nexts = (next_p, next_u, next_i, next_f)
    return DependencyPage(
        processed=pairs(processed),
        unprocessed=list(unprocessed),
        ignored=pairs(ignored),
        failed=list(failed),
        cursors={b: str(n) for b, n in zip(_BUCKETS, nexts, strict=True) if int(n) >= 0},
    )


async def get_dependency_counts(backend: RedisBackend, queue: str, job_id: str) -> DependencyCounts:
    key = backend.keys(queue).job(job_id)
    commands = [
        ("MULTI",),
        ("HLEN", key + ":processed"),
        ("SCARD", key + ":dependencies"),
        ("HLEN", key + ":failed"),
        ("ZCARD", key + ":unsuccessful"),
        ("EXEC",),
    ]
    try:
        replies = await backend.redis.execute_many(commands)
    except (RedisReplyError, RedisConnectionError) as exc:
        raise _failure(f"redis dependency counts on queue {queue!r} failed: {exc}", exc) from exc
    processed, unprocessed, ignored, failed = (int(n) for n in replies[-1])
    return DependencyCounts(processed, unprocessed, ignored, failed)
