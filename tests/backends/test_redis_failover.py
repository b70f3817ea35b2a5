"""Failover on real servers: the primary under a busy queue is killed (``kill -9``)
while 2 workers process 5,000 jobs, a replica is promoted, and the run finishes;
and a slot migration (``redis-cli --cluster reshard``) of a busy queue's slot.

Each test starts a deployment of its own (the session's cluster and Sentinel
group stay whole for the other tests):

* **Redis Cluster**: the primary holding the queue's slot is killed; the
  cluster promotes its replica.
* **Sentinel**: the primary is killed; the sentinels promote the replica.

What is asserted, on both: every job added before the kill completes, and so
does every add that was acknowledged through a ``?min_replicas=1`` URL while the
kill happened (WAIT: a replica held it before the add returned). During the
migration every job runs exactly once. Adds
acknowledged through a plain URL in the same moments may be lost with the
primary (asynchronous replication): they are counted and printed (``-s``), not
asserted, and re-runs (a completion the dead primary took with it) likewise.
"""

from __future__ import annotations

import asyncio
import collections
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from corral import Job, Queue, StoreUnavailableError, Worker
from corral.backends.redis.slots import key_slot
from tests.conftest import _running
from tests.deployments import (
    Cluster,
    Node,
    SentinelGroup,
    cli,
    start_cluster,
    start_sentinel_group,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.redis_only]

JOBS = 5_000
WORKER_OPTIONS: dict[str, Any] = {
    "concurrency": 8,
    "lock_duration": 2,
    "stalled_interval": 1,
    "max_stalled_count": 50,
    "drain_delay": 0.2,
}


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    yield from _running(start_cluster, "corral-failover-")


@pytest.fixture
def own_sentinels() -> Iterator[SentinelGroup]:
    yield from _running(start_sentinel_group, "corral-failover-")


@dataclass
class Outcome:
    before: list[str]
    durable: list[str] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)
    runs: collections.Counter[str] = field(default_factory=collections.Counter)

    def report(self, label: str) -> str:
        lost = [i for i in self.plain if i not in self.runs]
        lost_durable = [i for i in self.durable if i not in self.runs]
        reruns = sum(n - 1 for n in self.runs.values())
        return (
            f"{label}: {len(self.before)} jobs before the kill, {len(self.durable)} durable "
            f"and {len(self.plain)} plain adds acknowledged around it; lost: "
            f"{len(lost_durable)} durable, {len(lost)} plain; re-runs: {reruns}"
        )


async def _produce(queue: Queue, acknowledged: list[str], stop: asyncio.Event) -> None:
    """Add one job after another until ``stop``; keep the ids the store acknowledged."""
    while not stop.is_set():
        try:
            job = await queue.add("around-the-kill", {"n": len(acknowledged)})
        except StoreUnavailableError:
            await asyncio.sleep(0.05)  # outcome unknown: not acknowledged
            continue
        acknowledged.append(job.id)
        await asyncio.sleep(0.002)


async def _run_through_failover(
    url: str, durable_url: str, name: str, fail_over: Callable[[], Awaitable[None]]
) -> Outcome:
    async with Queue(name, url=durable_url) as durable, Queue(name, url=url) as plain:
        before: list[str] = []
        for start in range(0, JOBS, 500):
            jobs = await durable.add_bulk(
                [{"name": "before", "data": {"n": n}} for n in range(start, start + 500)]
            )
            before += [job.id for job in jobs]
        outcome = Outcome(before)

        under_way = asyncio.Event()

        async def work(job: Job) -> None:
            outcome.runs[job.id] += 1
            if len(outcome.runs) >= 1000:
                under_way.set()

        stop = asyncio.Event()
        workers = [Worker(name, work, url=url, **WORKER_OPTIONS) for _ in range(2)]
        running = [asyncio.create_task(w.run()) for w in workers]
        try:
            await under_way.wait()
            producers = [
                asyncio.create_task(_produce(durable, outcome.durable, stop)),
                asyncio.create_task(_produce(plain, outcome.plain, stop)),
            ]
            await asyncio.sleep(0.2)  # adds in flight when the primary dies
            await fail_over()
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*producers)
            must_run = set(outcome.before) | set(outcome.durable)
            for _ in range(1800):
                if must_run <= set(outcome.runs):
                    counts = await plain.get_job_counts()
                    if counts["waiting"] + counts["active"] == 0:
                        break  # and every plain add that survived ran too
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            for worker in workers:
                await worker.close()
            await asyncio.gather(*running, return_exceptions=True)
    return outcome


