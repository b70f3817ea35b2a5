"""Fixtures for the conformance suite: every test here runs on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from corral import Queue, Worker

WorkerFactory = Callable[..., Worker]


@pytest.fixture
async def queue(url: str, queue_name: str) -> AsyncIterator[Queue]:
    q = Queue(queue_name, url=url)
    try:
        yield q
    finally:
        await q.close()


@pytest.fixture
async def make_worker(url: str, queue_name: str) -> AsyncIterator[WorkerFactory]:
    """Make workers on the test's queue; all are closed at the end of the test."""
    made: list[Worker] = []

    def factory(**options: Any) -> Worker:
        options.setdefault("drain_delay", 0.2)
        worker = Worker(queue_name, options.pop("processor", None), url=url, **options)
        made.append(worker)
        return worker

    try:
        yield factory
    finally:
        for worker in made:
            await worker.close()
