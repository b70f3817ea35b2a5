"""remove_job in a flow: a parent takes its descendants with it (unless told not to),
a locked pending descendant protects the tree, and a removed child leaves its
parent's pending children, releasing the parent when it was the last."""

from __future__ import annotations

import pytest

from corral.backends.base import Backend, DependencyCounts, JobState, ParentPolicy
from corral.errors import JobStateError
from tests.contract.flow_support import finish, key, link, node
from tests.contract.support import Clock, events_after, fetch_one, snapshot


async def _tree(backend: Backend, queue: str, clock: Clock) -> str:
    """P with children done (completed), bad (failed, ignored), todo (pending) and
    sub (a parent itself) in ``queue``; sub's child leaf is in another queue."""
    kids = f"{queue}-kids"
    entries = [
        node(queue, "P", at=clock.now),
        node(queue, "done", at=clock.now, parent=link(queue, "P")),
        node(queue, "bad", at=clock.now, parent=link(queue, "P", ParentPolicy.IGNORE)),
        node(queue, "todo", at=clock.now, parent=link(queue, "P")),
        node(queue, "sub", at=clock.now, parent=link(queue, "P")),
        node(kids, "leaf", at=clock.now, parent=link(queue, "sub")),
    ]
    await backend.add_flow(entries, clock.now)
    await finish(backend, queue, clock, "done")
    await finish(backend, queue, clock, "bad", failure="boom")
    return kids


async def test_removing_a_parent_removes_every_descendant_children_first(
    backend: Backend, queue: str, clock: Clock
) -> None:
    kids = await _tree(backend, queue, clock)
    cursor = await backend.events_cursor(queue)
    kids_cursor = await backend.events_cursor(kids)
    assert await backend.remove_job(queue, "P", clock.now)
    for job_id in ("P", "done", "bad", "todo", "sub"):
        assert await backend.get_job(queue, job_id) is None, job_id
    assert await backend.get_job(kids, "leaf") is None
    assert await backend.get_dependency_counts(queue, "P") == DependencyCounts()
    events = await events_after(backend, queue, cursor)
    # One `removed` per job, the parent last; no `waiting` for parents that go too.
    assert [name for name, _ in events] == ["removed"] * 5
    assert events[-1] == ("removed", {"jobId": "P", "prev": "waiting-children"})
    assert {f["jobId"]: f["prev"] for _, f in events} == {
        "done": "completed", "bad": "failed", "todo": "wait", "sub": "waiting-children",
        "P": "waiting-children",
    }  # fmt: skip
    assert await events_after(backend, kids, kids_cursor) == [
        ("removed", {"jobId": "leaf", "prev": "wait"})
    ]


async def test_a_locked_pending_descendant_protects_the_whole_tree(
    backend: Backend, queue: str, clock: Clock
) -> None:
    kids = await _tree(backend, queue, clock)
    await fetch_one(backend, kids, clock)  # leaf, a grandchild, is now locked
    before = await snapshot(backend, queue, "P", "done", "bad", "todo", "sub")
    with pytest.raises(JobStateError, match="locked"):
        await backend.remove_job(queue, "P", clock.now)
    assert await snapshot(backend, queue, "P", "done", "bad", "todo", "sub") == before
    # Without its children it may go: they stay, linked to a parent that is gone.
    assert await backend.remove_job(queue, "P", clock.now, remove_children=False)
    assert await backend.get_state(queue, "todo") is JobState.WAITING
    assert await backend.get_state(queue, "sub") is JobState.WAITING_CHILDREN


async def test_a_removed_child_leaves_its_parent_and_the_last_one_releases_it(
    backend: Backend, queue: str, clock: Clock
) -> None:
    up = link(queue, "P")
    await backend.add_flow(
        [node(queue, "P", at=clock.now, priority=2), node(queue, "a", at=clock.now, parent=up),
         node(queue, "b", at=clock.now, parent=up, delay_ms=60_000)],
        clock.now,
    )  # fmt: skip
    await finish(backend, queue, clock, "a", value='"kept"')
    assert await backend.remove_job(queue, "a", clock.now)
    # A finished child's value stays with the parent.
    assert (await backend.get_dependencies(queue, "P")).processed == {key(queue, "a"): '"kept"'}
    cursor = await backend.events_cursor(queue)
    assert await backend.remove_job(queue, "b", clock.now)
    assert await backend.get_dependency_counts(queue, "P") == DependencyCounts(processed=1)
    # Released by its own priority (Node would put it in wait: see the README).
    assert await backend.get_state(queue, "P") is JobState.PRIORITIZED
    assert await events_after(backend, queue, cursor) == [
        ("waiting", {"jobId": "P", "prev": "waiting-children"}),
        ("removed", {"jobId": "b", "prev": "delayed"}),
    ]
