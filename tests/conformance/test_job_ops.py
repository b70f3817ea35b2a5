"""Listing jobs, logs, progress, removing, promoting and retrying finished jobs."""

from __future__ import annotations

import pytest

from corral import JobNotFoundError, JobState, JobStateError, Queue
from tests.conformance.conftest import WorkerFactory


async def test_get_jobs_lists_states_in_their_order(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    for name in ("a", "b", "c"):
        await queue.add(name, {})
    await queue.add("p2", {}, priority=2)
    await queue.add("p1", {}, priority=1)
    await queue.add("later", {}, delay=60)
    waiting = await queue.get_jobs("waiting")
    assert [j.name for j in waiting] == ["a", "b", "c"]
    assert [j.name for j in await queue.get_jobs("prioritized")] == ["p1", "p2"]
    mixed = await queue.get_jobs("waiting", "prioritized", "delayed")
    assert [j.name for j in mixed] == ["a", "b", "c", "p1", "p2", "later"]
    page = await queue.get_jobs("waiting", "prioritized", start=2, end=3)
    assert [j.name for j in page] == ["c", "p1"]
    worker = make_worker()
    job = await worker.get_next_job("t")
    assert job is not None
    nxt = await job.move_to_completed("x", "t")
    assert nxt is not None
    await nxt.move_to_completed("y", "t", fetch_next=False)
    done = await queue.get_jobs("completed")
    assert [j.name for j in done] == ["b", "a"]  # newest first
    with pytest.raises(ValueError, match="unknown job state"):
        await queue.get_jobs("finished")


async def test_progress_is_stored(queue: Queue, make_worker: WorkerFactory) -> None:
    await queue.add("p", {})
    job = await make_worker().get_next_job("t")
    assert job is not None
    await job.update_progress(42)
    await job.update_progress({"step": 3, "of": 5})
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert stored.progress == {"step": 3, "of": 5}
    with pytest.raises(TypeError, match="progress must be JSON-encodable"):
        await job.update_progress({1, 2})


async def test_logs_are_appended_and_trimmed(queue: Queue) -> None:
    job = await queue.add("logged", {})
    assert await job.log("first") == 1
    assert await job.log("second") == 2
    assert await job.get_logs() == ["first", "second"]
    assert await job.log("third", keep=2) == 2
    assert await queue.get_job_logs(job.id) == ["second", "third"]
    with pytest.raises(TypeError, match="log line must be a string"):
        await job.log(3)  # type: ignore[arg-type]


async def test_progress_or_log_on_missing_job_is_refused(queue: Queue) -> None:
    job = await queue.add("gone", {})
    assert await job.remove()
    with pytest.raises(JobNotFoundError):
        await job.update_progress(1)
    with pytest.raises(JobNotFoundError):
        await job.log("x")


async def test_remove_deletes_job_and_logs(queue: Queue) -> None:
    job = await queue.add("gone", {})
    await job.log("line")
    assert await queue.remove(job.id) is True
    assert await queue.get_job(job.id) is None
    assert await queue.get_job_logs(job.id) == []
    assert await queue.remove(job.id) is False
    assert (await queue.get_job_counts("waiting"))["waiting"] == 0


async def test_remove_refuses_a_locked_active_job(queue: Queue, make_worker: WorkerFactory) -> None:
    await queue.add("busy", {})
    job = await make_worker().get_next_job("t")
    assert job is not None
    with pytest.raises(JobStateError, match="locked"):
        await queue.remove(job.id)
    assert await queue.get_job_state(job.id) == JobState.ACTIVE


async def test_promote_runs_a_delayed_job_now(queue: Queue, make_worker: WorkerFactory) -> None:
    job = await queue.add("later", {}, delay=3600)
    await job.promote()
    assert await queue.get_job_state(job.id) == JobState.WAITING
    fetched = await make_worker().get_next_job("t", block=False)
    assert fetched is not None
    assert fetched.id == job.id
    assert fetched.delay == 0
    with pytest.raises(JobStateError):
        await fetched.promote()


async def test_retry_a_failed_job(queue: Queue, make_worker: WorkerFactory) -> None:
    await queue.add("flaky", {}, priority=4)
    worker = make_worker()
    job = await worker.get_next_job("t")
    assert job is not None
    await job.move_to_failed(RuntimeError("down"), "t")
    stored = await queue.get_job(job.id)
    assert stored is not None
    with pytest.raises(JobStateError, match="is failed, not completed"):
        await stored.retry("completed")
    await stored.retry()
    assert await queue.get_job_state(job.id) == JobState.PRIORITIZED
    again = await worker.get_next_job("t", block=False)
    assert again is not None
    assert again.id == job.id
    assert again.failed_reason is None
    assert again.attempts_made == 1
    await again.move_to_completed("ok", "t", fetch_next=False)
    done = await queue.get_job(job.id)
    assert done is not None
    await done.retry("completed", reset_attempts=True)
    reset = await queue.get_job(job.id)
    assert reset is not None
    assert reset.attempts_made == 0
    assert reset.return_value is None
    assert await reset.get_state() == JobState.PRIORITIZED
