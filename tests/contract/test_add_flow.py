"""add_flow (and add_jobs with a parent): where each node goes, its events, the links
and buckets it creates, existing ids, and the refusals that write nothing."""

from __future__ import annotations

import pytest

from corral.backends.base import (
    Backend,
    DependencyCounts,
    FetchRequest,
    JobState,
    ParentLink,
    ParentPolicy,
)
from corral.errors import ParentConflictError, ParentNotFoundError
from tests.contract.flow_support import child, finish, key, link, node, parent_with_children
from tests.contract.support import Clock, drain, events_after, job, snapshot


async def test_a_parent_waits_for_its_children_which_are_placed_like_any_job(
    backend: Backend, queue: str, clock: Clock
) -> None:
    kids = f"{queue}-kids"
    up = link(queue, "P")
    cursor = await backend.events_cursor(queue)
    kids_cursor = await backend.events_cursor(kids)
    ids = await backend.add_flow(
        [
            node(queue, "P", at=clock.now, priority=3, delay_ms=5_000),
            node(kids, "a", at=clock.now, parent=up),
            node(kids, "b", at=clock.now, parent=up, priority=2),
            node(kids, "c", at=clock.now, parent=up, delay_ms=60_000),
        ],
        clock.now,
    )
    assert ids == ["P", "a", "b", "c"]
    # A parent waits whatever its delay or priority: they apply when it is released.
    assert await backend.get_state(queue, "P") is JobState.WAITING_CHILDREN
    states = [await backend.get_state(kids, i) for i in "abc"]
    assert states == [JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED]
    assert await backend.get_dependency_counts(queue, "P") == DependencyCounts(unprocessed=3)
    record = await backend.get_job(kids, "a")
    assert record is not None
    assert record.parent == up
    assert await events_after(backend, queue, cursor) == [
        ("added", {"jobId": "P", "name": "P"}),
        ("waiting-children", {"jobId": "P"}),
    ]
    assert [name for name, _ in await events_after(backend, kids, kids_cursor)] == [
        "added", "waiting", "added", "waiting", "added", "delayed",
    ]  # fmt: skip
    listed = await backend.get_jobs(queue, [JobState.WAITING_CHILDREN])
    assert [j.id for j in listed] == ["P"]


