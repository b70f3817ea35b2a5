"""move_to_finished on a child and on a parent: the parent's buckets, its release (by
its own delay and priority), each failure policy, retention, and the -4 / -9
refusals of a parent that completes too early. Retries and stalls leave a parent alone."""

from __future__ import annotations

import pytest

from corral.backends.base import (
    STALLED_LIMIT_REASON,
    Backend,
    Completed,
    DependencyCounts,
    Failed,
    JobState,
    KeepJobs,
    ParentPolicy,
    Retry,
)
from corral.errors import FailedChildrenError, PendingDependenciesError
from tests.contract.flow_support import child, finish, key, link, node, parent_with_children
from tests.contract.support import Clock, events_after, fetch_one, job, req


async def test_a_completed_child_is_processed_and_the_last_one_releases_the_parent(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a", "b")
    await finish(backend, queue, clock, "a", value='{"ok":"a"}')
    assert await backend.get_state(queue, "P") is JobState.WAITING_CHILDREN
    page = await backend.get_dependencies(queue, "P")
    assert (page.processed, page.unprocessed) == (
        {key(queue, "a"): '{"ok":"a"}'},
        [key(queue, "b")],
    )
    cursor = await backend.events_cursor(queue)
    await finish(backend, queue, clock, "b", value="7")
    # The parent's event comes before the child's, in the same step.
    assert await events_after(backend, queue, cursor) == [
        ("active", {"jobId": "b", "prev": "waiting"}),
        ("waiting", {"jobId": "P", "prev": "waiting-children"}),
        ("completed", {"jobId": "b", "returnvalue": "7", "prev": "active"}),
    ]
    assert await backend.get_state(queue, "P") is JobState.WAITING
    assert await backend.get_dependency_counts(queue, "P") == DependencyCounts(processed=2)
    parent = await fetch_one(backend, queue, clock, "tp")
    assert parent.id == "P"
    await backend.move_to_finished(queue, "P", "tp", Completed('"all done"'), clock.now)
    assert await backend.get_state(queue, "P") is JobState.COMPLETED


async def test_a_released_parent_goes_to_the_front_of_wait(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a")
    await backend.add_jobs(queue, [job("waiting-1", at=clock.now), job("waiting-2", at=clock.now)])
    await finish(backend, queue, clock, "a")
    fetched = await fetch_one(backend, queue, clock)
    assert fetched.id == "P"


async def test_a_released_parent_honours_its_priority_and_delay(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a", parent_id="PR", priority=4)
    await finish(backend, queue, clock, "a")
    assert await backend.get_state(queue, "PR") is JobState.PRIORITIZED
    await parent_with_children(backend, queue, clock, "b", parent_id="PD", delay_ms=5_000)
    cursor = await backend.events_cursor(queue)
    await finish(backend, queue, clock, "b")
    assert await backend.get_state(queue, "PD") is JobState.DELAYED
    events = await events_after(backend, queue, cursor)
    assert ("delayed", {"jobId": "PD", "delay": str(clock.now + 5_000)}) in events
    await clock.advance(5_001)
    fetched = await backend.move_to_active(queue, req(), clock.now)
    assert fetched.job is not None
    assert fetched.job.id in ("PR", "PD")


async def test_a_parent_released_into_a_paused_queue_waits_for_resume(
    backend: Backend, queue: str, clock: Clock
) -> None:
    kids = f"{queue}-kids"
    up = link(queue, "P")
    await backend.add_flow(
        [node(queue, "P", at=clock.now), node(kids, "a", at=clock.now, parent=up)], clock.now
    )
    await backend.pause(queue)
    await finish(backend, kids, clock, "a")
    assert await backend.get_state(queue, "P") is JobState.WAITING
    assert (await backend.move_to_active(queue, req(), clock.now)).job is None
    await backend.resume(queue)
    fetched = await backend.move_to_active(queue, req(), clock.now)
    assert fetched.job is not None
    assert fetched.job.id == "P"


async def test_a_child_removed_on_complete_leaves_its_value_with_the_parent(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a")
    await finish(backend, queue, clock, "a", value='"kept"', keep=KeepJobs(count=0))
    assert await backend.get_job(queue, "a") is None
    assert (await backend.get_dependencies(queue, "P")).processed == {key(queue, "a"): '"kept"'}
    assert await backend.get_state(queue, "P") is JobState.WAITING


async def test_a_failed_child_without_a_policy_keeps_the_parent_waiting(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a", "b")
    await finish(backend, queue, clock, "a", failure="boom")
    await finish(backend, queue, clock, "b")
    assert await backend.get_state(queue, "P") is JobState.WAITING_CHILDREN
    assert (await backend.get_dependencies(queue, "P")).unprocessed == [key(queue, "a")]
    # Retrying the failed child and completing it releases the parent.
    await backend.reprocess_job(queue, "a", JobState.FAILED, reset_attempts=False)
    await finish(backend, queue, clock, "a")
    assert await backend.get_state(queue, "P") is JobState.WAITING


async def test_a_failed_child_removed_at_once_releases_its_parent(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a")
    await finish(backend, queue, clock, "a", failure="boom", keep=KeepJobs(count=0))
    assert await backend.get_state(queue, "P") is JobState.WAITING
    assert await backend.get_dependency_counts(queue, "P") == DependencyCounts()


async def test_fail_parent_on_failure_releases_the_parent_to_fail_at_once(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "bad", "ok", policy=ParentPolicy.FAIL_PARENT)
    await finish(backend, queue, clock, "bad", failure="boom")
    # Released with a sibling still pending, marked to fail on its next fetch.
    parent = await backend.get_job(queue, "P")
    assert parent is not None
    assert parent.deferred_failure == f"child {key(queue, 'bad')} failed"
    assert await backend.get_state(queue, "P") is JobState.WAITING
    page = await backend.get_dependencies(queue, "P")
    assert (page.failed, page.unprocessed) == ([key(queue, "bad")], [key(queue, "ok")])


async def test_fail_parent_on_failure_releases_a_delayed_parent_now(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a", delay_ms=60_000)
    await finish(backend, queue, clock, "a")
    assert await backend.get_state(queue, "P") is JobState.DELAYED
    # A child added to the delayed parent fails it: the delay is over.
    up = link(queue, "P", ParentPolicy.FAIL_PARENT)
    await backend.add_jobs(queue, [child(queue, "bad", up, at=clock.now)])
    await finish(backend, queue, clock, "bad", failure="boom")
    parent = await backend.get_job(queue, "P")
    assert parent is not None
    assert (parent.delay_ms, parent.deferred_failure) == (0, f"child {key(queue, 'bad')} failed")
    assert await backend.get_state(queue, "P") is JobState.WAITING


async def test_a_parent_marked_by_a_failed_child_fails_and_cannot_complete(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "bad", policy=ParentPolicy.FAIL_PARENT)
    await finish(backend, queue, clock, "bad", failure="boom")
    parent = await fetch_one(backend, queue, clock, "tp")
    with pytest.raises(FailedChildrenError):
        await backend.move_to_finished(queue, "P", "tp", Completed("1"), clock.now)
    assert await backend.get_state(queue, "P") is JobState.ACTIVE  # the lock is kept
    await backend.move_to_finished(
        queue, "P", "tp", Failed(parent.deferred_failure or ""), clock.now
    )
    assert await backend.get_state(queue, "P") is JobState.FAILED


@pytest.mark.parametrize("policy", [ParentPolicy.CONTINUE_PARENT, ParentPolicy.IGNORE])
async def test_continue_and_ignore_record_the_failure_and_release_when_due(
    backend: Backend, queue: str, clock: Clock, policy: ParentPolicy
) -> None:
    await parent_with_children(backend, queue, clock, "bad", "ok", policy=policy)
    await finish(backend, queue, clock, "bad", failure="boom")
    page = await backend.get_dependencies(queue, "P")
    assert page.ignored == {key(queue, "bad"): "boom"}
    state = await backend.get_state(queue, "P")
    if policy is ParentPolicy.CONTINUE_PARENT:
        # Runs at once, a sibling still pending: completing it now is refused.
        assert state is JobState.WAITING
        await fetch_one(backend, queue, clock, "tp")
        with pytest.raises(PendingDependenciesError):
            await backend.move_to_finished(queue, "P", "tp", Completed("1"), clock.now)
        assert await backend.get_state(queue, "P") is JobState.ACTIVE
    else:
        assert state is JobState.WAITING_CHILDREN
        await finish(backend, queue, clock, "ok")
        assert await backend.get_state(queue, "P") is JobState.WAITING


async def test_remove_dependency_on_failure_records_nothing(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "bad", policy=ParentPolicy.REMOVE)
    await finish(backend, queue, clock, "bad", failure="boom")
    assert await backend.get_dependency_counts(queue, "P") == DependencyCounts()
    assert await backend.get_state(queue, "P") is JobState.WAITING


async def test_a_retried_attempt_leaves_the_parent_alone(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a", policy=ParentPolicy.FAIL_PARENT)
    got = await fetch_one(backend, queue, clock)
    await backend.retry_job(queue, got.id, "t1", Retry("once"), clock.now)
    assert await backend.get_state(queue, "P") is JobState.WAITING_CHILDREN
    assert await backend.get_dependency_counts(queue, "P") == DependencyCounts(unprocessed=1)


async def test_a_stalled_child_never_releases_its_parent(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a", policy=ParentPolicy.FAIL_PARENT)
    await fetch_one(backend, queue, clock, lock_duration_ms=1_000)
    await backend.move_stalled_to_wait(queue, 0, 1_000, clock.now)
    await clock.advance(2_000)
    assert await backend.move_stalled_to_wait(queue, 0, 1_000, clock.now) == ["a"]
    assert await backend.get_state(queue, "P") is JobState.WAITING_CHILDREN
    # Past the stall limit it fails on its next fetch, and only then is its policy applied.
    stalled = await backend.get_job(queue, "a")
    assert stalled is not None
    assert stalled.deferred_failure == STALLED_LIMIT_REASON
    got = await fetch_one(backend, queue, clock, "t2")
    await backend.move_to_finished(queue, got.id, "t2", Failed(STALLED_LIMIT_REASON), clock.now)
    assert await backend.get_state(queue, "P") is JobState.WAITING


async def test_completing_a_parent_too_early_is_refused_before_the_lock_is_looked_at(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await parent_with_children(backend, queue, clock, "a", parent_id="S")
    with pytest.raises(PendingDependenciesError):
        await backend.move_to_finished(queue, "S", "nobody", Completed("1"), clock.now)
    assert await backend.get_state(queue, "S") is JobState.WAITING_CHILDREN
    await parent_with_children(
        backend, queue, clock, "bad", parent_id="F", policy=ParentPolicy.FAIL_PARENT
    )
    await finish(backend, queue, clock, "a")
    await finish(backend, queue, clock, "S")
    await finish(backend, queue, clock, "bad", failure="boom")
    with pytest.raises(FailedChildrenError):
        await backend.move_to_finished(queue, "F", "nobody", Completed("1"), clock.now)
    # Failing is never refused for children.
    got = await fetch_one(backend, queue, clock, "tf")
    await backend.move_to_finished(queue, got.id, "tf", Failed("given up"), clock.now)
    assert await backend.get_state(queue, "F") is JobState.FAILED


async def test_an_active_job_given_a_child_cannot_complete_until_the_child_does(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("step", at=clock.now)])
    step = await fetch_one(backend, queue, clock, "ts")
    await backend.add_jobs(queue, [child(queue, "k", link(queue, step.id), at=clock.now)])
    with pytest.raises(PendingDependenciesError):
        await backend.move_to_finished(queue, step.id, "ts", Completed("1"), clock.now)
    assert await backend.get_state(queue, step.id) is JobState.ACTIVE
    await finish(backend, queue, clock, "k", value='"kid"')
    # Still active (it never waited): completing it now goes through.
    assert await backend.get_state(queue, step.id) is JobState.ACTIVE
    await backend.move_to_finished(queue, step.id, "ts", Completed("2"), clock.now)
    assert await backend.get_state(queue, step.id) is JobState.COMPLETED
