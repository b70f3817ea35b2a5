"""Per-minute metrics (``Worker(metrics=...)``, ``Queue.get_metrics``), on every backend:
counted when a job finishes, minute by minute, as Node BullMQ's workers count them."""

from __future__ import annotations

import asyncio

import pytest

from corral import Job, MetricsTime, Queue, Worker, _clock
from tests.conformance.conftest import ApiClock, WorkerFactory


async def at_minute_start(clock: ApiClock) -> None:
    """Move the clock to one second past the start of the next minute."""
    now = _clock.now_ms()
    await clock.advance((60_000 - now % 60_000 + 1_000) / 1000)


async def finish(worker: Worker, queue: Queue, outcome: str, count: int = 1) -> None:
    await queue.add_bulk([{"name": "job"}] * count)
    for _ in range(count):
        job = await worker.get_next_job("tok", block=False)
        assert isinstance(job, Job)
        if outcome == "completed":
            await job.move_to_completed("ok", "tok", fetch_next=False)
        else:
            await job.move_to_failed(ValueError("no"), "tok")


async def test_jobs_are_counted_per_minute_newest_first(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
):
    worker = make_worker(metrics=MetricsTime.ONE_HOUR)
    await at_minute_start(clock)

    await finish(worker, queue, "completed", 3)
    first = await queue.get_metrics("completed")
    await clock.advance(60)
    await finish(worker, queue, "completed")
    second = await queue.get_metrics("completed")
    await clock.advance(180)
    await finish(worker, queue, "completed")
    third = await queue.get_metrics("completed")

    # A minute is closed by the first job of a later one: it pushes the jobs of
    # the minutes before it, then a 0 for every idle minute between.
    assert (first.data, first.meta.count, first.count) == ([], 3, 0)
    assert (second.data, second.meta.count, second.meta.prev_count) == ([3], 4, 3)
    assert (third.data, third.meta.count, third.count) == ([0, 0, 1, 3], 5, 4)
    assert third.in_open_minute == 1
    assert third.meta.prev_ts // 60_000 == _clock.now_ms() // 60_000
    assert (await queue.get_metrics("completed", 1, 2)).data == [0, 1]
    assert (await queue.get_metrics("failed")).meta.count == 0


async def test_only_jobs_that_fail_for_good_count_as_failed(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
):
    worker = make_worker(metrics=10)
    await at_minute_start(clock)
    await queue.add("retried", attempts=2)
    job = await worker.get_next_job("tok", block=False)
    assert job is not None
    await job.move_to_failed(ValueError("once"), "tok")  # retried: not a failure yet
    retried = await queue.get_metrics("failed")
    again = await worker.get_next_job("tok", block=False)
    assert again is not None
    await again.move_to_failed(ValueError("twice"), "tok")

    assert retried.meta.count == 0
    assert (await queue.get_metrics("failed")).meta.count == 1
    assert (await queue.get_metrics("completed")).meta.count == 0


async def test_only_the_newest_minutes_are_kept(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
):
    worker = make_worker(metrics=3)
    await at_minute_start(clock)
    await finish(worker, queue, "completed", 2)
    await clock.advance(60)
    await finish(worker, queue, "completed")
    await clock.advance(600)  # ten idle minutes: only three points are kept
    await finish(worker, queue, "completed")

    metrics = await queue.get_metrics("completed")

    assert metrics.data == [0, 0, 1]
    assert metrics.count == 3
    assert metrics.meta.count == 4


async def test_a_worker_without_metrics_counts_nothing(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
):
    worker = make_worker()
    await finish(worker, queue, "completed", 2)
    await clock.advance(120)
    await finish(worker, queue, "completed")

    metrics = await queue.get_metrics("completed")

    assert (metrics.meta.count, metrics.meta.prev_ts, metrics.data, metrics.count) == (0, 0, [], 0)


async def test_a_processor_worker_counts_what_it_runs(queue: Queue, make_worker: WorkerFactory):
    finished: list[str] = []
    all_done = asyncio.Event()

    async def process(job: Job) -> str:
        if job.data == "bad":
            raise ValueError("bad")
        return "ok"

    worker = make_worker(processor=process, metrics=MetricsTime.ONE_DAY, concurrency=4)

    @worker.on("completed")
    @worker.on("failed")
    def seen(job: Job, _outcome: object) -> None:
        finished.append(job.id)
        if len(finished) == 6:
            all_done.set()

    await queue.add_bulk([{"name": "n", "data": "good"}] * 5 + [{"name": "n", "data": "bad"}])
    async with worker:
        await asyncio.wait_for(all_done.wait(), timeout=20)

    assert (await queue.get_metrics("completed")).meta.count == 5
    assert (await queue.get_metrics("failed")).meta.count == 1


async def test_obliterate_forgets_the_metrics(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
):
    worker = make_worker(metrics=5)
    await finish(worker, queue, "completed")
    await clock.advance(60)
    await finish(worker, queue, "completed")

    await queue.obliterate()

    metrics = await queue.get_metrics("completed")
    assert (metrics.meta.count, metrics.data) == (0, [])


async def test_bad_metrics_settings_are_refused(queue: Queue, url: str, queue_name: str):
    with pytest.raises(ValueError, match="at least 1 minute"):
        Worker(queue_name, url=url, metrics=0)
    with pytest.raises(TypeError, match=r"MetricsTime\.ONE_WEEK"):
        Worker(queue_name, url=url, metrics="week")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'completed' or 'failed'"):
        await queue.get_metrics("done")
    with pytest.raises(ValueError, match="start must be >= 0"):
        await queue.get_metrics("completed", -1)
