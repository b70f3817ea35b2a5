"""Only the token holding a job's lock may move it; refusals change nothing."""

from __future__ import annotations

import pytest

from corral import (
    JobState,
    LockError,
    LockMismatchError,
    MissingLockError,
    Queue,
)
from corral.job import Job
from tests.conformance.conftest import ApiClock, WorkerFactory


async def fetched(
    queue: Queue, make_worker: WorkerFactory, token: str = "owner", **opts: object
) -> Job:
    await queue.add("test", {"x": 1})
    job = await make_worker(**opts).get_next_job(token)
    assert job is not None
    return job


async def test_wrong_token_cannot_complete(queue: Queue, make_worker: WorkerFactory) -> None:
    job = await fetched(queue, make_worker)
    with pytest.raises(
        LockMismatchError, match=r"job '1' is locked by another token \(move_to_finished\)"
    ) as info:
        await job.move_to_completed("stolen", "intruder", fetch_next=False)
    assert info.value.job_id == "1"
    assert await queue.get_job_state(job.id) == JobState.ACTIVE
    await job.move_to_completed("mine", "owner", fetch_next=False)
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.return_value == "mine"


@pytest.mark.parametrize("move", ["fail", "wait"])
async def test_wrong_token_cannot_fail_or_requeue(
    queue: Queue, make_worker: WorkerFactory, move: str
) -> None:
    job = await fetched(queue, make_worker)
    attempt = (
        job.move_to_failed(RuntimeError("x"), "intruder")
        if move == "fail"
        else job.move_to_wait("intruder")
    )
    with pytest.raises(LockMismatchError):
        await attempt
    assert await queue.get_job_state(job.id) == JobState.ACTIVE
    assert (await queue.get_job(job.id)).attempts_made == 0  # type: ignore[union-attr]


async def test_expired_lock_cannot_complete(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    job = await fetched(queue, make_worker, lock_duration=10)
    await clock.advance(11)
    with pytest.raises(MissingLockError, match="has no lock"):
        await job.move_to_completed("late", fetch_next=False)
    assert await queue.get_job_state(job.id) == JobState.ACTIVE


async def test_finishing_a_job_that_is_not_active_is_refused(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await fetched(queue, make_worker)
    await job.move_to_completed("once", "owner", fetch_next=False)
    with pytest.raises(MissingLockError, match="job '1' already completed, so its lock is gone"):
        await job.move_to_completed("twice", "owner", fetch_next=False)
    waiting = await queue.add("w", {})
    with pytest.raises(LockError):
        await waiting.move_to_completed("x", "owner", fetch_next=False)
    assert await queue.get_job_state(waiting.id) == JobState.WAITING
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.return_value == "once"


async def test_job_read_without_token_needs_one(queue: Queue) -> None:
    job = await queue.add("t", {})
    with pytest.raises(ValueError, match="needs the lock token"):
        await job.move_to_completed("x", fetch_next=False)


async def test_extend_lock_keeps_the_job_ours(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    job = await fetched(queue, make_worker, lock_duration=10)
    for _ in range(3):
        await clock.advance(6)
        await job.extend_lock("owner", 10)
    # 18 s after the fetch: without the extensions the 10 s lock would be gone.
    await job.move_to_completed("kept", "owner", fetch_next=False)
    assert await queue.get_job_state(job.id) == JobState.COMPLETED


async def test_extend_lock_with_wrong_token_or_after_expiry_raises(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    job = await fetched(queue, make_worker, lock_duration=10)
    with pytest.raises(LockMismatchError, match="job '1' is locked by another token"):
        await job.extend_lock("intruder", 30)
    await clock.advance(11)
    with pytest.raises(MissingLockError, match="job '1' has no lock"):
        await job.extend_lock("owner", 30)


async def test_extend_lock_validates_duration(queue: Queue, make_worker: WorkerFactory) -> None:
    job = await fetched(queue, make_worker)
    with pytest.raises(ValueError, match="duration must be > 0"):
        await job.extend_lock("owner", 0)


async def test_move_to_wait_puts_job_at_front_without_using_an_attempt(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await fetched(queue, make_worker)
    await queue.add("second", {})
    await job.move_to_wait("owner")
    assert await queue.get_job_state(job.id) == JobState.WAITING
    again = await make_worker().get_next_job("t2", block=False)
    assert again is not None
    assert again.id == job.id
    assert again.attempts_made == 0
    assert again.attempts_started == 2
    # The old token no longer holds it.
    with pytest.raises(LockMismatchError):
        await job.move_to_completed("x", "owner", fetch_next=False)


async def test_prioritized_job_moved_to_wait_goes_ahead_of_its_peers(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("p-a", {}, priority=3)
    await queue.add("p-b", {}, priority=3)
    worker = make_worker()
    first = await worker.get_next_job("t", block=False)
    assert first is not None
    assert first.name == "p-a"
    await first.move_to_wait("t")
    again = await worker.get_next_job("t", block=False)
    assert again is not None
    assert again.name == "p-a"
