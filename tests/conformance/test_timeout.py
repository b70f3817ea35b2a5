"""Timeouts: the job option ``timeout`` and ``Worker(timeout=...)``."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from corral import Job, JobState, JobTimeoutError, Queue
from tests.conformance.conftest import WorkerFactory
from tests.conformance.test_cancel import in_state
from tests.conformance.test_worker_run import counts_reach, wait_until


async def test_an_async_attempt_past_its_timeout_is_cancelled_and_retried(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    seen: list[Any] = []
    failures: list[BaseException] = []

    async def process(job: Job) -> str:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen.append(type(job.stop_reason))
            raise
        return "never"

    job = await queue.add("slow", {}, timeout=0.2, attempts=2)
    worker = make_worker(processor=process)
    worker.on("failed", lambda _job, error: failures.append(error))
    async with worker:
        await wait_until(in_state(queue, job.id, JobState.FAILED))
    assert seen == [JobTimeoutError, JobTimeoutError]
    assert all(isinstance(error, JobTimeoutError) for error in failures)
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert failed.attempts_made == 2
    assert failed.failed_reason == "timed out after 0.2 seconds"
    assert failed.opts.timeout_ms == 200


async def test_the_worker_timeout_is_the_default_and_the_job_option_wins(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    async def process(job: Job) -> str:
        await asyncio.sleep(0.3)
        return "done"

    short = await queue.add("default", {})
    generous = await queue.add("own", {}, timeout=30)
    async with make_worker(processor=process, timeout=0.05):
        await wait_until(in_state(queue, generous.id, JobState.COMPLETED))
        await wait_until(in_state(queue, short.id, JobState.FAILED))
    failed = await queue.get_job(short.id)
    assert failed is not None
    assert failed.failed_reason == "timed out after 0.05 seconds"


async def test_a_plain_function_past_its_timeout_is_failed_and_its_thread_left(
    queue: Queue, make_worker: WorkerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()

    def process(job: Job) -> str:
        if job.name == "stuck":
            release.wait(30)
            return "late"
        return "quick"

    stuck = await queue.add("stuck", {}, timeout=0.2)
    await queue.add("next", {})
    with caplog.at_level(logging.WARNING, logger="corral.worker"):
        async with make_worker(processor=process, concurrency=1):
            # The stuck thread holds the only thread of the pool: the next job
            # still runs, in a fresh one.
            await wait_until(counts_reach(queue, "completed", 1))
            assert await queue.get_job_state(stuck.id) == JobState.FAILED
            release.set()
    failed = await queue.get_job(stuck.id)
    assert failed is not None
    assert failed.failed_reason == "timed out after 0.2 seconds"
    assert "cannot be stopped" in caplog.text
    assert "process worker" in caplog.text


async def test_bad_timeouts_are_refused_before_anything_is_written(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    with pytest.raises(ValueError, match="timeout must be > 0 seconds"):
        await queue.add("x", {}, timeout=0)
    with pytest.raises(TypeError, match="timeout must be a number of seconds"):
        await queue.add("x", {}, timeout="5s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be > 0 seconds"):
        make_worker(timeout=-1)
    assert await queue.get_job_counts("waiting") == {"waiting": 0}
