"""Pausing and obliterating a queue."""

from __future__ import annotations

import pytest

from corral import JobState, ObliterateError, Queue
from tests.conformance.conftest import WorkerFactory


async def test_paused_queue_hands_out_nothing_but_keeps_accepting(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.pause()
    assert await queue.is_paused()
    job = await queue.add("while-paused", {})
    worker = make_worker(drain_delay=0.2)
    assert await worker.get_next_job("t") is None
    assert await queue.get_job_state(job.id) == JobState.WAITING
    assert (await queue.get_job_counts("waiting"))["waiting"] == 1
    await queue.resume()
    assert not await queue.is_paused()
    fetched = await worker.get_next_job("t")
    assert fetched is not None
    assert fetched.id == job.id


async def test_obliterate_removes_every_job(queue: Queue, make_worker: WorkerFactory) -> None:
    await queue.add("a", {})
    await queue.add("b", {}, delay=60)
    await queue.add("c", {}, priority=2)
    done = await queue.add("d", {})
    await queue.obliterate()
    assert all(v == 0 for v in (await queue.get_job_counts()).values())
    assert await queue.get_job(done.id) is None


async def test_obliterate_refuses_active_jobs_unless_forced(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("a", {})
    job = await make_worker().get_next_job("t")
    assert job is not None
    with pytest.raises(ObliterateError, match="active"):
        await queue.obliterate()
    assert await queue.get_job_state(job.id) == JobState.ACTIVE
    await queue.obliterate(force=True)
    assert await queue.get_job(job.id) is None
