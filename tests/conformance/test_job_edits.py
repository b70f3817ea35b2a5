"""Editing a job (delay, priority, data), moving it to delayed by hand, the job
options keep_logs / size_limit / stack_trace_limit, and extend_lock's token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral import DelayedError, Job, JobNotFoundError, JobState, JobStateError, LockError, Queue
from tests.conformance.conftest import ApiClock, WorkerFactory


async def test_change_delay_moves_the_due_time(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    job = await queue.add("later", {}, delay=3600)
    await job.change_delay(10)
    assert job.delay == 10
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.delay == 10
    worker = make_worker()
    assert await worker.get_next_job("t", block=False) is None
    await clock.advance(11)
    got = await worker.get_next_job("t", block=False)
    assert got is not None
    assert got.id == job.id
    with pytest.raises(JobStateError, match="active"):
        await got.change_delay(5)
    await got.move_to_completed(None, "t", fetch_next=False)
    await got.remove()
    with pytest.raises(JobNotFoundError):
        await stored.change_delay(1)


async def test_change_priority_reorders_waiting_jobs(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    a = await queue.add("a", {}, priority=5)
    b = await queue.add("b", {}, priority=5)
    plain = await queue.add("plain", {})
    await b.change_priority(priority=5, lifo=True)  # first among priority 5
    await plain.change_priority(priority=9)  # now after every priority-5 job
    assert b.priority == 5
    names = [j.name for j in await queue.get_jobs("waiting", "prioritized")]
    assert names == ["b", "a", "plain"]
    await a.change_priority(0)  # plain jobs run before prioritized ones
    worker = make_worker()
    order = []
    while (job := await worker.get_next_job("t", block=False)) is not None:
        order.append(job.name)
        await job.move_to_completed(None, "t", fetch_next=False)
    assert order == ["a", "b", "plain"]
    with pytest.raises(ValueError, match="priority"):
        await a.change_priority(-1)


async def test_change_priority_of_a_delayed_job_applies_when_it_is_promoted(queue: Queue) -> None:
    job = await queue.add("d", {}, delay=600)
    await job.change_priority(3)
    await job.promote()
    assert await queue.get_job_state(job.id) is JobState.PRIORITIZED


async def test_update_data_replaces_the_payload(queue: Queue) -> None:
    job = await queue.add("j", {"v": 1})
    await job.update_data({"v": 2, "more": [1, 2]})
    assert job.data == {"v": 2, "more": [1, 2]}
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.data == {"v": 2, "more": [1, 2]}
    with pytest.raises(TypeError, match="JSON"):
        await job.update_data({1, 2})
    await job.remove()
    with pytest.raises(JobNotFoundError):
        await job.update_data({})


async def test_move_to_delayed_uses_no_attempt(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("step", {}, attempts=1)
    worker = make_worker()
    job = await worker.get_next_job("t", block=False)
    assert job is not None
    with pytest.raises(LockError):
        await job.move_to_delayed(datetime.now(UTC) + timedelta(seconds=30), "wrong")
    await job.move_to_delayed(datetime.now(UTC) + timedelta(seconds=30))
    assert await job.is_delayed()
    assert job.token is None
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.attempts_made == 0
    await clock.advance(31)
    again = await worker.get_next_job("t", block=False)
    assert again is not None
    assert again.id == job.id
    with pytest.raises(ValueError, match="when"):
        await again.move_to_delayed(-5)


async def test_a_processor_steps_a_job_through_delayed(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    async def step(job: Job) -> str:
        if job.data.get("step") != "done":
            await job.update_data({"step": "done"})
            await job.move_to_delayed(0)  # due at once
            raise DelayedError()
        return "finished"

    job = await queue.add("stepper", {"step": "start"})
    worker = make_worker(processor=step)
    async with worker:
        assert await job.wait_until_finished(timeout=20) == "finished"
    done = await queue.get_job(job.id)
    assert done is not None
    assert done.attempts_made == 1


async def test_extend_lock_takes_the_jobs_token_or_bullmqs_order(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("j", {})
    job = await make_worker(lock_duration=5).get_next_job("tok", block=False)
    assert job is not None
    await job.extend_lock(60)
    await job.extend_lock("tok", 60)
    await job.extend_lock(duration=60)
    await clock.advance(30)
    await job.move_to_completed("ok", fetch_next=False)  # the lock held past 5 s
    with pytest.raises(TypeError, match="needs a duration"):
        await job.extend_lock("tok")


async def test_keep_logs_size_limit_and_stack_trace_limit(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    logged = await queue.add("logged", {}, keep_logs=2)
    for line in ("one", "two", "three"):
        await logged.log(line)
    assert await logged.get_logs() == ["two", "three"]
    with pytest.raises(
        ValueError, match=r"data is 1,0\d\d bytes of JSON, more than its size_limit of 1,000 bytes"
    ):
        await queue.add("big", {"pad": "x" * 1000}, size_limit=1000)
    assert await queue.get_job_counts("waiting") == {"waiting": 1}
    small = await queue.add("small", {"pad": "x"}, size_limit=1000)
    with pytest.raises(ValueError, match="size_limit"):
        await small.update_data({"pad": "x" * 2000})
    await queue.add("traced", {}, attempts=4, stack_trace_limit=2)
    worker = make_worker()
    for _ in range(3):
        while (job := await worker.get_next_job("t", block=False)) is not None:
            if job.name == "traced":
                await job.move_to_failed(RuntimeError("boom"), "t")
            else:
                await job.move_to_completed(None, "t", fetch_next=False)
    traced = (await queue.get_jobs("waiting", "failed"))[0]
    assert traced.name == "traced"
    assert len(traced.stacktrace) == 2
    assert traced.opts.stack_trace_limit == 2
    with pytest.raises(ValueError, match="keep_logs"):
        await queue.add("bad", {}, keep_logs=0)


async def test_state_checks(queue: Queue, make_worker: WorkerFactory) -> None:
    waiting = await queue.add("w", {})
    delayed = await queue.add("d", {}, delay=600)
    assert await waiting.is_waiting()
    assert await delayed.is_delayed()
    assert not await delayed.is_waiting()
    job = await make_worker().get_next_job("t", block=False)
    assert job is not None
    assert await job.is_active()
    await job.move_to_completed(1, "t", fetch_next=False)
    assert await job.is_completed()
    assert not await job.is_failed()
    assert not await job.is_waiting_children()
