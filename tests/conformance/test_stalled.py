"""The stalled checker returns jobs of dead workers, and fails a job that keeps stalling."""

from __future__ import annotations

from corral import JobState, Queue
from corral.backends.base import STALLED_LIMIT_REASON
from tests.conformance.conftest import ApiClock, WorkerFactory
from tests.support import wait_until


async def test_job_with_expired_lock_returns_to_front_of_wait(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("first", {})
    dead = make_worker(lock_duration=10)
    job = await dead.get_next_job("dead-token")
    assert job is not None
    await queue.add("second", {})
    checker = make_worker(stalled_interval=5)
    assert await checker.check_stalled_jobs() == []  # first pass only marks candidates
    await clock.advance(11)
    assert await checker.check_stalled_jobs() == [job.id]
    assert await queue.get_job_state(job.id) == JobState.WAITING
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.stalled_counter == 1
    again = await checker.get_next_job("new-token", block=False)
    assert again is not None
    assert again.id == job.id  # front of the line, ahead of "second"
    await again.move_to_completed("done", "new-token", fetch_next=False)


async def test_a_live_lock_is_not_stalled(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("busy", {})
    worker = make_worker(lock_duration=10, stalled_interval=5)
    job = await worker.get_next_job("t")
    assert job is not None
    await worker.check_stalled_jobs()
    for _ in range(4):
        await clock.advance(6)
        await job.extend_lock("t", 10)
        assert await worker.check_stalled_jobs() == []
    assert await queue.get_job_state(job.id) == JobState.ACTIVE


async def test_job_stalled_too_often_is_failed_not_handed_out(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("cursed", {})
    await queue.add("healthy", {})
    worker = make_worker(lock_duration=10, stalled_interval=5, max_stalled_count=0)
    job = await worker.get_next_job("t1")
    assert job is not None
    assert job.name == "cursed"
    await worker.check_stalled_jobs()
    await clock.advance(11)
    assert await worker.check_stalled_jobs() == [job.id]
    nxt = await worker.get_next_job("t2", block=False)
    assert nxt is not None
    assert nxt.name == "healthy"
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert await failed.get_state() == JobState.FAILED
    assert failed.failed_reason == STALLED_LIMIT_REASON


async def test_stalled_check_timer_recovers_jobs_until_close(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("orphan", {})
    dead = make_worker(lock_duration=0.1)
    job = await dead.get_next_job("gone")
    assert job is not None
    checker = make_worker(stalled_interval=0.1)
    await checker.start_stalled_check_timer()

    async def back_in_wait() -> bool:
        return await queue.get_job_state(job.id) == JobState.WAITING

    # The timer's passes (one to mark, one to move) need a few ticks of a busy loop.
    await wait_until(back_in_wait, 20, "the timer to return the orphaned job to wait")
    await checker.close()
