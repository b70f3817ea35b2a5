"""What the flow contract tests share: building flow entries and finishing children.

Job keys are ``bull:<queue>:<id>`` (the contract suite opens every backend with the
default prefix). Parents and children live in the test's queue unless a test says
otherwise, so :class:`~tests.contract.support.Clock` ages their locks too.
"""

from __future__ import annotations

from typing import Any

from corral.backends.base import (
    Backend,
    Completed,
    Failed,
    FlowEntry,
    KeepJobs,
    NewJob,
    ParentLink,
    ParentPolicy,
)
from tests.contract.support import PREFIX, Clock, req

__all__ = ["child", "finish", "key", "link", "node", "parent_with_children"]


def key(queue: str, job_id: str) -> str:
    """A job key ``bull:<queue>:<id>``."""
    return f"{PREFIX}:{queue}:{job_id}"


def link(queue: str, job_id: str, policy: ParentPolicy = ParentPolicy.NONE) -> ParentLink:
    """A child's link to the parent ``job_id`` of ``queue``."""
    return ParentLink(f"{PREFIX}:{queue}", job_id, policy)


def node(
    queue: str, job_id: str, *, at: int, parent: ParentLink | None = None, **kw: Any
) -> FlowEntry:
    """A flow entry: job ``job_id`` of ``queue`` created at ``at``; ``kw`` as :class:`NewJob`."""
    return FlowEntry(
        queue, NewJob(job_id, '{"n":1}', '{"attempts":0}', at, job_id=job_id, parent=parent, **kw)
    )


def child(queue: str, job_id: str, parent: ParentLink, *, at: int, **kw: Any) -> NewJob:
    """A job to add with ``add_jobs`` as a child of ``parent``."""
    return NewJob(job_id, "{}", '{"attempts":0}', at, job_id=job_id, parent=parent, **kw)


async def parent_with_children(
    backend: Backend,
    queue: str,
    clock: Clock,
    *children: str,
    policy: ParentPolicy = ParentPolicy.NONE,
    parent_id: str = "P",
    **parent_kw: Any,
) -> list[str]:
    """Add parent ``parent_id`` (``parent_kw`` as NewJob) with ``children`` (ids) in ``queue``."""
    up = link(queue, parent_id, policy)
    entries = [node(queue, parent_id, at=clock.now, **parent_kw)]
    entries += [node(queue, c, at=clock.now, parent=up) for c in children]
    return await backend.add_flow(entries, clock.now)


async def finish(
    backend: Backend,
    queue: str,
    clock: Clock,
    job_id: str,
    *,
    value: str | None = None,
    failure: str | None = None,
    keep: KeepJobs | None = None,
) -> None:
    """Fetch the next job of ``queue``, which must be ``job_id`` (children are fetched
    in the order they were added), then complete it with ``value`` or fail it for good
    with ``failure``."""
    fetched = await backend.move_to_active(queue, req("t-" + job_id), clock.now)
    assert fetched.job is not None, f"{job_id} was not handed out"
    assert fetched.job.id == job_id, f"expected {job_id}, fetched {fetched.job.id}"
    keep = keep or KeepJobs()
    outcome: Completed | Failed
    if failure is None:
        outcome = Completed(value if value is not None else f'"{job_id}"', keep)
    else:
        outcome = Failed(failure, keep=keep, attempts=1)
    await backend.move_to_finished(queue, job_id, "t-" + job_id, outcome, clock.now)
