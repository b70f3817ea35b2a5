"""Queue maintenance, global limits and the worker list, shared with Node BullMQ:
a corral call and a Node call on one queue give the same outcome, and each side
sees what the other set."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from corral import JobState, Queue, RateLimiter
from tests.conformance.test_global_limits import listed
from tests.conformance.test_maintenance import finish
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop


async def admin(bullmq: NodeBullMQ, queue: str, *steps: dict[str, Any], **extra: Any) -> Any:
    """Run ``node/admin.mjs`` steps; one result per step."""
    return await bullmq.run("admin.mjs", queue, {"steps": list(steps), **extra})


async def fail_all(make_worker: WorkerFactory, queue: str, n: int, *, fail: bool) -> list[str]:
    """Take ``n`` jobs of ``queue`` and complete (or fail) them; their ids in finish order."""
    return await finish(functools.partial(make_worker, queue), n, fail=fail)


async def test_clean_by_corral_and_by_node_remove_the_same_jobs(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str, make_worker: WorkerFactory
) -> None:
    for name in (f"{queue_name}-py", f"{queue_name}-js"):
        async with Queue(name, url=redis_url) as q:
            for i in range(4):
                await q.add("j", {"i": i})
        await fail_all(make_worker, name, 3, fail=False)
    async with Queue(f"{queue_name}-py", url=redis_url) as py:
        by_corral = await py.clean("completed", grace=0, limit=2)
        py_left = await py.get_job_counts("completed", "waiting")
    (by_node, node_left) = await admin(
        bullmq,
        f"{queue_name}-js",
        {"op": "clean", "grace": 0, "limit": 2, "type": "completed"},
        {"op": "counts", "types": ["completed", "waiting"]},
    )
    assert by_corral == by_node == ["1", "2"]
    assert py_left == node_left == {"completed": 1, "waiting": 1}
    # Both write Node's `cleaned` event.
    (events,) = await admin(bullmq, f"{queue_name}-py", {"op": "events"})
    assert {"event": "cleaned", "count": "2"} in events


async def test_node_sees_corral_drain_retry_and_promote(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    for i in range(3):
        await queue.add("f", {"i": i})
    failed = await fail_all(make_worker, queue_name, 3, fail=True)
    assert await queue.retry_jobs(count=2) == 3
    later = await queue.add("later", {}, delay=600)
    assert await queue.promote_jobs() == 1
    (state, waiting) = await admin(
        bullmq, queue_name, {"op": "getState", "id": later.id},
        {"op": "getJobs", "types": ["waiting"], "asc": True},
    )  # fmt: skip
    assert state == "waiting"
    assert sorted(waiting) == sorted([*failed, later.id])
    assert await queue.drain() == 4
    (counts,) = await admin(bullmq, queue_name, {"op": "counts", "types": ["waiting"]})
    assert counts == {"waiting": 0}


async def test_corral_sees_node_retry_jobs_promote_jobs_and_drain(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    for i in range(2):
        await queue.add("f", {"i": i})
    await fail_all(make_worker, queue_name, 2, fail=True)
    await admin(bullmq, queue_name, {"op": "retryJobs", "state": "failed"})
    assert await queue.get_job_counts("failed", "waiting") == {"failed": 0, "waiting": 2}
    job = await make_worker(queue_name).get_next_job("t", block=False)
    assert job is not None
    assert job.failed_reason is None
    later = await queue.add("later", {}, delay=600)
    await admin(bullmq, queue_name, {"op": "promoteJobs"})
    assert await queue.get_job_state(later.id) is JobState.WAITING
    await admin(bullmq, queue_name, {"op": "drain"})
    assert await queue.get_job_counts("waiting") == {"waiting": 0}


async def test_global_limits_set_by_one_side_are_read_by_the_other(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    await queue.set_global_concurrency(3)
    await queue.set_global_rate_limit(10, 2)
    (concurrency, rate) = await admin(
        bullmq, queue_name, {"op": "getGlobalConcurrency"}, {"op": "getGlobalRateLimit"}
    )
    assert concurrency == 3
    assert rate == {"max": 10, "duration": 2000}
    await admin(
        bullmq, queue_name, {"op": "setGlobalConcurrency", "n": 5},
        {"op": "setGlobalRateLimit", "max": 4, "duration": 500},
    )  # fmt: skip
    assert await queue.get_global_concurrency() == 5
    assert await queue.get_global_rate_limit() == RateLimiter(max=4, duration=0.5)
    await admin(
        bullmq, queue_name, {"op": "removeGlobalConcurrency"}, {"op": "removeGlobalRateLimit"}
    )
    assert await queue.get_global_concurrency() is None
    assert await queue.get_global_rate_limit() is None


async def test_node_global_concurrency_holds_corral_workers(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    for i in range(3):
        await queue.add("j", {"i": i})
    await admin(bullmq, queue_name, {"op": "setGlobalConcurrency", "n": 1})
    worker = make_worker(queue_name, concurrency=3)
    first = await worker.get_next_job("a", block=False)
    assert first is not None
    assert await worker.get_next_job("b", block=False) is None
    assert await queue.get_job_state("2") is JobState.WAITING


async def test_each_side_lists_the_other_sides_workers(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    await queue.add("j", {})
    corral_worker = make_worker(queue_name, name="py-worker")
    assert await corral_worker.get_next_job("t", block=False) is not None
    await listed(queue, 1)  # it records itself in the background of its first fetch
    node = await bullmq.start(
        "admin.mjs", queue_name, {"hold": {"name": "node-worker"},
                                  "steps": [{"op": "getWorkers"}]},
    )  # fmt: skip
    try:
        both = await listed(queue, 2)
        assert sorted(w.name or "" for w in both) == ["node-worker", "py-worker"]
    finally:
        (from_node,) = await node.result(stop=True)
    prefix = queue.prefix + ":"
    assert sorted(w["rawname"].rpartition(":w:")[2] for w in from_node) == [
        "node-worker",
        "py-worker",
    ]
    assert all(w["rawname"].startswith(prefix) and w["name"] == queue_name for w in from_node)


async def test_get_jobs_asc_matches_node(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    for i in range(4):
        await queue.add("j", {"i": i})
    await fail_all(make_worker, queue_name, 2, fail=False)
    for asc in (True, False):
        (node_ids,) = await admin(
            bullmq, queue_name, {"op": "getJobs", "types": ["completed"], "asc": asc}
        )
        ours = [j.id for j in await queue.get_jobs(["completed"], asc=asc)]
        assert ours == node_ids


async def lines(queue: Queue) -> dict[str, list[str]]:
    """Each line's job names, oldest first (as either side leaves them)."""
    return {
        state: [j.name for j in await queue.get_jobs(state, asc=True)]
        for state in ("waiting", "prioritized", "delayed")
    }


