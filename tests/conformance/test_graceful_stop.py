"""A graceful stop keeps its promise: a job that finishes within the grace period
completes, however short the lock, because its lock is renewed until the worker's
last job is done."""

from __future__ import annotations

import asyncio

from corral import Job, JobState, Queue
from tests.conformance.conftest import WorkerFactory


async def test_a_job_finishing_in_the_grace_period_keeps_its_lock_and_completes(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    # The job runs more than twice the lock: it must be renewed meanwhile. Renewals
    # every half lock leave a second of slack, wide enough for a loaded cluster.
    started = asyncio.Event()

    async def slow(job: Job) -> str:
        started.set()
        await asyncio.sleep(4.5)
        return "finished in the grace period"

    errors: list[BaseException] = []
    job = await queue.add("slow", {})
    worker = make_worker(processor=slow, lock_duration=2, stalled_interval=0.3)
    worker.on("error", lambda error, job: errors.append(error))
    running = asyncio.create_task(worker.run())
    # Running, not just fetched: a job fetched as the worker stops is given back.
    await asyncio.wait_for(started.wait(), 30)
    await worker.close(grace=10)
    await running
    assert errors == []
    assert await queue.get_job_state(job.id) is JobState.COMPLETED
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.return_value == "finished in the grace period"
