"""Fixtures and helpers of the flow conformance tests (imported by their modules).

* ``flows``: a :class:`~corral.FlowProducer` on the test's store.
* ``hands``: ``hands(queue)`` is a hand-driven Worker on any queue of the store
  (all closed at the end); ``take(worker, name)`` fetches the next job, which
  must be named ``name``.
* ``run_workers``: ``async with run_workers({queue: processor, ...}):`` processor
  workers on several queues at once.
* ``render_video(render, media)``: the README's example tree.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from corral import FlowProducer, Job, Queue, Worker
from tests import support

__all__ = ["flows", "hands", "render_video", "run_workers", "take", "wait_until"]

Hands = Callable[..., Worker]


@pytest.fixture
async def flows(url: str) -> AsyncIterator[FlowProducer]:
    async with FlowProducer(url=url) as producer:
        yield producer


@pytest.fixture
async def hands(url: str) -> AsyncIterator[Hands]:
    async with contextlib.aclosing(support.Workers(url)) as workers:
        yield workers.make


def render_video(render: str, media: str) -> dict[str, Any]:
    """The README's example tree."""
    return {
        "name": "render-video",
        "queue_name": render,
        "data": {"id": 7},
        "children": [
            {"name": "transcode", "queue_name": media, "data": {"res": 1080}},
            {
                "name": "thumbnail",
                "queue_name": media,
                "data": {},
                "options": {"fail_parent_on_failure": True},
            },
        ],
    }


async def take(worker: Worker, name: str | None = None) -> Job:
    """The next job of ``worker``'s queue (locked with a fresh token), named ``name``."""
    job = await worker.get_next_job(f"tok-{uuid.uuid4().hex[:8]}", block=False)
    assert job is not None, f"no job in {worker.queue_name!r}"
    if name is not None:
        assert job.name == name, f"expected {name!r}, got {job.name!r}"
    return job


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """:func:`tests.support.wait_until`, with the longer wait a tree's several workers need."""
    await support.wait_until(predicate, timeout)


@pytest.fixture
def run_workers(url: str) -> Callable[..., contextlib.AbstractAsyncContextManager[list[Worker]]]:
    return functools.partial(support.running_workers, url)


async def state_of(url: str, queue: str, job_id: str) -> str:
    async with Queue(queue, url=url) as q:
        return (await q.get_job_state(job_id)).value
