"""reprocess_job: a finished job runs again, its outcome cleared."""

from __future__ import annotations

import pytest

from corral.backends.base import Backend, Completed, Failed, JobState
from tests.contract.support import Clock, drain, events_after, fetch_one, job


async def finished(backend: Backend, queue: str, clock: Clock, state: JobState) -> str:
    await backend.add_jobs(queue, [job("r", at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    outcome = Completed('"ok"') if state is JobState.COMPLETED else Failed("boom", '["s"]')
    await backend.move_to_finished(queue, got.id, "t1", outcome, clock.now)
    return got.id


@pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.FAILED])
async def test_reprocessing_clears_the_outcome_and_puts_the_job_in_wait(
    backend: Backend, queue: str, clock: Clock, state: JobState
) -> None:
    job_id = await finished(backend, queue, clock, state)
    cursor = await backend.events_cursor(queue)
    await backend.reprocess_job(queue, job_id, state, reset_attempts=False)
    assert await backend.get_state(queue, job_id) is JobState.WAITING
    again = await backend.get_job(queue, job_id)
    assert again is not None
    assert (again.finished_on_ms, again.processed_on_ms) == (None, None)
    assert (again.return_value, again.failed_reason) == (None, None)
    assert (again.attempts_made, again.attempts_started) == (1, 1)
    assert await events_after(backend, queue, cursor) == [
        ("waiting", {"jobId": job_id, "prev": state.value})
    ]
    assert (await backend.get_counts(queue, [state]))[state] == 0
    assert await drain(backend, queue, clock) == ["r"]


async def test_reprocessing_can_reset_the_attempts(
    backend: Backend, queue: str, clock: Clock
) -> None:
    job_id = await finished(backend, queue, clock, JobState.FAILED)
    await backend.reprocess_job(queue, job_id, JobState.FAILED, reset_attempts=True)
    again = await backend.get_job(queue, job_id)
    assert again is not None
    assert (again.attempts_made, again.attempts_started) == (0, 0)


async def test_a_reprocessed_prioritized_job_goes_back_to_prioritized(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now, priority=3)])
    got = await fetch_one(backend, queue, clock)
    await backend.move_to_finished(queue, got.id, "t1", Completed("1"), clock.now)
    await backend.reprocess_job(queue, got.id, JobState.COMPLETED, reset_attempts=False)
    assert await backend.get_state(queue, got.id) is JobState.PRIORITIZED
