"""move_to_wait: an active job goes back to the front of its line without using an
attempt, and the caller learns how long the queue is rate limited."""

from __future__ import annotations

from corral.backends.base import Backend, JobState
from tests.contract.support import Clock, about, drain, events_after, fetch_one, job


async def test_a_job_moved_back_goes_to_the_front_without_using_an_attempt(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("a", at=clock.now), job("b", at=clock.now)])
    a = await fetch_one(backend, queue, clock)
    cursor = await backend.events_cursor(queue)
    assert await backend.move_to_wait(queue, a.id, "t1", clock.now) == 0
    back = await backend.get_job(queue, a.id)
    assert back is not None
    assert back.attempts_made == 0
    assert await backend.get_state(queue, a.id) is JobState.WAITING
    assert await events_after(backend, queue, cursor) == [
        ("waiting", {"jobId": a.id, "prev": "active"})
    ]
    assert await drain(backend, queue, clock) == ["a", "b"]


async def test_a_prioritized_job_moved_back_goes_ahead_of_its_priority_peers(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(
        queue,
        [job("p1", at=at, priority=1), job("p1b", at=at, priority=1), job("p2", at=at, priority=2)],
    )
    p1 = await fetch_one(backend, queue, clock)
    p1b = await fetch_one(backend, queue, clock, "t2")
    await backend.move_to_wait(queue, p1b.id, "t2", clock.now)
    assert await backend.get_state(queue, p1b.id) is JobState.PRIORITIZED
    await backend.move_to_wait(queue, p1.id, "t1", clock.now)
    # plain jobs still come before prioritized ones
    await backend.add_jobs(queue, [job("plain", at=at)])
    assert await drain(backend, queue, clock) == ["plain", "p1", "p1b", "p2"]


async def test_moving_back_releases_the_lock(backend: Backend, queue: str, clock: Clock) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    await backend.move_to_wait(queue, got.id, "t1", clock.now)
    again = await fetch_one(backend, queue, clock, "t2")
    assert again.id == got.id
    extended = await backend.extend_locks(queue, [(got.id, "t2")], 60_000, clock.now)
    assert not extended


async def test_moving_back_tells_how_long_the_queue_is_rate_limited(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now), job(at=clock.now)])
    a = await fetch_one(backend, queue, clock, "ta")
    b = await fetch_one(backend, queue, clock, "tb")
    await backend.rate_limit(queue, 5_000, clock.now)
    await clock.advance(1_000)
    assert about(await backend.move_to_wait(queue, a.id, "ta", clock.now), 4_000)
    await clock.advance(4_000)
    assert await backend.move_to_wait(queue, b.id, "tb", clock.now) == 0
