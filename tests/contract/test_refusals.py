"""Every refusal of the contract: the exception :func:`corral.errors.error_from_code`
makes for its code, the same type *and* the same message on every backend, with
the job's state where the refusal carries it; and a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from corral.backends.base import Backend, Completed, Failed, JobState, Retry
from corral.errors import CorralError, ErrorCode, JobError, error_from_code
from tests.contract.support import LOCK_MS, Clock, StoreAccess, fetch_one, job, snapshot

Setup = Callable[[Backend, str, Clock, StoreAccess], Awaitable[str]]
Call = Callable[[Backend, str, str, Clock], Awaitable[object]]


# -- situations: each leaves one job (or none) and returns its id ----------------------


async def missing(backend: Backend, queue: str, clock: Clock, store: StoreAccess) -> str:
    await backend.add_jobs(queue, [job(at=clock.now)])  # the queue exists, the job does not
    return "nope"


async def waiting(backend: Backend, queue: str, clock: Clock, store: StoreAccess) -> str:
    (job_id,) = await backend.add_jobs(queue, [job(at=clock.now)])
    return job_id


async def active(backend: Backend, queue: str, clock: Clock, store: StoreAccess) -> str:
    await backend.add_jobs(queue, [job(at=clock.now)])
    return (await fetch_one(backend, queue, clock, "t1")).id


async def expired(backend: Backend, queue: str, clock: Clock, store: StoreAccess) -> str:
    job_id = await active(backend, queue, clock, store)
    await clock.advance(LOCK_MS)
    return job_id


async def completed(backend: Backend, queue: str, clock: Clock, store: StoreAccess) -> str:
    job_id = await active(backend, queue, clock, store)
    await backend.move_to_finished(queue, job_id, "t1", Completed("1"), clock.now)
    return job_id


async def failed(backend: Backend, queue: str, clock: Clock, store: StoreAccess) -> str:
    job_id = await active(backend, queue, clock, store)
    await backend.move_to_finished(queue, job_id, "t1", Failed("x"), clock.now)
    return job_id


async def locked_but_waiting(backend: Backend, queue: str, clock: Clock, store: StoreAccess) -> str:
    job_id = await waiting(backend, queue, clock, store)
    await store.lock_without_fetching(queue, job_id, "t1", clock.now)
    return job_id


# -- operations ------------------------------------------------------------------------


def lock_move(name: str, token: str) -> Call:
    """The operation ``name`` that needs the job's lock, called with ``token``."""
    calls: dict[str, Call] = {
        "move_to_finished": lambda b, q, i, c: b.move_to_finished(
            q, i, token, Completed("1"), c.now
        ),
        "retry_job": lambda b, q, i, c: b.retry_job(q, i, token, Retry("x"), c.now),
        "move_to_wait": lambda b, q, i, c: b.move_to_wait(q, i, token, c.now),
        "extend_lock": lambda b, q, i, c: b.extend_lock(q, i, token, LOCK_MS, c.now),
    }
    return calls[name]


OTHER_CALLS: dict[str, Call] = {
    "update_progress": lambda b, q, i, c: b.update_progress(q, i, "50"),
    "add_log": lambda b, q, i, c: b.add_log(q, i, "line"),
    "promote": lambda b, q, i, c: b.promote(q, i),
    "reprocess_job": lambda b, q, i, c: b.reprocess_job(
        q, i, JobState.COMPLETED, reset_attempts=False
    ),
    "reprocess_job(failed)": lambda b, q, i, c: b.reprocess_job(
        q, i, JobState.FAILED, reset_attempts=False
    ),
    "remove_job": lambda b, q, i, c: b.remove_job(q, i, c.now),
}


@dataclass(frozen=True)
class Case:
    id: str
    setup: Setup
    operation: str
    call: Call
    code: ErrorCode
    state: str | None = None
    """The state the refusal reports (what the message says the job is)."""
    expected: str | None = None
    """The state the operation needed, where the operation alone does not say."""

    def error(self, job_id: str) -> CorralError:
        """The exception the contract says this refusal raises."""
        return error_from_code(
            self.code,
            operation=self.operation,
            job_id=job_id,
            state=self.state,
            expected=self.expected,
        )


LOCK_MOVES = ("move_to_finished", "retry_job", "move_to_wait", "extend_lock")
C = ErrorCode


