"""Cancellation: queue.cancel / job.cancel of waiting, delayed, active and finished jobs."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from corral import (
    CancelOutcome,
    Job,
    JobCancelledError,
    JobState,
    Queue,
)
from tests.conformance.conftest import ApiClock, WorkerFactory
from tests.conformance.test_worker_run import wait_until


def in_state(queue: Queue, job_id: str, state: JobState) -> Any:
    async def check() -> bool:
        return await queue.get_job_state(job_id) == state

    return check


async def events_of(queue: Queue, name: str) -> list[dict[str, str]]:
    events = await queue.backend.read_events(queue.name, "0", count=1000)
    return [dict(e.fields) for e in events if e.name == name]


@pytest.mark.parametrize("options", [{}, {"delay": 60}, {"priority": 3}])
async def test_a_job_not_running_yet_fails_at_once_without_retry(
    queue: Queue, options: dict[str, Any]
) -> None:
    job = await queue.add("report", {"n": 1}, attempts=3, **options)
    before = await queue.get_job_state(job.id)
    answer = await queue.cancel(job.id, reason="no longer needed")
    assert answer.outcome is CancelOutcome.CANCELLED
    assert answer.accepted
    assert answer.state == before
    cancelled = await queue.get_job(job.id)
    assert cancelled is not None
    assert await cancelled.get_state() == JobState.FAILED
    assert cancelled.failed_reason == "cancelled: no longer needed"
    assert cancelled.attempts_made == 0
    assert cancelled.finished_on is not None
    assert await queue.get_job_counts("waiting", "delayed", "prioritized") == {
        "waiting": 0, "delayed": 0, "prioritized": 0,
    }  # fmt: skip
    assert await events_of(queue, "cancelled") == [
        {"jobId": job.id, "reason": "cancelled: no longer needed", "prev": before.value}
    ]
    failed = await events_of(queue, "failed")
    assert failed == [
        {"jobId": job.id, "failedReason": "cancelled: no longer needed", "prev": before.value}
    ]


async def test_job_cancel_and_the_default_reason(queue: Queue) -> None:
    job = await queue.add("report", {})
    answer = await job.cancel()
    assert answer.outcome is CancelOutcome.CANCELLED
    assert answer.reason == "cancelled: by request"
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.failed_reason == "cancelled: by request"


async def test_cancel_of_a_finished_or_unknown_job_says_so(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.add("quick", {})
    worker = make_worker()
    fetched = await worker.get_next_job("t")
    assert fetched is not None
    await fetched.move_to_completed("done", "t", fetch_next=False)
    answer = await queue.cancel(job.id)
    assert answer.outcome is CancelOutcome.FINISHED
    assert answer.state == JobState.COMPLETED
    assert not answer.accepted
    assert "already completed" in answer.message
    assert await queue.get_job_state(job.id) == JobState.COMPLETED
    missing = await queue.cancel("no-such-job")
    assert missing.outcome is CancelOutcome.UNKNOWN
    assert "no such job" in str(missing)
    assert await events_of(queue, "cancelled") == []


async def test_cancel_refuses_bad_input_before_writing(queue: Queue) -> None:
    job = await queue.add("report", {})
    with pytest.raises(TypeError, match="reason must be a string"):
        await queue.cancel(job.id, reason=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reason must not be empty"):
        await queue.cancel(job.id, reason="  ")
    with pytest.raises(TypeError, match="job_id must be a string"):
        await queue.cancel(7)  # type: ignore[arg-type]
    assert await queue.get_job_state(job.id) == JobState.WAITING


async def test_cancelled_job_keeps_its_retention(queue: Queue) -> None:
    job = await queue.add("gone", {}, remove_on_fail=True)
    answer = await queue.cancel(job.id)
    assert answer.outcome is CancelOutcome.CANCELLED
    assert await queue.get_job(job.id) is None


async def test_an_active_async_processor_is_cancelled_at_its_next_await(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    started = asyncio.Event()
    interrupted: list[bool] = []
    hooked: list[tuple[str, str]] = []

    async def process(job: Job) -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            interrupted.append(job.is_cancelled)
            raise
        return "never"

    job = await queue.add("long", {}, attempts=5)
    worker = make_worker(processor=process)

    @worker.on("cancelled")
    def on_cancelled(cancelled: Job, reason: str) -> None:
        hooked.append((cancelled.id, reason))

    async with worker:
        await started.wait()
        answer = await queue.cancel(job.id, reason="user hit stop")
        assert answer.outcome is CancelOutcome.REQUESTED
        assert answer.state == JobState.ACTIVE
        await wait_until(in_state(queue, job.id, JobState.FAILED))
    assert interrupted == [True]
    assert hooked == [(job.id, "cancelled: user hit stop")]
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert failed.failed_reason == "cancelled: user hit stop"
    assert failed.attempts_made == 1  # no retry, though attempts remain


async def test_a_plain_function_polls_is_cancelled(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    started = threading.Event()
    saw: list[str] = []

    def process(job: Job) -> str:
        started.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if job.is_cancelled:
                saw.append(str(job.stop_reason))
                try:
                    job.raise_if_cancelled()
                except JobCancelledError as error:
                    saw.append(error.reason)
                    raise
            time.sleep(0.01)
        return "finished"

    job = await queue.add("crunch", {}, attempts=2)
    async with make_worker(processor=process):
        await asyncio.to_thread(started.wait, 10)
        await queue.cancel(job.id, reason="too slow")
        await wait_until(in_state(queue, job.id, JobState.FAILED))
        await wait_until(lambda: _true_when(len(saw) == 2))
    assert saw == ["cancelled: too slow", "cancelled: too slow"]
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert failed.failed_reason == "cancelled: too slow"


async def _true_when(value: bool) -> bool:
    return value


async def test_a_cancel_reaches_a_worker_through_another_connection(
    url: str, queue: Queue, make_worker: WorkerFactory
) -> None:
    started = asyncio.Event()

    async def process(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    job = await queue.add("long", {})
    async with make_worker(processor=process):
        await started.wait()
        async with Queue(queue.name, url=url) as elsewhere:
            answer = await elsewhere.cancel(job.id, reason="from elsewhere")
        assert answer.outcome is CancelOutcome.REQUESTED
        await wait_until(in_state(queue, job.id, JobState.FAILED))


async def test_a_stuck_processor_does_not_keep_the_job(
    queue: Queue, make_worker: WorkerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def stubborn(job: Job) -> str:
        started.set()
        while not release.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue  # ignores being told to stop
        return "late"

    job = await queue.add("stubborn", {})
    worker = make_worker(processor=stubborn)
    with caplog.at_level(logging.WARNING, logger="corral.worker"):
        async with worker:
            await started.wait()
            await queue.cancel(job.id)
            await wait_until(in_state(queue, job.id, JobState.FAILED))
            release.set()
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert failed.failed_reason == "cancelled: by request"
    assert "did not stop" in caplog.text


async def test_an_active_job_whose_worker_died_fails_on_its_next_fetch(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("orphan", {}, attempts=3)
    dead = make_worker(lock_duration=10, stalled_interval=5)
    job = await dead.get_next_job("gone")
    assert job is not None
    answer = await queue.cancel(job.id, reason="cleanup")
    assert answer.outcome is CancelOutcome.REQUESTED
    await dead.check_stalled_jobs()
    await clock.advance(11)
    assert await dead.check_stalled_jobs() == [job.id]
    assert await dead.get_next_job("next", block=False) is None
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert await failed.get_state() == JobState.FAILED
    assert failed.failed_reason == "cancelled: cleanup"


async def _true(value: bool) -> bool:
    return value


async def test_a_job_fetched_by_hand_sees_a_cancel_and_fails_with_its_reason(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.add("by-hand", {}, attempts=3)
    worker = make_worker()
    held = await worker.get_next_job("tok")
    assert held is not None
    assert not held.is_cancelled
    answer = await queue.cancel(job.id, reason="stop it")
    assert answer.outcome is CancelOutcome.REQUESTED
    # Watched while held: the reason reaches the job object within about a second.
    await wait_until(lambda: _true(held.is_cancelled))
    with pytest.raises(JobCancelledError, match="cancelled: stop it") as raised:
        held.raise_if_cancelled()
    await held.move_to_failed(raised.value, "tok")
    failed = await queue.get_job(job.id)
    assert failed is not None
    assert await failed.get_state() == JobState.FAILED
    assert failed.failed_reason == "cancelled: stop it"
    assert failed.attempts_made == 1  # not retried although attempts remain


async def test_a_job_handed_out_by_fetch_next_is_watched_too(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("first", {})
    second = await queue.add("second", {})
    worker = make_worker()
    first = await worker.get_next_job("tok")
    assert first is not None
    nxt = await first.move_to_completed("ok", "tok", fetch_next=True)
    assert nxt is not None
    assert nxt.id == second.id
    await queue.cancel(second.id)
    await wait_until(lambda: _true(nxt.is_cancelled))
    assert str(nxt.stop_reason) == "cancelled: by request"