async def test_retry_jobs_and_promote_jobs_put_prioritized_jobs_where_node_does(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str, make_worker: WorkerFactory
) -> None:
    outcome = {}
    for side in ("py", "js"):
        name = f"{queue_name}-{side}"
        async with Queue(name, url=redis_url) as q:
            await q.add("ranked", {}, priority=5)
            await q.add("lifo", {}, lifo=True)
            await q.add("plain", {})
            await fail_all(make_worker, name, 3, fail=True)
            # Oldest failure first (jobs failed in one millisecond go by id).
            failed = [j.name for j in await q.get_jobs("failed", asc=True)]
            await q.add("fresh", {})
            await q.add("later-ranked", {}, delay=600, priority=2)
            await q.add("later", {}, delay=700)
            if side == "py":
                assert await q.retry_jobs() == 3
                assert await q.promote_jobs() == 2
            else:
                await admin(bullmq, name, {"op": "retryJobs"}, {"op": "promoteJobs"})
            outcome[side] = await lines(q)
            # Every job in wait, behind the one waiting already, a priority or not.
            assert outcome[side] == {
                "waiting": ["fresh", *failed, "later-ranked", "later"],
                "prioritized": [],
                "delayed": [],
            }
            ranked = next(j for j in await q.get_jobs("waiting") if j.name == "ranked")
            assert ranked.priority == 5


async def test_drain_keeps_the_job_schedulers_next_runs_as_node_does(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    outcome = {}
    for side in ("py", "js"):
        name = f"{queue_name}-{side}"
        async with Queue(name, url=redis_url) as q:
            await q.upsert_job_scheduler("due", every=60, name="due-run")
            await q.upsert_job_scheduler("ranked", every=60, priority=3, name="ranked-run")
            await q.upsert_job_scheduler("nightly", cron="0 3 * * *", name="nightly-run")
            await q.add_bulk([{"name": "other"}] * 3)
            await q.add("urgent", {}, priority=1)
            await q.add("later", {}, delay=600)
            if side == "py":
                assert await q.drain(delayed=True) == 5
            else:
                await admin(bullmq, name, {"op": "drain", "delayed": True})
            outcome[side] = await lines(q)
    assert outcome["py"] == outcome["js"]
    assert outcome["py"] == {
        "waiting": ["due-run"],
        "prioritized": ["ranked-run"],
        "delayed": ["nightly-run"],
    }
