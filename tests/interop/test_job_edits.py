"""Job edits and waiting for results, shared with Node BullMQ: what one side
changes the other sees, and each side waits for jobs the other ran."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral import JobFailedError, JobState, Queue
from tests.interop.conftest import NodeBullMQ, WorkerFactory
from tests.interop.test_maintenance import admin

pytestmark = pytest.mark.interop


async def test_node_sees_corral_edits(bullmq: NodeBullMQ, queue: Queue, queue_name: str) -> None:
    later = await queue.add("later", {"v": 1}, delay=3600)
    await later.change_delay(120)
    await later.update_data({"v": 2})
    ranked = await queue.add("ranked", {}, priority=5)
    await ranked.change_priority(2)
    (node_later, node_ranked, state) = await admin(
        bullmq, queue_name, {"op": "fromId", "id": later.id}, {"op": "fromId", "id": ranked.id},
        {"op": "getState", "id": ranked.id},
    )  # fmt: skip
    assert node_later["delay"] == 120_000
    assert node_later["data"] == {"v": 2}
    assert node_ranked["priority"] == 2
    assert state == "prioritized"
    (events,) = await admin(bullmq, queue_name, {"op": "events"})
    delayed = [e for e in events if e["event"] == "delayed" and e["jobId"] == later.id]
    assert len(delayed) == 2  # the add's and change_delay's, with the new due time


async def test_corral_sees_node_edits(bullmq: NodeBullMQ, queue: Queue, queue_name: str) -> None:
    later = await queue.add("later", {"v": 1}, delay=3600)
    plain = await queue.add("plain", {})
    await admin(
        bullmq, queue_name, {"op": "changeDelay", "id": later.id, "delay": 60000},
        {"op": "updateData", "id": later.id, "data": {"v": "node"}},
        {"op": "changePriority", "id": plain.id, "priority": 7},
    )  # fmt: skip
    edited = await queue.get_job(later.id)
    assert edited is not None
    assert edited.delay == 60
    assert edited.data == {"v": "node"}
    assert await queue.get_job_state(plain.id) is JobState.PRIORITIZED
    ranked = await queue.get_job(plain.id)
    assert ranked is not None
    assert ranked.priority == 7


async def test_change_priority_by_each_side_orders_the_same(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    orders = {}
    for side in ("py", "js"):
        name = f"{queue_name}-{side}"
        async with Queue(name, url=redis_url) as q:
            for n in ("a", "b", "c"):
                await q.add(n, {}, priority=3)
            if side == "py":
                job = await q.get_job("3")
                assert job is not None
                await job.change_priority(3, lifo=True)
            else:
                await admin(
                    bullmq, name, {"op": "changePriority", "id": "3", "priority": 3, "lifo": True}
                )
            orders[side] = [j.id for j in await q.get_jobs("prioritized")]
    assert orders["py"] == orders["js"] == ["3", "1", "2"]


async def test_a_job_corral_moved_to_delayed_is_seen_delayed_by_node(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    await queue.add("step", {})
    job = await make_worker(queue_name).get_next_job("t", block=False)
    assert job is not None
    await job.move_to_delayed(datetime.now(UTC) + timedelta(minutes=5))
    (state, view) = await admin(
        bullmq, queue_name, {"op": "getState", "id": job.id}, {"op": "fromId", "id": job.id}
    )
    assert state == "delayed"
    assert view["attemptsMade"] == 0
    assert 290_000 < view["delay"] <= 301_000


async def test_corral_waits_for_a_job_node_runs(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    ok = await queue.add("ok", {"n": 1})
    bad = await queue.add("bad", {}, attempts=1)
    node = await bullmq.start(
        "work.mjs", queue_name, {"fail": {"bad": 1}, "until": {"finished": 2}, "timeoutMs": 20000}
    )
    try:
        value = await ok.wait_until_finished(timeout=20)
        with pytest.raises(JobFailedError, match="planned failure"):
            await bad.wait_until_finished(timeout=20)
    finally:
        await node.result()
    assert value["by"] == "node"
    assert value["data"] == {"n": 1}


async def test_node_waits_for_a_job_corral_runs(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    job = await queue.add("py", {"n": 2})
    waiting = await bullmq.start(
        "admin.mjs", queue_name, {"awaitFinished": {"id": job.id, "ttl": 20000}}
    )
    fetched = await make_worker(queue_name).get_next_job("t", block=False)
    assert fetched is not None
    await fetched.move_to_completed({"by": "corral"}, "t", fetch_next=False)
    (answer,) = await waiting.result()
    assert answer == {"value": {"by": "corral"}}
