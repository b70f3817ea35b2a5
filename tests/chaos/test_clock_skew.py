"""Clock skew between producer hosts: jobs are neither reordered nor lost.

Three producers share a queue, each with its own connection and its own idea of
the time (``timestamp=``): one honest, one minutes ahead, one minutes behind.

- Plain and prioritized jobs run in insertion order (within a priority),
  whoever's clock stamped them.
- A delayed job is due at its producer's ``timestamp + delay``, as in BullMQ: a
  producer behind the workers' clock gets it run early, one ahead gets it run
  late. Either way it runs, in due order, and nothing disappears. The workers'
  clock is driven through the backend's ``now`` to look minutes ahead.
- With seconds of skew, a real processor worker runs every job, and never a
  delayed one before it is due.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from corral import Job, Queue, Worker
from corral._clock import now_ms
from corral.backends.base import Completed, FetchRequest

SKEW = {"honest": 0.0, "ahead": 5 * 60.0, "behind": -5 * 60.0}  # seconds


async def producers(url: str, queue_name: str) -> dict[str, Queue]:
    return {name: Queue(queue_name, url=url) for name in SKEW}


async def test_skewed_producers_keep_insertion_order(
    url: str, queue_name: str, report: list[str]
) -> None:
    rng = random.Random(7)
    queues = await producers(url, queue_name)
    worker = Worker(queue_name, url=url, drain_delay=0.2)
    try:
        expected: dict[int, list[str]] = {0: [], 1: [], 2: []}
        for i in range(150):
            by = rng.choice(list(SKEW))
            priority = rng.choice([0, 0, 1, 2])
            stamp = time.time() + SKEW[by]
            job = await queues[by].add(
                "skewed", {"i": i, "by": by}, priority=priority, timestamp=stamp
            )
            expected[priority].append(job.id)
        order: list[str] = []
        token = "skew-reader"
        fetched = await worker.get_next_job(token, block=False)
        while fetched is not None:
            order.append(fetched.id)
            fetched = await fetched.move_to_completed(fetched.data["i"], token)
        assert order == expected[0] + expected[1] + expected[2]
        counts = await queues["honest"].get_job_counts()
        assert counts == {**dict.fromkeys(counts, 0), "completed": 150}, counts
        report.append(
            f"150 jobs from producers 5 min ahead / behind / on time ran in insertion "
            f"order within each priority ({len(expected[0])} plain, "
            f"{len(expected[1])} + {len(expected[2])} prioritized)"
        )
    finally:
        await worker.close()
        for queue in queues.values():
            await queue.close()


async def test_delayed_jobs_from_skewed_producers_all_run(
    url: str, queue_name: str, report: list[str]
) -> None:
    queues = await producers(url, queue_name)
    backend = queues["honest"].backend
    delay = 2.0
    try:
        due: dict[str, int] = {}
        by: dict[str, str] = {}
        start = now_ms()
        for i in range(30):
            name = list(SKEW)[i % 3]
            stamp = start / 1000 + SKEW[name] + i / 1000  # each a ms apart
            job = await queues[name].add("later", {"i": i}, delay=delay, timestamp=stamp)
            due[job.id] = round(stamp * 1000) + round(delay * 1000)
            by[job.id] = name
        assert (await queues["honest"].get_job_counts("delayed"))["delayed"] == 30

        async def drain(now: int) -> list[str]:
            """Fetch and complete everything a worker whose clock reads ``now`` can get."""
            taken: list[str] = []
            while True:
                fetched = await backend.move_to_active(
                    queue_name, FetchRequest("skew-clock", 30_000), now
                )
                if fetched.job is None:
                    return taken
                taken.append(fetched.job.id)
                await backend.move_to_finished(
                    queue_name, fetched.job.id, "skew-clock", Completed("null"), now
                )

        def in_due_order(ids: list[str]) -> list[str]:
            return sorted(ids, key=lambda job_id: (due[job_id], int(job_id)))

        # Now: the producer that is behind stamped jobs already due; only they run.
        early = await drain(now_ms())
        assert early == in_due_order([j for j in due if by[j] == "behind"])
        # A few seconds on: the honest producer's.
        on_time = await drain(start + round(delay * 1000) + 1000)
        assert on_time == in_due_order([j for j in due if by[j] == "honest"])
        # Minutes on: the producer that is ahead gets its jobs run too.
        late = await drain(start + round((SKEW["ahead"] + delay) * 1000) + 1000)
        assert late == in_due_order([j for j in due if by[j] == "ahead"])
        counts = await queues["honest"].get_job_counts()
        assert counts == {**dict.fromkeys(counts, 0), "completed": 30}, counts
        report.append(
            f"30 delayed jobs ({delay:.0f}s) from producers 5 min behind / on time / ahead: "
            f"{len(early)} ran at once, {len(on_time)} on time, {len(late)} when the "
            f"workers' clock reached the skewed due time; none lost"
        )
    finally:
        for queue in queues.values():
            await queue.close()


async def test_real_worker_runs_jobs_from_producers_seconds_apart(
    url: str, queue_name: str, report: list[str]
) -> None:
    skew = {"honest": 0.0, "ahead": 3.0, "behind": -3.0}
    queues = {name: Queue(queue_name, url=url) for name in skew}
    seen: list[tuple[str, int]] = []

    async def process(job: Job) -> Any:
        seen.append((job.id, now_ms()))
        return job.data["i"]

    worker = Worker(queue_name, process, url=url, concurrency=4, drain_delay=0.5)
    due: dict[str, int] = {}
    try:
        async with worker:
            for i in range(60):
                name = list(skew)[i % 3]
                stamp = time.time() + skew[name]
                delay = 0.5 if i % 2 else 0
                job = await queues[name].add("mixed", {"i": i}, delay=delay, timestamp=stamp)
                due[job.id] = round(stamp * 1000) + round(delay * 1000) if delay else 0
            deadline = time.monotonic() + 60
            while (await queues["honest"].get_job_counts("completed"))["completed"] < 60:
                assert time.monotonic() < deadline, await queues["honest"].get_job_counts()
                await asyncio.sleep(0.1)
        assert sorted(job_id for job_id, _ in seen) == sorted(due)
        early = [(job_id, at, due[job_id]) for job_id, at in seen if at < due[job_id]]
        assert not early, f"delayed jobs ran before they were due: {early}"
        counts = await queues["honest"].get_job_counts()
        assert counts == {**dict.fromkeys(counts, 0), "completed": 60}, counts
        report.append("60 jobs (30 delayed) from producers 3 s apart: all ran, none early")
    finally:
        await worker.close()
        for queue in queues.values():
            await queue.close()
