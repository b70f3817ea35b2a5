"""move_to_finished: what completing or failing records, the next fetch in the same
step, ``drained``, and retention (:class:`KeepJobs`) by count and by age."""

from __future__ import annotations

import asyncio

import pytest

from corral.backends.base import Backend, Completed, Failed, JobState, KeepJobs
from tests.contract.support import Clock, events_after, fetch_one, job, req


async def test_completing_records_the_result_and_the_time(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    await clock.advance(7)
    cursor = await backend.events_cursor(queue)
    assert await backend.move_to_finished(queue, got.id, "t1", Completed('"ok"'), clock.now) is None
    done = await backend.get_job(queue, got.id)
    assert done is not None
    assert (done.return_value, done.finished_on_ms, done.attempts_made) == ('"ok"', clock.now, 1)
    assert done.processed_on_ms == clock.now - 7
    assert await backend.get_state(queue, got.id) is JobState.COMPLETED
    assert await events_after(backend, queue, cursor) == [
        ("completed", {"jobId": got.id, "returnvalue": '"ok"', "prev": "active"}),
        ("drained", {}),
    ]


async def test_failing_records_the_reason_and_the_stacktrace(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    await clock.advance(3)
    outcome = Failed("boom", '["at x"]', attempts=1)
    cursor = await backend.events_cursor(queue)
    await backend.move_to_finished(queue, got.id, "t1", outcome, clock.now)
    failed = await backend.get_job(queue, got.id)
    assert failed is not None
    assert (failed.failed_reason, failed.stacktrace) == ("boom", '["at x"]')
    assert (failed.finished_on_ms, failed.attempts_made) == (clock.now, 1)
    assert await backend.get_state(queue, got.id) is JobState.FAILED
    assert await events_after(backend, queue, cursor) == [
        ("failed", {"jobId": got.id, "failedReason": "boom", "prev": "active"}),
        ("retries-exhausted", {"jobId": got.id, "attemptsMade": "1"}),
        ("drained", {}),
    ]


async def test_retries_are_exhausted_only_when_the_attempts_are_used_up(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    cursor = await backend.events_cursor(queue)
    await backend.move_to_finished(queue, got.id, "t1", Failed("boom", attempts=3), clock.now)
    names = [name for name, _ in await events_after(backend, queue, cursor)]
    assert names == ["failed", "drained"]


async def test_finishing_can_fetch_the_next_job_in_the_same_step(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("a", at=clock.now), job("b", at=clock.now)])
    a = await fetch_one(backend, queue, clock)
    cursor = await backend.events_cursor(queue)
    nxt = await backend.move_to_finished(
        queue, a.id, "t1", Completed("1"), clock.now, req("t2", worker_name="w2")
    )
    assert nxt is not None
    assert nxt.job is not None
    assert (nxt.job.name, nxt.job.attempts_started, nxt.job.processed_by) == ("b", 1, "w2")
    assert await backend.get_state(queue, nxt.job.id) is JobState.ACTIVE
    # the next job is locked with the fetch's token
    await backend.move_to_finished(queue, nxt.job.id, "t2", Completed("2"), clock.now)
    assert [name for name, _ in await events_after(backend, queue, cursor)] == [
        "completed",
        "active",
        "completed",
        "drained",
    ]


async def test_finishing_with_a_fetch_on_an_empty_queue_returns_no_job_and_drains(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    cursor = await backend.events_cursor(queue)
    result = await backend.move_to_finished(queue, got.id, "t1", Completed("1"), clock.now, req())
    assert result is not None
    assert result.job is None
    assert [name for name, _ in await events_after(backend, queue, cursor)] == [
        "completed",
        "drained",
    ]


async def test_a_queue_with_work_left_is_not_drained(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("a", at=clock.now), job("b", at=clock.now)])
    a = await fetch_one(backend, queue, clock, "ta")
    b = await fetch_one(backend, queue, clock, "tb")
    await backend.add_jobs(queue, [job("c", at=clock.now)])
    cursor = await backend.events_cursor(queue)
    await backend.move_to_finished(queue, a.id, "ta", Completed("1"), clock.now)  # c waits
    c = await fetch_one(backend, queue, clock, "tc")
    await backend.move_to_finished(queue, c.id, "tc", Completed("1"), clock.now)  # b active
    await backend.move_to_finished(queue, b.id, "tb", Completed("1"), clock.now)
    names = [name for name, _ in await events_after(backend, queue, cursor)]
    assert names == ["completed", "active", "completed", "completed", "drained"]


# -- retention -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keep", "left"),
    [
        (KeepJobs(count=0), []),
        (KeepJobs(count=2), ["4", "5"]),
        (KeepJobs(count=-1), ["1", "2", "3", "4", "5"]),
        (KeepJobs(), ["1", "2", "3", "4", "5"]),
    ],
)
async def test_retention_by_count_keeps_the_newest(
    backend: Backend, queue: str, clock: Clock, keep: KeepJobs, left: list[str]
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now) for _ in range(5)])
    for _ in range(5):
        got = await fetch_one(backend, queue, clock)
        await clock.advance(10)
        await backend.move_to_finished(queue, got.id, "t1", Completed("1", keep), clock.now)
    kept = [i for i in "12345" if await backend.get_job(queue, i) is not None]
    assert kept == left
    assert [await backend.get_state(queue, i) for i in left] == [JobState.COMPLETED] * len(left)
    counts = await backend.get_counts(queue, [JobState.COMPLETED])
    assert counts[JobState.COMPLETED] == len(left)


