"""Jobs made by corral are run by a Node BullMQ Worker exactly as if Node had made
them: same name, data and options, same order, and retries per the stored options."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from corral import Backoff, JobState, Queue
from tests.interop.conftest import NodeBullMQ, WorkerFactory
from tests.interop.orders import fetch_order

pytestmark = pytest.mark.interop

# (name, data, corral options, the same options as a Node producer would give them)
JOBS: list[tuple[str, Any, dict[str, Any], dict[str, Any]]] = [
    ("plain", {"n": 1, "tags": ["a", "b"], "nested": {"x": None}}, {}, {}),
    ("custom-id", {"k": "v"}, {"job_id": "order-42"}, {"jobId": "order-42"}),
    ("prio", [1, 2, 3], {"priority": 3}, {"priority": 3}),
    ("later", {"when": "soon"}, {"delay": 2}, {"delay": 2000}),
    ("stack", "just a string", {"lifo": True}, {"lifo": True}),
    (
        "flaky",
        {"fails": 2},
        {"attempts": 3, "backoff": 0.2},
        {"attempts": 3, "backoff": 200},
    ),
    (
        "doomed",
        {"fails": "always"},
        {"attempts": 3, "backoff": Backoff("exponential", 0.15)},
        {"attempts": 3, "backoff": {"type": "exponential", "delay": 150}},
    ),
]


async def test_node_worker_runs_corral_jobs_with_their_options_and_retries(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    added = {name: await queue.add(name, data, **options) for name, data, options, _ in JOBS}
    assert added["custom-id"].id == "order-42"

    # A Node producer adds the same jobs to a control queue: Node must read corral's
    # jobs exactly as it reads its own.
    control = f"{queue_name}-node"
    node_added = await bullmq.ops(
        control,
        *[{"op": "add", "name": n, "data": d, "opts": o} for n, d, _, o in JOBS],
    )
    node_opts = {view["name"]: view["opts"] for view in node_added}

    result = await (
        await bullmq.start(
            "work.mjs",
            queue_name,
            {
                "fail": {"flaky": 2, "doomed": 99},
                "until": {"finished": len(JOBS)},
                "timeoutMs": 15000,
            },
        )
    ).result()
    assert not result["timedOut"], result
    assert result["errors"] == []
    seen = result["seen"]

    # Name, data and options as corral gave them, normalised as Node normalises its own.
    for view in seen:
        name, data, _, _ = next(j for j in JOBS if j[0] == view["name"])
        assert view["id"] == added[name].id
        assert view["data"] == data
        assert view["opts"] == node_opts[name]
    assert node_opts["flaky"]["backoff"] == {"type": "fixed", "delay": 200}
    assert node_opts["doomed"]["backoff"] == {"type": "exponential", "delay": 150}

    # First attempts of the jobs that were ready at once, in BullMQ's order; the delayed
    # job only once it was due (on a loaded machine it may fall due before Node has
    # taken every other job, so it is left out of the order).
    firsts = [v["name"] for v in seen if v["attemptsMade"] == 0 and v["name"] != "later"]
    immediate = fetch_order([(n, o) for n, _, _, o in JOBS])
    assert firsts[: len(immediate)] == immediate
    later = next(v for v in seen if v["name"] == "later")
    assert later["processedOn"] >= later["timestamp"] + 2000

    # Retries: attempt counts as Node counts them, waits at least the backoff.
    flaky = [v for v in seen if v["name"] == "flaky"]
    assert [v["attemptsMade"] for v in flaky] == [0, 1, 2]
    assert [v["attemptsStarted"] for v in flaky] == [1, 2, 3]
    assert [b["seenAt"] - a["seenAt"] >= 200 for a, b in itertools.pairwise(flaky)] == [True, True]
    doomed = [v for v in seen if v["name"] == "doomed"]
    assert [v["attemptsMade"] for v in doomed] == [0, 1, 2]
    gaps = [b["seenAt"] - a["seenAt"] for a, b in itertools.pairwise(doomed)]
    assert gaps[0] >= 150
    assert gaps[1] >= 300  # exponential: 150 ms, then 300 ms
    finals = [f for f in result["failed"] if f["final"]]
    assert [(f["id"], f["failedReason"]) for f in finals] == [
        (added["doomed"].id, "planned failure 3")
    ]

    # corral reads back what Node did.
    for name, data, _, _ in JOBS:
        stored = await queue.get_job(added[name].id)
        assert stored is not None
        job = stored
        if name == "doomed":
            assert await job.get_state() == JobState.FAILED
            assert job.failed_reason == "planned failure 3"
            assert job.attempts_made == 3
            assert len(job.stacktrace) == 3
            continue
        assert await job.get_state() == JobState.COMPLETED
        attempts = 3 if name == "flaky" else 1
        assert job.return_value == {"by": "node", "name": name, "data": data, "attempt": attempts}
        assert job.attempts_made == attempts
        assert job.attempts_started == attempts
        assert job.finished_on is not None
    counts = await queue.get_job_counts()
    assert counts["completed"] == len(JOBS) - 1
    assert counts["failed"] == 1
    assert sum(counts.values()) == len(JOBS)


async def test_node_reads_corral_job_by_id(bullmq: NodeBullMQ, queue: Queue) -> None:
    job = await queue.add(
        "report", {"rows": 3}, job_id="report-7", attempts=2, priority=9, delay=30
    )
    (view, state) = await bullmq.ops(
        queue.name, {"op": "fromId", "id": "report-7"}, {"op": "getState", "id": "report-7"}
    )
    assert state == "delayed"
    assert view["name"] == "report"
    assert view["data"] == {"rows": 3}
    assert view["opts"] == {"jobId": "report-7", "attempts": 2, "priority": 9, "delay": 30000}
    assert view["delay"] == 30000
    assert view["priority"] == 9
    assert view["timestamp"] == pytest.approx(job.timestamp.timestamp() * 1000, abs=1)
    assert view["attemptsMade"] == 0
    assert view["finishedOn"] is None


async def test_corral_honours_node_retention_options(
    bullmq: NodeBullMQ, queue_name: str, make_worker: WorkerFactory
) -> None:
    """removeOnComplete / removeOnFail written by a Node producer are applied by corral."""
    views = await bullmq.ops(
        queue_name,
        {"op": "add", "name": "gone", "data": {}, "opts": {"removeOnComplete": True}},
        {"op": "add", "name": "kept", "data": {}, "opts": {"removeOnComplete": False}},
        {"op": "add", "name": "fail-gone", "data": {}, "opts": {"removeOnFail": True}},
    )
    ids = {v["name"]: v["id"] for v in views}
    worker = make_worker(queue_name)
    for _ in range(3):
        job = await worker.get_next_job("t", block=False)
        assert job is not None
        if job.name == "fail-gone":
            await job.move_to_failed(RuntimeError("nope"), "t")
        else:
            await job.move_to_completed("ok", "t", fetch_next=False)
    gone, kept, fail_gone = await bullmq.ops(
        queue_name, *[{"op": "fromId", "id": ids[n]} for n in ("gone", "kept", "fail-gone")]
    )
    assert gone is None
    assert fail_gone is None
    assert kept is not None
    assert kept["returnvalue"] == "ok"
