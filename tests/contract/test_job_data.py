"""update_progress, add_log and get_logs: what a job carries besides its outcome."""

from __future__ import annotations

from corral.backends.base import Backend
from tests.contract.support import Clock, events_after, job


async def test_progress_is_stored_and_announced(backend: Backend, queue: str, clock: Clock) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    cursor = await backend.events_cursor(queue)
    await backend.update_progress(queue, "1", '{"done":3}')
    stored = await backend.get_job(queue, "1")
    assert stored is not None
    assert stored.progress == '{"done":3}'
    assert await events_after(backend, queue, cursor) == [
        ("progress", {"jobId": "1", "data": '{"done":3}'})
    ]


async def test_log_lines_are_kept_oldest_first_and_sliced(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    for n in range(1, 5):
        assert await backend.add_log(queue, "1", f"line {n}") == n
    assert await backend.get_logs(queue, "1") == ([f"line {n}" for n in range(1, 5)], 4)
    assert await backend.get_logs(queue, "1", 1, 2) == (["line 2", "line 3"], 4)
    assert await backend.get_logs(queue, "1", -1) == (["line 4"], 4)


async def test_a_log_can_keep_only_its_newest_lines(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    for n in range(1, 5):
        await backend.add_log(queue, "1", f"line {n}", keep=2)
    assert await backend.get_logs(queue, "1") == (["line 3", "line 4"], 2)


async def test_a_job_without_logs_has_none(backend: Backend, queue: str, clock: Clock) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    assert await backend.get_logs(queue, "1") == ([], 0)
    assert await backend.get_logs(queue, "nope") == ([], 0)