async def test_a_cluster_failover_loses_no_job_added_before_it_nor_any_durable_add(
    own_cluster: Cluster,
) -> None:
    name = "{failover}"
    primary = own_cluster.primary_of_slot(key_slot(f"bull:{name}:id"))
    replica = own_cluster.replica_of(primary)

    async def fail_over() -> None:
        own_cluster.node(primary).kill()
        slot = key_slot(f"bull:{name}:id")
        assert await asyncio.to_thread(own_cluster.wait_promoted, slot, primary) == replica

    outcome = await _run_through_failover(
        own_cluster.url(), own_cluster.url(query="min_replicas=1"), name, fail_over
    )
    print(outcome.report("cluster failover"))
    assert set(outcome.before) <= set(outcome.runs)
    assert set(outcome.durable) <= set(outcome.runs)
    assert outcome.durable, "the durable producer got no add through the failover"


async def test_a_sentinel_failover_loses_no_job_added_before_it_nor_any_durable_add(
    own_sentinels: SentinelGroup,
) -> None:
    name = "failover"
    old = own_sentinels.primary_port()

    async def fail_over() -> None:
        own_sentinels.server(old).kill()
        new = await asyncio.to_thread(own_sentinels.wait_primary, old)
        assert new != old

    outcome = await _run_through_failover(
        own_sentinels.url(), own_sentinels.url(query="min_replicas=1"), name, fail_over
    )
    print(outcome.report("sentinel failover"))
    assert set(outcome.before) <= set(outcome.runs)
    assert set(outcome.durable) <= set(outcome.runs)


def _first_slots_queue(cluster: Cluster, port: int, within: int) -> tuple[str, int]:
    """A braced queue name whose slot is among the first ``within`` slots of ``port``."""
    first = min(a for (a, _), p in cluster.slot_map().items() if p == port)
    i = 0
    while True:
        name = "{" + f"migrating-{i}" + "}"
        slot = key_slot(f"bull:{name}:id")
        if first <= slot < first + within:
            return name, slot
        i += 1


async def test_a_slot_migration_under_busy_workers_loses_and_doubles_no_job(
    own_cluster: Cluster,
) -> None:
    source, target = own_cluster.seeds[0], own_cluster.seeds[1]
    name, slot = _first_slots_queue(own_cluster, source, 5)
    ids = {port: cli(port, "CLUSTER", "MYID").strip() for port in (source, target)}
    url = own_cluster.url()
    runs: collections.Counter[str] = collections.Counter()
    async with Queue(name, url=url) as queue:
        added = [j.id for j in await queue.add_bulk([{"name": "j", "data": {}}] * 3000)]

        under_way = asyncio.Event()

        async def work(job: Job) -> None:
            runs[job.id] += 1
            if len(runs) >= 300:
                under_way.set()

        stop = asyncio.Event()
        late: list[str] = []
        workers = [Worker(name, work, url=url, **WORKER_OPTIONS) for _ in range(2)]
        running = [asyncio.create_task(w.run()) for w in workers]
        producer = asyncio.create_task(_produce(queue, late, stop))
        try:
            await under_way.wait()
            await asyncio.to_thread(
                cli,
                source,
                "--cluster", "reshard", f"127.0.0.1:{source}",
                "--cluster-from", ids[source], "--cluster-to", ids[target],
                "--cluster-slots", "10", "--cluster-yes",
                "--cluster-pipeline", "1",  # one key per MIGRATE: a long migration
                timeout=120,
            )  # fmt: skip
            assert own_cluster.primary_of_slot(slot) == target
            await asyncio.sleep(0.5)
            stop.set()
            await producer
            everything = {*added, *late}
            for _ in range(1200):
                if everything <= set(runs):
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            for worker in workers:
                await worker.close()
            await asyncio.gather(*running, producer, return_exceptions=True)
    assert set(runs) == everything
    assert [i for i, n in runs.items() if n > 1] == []


async def _times_out_then_recovers(url: str, name: str, freeze: Node) -> None:
    async with Queue(name, url=url) as queue:
        await queue.add("before", {})
        assert freeze.proc is not None
        freeze.proc.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(StoreUnavailableError):
                await queue.add("while-frozen", {})
        finally:
            freeze.proc.send_signal(signal.SIGCONT)
        await queue.add("after", {})


async def test_a_command_to_a_frozen_cluster_primary_times_out(own_cluster: Cluster) -> None:
    name = "{frozen}"
    primary = own_cluster.node(own_cluster.primary_of_slot(key_slot(f"bull:{name}:id")))
    await _times_out_then_recovers(own_cluster.url(query="socket_timeout=0.3"), name, primary)


async def test_a_command_to_a_frozen_sentinel_primary_times_out(
    own_sentinels: SentinelGroup,
) -> None:
    primary = own_sentinels.server(own_sentinels.primary_port())
    await _times_out_then_recovers(own_sentinels.url(query="socket_timeout=0.3"), "frozen", primary)
