"""Deduplication shared with Node BullMQ 6: a Node add and a corral add with the same
deduplication id deduplicate against each other, in each mode."""

from __future__ import annotations

import pytest

from corral import Queue
from tests.interop.conftest import NodeBullMQ, WorkerFactory

pytestmark = pytest.mark.interop


async def test_a_corral_add_is_deduplicated_by_a_node_job(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    (node_job,) = await bullmq.ops(
        queue_name,
        {
            "op": "add",
            "name": "sync",
            "data": {"by": "node"},
            "opts": {"deduplication": {"id": "user-42"}},
        },
    )
    kept = await queue.add("sync", {"by": "corral"}, deduplication={"id": "user-42"})
    assert kept.id == node_job["id"]
    assert kept.data == {"by": "node"}
    assert await queue.get_deduplication_job_id("user-42") == node_job["id"]
    assert (await queue.get_job_counts("waiting"))["waiting"] == 1


async def test_a_node_add_is_deduplicated_by_a_corral_job(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    ours = await queue.add("sync", {"by": "corral"}, deduplication={"id": "d", "ttl": 60})
    (theirs,) = await bullmq.ops(
        queue_name,
        {
            "op": "add",
            "name": "sync",
            "data": {"by": "node"},
            "opts": {"deduplication": {"id": "d", "ttl": 60000}},
        },
    )
    assert theirs["id"] == ours.id
    (stored,) = await bullmq.ops(queue_name, {"op": "fromId", "id": ours.id})
    assert stored["data"] == {"by": "corral"}
    assert stored["opts"]["deduplication"] == {"id": "d", "ttl": 60000}
    assert (await queue.get_job_counts("waiting"))["waiting"] == 1


async def test_debounce_across_node_and_corral_keeps_the_last(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str
) -> None:
    # A long ttl: a Node process may take seconds to start on a loaded machine.
    rule = {"id": "deb", "ttl": 60, "extend": True, "replace": True}
    first = await queue.add("save", {"v": 1}, delay=60, deduplication=rule)
    (second,) = await bullmq.ops(
        queue_name,
        {
            "op": "add",
            "name": "save",
            "data": {"v": 2},
            "opts": {"delay": 60000, "deduplication": {**rule, "ttl": 60000}},
        },
    )
    assert second["id"] != first.id
    assert await queue.get_job(first.id) is None
    third = await queue.add("save", {"v": 3}, delay=60, deduplication=rule)
    delayed = await queue.get_jobs("delayed")
    assert [j.id for j in delayed] == [third.id]
    assert delayed[0].data == {"v": 3}


async def test_keep_last_if_active_across_node_and_corral(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    rule = {"id": "kl", "keepLastIfActive": True}
    first = await queue.add(
        "run", {"v": 1}, deduplication={"id": "kl", "keep_last_if_active": True}
    )
    worker = make_worker(queue_name)
    job = await worker.get_next_job("t", block=False)
    assert job is not None
    # Node's add meets the active corral job: kept aside, then added when it finishes.
    (theirs,) = await bullmq.ops(
        queue_name, {"op": "add", "name": "run", "data": {"v": 2}, "opts": {"deduplication": rule}}
    )
    assert theirs["id"] == first.id
    assert await queue.get_jobs("waiting") == []
    await job.move_to_completed(None, "t", fetch_next=False)
    (kept,) = await queue.get_jobs("waiting")
    assert kept.data == {"v": 2}
    assert await queue.get_deduplication_job_id("kl") == kept.id
    (seen,) = await bullmq.ops(queue_name, {"op": "fromId", "id": kept.id})
    assert seen["opts"]["deduplication"] == rule


async def test_a_finished_job_frees_its_id_for_the_other_side(
    bullmq: NodeBullMQ, queue: Queue, queue_name: str, make_worker: WorkerFactory
) -> None:
    job = await queue.add("once", {}, deduplication={"id": "free"})
    worker = make_worker(queue_name)
    got = await worker.get_next_job("t", block=False)
    assert got is not None
    assert got.id == job.id
    await got.move_to_completed(None, "t", fetch_next=False)
    assert await queue.get_deduplication_job_id("free") is None
    (again,) = await bullmq.ops(
        queue_name,
        {"op": "add", "name": "once", "data": {}, "opts": {"deduplication": {"id": "free"}}},
    )
    assert again["id"] != job.id
