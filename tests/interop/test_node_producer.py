"""Jobs made by Node BullMQ are taken by corral in BullMQ's order, and what corral
does with them is what Node sees."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from corral import JobState, Queue
from tests.interop.conftest import NodeBullMQ, WorkerFactory
from tests.interop.orders import fetch_order

pytestmark = pytest.mark.interop

DELAY_MS = 6000
"""Long enough that every job that is not delayed is fetched before it is due, even
on a starved machine (two Node processes start and add before corral fetches)."""

NODE_JOBS: list[tuple[str, dict[str, Any]]] = [
    ("plain-1", {}),
    ("plain-2", {}),
    ("lifo-1", {"lifo": True}),
    ("prio-5a", {"priority": 5}),
    ("prio-1", {"priority": 1}),
    ("delayed", {"delay": DELAY_MS}),
    ("plain-3", {}),
    ("prio-5b", {"priority": 5}),
    ("lifo-2", {"lifo": True}),
]


def _add_steps() -> list[dict[str, Any]]:
    return [
        {"op": "add", "name": name, "data": {"name": name, "n": i}, "opts": opts}
        for i, (name, opts) in enumerate(NODE_JOBS)
    ]


async def test_corral_takes_node_jobs_in_bullmq_order_and_node_sees_completion(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    control = f"{queue_name}-node"
    # The same jobs on two queues: corral works one, a Node worker the other.
    added: list[Any]
    added, _ = await asyncio.gather(
        bullmq.ops(queue_name, *_add_steps()), bullmq.ops(control, *_add_steps())
    )
    node_worker = await bullmq.start(
        "work.mjs", control, {"until": {"finished": len(NODE_JOBS)}, "timeoutMs": 20000}
    )

    expected = [*fetch_order(NODE_JOBS), "delayed"]
    assert expected == [
        "lifo-2",
        "lifo-1",
        "plain-1",
        "plain-2",
        "plain-3",
        "prio-1",
        "prio-5a",
        "prio-5b",
        "delayed",
    ]

    worker = make_worker(queue_name, drain_delay=10)
    fetched = []
    for _ in range(len(NODE_JOBS) - 1):
        job = await worker.get_next_job("corral-token", block=False)
        assert job is not None
        fetched.append(job)
    # The delayed job is not handed out before it is due ...
    assert await worker.get_next_job("corral-token", block=False) is None
    # ... and a blocking fetch gets it once it is.
    late = await worker.get_next_job("corral-token", block=True)
    assert late is not None
    fetched.append(late)
    assert [j.name for j in fetched] == expected

    node_result = await node_worker.result()
    assert not node_result["timedOut"]
    assert [s["name"] for s in node_result["seen"]] == expected

    # corral reads Node's jobs as Node wrote them.
    by_name = {view["name"]: view for view in added}
    for job in fetched:
        view = by_name[job.name]
        assert job.id == view["id"]
        assert job.data == view["data"]
        assert job.opts.priority == view["opts"].get("priority", 0)
        assert job.opts.lifo is bool(view["opts"].get("lifo"))
        assert job.attempts_started == 1
        assert job.attempts_made == 0
        assert job.timestamp.timestamp() * 1000 == pytest.approx(view["timestamp"], abs=1)
    assert late.opts.delay == DELAY_MS / 1000
    assert late.processed_on is not None
    assert late.processed_on.timestamp() * 1000 >= by_name["delayed"]["timestamp"] + DELAY_MS

    # Node listens while corral completes the jobs.
    ids = [j.id for j in fetched]
    listener = await bullmq.start(
        "events.mjs",
        queue_name,
        {"events": ["completed"], "until": [["completed", i] for i in ids], "timeoutMs": 15000},
    )
    for job in fetched:
        nxt = await job.move_to_completed(
            {"by": "corral", "name": job.name}, "corral-token", fetch_next=False
        )
        assert nxt is None
    heard = await listener.result()
    assert not heard["timedOut"]
    completed = {e["jobId"]: e["returnvalue"] for e in heard["events"]}
    assert completed == {j.id: {"by": "corral", "name": j.name} for j in fetched}

    states = await bullmq.ops(
        queue_name,
        *[{"op": "fromId", "id": i} for i in ids],
        *[{"op": "getState", "id": i} for i in ids],
    )
    views, node_states = states[: len(ids)], states[len(ids) :]
    assert node_states == ["completed"] * len(ids)
    for job, view in zip(fetched, views, strict=True):
        assert view["returnvalue"] == {"by": "corral", "name": job.name}
        assert view["finishedOn"] is not None
        assert view["finishedOn"] >= view["processedOn"]
        assert view["attemptsMade"] == 1
        assert view["failedReason"] is None
    assert await queue.get_job_counts("completed", "active", "waiting") == {
        "completed": len(ids),
        "active": 0,
        "waiting": 0,
    }
    assert await queue.get_job_state(ids[0]) == JobState.COMPLETED
