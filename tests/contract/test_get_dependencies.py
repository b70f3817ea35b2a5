"""get_dependencies and get_dependency_counts: a parent's four buckets at once, and
exact paging (pages of a bucket neither repeat nor skip a child)."""

from __future__ import annotations

from corral.backends.base import (
    Backend,
    DependencyBucket,
    DependencyCounts,
    DependencyPage,
    ParentPolicy,
)
from tests.contract.flow_support import finish, key, link, node, parent_with_children
from tests.contract.support import Clock, job


async def test_all_four_buckets_at_once(backend: Backend, queue: str, clock: Clock) -> None:
    kids = f"{queue}-kids"
    entries = [
        node(queue, "P", at=clock.now),
        node(queue, "ok", at=clock.now, parent=link(queue, "P")),
        node(queue, "skipped", at=clock.now, parent=link(queue, "P", ParentPolicy.IGNORE)),
        node(queue, "lost", at=clock.now, parent=link(queue, "P", ParentPolicy.FAIL_PARENT)),
        node(kids, "todo", at=clock.now, parent=link(queue, "P")),
    ]
    await backend.add_flow(entries, clock.now)
    await finish(backend, queue, clock, "ok", value='{"v":1}')
    await finish(backend, queue, clock, "skipped", failure="why")
    await finish(backend, queue, clock, "lost", failure="bad")
    assert await backend.get_dependencies(queue, "P") == DependencyPage(
        processed={key(queue, "ok"): '{"v":1}'},
        unprocessed=[key(kids, "todo")],
        ignored={key(queue, "skipped"): "why"},
        failed=[key(queue, "lost")],
    )
    assert await backend.get_dependency_counts(queue, "P") == DependencyCounts(1, 1, 1, 1)


async def test_a_job_that_is_no_parent_has_empty_buckets(
    backend: Backend, queue: str, clock: Clock
) -> None:
    (plain,) = await backend.add_jobs(queue, [job(at=clock.now)])
    for job_id in (plain, "nope"):
        assert await backend.get_dependencies(queue, job_id) == DependencyPage({}, [], {}, [])
        assert await backend.get_dependency_counts(queue, job_id) == DependencyCounts()
    assert await backend.get_dependency_counts("never-used", "x") == DependencyCounts()


async def test_paging_is_exact(backend: Backend, queue: str, clock: Clock) -> None:
    children = [f"c{i}" for i in range(7)]
    await parent_with_children(backend, queue, clock, *children)
    seen: list[str] = []
    page = await backend.get_dependencies(queue, "P", limit=3)
    pages = 1
    while True:
        assert len(page.unprocessed) <= 3
        seen += page.unprocessed
        if DependencyBucket.UNPROCESSED not in page.cursors:
            break
        cursors = {DependencyBucket.UNPROCESSED: page.cursors[DependencyBucket.UNPROCESSED]}
        page = await backend.get_dependencies(queue, "P", limit=3, cursors=cursors)
        pages += 1
        # Only the bucket asked for is read.
        assert (page.processed, page.ignored, page.failed) == ({}, {}, [])
    assert seen == sorted(key(queue, c) for c in children)
    assert pages == 3


async def test_the_failed_bucket_pages_oldest_failure_first(
    backend: Backend, queue: str, clock: Clock
) -> None:
    parents = f"{queue}-parents"  # a failed child releases P: keep it out of the way
    children = ["z", "y", "x"]
    up = link(parents, "P", ParentPolicy.FAIL_PARENT)
    await backend.add_flow(
        [
            node(parents, "P", at=clock.now),
            *(node(queue, c, at=clock.now, parent=up) for c in children),
        ],
        clock.now,
    )
    for child_id in children:
        await finish(backend, queue, clock, child_id, failure="boom")
        await clock.advance(10)
    first = await backend.get_dependencies(parents, "P", limit=2)
    assert first.failed == [key(queue, "z"), key(queue, "y")]
    rest = await backend.get_dependencies(
        parents,
        "P",
        limit=2,
        cursors={DependencyBucket.FAILED: first.cursors[DependencyBucket.FAILED]},
    )
    assert rest.failed == [key(queue, "x")]
    assert DependencyBucket.FAILED not in rest.cursors
