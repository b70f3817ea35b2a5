"""Jobs finished at the same moment (several slots of a worker ending together):
each is checked, recorded and answered on its own, whatever the others do."""

from __future__ import annotations

import asyncio

import pytest

from corral import JobState, LockMismatchError, MissingLockError, Queue, QueueEvents
from corral.job import Job
from tests.conformance.conftest import ApiClock, WorkerFactory
from tests.conformance.test_events import collect
from tests.support import wait_until


async def take(queue: Queue, make_worker: WorkerFactory, count: int, **opts: object) -> list[Job]:
    worker = make_worker(**opts)
    jobs = []
    for n in range(count):
        job = await worker.get_next_job(f"t{n}")
        assert job is not None
        jobs.append(job)
    return jobs


async def test_a_stale_token_refuses_only_its_own_job(
    url: str, queue_name: str, queue: Queue, make_worker: WorkerFactory
) -> None:
    for n in range(6):
        await queue.add("work", {"n": n})
    one, two, three = await take(queue, make_worker, 3)
    async with QueueEvents(queue_name, url=url) as events:
        results = await asyncio.gather(
            one.move_to_completed("first", "t0", fetch_next=True),
            two.move_to_completed("stolen", "intruder", fetch_next=True),
            three.move_to_failed(RuntimeError("third broke"), "t2", fetch_next=True),
            return_exceptions=True,
        )
        seen = await collect(events, "failed")
    after_one, refused, after_three = results
    assert isinstance(refused, LockMismatchError)
    assert refused.job_id == two.id
    # Each finished job's slot got a next job of its own.
    assert isinstance(after_one, Job)
    assert isinstance(after_three, Job)
    assert {after_one.id, after_three.id} == {"4", "5"}
    assert after_one.token != after_three.token
    for job in (after_one, after_three):
        assert await queue.get_job_state(job.id) == JobState.ACTIVE
    assert await queue.get_job_state(one.id) == JobState.COMPLETED
    assert await queue.get_job_state(two.id) == JobState.ACTIVE
    assert await queue.get_job_state(three.id) == JobState.FAILED
    stored = await queue.get_job(one.id)
    assert stored is not None
    assert stored.return_value == "first"
    failed = await queue.get_job(three.id)
    assert failed is not None
    assert failed.failed_reason == "third broke"
    # The refused job is untouched: its own token still finishes it.
    assert (await queue.get_job(two.id)).attempts_made == 0  # type: ignore[union-attr]
    await two.move_to_completed("mine", "t1", fetch_next=False)
    assert await queue.get_job_state(two.id) == JobState.COMPLETED
    finished = [(e.event, e.job_id) for e in seen if e.event in ("completed", "failed")]
    assert finished == [("completed", one.id), ("failed", three.id)]


async def test_a_lost_lock_is_reported_to_its_job_alone(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    for n in range(3):
        await queue.add("work", {"n": n})
    short = make_worker(lock_duration=10)
    lost = await short.get_next_job("short")
    assert lost is not None
    (kept,) = await take(queue, make_worker, 1, lock_duration=60_000)
    await clock.advance(11)
    results = await asyncio.gather(
        lost.move_to_completed("late", "short", fetch_next=False),
        kept.move_to_completed("on time", "t0", fetch_next=True),
        return_exceptions=True,
    )
    assert isinstance(results[0], MissingLockError)
    assert results[0].job_id == lost.id
    assert isinstance(results[1], Job)
    assert results[1].id == "3"
    assert await queue.get_job_state(lost.id) == JobState.ACTIVE
    assert await queue.get_job_state(kept.id) == JobState.COMPLETED


async def test_retention_applies_to_each_job_in_turn(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    for n in range(5):
        await queue.add("work", {"n": n}, remove_on_complete=2)
    jobs = await take(queue, make_worker, 5)
    results = await asyncio.gather(
        *(job.move_to_completed(n, f"t{n}", fetch_next=True) for n, job in enumerate(jobs))
    )
    assert results == [None] * 5  # nothing left to fetch
    completed = await queue.get_jobs(["completed"])
    assert sorted(job.id for job in completed) == ["4", "5"]
    for job in jobs[:3]:
        assert await queue.get_job(job.id) is None
    counts = await queue.get_job_counts("active", "completed", "waiting")
    assert counts == {"active": 0, "completed": 2, "waiting": 0}


@pytest.mark.parametrize("concurrency", [8, 16])
async def test_a_worker_whose_slots_end_together_finishes_every_job(
    queue: Queue, make_worker: WorkerFactory, concurrency: int
) -> None:
    """At concurrency 16 more finishes end on one turn than one Redis call takes
    (8), so they go as several calls; every job must still finish once."""
    seen: list[str] = []

    async def work(job: Job) -> int:
        seen.append(job.id)
        if int(job.id) % 7 == 0:
            raise RuntimeError("sevens fail")
        return int(job.id)

    await queue.add_bulk([{"name": "work", "data": {"n": n}} for n in range(60)])
    worker = make_worker(processor=work, concurrency=concurrency)
    run = asyncio.ensure_future(worker.run())

    async def all_finished() -> bool:
        counts = await queue.get_job_counts("completed", "failed")
        return counts == {"completed": 52, "failed": 8}

    try:
        await wait_until(all_finished, timeout=60, what="every job to finish")
    finally:
        await worker.close()
        await run
    assert sorted(seen, key=int) == [str(n) for n in range(1, 61)]
    done = await queue.get_job("14")
    assert done is not None
    assert done.failed_reason == "sevens fail"
    assert (await queue.get_job("15")).return_value == 15  # type: ignore[union-attr]
