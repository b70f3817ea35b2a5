"""Queue-wide controls and retries set by one language are obeyed by the other."""

from __future__ import annotations

import asyncio

import pytest

from corral import JobState, Queue
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop


async def test_corral_pause_stops_a_node_worker_until_resume(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    await queue.pause()
    node = await bullmq.start(
        "work.mjs", queue_name, {"until": {"finished": 1}, "timeoutMs": 15000}
    )
    (paused,) = await bullmq.ops(queue_name, {"op": "isPaused"})
    assert paused is True
    job = await queue.add("waits", {"n": 1})
    await asyncio.sleep(0.8)  # the Node worker is running, but must not take the job
    assert await queue.get_job_state(job.id) == JobState.WAITING
    await queue.resume()
    result = await node.result()
    assert not result["timedOut"], result
    assert [c["id"] for c in result["completed"]] == [job.id]
    assert await queue.get_job_state(job.id) == JobState.COMPLETED


async def test_node_pause_stops_corral_until_node_resumes(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    job = await queue.add("waits", {})
    await bullmq.ops(queue_name, {"op": "pause"})
    assert await queue.is_paused()
    worker = make_worker(queue_name)
    assert await worker.get_next_job("t", block=False) is None
    assert await worker.get_next_job("t", block=True) is None  # waits drain_delay, gets none
    assert await queue.get_job_state(job.id) == JobState.WAITING
    assert (await queue.get_job_counts("waiting"))["waiting"] == 1

    await bullmq.ops(queue_name, {"op": "resume"})
    assert not await queue.is_paused()
    got = await worker.get_next_job("t", block=False)
    assert got is not None
    assert got.id == job.id


async def test_corral_rate_limit_is_seen_by_node(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    job = await queue.add("limited", {})
    await queue.rate_limit(5)
    ttl, limited_fetch = await bullmq.ops(
        queue_name,
        {"op": "getRateLimitTtl"},
        {"op": "getNextJob", "token": "limited"},
        worker={"limiter": {"max": 10, "duration": 1000}},
    )
    (unlimited_fetch,) = await bullmq.ops(queue_name, {"op": "getNextJob", "token": "unlimited"})
    assert 0 < ttl <= 5000
    # A Node worker with a limiter honours the queue-wide limit corral set ...
    assert limited_fetch is None
    # ... one without a limiter ignores it, as BullMQ 6 does with its own rateLimit.
    assert unlimited_fetch is not None
    assert unlimited_fetch["id"] == job.id


async def test_node_rate_limit_is_seen_by_corral(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    job = await queue.add("limited", {})
    await bullmq.ops(queue_name, {"op": "rateLimit", "ms": 5000})
    assert 0 < await queue.get_rate_limit_ttl() <= 5
    worker = make_worker(queue_name)
    assert await worker.get_next_job("t", block=False) is None
    assert 0 < worker.rate_limited_for <= 5
    assert await queue.get_job_state(job.id) == JobState.WAITING


async def test_node_failure_with_attempts_left_is_retried_by_corral(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    now = await queue.add("again", {"n": 1}, attempts=3)
    later = await queue.add("after-backoff", {"n": 2}, attempts=2, backoff=0.3)
    fetched_now, _, fetched_later, _, *states = await bullmq.ops(
        queue_name,
        {"op": "getNextJob", "token": "node"},
        {"op": "fail", "id": now.id, "token": "node", "message": "node says no"},
        {"op": "getNextJob", "token": "node"},
        {"op": "fail", "id": later.id, "token": "node", "message": "node says later"},
        {"op": "getState", "id": now.id},
        {"op": "getState", "id": later.id},
    )
    assert fetched_now is not None
    assert fetched_now["id"] == now.id
    assert fetched_later is not None
    assert fetched_later["id"] == later.id
    assert states == ["waiting", "delayed"]
    assert await queue.get_job_state(now.id) == JobState.WAITING
    assert await queue.get_job_state(later.id) == JobState.DELAYED

    worker = make_worker(queue_name, drain_delay=5)
    retried = await worker.get_next_job("corral", block=False)
    assert retried is not None
    assert retried.id == now.id
    assert retried.attempts_made == 1
    assert retried.failed_reason == "node says no"
    await retried.move_to_completed("second time lucky", "corral", fetch_next=False)

    backed_off = await worker.get_next_job("corral", block=True)
    assert backed_off is not None
    assert backed_off.id == later.id
    assert backed_off.attempts_made == 1
    assert backed_off.processed_on is not None
    # Not before the 300 ms backoff Node applied from the stored options.
    assert backed_off.processed_on.timestamp() * 1000 >= fetched_later["processedOn"] + 300
    await backed_off.move_to_completed("patience", "corral", fetch_next=False)

    views = await bullmq.ops(
        queue_name, {"op": "fromId", "id": now.id}, {"op": "fromId", "id": later.id}
    )
    assert [v["returnvalue"] for v in views] == ["second time lucky", "patience"]
    assert [v["attemptsMade"] for v in views] == [2, 2]
