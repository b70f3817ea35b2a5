"""Cancellation seen from Node BullMQ: a cancelled job is an ordinary failed job to
Node's getters, and a Node worker fails a cancelled job that stalled back."""

from __future__ import annotations

import pytest

from corral import CancelOutcome, JobState, Queue
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop


async def test_node_reads_a_cancelled_job_as_failed_with_its_reason(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    job = await queue.add("report", {"n": 1}, attempts=3, timeout=5)
    answer = await queue.cancel(job.id, reason="not needed")
    assert answer.outcome is CancelOutcome.CANCELLED
    steps = await bullmq.run(
        "ops.mjs",
        queue_name,
        {"steps": [{"op": "getState", "id": job.id}, {"op": "fromId", "id": job.id},
                   {"op": "counts", "types": ["waiting", "failed"]}]},
    )  # fmt: skip
    state, view, counts = steps
    assert state == "failed"
    assert view["failedReason"] == "cancelled: not needed"
    assert view["opts"]["timeout"] == 5000
    assert counts == {"waiting": 0, "failed": 1}


async def test_a_node_worker_fails_a_cancelled_job_that_stalled_back(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    await queue.add("orphan", {}, attempts=3)
    dead = make_worker(queue_name, lock_duration=0.3)
    job = await dead.get_next_job("dead-token", block=False)
    assert job is not None
    assert (await queue.cancel(job.id, reason="cleanup")).outcome is CancelOutcome.REQUESTED
    await dead.close()  # its holder vanishes; the lock runs out

    node = await bullmq.start(
        "work.mjs",
        queue_name,
        {
            "options": {"stalledInterval": 300, "lockDuration": 5000, "maxStalledCount": 1},
            "timeoutMs": 3000,  # Node's worker counts an unrecoverable failure as not final
        },
    )
    result = await node.result()
    assert result["seen"] == []  # Node never ran it
    assert [(f["id"], f["failedReason"]) for f in result["failed"]] == [
        (job.id, "cancelled: cleanup")
    ]
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert await failed.get_state() == JobState.FAILED
    assert failed.failed_reason == "cancelled: cleanup"
