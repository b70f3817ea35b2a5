"""``max_started_attempts`` (Node's ``maxStartedAttempts``): a job put back again and
again fails the same way whichever language's worker caps it, and both read it."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from corral import Job, JobState, Queue, RateLimitError, Worker
from tests import support
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop

STARTED_TOO_OFTEN = "job started more than allowable limit"


wait_until = functools.partial(support.wait_until, timeout=15.0, every=0.05)


async def _failed_count(queue: Queue) -> bool:
    return (await queue.get_job_counts("failed"))["failed"] >= 1


async def test_a_corral_worker_caps_a_node_job_and_node_reads_why_it_failed(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, redis_url: str
) -> None:
    (added,) = await bullmq.ops(
        queue_name, {"op": "add", "name": "api-call", "data": {}, "opts": {"attempts": 5}}
    )
    starts = 0

    async def process(job: Job) -> None:
        nonlocal starts
        starts += 1
        raise RateLimitError(retry_after=0.05)

    worker = Worker(queue_name, process, url=redis_url, drain_delay=0.2, max_started_attempts=1)
    try:
        async with worker:
            await wait_until(lambda: _failed_count(queue))
    finally:
        await worker.close()
    assert starts == 1  # the second start failed it without running it
    state, node_job = await bullmq.ops(
        queue_name, {"op": "getState", "id": added["id"]}, {"op": "fromId", "id": added["id"]}
    )
    assert state == "failed"
    assert node_job["failedReason"] == STARTED_TOO_OFTEN
    assert node_job["attemptsStarted"] == 2
    assert node_job["attemptsMade"] == 1
    assert node_job["finishedOn"] is not None


async def test_node_and_corral_workers_cap_the_same_job_the_same_way(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, redis_url: str
) -> None:
    # The same kind of job, once through Node's worker and once through corral's.
    node_id = (await queue.add("api-call", {}, attempts=5)).id
    node = await bullmq.start(
        "work.mjs",
        queue_name,
        {
            "options": {"maxStartedAttempts": 1, "drainDelay": 1},
            "rateLimit": {"api-call": 50},
            "timeoutMs": 15000,
        },
    )
    await wait_until(lambda: _failed_count(queue))
    node_result = await node.result(stop=True)
    assert [f["failedReason"] for f in node_result["failed"]] == [STARTED_TOO_OFTEN]
    by_node = await queue.get_job(node_id)

    corral_id = (await queue.add("api-call", {}, attempts=5)).id

    async def process(job: Job) -> None:
        raise RateLimitError(retry_after=0.05)

    worker = Worker(queue_name, process, url=redis_url, drain_delay=0.2, max_started_attempts=1)
    try:
        async with worker:
            await wait_until(lambda: _counts_reach(queue, "failed", 2))
    finally:
        await worker.close()
    by_corral = await queue.get_job(corral_id)
    assert by_node is not None
    assert by_corral is not None
    assert (
        _outcome(by_corral)
        == _outcome(by_node)
        == {
            "state": "failed",
            "failed_reason": STARTED_TOO_OFTEN,
            "attempts_made": 1,
            "attempts_started": 2,
            "stacktrace_frames": 1,
        }
    )
    assert "UnrecoverableError" in by_corral.stacktrace[0]
    assert "UnrecoverableError" in by_node.stacktrace[0]


async def test_a_failure_once_started_that_often_is_not_retried_on_either_side(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    node_job, _fetched, _failed, node_state = await bullmq.ops(
        queue_name,
        {"op": "add", "name": "flaky", "data": {}, "opts": {"attempts": 3}},
        {"op": "getNextJob", "token": "node-tok"},
        {"op": "fail", "id": "1", "token": "node-tok", "message": "flaky"},
        {"op": "getState", "id": "1"},
        worker={"maxStartedAttempts": 1},
    )
    assert node_state == "failed"

    added = await queue.add("flaky", {}, attempts=3)
    worker = make_worker(queue_name, max_started_attempts=1)
    job = await worker.get_next_job("corral-tok", block=False)
    assert job is not None
    assert job.id == added.id
    await job.move_to_failed(ValueError("flaky"), "corral-tok")
    assert await queue.get_job_state(added.id) is JobState.FAILED
    by_node = await queue.get_job(node_job["id"])
    by_corral = await queue.get_job(added.id)
    assert by_node is not None
    assert by_corral is not None
    assert (
        (by_corral.failed_reason, by_corral.attempts_made)
        == (
            by_node.failed_reason,
            by_node.attempts_made,
        )
        == ("flaky", 1)
    )


async def _counts_reach(queue: Queue, state: str, n: int) -> bool:
    return (await queue.get_job_counts(state))[state] >= n


def _outcome(job: Job) -> dict[str, Any]:
    return {
        "state": "failed" if job.finished_on is not None and job.failed_reason else "other",
        "failed_reason": job.failed_reason,
        "attempts_made": job.attempts_made,
        "attempts_started": job.attempts_started,
        "stacktrace_frames": len(job.stacktrace),
    }
