"""move_to_active: which job comes next, how it is locked, and what the fetch records."""

from __future__ import annotations

from corral.backends.base import Backend, Fetched, JobState
from tests.contract.support import Clock, drain, events_after, fetch_one, job, req


async def test_lifo_jobs_first_then_plain_oldest_first_then_by_priority(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(
        queue,
        [
            job("p2a", at=at, priority=2),
            job("a", at=at),
            job("p1", at=at, priority=1),
            job("l1", at=at, lifo=True),
            job("b", at=at),
            job("l2", at=at, lifo=True),
            job("p2b", at=at, priority=2),
        ],
    )
    assert await drain(backend, queue, clock) == ["l2", "l1", "a", "b", "p1", "p2a", "p2b"]


async def test_an_empty_queue_hands_out_nothing(backend: Backend, queue: str, clock: Clock) -> None:
    assert await backend.move_to_active(queue, req(), clock.now) == Fetched(None)


async def test_due_delayed_jobs_are_promoted_before_the_fetch(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(
        queue,
        [job("late", at=at, delay_ms=1_000), job("now", at=at), job("dp", at=at, delay_ms=500)],
    )
    assert (await fetch_one(backend, queue, clock)).name == "now"
    early = await backend.move_to_active(queue, req(), clock.now)
    assert early == Fetched(None, next_delayed_at_ms=at + 500)
    await clock.advance(1_000)
    cursor = await backend.events_cursor(queue)
    assert await drain(backend, queue, clock) == ["dp", "late"]
    promoted = await backend.get_job(queue, "1")
    assert promoted is not None
    assert promoted.delay_ms == 0
    events = await events_after(backend, queue, cursor)
    assert ("waiting", {"jobId": "1", "prev": "delayed"}) in events
    assert ("waiting", {"jobId": "3", "prev": "delayed"}) in events


async def test_a_due_delayed_job_joins_the_back_of_the_line_when_a_fetch_promotes_it(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(queue, [job("d", at=at, delay_ms=100), job("a", at=at)])
    await clock.advance(100)
    # b was added after d fell due, but d only moves when a fetch promotes it
    await backend.add_jobs(queue, [job("b", at=clock.now)])
    assert await drain(backend, queue, clock) == ["a", "b", "d"]


async def test_a_promoted_prioritized_job_is_ordered_by_its_priority(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(
        queue,
        [job("p3", at=at, priority=3), job("dp1", at=at, delay_ms=100, priority=1)],
    )
    await clock.advance(100)
    assert await drain(backend, queue, clock) == ["dp1", "p3"]


async def test_the_fetch_locks_the_job_and_records_the_activation(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("a", at=clock.now)])
    await clock.advance(5)
    cursor = await backend.events_cursor(queue)
    got = await fetch_one(backend, queue, clock, "tok-1", worker_name="w1")
    assert (got.id, got.attempts_started, got.attempts_made) == ("1", 1, 0)
    assert got.processed_on_ms == clock.now
    assert got.processed_by == "w1"
    assert got.data == '{"n":1}'
    assert got.opts == '{"attempts":0}'
    assert await backend.get_job(queue, "1") == got
    assert await backend.get_state(queue, "1") is JobState.ACTIVE
    assert await events_after(backend, queue, cursor) == [
        ("active", {"jobId": "1", "prev": "waiting"})
    ]


async def test_every_fetch_counts_an_attempt_started(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    first = await fetch_one(backend, queue, clock, "t1")
    await backend.move_to_wait(queue, first.id, "t1", clock.now)
    again = await fetch_one(backend, queue, clock, "t2")
    assert (again.id, again.attempts_started, again.attempts_made) == (first.id, 2, 0)
