"""move_stalled_to_wait: the two-phase stalled check, gated to once per interval.

A check first judges the jobs marked at the previous check (active then, still
active, lock gone: stalled), then marks every job active now. So a job whose lock
expired is returned only by the first check that finds it *already marked*.
"""

from __future__ import annotations

import pytest

from corral.backends.base import (
    STALLED_LIMIT_REASON,
    Backend,
    Completed,
    JobState,
    Limiter,
)
from corral.errors import LockMismatchError
from tests.contract.support import LOCK_MS, Clock, events_after, fetch_one, job

INTERVAL_MS = 20_000
"""The stalled-check interval: shorter than a lock, so one lock outlives a check."""


async def check(backend: Backend, queue: str, clock: Clock, max_stalled: int = 1) -> list[str]:
    return await backend.move_stalled_to_wait(queue, max_stalled, INTERVAL_MS, clock.now)


async def test_a_job_is_requeued_at_the_second_check_after_its_lock_expired(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("a", at=clock.now), job("b", at=clock.now)])
    a = await fetch_one(backend, queue, clock, "ta")
    await clock.advance(LOCK_MS)  # a's lock is gone, but no check has marked it yet
    assert await check(backend, queue, clock) == []
    assert await backend.get_state(queue, a.id) is JobState.ACTIVE
    await clock.advance(INTERVAL_MS)
    cursor = await backend.events_cursor(queue)
    assert await check(backend, queue, clock) == [a.id]
    stalled = await backend.get_job(queue, a.id)
    assert stalled is not None
    assert (stalled.stalled_counter, stalled.deferred_failure) == (1, None)
    assert await backend.get_state(queue, a.id) is JobState.WAITING
    assert await events_after(backend, queue, cursor) == [
        ("waiting", {"jobId": a.id, "prev": "active"}),
        ("stalled", {"jobId": a.id}),
    ]


async def test_a_stalled_job_goes_to_the_front_and_its_old_token_is_refused(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("a", at=clock.now), job("b", at=clock.now)])
    a = await fetch_one(backend, queue, clock, "old")
    assert await check(backend, queue, clock) == []
    await clock.advance(LOCK_MS)
    assert await check(backend, queue, clock) == [a.id]
    again = await fetch_one(backend, queue, clock, "new")
    assert again.id == a.id
    assert again.attempts_started == 2
    with pytest.raises(LockMismatchError):
        await backend.move_to_finished(queue, a.id, "old", Completed("1"), clock.now)


async def test_a_job_whose_lock_is_live_is_not_stalled(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    await fetch_one(backend, queue, clock)
    assert await check(backend, queue, clock) == []
    await clock.advance(INTERVAL_MS)
    assert await check(backend, queue, clock) == []


async def test_extending_the_lock_keeps_a_job_from_stalling(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    assert await check(backend, queue, clock) == []
    await clock.advance(LOCK_MS - 10_000)
    await backend.extend_lock(queue, got.id, "t1", LOCK_MS, clock.now)
    await clock.advance(10_000)  # past the fetch's lock, inside the extension
    assert await check(backend, queue, clock) == []
    await backend.move_to_finished(queue, got.id, "t1", Completed("1"), clock.now)


async def test_an_extended_job_is_judged_only_from_the_check_after_the_next(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    assert await check(backend, queue, clock) == []  # marks it
    await backend.extend_lock(queue, got.id, "t1", 1_000, clock.now)  # clears the mark
    await clock.advance(INTERVAL_MS)
    assert await check(backend, queue, clock) == []  # lock gone, but unmarked: marks it
    await clock.advance(INTERVAL_MS)
    assert await check(backend, queue, clock) == [got.id]


async def test_a_finished_job_is_not_stalled(backend: Backend, queue: str, clock: Clock) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    assert await check(backend, queue, clock) == []
    await backend.move_to_finished(queue, got.id, "t1", Completed("1"), clock.now)
    await clock.advance(LOCK_MS)
    assert await check(backend, queue, clock) == []
    assert await backend.get_state(queue, got.id) is JobState.COMPLETED


async def test_the_check_runs_at_most_once_per_interval(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("a", at=clock.now), job("b", at=clock.now)])
    a = await fetch_one(backend, queue, clock, "ta")
    assert await check(backend, queue, clock) == []  # marks a
    b = await fetch_one(backend, queue, clock, "tb")
    await clock.advance(INTERVAL_MS - 10_000)
    # both locks now end with the interval; a's extension clears its mark
    await backend.extend_lock(queue, a.id, "ta", 10_000, clock.now)
    await backend.extend_lock(queue, b.id, "tb", 10_000, clock.now)
    await clock.advance(5_000)
    # Too soon: this call neither judges nor marks (b stays unmarked).
    assert await check(backend, queue, clock) == []
    await clock.advance(5_000)
    assert await check(backend, queue, clock) == []  # neither was marked: marks both
    await clock.advance(INTERVAL_MS)
    assert sorted(await check(backend, queue, clock)) == sorted([a.id, b.id])


async def test_a_check_too_soon_after_the_last_requeues_nothing(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock, lock_duration_ms=1_000)
    assert await check(backend, queue, clock) == []  # marks it
    await clock.advance(2_000)  # marked and its lock gone, but the interval has not passed
    assert await check(backend, queue, clock) == []
    assert await backend.get_state(queue, got.id) is JobState.ACTIVE
    await clock.advance(INTERVAL_MS - 2_000)
    assert await check(backend, queue, clock) == [got.id]


async def test_stalling_more_than_max_stalled_count_defers_a_failure(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    for stalls in (1, 2):
        got = await fetch_one(backend, queue, clock)
        await clock.advance(INTERVAL_MS)
        assert await check(backend, queue, clock, max_stalled=1) == []
        await clock.advance(LOCK_MS)
        assert await check(backend, queue, clock, max_stalled=1) == [got.id]
        record = await backend.get_job(queue, got.id)
        assert record is not None
        assert record.stalled_counter == stalls
        assert record.deferred_failure == (None if stalls == 1 else STALLED_LIMIT_REASON)
    # the next fetch hands it out with the failure to apply, using no limiter slot
    doomed = await fetch_one(backend, queue, clock, limiter=Limiter(max=1, duration_ms=60_000))
    assert doomed.deferred_failure == STALLED_LIMIT_REASON
    await backend.add_jobs(queue, [job("next", at=clock.now)])
    nxt = await fetch_one(backend, queue, clock, limiter=Limiter(max=1, duration_ms=60_000))
    assert nxt.name == "next"


async def test_max_stalled_count_zero_defers_a_failure_at_the_first_stall(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    assert await check(backend, queue, clock, max_stalled=0) == []
    await clock.advance(LOCK_MS)
    assert await check(backend, queue, clock, max_stalled=0) == [got.id]
    record = await backend.get_job(queue, got.id)
    assert record is not None
    assert (record.stalled_counter, record.deferred_failure) == (1, STALLED_LIMIT_REASON)
