"""reprocess_job in a flow: a finished child run again is pending for its parent again
(the parent is not moved), so the parent waits for its new result."""

from __future__ import annotations

import pytest

from corral.backends.base import Backend, DependencyCounts, JobState, ParentPolicy
from tests.contract.flow_support import finish, key, link, node
from tests.contract.support import Clock


@pytest.mark.parametrize(
    ("policy", "failure"),
    [
        (ParentPolicy.NONE, None),
        (ParentPolicy.IGNORE, "boom"),
        (ParentPolicy.FAIL_PARENT, "boom"),
    ],
)
async def test_a_child_run_again_is_pending_again(
    backend: Backend, queue: str, clock: Clock, policy: ParentPolicy, failure: str | None
) -> None:
    parents = f"{queue}-parents"
    up = link(parents, "P", policy)
    entries = [node(parents, "P", at=clock.now)]
    entries += [node(queue, c, at=clock.now, parent=up) for c in ("a", "b")]
    await backend.add_flow(entries, clock.now)
    await finish(backend, queue, clock, "a", failure=failure)
    state = JobState.COMPLETED if failure is None else JobState.FAILED
    parent_state = await backend.get_state(parents, "P")
    await backend.reprocess_job(queue, "a", state, reset_attempts=False)
    assert await backend.get_dependency_counts(parents, "P") == DependencyCounts(unprocessed=2)
    assert await backend.get_state(parents, "P") is parent_state
    await finish(backend, queue, clock, "b")
    await finish(backend, queue, clock, "a", value='"again"')
    assert (await backend.get_dependencies(parents, "P")).processed[key(queue, "a")] == '"again"'
