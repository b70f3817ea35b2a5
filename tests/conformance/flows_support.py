"""Fixtures and helpers of the flow conformance tests (imported by their modules).

* ``flows``: a :class:`~corral.FlowProducer` on the test's store.
* ``hands``: ``hands(queue)`` is a hand-driven Worker on any queue of the store
  (all closed at the end); ``take(worker, name)`` fetches the next job, which
  must be named ``name``.
* ``run_workers``: ``async with run_workers({queue: processor, ...}):`` processor
  workers on several queues at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from corral import FlowProducer, Job, Queue, Worker

__all__ = ["flows", "hands", "run_workers", "take", "wait_until"]

Hands = Callable[..., Worker]


@pytest.fixture
async def flows(url: str) -> AsyncIterator[FlowProducer]:
    producer = FlowProducer(url=url)
    try:
        yield producer
    finally:
        await producer.close()


@pytest.fixture
async def hands(url: str) -> AsyncIterator[Hands]:
    made: list[Worker] = []

    def factory(queue: str, **options: Any) -> Worker:
        options.setdefault("drain_delay", 0.2)
        worker = Worker(queue, url=url, **options)
        made.append(worker)
        return worker

    try:
        yield factory
    finally:
        for worker in made:
            await worker.close()


async def take(worker: Worker, name: str | None = None) -> Job:
    """The next job of ``worker``'s queue (locked with a fresh token), named ``name``."""
    job = await worker.get_next_job(f"tok-{uuid.uuid4().hex[:8]}", block=False)
    assert job is not None, f"no job in {worker.queue_name!r}"
    if name is not None:
        assert job.name == name, f"expected {name!r}, got {job.name!r}"
    return job


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
def run_workers(url: str) -> Callable[..., contextlib.AbstractAsyncContextManager[list[Worker]]]:
    @contextlib.asynccontextmanager
    async def running(
        processors: Mapping[str, Callable[[Job], Any]], **options: Any
    ) -> AsyncIterator[list[Worker]]:
        options.setdefault("drain_delay", 0.2)
        workers = [Worker(q, fn, url=url, **options) for q, fn in processors.items()]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            yield workers
        finally:
            for worker in workers:
                await worker.close()
            await asyncio.gather(*tasks)

    return running


async def state_of(url: str, queue: str, job_id: str) -> str:
    async with Queue(queue, url=url) as q:
        return (await q.get_job_state(job_id)).value
