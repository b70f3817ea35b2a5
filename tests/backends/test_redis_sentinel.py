"""corral on a Sentinel-managed primary (a primary, its replica and 3 sentinels
started by the tests): found through the sentinels, with the durability opt-in
(``?min_replicas=``) asking the replica to hold every write. Failover is in
``test_redis_failover.py``, on a group of its own."""

from __future__ import annotations

import asyncio

import pytest

from corral import FlowProducer, Job, Queue, StoreUnavailableError, Worker
from tests.deployments import SentinelGroup, cli

pytestmark = [pytest.mark.cluster, pytest.mark.redis_only]


async def test_workers_find_the_primary_through_the_sentinels(
    sentinel_group: SentinelGroup, sentinel_url: str, queue_name: str
) -> None:
    done: asyncio.Queue[str] = asyncio.Queue()

    async def work(job: Job) -> int:
        done.put_nowait(job.id)
        return int(job.data["n"]) * 2

    async with Queue(queue_name, url=sentinel_url) as queue:
        jobs = await queue.add_bulk([{"name": "double", "data": {"n": n}} for n in range(5)])
        async with Worker(queue_name, work, url=sentinel_url, concurrency=2, drain_delay=0.2):
            finished = {await done.get() for _ in jobs}
        assert finished == {j.id for j in jobs}
        stored = await queue.get_job(jobs[3].id)
        assert stored is not None
        assert stored.return_value == 6
    # The jobs are on the server the sentinels name as primary.
    port = sentinel_group.primary_port()
    assert cli(port, "EXISTS", f"bull:{queue_name}:{jobs[0].id}").strip() == "1"


async def test_min_replicas_waits_for_the_replica_on_every_write(
    sentinel_url: str, queue_name: str
) -> None:
    durable = f"{sentinel_url}?min_replicas=1"
    async with FlowProducer(url=durable) as flows, Queue(queue_name, url=durable) as queue:
        await queue.add("one", {})
        node = await flows.add(
            {
                "name": "p",
                "queue_name": queue_name,
                "children": [{"name": "c", "queue_name": queue_name}],
            }
        )
        counts = await node.job.get_dependencies_count()
        assert counts.unprocessed == 1
        await node.job.log("durable")
        assert await node.job.get_logs() == ["durable"]
        assert await queue.get_job_counts("waiting", "waiting-children") == {
            "waiting": 2,
            "waiting-children": 1,
        }


async def test_min_replicas_beyond_the_replicas_there_fails_as_outcome_unknown(
    sentinel_url: str, queue_name: str
) -> None:
    async with Queue(
        queue_name, url=f"{sentinel_url}?min_replicas=2&min_replicas_timeout=0.2"
    ) as queue:
        with pytest.raises(StoreUnavailableError, match="only 1 of 2 replica"):
            await queue.add("needs-two-replicas", {})
        # It ran on the primary all the same: WAIT cannot undo a write.
        assert await queue.get_job_counts("waiting") == {"waiting": 1}
