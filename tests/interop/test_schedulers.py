"""Job schedulers shared with Node BullMQ 6: a schedule made on one side runs on
the other side's workers, for as long as they take its jobs, and each side lists,
reads and removes the other's schedulers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from corral import Job, JobState, Queue, Worker
from tests.interop.conftest import NodeBullMQ

pytestmark = pytest.mark.interop


async def _run_corral_worker(redis_url: str, queue_name: str, runs: int) -> list[Job]:
    """A corral worker with a processor, until it has completed ``runs`` jobs."""
    done: list[Job] = []
    finished = asyncio.Event()

    async def process(job: Job) -> str:
        done.append(job)
        if len(done) >= runs:
            finished.set()
        return "by corral"

    worker = Worker(queue_name, process, url=redis_url, drain_delay=0.2)
    async with worker:
        async with asyncio.timeout(20):
            await finished.wait()
    return done


async def _pending(queue: Queue) -> list[str]:
    return [j.id for j in await queue.get_jobs("delayed", "waiting", "prioritized")]


@pytest.mark.parametrize(
    "repeat",
    [{"every": 400}, {"pattern": "*/1 * * * * *", "tz": "Europe/Paris"}],
    ids=["every", "cron"],
)
async def test_a_node_scheduler_keeps_running_on_corral_workers(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, redis_url: str, repeat: dict[str, Any]
) -> None:
    (first,) = await bullmq.ops_schedulers(
        queue_name,
        {
            "op": "upsert",
            "id": "node-sched",
            "repeat": repeat,
            "template": {"name": "beat", "data": {"from": "node"}, "opts": {"attempts": 2}},
        },
    )
    assert first["id"].startswith("repeat:node-sched:")
    done = await _run_corral_worker(redis_url, queue_name, runs=3)
    ids = [job.id for job in done]
    assert len(set(ids)) == 3, ids
    assert all(i.startswith("repeat:node-sched:") for i in ids)
    assert all(job.data == {"from": "node"} and job.name == "beat" for job in done)
    # Still scheduled: exactly one iteration pending, and Node sees the count grow.
    assert len(await _pending(queue)) == 1
    (scheduler,) = await bullmq.ops_schedulers(queue_name, {"op": "get", "id": "node-sched"})
    assert scheduler["iterationCount"] >= 4
    for job in done:
        assert await queue.get_job_state(job.id) == JobState.COMPLETED


@pytest.mark.parametrize(
    "schedule",
    [{"every": 0.4}, {"cron": "*/1 * * * * *", "tz": "America/New_York"}],
    ids=["every", "cron"],
)
async def test_a_corral_scheduler_runs_on_node_workers(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, schedule: dict[str, Any]
) -> None:
    await queue.upsert_job_scheduler(
        "py-sched", name="beat", data={"from": "corral"}, attempts=2, **schedule
    )
    node = await bullmq.start(
        "work.mjs", queue_name, {"until": {"finished": 3}, "timeoutMs": 15000}
    )
    result = await node.result()
    assert not result["timedOut"], result
    assert not result["errors"], result["errors"]
    ids = [c["id"] for c in result["completed"]]
    assert len(set(ids)) == 3
    assert all(i.startswith("repeat:py-sched:") for i in ids)
    assert all(
        s["data"] == {"from": "corral"} and s["opts"]["attempts"] == 2 for s in result["seen"]
    )
    assert len(await _pending(queue)) == 1
    scheduler = await queue.get_job_scheduler("py-sched")
    assert scheduler is not None
    assert scheduler.iteration_count >= 4


async def test_node_and_corral_workers_share_one_schedule(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, redis_url: str
) -> None:
    await queue.upsert_job_scheduler("both", every=0.3)
    node = await bullmq.start("work.mjs", queue_name, {"timeoutMs": 20000})
    done = await _run_corral_worker(redis_url, queue_name, runs=3)
    result = await node.result(stop=True)
    ids = [job.id for job in done] + [c["id"] for c in result["completed"]]
    assert len(ids) == len(set(ids)), "an iteration ran twice"
    assert len(await _pending(queue)) == 1


async def test_each_side_lists_the_others_schedulers(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    await queue.upsert_job_scheduler(
        "py-cron",
        cron="0 3 * * *",
        tz="Europe/Paris",
        name="report",
        data={"kind": "daily"},
        limit=10,
        remove_on_complete=True,
    )
    end = 4_102_444_800_000  # 2100-01-01
    await bullmq.ops_schedulers(
        queue_name,
        {
            "op": "upsert",
            "id": "node-every",
            "repeat": {"every": 60000, "endDate": end},
            "template": {"name": "tick", "data": {"n": 1}, "opts": {"priority": 2}},
        },
    )
    listed, count = await bullmq.ops_schedulers(queue_name, {"op": "list"}, {"op": "count"})
    assert count == 2
    by_key = {s["key"]: s for s in listed}
    py = by_key["py-cron"]
    assert py["pattern"] == "0 3 * * *"
    assert py["tz"] == "Europe/Paris"
    assert py["name"] == "report"
    assert py["limit"] == 10
    assert py["iterationCount"] == 1
    assert py["template"]["data"] == {"kind": "daily"}
    assert py["template"]["opts"]["removeOnComplete"] is True
    ours = {s.id: s for s in await queue.get_job_schedulers()}
    assert py["next"] == round(ours["py-cron"].next_run.timestamp() * 1000)
    node = ours["node-every"]
    assert node.every == 60
    assert node.cron is None
    assert node.name == "tick"
    assert node.end is not None
    assert round(node.end.timestamp() * 1000) == end
    assert node.data == {"n": 1}
    assert node.options.priority == 2
    assert node.iteration_count == 1
    assert await queue.get_job_schedulers_count() == 2
    # Removing works across too.
    assert await queue.remove_job_scheduler("node-every")
    (removed,) = await bullmq.ops_schedulers(queue_name, {"op": "remove", "id": "py-cron"})
    assert removed is True
    assert await queue.get_job_schedulers_count() == 0
    # The delayed iteration went with its scheduler; Node's first `every` run was
    # already waiting, and stays (as Node leaves it).
    assert [i.split(":")[1] for i in await _pending(queue)] == ["node-every"]
