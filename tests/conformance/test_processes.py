"""Process workers (``Worker(..., processes=N)``): the processor runs in child
processes while the worker process keeps the store, the locks and the stalled
check; a child's crash, a stop or a recycle touches only the job it ran."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from corral import (
    CancelOutcome,
    ChildCrashedError,
    ChildJobError,
    ConfigurationError,
    Job,
    JobState,
    JobTimeoutError,
    Queue,
    Worker,
)
from corral.sync import Job as BlockingJob
from tests import process_jobs
from tests.conformance.conftest import WorkerFactory
from tests.conformance.test_worker_run import counts_reach, wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


async def _finish(queue: Queue, ids: list[str], timeout: float = 30.0) -> None:
    async def done() -> bool:
        for job_id in ids:
            if await queue.get_job_state(job_id) not in (JobState.COMPLETED, JobState.FAILED):
                return False
        return True

    await wait_until(done, timeout)


async def _job(queue: Queue, job_id: str) -> Job:
    job = await queue.get_job(job_id)
    assert job is not None
    return job


async def test_jobs_run_at_the_same_time_in_different_children(
    queue: Queue, make_worker: WorkerFactory, tmp_path: Path
) -> None:
    # Each job waits until both have started: only two children running at once meet.
    jobs = [await queue.add("meet", {"dir": str(tmp_path), "n": 2}) for _ in range(2)]
    worker = make_worker(processor="tests.process_jobs:rendezvous", processes=2)
    assert worker.concurrency == 2
    running = asyncio.create_task(worker.run())
    await _finish(queue, [j.id for j in jobs])
    await worker.close()
    await running
    results = [(await _job(queue, j.id)).return_value for j in jobs]
    assert all(r["met"] for r in results), results
    assert len({r["pid"] for r in results}) == 2
    assert os.getpid() not in {r["pid"] for r in results}


async def test_a_child_reports_progress_and_logs_through_the_worker(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    sync_job = await queue.add("sync", {"x": 1})
    worker = make_worker(processor=process_jobs.reports, processes=1)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [sync_job.id])
    await worker.close()
    await running
    done = await _job(queue, sync_job.id)
    assert done.return_value == {"logs": 2, "state": "active"}
    assert done.progress == {"step": 1}
    assert await done.get_logs() == ["one", "two"]

    async_job = await queue.add("async", {"y": 2})
    worker = make_worker(processor="tests.process_jobs:async_echo", processes=1)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [async_job.id])
    await worker.close()
    await running
    done = await _job(queue, async_job.id)
    assert done.return_value["data"] == {"y": 2}
    assert done.return_value["pid"] != os.getpid()
    assert done.progress == 50
    assert (await done.get_logs())[0].startswith("async in ")


async def test_a_child_sees_the_jobs_fields(queue: Queue, make_worker: WorkerFactory) -> None:
    job = await queue.add("echo", {"nested": [1, "two", None]}, attempts=2)
    worker = make_worker(processor="tests.process_jobs:echo", processes=1)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [job.id])
    await worker.close()
    await running
    result = (await _job(queue, job.id)).return_value
    assert result["data"] == {"nested": [1, "two", None]}
    assert result["id"] == job.id
    assert result["attempts"] == 0


async def test_a_processor_error_a_bad_return_value_and_an_unrecoverable_error_fail_the_job(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    raising = await queue.add("raises", {}, attempts=1)
    worker = make_worker(processor=process_jobs.raises, processes=1)
    errors: list[BaseException] = []
    worker.on("failed", lambda job, error: errors.append(error))
    running = asyncio.create_task(worker.run())
    await _finish(queue, [raising.id])
    await worker.close()
    await running
    failed = await _job(queue, raising.id)
    assert failed.failed_reason == "'no such thing'"
    assert isinstance(errors[0], ChildJobError)
    assert errors[0].type_name == "KeyError"
    # The child's own traceback is kept on the job.
    assert "in raises" in failed.stacktrace[-1]
    assert "KeyError" in failed.stacktrace[-1]

    ran: list[Job] = []
    for processor in (process_jobs.not_json, process_jobs.unrecoverable):
        ran.append(job := await queue.add("fails", {}, attempts=5))
        worker = make_worker(processor=processor, processes=1)
        running = asyncio.create_task(worker.run())
        await _finish(queue, [job.id])
        await worker.close()
        await running
    bad, hopeless = ran
    reason = (await _job(queue, bad.id)).failed_reason
    assert reason is not None
    assert reason.startswith("the processor's return value could not be stored")
    given_up = await _job(queue, hopeless.id)
    assert given_up.failed_reason == "give up"
    assert given_up.attempts_made == 1


async def test_the_job_cannot_be_finished_from_inside_a_child(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.add("finish", {})
    worker = make_worker(processor=process_jobs.finishes_move, processes=1)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [job.id])
    await worker.close()
    await running
    reason = (await _job(queue, job.id)).failed_reason
    assert reason is not None
    assert "cannot be called from inside a process worker's child" in reason


@pytest.mark.parametrize(
    ("how", "said"),
    [("exit", "exited with code 7"), ("segv", "SIGSEGV"), ("kill", "SIGKILL")],
)
async def test_a_crashed_child_fails_only_its_job_and_is_replaced(
    queue: Queue, make_worker: WorkerFactory, how: str, said: str
) -> None:
    crashing = await queue.add("crash", {"how": how}, attempts=1)
    after = await queue.add("fine", {})
    worker = make_worker(processor=process_jobs.crash, processes=1)
    errors: list[BaseException] = []
    worker.on("failed", lambda job, error: errors.append(error))
    running = asyncio.create_task(worker.run())
    await _finish(queue, [crashing.id, after.id])
    await worker.close()
    await running
    crashed = await _job(queue, crashing.id)
    assert crashed.failed_reason is not None
    assert said in crashed.failed_reason
    assert "while running the job" in crashed.failed_reason
    assert isinstance(errors[0], ChildCrashedError)
    fine = await _job(queue, after.id)
    assert await fine.get_state() is JobState.COMPLETED
    assert fine.return_value != os.getpid()


async def test_a_crash_with_attempts_left_retries_the_job(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.add("crash", {"how": "exit"}, attempts=2)
    worker = make_worker(processor=process_jobs.crash, processes=1)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [job.id])
    await worker.close()
    await running
    done = await _job(queue, job.id)
    assert done.attempts_made == 2
    assert await done.get_state() is JobState.FAILED


async def test_a_cpu_bound_child_keeps_its_lock_because_the_worker_renews_it(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.add("spin", {"ms": 2500})  # more than twice the lock
    worker = make_worker(
        processor=process_jobs.spin, processes=1, lock_duration=1, stalled_interval=0.3
    )
    stalled: list[str] = []
    worker.on("stalled", stalled.append)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [job.id])
    await worker.close()
    await running
    assert stalled == []
    assert await queue.get_job_state(job.id) is JobState.COMPLETED


async def test_children_are_recycled_after_max_jobs_per_child(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    jobs = [await queue.add("pid", {}) for _ in range(5)]
    worker = make_worker(processor=process_jobs.pid, processes=1, max_jobs_per_child=2)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [j.id for j in jobs])
    await worker.close()
    await running
    pids = [(await _job(queue, j.id)).return_value for j in jobs]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]


async def test_a_child_above_max_memory_per_child_is_recycled_after_its_job(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    sizes = [0, 0, 192 << 20, 0]
    jobs = [await queue.add("grow", {"bytes": size}) for size in sizes]
    worker = make_worker(processor=process_jobs.grow, processes=1, max_memory_per_child=160 << 20)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [j.id for j in jobs])
    await worker.close()
    await running
    for job in jobs:
        assert await queue.get_job_state(job.id) is JobState.COMPLETED
    pids = [(await _job(queue, j.id)).return_value for j in jobs]
    # Small jobs keep the child; the one that left it above the limit was its last.
    assert pids[0] == pids[1] == pids[2] != pids[3]


async def _running_child(queue: Queue, job_id: str) -> int:
    async def reported() -> bool:
        return isinstance((await _job(queue, job_id)).progress, dict)

    await wait_until(reported, 30)
    pid = (await _job(queue, job_id)).progress["pid"]
    assert isinstance(pid, int)
    return pid


async def test_a_graceful_stop_lets_a_child_finish_within_the_grace(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.add("short", {"s": 0.5})
    worker = make_worker(processor=process_jobs.report_pid, processes=1)
    running = asyncio.create_task(worker.run())
    await _running_child(queue, job.id)
    await worker.close(grace=30)
    await running
    assert await queue.get_job_state(job.id) is JobState.COMPLETED


@pytest.mark.parametrize("grace", [0.5, 0])
async def test_a_stop_kills_the_child_and_returns_the_job_without_an_attempt(
    queue: Queue, make_worker: WorkerFactory, grace: float
) -> None:
    job = await queue.add("long", {"s": 60})
    worker = make_worker(processor=process_jobs.report_pid, processes=1, lock_duration=60)
    running = asyncio.create_task(worker.run())
    pid = await _running_child(queue, job.id)
    await worker.close(grace=grace)
    await running
    assert not _alive(pid)
    # Returned at once (its lock released, not left to expire), with no attempt used.
    assert await queue.get_job_state(job.id) is JobState.WAITING
    assert (await _job(queue, job.id)).attempts_made == 0


async def test_jobs_waiting_for_a_child_are_returned_when_the_worker_stops(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    first = await queue.add("long", {"s": 60})
    second = await queue.add("long", {"s": 60})
    worker = make_worker(processor=process_jobs.report_pid, processes=1, concurrency=2)
    running = asyncio.create_task(worker.run())

    async def one_reported() -> bool:
        return any([isinstance((await _job(queue, j.id)).progress, dict) for j in (first, second)])

    # Either job may be the one the only child takes: both slots wait for it to start.
    await wait_until(one_reported, 30, "a job running in the child")
    await wait_until(counts_reach(queue, "active", 2))
    ran = [j.id for j in (first, second) if isinstance((await _job(queue, j.id)).progress, dict)]
    await worker.close(grace=0.2)
    await running
    assert await queue.get_job_state(first.id) is JobState.WAITING
    assert await queue.get_job_state(second.id) is JobState.WAITING
    assert len(ran) == 1
    (waited,) = {first.id, second.id} - set(ran)
    assert (await _job(queue, waited)).progress == 0  # it never ran


@pytest.mark.parametrize(
    "processor",
    [
        lambda job: None,
        BlockingJob,
        "tests.process_jobs",
        "tests.no_such_module:f",
        "tests.process_jobs:no_such_function",
    ],
)
def test_a_processor_a_child_cannot_import_is_refused_when_the_worker_is_made(
    processor: Any,
) -> None:
    with pytest.raises((TypeError, ValueError)) as refused:
        Worker("q", processor, url="sqlite://:memory:", processes=2)
    said = str(refused.value)
    assert "processor" in said or "process worker" in said


def test_a_closure_is_refused_with_what_to_do_instead() -> None:
    def inner(job: Job) -> None:
        return None

    with pytest.raises(TypeError, match="top level of a module"):
        Worker("q", inner, url="sqlite://:memory:", processes=2)
    with pytest.raises(TypeError, match="a lambda"):
        Worker("q", lambda job: None, url="sqlite://:memory:", processes=1)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"processes": 0}, "processes must be >= 1"),
        ({"processes": "2"}, "processes must be a whole number"),
        ({"processes": 1, "max_jobs_per_child": 0}, "max_jobs_per_child must be >= 1"),
        ({"max_memory_per_child": 1 << 30}, "pass processes=N too"),
        ({"processes": 1, "kill_grace": -1}, "kill_grace"),
    ],
)
def test_bad_process_options_are_refused(options: dict[str, Any], said: str) -> None:
    with pytest.raises((TypeError, ValueError), match=said):
        Worker("q", "tests.process_jobs:pid", url="sqlite://:memory:", **options)


def test_a_processor_path_runs_in_process_without_processes() -> None:
    worker = Worker("q", "tests.process_jobs:pid", url="sqlite://:memory:")
    assert worker.processor is process_jobs.pid
    assert worker.processes is None


async def test_a_worker_whose_children_cannot_load_the_processor_says_why(
    make_worker: WorkerFactory,
) -> None:
    worker = make_worker(processor="tests.process_jobs_parent_only:process", processes=2)
    with pytest.raises(ConfigurationError, match="a child process cannot load processor"):
        await worker.run()
    assert not worker.running


def test_a_blocking_worker_runs_its_processor_in_children(url: str, queue_name: str) -> None:
    from corral import sync

    with sync.Queue(queue_name, url=url) as queue:
        job = queue.add("echo", {"n": 1})
        with sync.Worker(queue_name, "tests.process_jobs:echo", url=url, processes=1) as worker:
            assert worker.processes == 1
            deadline = time.monotonic() + 30
            while queue.get_job_state(job.id) is not JobState.COMPLETED:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        done = queue.get_job(job.id)
        assert done is not None
        assert done.return_value["data"] == {"n": 1}
        assert done.return_value["pid"] != os.getpid()


async def test_a_child_reads_the_whole_log_count(queue: Queue, make_worker: WorkerFactory) -> None:
    job = await queue.add("logs", {})
    await job.log("before")
    worker = make_worker(processor=process_jobs.log_count, processes=1)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [job.id])
    await worker.close()
    await running
    assert (await _job(queue, job.id)).return_value == {"last": ["two"], "count": 3}


async def test_a_hard_timeout_kills_the_child_and_retries_in_a_fresh_one(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.add("hangs", {"s": 120}, timeout=1, attempts=2)
    worker = make_worker(processor=process_jobs.sleeps_and_tells, processes=1)
    timeouts: list[BaseException] = []
    worker.on("failed", lambda job, error: timeouts.append(error))
    running = asyncio.create_task(worker.run())
    first = await _running_child(queue, job.id)
    await _finish(queue, [job.id])
    await worker.close()
    await running
    done = await _job(queue, job.id)
    assert done.attempts_made == 2
    assert done.failed_reason == "timed out after 1 seconds"
    assert all(isinstance(error, JobTimeoutError) for error in timeouts)
    assert len(timeouts) == 2
    assert not _alive(first)
    # The child heard why before SIGTERM ended it; the retry ran in a fresh child.
    logs = await done.get_logs()
    assert logs[0] == "stopped: True JobTimeoutError: timed out after 1 seconds"
    assert len(logs) == 2


async def test_a_child_that_ignores_sigterm_is_killed_after_kill_grace(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.add("stubborn", {"s": 120}, timeout=0.5)
    after = await queue.add("fine", {"s": 0})
    worker = make_worker(processor=process_jobs.stubborn, processes=1, kill_grace=0.3)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [job.id, after.id])
    await worker.close()
    await running
    assert (await _job(queue, job.id)).failed_reason == "timed out after 0.5 seconds"
    assert await queue.get_job_state(after.id) is JobState.COMPLETED


async def test_cancelling_an_active_job_kills_its_child(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.add("long", {"s": 120}, attempts=3)
    after = await queue.add("next", {"s": 0})
    worker = make_worker(processor=process_jobs.sleeps_and_tells, processes=1)
    cancelled: list[str] = []
    worker.on("cancelled", lambda job, reason: cancelled.append(reason))
    running = asyncio.create_task(worker.run())
    pid = await _running_child(queue, job.id)
    answer = await queue.cancel(job.id, reason="not needed")
    assert answer.outcome is CancelOutcome.REQUESTED
    await _finish(queue, [job.id, after.id])
    await worker.close()
    await running
    done = await _job(queue, job.id)
    assert done.failed_reason == "cancelled: not needed"
    assert done.attempts_made == 1  # no retry
    assert cancelled == ["cancelled: not needed"]
    assert not _alive(pid)
    assert await done.get_logs() == ["stopped: True JobCancelledError: cancelled: not needed"]
    nxt = await _job(queue, after.id)
    assert await nxt.get_state() is JobState.COMPLETED
    assert nxt.return_value != pid


async def test_a_child_may_only_ask_for_its_own_job(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    job = await queue.add("asks", {})
    worker = make_worker(processor=process_jobs.asks_badly, processes=1)
    running = asyncio.create_task(worker.run())
    await _finish(queue, [job.id])
    await worker.close()
    await running
    assert (await _job(queue, job.id)).return_value == [
        "unknown call 'nope' from a child process",
        "a child may only act on the job it is running",
    ]


async def test_a_childs_rate_limit_error_sets_the_queues_window_it_gave(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("api-call", {})
    worker = make_worker(processor="tests.process_jobs:rate_limited", processes=1)
    async with worker:
        await wait_until(lambda: _above(worker.rate_limited_for, 25))
        assert await queue.get_rate_limit_ttl() > 25
    job = await queue.get_job("1")
    assert job is not None
    assert job.attempts_made == 0
    assert await queue.get_job_state("1") is JobState.WAITING


async def _above(value: float, floor: float) -> bool:
    return value > floor
