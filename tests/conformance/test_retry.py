"""Failing jobs: retries with attempts and backoff, terminal failure, retention."""

from __future__ import annotations

import pytest

from corral import JobState, Queue, RemovePolicy, UnrecoverableError
from tests.conformance.conftest import ApiClock, WorkerFactory


async def test_failure_without_attempts_is_final(queue: Queue, make_worker: WorkerFactory) -> None:
    await queue.add("test", {})
    job = await make_worker().get_next_job("t")
    assert job is not None
    assert await job.move_to_failed(Exception("my error message"), "t", fetch_next=False) is None
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert await stored.get_state() == JobState.FAILED
    assert stored.failed_reason == "my error message"
    assert stored.attempts_made == 1
    assert len(stored.stacktrace) == 1
    assert "my error message" in stored.stacktrace[0]


async def test_failure_with_attempts_left_goes_back_to_wait(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("flaky", {}, attempts=3)
    worker = make_worker()
    for attempt in (1, 2):
        job = await worker.get_next_job("t", block=False)
        assert job is not None
        await job.move_to_failed(RuntimeError(f"boom {attempt}"), "t")
        assert await queue.get_job_state(job.id) == JobState.WAITING
        stored = await queue.get_job(job.id)
        assert stored is not None
        assert stored.attempts_made == attempt
    job = await worker.get_next_job("t", block=False)
    assert job is not None
    await job.move_to_failed(RuntimeError("boom 3"), "t")
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert await stored.get_state() == JobState.FAILED
    assert stored.attempts_made == 3
    assert stored.failed_reason == "boom 3"
    assert len(stored.stacktrace) == 3


async def test_backoff_puts_the_retry_in_delayed(queue: Queue, make_worker: WorkerFactory) -> None:
    await queue.add("flaky", {}, attempts=2, backoff=0.3)
    worker = make_worker(drain_delay=5)
    job = await worker.get_next_job("t")
    assert job is not None
    await job.move_to_failed(RuntimeError("later"), "t")
    assert await queue.get_job_state(job.id) == JobState.DELAYED
    assert await worker.get_next_job("t", block=False) is None
    again = await worker.get_next_job("t")
    assert again is not None
    assert again.id == job.id
    assert again.attempts_made == 1


async def test_unrecoverable_error_fails_at_once(queue: Queue, make_worker: WorkerFactory) -> None:
    await queue.add("doomed", {}, attempts=5)
    job = await make_worker().get_next_job("t")
    assert job is not None
    await job.move_to_failed(UnrecoverableError("bad input"), "t")
    assert await queue.get_job_state(job.id) == JobState.FAILED


async def test_move_to_failed_can_fetch_next(queue: Queue, make_worker: WorkerFactory) -> None:
    await queue.add("a", {})
    await queue.add("b", {})
    job = await make_worker().get_next_job("t")
    assert job is not None
    nxt = await job.move_to_failed(RuntimeError("x"), "t", fetch_next=True)
    assert nxt is not None
    assert nxt.name == "b"
    assert nxt.token == "t"


@pytest.mark.parametrize("how", ["complete", "fail"])
async def test_remove_on_finish_true_removes_the_job(
    queue: Queue, make_worker: WorkerFactory, how: str
) -> None:
    await queue.add("gone", {}, remove_on_complete=True, remove_on_fail=True)
    job = await make_worker().get_next_job("t")
    assert job is not None
    if how == "complete":
        await job.move_to_completed("x", "t", fetch_next=False)
    else:
        await job.move_to_failed(RuntimeError("x"), "t")
    assert await queue.get_job(job.id) is None
    assert await queue.get_job_state(job.id) == JobState.UNKNOWN
    counts = await queue.get_job_counts("completed", "failed")
    assert counts == {"completed": 0, "failed": 0}


async def test_remove_on_complete_count_keeps_the_newest(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    for i in range(5):
        await queue.add("j", {"i": i}, remove_on_complete=2)
    worker = make_worker()
    job = await worker.get_next_job("t")
    while job:
        job = await job.move_to_completed(job.data["i"], "t")
        await clock.advance(0.01)  # distinct finish times
    assert (await queue.get_job_counts("completed"))["completed"] == 2
    assert await queue.get_job("5") is not None
    assert await queue.get_job("1") is None


async def test_remove_on_complete_age_drops_old_jobs(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    policy = RemovePolicy(age=60)
    await queue.add("old", {}, remove_on_complete=policy)
    await queue.add("new", {}, remove_on_complete=policy)
    worker = make_worker(lock_duration=600)
    old = await worker.get_next_job("t")
    assert old is not None
    new = await old.move_to_completed("x", "t")
    await clock.advance(61)
    assert new is not None
    await new.move_to_completed("y", "t", fetch_next=False)
    assert await queue.get_job(old.id) is None
    assert await queue.get_job(new.id) is not None
