"""Stopping a worker while Redis is down, jobs running: closing always finishes.

Jobs that cannot be handed back keep their locks and stall back once Redis is up
again; the reason is one log line; ``corral worker`` exits 0 on SIGTERM (a
requested stop), without a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral import Job, Queue, Worker
from tests.chaos.conftest import Agents
from tests.conftest import RedisServer, start_redis_server, stop_redis_server
from tests.support import wait_until

pytestmark = pytest.mark.timeout(300)


class Restartable:
    """A redis-server whose every acknowledged write survives a SIGKILL (AOF, always)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server: RedisServer = start_redis_server(
            workdir, appendonly=True, appendfsync="always"
        )
        self.url = self.server.url

    def crash(self) -> None:
        assert self.server.proc is not None
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait()

    def start(self) -> None:
        self.server = start_redis_server(
            self.workdir, appendonly=True, appendfsync="always", port=self.server.port
        )

    def stop(self) -> None:
        stop_redis_server(self.server)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Restartable]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = Restartable(workdir)
    try:
        yield server
    finally:
        server.stop()


until = functools.partial(wait_until, every=0.1)


async def test_close_with_jobs_running_and_redis_down_finishes_and_the_jobs_stall_back(
    redis: Restartable, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{redis.url}?socket_timeout=1&socket_connect_timeout=1"

    async def slow(job: Job) -> str:
        await asyncio.sleep(60)
        return "too late"

    async with Queue(queue_name, url=url) as queue:
        for i in range(3):
            await queue.add("slow", {"i": i})
        worker = Worker(queue_name, slow, url=url, concurrency=3, lock_duration=2)
        running = asyncio.create_task(worker.run())

        async def all_active() -> bool:
            return (await queue.get_job_counts("active"))["active"] == 3

        await until(all_active, 30, "three jobs running")
        redis.crash()
        # Bounded only so that a hang fails the test instead of stalling it.
        await asyncio.wait_for(worker.close(grace=0.5), 30)
        assert worker.closed
        await asyncio.wait_for(running, 5)  # run() ended cleanly too
        gave_up = [r for r in caplog.records if "could not be returned to wait" in r.getMessage()]
        assert len(gave_up) == 1, [r.getMessage() for r in caplog.records]
        assert "3 of 3" in gave_up[0].getMessage()

        # Up again: the jobs kept their locks, which expire, and they stall back.
        redis.start()
        again = Worker(queue_name, None, url=url, stalled_interval=0.2, lock_duration=5)
        try:

            async def stalled_back() -> bool:
                await again.check_stalled_jobs()
                return (await queue.get_job_counts("waiting"))["waiting"] == 3

            await until(stalled_back, 30, "the jobs to stall back")
        finally:
            await again.close()


async def test_corral_worker_exits_0_on_sigterm_with_redis_down(
    redis: Restartable, queue_name: str, agents: Agents, report: list[str]
) -> None:
    url = f"{redis.url}?socket_timeout=1&socket_connect_timeout=1"
    async with Queue(queue_name, url=redis.url) as queue:
        for i in range(2):
            await queue.add("slow", {"n": i, "ms": 60_000})
        cli = agents.spawn_cli_worker(url, queue_name, concurrency=2, lock=5, stalled=1)

        async def all_active() -> bool:
            return (await queue.get_job_counts("active"))["active"] == 2

        await until(all_active, 30, "two jobs running")
    before = len(cli.output().splitlines())
    redis.crash()
    await asyncio.sleep(0.5)
    started = time.monotonic()
    code = await asyncio.to_thread(cli.stop, 60)
    took = time.monotonic() - started
    out = cli.output()
    after = out.splitlines()[before:]
    about = [line for line in after if "could not be returned" in line]
    report.append(
        f"corral worker exited {code} after {took:.1f}s (grace 10s), {len(about)} line on "
        f"the jobs it could not hand back ({len(after)} lines in all while Redis was down)"
    )
    assert code == 0, out
    assert "Traceback" not in out, out
    assert "never retrieved" not in out, out
    assert len(about) == 1, after
