"""The blocking API mirrors the async one name for name and works without an event loop.

The parity tests compare live objects: every public name an async instance has
(methods, properties, attributes set in ``__init__``) must exist on its blocking
twin, callables with the same signature, values reading the same thing.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import corral
from corral import JobState, LockMismatchError, RateLimiter, sync

# Async protocol names and the blocking ones that stand for them.
PROTOCOL_TWINS = {
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
}
# Public names only the blocking classes have.
SYNC_ONLY = {"async_job"}


@dataclass
class Pair:
    async_obj: Any
    sync_obj: Any


def _processor(job: corral.Job) -> str:
    return "done"


@pytest.fixture
def pairs(sqlite_url: str, queue_name: str) -> Iterator[dict[str, Pair]]:
    # Distinct values everywhere, so a name forwarded to the wrong attribute shows.
    queue = sync.Queue(queue_name, url=sqlite_url, prefix="pfx")
    worker = sync.Worker(
        queue_name,
        _processor,
        url=sqlite_url,
        prefix="pfx",
        lock_duration=31,
        stalled_interval=32,
        max_stalled_count=3,
        drain_delay=34,
        limiter=RateLimiter(max=35, duration=36),
        name="worker-37",
        concurrency=38,
    )
    events = sync.QueueEvents(queue_name, url=sqlite_url, prefix="pfx", last_event_id="0-0")
    connection = sync.Connection(sqlite_url)
    flows = sync.FlowProducer(url=sqlite_url, prefix="pfx")
    queue.add("parity", {"n": 1}, priority=7, attempts=2)
    job = worker.get_next_job("tok", block=False)
    assert job is not None
    job.update_progress(42)
    # The facade's own wrapped objects: the values must be the very same ones.
    yield {
        "Queue": Pair(queue._wrapped, queue),
        "Worker": Pair(worker._wrapped, worker),
        "Job": Pair(job.async_job, job),
        "QueueEvents": Pair(events._wrapped, events),
        "Connection": Pair(connection._wrapped, connection),
        "FlowProducer": Pair(flows._wrapped, flows),
    }
    for client in (queue, worker, events, connection, flows):
        client.close()


def _public(obj: object) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


@pytest.mark.parametrize(
    "cls_name", ["Queue", "Worker", "Job", "QueueEvents", "Connection", "FlowProducer"]
)
def test_every_public_name_of_the_async_class_has_a_blocking_twin(
    pairs: dict[str, Pair], cls_name: str
) -> None:
    pair = pairs[cls_name]
    assert type(pair.async_obj) is getattr(corral, cls_name)
    assert type(pair.sync_obj) is getattr(sync, cls_name)
    missing = _public(pair.async_obj) - _public(pair.sync_obj)
    assert missing == set(), f"corral.sync.{cls_name} lacks {sorted(missing)}"
    stale = _public(pair.sync_obj) - _public(pair.async_obj) - SYNC_ONLY
    assert stale == set(), f"corral.sync.{cls_name} has {sorted(stale)}, the async class not"


@pytest.mark.parametrize(
    "cls_name", ["Queue", "Worker", "Job", "QueueEvents", "Connection", "FlowProducer"]
)
def test_every_callable_has_the_async_signature_and_blocks(
    pairs: dict[str, Pair], cls_name: str
) -> None:
    pair = pairs[cls_name]
    async_cls, sync_cls = type(pair.async_obj), type(pair.sync_obj)
    checked = 0
    for name in sorted(_public(pair.async_obj)):
        static = inspect.getattr_static(async_cls, name, None)
        if not isinstance(static, staticmethod | classmethod) and not inspect.isfunction(static):
            continue  # data: see the next test
        checked += 1
        # On the class (self included, or the classmethod's parameters) ...
        assert inspect.signature(getattr(sync_cls, name)) == inspect.signature(
            getattr(async_cls, name)
        ), f"{cls_name}.{name}"
        # ... and bound to an instance.
        twin = getattr(pair.sync_obj, name)
        assert inspect.signature(twin) == inspect.signature(getattr(pair.async_obj, name))
        assert not inspect.iscoroutinefunction(twin), f"sync {cls_name}.{name} must block"
    assert checked, f"{cls_name} has no public methods?"
    for async_name, sync_name in PROTOCOL_TWINS.items():
        if getattr(async_cls, async_name, None) is None:
            continue
        twin = getattr(sync_cls, sync_name, None)
        assert twin is not None, f"corral.sync.{cls_name} lacks {sync_name}"
        if async_name != "__aenter__":  # __enter__ returns the blocking object instead
            assert inspect.signature(twin) == inspect.signature(getattr(async_cls, async_name))


@pytest.mark.parametrize(
    "cls_name", ["Queue", "Worker", "Job", "QueueEvents", "Connection", "FlowProducer"]
)
def test_every_property_and_attribute_reads_the_async_value(
    pairs: dict[str, Pair], cls_name: str
) -> None:
    pair = pairs[cls_name]
    async_cls = type(pair.async_obj)
    checked = 0
    for name in sorted(_public(pair.async_obj)):
        static = inspect.getattr_static(async_cls, name, None)
        if isinstance(static, staticmethod | classmethod) or inspect.isfunction(static):
            continue
        checked += 1
        assert getattr(pair.sync_obj, name) == getattr(pair.async_obj, name), f"{cls_name}.{name}"
    assert checked, f"{cls_name} has no public data?"


@pytest.mark.parametrize(
    "cls_name", ["Queue", "Worker", "QueueEvents", "Connection", "FlowProducer"]
)
def test_constructors_take_the_async_parameters(cls_name: str) -> None:
    assert inspect.signature(getattr(sync, cls_name)) == inspect.signature(
        getattr(corral, cls_name)
    )


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


def test_blocking_clients_share_one_blocking_connection(url: str, queue_name: str) -> None:
    with sync.Connection(url) as conn:
        queue = sync.Queue(queue_name, connection=conn)
        worker = sync.Worker(queue_name, connection=conn, drain_delay=0.2)
        queue.add("shared", {"n": 3})
        queue.close()  # borrowed: the worker still has the connection
        job = worker.get_next_job("tok")
        assert job is not None
        assert job.data == {"n": 3}
        job.move_to_completed("ok", "tok", fetch_next=False)
        worker.close()
        assert not conn.closed
    assert conn.closed
