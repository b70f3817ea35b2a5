"""A blackholed network between workers and Redis: a TCP proxy (written here, on
loopback) accepts connections but stops forwarding for longer than the lock
duration, then heals.

What must hold, with ``socket_timeout=1`` and a 3 s lock:

* every call through the proxy fails with ``StoreUnavailableError`` within its
  timeout instead of hanging;
* the workers resume by themselves after the heal: every job is completed, the
  ones added after the heal too, by the same processes;
* every lock lost is reported: each execution that did not end in an accepted
  completion was reported by its worker (the ``error`` hook with a ``LockError``
  for that job, or a log line naming the job);
* workers stop on SIGTERM within their grace period (plus the command timeout for
  handing jobs back), during the blackhole too, exiting 0; a second SIGTERM stops
  one at once (exit 130), without waiting for the grace period or the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import time
from collections import defaultdict
from typing import Any

import pytest

from corral import Queue, StoreUnavailableError
from tests.chaos.agent import read_records
from tests.chaos.conftest import Agent, Agents
from tests.support import wait_until

pytestmark = pytest.mark.timeout(300)

SOCKET_TIMEOUT = 1.0
LOCK = 3.0
BLACKHOLE = 8.0  # > LOCK + a stalled interval: every lock held meanwhile expires
GRACE = 10.0  # what spawn_cli_worker and the agent's worker give running jobs


class Blackhole:
    """A TCP proxy on loopback in front of ``upstream_port`` that can stop forwarding.

    Blocked, it still accepts connections but forwards nothing either way (what
    arrives waits in the kernel's buffers, as on a network that drops packets
    while TCP retransmits them); healed, everything flows again.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def block(self) -> None:
        self._open.clear()

    def heal(self) -> None:
        self._open.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._open.wait()  # accepted, but not connected through while blocked
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst, (writer, up_writer)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        both: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while True:
                await self._open.wait()
                data = await src.read(65536)
                if not data:
                    break
                await self._open.wait()  # read just as the block began: held too
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for w in both:
                w.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


until = functools.partial(wait_until, every=0.1)


async def exited(agent: Agent, since: float, seconds: float) -> tuple[int | None, float]:
    """Wait (on the event loop: the proxy must keep running) up to ``seconds`` after
    ``since`` for ``agent`` to exit; its exit code (None: still running) and when."""
    while time.monotonic() - since < seconds:
        if agent.proc.poll() is not None:
            break
        await asyncio.sleep(0.05)
    return agent.proc.poll(), time.monotonic() - since