def _cases() -> list[Case]:
    cases: list[Case] = []
    for op in LOCK_MOVES:
        call, theirs = lock_move(op, "t1"), lock_move(op, "theirs")
        cases += [
            Case(f"{op}-missing-job", missing, op, call, C.JOB_NOT_EXIST),
            Case(f"{op}-expired-lock", expired, op, call, C.JOB_LOCK_NOT_EXIST, "active"),
            Case(f"{op}-never-fetched", waiting, op, call, C.JOB_LOCK_NOT_EXIST, "waiting"),
            Case(f"{op}-another-token", active, op, theirs, C.JOB_LOCK_MISMATCH, "active"),
            Case(f"{op}-completed", completed, op, call, C.JOB_LOCK_NOT_EXIST, "completed"),
            Case(f"{op}-failed", failed, op, call, C.JOB_LOCK_NOT_EXIST, "failed"),
        ]
        if op != "extend_lock":  # its refusals are -1, -2 and -6 only
            cases.append(
                Case(
                    f"{op}-not-active", locked_but_waiting, op, call, C.JOB_NOT_IN_STATE, "waiting"
                )
            )
    other = OTHER_CALLS
    cases += [
        Case("update_progress-missing-job", missing, "update_progress", other["update_progress"], C.JOB_NOT_EXIST),
        Case("add_log-missing-job", missing, "add_log", other["add_log"], C.JOB_NOT_EXIST),
        Case("promote-missing-job", missing, "promote", other["promote"], C.JOB_NOT_EXIST),
        Case("promote-waiting", waiting, "promote", other["promote"], C.JOB_NOT_IN_STATE, "waiting"),
        Case("promote-active", active, "promote", other["promote"], C.JOB_NOT_IN_STATE, "active"),
        Case("promote-completed", completed, "promote", other["promote"], C.JOB_NOT_IN_STATE, "completed"),
        Case("reprocess_job-missing-job", missing, "reprocess_job", other["reprocess_job"], C.JOB_NOT_EXIST),
        Case("reprocess_job-waiting", waiting, "reprocess_job", other["reprocess_job"], C.JOB_NOT_IN_STATE, "waiting", "completed"),
        Case("reprocess_job-completed-as-failed", completed, "reprocess_job", other["reprocess_job(failed)"], C.JOB_NOT_IN_STATE, "completed", "failed"),
        Case("reprocess_job-failed-as-completed", failed, "reprocess_job", other["reprocess_job"], C.JOB_NOT_IN_STATE, "failed", "completed"),
        Case("remove_job-locked", active, "remove_job", other["remove_job"], C.JOB_LOCKED),
    ]  # fmt: skip
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_refusal_raises_the_contracts_exception_and_message_and_changes_nothing(
    backend: Backend, queue: str, clock: Clock, store: StoreAccess, case: Case
) -> None:
    job_id = await case.setup(backend, queue, clock, store)
    before = await snapshot(backend, queue, job_id)
    expected = case.error(job_id)
    with pytest.raises(JobError) as refused:
        await case.call(backend, queue, job_id, clock)
    assert type(refused.value) is type(expected)
    assert str(refused.value) == str(expected)
    assert (refused.value.job_id, refused.value.operation) == (job_id, case.operation)
    assert await snapshot(backend, queue, job_id) == before


async def test_a_job_whose_lock_expired_can_be_removed(
    backend: Backend, queue: str, clock: Clock, store: StoreAccess
) -> None:
    job_id = await expired(backend, queue, clock, store)
    assert await backend.remove_job(queue, job_id, clock.now)
    assert await backend.get_state(queue, job_id) is JobState.UNKNOWN


async def test_obliterating_a_queue_that_is_not_paused_is_refused(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    before = await snapshot(backend, queue, "1")
    expected = error_from_code(C.QUEUE_NOT_PAUSED, operation="obliterate", queue=queue)
    with pytest.raises(type(expected)) as refused:
        await backend.obliterate(queue, force=False)
    assert str(refused.value) == str(expected)
    assert await snapshot(backend, queue, "1") == before


async def test_obliterating_a_queue_with_active_jobs_needs_force(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now), job(at=clock.now)])
    await fetch_one(backend, queue, clock)
    await backend.pause(queue)
    before = await snapshot(backend, queue, "1", "2")
    expected = error_from_code(
        C.QUEUE_HAS_ACTIVE_JOBS, operation="obliterate", queue=queue, count=1
    )
    with pytest.raises(type(expected)) as refused:
        await backend.obliterate(queue, force=False)
    assert str(refused.value) == str(expected)
    assert await snapshot(backend, queue, "1", "2") == before
