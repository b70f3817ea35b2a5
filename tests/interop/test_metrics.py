"""BullMQ's per-minute metrics are shared: Node's ``queue.getMetrics()`` (what Bull
Board charts) reads what corral's workers count, and corral reads Node's."""

from __future__ import annotations

import pytest

from corral import Queue, _clock
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop


async def test_node_reads_the_minutes_a_corral_worker_counted(
    bullmq: NodeBullMQ,
    queue: Queue,
    queue_name: str,
    make_worker: WorkerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    minute = (_clock.now_ms() // 60_000 + 1) * 60_000
    times = [minute + 1000, minute + 2000, minute + 61_000, minute + 4 * 60_000 + 5000]
    worker = make_worker(queue_name, metrics=60)
    await queue.add_bulk([{"name": "n"}] * 4)
    for outcome, at in zip(("completed", "completed", "completed", "failed"), times, strict=True):
        job = await worker.get_next_job("tok", block=False)
        assert job is not None
        monkeypatch.setattr(_clock, "now_ms", lambda at=at: at)
        if outcome == "completed":
            await job.move_to_completed("ok", "tok", fetch_next=False)
        else:
            await job.move_to_failed(ValueError("no"), "tok")
        monkeypatch.undo()

    completed, failed = await bullmq.ops(
        queue_name,
        {"op": "getMetrics", "type": "completed"},
        {"op": "getMetrics", "type": "failed"},
    )
    ours = await queue.get_metrics("completed")

    assert completed == {
        "meta": {"count": 3, "prevTS": minute + 61_000, "prevCount": 2},
        "data": [2],
        "count": 1,
    }
    assert completed["data"] == ours.data
    assert completed["meta"]["count"] == ours.meta.count
    assert failed["meta"]["count"] == 1


async def test_corral_reads_what_a_node_worker_counted(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    await queue.add_bulk([{"name": "ok"}] * 3 + [{"name": "bad"}])
    node = await bullmq.start(
        "work.mjs",
        queue_name,
        {
            "options": {"metrics": {"maxDataPoints": 60}},
            "fail": {"bad": 1},
            "until": {"finished": 4},
            "timeoutMs": 20000,
        },
        wait_ready=False,
    )
    result = await node.result()
    assert not result["timedOut"], result

    completed = await queue.get_metrics("completed")
    failed = await queue.get_metrics("failed")

    assert completed.meta.count == 3
    assert failed.meta.count == 1
    assert completed.meta.prev_ts > 0
