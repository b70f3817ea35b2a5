"""Fetching: order, tokens, blocking for work, delayed promotion."""

from __future__ import annotations

import asyncio
import uuid

from corral import JobState, Queue, Worker
from tests.conformance.conftest import ApiClock, WorkerFactory


async def fetch_all_names(worker: Worker, token: str) -> list[str]:
    names = []
    job = await worker.get_next_job(token, block=False)
    while job is not None:
        names.append(job.name)
        job = await job.move_to_completed(None, token)
    return names


async def test_fifo_then_priorities_with_lifo_first(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("plain-1", {})
    await queue.add("prio-5", {}, priority=5)
    await queue.add("plain-2", {})
    await queue.add("prio-1", {}, priority=1)
    await queue.add("prio-5b", {}, priority=5)
    await queue.add("lifo", {}, lifo=True)
    worker = make_worker()
    names = await fetch_all_names(worker, "tok")
    assert names == ["lifo", "plain-1", "plain-2", "prio-1", "prio-5", "prio-5b"]


async def test_fetched_job_is_active_locked_and_counted(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("test", {"foo": "bar"})
    worker = make_worker(name="w-1")
    job = await worker.get_next_job("my-token")
    assert job is not None
    assert job.token == "my-token"
    assert job.data == {"foo": "bar"}
    assert job.attempts_started == 1
    assert job.processed_on is not None
    assert job.processed_by == "w-1"
    assert await job.get_state() == JobState.ACTIVE
    assert await queue.get_job_counts("active", "waiting") == {"active": 1, "waiting": 0}


async def test_no_token_makes_a_uuid(queue: Queue, make_worker: WorkerFactory) -> None:
    await queue.add("test", {})
    job = await make_worker().get_next_job()
    assert job is not None
    assert job.token is not None
    uuid.UUID(job.token)
    await job.move_to_completed("ok", fetch_next=False)
    assert await queue.get_job_state(job.id) == JobState.COMPLETED


async def test_empty_queue_returns_none(make_worker: WorkerFactory) -> None:
    worker = make_worker(drain_delay=0.1)
    assert await worker.get_next_job("t", block=False) is None
    assert await worker.get_next_job("t") is None


async def test_blocking_fetch_wakes_when_a_job_arrives(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    worker = make_worker(drain_delay=30)

    async def add_later() -> None:
        await asyncio.sleep(0.3)
        await queue.add("late", {"n": 1})

    adder = asyncio.create_task(add_later())
    job = await worker.get_next_job("t")
    await adder
    assert job is not None
    assert job.name == "late"


async def test_due_delayed_job_is_promoted_and_fetched(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("soon", {}, delay=1)  # long enough for a first Cluster connection under load
    worker = make_worker(drain_delay=10)
    assert await worker.get_next_job("t", block=False) is None
    job = await worker.get_next_job("t")
    assert job is not None
    assert job.name == "soon"
    assert job.delay == 0


async def test_delayed_prioritized_job_keeps_its_priority_once_due(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("prio-2", {}, priority=2)
    await queue.add("delayed-prio-1", {}, priority=1, delay=60)
    await clock.advance(61)
    names = await fetch_all_names(make_worker(), "t")
    assert names == ["delayed-prio-1", "prio-2"]


async def test_fetch_next_returns_next_job_locked_with_same_token(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    for i in range(3):
        await queue.add("job", {"i": i})
    worker = make_worker()
    token = "loop-token"
    seen = []
    job = await worker.get_next_job(token)
    while job:
        assert job.token == token
        assert await job.get_state() == JobState.ACTIVE
        seen.append(job.data["i"])
        job = await job.move_to_completed({"done": job.data["i"]}, token)
    assert seen == [0, 1, 2]
    assert (await queue.get_job_counts("completed"))["completed"] == 3
    done = await queue.get_job("2")
    assert done is not None
    assert done.return_value == {"done": 1}
    assert done.attempts_made == 1
    assert done.finished_on is not None
