"""Locks: only the token holding a live lock moves an active job; extend_lock and
extend_locks keep a lock alive (and the job out of the stalled checker's hands)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from corral.backends.base import Backend, Completed, Failed, JobState, Retry
from corral.errors import ErrorCode, LockMismatchError, MissingLockError
from tests.contract.support import LOCK_MS, Clock, fetch_one, job, snapshot

Move = Callable[[Backend, str, str, str, int], Awaitable[object]]

MOVES: dict[str, Move] = {
    "move_to_finished": lambda b, q, i, t, now: b.move_to_finished(q, i, t, Completed("1"), now),
    "retry_job": lambda b, q, i, t, now: b.retry_job(q, i, t, Retry("x"), now),
    "move_to_wait": lambda b, q, i, t, now: b.move_to_wait(q, i, t, now),
    "extend_lock": lambda b, q, i, t, now: b.extend_lock(q, i, t, LOCK_MS, now),
}
"""Every operation that needs the job's lock, called with (backend, queue, id, token, now)."""


@pytest.mark.parametrize("operation", sorted(MOVES))
async def test_an_expired_lock_cannot_move_the_job(
    backend: Backend, queue: str, clock: Clock, operation: str
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    await clock.advance(LOCK_MS)
    before = await snapshot(backend, queue, got.id)
    with pytest.raises(MissingLockError) as refused:
        await MOVES[operation](backend, queue, got.id, "t1", clock.now)
    assert (refused.value.job_id, refused.value.operation) == (got.id, operation)
    assert await snapshot(backend, queue, got.id) == before


@pytest.mark.parametrize("operation", sorted(MOVES))
async def test_another_token_cannot_move_the_job(
    backend: Backend, queue: str, clock: Clock, operation: str
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock, "mine")
    before = await snapshot(backend, queue, got.id)
    with pytest.raises(LockMismatchError) as refused:
        await MOVES[operation](backend, queue, got.id, "theirs", clock.now)
    assert (refused.value.job_id, refused.value.operation) == (got.id, operation)
    assert await snapshot(backend, queue, got.id) == before
    # the owner still holds it
    await backend.move_to_finished(queue, got.id, "mine", Completed("1"), clock.now)


@pytest.mark.parametrize("operation", sorted(MOVES))
async def test_a_job_never_fetched_has_no_lock(
    backend: Backend, queue: str, clock: Clock, operation: str
) -> None:
    (job_id,) = await backend.add_jobs(queue, [job(at=clock.now)])
    before = await snapshot(backend, queue, job_id)
    with pytest.raises(MissingLockError):
        await MOVES[operation](backend, queue, job_id, "t1", clock.now)
    assert await snapshot(backend, queue, job_id) == before


@pytest.mark.parametrize("outcome", ["completed", "failed"])
@pytest.mark.parametrize("operation", sorted(MOVES))
async def test_a_finished_job_cannot_be_moved_and_the_refusal_says_it_finished(
    backend: Backend, queue: str, clock: Clock, operation: str, outcome: str
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    finish = Completed("1") if outcome == "completed" else Failed("x")
    await backend.move_to_finished(queue, got.id, "t1", finish, clock.now)
    before = await snapshot(backend, queue, got.id)
    with pytest.raises(MissingLockError, match=f"already {outcome}"):
        await MOVES[operation](backend, queue, got.id, "t1", clock.now)
    assert await snapshot(backend, queue, got.id) == before


async def test_a_live_lock_keeps_working_until_it_expires(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    await clock.advance(LOCK_MS - 10_000)
    await backend.move_to_finished(queue, got.id, "t1", Completed("1"), clock.now)
    assert await backend.get_state(queue, got.id) is JobState.COMPLETED


async def test_extend_lock_sets_the_expiry_from_now(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    await clock.advance(LOCK_MS - 10_000)
    await backend.extend_lock(queue, got.id, "t1", LOCK_MS, clock.now)
    await clock.advance(LOCK_MS - 10_000)  # past the fetch's lock, inside the extension
    await backend.move_to_finished(queue, got.id, "t1", Completed("1"), clock.now)
    assert await backend.get_state(queue, got.id) is JobState.COMPLETED


async def test_extend_lock_can_shorten_a_lock(backend: Backend, queue: str, clock: Clock) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    await backend.extend_lock(queue, got.id, "t1", 5_000, clock.now)
    await clock.advance(5_000)
    with pytest.raises(MissingLockError):
        await backend.move_to_finished(queue, got.id, "t1", Completed("1"), clock.now)


async def test_extend_locks_extends_the_held_ones_and_returns_the_refused_with_codes(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now) for _ in range(4)])
    held = await fetch_one(backend, queue, clock, "a")
    expired = await fetch_one(backend, queue, clock, "b")
    await backend.extend_lock(queue, expired.id, "b", 1_000, clock.now)
    other = await fetch_one(backend, queue, clock, "c")
    await clock.advance(1_000)
    failed = await backend.extend_locks(
        queue,
        [(held.id, "a"), (expired.id, "b"), (other.id, "wrong"), ("ghost", "d"), ("4", "e")],
        2 * LOCK_MS,
        clock.now,
    )
    assert failed == {
        expired.id: ErrorCode.JOB_LOCK_NOT_EXIST,
        other.id: ErrorCode.JOB_LOCK_MISMATCH,
        "ghost": ErrorCode.JOB_NOT_EXIST,
        "4": ErrorCode.JOB_LOCK_NOT_EXIST,
    }
    await clock.advance(LOCK_MS)  # past the fetches' locks, inside the extension
    await backend.move_to_finished(queue, held.id, "a", Completed("1"), clock.now)
    with pytest.raises(MissingLockError):  # the refused lock was left as it was
        await backend.move_to_finished(queue, other.id, "c", Completed("1"), clock.now)


async def test_extend_locks_with_nothing_to_extend_refuses_nothing(
    backend: Backend, queue: str, clock: Clock
) -> None:
    assert await backend.extend_locks(queue, [], LOCK_MS, clock.now) == {}
