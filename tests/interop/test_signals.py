"""What one language writes wakes and informs the other: idle workers wake for new
jobs (the marker), Node's QueueEvents follows corral's jobs (the events stream)."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from corral import JobState, Queue
from corral._clock import now_ms
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop

WAKE_BOUND_MS = 3000
"""Far below the idle workers' 20 s drain delay: only a marker explains waking this soon."""


async def test_idle_node_worker_wakes_for_a_corral_job(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    node = await bullmq.start(
        "work.mjs",
        queue_name,
        {"options": {"drainDelay": 20}, "until": {"finished": 2}, "timeoutMs": 15000},
    )
    await asyncio.sleep(0.3)  # let it block waiting for work
    added_at = now_ms()
    now = await queue.add("now", {})
    for _ in range(WAKE_BOUND_MS // 50):  # one job at a time: each must wake it alone
        if await queue.get_job_state(now.id) == JobState.COMPLETED:
            break
        await asyncio.sleep(0.05)
    delayed_at = now_ms()
    soon = await queue.add("soon", {}, delay=0.5)
    result = await node.result()
    assert not result["timedOut"], result
    done = {c["id"]: c["at"] for c in result["completed"]}
    assert done[now.id] - added_at < WAKE_BOUND_MS
    assert 500 <= done[soon.id] - delayed_at < 500 + WAKE_BOUND_MS


def _note_time(times: list[int], _: object) -> None:
    times.append(now_ms())


async def test_idle_corral_worker_wakes_for_a_node_job(
    bullmq: NodeBullMQ, queue_name: str, make_worker: WorkerFactory
) -> None:
    worker = make_worker(queue_name, drain_delay=20)
    for opts in ({}, {"delay": 500}):
        waiting = asyncio.create_task(worker.get_next_job("t", block=True))
        await asyncio.sleep(0.3)  # let it block waiting for work
        assert not waiting.done()
        woke_at: list[int] = []
        waiting.add_done_callback(partial(_note_time, woke_at))
        # Timed from Node's add itself (the job's timestamp), not from starting Node.
        (view,) = await bullmq.ops(queue_name, {"op": "add", "name": "wake", "opts": opts})
        job = await asyncio.wait_for(waiting, WAKE_BOUND_MS / 1000 + 1)
        assert job is not None
        assert job.id == view["id"]
        assert woke_at[0] - view["timestamp"] < WAKE_BOUND_MS + opts.get("delay", 0)
        await job.move_to_completed(None, "t", fetch_next=False)


async def test_corral_fetch_next_chains_through_node_jobs(
    bullmq: NodeBullMQ, queue_name: str, make_worker: WorkerFactory
) -> None:
    views = await bullmq.ops(
        queue_name, *[{"op": "add", "name": f"job-{i}", "data": {"i": i}} for i in range(3)]
    )
    worker = make_worker(queue_name)
    job = await worker.get_next_job("t", block=False)
    names = []
    while job is not None:
        names.append(job.name)
        job = await job.move_to_completed({"i": job.data["i"]}, "t", fetch_next=True)
    assert names == ["job-0", "job-1", "job-2"]
    finished = await bullmq.ops(queue_name, *[{"op": "fromId", "id": v["id"]} for v in views])
    assert [f["returnvalue"] for f in finished] == [{"i": 0}, {"i": 1}, {"i": 2}]


async def test_node_queue_events_follow_a_corral_job_lifecycle(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    listener = await bullmq.start(
        "events.mjs",
        queue_name,
        {
            "events": ["added", "waiting", "delayed", "active", "completed", "failed"],
            "until": [["added", "later"], ["failed", "bad"]],
            "timeoutMs": 15000,
        },
    )
    good = await queue.add("good", {"x": 1}, job_id="good")
    bad = await queue.add("bad", {}, job_id="bad")
    later = await queue.add("later", {}, job_id="later", delay=60)
    worker = make_worker(queue_name)
    first = await worker.get_next_job("t", block=False)
    assert first is not None
    assert first.id == good.id
    second = await first.move_to_completed({"ok": True}, "t", fetch_next=True)
    assert second is not None
    assert second.id == bad.id
    await second.move_to_failed(ValueError("broken input"), "t")

    heard = await listener.result()
    assert not heard["timedOut"], heard
    events = heard["events"]

    def of(job_id: str) -> list[tuple[str, dict[str, object]]]:
        return [
            (e["event"], {k: v for k, v in e.items() if k not in ("event", "jobId")})
            for e in events
            if e.get("jobId") == job_id
        ]

    good_events = of("good")
    assert [name for name, _ in good_events] == ["added", "waiting", "active", "completed"]
    assert good_events[0][1]["name"] == "good"
    assert good_events[2][1]["prev"] == "waiting"
    assert good_events[3][1] == {"returnvalue": {"ok": True}, "prev": "active"}
    bad_events = of("bad")
    assert [name for name, _ in bad_events] == ["added", "waiting", "active", "failed"]
    assert bad_events[3][1]["failedReason"] == "broken input"
    assert bad_events[3][1]["prev"] == "active"
    later_events = of("later")
    assert [name for name, _ in later_events] == ["added", "delayed"]
    due = int(str(later_events[1][1]["delay"]))
    assert due == pytest.approx(later.timestamp.timestamp() * 1000 + 60000, abs=5)
