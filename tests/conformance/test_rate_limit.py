"""Rate limits: a queue-wide pause by time, and a per-window worker limiter."""

from __future__ import annotations

import pytest

from corral import JobState, Queue, RateLimiter
from tests.conformance.conftest import ApiClock, WorkerFactory


async def test_rate_limit_stops_every_worker_until_the_window_passes(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("a", {})
    await queue.rate_limit(60)
    assert 0 < await queue.get_rate_limit_ttl() <= 60
    plain = make_worker()
    limited = make_worker(limiter=RateLimiter(max=100, duration=1))
    assert await plain.get_next_job("t", block=False) is None
    assert await limited.get_next_job("t", block=False) is None
    assert plain.rate_limited_for > 0
    await clock.advance(61)
    assert await queue.get_rate_limit_ttl() == 0
    job = await plain.get_next_job("t", block=False)
    assert job is not None


async def test_rate_limited_fetch_does_not_block_for_drain_delay(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.add("a", {})
    await queue.rate_limit(30)
    worker = make_worker(drain_delay=30)
    # Returns at once with None (the pytest timeout would catch a 30 s block).
    assert await worker.get_next_job("t") is None
    assert await queue.get_job_state("1") == JobState.WAITING


async def test_limiter_allows_max_jobs_per_window(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    for i in range(5):
        await queue.add("j", {"i": i})
    worker = make_worker(limiter=RateLimiter(max=2, duration=30))
    other = make_worker(limiter=RateLimiter(max=2, duration=30))
    a = await worker.get_next_job("t", block=False)
    b = await other.get_next_job("t", block=False)
    assert a is not None
    assert b is not None
    assert await worker.get_next_job("t", block=False) is None
    assert worker.rate_limited_for > 0
    await clock.advance(31)
    assert await worker.get_next_job("t", block=False) is not None


async def test_rate_limit_duration_is_validated(queue: Queue) -> None:
    with pytest.raises(ValueError, match="duration must be > 0"):
        await queue.rate_limit(0)
    with pytest.raises(ValueError, match="limiter max must be >= 1"):
        RateLimiter(max=0, duration=1)


async def test_rate_limit_then_move_to_wait_uses_no_attempt(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    await queue.add("throttled", {}, attempts=1)
    worker = make_worker()
    job = await worker.get_next_job("t")
    assert job is not None
    await queue.rate_limit(60)
    await job.move_to_wait("t")
    assert await worker.get_next_job("t", block=False) is None
    await clock.advance(61)
    again = await worker.get_next_job("t", block=False)
    assert again is not None
    assert again.attempts_made == 0
    await again.move_to_completed("ok", "t", fetch_next=False)


async def test_move_to_wait_tells_how_long_the_queue_is_rate_limited(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    for i in range(3):
        await queue.add("j", {"i": i})
    # A worker limiter whose window is not full does not count as a rate limit.
    worker = make_worker(limiter=RateLimiter(max=10, duration=30))
    job = await worker.get_next_job("t", block=False)
    assert job is not None
    assert await job.move_to_wait("t") == 0.0
    job = await worker.get_next_job("t", block=False)
    assert job is not None
    await queue.rate_limit(5)
    left = await job.move_to_wait("t")
    assert 0 < left <= 5
