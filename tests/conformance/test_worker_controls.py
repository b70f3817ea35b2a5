"""What a worker decides for itself: pausing it (the queue goes on), capping how often a
job may start (``max_started_attempts``), and a processor's ``RateLimitError``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from corral import Job, JobState, Queue, RateLimiter, RateLimitError, Worker
from tests.conformance.conftest import WorkerFactory
from tests.conformance.test_worker_run import counts_reach, wait_until

STARTED_TOO_OFTEN = "job started more than allowable limit"


async def _true(value: bool) -> bool:
    return value


async def _state_is(queue: Queue, job_id: str, state: JobState) -> bool:
    return await queue.get_job_state(job_id) is state


# -- pause / resume ---------------------------------------------------------------


async def test_pause_lets_running_jobs_finish_then_takes_no_more_until_resumed(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    started: list[str] = []
    release = asyncio.Event()

    async def process(job: Job) -> str:
        started.append(job.id)
        await release.wait()
        return "done"

    await queue.add_bulk([{"name": "n", "data": {}} for _ in range(4)])
    worker = make_worker(processor=process, concurrency=2)
    async with worker:
        await wait_until(lambda: _true(len(started) == 2))
        pausing = asyncio.create_task(worker.pause())
        await asyncio.sleep(0.1)
        # pause() waits for the running jobs; they are still running.
        assert not pausing.done()
        assert worker.is_paused()
        release.set()
        await pausing
        assert await queue.get_job_counts("completed") == {"completed": 2}
        await asyncio.sleep(0.4)  # two drain delays: a running worker would take more
        # The first two jobs, in whichever order their two slots began them: each
        # slot's fetch is its own round trip, and on a Cluster the replies to the two
        # may come back in either order.
        assert sorted(started) == ["1", "2"]
        assert worker.jobs_in_progress == 0
        assert worker.running
        # Only this worker stopped: the queue is not paused.
        assert not await queue.is_paused()
        assert await queue.get_job_counts("waiting") == {"waiting": 2}
        await worker.resume()
        assert not worker.is_paused()
        await wait_until(counts_reach(queue, "completed", 4))
    assert sorted(started) == ["1", "2", "3", "4"]


async def test_pause_without_waiting_returns_while_jobs_run_and_they_still_finish(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    running = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def process(job: Job) -> str:
        nonlocal calls
        calls += 1
        running.set()
        await release.wait()
        return "done"

    await queue.add("a", {})
    await queue.add("b", {})
    worker = make_worker(processor=process)
    async with worker:
        await running.wait()
        await asyncio.wait_for(worker.pause(do_not_wait_for_active=True), 5)
        assert worker.jobs_in_progress == 1
        release.set()
        await wait_until(counts_reach(queue, "completed", 1))
        await asyncio.sleep(0.4)
        # The job finished without fetching the next one: the worker is paused.
        assert calls == 1
        assert await _state_is(queue, "2", JobState.WAITING)


async def test_a_paused_worker_leaves_jobs_to_the_queues_other_workers(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    taken_by: dict[str, str] = {}

    def processor(name: str) -> Any:
        async def process(job: Job) -> None:
            taken_by[job.id] = name

        return process

    paused = make_worker(processor=processor("paused"))
    await paused.pause()
    other = make_worker(processor=processor("other"))
    async with paused, other:
        await queue.add_bulk([{"name": "n", "data": {}} for _ in range(5)])
        await wait_until(counts_reach(queue, "completed", 5))
    assert set(taken_by.values()) == {"other"}


async def test_an_idle_worker_paused_leaves_a_job_that_then_arrives_waiting(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    """An idle worker waits for work (on Redis it fetches the moment the wait ends);
    paused during that wait, it takes no job that arrives: the job stays waiting,
    never stalled or started, and runs once the worker resumes."""
    ran: list[str] = []

    async def process(job: Job) -> None:
        ran.append(job.id)

    # A long wait for work, so the pause surely lands while it blocks.
    worker = make_worker(processor=process, drain_delay=5)
    async with worker:
        await asyncio.sleep(0.2)  # idle, waiting for work
        await worker.pause()
        job = await queue.add("a", {})
        await asyncio.sleep(0.3)
        assert await _state_is(queue, job.id, JobState.WAITING)
        assert ran == []
        await worker.resume()
        await wait_until(counts_reach(queue, "completed", 1))
    assert ran == [job.id]
    done = await queue.get_job(job.id)
    assert done is not None
    assert done.stalled_counter == 0
    assert done.attempts_made == 1


async def test_a_job_that_arrives_as_an_idle_worker_closes_is_left_waiting(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    """The worker stops while its wait for work is being answered with a job: the job
    is given back (or never taken), waiting for the next worker, not left active."""
    for _ in range(3):
        worker = make_worker(processor=lambda job: None, drain_delay=5)
        async with worker:
            await asyncio.sleep(0.1)
            adding = asyncio.ensure_future(queue.add("a", {}))
        job = await adding
        state = await queue.get_job_state(job.id)
        assert state in (JobState.WAITING, JobState.COMPLETED), state
        if state is JobState.WAITING:
            (fetched,) = [await make_worker().get_next_job("next")]
            assert fetched is not None
            assert fetched.id == job.id
            await fetched.move_to_completed(None, "next")


async def test_a_worker_paused_before_run_starts_taking_jobs_on_resume(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    events: list[str] = []

    async def process(job: Job) -> str:
        return "ok"

    worker = make_worker(processor=process)
    worker.on("paused", lambda: events.append("paused"))
    worker.on("resumed", lambda: events.append("resumed"))
    await worker.pause()
    await worker.pause()  # pausing a paused worker does nothing
    await queue.add("a", {})
    async with worker:
        await asyncio.sleep(0.4)
        assert await _state_is(queue, "1", JobState.WAITING)
        await worker.resume()
        await wait_until(counts_reach(queue, "completed", 1))
        await worker.resume()  # resuming a running worker does nothing
    assert events == ["paused", "resumed"]


async def test_a_paused_worker_hands_out_nothing_by_hand(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("a", {})
    worker = make_worker()
    await worker.pause()
    assert await worker.get_next_job("tok", block=False) is None
    assert await worker.get_next_job("tok") is None
    assert await _state_is(queue, "1", JobState.WAITING)
    await worker.resume()
    job = await worker.get_next_job("tok")
    assert job is not None
    assert job.id == "1"


async def test_pause_ends_a_blocking_get_next_job_at_once(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    worker = make_worker(drain_delay=30)
    waiting = asyncio.create_task(worker.get_next_job("tok"))
    await asyncio.sleep(0.2)
    await worker.pause()
    assert await asyncio.wait_for(waiting, 10) is None
    await queue.add("a", {})
    await asyncio.sleep(0.2)
    assert await _state_is(queue, "1", JobState.WAITING)


# -- max_started_attempts ----------------------------------------------------------


async def test_a_job_put_back_again_and_again_fails_once_started_too_often(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    starts = 0
    failed: list[tuple[str, str]] = []

    async def process(job: Job) -> None:
        nonlocal starts
        starts += 1
        raise RateLimitError(retry_after=0.05)

    await queue.add("api-call", {}, attempts=5)
    worker = make_worker(processor=process, max_started_attempts=2)
    worker.on("failed", lambda job, error: failed.append((job.id, str(error))))
    async with worker:
        await wait_until(counts_reach(queue, "failed", 1))
    # Started twice (both rate limited, no attempt used), the third start fails it.
    assert starts == 2
    job = await queue.get_job("1")
    assert job is not None
    assert job.failed_reason == STARTED_TOO_OFTEN
    assert job.attempts_started == 3
    assert failed == [("1", STARTED_TOO_OFTEN)]


async def test_a_failure_once_started_that_often_is_not_retried(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    calls = 0

    async def process(job: Job) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("flaky")

    await queue.add("flaky", {}, attempts=5)
    async with make_worker(processor=process, max_started_attempts=2):
        await wait_until(counts_reach(queue, "failed", 1))
    assert calls == 2
    job = await queue.get_job("1")
    assert job is not None
    assert job.failed_reason == "flaky"
    assert job.attempts_made == 2


async def test_max_started_attempts_fails_a_job_fetched_by_hand_and_hands_out_the_next(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("bounced", {})
    await queue.add("next", {})
    worker = make_worker(max_started_attempts=1)
    first = await worker.get_next_job("tok")
    assert first is not None
    assert first.id == "1"
    await first.move_to_wait("tok")
    second = await worker.get_next_job("tok")
    assert second is not None
    assert second.id == "2"
    assert await queue.get_job_state("1") is JobState.FAILED
    job = await queue.get_job("1")
    assert job is not None
    assert job.failed_reason == STARTED_TOO_OFTEN


async def test_without_max_started_attempts_a_job_may_start_any_number_of_times(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("bounced", {})
    worker = make_worker()
    for _ in range(4):
        job = await worker.get_next_job("tok")
        assert job is not None
        await job.move_to_wait("tok")
    job = await worker.get_next_job("tok")
    assert job is not None
    assert job.attempts_started == 5


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [(-1, ValueError, ">= 0"), (True, TypeError, "integer"), ("3", TypeError, "integer")],
)
def test_max_started_attempts_is_checked(value: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        Worker("q", url="sqlite:///:memory:", max_started_attempts=value)


# -- RateLimitError ---------------------------------------------------------------


async def test_rate_limit_error_with_retry_after_sets_the_queues_limit(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    async def process(job: Job) -> None:
        raise RateLimitError(retry_after=30)

    await queue.add("api-call", {})
    worker = make_worker(processor=process)
    async with worker:
        await wait_until(lambda: _true(worker.rate_limited_for > 25))
        assert 25 < await queue.get_rate_limit_ttl() <= 30
        assert await _state_is(queue, "1", JobState.WAITING)
    job = await queue.get_job("1")
    assert job is not None
    assert job.attempts_made == 0


async def test_rate_limit_error_with_retry_after_lets_the_job_run_once_it_passes(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    calls = 0

    async def process(job: Job) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RateLimitError(retry_after=0.3)
        return "through"

    await queue.add("api-call", {}, attempts=1)
    async with make_worker(processor=process):
        await wait_until(counts_reach(queue, "completed", 1))
    job = await queue.get_job("1")
    assert job is not None
    assert job.return_value == "through"
    assert calls == 2


async def test_a_bare_rate_limit_error_with_no_limit_warns_what_to_do(
    queue: Queue, make_worker: WorkerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def process(job: Job) -> None:
        raise RateLimitError()

    await queue.add("limited", {})
    worker = make_worker(processor=process)
    with caplog.at_level(logging.WARNING, logger="corral.worker"):
        async with worker:
            await wait_until(lambda: _true(worker.rate_limited_for > 0))
    warnings = [r.getMessage() for r in caplog.records if "RateLimitError" in r.getMessage()]
    assert warnings
    assert "retry_after" in warnings[0]
    assert "holding off 1000 ms" in warnings[0]


async def test_a_bare_rate_limit_error_holds_off_the_workers_limiter_duration(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    starts = 0

    async def process(job: Job) -> None:
        nonlocal starts
        starts += 1
        raise RateLimitError()

    await queue.add("limited", {})
    worker = make_worker(processor=process, limiter=RateLimiter(max=100, duration=20))
    async with worker:
        await wait_until(lambda: _true(starts >= 1 and worker.rate_limited_for > 0))
        # The limiter's 20 s, not a short hold-off (only a stall of 5 s gets below 15).
        assert worker.rate_limited_for > 15
        await asyncio.sleep(0.3)
    assert starts == 1


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (-1, ValueError), ("5", TypeError)])
def test_rate_limit_error_retry_after_is_checked(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="retry_after"):
        RateLimitError(retry_after=value)
