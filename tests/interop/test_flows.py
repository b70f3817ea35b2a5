"""Flows shared with Node BullMQ 6.7.0 on one Redis: each side finishes the other's
flows, mixed fleets work one flow, Node's readers read corral's flows, and both
write the same keys."""

from __future__ import annotations

from typing import Any

import pytest

from corral import (
    DependencyCounts,
    FlowProducer,
    Job,
    JobState,
    ParentNotFoundError,
    Queue,
    UnrecoverableError,
    WaitingChildrenError,
    Worker,
)
from tests.conformance.flows_support import render_video
from tests.interop.conftest import NodeBullMQ
from tests.support import running_workers as corral_workers
from tests.support import wait_until

pytestmark = pytest.mark.interop


async def node_flow(bullmq: NodeBullMQ, *steps: dict[str, Any], **extra: Any) -> list[Any]:
    result = await bullmq.run("flows.mjs", "-", {"steps": list(steps), **extra})
    assert isinstance(result, list)
    return result


async def by_corral(job: Job) -> dict[str, Any]:
    return {"by": "corral", "name": job.name, "children": await job.get_children_values()}


def render_tree(render: str, media: str) -> dict[str, Any]:
    """The README's tree (``render_video``), with Node's key names (FlowProducer's ``opts``)."""
    return {
        "name": "render-video",
        "queueName": render,
        "data": {"id": 7},
        "children": [
            {"name": "transcode", "queueName": media, "data": {"res": 1080}},
            {
                "name": "thumbnail",
                "queueName": media,
                "data": {},
                "opts": {"failParentOnFailure": True},
            },
        ],
    }


