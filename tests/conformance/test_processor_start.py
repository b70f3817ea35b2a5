"""How a processor is started: no job runs in a task of its own (the slot's task
awaits it), yet each job runs in a context of its own, and one that waits can still
be stopped, without the stop reaching the slot's next job."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from corral import Job, JobState, Queue
from tests.conformance.conftest import WorkerFactory
from tests.conformance.test_worker_run import counts_reach, wait_until

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


async def test_each_job_sees_only_its_own_context_variables(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    """A processor that sets a context variable (a request id, a log field) does not
    leak it into the next job of the same slot, whether it waited or not."""
    before: dict[str, str] = {}

    async def process(job: Job) -> None:
        before[job.data["name"]] = seen.get()
        seen.set(job.data["name"])
        if job.data["wait"]:
            await asyncio.sleep(0.01)
            assert seen.get() == job.data["name"]

    await queue.add_bulk(
        [{"name": "ctx", "data": {"name": f"j{i}", "wait": i % 2 == 0}} for i in range(6)]
    )
    worker = make_worker(processor=process, concurrency=1)
    runner = asyncio.create_task(worker.run())
    await wait_until(counts_reach(queue, "completed", 6))
    await worker.close()
    await runner
    assert before == {f"j{i}": "unset" for i in range(6)}
    assert seen.get() == "unset"


async def test_a_processor_failing_before_it_waits_fails_its_job(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    async def process(job: Job) -> None:
        raise ValueError(f"bad input {job.data['n']}")

    job = await queue.add("bad", {"n": 7})
    worker = make_worker(processor=process)
    runner = asyncio.create_task(worker.run())
    await wait_until(counts_reach(queue, "failed", 1))
    await worker.close()
    await runner
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert failed.failed_reason == "bad input 7"


async def test_a_processor_that_waits_after_its_first_step_can_time_out(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    """The first step runs at once; the rest runs in the slot, which the timeout stops."""
    steps: list[str] = []

    async def process(job: Job) -> Any:
        steps.append("first")
        await asyncio.sleep(0)
        steps.append("second")
        await asyncio.sleep(30)
        steps.append("never")

    job = await queue.add("slow", {}, timeout=0.2)
    worker = make_worker(processor=process)
    runner = asyncio.create_task(worker.run())
    await wait_until(counts_reach(queue, "failed", 1))
    await worker.close()
    await runner
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert await failed.get_state() is JobState.FAILED
    assert "timed out" in (failed.failed_reason or "")
    assert steps == ["first", "second"]


async def test_a_stop_the_processor_swallowed_does_not_reach_the_next_job(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    """A processor that catches the CancelledError of its timeout and returns still
    fails with the timeout, and the slot's next job starts with no cancel pending."""
    cancelling: dict[str, int] = {}

    async def process(job: Job) -> str:
        task = asyncio.current_task()
        assert task is not None
        cancelling[job.name] = task.cancelling()
        if job.name == "swallows":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                return "ended anyway"
        await asyncio.sleep(0.01)
        return "ok"

    first = await queue.add("swallows", {}, timeout=0.2)
    await queue.add("next", {})
    async with make_worker(processor=process, concurrency=1):
        await wait_until(counts_reach(queue, "completed", 1))
    failed = await queue.get_job(first.id)
    assert failed is not None
    assert await failed.get_state() is JobState.FAILED
    assert "timed out" in (failed.failed_reason or "")
    assert cancelling == {"swallows": 0, "next": 0}


async def test_a_processor_that_ignores_its_stop_keeps_its_slot_until_it_ends(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    """Its job is failed after the grace (the lock is not held), but concurrency still
    counts it: the next job waits until the stubborn processor is done."""
    release = asyncio.Event()
    started: list[str] = []

    async def process(job: Job) -> str:
        started.append(job.name)
        if job.name == "stubborn":
            while not release.is_set():
                try:
                    await asyncio.sleep(0.05)
                except asyncio.CancelledError:
                    continue
        return "ok"

    stubborn = await queue.add("stubborn", {}, timeout=0.1)
    await queue.add("next", {})
    async with make_worker(processor=process, concurrency=1):
        await wait_until(counts_reach(queue, "failed", 1))
        assert started == ["stubborn"]
        release.set()
        await wait_until(counts_reach(queue, "completed", 1))
    assert started == ["stubborn", "next"]
    failed = await queue.get_job(stubborn.id)
    assert failed is not None
    assert "timed out" in (failed.failed_reason or "")