async def test_keeping_none_removes_the_job_and_its_logs(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    await backend.add_log(queue, got.id, "line")
    await backend.move_to_finished(
        queue, got.id, "t1", Failed("x", keep=KeepJobs(count=0)), clock.now
    )
    assert await backend.get_job(queue, got.id) is None
    assert await backend.get_state(queue, got.id) is JobState.UNKNOWN
    assert await backend.get_logs(queue, got.id) == ([], 0)


async def test_retention_counts_only_the_state_the_job_finished_in(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("f", at=clock.now), job("c", at=clock.now)])
    f = await fetch_one(backend, queue, clock)
    await backend.move_to_finished(queue, f.id, "t1", Failed("x"), clock.now)
    c = await fetch_one(backend, queue, clock)
    await clock.advance(10)
    await backend.move_to_finished(
        queue, c.id, "t1", Completed("1", KeepJobs(count=1, age_ms=1)), clock.now
    )
    assert await backend.get_state(queue, f.id) is JobState.FAILED
    assert await backend.get_state(queue, c.id) is JobState.COMPLETED


async def test_retention_by_age_removes_jobs_finished_longer_ago(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now) for _ in range(3)])
    for step in (0, 1_000, 4_000):  # finished at t, t+1000 and t+5000
        if step:
            await clock.advance(step)
        got = await fetch_one(backend, queue, clock)
        await backend.move_to_finished(
            queue, got.id, "t1", Failed("x", keep=KeepJobs(age_ms=2_000)), clock.now
        )
    states = [await backend.get_state(queue, i) for i in "123"]
    assert states == [JobState.UNKNOWN, JobState.UNKNOWN, JobState.FAILED]


async def test_retention_by_age_keeps_a_job_finished_exactly_that_long_ago(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now) for _ in range(2)])
    first = await fetch_one(backend, queue, clock)
    await backend.move_to_finished(queue, first.id, "t1", Completed("1"), clock.now)
    await clock.advance(1_000)
    second = await fetch_one(backend, queue, clock)
    keep = KeepJobs(age_ms=1_000)
    await backend.move_to_finished(queue, second.id, "t1", Completed("2", keep), clock.now)
    # "more than age_ms ago": the first finished exactly 1000 ms ago and stays
    assert await backend.get_state(queue, first.id) is JobState.COMPLETED


async def test_drained_is_reported_when_only_delayed_jobs_are_left_with_or_without_a_fetch(
    backend: Backend, queue: str, clock: Clock
) -> None:
    # As BullMQ's moveToFinished: nothing waiting, prioritized or active is drained,
    # whatever is delayed, and whether or not the finish also fetched.
    await backend.add_jobs(queue, [job("later", at=clock.now, delay_ms=60_000)])
    for fetch_next in (True, False):
        await backend.add_jobs(queue, [job("now", at=clock.now)])
        held = await fetch_one(backend, queue, clock)
        cursor = await backend.events_cursor(queue)
        fetch = req() if fetch_next else None
        got = await backend.move_to_finished(
            queue, held.id, "t1", Completed('"ok"'), clock.now, fetch
        )
        assert got is None or got.job is None
        names = [name for name, _ in await events_after(backend, queue, cursor)]
        assert "drained" in names, (fetch_next, names)


async def test_jobs_finished_together_count_in_the_metrics_as_one_by_one(
    backend: Backend, queue: str, clock: Clock
) -> None:
    """Finishes asked for at once (one store call on Redis) are counted in the
    per-minute metrics exactly as the same finishes one after the other, also when
    their times straddle minutes and completions and failures are mixed."""
    minute = (clock.now // 60_000 + 1) * 60_000
    plan = [  # (outcome, ms into the minutes from `minute`)
        ("completed", 1_000), ("completed", 2_000), ("failed", 3_000), ("completed", 61_000),
        ("failed", 62_000), ("completed", 63_000), ("completed", 185_000), ("failed", 186_000),
    ]  # fmt: skip

    def outcome(kind: str) -> Completed | Failed:
        return (
            Completed("1", metrics_max_points=10)
            if kind == "completed"
            else Failed("no", metrics_max_points=10)
        )

    async def run(name: str, together: bool) -> list[object]:
        await backend.add_jobs(name, [job(at=clock.now) for _ in plan])
        # Locked for long enough that the finishes' later times find the lock live.
        ids = [(await fetch_one(backend, name, clock, lock_duration_ms=600_000)).id for _ in plan]
        finishes = [
            (job_id, outcome(kind), minute + at)
            for job_id, (kind, at) in zip(ids, plan, strict=True)
        ]
        if together:
            await asyncio.gather(
                *(backend.move_to_finished(name, i, "t1", o, at) for i, o, at in finishes)
            )
        else:
            for job_id, done, at in finishes:
                await backend.move_to_finished(name, job_id, "t1", done, at)
        return [await backend.get_metrics(name, kind, 0, -1) for kind in ("completed", "failed")]

    one_by_one = await run(queue, together=False)
    together = await run(f"{queue}-together", together=True)
    assert together == one_by_one
    completed, failed = one_by_one
    assert (completed.count, completed.data) == (5, [0, 2, 2])  # type: ignore[attr-defined]
    assert (failed.count, failed.data) == (3, [0, 1, 1])  # type: ignore[attr-defined]
