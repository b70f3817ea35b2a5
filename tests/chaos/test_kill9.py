"""kill -9: workers die at random moments while thousands of jobs run; nothing is lost.

Processor workers (the real ``corral worker`` command line, and
``Worker(queue, fn).run()`` in a script) and hand-driven workers
(``get_next_job`` + ``move_to_completed(fetch_next=True)``) share one queue,
with a short lock and stalled interval so a dead worker's jobs come back
quickly. The test kills one at random every fraction of a second with SIGKILL and
starts a fresh one, while more jobs arrive. Every execution is on disk (see
:mod:`tests.chaos.agent`) before its work starts.

At the end every job is completed, once, with its right return value; nothing is
waiting, active, delayed or failed; and a job ran more than once only where an
earlier run was in a process that was killed.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections import defaultdict

import pytest

from corral import Queue
from tests.chaos.agent import read_records
from tests.chaos.conftest import Agent, Agents, soak_only
from tests.support import wait_until

LOCK = 4.0  # seconds; a dead worker's job is back in wait within ~LOCK + 2 * STALLED
STALLED = 1.0
FINISH_WITHIN = 180.0  # generous: the machine is shared


wait_for = functools.partial(wait_until, every=0.2)


def spawn_worker(agents: Agents, kind: str, url: str, queue: str) -> Agent:
    if kind == "cli":
        return agents.spawn_cli_worker(url, queue, concurrency=4, lock=LOCK, stalled=STALLED)
    concurrency = 4 if kind == "worker" else 1
    return agents.spawn(
        kind, url=url, queue=queue, lock=LOCK, stalled=STALLED, concurrency=concurrency
    )


@pytest.mark.parametrize(
    ("jobs", "chaos_seconds"),
    [
        pytest.param(2000, 12.0, id="2000-jobs", marks=pytest.mark.timeout(300)),
        pytest.param(20_000, 180.0, id="soak", marks=[soak_only, pytest.mark.timeout(900)]),
    ],
)
async def test_kill9_loses_nothing(
    url: str,
    queue_name: str,
    agents: Agents,
    report: list[str],
    jobs: int,
    chaos_seconds: float,
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    started = time.monotonic()
    queue = Queue(queue_name, url=url)
    # Jobs work for 0-120 ms, so kills find jobs in hand.
    specs = [{"name": "chaos", "data": {"n": i, "ms": rng.randint(0, 120)}} for i in range(jobs)]
    added: list[str] = []
    first = jobs // 2
    try:
        for start in range(0, first, 500):
            added += [j.id for j in await queue.add_bulk(specs[start : min(start + 500, first)])]

        # `corral worker`, Worker(queue, fn).run(), and two hand-driven loops.
        kinds = ["cli", "worker", "manual", "manual"]
        running = [spawn_worker(agents, kind, url, queue_name) for kind in kinds]
        # The second half arrives in batches spread over the chaos (a turn is ~0.75 s).
        per_turn = max(1, round((jobs - first) * 0.75 / (chaos_seconds * 0.6)))
        killed: set[int] = set()
        kills = 0
        chaos_end = time.monotonic() + chaos_seconds
        while time.monotonic() < chaos_end:
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            if len(added) < jobs:  # the other half arrives during the chaos
                batch = specs[len(added) : len(added) + per_turn]
                added += [j.id for j in await queue.add_bulk(batch)]
            victims = rng.sample(range(len(running)), 2 if rng.random() < 0.15 else 1)
            for index in victims:
                victim = running[index]
                victim.kill()
                if victim.killed:
                    killed.add(victim.pid)
                    kills += 1
                running[index] = agents.restart(victim)
        at_chaos_end = (await queue.get_job_counts("completed"))["completed"]
        while len(added) < jobs:
            batch = specs[len(added) : len(added) + 500]
            added += [j.id for j in await queue.add_bulk(batch)]

        async def all_completed() -> bool:
            counts = await queue.get_job_counts("completed")
            return counts["completed"] >= jobs

        await wait_for(all_completed, FINISH_WITHIN, f"{jobs} completed jobs")
        for agent in running:
            code = agent.stop()
            assert code == 0, (
                f"{agent.kind} worker {agent.pid} exited with {code}:\n{agent.output()}"
            )

        # -- every job completed once, with its own answer ---------------------------
        counts = await queue.get_job_counts()
        assert counts == {**dict.fromkeys(counts, 0), "completed": jobs}, counts
        completed = {job.id: job for job in await queue.get_jobs("completed")}
        assert sorted(completed, key=int) == sorted(added, key=int)
        assert len(set(added)) == jobs

        runs: dict[str, list[tuple[int, str]]] = defaultdict(list)
        dones: dict[str, list[tuple[int, str]]] = defaultdict(list)
        # (pid, job) of runs whose lock ran out while the process was alive (refused
        # completions, and lost locks reported to the error hook): a run's lock may
        # expire on a starved machine without a kill, and the job then runs again.
        lost: set[tuple[int, str]] = set()
        for record in read_records(agents.records):
            if record["kind"] == "run":
                runs[record["job"]].append((record["pid"], record["token"]))
            elif record["kind"] == "done":
                dones[record["job"]].append((record["pid"], record["token"]))
            elif record["kind"] == "refused" or (
                record["kind"] == "error" and record.get("lock") and record.get("job")
            ):
                lost.add((record["pid"], record["job"]))

        reran = 0
        extra_runs = 0
        for job_id, job in completed.items():
            result = job.return_value
            assert result["double"] == job.data["n"] * 2, (job_id, result)
            winner = (result["pid"], result["token"])
            assert winner in runs[job_id], f"job {job_id}: result from an unrecorded run {winner}"
            # A completion the store accepted, as seen by the workers: at most one.
            assert len(dones[job_id]) <= 1, f"job {job_id} completed twice: {dones[job_id]}"
            assert dones[job_id] in ([], [winner]), (job_id, dones[job_id], winner)
            others = [run for run in runs[job_id] if run != winner]
            assert runs[job_id].count(winner) == 1, f"job {job_id}: {runs[job_id]}"
            unexplained = [
                run for run in others if run[0] not in killed and (run[0], job_id) not in lost
            ]
            assert not unexplained, (
                f"job {job_id} ran again although its earlier run's process was neither "
                f"killed nor told its lock was lost: runs {runs[job_id]}, killed {sorted(killed)}"
            )
            if others:
                reran += 1
                extra_runs += len(others)
        assert set(runs) == set(completed), "a run was recorded for a job that does not exist"
        assert kills > 0
        report.append(
            f"{url.split(':')[0]}: {jobs} jobs completed exactly once, {kills} SIGKILLs "
            f"({len(agents.started)} worker processes in all), {reran} jobs re-ran after a "
            f"kill or a lost lock ({extra_runs} extra runs; {len(lost)} lost locks); "
            f"{at_chaos_end} had completed when the kills "
            f"stopped; {time.monotonic() - started:.1f}s, seed {seed}"
        )
    finally:
        await queue.close()
