"""The worker engine's rules that a user can see: fetching through one owner, what a
job's moves depend on, hooks, hold-offs, and values that cannot be stored."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime
from typing import Any

from corral import Backoff, Connection, Job, JobState, Queue, RateLimitError, Worker
from corral._engine.runner import MIN_RATE_LIMIT_HOLD_OFF_MS
from tests.conformance.conftest import WorkerFactory
from tests.conformance.test_worker_run import counts_reach, wait_until


async def test_a_job_read_from_a_queue_completes_without_fetching_the_next(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("a", {})
    await queue.add("b", {})
    fetched = await make_worker().get_next_job("tok")
    assert fetched is not None
    read = await queue.get_job(fetched.id)
    assert read is not None
    # Only a worker has fetch settings (lock duration, limiter, name): a job read
    # through the queue completes and hands out nothing.
    assert await read.move_to_completed("done", "tok") is None
    assert await queue.get_job_state("2") is JobState.WAITING


async def test_a_job_fetched_by_a_worker_fetches_the_next_with_that_workers_settings(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("a", {})
    await queue.add("b", {})
    worker = make_worker(name="w-7", lock_duration=120)
    first = await worker.get_next_job("tok")
    assert first is not None
    second = await first.move_to_completed("done", "tok")
    assert second is not None
    assert second.token == "tok"
    assert second.processed_by == "w-7"
    stored = await queue.get_job(second.id)
    assert stored is not None
    assert stored.processed_by == "w-7"


async def test_the_workers_backoff_strategy_decides_a_hand_failed_job_it_fetched(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("x", {}, attempts=3, backoff={"type": "linear", "delay": 0})
    worker = make_worker(backoff_strategy=lambda attempts, kind, error: 30)
    job = await worker.get_next_job("tok")
    assert job is not None
    await job.move_to_failed(RuntimeError("boom"), "tok")
    assert await queue.get_job_state(job.id) is JobState.DELAYED


async def test_a_custom_backoff_without_a_strategy_fails_the_job_saying_how_to_fix_it(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("x", {}, attempts=3, backoff={"type": "linear", "delay": 0})
    fetched = await make_worker().get_next_job("tok")
    assert fetched is not None
    read = await queue.get_job(fetched.id)
    assert read is not None
    await read.move_to_failed(RuntimeError("boom"), "tok")
    failed = await queue.get_job(fetched.id)
    assert failed is not None
    assert failed.failed_reason is not None
    assert "backoff_strategy" in failed.failed_reason
    assert await queue.get_job_state(fetched.id) is JobState.FAILED


async def test_hooks_register_as_decorators_and_can_be_removed(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    seen: list[str] = []

    async def process(job: Job) -> str:
        return job.name

    worker = make_worker(processor=process)

    @worker.on("completed")
    def on_completed(job: Job, result: Any) -> None:
        seen.append(f"a:{result}")

    def second(job: Job, result: Any) -> None:
        seen.append(f"b:{result}")

    worker.on("completed", second)
    assert worker.off("completed", second) is True
    assert worker.off("completed", second) is False
    await queue.add("one", {})
    async with worker:
        await wait_until(counts_reach(queue, "completed", 1))
        await wait_until(lambda: _true(bool(seen)))
    assert seen == ["a:one"]


async def _true(value: bool) -> bool:
    return value


async def test_a_bare_rate_limit_error_holds_off_instead_of_rerunning_at_once(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    starts: list[float] = []

    async def process(job: Job) -> None:
        starts.append(time.monotonic())
        raise RateLimitError()

    await queue.add("limited", {})
    worker = make_worker(processor=process)
    async with worker:
        await wait_until(lambda: _true(bool(starts) and worker.rate_limited_for > 0))
        await asyncio.sleep(0.5)
    # No limit is set on the queue, so the worker holds off by itself (a second at
    # least): the job is not re-run in a tight loop, and no attempt is used. However
    # slowly a loaded machine ran the half second, it is one start per hold-off.
    held_off = MIN_RATE_LIMIT_HOLD_OFF_MS / 1000
    assert len(starts) <= 1 + (time.monotonic() - starts[0]) / held_off
    job = await queue.get_job("1")
    assert job is not None
    assert job.attempts_made == 0
    assert await queue.get_job_state("1") is JobState.WAITING


async def test_after_a_rate_limit_error_the_worker_knows_the_window_at_once(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    async def process(job: Job) -> None:
        await queue.rate_limit(30)
        raise RateLimitError()

    await queue.add("limited", {})
    worker = make_worker(processor=process)
    async with worker:
        await wait_until(lambda: _true(worker.rate_limited_for > 25))
        assert await _state_is(queue, "1", JobState.WAITING)
    job = await queue.get_job("1")
    assert job is not None
    assert job.attempts_made == 0


async def _state_is(queue: Queue, job_id: str, state: JobState) -> bool:
    return await queue.get_job_state(job_id) is state


async def test_a_return_value_json_cannot_hold_fails_the_job_at_once_with_why(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    results: dict[str, Any] = {
        "when": datetime.now(UTC),
        "nan": math.nan,
        "deep": _deep(100_000),
    }

    async def process(job: Job) -> Any:
        return results[job.name]

    for name in results:
        await queue.add(name, {})
    worker = make_worker(processor=process, lock_duration=60)
    async with worker:
        await wait_until(counts_reach(queue, "failed", 3))
    for job_id, name in (("1", "datetime"), ("2", "NaN"), ("3", "nested too deeply")):
        job = await queue.get_job(job_id)
        assert job is not None
        assert job.failed_reason is not None
        assert job.failed_reason.startswith("the processor's return value could not be stored")
        assert name in job.failed_reason
        assert job.stalled_counter == 0


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


async def test_a_custom_backoff_returning_infinity_fails_the_job_at_once(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    async def process(job: Job) -> None:
        raise RuntimeError("boom")

    await queue.add("x", {}, attempts=5, backoff=Backoff("custom", 0))
    worker = make_worker(
        processor=process, lock_duration=60, backoff_strategy=lambda a, k, e: math.inf
    )
    async with worker:
        await wait_until(counts_reach(queue, "failed", 1))
    job = await queue.get_job("1")
    assert job is not None
    assert job.failed_reason is not None
    assert job.failed_reason.startswith("boom (not retried: ")
    assert (job.attempts_made, job.stalled_counter) == (1, 0)


async def test_queues_and_workers_share_one_connection(url: str, queue_name: str) -> None:
    async with Connection(url) as conn:
        first = Queue(queue_name, connection=conn)
        other = Queue(queue_name, connection=conn, prefix="other")
        worker = Worker(queue_name, connection=conn, drain_delay=0.2)
        await first.add("a", {"n": 1})
        await other.add("b", {"n": 2})
        await first.close()  # borrowed: the connection stays open for the others
        job = await worker.get_next_job("tok")
        assert job is not None
        assert (job.name, job.data) == ("a", {"n": 1})
        assert await worker.get_next_job("tok", block=False) is None
        assert (await other.get_job_counts("waiting"))["waiting"] == 1
        await worker.close()
        await other.close()
        assert not conn.closed
    assert conn.closed


async def test_a_client_takes_a_url_or_a_connection_not_both(url: str, queue_name: str) -> None:
    import pytest

    conn = Connection(url)
    with pytest.raises(ValueError, match="not both"):
        Queue(queue_name, url=url, connection=conn)
    with pytest.raises(TypeError, match=r"corral\.Connection"):
        Queue(queue_name, connection=url)  # type: ignore[arg-type]
    await conn.close()


def test_worker_names_its_queue_and_itself_unambiguously(sqlite_url: str) -> None:
    worker = Worker("emails", url=sqlite_url, name="w1")
    assert (worker.name, worker.queue_name, worker.worker_name) == ("emails", "emails", "w1")
