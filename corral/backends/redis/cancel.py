"""The cancellation operations of :class:`~corral.backends.redis.RedisBackend`.

``cancel_job`` fails a job that is not running yet, or marks a running one in its
``defa`` field (BullMQ's deferred failure: a Node or corral worker that fetches the
job after it stalled back fails it with that reason); ``get_cancel_requests``
reads those marks for the jobs a worker holds. Every key known before the call is
passed in ``KEYS``, the job hashes included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from corral.backends.base import CANCEL_REASON_PREFIX, JobState, KeepJobs
from corral.backends.keyspace import RESERVED_JOB_IDS
from corral.backends.redis.connection import RedisConnectionError, RedisReplyError
from corral.backends.redis.scripts import load_script
from corral.errors import BackendError, StoreUnavailableError

if TYPE_CHECKING:
    from corral.backends.redis.backend import RedisBackend

__all__ = ["cancel_job", "get_cancel_requests"]


async def _run(
    backend: RedisBackend, name: str, queue: str, keys: list[str], args: list[object]
) -> object:
    script = load_script(name)
    try:
        return await script.run(backend.redis, script.head(keys), args)
    except RedisConnectionError as exc:
        raise StoreUnavailableError(f"redis {name} on queue {queue!r} failed: {exc}") from exc
    except RedisReplyError as exc:
        raise BackendError(f"redis {name} on queue {queue!r} failed: {exc}") from exc


async def cancel_job(
    backend: RedisBackend, queue: str, job_id: str, reason: str, now: int, keep: KeepJobs
) -> JobState:
    """See :meth:`corral.backends.base.Backend.cancel_job`."""
    if job_id in RESERVED_JOB_IDS:
        return JobState.UNKNOWN
    keys = backend.keys(queue)
    script = load_script("cancel_job")
    names = keys.for_script(script.name, script.keys)
    age = "" if keep.age_ms is None else keep.age_ms
    args = [keys.base, job_id, reason, now, keep.count, age]
    # The job's keys lead the arguments: Script.head counts them among the KEYS.
    reply = await _run(
        backend, "cancel_job", queue, names, [*script.job_key_names(keys.job(job_id)), *args]
    )
    return JobState(str(reply))


async def get_cancel_requests(
    backend: RedisBackend, queue: str, job_ids: Sequence[str]
) -> dict[str, str]:
    """See :meth:`corral.backends.base.Backend.get_cancel_requests`."""
    asked = [job_id for job_id in job_ids if job_id not in RESERVED_JOB_IDS]
    if not asked:
        return {}
    keys = backend.keys(queue)
    reply = await _run(
        backend,
        "get_cancel_requests",
        queue,
        [keys.job(job_id) for job_id in asked],
        [CANCEL_REASON_PREFIX],
    )
    assert isinstance(reply, list)
    it = iter(reply)
    return {asked[int(index) - 1]: str(reason) for index, reason in zip(it, it, strict=True)}