async def test_a_blackholed_network_is_ridden_out_and_every_lost_lock_reported(
    redis_url: str, queue_name: str, agents: Agents, report: list[str]
) -> None:
    upstream = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = Blackhole(upstream)
    await proxy.start()
    through = f"redis://127.0.0.1:{proxy.port}/0?socket_timeout={SOCKET_TIMEOUT:g}"
    common: dict[str, Any] = {"url": through, "queue": queue_name, "lock": LOCK, "stalled": 1}
    workers = [agents.spawn("worker", concurrency=3, drain=1, **common) for _ in range(2)]
    cli = agents.spawn_cli_worker(through, queue_name, concurrency=2, lock=LOCK, stalled=1)
    producer = Queue(queue_name, url=redis_url)  # straight to Redis, past the proxy
    probe = Queue(queue_name, url=through)
    try:
        for i in range(40):
            await producer.add("before", {"n": i, "ms": 1200})

        async def done(n: int) -> bool:
            return (await producer.get_job_counts("completed"))["completed"] >= n

        async def busy() -> bool:
            return (await producer.get_job_counts("active"))["active"] >= 4

        await until(lambda: done(4), 60, "the first completions")
        await until(busy, 30, "jobs running in every worker")

        # -- the blackhole ------------------------------------------------------------
        proxy.block()
        blocked_at = time.monotonic()
        failures: list[float] = []
        while time.monotonic() - blocked_at < BLACKHOLE:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                # Bounded only so that a hang fails the test instead of stalling it.
                await asyncio.wait_for(probe.get_job_counts(), SOCKET_TIMEOUT + 10)
            failures.append(time.monotonic() - started)
        proxy.heal()
        for i in range(20):
            await producer.add("after", {"n": 40 + i, "ms": 50})

        # -- everything completes, by the same processes --------------------------------
        async def all_completed() -> bool:
            counts = await producer.get_job_counts()
            return counts["completed"] == 60 and sum(counts.values()) == 60

        await until(all_completed, 120, "every job to complete after the heal")
        assert await probe.get_job_counts("completed") == {"completed": 60}
        records = read_records(agents.records)
        healed_at = time.time() - (time.monotonic() - blocked_at - BLACKHOLE)
        for agent in (*workers, cli):
            assert agent.alive(), agent.output()
            later = [r for r in records if r["pid"] == agent.pid and r["kind"] == "run"]
            assert any(r["t"] > healed_at for r in later), f"{agent.pid} did nothing after the heal"

        # -- every lock lost is reported ------------------------------------------------
        runs = [r for r in records if r["kind"] == "run"]
        accepted = {(r["job"], r["token"]) for r in records if r["kind"] == "done"}
        completed = {j.id: j.return_value["token"] for j in await producer.get_jobs("completed")}
        executions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for run in runs:
            executions[run["job"]].append(run)
        unreported: list[str] = []
        lost = 0
        for job_id, tries in executions.items():
            for run in tries:
                if (job_id, run["token"]) in accepted or completed.get(job_id) == run["token"]:
                    continue  # this execution's completion was accepted
                lost += 1
                if run["pid"] == cli.pid:
                    said = f"job {job_id}" in cli.output()
                else:
                    said = any(
                        r["kind"] == "error" and r["pid"] == run["pid"] and r["job"] == job_id
                        and r["lock"]
                        for r in records
                    )  # fmt: skip
                if not said:
                    unreported.append(f"{job_id}@{run['pid']}")
        reran = sum(len(tries) > 1 for tries in executions.values())

        # -- SIGTERM during a second blackhole, jobs running ----------------------------
        for i in range(8):
            await producer.add("late", {"n": 60 + i, "ms": 60_000})  # outlast the grace

        async def late_running() -> bool:
            return (await producer.get_job_counts("active"))["active"] == 8

        await until(late_running, 30, "the late jobs to run in every worker")
        proxy.block()
        await asyncio.sleep(1.0)
        signalled = time.monotonic()
        for agent in (cli, workers[0]):
            agent.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)
        cli.proc.send_signal(signal.SIGTERM)  # a second signal: stop at once
        stops = [
            await exited(agent, signalled, GRACE + 3 * SOCKET_TIMEOUT + 10)
            for agent in (cli, workers[0])
        ]
        proxy.heal()
        workers[1].proc.send_signal(signal.SIGTERM)
        stops.append(await exited(workers[1], time.monotonic(), GRACE + 10))
        report.append(
            f"{len(failures)} calls through the blackhole, each failed (slowest "
            f"{max(failures):.1f}s, timeout {SOCKET_TIMEOUT:g}s); {reran} jobs re-ran, "
            f"{lost} executions lost their lock, {len(unreported)} unreported; "
            f"SIGTERM: exit codes {[code for code, _ in stops]} after "
            f"{', '.join(f'{took:.1f}s' for _, took in stops)} (grace {GRACE:g}s)"
        )
        assert not unreported, f"lost locks nobody reported: {unreported}"
        expected = (130, 0, 0)  # stopped at once by the second signal; gracefully
        for agent, (code, _), want in zip((cli, *workers), stops, expected, strict=True):
            assert code == want, f"{agent.kind} {agent.pid} exited with {code}:\n{agent.output()}"
            assert "Traceback" not in agent.output(), agent.output()
        assert stops[0][1] < GRACE, "the second signal must not wait for the grace period"
    finally:
        proxy.heal()
        await probe.close()
        with contextlib.suppress(Exception):
            await producer.obliterate(force=True)
        await producer.close()
        await proxy.close()
