"""Redis restarts under load: workers and producers ride through, nothing acknowledged is lost.

A private ``redis-server`` with AOF and ``appendfsync always`` (every write is on
disk before Redis answers it) is killed with SIGKILL, then restarted on the same
port and files; later it is restarted again with a clean shutdown. Meanwhile two
producers add jobs one at a time, retrying an add that fails with a store error
(one with custom job ids, so a retry is idempotent; one without), and three
workers (``Worker.run()``, the ``corral worker`` command line, a hand-driven loop)
process them.

Every add that returned is completed in the end; an add that was retried may
exist twice only without a custom id; every worker keeps working after the
restarts without being restarted itself, and says what happened in its log.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral import Queue
from tests.chaos.agent import read_records
from tests.chaos.conftest import Agents
from tests.conftest import RedisServer, start_redis_server, stop_redis_server
from tests.support import wait_until

PER_PRODUCER = 500
FINISH_WITHIN = 150.0

pytestmark = pytest.mark.timeout(420)  # above the waits' own generous bounds


class RestartingRedis:
    """A redis-server that can be crashed and started again on the same port and AOF."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server: RedisServer = self._start(None)
        self.port = self.server.port
        self.url = self.server.url

    def _start(self, port: int | None) -> RedisServer:
        return start_redis_server(self.workdir, appendonly=True, appendfsync="always", port=port)

    def crash(self) -> None:
        proc = self.server.proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def shutdown(self) -> None:
        stop_redis_server(self.server)

    def start(self) -> None:
        self.server = self._start(self.port)


@pytest.fixture
def restarting_redis(tmp_path: Path) -> Iterator[RestartingRedis]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    redis = RestartingRedis(workdir)
    try:
        yield redis
    finally:
        redis.shutdown()


async def test_redis_restarts_lose_no_acknowledged_job(
    restarting_redis: RestartingRedis, queue_name: str, agents: Agents, report: list[str]
) -> None:
    redis = restarting_redis
    url = redis.url
    started = time.monotonic()
    common: dict[str, Any] = {"url": url, "queue": queue_name, "lock": 3, "stalled": 1}
    workers = [
        agents.spawn("worker", concurrency=4, **common),
        agents.spawn_cli_worker(url, queue_name, concurrency=2, lock=3, stalled=1),
        agents.spawn("manual", **common),
    ]
    producers = [
        agents.spawn(
            "producer", name=name, ids=ids, count=PER_PRODUCER, pause=0.01, seed=i, **common
        )
        for i, (name, ids) in enumerate([("with-id", True), ("plain", False)])
    ]

    def acked() -> int:
        return sum(r["kind"] == "add" for r in read_records(agents.records))

    until = functools.partial(wait_until, every=0.1)

    # Restart 1: SIGKILL in the middle of the adds, down for 1.5 s.
    await until(lambda: acked() >= 150, 60, "150 acknowledged adds")
    before_crash = acked()
    redis.crash()
    await asyncio.sleep(1.5)
    redis.start()
    # Restart 2: a clean shutdown, down for 1 s.
    await until(lambda: acked() >= before_crash + 150, 60, "150 more acknowledged adds")
    redis.shutdown()
    await asyncio.sleep(1.0)
    redis.start()
    last_restart = time.time()

    for producer in producers:
        code = producer.proc.wait(timeout=FINISH_WITHIN)
        assert code == 0, f"producer {producer.pid} exited with {code}:\n{producer.output()}"

    queue = Queue(queue_name, url=url)
    try:
        records = read_records(agents.records)
        keys = {r["key"] for r in records if r["kind"] == "add"}
        assert len(keys) == 2 * PER_PRODUCER
        retried = {r["key"] for r in records if r["kind"] == "add_error"}

        async def everything_completed() -> bool:
            counts = await queue.get_job_counts()
            busy = sum(n for state, n in counts.items() if state != "completed")
            return busy == 0 and counts["completed"] >= len(keys)

        deadline = time.monotonic() + FINISH_WITHIN
        while not await everything_completed():
            assert time.monotonic() < deadline, await queue.get_job_counts()
            await asyncio.sleep(0.2)
        for worker in workers:
            code = worker.stop()
            assert code == 0, f"{worker.kind} {worker.pid} exited with {code}:\n{worker.output()}"

        by_key: dict[str, list[str]] = defaultdict(list)
        for job in await queue.get_jobs("completed"):
            assert job.return_value["double"] == job.data["n"] * 2
            by_key[job.data["key"]].append(job.id)
        missing = keys - set(by_key)
        assert not missing, f"acknowledged adds lost: {sorted(missing)}"
        doubled = {key for key, ids in by_key.items() if len(ids) > 1}
        assert doubled <= retried, f"jobs added twice without a retry: {sorted(doubled - retried)}"
        assert not {k for k in doubled if k.startswith("with-id")}, "a custom id was added twice"
        counts = await queue.get_job_counts()
        assert counts["completed"] == len(keys) + sum(len(by_key[k]) - 1 for k in doubled)
    finally:
        await queue.close()

    # Every worker rode through both restarts in the same process, and said so.
    records = read_records(agents.records)
    for worker in workers:
        runs_after = [
            r for r in records if r["pid"] == worker.pid and r["kind"] == "run"
            and r["t"] > last_restart
        ]  # fmt: skip
        assert runs_after, f"{worker.kind} {worker.pid} did no job after the restarts"
        log = worker.output()
        assert "Redis" in log, f"{worker.kind} {worker.pid} logged nothing about Redis:\n{log}"
        assert "Traceback" not in log, f"{worker.kind} {worker.pid} logged a traceback:\n{log}"
    hooked = [r for r in records if r["kind"] == "error" and r["pid"] == workers[0].pid]
    assert hooked, "the worker's error hook never heard of the restarts"
    kinds = {r["type"] for r in hooked}
    # The outage is reported as the store being unavailable (outcome unknown).
    assert "StoreUnavailableError" in kinds, kinds
    # A lock that expired while Redis was down is reported as lost, and the job re-runs.
    expected = {"StoreUnavailableError", "BackendError", "LockError", "MissingLockError"}
    assert kinds <= expected | {"LockMismatchError"}, kinds

    add_errors = sum(r["kind"] == "add_error" for r in records)
    report.append(
        f"{2 * PER_PRODUCER} acknowledged adds, 2 Redis restarts (SIGKILL, then shutdown); "
        f"{add_errors} adds failed and were retried ({len(retried)} jobs), "
        f"{len(doubled)} plain jobs added twice by a retry; all completed; "
        f"{time.monotonic() - started:.1f}s"
    )
