"""Rate limits: a fetch's limiter window (at most ``max`` jobs per ``duration_ms``
across the queue's workers) and ``rate_limit``, which stops every fetch."""

from __future__ import annotations

from corral.backends.base import Backend, Completed, Limiter
from tests.contract.support import Clock, about, fetch_one, job, req

WINDOW_MS = 10_000


async def test_the_limiter_hands_out_max_jobs_per_window(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now) for _ in range(5)])
    limit = req(limiter=Limiter(max=2, duration_ms=WINDOW_MS))
    assert (await backend.move_to_active(queue, limit, clock.now)).job is not None
    await clock.advance(1_000)
    assert (await backend.move_to_active(queue, limit, clock.now)).job is not None
    await clock.advance(1_000)
    full = await backend.move_to_active(queue, limit, clock.now)
    assert full.job is None
    assert about(full.rate_limited_for_ms, WINDOW_MS - 2_000)
    # the window is the queue's: another worker with the same limiter waits too
    other = await backend.move_to_active(queue, req("t2", limiter=limit.limiter), clock.now)
    assert other.job is None
    await clock.advance(WINDOW_MS - 2_000)
    assert (await backend.move_to_active(queue, limit, clock.now)).job is not None
    assert (await backend.move_to_active(queue, limit, clock.now)).job is not None
    assert (await backend.move_to_active(queue, limit, clock.now)).job is None


async def test_a_full_limiter_window_does_not_stop_a_fetch_without_a_limiter(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now) for _ in range(2)])
    one = req(limiter=Limiter(max=1, duration_ms=WINDOW_MS))
    assert (await backend.move_to_active(queue, one, clock.now)).job is not None
    assert (await backend.move_to_active(queue, one, clock.now)).job is None
    assert (await backend.move_to_active(queue, req(), clock.now)).job is not None


async def test_a_rate_limited_queue_keeps_its_jobs_waiting(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now)])
    await backend.rate_limit(queue, 5_000, clock.now)
    assert (await backend.move_to_active(queue, req(), clock.now)).job is None
    await clock.advance(5_000)
    assert (await fetch_one(backend, queue, clock)).id == "1"


async def test_rate_limit_stops_every_fetch_until_the_window_passes(
    backend: Backend, queue: str, clock: Clock
) -> None:
    await backend.add_jobs(queue, [job(at=clock.now) for _ in range(3)])
    a = await fetch_one(backend, queue, clock)
    await backend.rate_limit(queue, 5_000, clock.now)
    await clock.advance(1_000)
    assert about(await backend.get_rate_limit_ttl(queue, clock.now), 4_000)
    plain = await backend.move_to_active(queue, req(), clock.now)
    assert plain.job is None
    assert about(plain.rate_limited_for_ms, 4_000)
    with_limiter = req(limiter=Limiter(max=100, duration_ms=WINDOW_MS))
    by_limiter = await backend.move_to_active(queue, with_limiter, clock.now)
    assert by_limiter.job is None
    assert about(by_limiter.rate_limited_for_ms, 4_000)
    # finishing with a fetch hands out nothing either
    after = await backend.move_to_finished(queue, a.id, "t1", Completed("1"), clock.now, req())
    assert after is not None
    assert after.job is None
    await clock.advance(4_000)
    assert await backend.get_rate_limit_ttl(queue, clock.now) == 0
    assert (await backend.move_to_active(queue, req(), clock.now)).job is not None


async def test_a_queue_never_limited_has_no_rate_limit(
    backend: Backend, queue: str, clock: Clock
) -> None:
    assert await backend.get_rate_limit_ttl(queue, clock.now) == 0
    await backend.add_jobs(queue, [job(at=clock.now)])
    assert await backend.get_rate_limit_ttl(queue, clock.now) == 0


async def test_a_full_worker_limiter_window_is_not_a_queue_rate_limit(
    backend: Backend, queue: str, clock: Clock
) -> None:
    # The window a fetch's limiter fills belongs to the fetching workers: the queue
    # itself reports no rate limit, and a job put back says there is none (as
    # Node's getRateLimitTtl and moveJobFromActiveToWait do without a global max).
    await backend.add_jobs(queue, [job(at=clock.now) for _ in range(2)])
    one = req(limiter=Limiter(max=1, duration_ms=WINDOW_MS))
    taken = (await backend.move_to_active(queue, one, clock.now)).job
    assert taken is not None
    assert (await backend.move_to_active(queue, one, clock.now)).rate_limited_for_ms > 0
    assert await backend.get_rate_limit_ttl(queue, clock.now) == 0
    assert await backend.move_to_wait(queue, taken.id, "t1", clock.now) == 0
