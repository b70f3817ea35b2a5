"""SQLiteBackend's refusals: each is the exception its code maps to, says what
the job is now, changes nothing, and is judged by the caller's ``now``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from corral.backends.base import Completed, Failed, FetchRequest, JobState, NewJob, Retry
from corral.backends.sqlite import SQLiteBackend
from corral.errors import (
    ErrorCode,
    JobNotFoundError,
    JobStateError,
    LockMismatchError,
    MissingLockError,
    ObliterateError,
)

T0 = 1_700_000_000_000
LOCK = 30_000


def job(name: str = "j", **kw: int) -> NewJob:
    return NewJob(name, "{}", "{}", T0, **kw)  # type: ignore[arg-type]


async def fetched(b: SQLiteBackend, queue: str, token: str = "t1", now: int = T0) -> str:
    got = await b.move_to_active(queue, FetchRequest(token, LOCK), now)
    assert got.job is not None
    return got.job.id


async def test_extend_lock_tells_missing_expired_and_foreign_locks_apart(
    backend: SQLiteBackend, queue_name: str
) -> None:
    with pytest.raises(JobNotFoundError):  # a queue never used
        await backend.extend_lock(queue_name, "1", "t1", LOCK, T0)
    await backend.add_jobs(queue_name, [job(), job()])
    a = await fetched(backend, queue_name)
    with pytest.raises(JobNotFoundError):
        await backend.extend_lock(queue_name, "nope", "t1", LOCK, T0)
    with pytest.raises(LockMismatchError, match="another token"):
        await backend.extend_lock(queue_name, a, "theirs", LOCK, T0)
    with pytest.raises(MissingLockError, match="has no lock"):  # expired by the caller's now
        await backend.extend_lock(queue_name, a, "t1", LOCK, T0 + LOCK)
    with pytest.raises(MissingLockError, match="has no lock"):  # never fetched
        await backend.extend_lock(queue_name, "2", "t1", LOCK, T0)


async def test_extend_lock_sets_the_expiry_from_the_callers_now(
    backend: SQLiteBackend, queue_name: str
) -> None:
    await backend.add_jobs(queue_name, [job(), job()])
    a = await fetched(backend, queue_name)
    await backend.extend_lock(queue_name, a, "t1", 1000, T0 + LOCK - 1)
    # The lock now ends at T0 + LOCK - 1 + 1000, past the fetch's T0 + LOCK.
    await backend.move_to_wait(queue_name, a, "t1", T0 + LOCK + 500)
    b = await fetched(backend, queue_name, now=T0 + LOCK + 600)
    assert b == a
    await backend.extend_lock(queue_name, b, "t1", 1000, T0 + LOCK + 600)
    with pytest.raises(MissingLockError):
        await backend.move_to_finished(queue_name, b, "t1", Completed("1"), T0 + LOCK + 1600)


async def test_extend_locks_returns_each_refusal_code_and_extends_the_rest(
    backend: SQLiteBackend, queue_name: str
) -> None:
    assert await backend.extend_locks(queue_name, [("1", "t")], LOCK, T0) == {
        "1": ErrorCode.JOB_NOT_EXIST
    }
    await backend.add_jobs(queue_name, [job() for _ in range(4)])
    mine = await fetched(backend, queue_name, "mine")
    theirs = await fetched(backend, queue_name, "theirs")
    done = await fetched(backend, queue_name, "done")
    await backend.move_to_finished(queue_name, done, "done", Completed("1"), T0)
    refused = await backend.extend_locks(
        queue_name,
        [(mine, "mine"), (theirs, "mine"), (done, "done"), ("4", "mine"), ("nope", "mine")],
        LOCK,
        T0 + 10,
    )
    assert refused == {
        theirs: ErrorCode.JOB_LOCK_MISMATCH,
        done: ErrorCode.JOB_LOCK_NOT_EXIST,
        "4": ErrorCode.JOB_LOCK_NOT_EXIST,
        "nope": ErrorCode.JOB_NOT_EXIST,
    }
    # The one that was extended outlives its first lock; the refused one does not.
    await backend.move_to_finished(queue_name, mine, "mine", Completed("1"), T0 + LOCK + 1)
    with pytest.raises(MissingLockError):
        await backend.move_to_finished(queue_name, theirs, "theirs", Completed("1"), T0 + LOCK + 1)


@pytest.mark.parametrize("outcome", ["completed", "failed"])
async def test_moving_a_finished_job_says_it_already_finished(
    backend: SQLiteBackend, queue_name: str, outcome: str
) -> None:
    await backend.add_jobs(queue_name, [job()])
    a = await fetched(backend, queue_name)
    end = Completed("1") if outcome == "completed" else Failed("boom")
    await backend.move_to_finished(queue_name, a, "t1", end, T0)
    before = await backend.get_job(queue_name, a)
    moves: dict[str, Callable[[], Awaitable[object]]] = {
        "move_to_finished": lambda: backend.move_to_finished(
            queue_name, a, "t1", Completed("2"), T0
        ),
        "retry_job": lambda: backend.retry_job(queue_name, a, "t1", Retry("again"), T0),
        "move_to_wait": lambda: backend.move_to_wait(queue_name, a, "t1", T0),
        "extend_lock": lambda: backend.extend_lock(queue_name, a, "t1", LOCK, T0),
    }
    for operation, move in moves.items():
        with pytest.raises(MissingLockError) as refused:
            await move()
        assert str(refused.value) == (
            f"job '1' already {outcome}, so its lock is gone ({operation}): a job finishes once"
        )
        assert refused.value.operation == operation
    assert await backend.get_job(queue_name, a) == before


async def test_promote_and_reprocess_refusals_say_the_jobs_state(
    backend: SQLiteBackend, queue_name: str
) -> None:
    await backend.add_jobs(queue_name, [job(), job("d", delay_ms=10_000)])
    with pytest.raises(JobNotFoundError):
        await backend.promote(queue_name, "nope")
    with pytest.raises(JobStateError, match=r"job '1' is waiting, not delayed \(promote\)"):
        await backend.promote(queue_name, "1")
    await fetched(backend, queue_name)
    await backend.move_to_finished(queue_name, "1", "t1", Completed('"r"'), T0)
    with pytest.raises(JobStateError, match=r"job '1' is completed, not failed \(reprocess_job\)"):
        await backend.reprocess_job(queue_name, "1", JobState.FAILED, reset_attempts=False)
    with pytest.raises(JobStateError, match=r"job '2' is delayed, not completed"):
        await backend.reprocess_job(queue_name, "2", JobState.COMPLETED, reset_attempts=False)
    with pytest.raises(JobNotFoundError):
        await backend.reprocess_job(queue_name, "nope", JobState.FAILED, reset_attempts=False)
    assert await backend.get_state(queue_name, "1") is JobState.COMPLETED


async def test_reprocess_from_an_unfinished_state_is_a_programming_error(
    backend: SQLiteBackend, queue_name: str
) -> None:
    await backend.add_jobs(queue_name, [job()])
    with pytest.raises(ValueError, match="'completed' or 'failed', not 'waiting'"):
        await backend.reprocess_job(queue_name, "1", JobState.WAITING, reset_attempts=False)
    assert await backend.get_state(queue_name, "1") is JobState.WAITING


async def test_remove_job_refuses_a_live_lock_by_the_callers_now(
    backend: SQLiteBackend, queue_name: str
) -> None:
    await backend.add_jobs(queue_name, [job()])
    a = await fetched(backend, queue_name)
    with pytest.raises(JobStateError, match=r"job '1' is locked by a worker") as refused:
        await backend.remove_job(queue_name, a, T0 + LOCK - 1)
    assert refused.value.operation == "remove_job"
    assert await backend.get_state(queue_name, a) is JobState.ACTIVE
    assert await backend.remove_job(queue_name, a, T0 + LOCK)  # the lock has expired
    assert await backend.get_state(queue_name, a) is JobState.UNKNOWN


async def test_obliterate_refusals_name_the_queue_and_the_active_count(
    backend: SQLiteBackend, queue_name: str
) -> None:
    with pytest.raises(ObliterateError, match=f"queue '{queue_name}': it is not paused"):
        await backend.obliterate(queue_name, force=False)  # a queue never used
    await backend.add_jobs(queue_name, [job(), job(), job()])
    with pytest.raises(ObliterateError, match="not paused; pause it first"):
        await backend.obliterate(queue_name, force=True)
    await fetched(backend, queue_name, "a")
    await fetched(backend, queue_name, "b")
    await backend.pause(queue_name)
    with pytest.raises(
        ObliterateError, match=f"cannot obliterate queue '{queue_name}': it has 2 active job"
    ):
        await backend.obliterate(queue_name, force=False)
    counts = await backend.get_counts(queue_name, [JobState.ACTIVE, JobState.WAITING])
    assert counts == {JobState.ACTIVE: 2, JobState.WAITING: 1}
    await backend.obliterate(queue_name, force=True)
    assert await backend.get_counts(queue_name, [JobState.ACTIVE]) == {JobState.ACTIVE: 0}
