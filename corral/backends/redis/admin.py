"""Queue maintenance, global limits, the worker list and job edits on Redis.

Kept out of :mod:`.backend` (which stays the job's life); :class:`RedisBackend`
forwards to these functions. Bulk changes are one script call per batch
(``lua/clean.lua``, ``lua/drain.lua``, ``lua/move_jobs_to_wait.lua``), so other
clients are served between batches. Global limits live in the queue's meta hash
as Node writes them (``concurrency``, ``max``, ``duration``). Workers are found as
Node finds them: by the names of their blocking connections in ``CLIENT LIST``.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from corral.backends.admin_types import CLEAN_WINDOW, CleanBatch, GlobalLimits, WorkerRecord
from corral.backends.base import JobState, Limiter
from corral.backends.keyspace import RESERVED_JOB_IDS
from corral.backends.redis.scripts import refusal
from corral.errors import ErrorCode, error_from_code

if TYPE_CHECKING:
    from corral.backends.redis.backend import RedisBackend

__all__ = [
    "change_delay",
    "change_priority",
    "clean",
    "client_name",
    "drain",
    "get_global_limits",
    "get_workers",
    "move_jobs_to_wait",
    "move_to_delayed",
    "parse_client_list",
    "set_global_concurrency",
    "set_global_rate_limit",
    "trim_events",
    "update_data",
]

# The list/set each state's jobs are kept in (the key suffix Node passes).
_STATE_KEY = {
    JobState.WAITING: "wait",
    JobState.ACTIVE: "active",
    JobState.DELAYED: "delayed",
    JobState.PRIORITIZED: "prioritized",
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
}


def client_name(prefix: str, queue: str, worker_name: str | None = None) -> str:
    """The name a worker's blocking connection carries, as Node names its own:
    ``<prefix>:<base64(queue)>``, plus ``:w:<name>`` for a named worker."""
    encoded = base64.b64encode(queue.encode()).decode()
    head = f"{prefix}:{encoded}"
    return head if worker_name is None else f"{head}:w:{worker_name}"


async def clean(
    backend: RedisBackend,
    queue: str,
    state: JobState,
    before_ms: int,
    limit: int,
    now: int,
    cursor: tuple[int, ...],
) -> CleanBatch:
    """One batch of ``Backend.clean``; the cursor is how many entries were kept."""
    kept = cursor[0] if cursor else 0
    window = max(limit, CLEAN_WINDOW)
    args = [backend.keys(queue).base, _STATE_KEY[state], before_ms, limit, now, kept, window]
    removed, following = await backend._run("clean", queue, args)
    return CleanBatch(list(removed), None if int(following) < 0 else (int(following),))


async def drain(backend: RedisBackend, queue: str, delayed: bool, limit: int, now: int) -> int:
    """One batch of ``Backend.drain``."""
    args = [backend.keys(queue).base, "1" if delayed else "0", limit, now]
    return int(await backend._run("drain", queue, args))


async def move_jobs_to_wait(
    backend: RedisBackend, queue: str, state: JobState, before_ms: int, limit: int
) -> int:
    """One batch of ``Backend.move_jobs_to_wait``."""
    args = [backend.keys(queue).base, _STATE_KEY[state], before_ms, limit]
    return int(await backend._run("move_jobs_to_wait", queue, args))


async def trim_events(backend: RedisBackend, queue: str, max_length: int) -> None:
    """XTRIM the event stream to exactly ``max_length`` entries."""
    events = backend.keys(queue).key("events")
    await backend._command(queue, "XTRIM", events, "MAXLEN", max_length)


async def set_global_concurrency(
    backend: RedisBackend, queue: str, concurrency: int | None
) -> None:
    """meta ``concurrency`` (Node's ``setGlobalConcurrency``), or its removal."""
    meta = backend.keys(queue).key("meta")
    if concurrency is None:
        await backend._command(queue, "HDEL", meta, "concurrency")
    else:
        await backend._command(queue, "HSET", meta, "concurrency", concurrency)


async def set_global_rate_limit(backend: RedisBackend, queue: str, limit: Limiter | None) -> None:
    """meta ``max`` and ``duration`` (Node's ``setGlobalRateLimit``), or their removal."""
    meta = backend.keys(queue).key("meta")
    if limit is None:
        await backend._command(queue, "HDEL", meta, "max", "duration")
    else:
        await backend._command(queue, "HSET", meta, "max", limit.max, "duration", limit.duration_ms)


def _positive(value: object) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number > 0 else None


async def get_global_limits(backend: RedisBackend, queue: str) -> GlobalLimits:
    """The meta fields, as numbers (a field that is missing or not a positive
    integer counts as not set)."""
    meta = backend.keys(queue).key("meta")
    concurrency, rate_max, duration = await backend._command(
        queue, "HMGET", meta, "concurrency", "max", "duration"
    )
    return GlobalLimits(_positive(concurrency), _positive(rate_max), _positive(duration))


def parse_client_list(text: str) -> list[dict[str, str]]:
    """``CLIENT LIST`` as one dict of fields per client."""
    clients = []
    for line in text.splitlines():
        fields = {}
        for pair in line.split(" "):
            key, sep, value = pair.partition("=")
            if sep:
                fields[key] = value
        if fields:
            clients.append(fields)
    return clients


async def get_workers(backend: RedisBackend, queue: str, now: int) -> list[WorkerRecord]:
    """The clients named as a worker of the queue (Node's ``getWorkers`` matcher)."""
    unnamed = client_name(backend.prefix, queue)
    named = unnamed + ":w:"
    text = await backend._command(queue, "CLIENT", "LIST")
    found = []
    for client in parse_client_list(str(text)):
        name = client.get("name", "")
        if name != unnamed and not name.startswith(named):
            continue
        host = client.get("addr", "").rpartition(":")[0]
        age_s = _positive(client.get("age")) or 0
        idle_s = _positive(client.get("idle")) or 0
        found.append(
            WorkerRecord(
                id=client.get("id", ""),
                name=name[len(named) :] if name.startswith(named) else None,
                host=host,
                pid=None,
                started_at_ms=now - age_s * 1000,
                last_seen_ms=now - idle_s * 1000,
            )
        )
    found.sort(key=lambda w: (w.started_at_ms, w.id))
    return found


# -- editing one job ----------------------------------------------------------------------


def _a_job(job_id: str, operation: str) -> None:
    if job_id in RESERVED_JOB_IDS:
        raise error_from_code(ErrorCode.JOB_NOT_EXIST, job_id=job_id, operation=operation)


async def change_delay(
    backend: RedisBackend, queue: str, job_id: str, delay_ms: int, now: int
) -> None:
    """``lua/change_delay.lua``."""
    _a_job(job_id, "change_delay")
    reply = await backend._run("change_delay", queue, [job_id, delay_ms, now], job_id=job_id)
    refusal(reply, job_id=job_id, operation="change_delay", expected="delayed")


async def change_priority(
    backend: RedisBackend, queue: str, job_id: str, priority: int, lifo: bool
) -> None:
    """``lua/change_priority.lua``."""
    _a_job(job_id, "change_priority")
    args = [job_id, priority, "1" if lifo else "0"]
    reply = await backend._run("change_priority", queue, args, job_id=job_id)
    refusal(reply, job_id=job_id, operation="change_priority")


async def update_data(backend: RedisBackend, queue: str, job_id: str, data: str) -> None:
    """``lua/update_data.lua``."""
    _a_job(job_id, "update_data")
    reply = await backend._run("update_data", queue, [data], job_id=job_id)
    refusal(reply, job_id=job_id, operation="update_data")


async def move_to_delayed(
    backend: RedisBackend, queue: str, job_id: str, token: str, delay_ms: int, now: int
) -> None:
    """``lua/move_to_delayed.lua``."""
    _a_job(job_id, "move_to_delayed")
    args = [job_id, token, delay_ms, now]
    reply = await backend._run("move_to_delayed", queue, args, job_id=job_id)
    refusal(reply, job_id=job_id, operation="move_to_delayed")
