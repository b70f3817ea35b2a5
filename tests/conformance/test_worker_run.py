"""Processor workers: run(), concurrency, retries, rate limits, lock renewal, shutdown, hooks."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from corral import Job, JobState, LockError, Queue, RateLimitError, UnrecoverableError, Worker
from tests.conformance.conftest import WorkerFactory
from tests.support import wait_until

__all__ = ["counts_reach", "wait_until"]  # imported by other suites' modules


def counts_reach(queue: Queue, state: str, n: int) -> Any:
    async def check() -> bool:
        return (await queue.get_job_counts(state))[state] >= n

    return check


async def test_run_processes_jobs_concurrently_and_stores_results(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    in_flight = 0
    peak = 0

    async def process(job: Job) -> dict[str, int]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return {"double": job.data["n"] * 2}

    await queue.add_bulk([{"name": "calc", "data": {"n": n}} for n in range(12)])
    worker = make_worker(processor=process, concurrency=4)
    runner = asyncio.create_task(worker.run())
    await wait_until(counts_reach(queue, "completed", 12))
    await worker.close()
    await runner
    assert 1 < peak <= 4
    job = await queue.get_job("5")
    assert job is not None
    assert job.return_value == {"double": 8}
    assert job.attempts_made == 1


async def test_plain_function_runs_off_the_event_loop_thread(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def process(job: Job) -> str:
        seen.append(threading.get_ident())
        return f"hello {job.data['who']}"

    await queue.add("greet", {"who": "world"})
    async with make_worker(processor=process):
        await wait_until(counts_reach(queue, "completed", 1))
    assert seen
    assert seen[0] != loop_thread
    job = await queue.get_job("1")
    assert job is not None
    assert job.return_value == "hello world"


async def test_exception_fails_and_retries_with_attempts(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    calls = 0

    async def flaky(job: Job) -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError(f"try {calls}")
        return "finally"

    await queue.add("flaky", {}, attempts=3, backoff={"type": "exponential", "delay": 0.02})
    failures: list[str] = []
    worker = make_worker(processor=flaky)
    worker.on("failed", lambda job, err: failures.append(str(err)))
    async with worker:
        await wait_until(counts_reach(queue, "completed", 1))
    job = await queue.get_job("1")
    assert job is not None
    assert job.return_value == "finally"
    assert job.attempts_made == 3
    assert failures == ["try 1", "try 2"]


async def test_unrecoverable_error_fails_at_once(queue: Queue, make_worker: WorkerFactory) -> None:
    async def doomed(job: Job) -> None:
        raise UnrecoverableError("bad payload")

    await queue.add("doomed", {}, attempts=5)
    async with make_worker(processor=doomed):
        await wait_until(counts_reach(queue, "failed", 1))
    job = await queue.get_job("1")
    assert job is not None
    assert job.failed_reason == "bad payload"
    assert job.attempts_made == 1


async def test_rate_limit_error_returns_job_without_using_an_attempt(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    calls = 0

    async def throttled(job: Job) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await queue.rate_limit(0.3)
            raise RateLimitError()
        return "through"

    await queue.add("api-call", {}, attempts=1)
    async with make_worker(processor=throttled):
        await wait_until(counts_reach(queue, "completed", 1))
    job = await queue.get_job("1")
    assert job is not None
    assert job.return_value == "through"
    assert job.attempts_made == 1  # the rate-limited try did not count
    assert calls == 2


async def test_locks_are_renewed_while_a_long_job_runs(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    # The job runs 2.25 lock durations; renewals every half duration leave a
    # second of slack, wide enough for a loaded machine and a cluster.
    async def slow(job: Job) -> str:
        await asyncio.sleep(4.5)
        return "done"

    await queue.add("slow", {})
    checker = make_worker(stalled_interval=0.1)
    completed = counts_reach(queue, "completed", 1)
    async with make_worker(processor=slow, lock_duration=2.0, stalled_interval=0.1):
        # Never stalled, however often it is checked, until it completes.
        async def checked_until_completed() -> bool:
            assert await checker.check_stalled_jobs() == []
            return bool(await completed())

        await wait_until(checked_until_completed, 30, "the job to complete", every=0.2)
    job = await queue.get_job("1")
    assert job is not None
    assert job.stalled_counter == 0
    assert job.return_value == "done"


async def test_graceful_close_returns_unfinished_jobs_to_wait(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    started = asyncio.Event()

    async def endless(job: Job) -> None:
        started.set()
        await asyncio.sleep(60)

    await queue.add("endless", {}, attempts=1)
    worker = make_worker(processor=endless)
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    await worker.close(grace=0.1)
    await runner
    assert await queue.get_job_state("1") == JobState.WAITING
    job = await queue.get_job("1")
    assert job is not None
    assert job.attempts_made == 0


async def test_close_waits_for_running_jobs_within_grace(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    started = asyncio.Event()

    async def short(job: Job) -> str:
        started.set()
        await asyncio.sleep(0.3)
        return "finished"

    await queue.add("short", {})
    worker = make_worker(processor=short)
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    await worker.close(grace=10)
    await runner
    assert await queue.get_job_state("1") == JobState.COMPLETED


async def test_hooks_see_completed_failed_and_drained(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    events: list[tuple[str, str]] = []

    async def process(job: Job) -> str:
        if job.name == "bad":
            raise ValueError("nope")
        return "ok"

    worker = make_worker(processor=process)
    worker.on("completed", lambda job, result: events.append(("completed", job.id)))
    worker.on("failed", lambda job, err: events.append(("failed", job.id)))

    async def on_drained() -> None:
        events.append(("drained", ""))

    worker.on("drained", on_drained)
    await queue.add("good", {})
    await queue.add("bad", {})
    async with worker:
        await wait_until(counts_reach(queue, "failed", 1))
        await wait_until(_has(events, "drained"))
    assert ("completed", "1") in events
    assert ("failed", "2") in events
    with pytest.raises(ValueError, match="unknown worker event"):
        worker.on("finished", print)  # type: ignore[call-overload]


def _has(events: list[tuple[str, str]], name: str) -> Any:
    async def check() -> bool:
        return any(e[0] == name for e in events)

    return check


async def test_run_without_processor_is_refused(make_worker: WorkerFactory) -> None:
    with pytest.raises(ValueError, match="run\\(\\) needs a processor"):
        await make_worker().run()


def test_bad_worker_options_are_refused(url: str, queue_name: str) -> None:
    for options, message in [
        ({"lock_duration": 0}, "lock_duration must be > 0"),
        ({"stalled_interval": -1}, "stalled_interval must be > 0"),
        ({"max_stalled_count": -1}, "max_stalled_count must be >= 0"),
        ({"concurrency": 0}, "concurrency must be >= 1"),
        ({"drain_delay": 0}, "drain_delay must be > 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            Worker(queue_name, url=url, **options)  # type: ignore[arg-type]


async def test_a_stale_token_never_completes_a_job_someone_else_holds(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    thief = make_worker()
    errors: list[BaseException] = []

    async def process(job: Job) -> str:
        # The job slips away (as if its lock expired) and another worker finishes it.
        assert job.token is not None
        await job.move_to_wait(job.token)
        taken = await thief.get_next_job("thief", block=False)
        assert taken is not None
        await taken.move_to_completed("thief's result", "thief", fetch_next=False)
        return "stale result"

    await queue.add("contested", {})
    worker = make_worker(processor=process)
    worker.on("error", lambda error, job: errors.append(error))
    async with worker:
        await wait_until(lambda: _truthy(errors))
    stored = await queue.get_job("1")
    assert stored is not None
    assert stored.return_value == "thief's result"
    assert isinstance(errors[0], LockError)


async def _truthy(items: list[BaseException]) -> bool:
    return bool(items)


async def test_custom_backoff_strategy_decides_the_wait(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    asked: list[tuple[int, str, str]] = []

    def strategy(attempts_made: int, kind: str, error: BaseException) -> float:
        asked.append((attempts_made, kind, str(error)))
        return 0.05

    calls = 0

    async def process(job: Job) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first try")
        return "second try"

    await queue.add("custom", {}, attempts=2, backoff={"type": "polite", "delay": 0})
    async with make_worker(processor=process, backoff_strategy=strategy):
        await wait_until(counts_reach(queue, "completed", 1))
    assert asked == [(1, "polite", "first try")]
