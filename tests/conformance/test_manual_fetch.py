"""The manual-fetching guide, as written in corral's README, run on every backend."""

from __future__ import annotations

from corral import Job, JobState, Queue, Worker
from tests.conformance.conftest import ApiClock


async def test_manual_fetching_guide(url: str, queue_name: str, clock: ApiClock) -> None:
    queue = Queue(queue_name, url=url)
    await queue.add("test", {"foo": "bar"})
    await Job.create(queue, "test", {"foo": "bar"})

    worker = Worker(queue_name, url=url)
    token = "my-token"
    job = await worker.get_next_job(token)
    assert job is not None
    succeeded = True
    if succeeded:
        await job.move_to_completed("some return value", token, fetch_next=False)
    else:
        await job.move_to_failed(Exception("my error message"), token, fetch_next=False)
    await worker.close()
    assert await queue.get_job_state(job.id) == JobState.COMPLETED

    worker = Worker(queue_name, None, url=url, lock_duration=60)
    job = await worker.get_next_job(token)
    assert job is not None
    await job.extend_lock(token, 30)
    await worker.start_stalled_check_timer()
    await job.move_to_failed(Exception("my error message"), token, fetch_next=False)
    assert await queue.get_job_state(job.id) == JobState.FAILED

    for i in range(3):
        await queue.add("loop", {"i": i})
    results = []
    job = await worker.get_next_job(token)
    while job:
        result = job.data["i"] * 10
        results.append(result)
        job = await job.move_to_completed(result, token)
    assert results == [0, 10, 20]

    await queue.add("limited", {})
    await queue.rate_limit(60)
    assert await worker.get_next_job(token, block=False) is None
    await clock.advance(61)
    job = await worker.get_next_job(token)
    assert job is not None
    await job.move_to_wait(token)
    assert await queue.get_job_state(job.id) == JobState.WAITING
    await worker.close()
    await queue.close()
