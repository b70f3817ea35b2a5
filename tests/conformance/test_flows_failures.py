"""What a child failing does to its parent, option by option, on both backends; and
that retries and stalls of a child never touch its parent."""

from __future__ import annotations

from typing import Any

import pytest

from corral import DependencyCounts, FlowProducer, Job, JobState, Queue, UnrecoverableError
from tests.conformance.conftest import ApiClock
from tests.conformance.flows_support import Hands, flows, hands, run_workers, take, wait_until

__all__ = ["flows", "hands", "run_workers"]  # fixtures used here


async def _parent_and_children(
    flows: FlowProducer, parents: str, kids: str, option: str | None, **extra: Any
) -> tuple[Job, list[Job]]:
    """Parent "p" in ``parents`` with children "bad" (with ``option``) then "ok" in ``kids``."""
    options: dict[str, Any] = {option: True} if option else {}
    options.update(extra)
    node = await flows.add(
        {"name": "p", "queue_name": parents, "children": [
            {"name": "bad", "queue_name": kids, "options": options},
            {"name": "ok", "queue_name": kids}]}
    )  # fmt: skip
    return node.job, [c.job for c in node.children]


async def _fail(worker: Any, name: str, message: str = "boom") -> Job:
    job = await take(worker, name)
    await job.move_to_failed(UnrecoverableError(message), job.token)
    return job


