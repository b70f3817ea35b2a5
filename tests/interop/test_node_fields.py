"""What corral writes, field by field, against what Node BullMQ writes for the same
thing: the queue's meta hash, the ``removed`` event, a job failed for stalling too
often, and retention by age. Tools that read the keys must not tell them apart
(but for who wrote the queue, which ``meta.version`` says)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from redis.asyncio import Redis

from corral import Job, JobState, Queue, RemovePolicy, Worker, __version__
from corral.backends.redis.keys import QueueKeys
from tests.conformance.test_worker_run import counts_reach, wait_until
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop


async def test_the_meta_hash_has_the_fields_node_writes_and_says_corral_wrote_it(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, raw: Redis
) -> None:
    await queue.add("x", {})
    ours = await raw.hgetall(QueueKeys("bull", queue_name).key("meta"))
    node_queue = f"{queue_name}-node"
    await bullmq.ops(node_queue, {"op": "add", "name": "x"})
    theirs = await raw.hgetall(QueueKeys("bull", node_queue).key("meta"))
    assert set(ours) == set(theirs) == {"opts.maxLenEvents", "version"}
    assert ours["opts.maxLenEvents"] == theirs["opts.maxLenEvents"]
    assert theirs["version"] == "bullmq:6.7.0"
    assert ours["version"] == f"corral:{__version__}"
    # Node reads it with its own API (a Node Queue that does not write meta itself).
    (version,) = await bullmq.run(
        "ops.mjs", queue_name, {"steps": [{"op": "version"}], "queue": {"skipMetasUpdate": True}}
    )
    assert version == f"corral:{__version__}"


async def _removed_events(
    bullmq: NodeBullMQ, queue_name: str, remove: Any, ids: dict[str, str]
) -> dict[str, str]:
    listener = await bullmq.start(
        "events.mjs",
        queue_name,
        {"events": ["removed"], "until": [["removed", i] for i in ids.values()]},
    )
    for job_id in ids.values():
        await remove(job_id)
    heard = await listener.result()
    assert not heard["timedOut"], heard
    by_id = {e["jobId"]: e["prev"] for e in heard["events"]}
    return {state: by_id[job_id] for state, job_id in ids.items()}


async def _jobs_in_every_state(
    queue: Queue, worker: Worker, tags: list[str]
) -> list[dict[str, str]]:
    made: list[dict[str, str]] = [{} for _ in tags]
    for ids, tag in zip(made, tags, strict=True):
        for state in ("completed", "failed"):
            ids[state] = (await queue.add(f"{tag}-{state}", {})).id
            job = await worker.get_next_job("tok")
            assert job is not None
            assert job.id == ids[state]
            if state == "completed":
                await job.move_to_completed("ok", "tok", fetch_next=False)
            else:
                await job.move_to_failed(RuntimeError("no"), "tok")
    for ids, tag in zip(made, tags, strict=True):
        ids["waiting"] = (await queue.add(f"{tag}-w", {})).id
        ids["delayed"] = (await queue.add(f"{tag}-d", {}, delay=600)).id
        ids["prioritized"] = (await queue.add(f"{tag}-p", {}, priority=3)).id
    return made


async def test_removed_names_the_previous_state_as_node_does(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    worker = make_worker(queue_name)
    corral_ids, node_ids = await _jobs_in_every_state(queue, worker, ["corral", "node"])

    async def node_remove(job_id: str) -> None:
        (removed,) = await bullmq.ops(queue_name, {"op": "remove", "id": job_id})
        assert removed == 1

    async def corral_remove(job_id: str) -> None:
        assert await queue.remove(job_id)

    node_says = await _removed_events(bullmq, queue_name, node_remove, node_ids)
    corral_says = await _removed_events(bullmq, queue_name, corral_remove, corral_ids)
    assert corral_says == node_says
    assert node_says["waiting"] == "wait"


async def _stall_past_the_limit(queue: Queue, worker: Worker, name: str) -> str:
    """A job whose holder died once too often: the stalled checker marks it to fail."""
    job_id = (await queue.add(name, {})).id
    dead = await worker.get_next_job("dead", block=False)
    assert dead is not None
    assert dead.id == job_id
    assert await worker.check_stalled_jobs() == []  # the first pass only marks candidates
    for _ in range(50):  # the lock (0.3 s) expires, then the check returns it to wait
        await asyncio.sleep(0.1)
        if await worker.check_stalled_jobs():
            break
    stored = await queue.get_job(job_id)
    assert stored is not None
    assert stored.deferred_failure == "job stalled more than allowable limit"
    return job_id


async def test_a_job_failed_for_stalling_too_often_stores_a_stack_trace_as_node_does(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str, make_worker: WorkerFactory, raw: Redis
) -> None:
    node_queue = f"{queue_name}-node"
    traces: dict[str, list[str]] = {}
    for side, name in (("node", node_queue), ("corral", queue_name)):
        async with Queue(name, url=redis_url) as queue:
            checker = make_worker(
                name, lock_duration=0.3, stalled_interval=0.05, max_stalled_count=0
            )
            job_id = await _stall_past_the_limit(queue, checker, side)
            if side == "node":
                node = await bullmq.start(
                    "work.mjs", name, {"until": {"finished": 1}, "timeoutMs": 15000}
                )
                result = await node.result()
                assert not result["timedOut"], result
            else:

                async def process(job: Job) -> None:
                    raise AssertionError("a job that stalled too often must not run")

                async with Worker(name, process, url=redis_url, drain_delay=0.1):
                    await wait_until(counts_reach(queue, "failed", 1))
            failed = await queue.get_job(job_id)
            assert failed is not None
            assert await failed.get_state() is JobState.FAILED
            assert failed.failed_reason == "job stalled more than allowable limit"
            stored = await raw.hget(QueueKeys("bull", name).job(job_id), "stacktrace")
            assert stored is not None
            traces[side] = json.loads(stored)
    assert len(traces["node"]) == len(traces["corral"]) == 1, traces
    for trace in traces.values():
        assert "UnrecoverableError: job stalled more than allowable limit" in trace[0], trace


async def test_retention_by_age_is_stored_as_node_stores_it(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, raw: Redis
) -> None:
    ours = await queue.add(
        "x",
        {},
        remove_on_complete=RemovePolicy(age=3600),
        remove_on_fail=RemovePolicy(age=1.5, count=5),
    )
    (theirs,) = await bullmq.ops(
        queue_name,
        {"op": "add", "name": "x", "opts": {
            "removeOnComplete": {"age": 3600}, "removeOnFail": {"age": 1.5, "count": 5}}},
    )  # fmt: skip
    keys = QueueKeys("bull", queue_name)
    stored_ours = json.loads(await raw.hget(keys.job(ours.id), "opts") or "")
    stored_theirs = json.loads(await raw.hget(keys.job(theirs["id"]), "opts") or "")
    assert stored_ours == stored_theirs
    assert json.dumps(stored_ours["removeOnComplete"]) == '{"age": 3600}'
