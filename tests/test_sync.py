"""The blocking API mirrors the async one and works without an event loop."""

from __future__ import annotations

import inspect

import pytest

import corral
from corral import JobState, LockMismatchError, sync


def _public_coroutines(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    }


def _shape(sig: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


@pytest.mark.parametrize(
    ("async_cls", "sync_cls"),
    [
        (corral.Queue, sync.Queue),
        (corral.Worker, sync.Worker),
        (corral.Job, sync.Job),
        (corral.QueueEvents, sync.QueueEvents),
    ],
)
def test_every_async_method_has_a_sync_twin_with_the_same_parameters(
    async_cls: type, sync_cls: type
) -> None:
    coroutines = _public_coroutines(async_cls)
    assert coroutines, f"{async_cls.__name__} has no public coroutine methods?"
    for name, sig in coroutines.items():
        twin = getattr(sync_cls, name, None)
        assert twin is not None, f"corral.sync.{sync_cls.__name__} lacks {name}()"
        assert not inspect.iscoroutinefunction(twin), f"sync {name} must block, not be async"
        assert _shape(inspect.signature(twin)) == _shape(sig), f"{name} parameters differ"
    if async_cls is not corral.Job:
        assert _shape(inspect.signature(sync_cls)) == _shape(inspect.signature(async_cls))


def test_sync_manual_fetching(url: str, queue_name: str) -> None:
    with sync.Queue(queue_name, url=url) as queue, sync.Worker(queue_name, url=url) as worker:
        added = queue.add("send", {"to": "a@example.com"})
        sync.Job.create(queue, "send", {"to": "b@example.com"})
        job = worker.get_next_job("tok")
        assert job is not None
        assert job.id == added.id
        assert job.data == {"to": "a@example.com"}
        with pytest.raises(LockMismatchError):
            job.move_to_completed("stolen", "other", fetch_next=False)
        nxt = job.move_to_completed("sent", "tok")
        assert nxt is not None
        assert nxt.token == "tok"
        assert nxt.move_to_failed(RuntimeError("bounce"), "tok") is None
        assert queue.get_job_state(added.id) == JobState.COMPLETED
        assert queue.get_job_counts("completed", "failed") == {"completed": 1, "failed": 1}
        stored = queue.get_job(added.id)
        assert stored is not None
        assert stored.return_value == "sent"


async def test_sync_api_inside_a_running_loop_still_works(url: str, queue_name: str) -> None:
    # e.g. a notebook: the sync call runs on corral's own loop thread, not this one.
    with sync.Queue(queue_name, url=url) as queue:
        queue.add("x", {})
        assert queue.get_job_counts("waiting") == {"waiting": 1}
