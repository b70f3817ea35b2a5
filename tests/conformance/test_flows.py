"""Flows through the public API, on both backends: a parent waits for its children
in other queues and runs with their results; trees add atomically; a child is
added to an existing parent with ``parent=``; ``get_flow`` and the dependency
getters read a tree back."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from corral import (
    DependencyCounts,
    FlowJob,
    FlowProducer,
    Job,
    JobState,
    ParentNotFoundError,
    ParentRef,
    Queue,
    Worker,
)
from corral import sync as corral_sync
from tests.conformance.conftest import ApiClock
from tests.conformance.flows_support import (
    Hands,
    flows,
    hands,
    render_video,
    run_workers,
    take,
    wait_until,
)

__all__ = ["flows", "hands", "run_workers"]  # fixtures used here


async def test_a_parent_runs_after_its_children_with_their_values(
    flows: FlowProducer, queue_name: str, run_workers: Any, url: str
) -> None:
    render, media = queue_name, f"{queue_name}-media"
    node = await flows.add(render_video(render, media))
    assert await node.job.get_state() is JobState.WAITING_CHILDREN
    assert [c.job.name for c in node.children] == ["transcode", "thumbnail"]
    seen: dict[str, Any] = {}

    async def make(job: Job) -> dict[str, str]:
        return {"made": job.name}

    async def assemble(job: Job) -> str:
        seen["values"] = await job.get_children_values()
        return "video.mp4"

    async with Queue(render, url=url) as q:
        async with run_workers({media: make, render: assemble}):

            async def parent_done() -> bool:
                return await q.get_job_state(node.job.id) is JobState.COMPLETED

            await wait_until(parent_done)
        done = await q.get_job(node.job.id)
    assert done is not None
    assert done.return_value == "video.mp4"
    keys = [f"bull:{media}:{c.job.id}" for c in node.children]
    assert seen["values"] == {
        keys[0]: {"made": "transcode"},
        keys[1]: {"made": "thumbnail"},
    }


async def test_ids_are_uuids_unless_given_and_children_know_their_parent(
    flows: FlowProducer, queue_name: str
) -> None:
    node = await flows.add(
        FlowJob(
            name="p",
            queue_name=queue_name,
            children=[
                FlowJob(name="a", queue_name=queue_name, options={"job_id": "kid-a"}),
                {"name": "b", "queue_name": queue_name},
            ],
        )
    )
    uuid.UUID(node.job.id)  # a random UUID, as Node BullMQ's FlowProducer
    a, b = node.children
    assert a.job.id == "kid-a"
    uuid.UUID(b.job.id)
    for kid in (a, b):
        assert kid.job.parent == ParentRef(node.job.id, f"bull:{queue_name}")
        assert kid.job.parent_key == f"bull:{queue_name}:{node.job.id}"
        assert kid.children == ()
    stored = await kid.job.get_state()
    assert stored is JobState.WAITING
    assert node.job.parent is None


async def test_grandchildren_release_their_parents_bottom_up_across_prefixes(
    flows: FlowProducer, hands: Hands, queue_name: str, url: str
) -> None:
    top, middle, bottom = queue_name, f"{queue_name}-mid", f"{queue_name}-leaf"
    tree = await flows.add(
        {
            "name": "root",
            "queue_name": top,
            "children": [
                {
                    "name": "mid",
                    "queue_name": middle,
                    "prefix": "other",
                    "children": [{"name": "leaf", "queue_name": bottom}],
                }
            ],
        }
    )
    leaf_worker = hands(bottom)
    mid_worker = Queue(middle, url=url, prefix="other")
    try:
        assert await mid_worker.get_job_state(tree.children[0].job.id) is JobState.WAITING_CHILDREN
        leaf = await take(leaf_worker, "leaf")
        await leaf.move_to_completed("leaf-done", leaf.token, fetch_next=False)
        assert await mid_worker.get_job_state(tree.children[0].job.id) is JobState.WAITING
        assert await tree.job.get_state() is JobState.WAITING_CHILDREN
        async with Worker(middle, url=url, prefix="other") as w:
            mid = await take(w, "mid")
            assert await mid.get_children_values() == {f"bull:{bottom}:{leaf.id}": "leaf-done"}
            await mid.move_to_completed("mid-done", mid.token, fetch_next=False)
        assert await tree.job.get_state() is JobState.WAITING
        values = await tree.job.get_children_values()
        assert values == {f"other:{middle}:{tree.children[0].job.id}": "mid-done"}
    finally:
        await mid_worker.close()


@pytest.mark.parametrize(
    ("options", "state"),
    [
        ({"priority": 3}, JobState.PRIORITIZED),
        ({"delay": 30}, JobState.DELAYED),
        ({}, JobState.WAITING),
    ],
)
async def test_a_released_parent_goes_where_its_own_options_say(
    flows: FlowProducer,
    hands: Hands,
    queue_name: str,
    clock: ApiClock,
    options: dict[str, Any],
    state: JobState,
) -> None:
    kids = f"{queue_name}-kids"
    node = await flows.add(
        {"name": "p", "queue_name": queue_name, "options": options,
         "children": [{"name": "c", "queue_name": kids}]}
    )  # fmt: skip
    assert await node.job.get_state() is JobState.WAITING_CHILDREN
    child = await take(hands(kids), "c")
    await child.move_to_completed(1, child.token, fetch_next=False)
    assert await node.job.get_state() is state
    if state is JobState.DELAYED:
        await clock.advance(31)
    parent = await take(hands(queue_name), "p")
    assert await parent.get_children_values() == {f"bull:{kids}:{child.id}": 1}


async def test_a_child_removed_on_completion_keeps_its_value_with_the_parent(
    flows: FlowProducer, hands: Hands, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    node = await flows.add(
        {"name": "p", "queue_name": queue_name,
         "children": [{"name": "c", "queue_name": kids, "options": {"remove_on_complete": True}}]}
    )  # fmt: skip
    child = await take(hands(kids), "c")
    await child.move_to_completed({"kept": True}, child.token, fetch_next=False)
    assert await child.get_state() is JobState.UNKNOWN
    assert await node.job.get_children_values() == {f"bull:{kids}:{child.id}": {"kept": True}}
    assert await node.job.get_state() is JobState.WAITING


async def test_queue_add_with_parent_makes_a_child_and_a_missing_parent_writes_nothing(
    flows: FlowProducer, hands: Hands, queue: Queue, queue_name: str
) -> None:
    node = await flows.add({"name": "p", "queue_name": queue_name, "children": [
        {"name": "first", "queue_name": queue_name}]})  # fmt: skip
    late = await queue.add("late", {}, parent={"id": node.job.id, "queue": f"bull:{queue_name}"})
    also = await queue.add("also", {}, parent=node.job)  # a Job names its own queue
    plain = await queue.add("plain", {}, parent=ParentRef(node.job.id, queue_name))
    counts = await node.job.get_dependencies_count()
    assert counts == DependencyCounts(unprocessed=4)
    parent_key = f"bull:{queue_name}:{node.job.id}"
    assert [late.parent_key, also.parent_key, plain.parent_key] == [parent_key] * 3
    before = await queue.get_job_counts()
    with pytest.raises(ParentNotFoundError, match=f"bull:{queue_name}:nope"):
        await queue.add("orphan", {}, parent={"id": "nope", "queue": f"bull:{queue_name}"})
    with pytest.raises(ParentNotFoundError):
        await queue.add_bulk(
            [
                {"name": "ok", "data": {}},
                {"name": "orphan", "parent": {"id": "nope", "queue": queue_name}},
            ]
        )
    assert await queue.get_job_counts() == before
    numbered = await queue.add("numbered", {})
    assert numbered.id == "6"  # two flow nodes, three children, and the refusals counted none


async def test_add_bulk_adds_several_trees_in_one_step(
    flows: FlowProducer, queue_name: str
) -> None:
    nodes = await flows.add_bulk(
        [
            {
                "name": "a",
                "queue_name": queue_name,
                "children": [{"name": "a1", "queue_name": queue_name}],
            },
            {"name": "b", "queue_name": queue_name},
        ]
    )
    assert [n.job.name for n in nodes] == ["a", "b"]
    assert await nodes[0].job.get_state() is JobState.WAITING_CHILDREN
    assert await nodes[1].job.get_state() is JobState.WAITING
    assert await flows.add_bulk([]) == []


async def test_adding_a_flow_with_custom_ids_twice_adds_it_once(
    flows: FlowProducer, queue: Queue, queue_name: str
) -> None:
    tree = {"name": "p", "queue_name": queue_name, "options": {"job_id": "order-1"},
            "children": [{"name": "c", "queue_name": queue_name, "options": {"job_id": "order-1-c"}}]}  # fmt: skip
    await flows.add(tree)
    before = await queue.get_job_counts()
    again = await flows.add(tree)
    assert again.job.id == "order-1"
    assert await queue.get_job_counts() == before


async def test_get_flow_reads_the_tree_back_to_a_depth_and_a_width(
    flows: FlowProducer, hands: Hands, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    node = await flows.add(
        {"name": "root", "queue_name": queue_name, "children": [
            {"name": "sub", "queue_name": kids, "children": [
                {"name": f"leaf-{i}", "queue_name": kids} for i in range(3)]},
            {"name": "done", "queue_name": kids, "options": {"remove_on_complete": True}},
        ]}
    )  # fmt: skip
    worker = hands(kids)
    await take(worker, "leaf-0")  # "sub" waits; leaves and "done" are in line, done last
    await take(worker, "leaf-1")
    await take(worker, "leaf-2")
    done = await take(worker, "done")
    await done.move_to_completed("gone", done.token, fetch_next=False)
    tree = await flows.get_flow(job_id=node.job.id, queue_name=queue_name)
    assert tree is not None
    assert tree.job.name == "root"
    # The removed child is left out; the other keeps its three leaves.
    assert [c.job.name for c in tree.children] == ["sub"]
    assert sorted(leaf.job.name for leaf in tree.children[0].children) == [
        "leaf-0",
        "leaf-1",
        "leaf-2",
    ]
    shallow = await flows.get_flow(
        job_id=node.job.id, queue_name=queue_name, depth=2, max_children=1
    )
    assert shallow is not None
    assert [c.children for c in shallow.children] == [()]
    narrow = await flows.get_flow(job_id=node.children[0].job.id, queue_name=kids, max_children=2)
    assert narrow is not None
    assert len(narrow.children) == 2
    assert await flows.get_flow(job_id="nope", queue_name=queue_name) is None


async def test_get_dependencies_pages_with_cursors(flows: FlowProducer, queue_name: str) -> None:
    node = await flows.add(
        {"name": "p", "queue_name": queue_name,
         "children": [{"name": f"c{i}", "queue_name": queue_name} for i in range(5)]}
    )  # fmt: skip
    page = await node.job.get_dependencies(limit=2)
    seen = list(page.unprocessed)
    while page.cursors:
        page = await node.job.get_dependencies(limit=2, cursors=page.cursors)
        seen += page.unprocessed
    assert sorted(seen) == sorted(f"bull:{queue_name}:{c.job.id}" for c in node.children)
    assert len(set(seen)) == 5
    with pytest.raises(ValueError, match="limit"):
        await node.job.get_dependencies(limit=0)


async def test_a_tree_of_thousands_of_children_is_added_in_one_step(
    flows: FlowProducer, queue: Queue, queue_name: str
) -> None:
    children = [{"name": "c", "queue_name": queue_name, "data": {"i": i}} for i in range(5000)]
    bad = [*children[:-1], {"name": "c", "queue_name": queue_name, "options": {"priority": -1}}]
    with pytest.raises(ValueError, match=r"flow\.children\[4999\]: priority"):
        await flows.add({"name": "p", "queue_name": queue_name, "children": bad})
    assert await queue.get_job_counts("waiting") == {"waiting": 0}
    node = await flows.add({"name": "p", "queue_name": queue_name, "children": children})
    assert len(node.children) == 5000
    counts = await queue.get_job_counts("waiting", "waiting-children")
    assert counts == {"waiting": 5000, "waiting-children": 1}


def test_the_blocking_flow_producer(url: str, queue_name: str) -> None:
    with corral_sync.FlowProducer(url=url) as producer:
        node = producer.add({"name": "p", "queue_name": queue_name,
                             "children": [{"name": "c", "queue_name": queue_name}]})  # fmt: skip
        assert isinstance(node, corral_sync.FlowNode)
        assert node.job.is_waiting_children()
        with corral_sync.Worker(queue_name, url=url) as worker:
            child = worker.get_next_job("t", block=False)
            assert child is not None
            child.move_to_completed("ok", "t", fetch_next=False)
        assert node.job.get_children_values() == {f"bull:{queue_name}:{child.id}": "ok"}
        tree = producer.get_flow(job_id=node.job.id, queue_name=queue_name)
        assert tree is not None
        assert isinstance(tree.job, corral_sync.Job)
        assert [n.job.id for n in producer.add_bulk([{"name": "x", "queue_name": queue_name}])]
