"""obliterate: a paused queue and all its jobs go, and the queue starts afresh."""

from __future__ import annotations

from corral.backends.base import Backend, JobState
from tests.contract.support import ALL_STATES, Clock, fetch_one, job


async def test_obliterating_removes_every_job_and_event_and_unpauses(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(queue, [job(at=at), job(at=at, delay_ms=5_000), job(at=at, priority=1)])
    await backend.add_log(queue, "1", "line")
    await backend.pause(queue)
    await backend.obliterate(queue, force=False)
    assert [await backend.get_state(queue, i) for i in "123"] == [JobState.UNKNOWN] * 3
    assert await backend.get_counts(queue, ALL_STATES) == dict.fromkeys(ALL_STATES, 0)
    assert await backend.get_logs(queue, "1") == ([], 0)
    assert not await backend.is_paused(queue)
    assert await backend.read_events(queue, "0") == []
    assert await backend.add_jobs(queue, [job(at=at)]) == ["1"]


async def test_obliterating_with_force_removes_active_jobs_too(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now), job(at=clock.now)])
    await fetch_one(backend, queue, clock)
    await backend.pause(queue)
    await backend.obliterate(queue, force=True)
    assert await backend.get_state(queue, "1") is JobState.UNKNOWN
    assert await backend.get_counts(queue, ALL_STATES) == dict.fromkeys(ALL_STATES, 0)