async def test_node_flow_finished_by_corral_workers(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    """The reported bug: corral completing a Node flow's children must release the parent."""
    render, media = f"{queue_name}-render", f"{queue_name}-media"
    (root,) = await node_flow(bullmq, {"op": "addFlow", "tree": render_tree(render, media)})
    node_parent = await bullmq.start(
        "flow_work.mjs", "-", {"queues": [render], "until": {"finished": 1}, "timeoutMs": 20000}
    )
    async with corral_workers(redis_url, {media: by_corral}):
        result = await node_parent.result()
    assert not result["timedOut"], result
    (done,) = result["completed"]
    assert done["id"] == root["id"]
    kids = {c["name"]: c["id"] for c in root["children"]}
    assert done["returnvalue"]["children"] == {
        f"bull:{media}:{kids['transcode']}": {"by": "corral", "name": "transcode", "children": {}},
        f"bull:{media}:{kids['thumbnail']}": {"by": "corral", "name": "thumbnail", "children": {}},
    }


async def test_corral_flow_finished_by_node_workers(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    render, media = f"{queue_name}-render", f"{queue_name}-media"
    async with FlowProducer(url=redis_url) as flows:
        node = await flows.add(render_video(render, media))
    node_workers = await bullmq.start(
        "flow_work.mjs", "-", {"queues": [media, render], "until": {"finished": 3}}
    )
    result = await node_workers.result()
    assert not result["timedOut"], result
    parent = next((c for c in result["completed"] if c["id"] == node.job.id), None)
    assert parent is not None, result
    keys = {c.job.name: f"bull:{media}:{c.job.id}" for c in node.children}
    assert set(parent["returnvalue"]["children"]) == set(keys.values())
    assert parent["returnvalue"]["children"][keys["transcode"]]["data"] == {"res": 1080}
    async with Queue(render, url=redis_url) as q:
        stored = await q.get_job(node.job.id)
        assert stored is not None
        assert await stored.get_state() is JobState.COMPLETED
        assert await stored.get_children_values() == parent["returnvalue"]["children"]


async def test_mixed_workers_on_one_flow(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    render, video, audio = f"{queue_name}-render", f"{queue_name}-video", f"{queue_name}-audio"
    async with FlowProducer(url=redis_url) as flows:
        node = await flows.add(
            {"name": "mux", "queue_name": render, "children": [
                {"name": "v1", "queue_name": video}, {"name": "v2", "queue_name": video},
                {"name": "a1", "queue_name": audio}, {"name": "a2", "queue_name": audio}]}
        )  # fmt: skip
    node_video = await bullmq.start(
        "flow_work.mjs", "-", {"queues": [video], "until": {"finished": 2}}
    )
    async with (
        Queue(render, url=redis_url) as q,
        corral_workers(redis_url, {audio: by_corral, render: by_corral}),
    ):

        async def muxed() -> bool:
            return await q.get_job_state(node.job.id) is JobState.COMPLETED

        await wait_until(muxed, 20.0, every=0.05)
        done = await q.get_job(node.job.id)
    await node_video.result()
    assert done is not None
    children = done.return_value["children"]
    assert {v["by"] for v in children.values()} == {"node", "corral"}
    assert {v["name"] for v in children.values()} == {"v1", "v2", "a1", "a2"}


async def test_node_reads_a_corral_flow_with_get_flow_and_get_dependencies(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    kids, later = f"{queue_name}-kids", f"{queue_name}-later"
    async with FlowProducer(url=redis_url) as flows:
        node = await flows.add(
            {"name": "p", "queue_name": queue_name, "children": [
                {"name": "ok", "queue_name": kids},
                {"name": "skip", "queue_name": kids, "options": {"ignore_dependency_on_failure": True}},
                {"name": "lost", "queue_name": kids, "options": {"fail_parent_on_failure": True}},
                {"name": "sub", "queue_name": later, "children": [{"name": "leaf", "queue_name": later}]},
            ]}
        )  # fmt: skip
    ids = {c.job.name: c.job.id for c in node.children}
    async with Worker(kids, url=redis_url) as worker:
        for name, outcome in (("ok", None), ("skip", "skipped it"), ("lost", "lost it")):
            job = await worker.get_next_job("t", block=False)
            assert job is not None
            assert job.name == name
            if outcome is None:
                await job.move_to_completed({"v": 1}, "t", fetch_next=False)
            else:
                await job.move_to_failed(UnrecoverableError(outcome), "t")
    key = {n: f"bull:{later if n == 'sub' else kids}:{i}" for n, i in ids.items()}
    deps, counts, flow, shallow, ignored = await node_flow(
        bullmq,
        {"op": "getDependencies", "queueName": queue_name, "id": node.job.id},
        {"op": "getDependenciesCount", "queueName": queue_name, "id": node.job.id},
        {
            "op": "getFlow",
            "queueName": queue_name,
            "id": node.job.id,
            "depth": 3,
            "maxChildren": 10,
        },
        {"op": "getFlow", "queueName": queue_name, "id": node.job.id, "depth": 1},
        {"op": "failedChildrenValues", "queueName": queue_name, "id": node.job.id},
    )
    assert deps == {
        "processed": {key["ok"]: {"v": 1}},
        "unprocessed": [key["sub"]],
        "failed": [key["lost"]],
        "ignored": {key["skip"]: "skipped it"},
    }
    assert counts == {"processed": 1, "unprocessed": 1, "ignored": 1, "failed": 1}
    assert ignored == {key["skip"]: "skipped it"}
    assert sorted(c["name"] for c in flow["children"]) == ["lost", "ok", "skip", "sub"]
    sub = next(c for c in flow["children"] if c["name"] == "sub")
    assert [leaf["name"] for leaf in sub["children"]] == ["leaf"]
    assert "children" not in shallow
    # And corral reads the same four buckets.
    async with Queue(queue_name, url=redis_url) as q:
        parent = await q.get_job(node.job.id)
        assert parent is not None
        mine = await parent.get_dependencies()
    assert (mine.processed, mine.unprocessed, mine.failed, mine.ignored) == (
        deps["processed"], deps["unprocessed"], deps["failed"], deps["ignored"],
    )  # fmt: skip
    page = await node_flow(
        bullmq,
        {"op": "getDependencies", "queueName": later, "id": ids["sub"],
         "opts": {"unprocessed": {"cursor": 0, "count": 10}}},
    )  # fmt: skip
    assert page[0]["unprocessed"] == [f"bull:{later}:{node.children[3].children[0].job.id}"]


POLICIES = [
    # (corral option, Node option, parent state after the failure, counts)
    (None, None, "waiting-children", {"processed": 0, "unprocessed": 1, "ignored": 0, "failed": 0}),
    ("fail_parent_on_failure", "failParentOnFailure", "waiting",
     {"processed": 0, "unprocessed": 0, "ignored": 0, "failed": 1}),
    ("continue_parent_on_failure", "continueParentOnFailure", "waiting",
     {"processed": 0, "unprocessed": 0, "ignored": 1, "failed": 0}),
    ("ignore_dependency_on_failure", "ignoreDependencyOnFailure", "waiting",
     {"processed": 0, "unprocessed": 0, "ignored": 1, "failed": 0}),
    ("remove_dependency_on_failure", "removeDependencyOnFailure", "waiting",
     {"processed": 0, "unprocessed": 0, "ignored": 0, "failed": 0}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("option", "node_option", "state", "counts"), POLICIES, ids=lambda v: str(v)
)
async def test_child_failure_options_work_across_languages(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str,
    option: str | None, node_option: str | None, state: str, counts: dict[str, int],
) -> None:  # fmt: skip
    kids = f"{queue_name}-kids"
    # A corral flow whose child a Node worker fails ...
    async with FlowProducer(url=redis_url) as flows:
        mine = await flows.add({"name": "p", "queue_name": queue_name, "children": [
            {"name": "bad", "queue_name": kids, "options": {option: True} if option else {}}]})  # fmt: skip
    failing = {"queues": [kids], "fail": {"bad": "node broke it"}, "unrecoverable": ["bad"],
               "until": {"finished": 1}}  # fmt: skip
    assert not (await (await bullmq.start("flow_work.mjs", "-", failing)).result())["timedOut"]
    # ... and a Node flow whose child corral fails.
    node_tree = {"name": "p", "queueName": queue_name, "children": [
        {"name": "bad", "queueName": kids, "opts": {node_option: True} if node_option else {}}]}  # fmt: skip
    (theirs,) = await node_flow(bullmq, {"op": "addFlow", "tree": node_tree})
    async with Worker(kids, url=redis_url) as worker:
        job = await worker.get_next_job("t", block=False)
        assert job is not None
        assert job.id == theirs["children"][0]["id"]
        await job.move_to_failed(UnrecoverableError("corral broke it"), "t")
    for parent_id, child_id, reason in (
        (mine.job.id, mine.children[0].job.id, "node broke it"),
        (theirs["id"], theirs["children"][0]["id"], "corral broke it"),
    ):
        got_state, got_counts, got_job = await node_flow(
            bullmq,
            {"op": "state", "queueName": queue_name, "id": parent_id},
            {"op": "getDependenciesCount", "queueName": queue_name, "id": parent_id},
            {"op": "job", "queueName": queue_name, "id": parent_id},
        )
        assert (got_state, got_counts) == (state, counts), parent_id
        async with Queue(queue_name, url=redis_url) as q:
            assert (await q.get_job_state(parent_id)).value == state
            parent = await q.get_job(parent_id)
            assert parent is not None
        if option == "fail_parent_on_failure":
            expected = f"child bull:{kids}:{child_id} failed"
            assert got_job["deferredFailure"] == expected == parent.deferred_failure
        if counts["ignored"]:
            assert await parent.get_ignored_children_failures() == {
                f"bull:{kids}:{child_id}": reason
            }


async def test_a_failing_leaf_fails_its_ancestors_across_languages(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    leaves, middles = f"{queue_name}-leaf", f"{queue_name}-mid"
    fpof = {"fail_parent_on_failure": True}
    async with FlowProducer(url=redis_url) as flows:
        node = await flows.add({"name": "root", "queue_name": queue_name, "children": [
            {"name": "mid", "queue_name": middles, "options": fpof, "children": [
                {"name": "leaf", "queue_name": leaves, "options": fpof}]}]})  # fmt: skip
    mid_id = node.children[0].job.id
    node_mid = await bullmq.start(
        "flow_work.mjs", "-", {"queues": [middles], "until": {"finished": 1}}
    )
    async with Worker(leaves, url=redis_url) as worker:
        leaf = await worker.get_next_job("t", block=False)
        assert leaf is not None
        await leaf.move_to_failed(UnrecoverableError("leaf broke"), "t")
    result = await node_mid.result()  # Node fails the middle through its deferred failure
    assert result["failed"] == [
        {
            "id": mid_id,
            "queueName": middles,
            "failedReason": f"child bull:{leaves}:{leaf.id} failed",
        }
    ]
    async with Worker(queue_name, url=redis_url) as worker:
        assert await worker.get_next_job("t", block=False) is None  # corral fails the root
    async with Queue(queue_name, url=redis_url) as q:
        root = await q.get_job(node.job.id)
    assert root is not None
    assert await root.get_state() is JobState.FAILED
    assert root.failed_reason == f"child bull:{middles}:{mid_id} failed"


async def test_the_parent_option_across_languages(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    parents = f"{queue_name}-parents"
    (node_parent,) = await node_flow(bullmq, {"op": "addFlow", "tree": {
        "name": "np", "queueName": parents, "children": [{"name": "first", "queueName": queue_name}]}})  # fmt: skip
    async with FlowProducer(url=redis_url) as flows:
        mine = await flows.add({"name": "cp", "queue_name": parents, "children": [
            {"name": "first", "queue_name": queue_name}]})  # fmt: skip
    async with Queue(queue_name, url=redis_url) as q:
        added = await q.add(
            "from-corral", {}, parent={"id": node_parent["id"], "queue": f"bull:{parents}"}
        )
        assert added.parent_key == f"bull:{parents}:{node_parent['id']}"
        before = await q.get_job_counts()
        with pytest.raises(ParentNotFoundError):
            await q.add("orphan", {}, parent={"id": "nope", "queue": f"bull:{parents}"})
        refused, node_counts, node_added, corral_counts = await node_flow(
            bullmq,
            {"op": "add", "queueName": queue_name, "name": "orphan", "catch": True,
             "opts": {"parent": {"id": "nope", "queue": f"bull:{parents}"}}},
            {"op": "getDependenciesCount", "queueName": parents, "id": node_parent["id"]},
            {"op": "add", "queueName": queue_name, "name": "from-node",
             "opts": {"parent": {"id": mine.job.id, "queue": f"bull:{parents}"}}},
            {"op": "getDependenciesCount", "queueName": parents, "id": mine.job.id},
        )  # fmt: skip
        assert refused["error"]["code"] == -5
        assert node_counts["unprocessed"] == 2
        assert corral_counts["unprocessed"] == 2
        after = await q.get_job_counts()
        assert after["waiting"] == before["waiting"] + 1  # only Node's good child was added
        stored = await q.get_job(node_added["id"])
        assert stored is not None
        assert stored.parent_key == f"bull:{parents}:{mine.job.id}"


async def test_step_jobs_across_languages(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    steps, parts = f"{queue_name}-steps", f"{queue_name}-parts"
    # A Node step job whose parts corral runs ...
    async with Queue(steps, url=redis_url) as q:
        node_step = await q.add("node-step", {})
    node_steps = await bullmq.start("flow_work.mjs", "-", {
        "queues": [steps], "step": {"node-step": {"queue": parts, "children": 2}},
        "until": {"finished": 1}})  # fmt: skip
    async with corral_workers(redis_url, {parts: by_corral}):
        result = await node_steps.result()
    (done,) = result["completed"]
    assert done["id"] == node_step.id
    assert sorted(v["by"] for v in done["returnvalue"]["children"].values()) == ["corral", "corral"]
    # ... and a corral step job whose parts Node runs.
    async with Queue(steps, url=redis_url) as q:
        mine = await q.add("corral-step", {})

    async def stepper(job: Job) -> Any:
        if await job.get_dependencies_count() == DependencyCounts():
            async with Queue(parts, url=redis_url) as part_queue:
                for n in range(2):
                    await part_queue.add("part", {"n": n}, parent=job)
            if await job.move_to_waiting_children(job.token):
                raise WaitingChildrenError()
        return await job.get_children_values()

    node_parts = await bullmq.start(
        "flow_work.mjs", "-", {"queues": [parts], "until": {"finished": 2}}
    )
    async with Queue(steps, url=redis_url) as q, corral_workers(redis_url, {steps: stepper}):

        async def stepped() -> bool:
            return await q.get_job_state(mine.id) is JobState.COMPLETED

        await wait_until(stepped, 20.0, every=0.05)
        finished = await q.get_job(mine.id)
    await node_parts.result()
    assert finished is not None
    assert sorted(v["by"] for v in finished.return_value.values()) == ["node", "node"]


async def test_removing_a_parent_across_languages(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    (theirs,) = await node_flow(bullmq, {"op": "addFlow", "tree": {
        "name": "p", "queueName": queue_name, "children": [{"name": "c", "queueName": kids}]}})  # fmt: skip
    async with Queue(queue_name, url=redis_url) as q:
        assert await q.remove(theirs["id"])
    async with FlowProducer(url=redis_url) as flows:
        mine = await flows.add({"name": "p", "queue_name": queue_name, "children": [
            {"name": "c", "queue_name": kids}]})  # fmt: skip
    states = await node_flow(
        bullmq,
        {"op": "state", "queueName": queue_name, "id": theirs["id"]},
        {"op": "state", "queueName": kids, "id": theirs["children"][0]["id"]},
        {"op": "remove", "queueName": queue_name, "id": mine.job.id},
    )
    assert states == ["unknown", "unknown", 1]
    assert await mine.job.get_state() is JobState.UNKNOWN
    assert await mine.children[0].job.get_state() is JobState.UNKNOWN