async def test_every_node_counts_in_its_queues_id_counter(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a", "b")
    await backend.add_jobs(queue, [child(queue, "x", link(queue, "P"), at=clock.now)])
    # Four nodes with custom ids counted: a numbered job takes the fifth number.
    assert await backend.add_jobs(queue, [job(at=clock.now)]) == ["5"]


async def test_a_parent_whose_children_all_completed_already_runs_at_once(
    backend: Backend, queue: str, clock: Clock
) -> None:
    (done,) = await backend.add_flow([node(queue, "done", at=clock.now)], clock.now)
    await finish(backend, queue, clock, done, value='"old"')
    up = link(queue, "P")
    cursor = await backend.events_cursor(queue)
    await backend.add_flow(
        [node(queue, "P", at=clock.now), node(queue, "done", at=clock.now, parent=up)], clock.now
    )
    assert await backend.get_state(queue, "P") is JobState.WAITING
    page = await backend.get_dependencies(queue, "P")
    assert page.processed == {key(queue, "done"): '"old"'}
    assert await events_after(backend, queue, cursor) == [
        ("added", {"jobId": "P", "name": "P"}),
        ("waiting-children", {"jobId": "P"}),
        ("duplicated", {"jobId": "done"}),
        ("waiting", {"jobId": "P", "prev": "waiting-children"}),
    ]


async def test_adding_the_same_flow_again_changes_nothing(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a", "b")
    before = await snapshot(backend, queue, "P", "a", "b")
    deps = await backend.get_dependencies(queue, "P")
    await parent_with_children(backend, queue, clock, "a", "b")
    after = await snapshot(backend, queue, "P", "a", "b")
    assert {k: v for k, v in after.items() if k != "events"} == {
        k: v for k, v in before.items() if k != "events"
    }
    assert await backend.get_dependencies(queue, "P") == deps
    assert await drain(backend, queue, clock) == ["a", "b"]


async def test_a_child_is_added_to_an_existing_parent_in_any_state(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a")
    await backend.add_jobs(queue, [child(queue, "late", link(queue, "P"), at=clock.now)])
    assert await backend.get_dependency_counts(queue, "P") == DependencyCounts(unprocessed=2)
    # A plain job may become a parent too (the step-job pattern): it keeps its state.
    (plain,) = await backend.add_flow([node(queue, "plain", at=clock.now)], clock.now)
    await backend.add_jobs(queue, [child(queue, "k", link(queue, plain), at=clock.now)])
    assert await backend.get_state(queue, plain) is JobState.WAITING
    assert (await backend.get_dependencies(queue, plain)).unprocessed == [key(queue, "k")]


async def test_a_parent_may_be_in_another_prefix(
    backend: Backend, queue: str, clock: Clock
) -> None:
    other = backend.share("elsewhere")
    await other.add_flow([node(queue, "P", at=clock.now)], clock.now)
    up = ParentLink(f"elsewhere:{queue}", "P")
    entries = [node(queue, "kid", at=clock.now, parent=up)]
    await backend.add_flow(entries, clock.now)
    assert await other.get_state(queue, "P") is JobState.WAITING
    assert (await other.get_dependencies(queue, "P")).unprocessed == [f"bull:{queue}:kid"]


@pytest.mark.parametrize("how", ["add_flow", "add_jobs"])
async def test_a_missing_parent_is_refused_and_nothing_is_written(
    backend: Backend, queue: str, clock: Clock, how: str
) -> None:
    await backend.add_flow([node(queue, "first", at=clock.now)], clock.now)
    before = await snapshot(backend, queue, "first", "ok", "orphan")
    nope = link(queue, "nope")
    if how == "add_flow":
        entries = [
            node(queue, "ok", at=clock.now),
            node(queue, "orphan", at=clock.now, parent=nope),
        ]
        adding = backend.add_flow(entries, clock.now)
    else:
        jobs = [child(queue, "ok", link(queue, "first"), at=clock.now)]
        adding = backend.add_jobs(queue, [*jobs, child(queue, "orphan", nope, at=clock.now)])
    with pytest.raises(ParentNotFoundError) as caught:
        await adding
    assert caught.value.index == 1
    assert caught.value.parent_key == key(queue, "nope")
    assert caught.value.code == -5
    assert await snapshot(backend, queue, "first", "ok", "orphan") == before
    # The id counter did not move either: the next numbered job takes the next number.
    assert await backend.add_jobs(queue, [job(at=clock.now)]) == ["2"]


async def test_an_id_with_another_live_parent_is_refused_and_nothing_is_written(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "kid", parent_id="P1")
    await backend.add_flow([node(queue, "P2", at=clock.now)], clock.now)
    before = await snapshot(backend, queue, "P1", "P2", "kid", "new")
    entries = [
        node(queue, "new", at=clock.now),
        node(queue, "kid", at=clock.now, parent=link(queue, "P2")),
    ]
    with pytest.raises(ParentConflictError) as caught:
        await backend.add_flow(entries, clock.now)
    assert (caught.value.index, caught.value.code) == (1, -7)
    assert await snapshot(backend, queue, "P1", "P2", "kid", "new") == before


async def test_an_id_whose_parent_is_gone_can_be_attached_to_a_new_parent(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "kid", parent_id="P1")
    assert await backend.remove_job(queue, "P1", clock.now, remove_children=False)
    await backend.add_flow([node(queue, "P2", at=clock.now)], clock.now)
    up = link(queue, "P2", ParentPolicy.FAIL_PARENT)
    await backend.add_jobs(queue, [child(queue, "kid", up, at=clock.now)])
    record = await backend.get_job(queue, "kid")
    assert record is not None
    assert record.parent == up
    assert (await backend.get_dependencies(queue, "P2")).unprocessed == [key(queue, "kid")]


async def test_a_large_tree_is_one_step(backend: Backend, queue: str, clock: Clock) -> None:
    children = [f"c{i}" for i in range(5000)]
    await parent_with_children(backend, queue, clock, *children)
    assert await backend.get_dependency_counts(queue, "P") == DependencyCounts(unprocessed=5000)
    counts = await backend.get_counts(queue, [JobState.WAITING, JobState.WAITING_CHILDREN])
    assert counts == {JobState.WAITING: 5000, JobState.WAITING_CHILDREN: 1}
    fetched = await backend.move_to_active(queue, FetchRequest("t", 30_000), clock.now)
    assert fetched.job is not None
    assert fetched.job.id == "c0"
