"""State that both languages read and write: limiter windows, stall limits,
payload encoding, ids and priorities put back in line."""

from __future__ import annotations

import asyncio

import pytest

from corral import JobState, Queue, RateLimiter
from corral.backends.base import STALLED_LIMIT_REASON
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop

AWKWARD_DATA = {
    "text": 'héllo ✓ 日本語 "quoted" \\ back\nslash',
    "emoji": "🐍🟢",
    "float": 1.5,
    "small": -0.000125,
    "max_safe_int": 2**53 - 1,
    "empty": {},
    "list": [None, True, False, 0, ""],
}


async def test_payloads_round_trip_unchanged_both_ways(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    job = await queue.add("from-corral", AWKWARD_DATA)
    (seen_by_node, node_job) = await bullmq.ops(
        queue_name,
        {"op": "fromId", "id": job.id},
        {"op": "add", "name": "from-node", "data": AWKWARD_DATA},
    )
    assert seen_by_node["data"] == AWKWARD_DATA
    worker = make_worker(queue_name)
    first = await worker.get_next_job("t", block=False)
    second = await worker.get_next_job("t", block=False)
    assert first is not None
    assert second is not None
    assert (first.name, second.name) == ("from-corral", "from-node")
    assert second.data == AWKWARD_DATA
    await second.move_to_completed(AWKWARD_DATA, "t", fetch_next=False)
    (done,) = await bullmq.ops(queue_name, {"op": "fromId", "id": node_job["id"]})
    assert done["returnvalue"] == AWKWARD_DATA


async def test_duplicate_custom_id_is_one_job_across_languages(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    first = await queue.add("original", {"v": 1}, job_id="only-once")
    (node_dup,) = await bullmq.ops(
        queue_name, {"op": "add", "name": "copy", "data": {"v": 2}, "opts": {"jobId": "only-once"}}
    )
    assert node_dup["id"] == "only-once"
    again = await queue.add("copy-2", {"v": 3}, job_id="only-once")
    assert again.id == first.id
    assert again.name == "original"
    assert again.data == {"v": 1}
    assert (await queue.get_job_counts("waiting"))["waiting"] == 1


async def test_worker_limiter_window_is_shared(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    """Workers with the same limiter count their fetches in one window, whatever the language."""
    for i in range(4):
        await queue.add("limited", {"i": i})
    worker = make_worker(queue_name, limiter=RateLimiter(max=2, duration=10))
    taken = [await worker.get_next_job("t", block=False) for _ in range(2)]
    assert all(j is not None for j in taken)
    (node_fetch,) = await bullmq.ops(
        queue_name,
        {"op": "getNextJob", "token": "node"},
        worker={"limiter": {"max": 2, "duration": 10000}},
    )
    assert node_fetch is None  # corral used up the window
    assert await worker.get_next_job("t", block=False) is None
    assert worker.rate_limited_for > 0
    assert (await queue.get_job_counts("waiting"))["waiting"] == 2


async def test_node_checker_fails_a_corral_job_that_stalled_too_often(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    job = await queue.add("cursed", {})
    dead = make_worker(queue_name, lock_duration=0.2)
    assert await dead.get_next_job("gone", block=False) is not None
    result = await (
        await bullmq.start(
            "work.mjs",
            queue_name,
            {
                "options": {"stalledInterval": 300, "maxStalledCount": 0},
                "until": {"finished": 1},
                "timeoutMs": 15000,
            },
        )
    ).result()
    assert not result["timedOut"], result
    assert result["seen"] == []  # failed by the checker, never run
    assert [f["id"] for f in result["failed"]] == [job.id]
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert await failed.get_state() == JobState.FAILED
    assert failed.failed_reason == STALLED_LIMIT_REASON


async def test_corral_checker_fails_a_node_job_that_stalled_too_often(
    bullmq: NodeBullMQ, queue_name: str, make_worker: WorkerFactory
) -> None:
    cursed, _, held = await bullmq.ops(
        queue_name,
        {"op": "add", "name": "cursed", "data": {}},
        {"op": "add", "name": "healthy", "data": {}},
        {"op": "getNextJob", "token": "gone"},
        worker={"lockDuration": 200},
    )
    checker = make_worker(queue_name, stalled_interval=0.05, max_stalled_count=0)
    assert await checker.check_stalled_jobs() == []
    for _ in range(50):
        await asyncio.sleep(0.1)
        if await checker.check_stalled_jobs():
            break
    nxt = await checker.get_next_job("t", block=False)
    assert nxt is not None
    assert nxt.name == "healthy"
    assert held["id"] == cursed["id"]
    views = await bullmq.ops(
        queue_name, {"op": "getState", "id": cursed["id"]}, {"op": "fromId", "id": cursed["id"]}
    )
    assert views[0] == "failed"
    assert views[1]["name"] == "cursed"
    assert views[1]["failedReason"] == STALLED_LIMIT_REASON


async def test_prioritized_job_put_back_keeps_its_place_for_node(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    await queue.add("p2-first", {}, priority=2)
    await queue.add("p2-second", {}, priority=2)
    await queue.add("p1", {}, priority=1)
    worker = make_worker(queue_name)
    p1 = await worker.get_next_job("t", block=False)
    p2 = await worker.get_next_job("t", block=False)
    assert p1 is not None
    assert p2 is not None
    assert (p1.name, p2.name) == ("p1", "p2-first")
    await p2.move_to_wait("t")  # back ahead of its priority-2 peers
    await p1.move_to_wait("t")
    fetched = await bullmq.ops(
        queue_name, *[{"op": "getNextJob", "token": "node"} for _ in range(3)]
    )
    assert [f["name"] for f in fetched] == ["p1", "p2-first", "p2-second"]
