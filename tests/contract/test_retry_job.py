"""retry_job: a failed attempt goes back, at once (back of its line) or delayed until
``now + delay_ms``, optionally fetching the next job in the same step."""

from __future__ import annotations

from corral.backends.base import Backend, Fetched, JobState, Retry
from tests.contract.support import Clock, drain, events_after, fetch_one, job, req


async def test_an_immediate_retry_goes_to_the_back_of_wait(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("a", at=clock.now), job("b", at=clock.now)])
    a = await fetch_one(backend, queue, clock)
    cursor = await backend.events_cursor(queue)
    assert await backend.retry_job(queue, a.id, "t1", Retry("boom", '["x"]'), clock.now) is None
    again = await backend.get_job(queue, a.id)
    assert again is not None
    assert (again.attempts_made, again.failed_reason, again.stacktrace) == (1, "boom", '["x"]')
    assert await backend.get_state(queue, a.id) is JobState.WAITING
    assert await events_after(backend, queue, cursor) == [
        ("waiting", {"jobId": a.id, "prev": "active"})
    ]
    assert await drain(backend, queue, clock) == ["b", "a"]


async def test_an_immediate_retry_keeps_the_job_lifo_or_prioritized(
    backend: Backend, queue: str, clock: Clock
) -> None:
    at = clock.now
    await backend.add_jobs(queue, [job("l", at=at, lifo=True), job("a", at=at)])
    lifo = await fetch_one(backend, queue, clock)
    assert lifo.name == "l"
    await backend.retry_job(queue, lifo.id, "t1", Retry("x"), clock.now)
    assert await drain(backend, queue, clock) == ["l", "a"]

    await backend.add_jobs(queue, [job("p", at=at, priority=7), job("q", at=at, priority=7)])
    p = await fetch_one(backend, queue, clock)
    assert p.name == "p"
    await backend.retry_job(queue, p.id, "t1", Retry("x"), clock.now)
    assert await backend.get_state(queue, p.id) is JobState.PRIORITIZED
    await backend.add_jobs(queue, [job("plain", at=at)])
    assert await drain(backend, queue, clock) == ["plain", "q", "p"]


async def test_a_delayed_retry_waits_until_now_plus_the_delay(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    await clock.advance(50)
    retried_at = clock.now
    cursor = await backend.events_cursor(queue)
    await backend.retry_job(queue, got.id, "t1", Retry("later", delay_ms=1_000), retried_at)
    assert await backend.get_state(queue, got.id) is JobState.DELAYED
    delayed = await backend.get_job(queue, got.id)
    assert delayed is not None
    assert (delayed.delay_ms, delayed.attempts_made, delayed.failed_reason) == (1_000, 1, "later")
    assert await events_after(backend, queue, cursor) == [
        ("delayed", {"jobId": got.id, "delay": str(retried_at + 1_000)})
    ]
    await clock.advance(999)
    early = await backend.move_to_active(queue, req(), clock.now)
    assert early == Fetched(None, next_delayed_at_ms=retried_at + 1_000)
    await clock.advance(1)
    again = await fetch_one(backend, queue, clock, "t2")
    assert (again.id, again.attempts_made, again.attempts_started, again.delay_ms) == (
        got.id,
        1,
        2,
        0,
    )


async def test_a_retry_can_fetch_the_next_job_in_the_same_step(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job("a", at=clock.now), job("b", at=clock.now)])
    a = await fetch_one(backend, queue, clock)
    nxt = await backend.retry_job(queue, a.id, "t1", Retry("x"), clock.now, req("t2"))
    assert nxt is not None
    assert nxt.job is not None
    assert nxt.job.name == "b"
    again = await backend.retry_job(queue, nxt.job.id, "t2", Retry("x"), clock.now, req("t3"))
    assert again is not None
    assert again.job is not None
    assert (again.job.id, again.job.attempts_made) == (a.id, 1)
    assert await backend.get_state(queue, a.id) is JobState.ACTIVE


async def test_a_delayed_retry_with_a_fetch_reports_when_the_job_falls_due(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    got = await fetch_one(backend, queue, clock)
    result = await backend.retry_job(
        queue, got.id, "t1", Retry("x", delay_ms=2_000), clock.now, req()
    )
    assert result == Fetched(None, next_delayed_at_ms=clock.now + 2_000)
