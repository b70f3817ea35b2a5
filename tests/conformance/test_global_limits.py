"""Global concurrency and global rate limits, set on the queue and obeyed by
every worker whatever its own settings; and the worker list."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from corral import Queue, RateLimiter, WorkerInfo
from tests.conformance.conftest import ApiClock, WorkerFactory
from tests.conformance.test_worker_run import counts_reach
from tests.support import wait_until


async def listed(queue: Queue, n: int) -> list[WorkerInfo]:
    """The queue's workers once exactly ``n`` are listed (a worker records itself in
    the background after its first fetch; on Redis a closed worker's connection goes
    a moment after its close returns; on a loaded Cluster, many moments)."""
    workers: list[WorkerInfo] = []

    async def n_listed() -> bool:
        nonlocal workers
        workers = await queue.get_workers()
        return len(workers) == n

    await wait_until(n_listed, 30, f"{n} workers listed")
    return workers


async def test_global_concurrency_caps_active_jobs_across_workers(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    assert await queue.get_global_concurrency() is None
    for i in range(4):
        await queue.add("j", {"i": i})
    await queue.set_global_concurrency(2)
    assert await queue.get_global_concurrency() == 2
    one, two = make_worker(concurrency=5), make_worker(concurrency=5)
    first = await one.get_next_job("a", block=False)
    second = await two.get_next_job("b", block=False)
    assert first is not None
    assert second is not None
    assert await one.get_next_job("c", block=False) is None
    assert await two.get_next_job("d", block=False) is None
    await first.move_to_completed("ok", "a", fetch_next=False)
    assert await two.get_next_job("d", block=False) is not None
    await queue.remove_global_concurrency()
    assert await queue.get_global_concurrency() is None
    assert await one.get_next_job("e", block=False) is not None


async def test_global_rate_limit_holds_every_worker(
    queue: Queue, make_worker: WorkerFactory, clock: ApiClock
) -> None:
    for i in range(5):
        await queue.add("j", {"i": i})
    await queue.set_global_rate_limit(2, 60)
    assert await queue.get_global_rate_limit() == RateLimiter(max=2, duration=60.0)
    plain = make_worker()
    limited = make_worker(limiter=RateLimiter(max=100, duration=60))  # the queue's max wins
    assert await plain.get_next_job("a", block=False) is not None
    assert await limited.get_next_job("b", block=False) is not None
    assert await plain.get_next_job("c", block=False) is None
    assert await limited.get_next_job("d", block=False) is None
    assert plain.rate_limited_for > 0
    assert 0 < await queue.get_rate_limit_ttl() <= 60
    await clock.advance(61)
    assert await plain.get_next_job("e", block=False) is not None
    await queue.remove_global_rate_limit()
    assert await queue.get_global_rate_limit() is None


async def test_global_limits_refuse_bad_values(queue: Queue) -> None:
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        await queue.set_global_concurrency(0)
    with pytest.raises(TypeError, match="concurrency must be a whole number"):
        await queue.set_global_concurrency(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max must be >= 1"):
        await queue.set_global_rate_limit(0, 1)
    with pytest.raises(ValueError, match="duration"):
        await queue.set_global_rate_limit(1, 0)
    assert await queue.get_global_concurrency() is None
    assert await queue.get_global_rate_limit() is None


async def test_running_worker_obeys_global_concurrency(
    queue: Queue, make_worker: WorkerFactory
) -> None:
    await queue.set_global_concurrency(1)
    running = 0
    most = 0

    async def work(job: object) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1

    for i in range(6):
        await queue.add("j", {"i": i})
    workers = [make_worker(processor=work, concurrency=3) for _ in range(2)]
    async with workers[0], workers[1]:
        await wait_until(counts_reach(queue, "completed", 6), 30, "six completed jobs")
    assert most == 1


async def test_get_workers_lists_running_and_manual_workers(
    url: str, queue: Queue, make_worker: WorkerFactory
) -> None:
    assert await queue.get_workers() == []
    manual = make_worker(name="hand")
    await queue.add("j", {})
    job = await manual.get_next_job("t", block=False)
    assert job is not None
    workers = await listed(queue, 1)
    assert [w.name for w in workers] == ["hand"]
    (info,) = workers
    assert info.started_at <= info.last_seen
    if url.startswith("sqlite"):
        assert info.pid == os.getpid()
        assert info.host == socket.gethostname()
    else:
        assert info.pid is None
        assert info.host
    await manual.close()
    assert await listed(queue, 0) == []
