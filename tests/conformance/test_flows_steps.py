"""Step jobs (a job that adds children and waits for them) and removal in a flow, on
both backends."""

from __future__ import annotations

from typing import Any

import pytest

from corral import (
    DependencyCounts,
    FlowProducer,
    Job,
    JobState,
    JobStateError,
    LockMismatchError,
    Queue,
    WaitingChildrenError,
)
from tests.conformance.flows_support import Hands, flows, hands, run_workers, take, wait_until

__all__ = ["flows", "hands", "run_workers"]  # fixtures used here


async def test_the_step_job_pattern_with_a_processor(
    run_workers: Any, queue: Queue, queue_name: str, url: str
) -> None:
    kids = f"{queue_name}-kids"
    step = await queue.add("step", {"step": "start"}, attempts=1)
    runs: list[tuple[str, bool]] = []

    async def stepper(job: Job) -> Any:
        stage = job.data["step"] if not runs else "after-children"
        if stage == "start":
            async with Queue(kids, url=url) as kid_queue:
                for n in range(3):
                    await kid_queue.add("part", {"n": n}, parent=job)
            waits = await job.move_to_waiting_children(job.token)
            runs.append((stage, waits))
            if waits:
                raise WaitingChildrenError()
        values = await job.get_children_values()
        runs.append((stage, False))
        return sorted(values.values())

    async def part(job: Job) -> int:
        # Children finish only once the step waits, so it surely runs twice.
        async def step_waits() -> bool:
            return await queue.get_job_state(step.id) is not JobState.ACTIVE

        await wait_until(step_waits)
        return int(job.data["n"]) * 10

    async with run_workers({queue_name: stepper, kids: part}):

        async def completed() -> bool:
            return await queue.get_job_state(step.id) is JobState.COMPLETED

        await wait_until(completed)
    done = await queue.get_job(step.id)
    assert done is not None
    assert done.return_value == [0, 10, 20]
    # Waiting used no attempt (attempts=1 allows no retry), and it ran twice.
    assert (done.attempts_made, done.attempts_started) == (1, 2)
    assert runs == [("start", True), ("after-children", False)]


async def test_move_to_waiting_children_answers_whether_the_job_waits(
    hands: Hands, queue: Queue, queue_name: str
) -> None:
    await queue.add("step", {})
    worker = hands(queue_name)
    step = await take(worker, "step")
    token = step.token
    assert not await step.move_to_waiting_children(token)  # no child at all
    await queue.add("kid", {}, parent=step)
    with pytest.raises(LockMismatchError):
        await step.move_to_waiting_children("not-the-token")
    assert not await step.move_to_waiting_children(
        token, child={"id": "other", "queue": queue_name}
    )
    assert await step.move_to_waiting_children(token)
    assert await step.is_waiting_children()
    assert step.token is None
    kid = await take(worker, "kid")
    await kid.move_to_completed("k", kid.token, fetch_next=False)
    again = await take(worker, "step")
    assert not await again.move_to_waiting_children(again.token)
    assert await again.get_children_values() == {f"bull:{queue_name}:{kid.id}": "k"}


async def test_removing_a_parent_removes_its_children(
    flows: FlowProducer, hands: Hands, queue: Queue, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    node = await flows.add(
        {"name": "p", "queue_name": queue_name, "children": [
            {"name": "done", "queue_name": kids},
            {"name": "todo", "queue_name": kids},
            {"name": "sub", "queue_name": kids, "children": [{"name": "leaf", "queue_name": kids}]},
        ]}
    )  # fmt: skip
    worker = hands(kids)
    done = await take(worker, "done")
    await done.move_to_completed(1, done.token, fetch_next=False)
    assert await node.job.remove()
    everyone = [node.job, *(c.job for c in node.children), node.children[2].children[0].job]
    for job in everyone:
        assert await job.get_state() is JobState.UNKNOWN, job.name
    async with Queue(kids, url=queue.url) as kid_queue:
        assert await kid_queue.get_job_counts() == dict.fromkeys(
            await kid_queue.get_job_counts(), 0
        )


async def test_a_parent_with_a_child_in_hand_cannot_be_removed(
    flows: FlowProducer, hands: Hands, queue: Queue, queue_name: str
) -> None:
    node = await flows.add(
        {
            "name": "p",
            "queue_name": queue_name,
            "children": [{"name": "c", "queue_name": queue_name}],
        }
    )
    child = await take(hands(queue_name), "c")
    with pytest.raises(JobStateError, match="locked"):
        await node.job.remove()
    assert await node.job.get_state() is JobState.WAITING_CHILDREN
    assert await queue.remove(node.job.id, remove_children=False)
    assert await child.get_state() is JobState.ACTIVE
    # Its parent gone, the child completes as any job.
    await child.move_to_completed("orphan", child.token, fetch_next=False)
    assert await child.get_state() is JobState.COMPLETED


async def test_removing_the_last_pending_child_runs_the_parent(
    flows: FlowProducer, hands: Hands, queue: Queue, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    node = await flows.add(
        {"name": "p", "queue_name": queue_name, "children": [
            {"name": "a", "queue_name": kids}, {"name": "b", "queue_name": kids}]}
    )  # fmt: skip
    worker = hands(kids)
    a = await take(worker, "a")
    await a.move_to_completed("a", a.token, fetch_next=False)
    await node.children[1].job.remove()
    assert await node.job.get_state() is JobState.WAITING
    assert await node.job.get_dependencies_count() == DependencyCounts(processed=1)
