"""kill -9 in a flow: worker processes die at random while children run; every parent
still finishes exactly once, with every child's value.

50 parents of 20 children each; parents in one queue, children in another; four
worker processes (each serving both queues, see ``tests.chaos.agent.run_flows``)
with a short lock, one killed with SIGKILL and replaced every fraction of a second.
A killed child stalls back and runs again; a parent is never released early.

Afterwards every parent is completed with ``attempts_made == 1`` and exactly one
``completed`` event, and its return value holds all 20 children's values, each the
child's own answer; no job is left waiting, active or waiting for children. With a
failing child (``fail_parent_on_failure``) per parent, every parent fails exactly
once instead, with that child's key in its reason.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections import Counter
from typing import Any

import pytest

from corral import FlowProducer, Queue
from tests.chaos.agent import read_records
from tests.chaos.conftest import Agents
from tests.support import wait_until

PARENTS = 50
CHILDREN = 20
LOCK = 3.0
STALLED = 1.0
CHAOS_SECONDS = 10.0
FINISH_WITHIN = 180.0


wait_for = functools.partial(wait_until, every=0.2)


async def events_named(queue: Queue, name: str) -> Counter[str]:
    """How many events named ``name`` each job id has in the queue's log."""
    backend = queue.backend
    seen: Counter[str] = Counter()
    cursor = "0"
    while True:
        batch = await backend.read_events(queue.name, cursor, count=1000)
        if not batch:
            return seen
        for event in batch:
            if event.name == name:
                seen[event.fields["jobId"]] += 1
        cursor = batch[-1].id


@pytest.mark.timeout(300)
@pytest.mark.parametrize("failing", [False, True], ids=["all-complete", "one-fails-each"])
async def test_kill9_while_children_run_every_parent_finishes_once(
    url: str, queue_name: str, agents: Agents, report: list[str], failing: bool
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    started = time.monotonic()
    parents_q, kids_q = f"{queue_name}-parents", f"{queue_name}-kids"
    trees = []
    for p in range(PARENTS):
        children: list[dict[str, Any]] = [
            {
                "name": "child",
                "queue_name": kids_q,
                "data": {"n": p * CHILDREN + c, "ms": rng.randint(50, 300)},
            }
            for c in range(CHILDREN)
        ]
        if failing:
            children[rng.randrange(CHILDREN)].update(
                data={"n": -1, "ms": 0, "fail": True}, options={"fail_parent_on_failure": True}
            )
        trees.append(
            {"name": "parent", "queue_name": parents_q, "data": {"p": p}, "children": children}
        )
    async with FlowProducer(url=url) as flows:
        roots = await flows.add_bulk(trees)
    expected = {
        root.job.id: {f"bull:{kids_q}:{c.job.id}": c.job.data for c in root.children}
        for root in roots
    }
    cfg = {"url": url, "queues": [parents_q, kids_q], "lock": LOCK, "stalled": STALLED,
           "concurrency": 4, "drain": 0.5}  # fmt: skip
    running = [agents.spawn("flows", **cfg) for _ in range(4)]
    kills = 0
    parents = Queue(parents_q, url=url)
    kids = Queue(kids_q, url=url)
    try:
        chaos_end = time.monotonic() + CHAOS_SECONDS
        busy_kills = 0
        # Kill for CHAOS_SECONDS, and on (up to a minute more) until a kill has hit a
        # process that was running jobs: on a starved machine a young process may not
        # have started any yet, and killing only those would prove nothing.
        while time.monotonic() < chaos_end or (
            busy_kills == 0 and time.monotonic() < chaos_end + 60
        ):
            await asyncio.sleep(rng.uniform(0.3, 1.0))
            working = {r["pid"] for r in read_records(agents.records) if r["kind"] == "run"}
            busy = [i for i, agent in enumerate(running) if agent.pid in working]
            index = rng.choice(busy) if busy else rng.randrange(len(running))
            running[index].kill()
            kills += running[index].killed
            busy_kills += running[index].killed and bool(busy)
            running[index] = agents.restart(running[index])
        final = "failed" if failing else "completed"

        async def all_parents_done() -> bool:
            return (await parents.get_job_counts(final))[final] >= PARENTS

        await wait_for(all_parents_done, FINISH_WITHIN, f"{PARENTS} {final} parents")
        for agent in running:
            assert agent.stop() == 0, agent.output()

        counts = await parents.get_job_counts()
        assert counts == {**dict.fromkeys(counts, 0), final: PARENTS}, counts
        finished_events = await events_named(parents, final)
        for root in roots:
            job = await parents.get_job(root.job.id)
            assert job is not None
            assert job.attempts_made == 1, (job.id, job.attempts_made)
            assert finished_events[job.id] == 1, (job.id, finished_events[job.id])
            if failing:
                bad = next(c for c in root.children if c.job.data.get("fail"))
                assert job.failed_reason == f"child bull:{kids_q}:{bad.job.id} failed"
                continue
            values = job.return_value["children"]
            assert set(values) == set(expected[job.id]), job.id
            for key, data in expected[job.id].items():
                assert values[key]["double"] == data["n"] * 2, (job.id, key)
        kid_counts = await kids.get_job_counts("waiting", "active", "waiting-children", "delayed")
        if not failing:
            assert kid_counts == dict.fromkeys(kid_counts, 0), kid_counts
        assert kills > 0
        runs = Counter(r["job"] for r in read_records(agents.records) if r["kind"] == "run")
        reran = sum(1 for n in runs.values() if n > 1)
        assert reran > 0, "no kill hit a running job: the test proved nothing"
        report.append(
            f"{url.split(':')[0]} ({'one failing child each' if failing else 'all complete'}): "
            f"{PARENTS} parents x {CHILDREN} children, {kills} SIGKILLs, {reran} jobs ran "
            f"again after a kill; every parent {final} once; "
            f"{time.monotonic() - started:.1f}s, seed {seed}"
        )
    finally:
        await parents.close()
        await kids.close()
