"""SIGSTOP: a worker frozen past its lock duration comes back to find its job gone.

A worker takes a job and is paused with SIGSTOP while the job runs. Its lock
expires; a second worker's stalled checker returns the job to wait, and the
second worker runs and completes it. Then the first worker is resumed with
SIGCONT: its completion with the stale token is refused (a LockError, reported
through the ``error`` hook and the log for a processor worker, raised to the
caller for a hand-driven one), and the job keeps the second worker's result.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest

from corral import Queue
from tests.chaos.agent import read_records
from tests.chaos.conftest import Agent, Agents

LOCK = 1.0
STALLED = 0.5
HOLD_MS = 2000  # how long the job works: longer than the lock
WITHIN = 60.0
pytestmark = pytest.mark.timeout(300)  # above the waits' own generous bounds


async def until(condition: Any, what: str, timeout: float = WITHIN) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def records_of(agents: Agents, agent: Agent, kind: str) -> list[dict[str, Any]]:
    return [r for r in read_records(agents.records) if r["pid"] == agent.pid and r["kind"] == kind]


@pytest.mark.parametrize("first", ["processor", "hand-driven"])
async def test_paused_worker_cannot_complete_a_job_taken_over(
    url: str, queue_name: str, agents: Agents, report: list[str], first: str
) -> None:
    queue = Queue(queue_name, url=url)
    settings: dict[str, Any] = {"url": url, "queue": queue_name, "lock": LOCK, "stalled": STALLED}
    try:
        job = await queue.add("slow", {"n": 21, "ms": HOLD_MS})
        if first == "processor":
            stale = agents.spawn("worker", **settings)
        else:
            stale = agents.spawn("holder", hold=HOLD_MS / 1000, **settings)

        async def stale_runs() -> list[dict[str, Any]]:
            return records_of(agents, stale, "run")

        (run,) = await until(stale_runs, "the first worker to start the job")
        stale.signal(signal.SIGSTOP)
        paused_at = time.monotonic()
        assert run["job"] == job.id

        # The second worker's stalled checker finds the expired lock and takes the job.
        fresh = agents.spawn("worker", **settings)

        async def completed() -> bool:
            return await queue.get_job_state(job.id) == "completed"

        await until(completed, "the second worker to complete the job")
        stored = await queue.get_job(job.id)
        assert stored is not None
        assert stored.return_value["pid"] == fresh.pid, stored.return_value

        stale.signal(signal.SIGCONT)
        paused_for = time.monotonic() - paused_at
        if first == "processor":

            async def stale_lock_error() -> list[dict[str, Any]]:
                return [r for r in records_of(agents, stale, "error") if r["lock"]]

            errors = await until(stale_lock_error, "the stale worker's LockError")
            assert {r["job"] for r in errors} == {job.id}, errors
            assert not records_of(agents, stale, "done"), "the stale worker completed the job"
            assert stale.stop() == 0
            log = stale.output()
            assert f"ERROR corral.worker: job {job.id}" in log, log
            refused = errors[0]["type"]
        else:
            assert stale.proc.wait(timeout=WITHIN) == 0, stale.output()
            (refusal,) = records_of(agents, stale, "refused")
            assert refusal["job"] == job.id
            assert refusal["type"] in ("MissingLockError", "LockMismatchError"), refusal
            assert job.id in refusal["message"]
            assert not records_of(agents, stale, "done")
            refused = refusal["type"]
        assert fresh.stop() == 0, fresh.output()

        # The job keeps the new holder's result, completed once.
        stored = await queue.get_job(job.id)
        assert stored is not None
        assert stored.return_value == {
            "double": 42,
            "pid": fresh.pid,
            "token": fresh_token(agents, fresh, job.id),
        }
        counts = await queue.get_job_counts()
        assert counts == {**dict.fromkeys(counts, 0), "completed": 1}, counts
        report.append(
            f"{first} worker paused {paused_for:.1f}s (lock {LOCK}s); its completion was "
            f"refused with {refused}; the job kept the second worker's result"
        )
    finally:
        await queue.close()


def fresh_token(agents: Agents, agent: Agent, job_id: str) -> str:
    (run,) = [r for r in records_of(agents, agent, "run") if r["job"] == job_id]
    token: str = run["token"]
    return token
