"""SQLiteBackend's listing and single-job changes: get_jobs, logs, progress,
remove, promote, reprocess, list_queues, events_cursor."""

from __future__ import annotations

import pytest

from corral.backends.base import Completed, FetchRequest, JobState, NewJob
from corral.backends.sqlite import SQLiteBackend
from corral.errors import JobNotFoundError, JobStateError

T0 = 1_700_000_000_000


def job(name: str, **kw: int) -> NewJob:
    return NewJob(name, "{}", "{}", T0, **kw)  # type: ignore[arg-type]


async def test_get_jobs_orders_each_state_and_slices_the_whole(backend, queue_name) -> None:
    await backend.add_jobs(
        queue_name,
        [job("a"), job("b"), job("p", priority=1), job("d2", delay_ms=20), job("d1", delay_ms=10)],
    )
    got = await backend.get_jobs(
        queue_name, [JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED]
    )
    assert [j.name for j in got] == ["a", "b", "p", "d1", "d2"]
    page = await backend.get_jobs(
        queue_name, [JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED], 1, 3
    )
    assert [j.name for j in page] == ["b", "p", "d1"]
    for _ in range(2):
        await backend.move_to_active(queue_name, FetchRequest("t", 1000), T0)
    active = await backend.get_jobs(queue_name, [JobState.ACTIVE])
    assert [j.name for j in active] == ["b", "a"]  # most recently fetched first
    for i, job_id in enumerate(["1", "2"]):
        await backend.move_to_finished(queue_name, job_id, "t", Completed("1"), T0 + i)
    done = await backend.get_jobs(queue_name, [JobState.COMPLETED])
    assert [j.name for j in done] == ["b", "a"]  # most recently finished first


async def test_logs_progress_and_missing_jobs(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job("a")])
    for i in range(5):
        assert await backend.add_log(queue_name, "1", f"line {i}", keep=3) == min(i + 1, 3)
    assert await backend.get_logs(queue_name, "1") == (["line 2", "line 3", "line 4"], 3)
    assert await backend.get_logs(queue_name, "1", 1, 1) == (["line 3"], 3)
    await backend.update_progress(queue_name, "1", '{"pct":5}')
    record = await backend.get_job(queue_name, "1")
    assert record is not None
    assert record.progress == '{"pct":5}'
    events = await backend.read_events(queue_name, "0")
    assert (events[-1].name, dict(events[-1].fields)) == (
        "progress",
        {"jobId": "1", "data": '{"pct":5}'},
    )
    with pytest.raises(JobNotFoundError):
        await backend.add_log(queue_name, "nope", "x")
    with pytest.raises(JobNotFoundError):
        await backend.update_progress(queue_name, "nope", "1")


async def test_remove_job_refuses_a_locked_active_job(backend, queue_name) -> None:
    import time

    await backend.add_jobs(queue_name, [job("a"), job("b")])
    await backend.add_log(queue_name, "2", "x")
    now = int(time.time() * 1000)
    await backend.move_to_active(queue_name, FetchRequest("t", 60_000), now)
    with pytest.raises(JobStateError):
        await backend.remove_job(queue_name, "1", now)
    assert await backend.remove_job(queue_name, "2", now)
    assert await backend.get_logs(queue_name, "2") == ([], 0)
    assert not await backend.remove_job(queue_name, "2", now)
    events = await backend.read_events(queue_name, "0")
    assert dict(events[-1].fields) == {"jobId": "2", "prev": "wait"}


async def test_promote_and_reprocess(backend, queue_name) -> None:
    await backend.add_jobs(queue_name, [job("a"), job("d", delay_ms=10_000, priority=2)])
    with pytest.raises(JobStateError):
        await backend.promote(queue_name, "1")
    await backend.promote(queue_name, "2")
    promoted = await backend.get_job(queue_name, "2")
    assert promoted is not None
    assert promoted.delay_ms == 0
    assert await backend.get_state(queue_name, "2") is JobState.PRIORITIZED
    got = await backend.move_to_active(queue_name, FetchRequest("t", 1000), T0)
    assert got.job is not None
    assert got.job.id == "1"
    await backend.move_to_finished(queue_name, "1", "t", Completed('"r"'), T0)
    with pytest.raises(JobStateError):
        await backend.reprocess_job(queue_name, "1", JobState.FAILED, reset_attempts=False)
    await backend.reprocess_job(queue_name, "1", JobState.COMPLETED, reset_attempts=True)
    again = await backend.get_job(queue_name, "1")
    assert again is not None
    assert (again.finished_on_ms, again.return_value, again.attempts_made) == (None, None, 0)
    assert await backend.get_state(queue_name, "1") is JobState.WAITING


async def test_list_queues_and_events_cursor(sqlite_url) -> None:
    mine, other = (
        SQLiteBackend(sqlite_url, prefix="mine"),
        SQLiteBackend(sqlite_url, prefix="other"),
    )
    try:
        assert await mine.events_cursor("b") == "0"
        await mine.add_jobs("b", [job("x")])
        await mine.add_jobs("a", [job("x")])
        await other.add_jobs("c", [job("x")])
        assert await mine.list_queues() == ["a", "b"]
        cursor = await mine.events_cursor("b")
        assert await mine.read_events("b", cursor) == []
        await mine.pause("b")
        assert [e.name for e in await mine.read_events("b", cursor)] == ["paused"]
    finally:
        await mine.close()
        await other.close()
