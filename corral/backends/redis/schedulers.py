"""The job scheduler operations of :class:`~corral.backends.redis.RedisBackend`.

BullMQ 6's layout: the ``repeat`` ZSET (scheduler id, score = next run ms), one
``repeat:<id>`` hash per scheduler and iteration jobs ``repeat:<id>:<ms>`` whose
``rjk`` names their scheduler (see ``lua/includes/scheduler.lua``), so Node and
corral list, run and move on each other's schedulers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral.backends.base import SchedulerIteration, SchedulerRecord, SchedulerSpec
from corral.backends.redis.records import pairs
from corral.backends.redis.scripts import refusal
from corral.backends.scheduler_fields import scheduler_record

if TYPE_CHECKING:
    from corral.backends.redis.backend import RedisBackend

__all__ = [
    "add_next_iteration",
    "get_job_scheduler",
    "get_job_schedulers",
    "get_job_schedulers_count",
    "remove_job_scheduler",
    "upsert_job_scheduler",
]


def _text(value: int | str | None) -> str:
    return "" if value is None else str(value)


async def upsert_job_scheduler(
    backend: RedisBackend,
    queue: str,
    spec: SchedulerSpec,
    iteration: SchedulerIteration,
    now: int,
) -> tuple[str, int]:
    """Run ``upsert_job_scheduler.lua``."""
    args: list[Any] = [
        backend.keys(queue).base,
        spec.id,
        iteration.due_ms,
        now,
        spec.name,
        _text(spec.every_ms),
        _text(spec.pattern),
        _text(spec.tz),
        _text(spec.limit),
        _text(spec.start_ms),
        _text(spec.end_ms),
        spec.data,
        spec.template_opts,
        iteration.opts,
        iteration.priority,
        "1" if iteration.lifo else "0",
    ]
    scheduler = [f"{backend.keys(queue).base}repeat:{spec.id}"]
    reply = await backend._run("upsert_job_scheduler", queue, args, more_keys=scheduler)
    refusal(reply, operation="upsert_job_scheduler", job_id=f"repeat:{spec.id}:{iteration.due_ms}")
    job_id, delay = reply
    return str(job_id), int(delay)


async def add_next_iteration(
    backend: RedisBackend,
    queue: str,
    scheduler_id: str,
    producer_id: str,
    iteration: SchedulerIteration,
    now: int,
) -> str | None:
    """Run ``add_next_iteration.lua``."""
    args: list[Any] = [
        backend.keys(queue).base,
        scheduler_id,
        iteration.due_ms,
        now,
        producer_id,
        iteration.opts,
        iteration.priority,
        "1" if iteration.lifo else "0",
    ]
    scheduler = [f"{backend.keys(queue).base}repeat:{scheduler_id}"]
    reply = await backend._run("add_next_iteration", queue, args, more_keys=scheduler)
    return str(reply) or None


async def remove_job_scheduler(backend: RedisBackend, queue: str, scheduler_id: str) -> bool:
    """Run ``remove_job_scheduler.lua``."""
    base = backend.keys(queue).base
    scheduler = [f"{base}repeat:{scheduler_id}"]
    reply = await backend._run(
        "remove_job_scheduler", queue, [base, scheduler_id], more_keys=scheduler
    )
    return bool(reply)


def _records(reply: list[Any]) -> list[SchedulerRecord]:
    return [
        scheduler_record(str(reply[i]), int(float(reply[i + 1])), pairs(reply[i + 2]))
        for i in range(0, len(reply), 3)
    ]


async def get_job_scheduler(
    backend: RedisBackend, queue: str, scheduler_id: str
) -> SchedulerRecord | None:
    """One scheduler, read with ``get_job_schedulers.lua``."""
    base = backend.keys(queue).base
    args = [base, 0, -1, "1", scheduler_id]
    scheduler = [f"{base}repeat:{scheduler_id}"]
    found = _records(await backend._run("get_job_schedulers", queue, args, more_keys=scheduler))
    return found[0] if found else None


async def get_job_schedulers(
    backend: RedisBackend, queue: str, start: int, end: int, asc: bool
) -> list[SchedulerRecord]:
    """A range of schedulers by next run, read with ``get_job_schedulers.lua``."""
    args = [backend.keys(queue).base, start, end, "1" if asc else "0", ""]
    return _records(await backend._run("get_job_schedulers", queue, args))


async def get_job_schedulers_count(backend: RedisBackend, queue: str) -> int:
    """ZCARD of the queue's ``repeat`` ZSET."""
    return int(await backend._command(queue, "ZCARD", backend.keys(queue).key("repeat")))
