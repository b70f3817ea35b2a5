"""A job whose holder died is recovered by the other language's stalled checker."""

from __future__ import annotations

import asyncio

import pytest

from corral import JobState, Queue
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop


async def test_node_stalled_checker_recovers_job_corral_abandoned(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    await queue.add("orphan", {"work": "to do"})
    dead = make_worker(queue_name, lock_duration=0.3)
    job = await dead.get_next_job("dead-token", block=False)
    assert job is not None
    await dead.close()  # the holder vanishes without finishing the job

    node = await bullmq.start(
        "work.mjs",
        queue_name,
        {
            "options": {"stalledInterval": 300, "lockDuration": 5000, "maxStalledCount": 1},
            "until": {"finished": 1},
            "timeoutMs": 15000,
        },
    )
    result = await node.result()
    assert not result["timedOut"], result
    assert result["stalled"] == [job.id]
    (seen,) = result["seen"]
    assert seen["id"] == job.id
    assert seen["stalledCounter"] == 1
    assert seen["attemptsStarted"] == 2  # corral's start, then Node's
    assert seen["attemptsMade"] == 0
    assert result["completed"][0]["id"] == job.id

    recovered = await queue.get_job(job.id)
    assert recovered is not None
    assert await recovered.get_state() == JobState.COMPLETED
    assert recovered.stalled_counter == 1
    assert recovered.return_value == {
        "by": "node",
        "name": "orphan",
        "data": {"work": "to do"},
        "attempt": 1,
    }
    # The dead holder's token no longer owns anything.
    assert await queue.get_job_counts("active", "waiting") == {"active": 0, "waiting": 0}


async def test_corral_stalled_checker_recovers_job_node_abandoned(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    await queue.add("healthy", {})
    _, fetched = await bullmq.ops(
        queue_name,
        {"op": "add", "name": "orphan", "data": {"from": "node"}},
        {"op": "getNextJob", "token": "node-gone"},
        worker={"lockDuration": 300},
    )
    # Plain jobs are taken oldest first, so Node holds "healthy" (added by corral).
    job_id = fetched["id"]
    assert fetched["name"] == "healthy"
    listener = await bullmq.start(
        "events.mjs",
        queue_name,
        {
            "events": ["stalled", "completed", "waiting"],
            "until": [["stalled", job_id], ["completed", job_id]],
            "timeoutMs": 15000,
        },
    )

    checker = make_worker(queue_name, stalled_interval=0.1)
    # Two-phase rule: the first pass only marks active jobs as candidates.
    assert await checker.check_stalled_jobs() == []
    assert await queue.get_job_state(job_id) == JobState.ACTIVE
    recovered: list[str] = []
    for _ in range(50):  # the Node lock expires 300 ms after the fetch
        await asyncio.sleep(0.1)
        recovered = await checker.check_stalled_jobs()
        if recovered:
            break
    assert recovered == [job_id]
    assert await queue.get_job_state(job_id) == JobState.WAITING

    # Back at the front of the line, ahead of "orphan".
    again = await checker.get_next_job("corral-token", block=False)
    assert again is not None
    assert again.id == job_id
    assert again.stalled_counter == 1
    assert again.attempts_started == 2
    await again.move_to_completed("recovered by corral", "corral-token", fetch_next=False)

    heard = await listener.result()
    assert not heard["timedOut"], heard
    events = [(e["event"], e["jobId"]) for e in heard["events"] if e["jobId"] == job_id]
    assert events.index(("stalled", job_id)) < events.index(("completed", job_id))
    completed = next(e for e in heard["events"] if e["event"] == "completed")
    assert completed["returnvalue"] == "recovered by corral"

    (view,) = await bullmq.ops(queue_name, {"op": "fromId", "id": job_id})
    assert view["returnvalue"] == "recovered by corral"
    assert view["stalledCounter"] == 1
    assert view["finishedOn"] is not None
    assert view["attemptsMade"] == 1
