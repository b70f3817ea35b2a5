"""Fixtures for testing code that uses corral: copy this file into your tests.

* ``corral_url``: a fresh SQLite file per test, set as ``CORRAL_URL`` so that code
  which opens ``Queue(name)`` without a URL uses it too. (``sqlite://:memory:``
  is faster still: every client of the process shares it until the last one
  closes; a file is the safer choice when a test may leave a client open.)
* ``queue``: a Queue on that store.
* ``run_worker``: run a processor worker in the background for part of a test,
  and wait until given jobs have finished.
* ``process_one``: run your processor on the next job, inline, the way a worker
  would, with no background task at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from corral import Job, Queue, Worker

Processor = Callable[[Job], Awaitable[Any]]


@pytest.fixture
def corral_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'corral.db'}"
    monkeypatch.setenv("CORRAL_URL", url)
    return url


@pytest.fixture
async def queue(corral_url: str) -> AsyncIterator[Queue]:
    from signup import QUEUE  # your queue's name

    async with Queue(QUEUE, url=corral_url) as queue:
        yield queue


class RunningWorker:
    """A worker processing in the background; :meth:`wait` for jobs to settle."""

    def __init__(self, worker: Worker, queue: Queue) -> None:
        self.worker = worker
        self._queue = queue

    async def wait(self, *job_ids: str, timeout: float = 10) -> list[Job]:
        """Wait until every job is completed or failed for good; return them."""
        async with asyncio.timeout(timeout):
            while True:
                states = [await self._queue.get_job_state(i) for i in job_ids]
                if all(state in ("completed", "failed") for state in states):
                    break
                await asyncio.sleep(0.02)
        jobs = [await self._queue.get_job(i) for i in job_ids]
        return [job for job in jobs if job is not None]


RunWorker = Callable[..., AbstractAsyncContextManager[RunningWorker]]
"""``async with run_worker(processor, **worker_options) as running: ...``"""

ProcessOne = Callable[[Processor], Awaitable[Job]]
"""``job = await process_one(processor)``: the job, completed or failed."""


@pytest.fixture
def run_worker(queue: Queue) -> RunWorker:
    @asynccontextmanager
    async def run(processor: Processor, **options: Any) -> AsyncIterator[RunningWorker]:
        options.setdefault("drain_delay", 0.1)  # an idle worker notices close() quickly
        async with Worker(queue.name, processor, url=queue.url, **options) as worker:
            yield RunningWorker(worker, queue)

    return run


@pytest.fixture
async def process_one(queue: Queue) -> AsyncIterator[ProcessOne]:
    worker = Worker(queue.name, url=queue.url)

    async def process(processor: Processor) -> Job:
        job = await worker.get_next_job("test", block=False)
        assert job is not None, "there is no job to process"
        try:
            result = await processor(job)
        except Exception as error:
            await job.move_to_failed(error, "test")
        else:
            await job.move_to_completed(result, "test", fetch_next=False)
        return job

    yield process
    await worker.close()