async def test_without_an_option_a_failed_child_keeps_its_parent_waiting(
    flows: FlowProducer, hands: Hands, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    parent, _ = await _parent_and_children(flows, queue_name, kids, None)
    worker = hands(kids)
    bad = await _fail(worker, "bad")
    ok = await take(worker, "ok")
    await ok.move_to_completed("fine", ok.token, fetch_next=False)
    assert await parent.get_state() is JobState.WAITING_CHILDREN
    # Retried and completed, the child releases its parent.
    await bad.retry()
    again = await take(worker, "bad")
    await again.move_to_completed("fixed", again.token, fetch_next=False)
    assert await parent.get_state() is JobState.WAITING


async def test_fail_parent_on_failure_fails_the_parent_with_the_childs_key(
    flows: FlowProducer, hands: Hands, queue: Queue, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    parent, children = await _parent_and_children(flows, queue_name, kids, "fail_parent_on_failure")
    await _fail(hands(kids), "bad")
    # Released at once, a sibling still pending; the next fetch fails it.
    assert await parent.get_state() is JobState.WAITING
    assert await hands(queue_name).get_next_job("t", block=False) is None
    failed = await queue.get_job(parent.id)
    assert failed is not None
    assert await failed.get_state() is JobState.FAILED
    assert failed.failed_reason == f"child bull:{kids}:{children[0].id} failed"
    deps = await failed.get_dependencies()
    assert deps.failed == [f"bull:{kids}:{children[0].id}"]
    assert deps.unprocessed == [f"bull:{kids}:{children[1].id}"]


async def test_a_parent_failed_by_its_child_fires_the_workers_failed_hooks(
    flows: FlowProducer, hands: Hands, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    parent, children = await _parent_and_children(flows, queue_name, kids, "fail_parent_on_failure")
    await _fail(hands(kids), "bad")
    worker = hands(queue_name)
    seen: list[tuple[str, str | None, bool, str]] = []
    worker.on("failed", lambda job, error: seen.append(
        (job.id, job.failed_reason, job.finished_on is not None, type(error).__name__)))  # fmt: skip
    # The fetch that fails the parent reports it as any failure of a job it took.
    assert await worker.get_next_job("t", block=False) is None
    reason = f"child bull:{kids}:{children[0].id} failed"
    assert seen == [(parent.id, reason, True, "UnrecoverableError")]


async def test_continue_parent_on_failure_runs_the_parent_at_once(
    flows: FlowProducer, hands: Hands, run_workers: Any, queue: Queue, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    parent, children = await _parent_and_children(
        flows, queue_name, kids, "continue_parent_on_failure"
    )
    await _fail(hands(kids), "bad", "broken")
    assert await parent.get_state() is JobState.WAITING
    running = await take(hands(queue_name), "p")
    assert await running.get_failed_children_values() == {f"bull:{kids}:{children[0].id}": "broken"}
    assert await running.get_ignored_children_failures() == {
        f"bull:{kids}:{children[0].id}": "broken"
    }
    assert await running.get_dependencies_count() == DependencyCounts(unprocessed=1, ignored=1)


@pytest.mark.parametrize(
    ("option", "ignored"),
    [("ignore_dependency_on_failure", 1), ("remove_dependency_on_failure", 0)],
)
async def test_ignore_and_remove_dependency_run_the_parent_once_the_rest_is_done(
    flows: FlowProducer, hands: Hands, queue_name: str, option: str, ignored: int
) -> None:
    kids = f"{queue_name}-kids"
    parent, _ = await _parent_and_children(flows, queue_name, kids, option)
    worker = hands(kids)
    await _fail(worker, "bad")
    assert await parent.get_state() is JobState.WAITING_CHILDREN
    ok = await take(worker, "ok")
    await ok.move_to_completed("fine", ok.token, fetch_next=False)
    assert await parent.get_state() is JobState.WAITING
    assert await parent.get_dependencies_count() == DependencyCounts(processed=1, ignored=ignored)


async def test_a_failing_leaf_fails_its_ancestors_level_by_level(
    flows: FlowProducer, hands: Hands, queue: Queue, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    fpof = {"fail_parent_on_failure": True}
    node = await flows.add(
        {"name": "root", "queue_name": queue_name, "children": [
            {"name": "mid", "queue_name": kids, "options": fpof, "children": [
                {"name": "leaf", "queue_name": kids, "options": fpof}]}]}
    )  # fmt: skip
    mid = node.children[0].job
    worker = hands(kids)
    leaf = await _fail(worker, "leaf")
    # mid fails on its fetch, which fails root in turn on its own.
    assert await worker.get_next_job("t", block=False) is None
    assert await mid.get_state() is JobState.FAILED
    assert await hands(queue_name).get_next_job("t", block=False) is None
    root = await queue.get_job(node.job.id)
    assert root is not None
    assert await root.get_state() is JobState.FAILED
    assert root.failed_reason == f"child bull:{kids}:{mid.id} failed"
    assert (await root.get_dependencies()).failed == [f"bull:{kids}:{mid.id}"]
    assert leaf.failed_reason == "boom"


async def test_a_retried_child_attempt_does_not_touch_its_parent(
    flows: FlowProducer, hands: Hands, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    parent, _ = await _parent_and_children(
        flows, queue_name, kids, "fail_parent_on_failure", attempts=3
    )
    worker = hands(kids)
    bad = await take(worker, "bad")
    await bad.move_to_failed(RuntimeError("flaky"), bad.token)  # retried: back of the line
    ok = await take(worker, "ok")
    await ok.move_to_completed("fine", ok.token, fetch_next=False)
    bad = await take(worker, "bad")
    await bad.move_to_failed(RuntimeError("flaky"), bad.token)
    assert await parent.get_state() is JobState.WAITING_CHILDREN
    assert await parent.get_dependencies_count() == DependencyCounts(processed=1, unprocessed=1)
    bad = await take(worker, "bad")
    await bad.move_to_completed("third time", bad.token, fetch_next=False)
    assert await parent.get_state() is JobState.WAITING
    assert await parent.get_dependencies_count() == DependencyCounts(processed=2)


async def test_a_stalled_child_never_releases_its_parent_early(
    flows: FlowProducer, hands: Hands, queue_name: str, clock: ApiClock
) -> None:
    parents = f"{queue_name}-parents"
    node = await flows.add(
        {"name": "p", "queue_name": parents, "children": [
            {"name": "c", "queue_name": queue_name, "options": {"fail_parent_on_failure": True}}]}
    )  # fmt: skip
    dead = hands(queue_name, lock_duration=10, stalled_interval=5, max_stalled_count=1)
    child = await take(dead, "c")
    await dead.check_stalled_jobs()
    await clock.advance(11)
    assert await dead.check_stalled_jobs() == [child.id]
    assert await node.job.get_state() is JobState.WAITING_CHILDREN
    again = await take(dead, "c")
    await again.move_to_completed("after the stall", again.token, fetch_next=False)
    assert await node.job.get_state() is JobState.WAITING
    assert await node.job.get_children_values() == {
        f"bull:{queue_name}:{child.id}": "after the stall"
    }


async def test_a_child_that_stalls_too_often_fails_its_parent_through_its_option(
    flows: FlowProducer, hands: Hands, queue: Queue, queue_name: str, clock: ApiClock
) -> None:
    parents = f"{queue_name}-parents"
    node = await flows.add(
        {"name": "p", "queue_name": parents, "children": [
            {"name": "c", "queue_name": queue_name, "options": {"fail_parent_on_failure": True}}]}
    )  # fmt: skip
    dead = hands(queue_name, lock_duration=10, stalled_interval=5, max_stalled_count=0)
    await take(dead, "c")
    await dead.check_stalled_jobs()
    await clock.advance(11)
    await dead.check_stalled_jobs()
    assert await dead.get_next_job("t", block=False) is None  # failed on the fetch
    assert await node.job.get_state() is JobState.WAITING
    assert await hands(parents).get_next_job("t", block=False) is None
    assert await node.job.get_state() is JobState.FAILED


async def test_a_processor_worker_retries_a_parent_completed_too_early(
    flows: FlowProducer, run_workers: Any, queue: Queue, queue_name: str
) -> None:
    """As Node's worker: completing with a pending child is an ordinary failure (retried
    while attempts remain); with a child that failed it, an unrecoverable one."""
    step = await queue.add("step", {}, attempts=2)

    async def add_child_then_return(job: Job) -> str:
        if job.name == "step" and job.attempts_made == 0:
            await queue.add("kid", {}, parent=job)
        return job.name

    async with run_workers({queue_name: add_child_then_return}):

        async def step_finished() -> bool:
            return await queue.get_job_state(step.id) in (JobState.COMPLETED, JobState.FAILED)

        await wait_until(step_finished)
    done = await queue.get_job(step.id)
    assert done is not None
    assert await done.get_state() is JobState.COMPLETED
    # First run refused (the kid was pending), the second after the kid completed.
    assert done.attempts_made == 2
    assert "pending dependencies" in (done.failed_reason or "")


async def test_a_processor_worker_fails_a_parent_a_child_failed_without_retry(
    run_workers: Any, queue: Queue, queue_name: str, url: str
) -> None:
    kids = f"{queue_name}-kids"
    step = await queue.add("step", {}, attempts=3)

    async def step_job(job: Job) -> str:
        async with Queue(kids, url=url) as kid_queue:
            kid = await kid_queue.add("kid", {}, parent=job, fail_parent_on_failure=True)

            async def kid_failed() -> bool:
                return await kid_queue.get_job_state(kid.id) is JobState.FAILED

            await wait_until(kid_failed)
        return "cannot complete: a child failed it"

    async def kid_job(job: Job) -> None:
        raise UnrecoverableError("kid broke")

    async with run_workers({queue_name: step_job, kids: kid_job}):

        async def step_failed() -> bool:
            return await queue.get_job_state(step.id) is JobState.FAILED

        await wait_until(step_failed)
    failed = await queue.get_job(step.id)
    assert failed is not None
    assert failed.attempts_made == 1  # not retried, although attempts remained
    assert "failed child" in (failed.failed_reason or "")
