"""promote: a delayed job goes to its line now, whatever the clock says."""

from __future__ import annotations

from corral.backends.base import Backend, JobState
from tests.contract.support import Clock, drain, events_after, job


async def test_promoting_moves_a_delayed_job_to_the_back_of_wait(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(queue, [job("d", at=at, delay_ms=60_000), job("a", at=at)])
    cursor = await backend.events_cursor(queue)
    await backend.promote(queue, "1")
    assert await backend.get_state(queue, "1") is JobState.WAITING
    promoted = await backend.get_job(queue, "1")
    assert promoted is not None
    assert promoted.delay_ms == 0
    assert await events_after(backend, queue, cursor) == [
        ("waiting", {"jobId": "1", "prev": "delayed"})
    ]
    assert await drain(backend, queue, clock) == ["a", "d"]


async def test_promoting_a_prioritized_job_puts_it_among_its_priority(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(
        queue,
        [job("d", at=at, delay_ms=60_000, priority=1), job("p2", at=at, priority=2)],
    )
    await backend.promote(queue, "1")
    assert await backend.get_state(queue, "1") is JobState.PRIORITIZED
    assert await drain(backend, queue, clock) == ["d", "p2"]
