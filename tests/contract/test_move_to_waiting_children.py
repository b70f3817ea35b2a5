"""move_to_waiting_children: an active job parks itself until its pending children
finish (the step-job pattern), or learns that none is pending; only its lock holder
learns anything."""

from __future__ import annotations

import pytest

from corral.backends.base import Backend, Completed, JobState, ParentPolicy
from corral.errors import (
    FailedChildrenError,
    JobNotFoundError,
    LockMismatchError,
    MissingLockError,
)
from tests.contract.flow_support import child, finish, key, link
from tests.contract.support import Clock, events_after, fetch_one, job, snapshot


async def _step_with_child(backend: Backend, queue: str, clock: Clock, **kw: object) -> str:
    """An active job "step" (token ts) that just added child "k"."""
    await backend.add_jobs(queue, [job("step", at=clock.now)])
    step = await fetch_one(backend, queue, clock, "ts")
    await backend.add_jobs(queue, [child(queue, "k", link(queue, step.id, **kw), at=clock.now)])  # type: ignore[arg-type]
    return step.id


async def test_a_job_with_a_pending_child_waits_for_it_and_runs_again_after(
    backend: Backend, queue: str, clock: Clock
) -> None:
    step = await _step_with_child(backend, queue, clock)
    cursor = await backend.events_cursor(queue)
    assert await backend.move_to_waiting_children(queue, step, "ts", clock.now)
    assert await backend.get_state(queue, step) is JobState.WAITING_CHILDREN
    assert await events_after(backend, queue, cursor) == [
        ("waiting-children", {"jobId": step, "prev": "active"})
    ]
    waiting = await backend.get_job(queue, step)
    assert waiting is not None
    assert (waiting.attempts_made, waiting.attempts_started) == (0, 1)  # no attempt used
    with pytest.raises(MissingLockError):  # the lock is gone
        await backend.extend_lock(queue, step, "ts", 1000, clock.now)
    await finish(backend, queue, clock, "k", value='"kid"')
    assert await backend.get_state(queue, step) is JobState.WAITING
    again = await fetch_one(backend, queue, clock, "ts2")
    assert (again.id, again.attempts_started) == (step, 2)
    # Nothing pending any more: it answers False and changes nothing.
    assert not await backend.move_to_waiting_children(queue, step, "ts2", clock.now)
    assert await backend.get_state(queue, step) is JobState.ACTIVE
    await backend.move_to_finished(queue, step, "ts2", Completed("1"), clock.now)


async def test_a_child_that_finished_first_means_no_wait(
    backend: Backend, queue: str, clock: Clock
) -> None:
    step = await _step_with_child(backend, queue, clock)
    await finish(backend, queue, clock, "k", value='"early"')
    assert not await backend.move_to_waiting_children(queue, step, "ts", clock.now)
    assert await backend.get_state(queue, step) is JobState.ACTIVE
    assert (await backend.get_dependencies(queue, step)).processed == {key(queue, "k"): '"early"'}


async def test_waiting_for_one_named_child(backend: Backend, queue: str, clock: Clock) -> None:
    step = await _step_with_child(backend, queue, clock)
    assert not await backend.move_to_waiting_children(
        queue, step, "ts", clock.now, key(queue, "other")
    )
    assert await backend.move_to_waiting_children(queue, step, "ts", clock.now, key(queue, "k"))


async def test_the_refusals_come_in_order_and_change_nothing(
    backend: Backend, queue: str, clock: Clock
) -> None:
    with pytest.raises(JobNotFoundError):
        await backend.move_to_waiting_children(queue, "nope", "ts", clock.now)
    step = await _step_with_child(backend, queue, clock, policy=ParentPolicy.FAIL_PARENT)
    await backend.add_jobs(queue, [job("idle", at=clock.now)])
    before = await snapshot(backend, queue, step, "k")
    with pytest.raises(LockMismatchError):
        await backend.move_to_waiting_children(queue, step, "other", clock.now)
    with pytest.raises(MissingLockError):  # never fetched: no lock to hold
        await backend.move_to_waiting_children(queue, "3", "ts", clock.now)
    assert await snapshot(backend, queue, step, "k") == before
    await finish(backend, queue, clock, "k", failure="boom")
    with pytest.raises(FailedChildrenError):
        await backend.move_to_waiting_children(queue, step, "ts", clock.now)


async def test_a_job_that_is_not_active_is_refused_with_its_state(
    backend: Backend, queue: str, clock: Clock
) -> None:
    step = await _step_with_child(backend, queue, clock)
    assert await backend.move_to_waiting_children(queue, step, "ts", clock.now)
    with pytest.raises(MissingLockError):
        await backend.move_to_waiting_children(queue, step, "ts", clock.now)


async def test_a_wrong_token_learns_nothing_even_when_no_child_is_pending(
    backend: Backend, queue: str, clock: Clock
) -> None:
    """corral checks the lock first (Node answers False to anyone when no child is
    pending): only the lock holder learns whether the job has children."""
    await backend.add_jobs(queue, [job("alone", at=clock.now)])
    alone = await fetch_one(backend, queue, clock, "mine")
    with pytest.raises(LockMismatchError):
        await backend.move_to_waiting_children(queue, alone.id, "someone-else", clock.now)
    assert not await backend.move_to_waiting_children(queue, alone.id, "mine", clock.now)
