"""A job's lock belongs to the token that fetched it, whichever language holds it:
the other side cannot finish, fail or extend it with another token, and the
refusal changes nothing."""

from __future__ import annotations

import pytest

from corral import JobState, LockError, LockMismatchError, Queue
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop


async def test_node_cannot_move_a_job_corral_holds(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    await queue.add("held", {"v": 1})
    worker = make_worker(queue_name)
    job = await worker.get_next_job("corral-token", block=False)
    assert job is not None

    completed, failed, extended, state, view = await bullmq.ops(
        queue_name,
        {"op": "complete", "id": job.id, "token": "wrong", "value": "stolen", "catch": True},
        {"op": "fail", "id": job.id, "token": "wrong", "message": "sabotage", "catch": True},
        {"op": "extendLock", "id": job.id, "token": "wrong", "duration": 60000},
        {"op": "getState", "id": job.id},
        {"op": "fromId", "id": job.id},
    )
    for refused in (completed, failed):
        assert refused["error"]["code"] == -6, refused
        assert "Lock mismatch" in refused["error"]["message"]
    assert extended == 0
    assert state == "active"
    assert view["returnvalue"] is None
    assert view["failedReason"] is None
    assert view["finishedOn"] is None
    assert view["attemptsMade"] == 0

    # corral's lock is intact: the holder extends it and finishes the job.
    await job.extend_lock("corral-token", 10)
    await job.move_to_completed({"mine": True}, "corral-token", fetch_next=False)
    (after,) = await bullmq.ops(queue_name, {"op": "fromId", "id": job.id})
    assert after["returnvalue"] == {"mine": True}
    assert after["finishedOn"] is not None


async def test_corral_cannot_move_a_job_node_holds(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    _, fetched = await bullmq.ops(
        queue_name,
        {"op": "add", "name": "held", "data": {"v": 2}, "opts": {"attempts": 3}},
        {"op": "getNextJob", "token": "node-token"},
    )
    assert fetched["token"] == "node-token"
    job = await queue.get_job(fetched["id"])
    assert job is not None

    with pytest.raises(LockMismatchError) as caught:
        await job.move_to_completed("stolen", "wrong", fetch_next=False)
    assert caught.value.job_id == job.id
    with pytest.raises(LockMismatchError):
        await job.move_to_failed(RuntimeError("sabotage"), "wrong")
    with pytest.raises(LockError):
        await job.extend_lock("wrong", 60)
    with pytest.raises(LockMismatchError):
        await job.move_to_wait("wrong")

    assert await queue.get_job_state(job.id) == JobState.ACTIVE
    unchanged = await queue.get_job(job.id)
    assert unchanged is not None
    assert unchanged.return_value is None
    assert unchanged.failed_reason is None
    assert unchanged.attempts_made == 0
    assert unchanged.finished_on is None

    # Node's lock is intact: the holder extends it and finishes the job.
    extended, done = await bullmq.ops(
        queue_name,
        {"op": "extendLock", "id": job.id, "token": "node-token", "duration": 10000},
        {"op": "complete", "id": job.id, "token": "node-token", "value": {"node": True}},
    )
    assert extended == 1
    assert done["returnvalue"] == {"node": True}
    final = await queue.get_job(job.id)
    assert final is not None
    assert await final.get_state() == JobState.COMPLETED
    assert final.return_value == {"node": True}
    assert final.attempts_made == 1
