"""pause / resume / is_paused: a paused queue keeps its jobs and hands out none,
while due delayed jobs are still promoted."""

from __future__ import annotations

from corral.backends.base import Backend, Completed, JobState
from tests.contract.support import Clock, drain, events_after, fetch_one, job, req


async def test_a_paused_queue_hands_out_nothing_and_keeps_its_jobs(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("a", at=clock.now)])
    assert not await backend.is_paused(queue)
    await backend.pause(queue)
    assert await backend.is_paused(queue)
    got = await backend.move_to_active(queue, req(), clock.now)
    assert got.job is None
    assert got.rate_limited_for_ms == 0
    await backend.add_jobs(queue, [job("b", at=clock.now), job("p", at=clock.now, priority=1)])
    states = [await backend.get_state(queue, i) for i in "123"]
    assert states == [JobState.WAITING, JobState.WAITING, JobState.PRIORITIZED]
    await backend.resume(queue)
    assert not await backend.is_paused(queue)
    assert await drain(backend, queue, clock) == ["a", "b", "p"]


async def test_a_paused_queue_still_promotes_due_delayed_jobs(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(
        queue,
        [job("a", at=at), job("d", at=at, delay_ms=10), job("dp", at=at, delay_ms=10, priority=2)],
    )
    await backend.pause(queue)
    await clock.advance(20)
    assert (await backend.move_to_active(queue, req(), clock.now)).job is None
    counts = await backend.get_counts(
        queue, [JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED]
    )
    assert counts == {JobState.WAITING: 2, JobState.PRIORITIZED: 1, JobState.DELAYED: 0}
    await backend.resume(queue)
    assert await drain(backend, queue, clock) == ["a", "d", "dp"]


async def test_pausing_does_not_touch_active_jobs(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    await backend.pause(queue)
    await backend.move_to_finished(queue, got.id, "t1", Completed("1"), clock.now)
    assert await backend.get_state(queue, got.id) is JobState.COMPLETED


async def test_pause_and_resume_emit_their_events(
    backend: Backend, queue: str, clock: Clock
) -> None:
    cursor = await backend.events_cursor(queue)
    await backend.pause(queue)
    await backend.resume(queue)
    assert await events_after(backend, queue, cursor) == [("paused", {}), ("resumed", {})]
