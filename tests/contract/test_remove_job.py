"""remove_job: the job and everything stored with it go; a live lock protects it."""

from __future__ import annotations

import pytest

from corral.backends.base import Backend, Completed, JobState
from tests.contract.support import Clock, drain, events_after, fetch_one, job


@pytest.mark.parametrize("state", ["waiting", "prioritized", "delayed", "completed"])
async def test_removing_a_job_takes_it_and_its_logs_away(
    backend: Backend, queue: str, clock: Clock, state: str
) -> None:
    at = clock.now
    spec = {
        "waiting": job(at=at),
        "prioritized": job(at=at, priority=2),
        "delayed": job(at=at, delay_ms=60_000),
        "completed": job(at=at),
    }[state]
    (job_id,) = await backend.add_jobs(queue, [spec])
    if state == "completed":
        await fetch_one(backend, queue, clock)
        await backend.move_to_finished(queue, job_id, "t1", Completed("1"), clock.now)
    await backend.add_log(queue, job_id, "line")
    cursor = await backend.events_cursor(queue)
    assert await backend.remove_job(queue, job_id, clock.now)
    assert await backend.get_job(queue, job_id) is None
    assert await backend.get_state(queue, job_id) is JobState.UNKNOWN
    assert await backend.get_logs(queue, job_id) == ([], 0)
    assert await events_after(backend, queue, cursor) == [
        ("removed", {"jobId": job_id, "prev": "wait" if state == "waiting" else state})
    ]
    assert await drain(backend, queue, clock) == []


async def test_removing_a_job_that_does_not_exist_returns_false(
    backend: Backend, queue: str, clock: Clock
) -> None:
    assert not await backend.remove_job(queue, "nope", clock.now)
    await backend.add_jobs(queue, [job(at=clock.now)])
    assert not await backend.remove_job(queue, "nope", clock.now)
