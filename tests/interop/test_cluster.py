"""Node BullMQ 6 and corral share a queue on a Redis Cluster, both ways: the queue
is braced (``{name}``) so its keys share one slot, as BullMQ documents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from corral import Job, Queue, Worker
from tests.interop.conftest import NodeBullMQ, NodeEnv

pytestmark = [pytest.mark.interop, pytest.mark.cluster]


@pytest.fixture
async def node_on_cluster(node_env: NodeEnv, cluster_url: str) -> AsyncIterator[NodeBullMQ]:
    node = NodeBullMQ(node_env, cluster_url)
    try:
        yield node
    finally:
        await node.close()


async def test_node_and_corral_share_a_braced_queue_on_the_cluster(
    node_on_cluster: NodeBullMQ, cluster_url: str, queue_name: str
) -> None:
    name = "{" + queue_name + "}"
    await node_on_cluster.ops(
        name, *[{"op": "add", "name": f"node-{i}", "data": {"i": i}} for i in range(5)]
    )
    seen: asyncio.Queue[str] = asyncio.Queue()

    async def work(job: Job) -> dict[str, str]:
        seen.put_nowait(job.name)
        return {"by": "corral"}

    async with Worker(name, work, url=cluster_url, drain_delay=0.2):
        taken = [await seen.get() for _ in range(5)]
    assert taken == [f"node-{i}" for i in range(5)]

    async with Queue(name, url=cluster_url) as queue:
        added = [await queue.add(f"corral-{i}", {"i": i}) for i in range(5)]
    node_worker = await node_on_cluster.start(
        "work.mjs", name, {"until": {"finished": 5}, "timeoutMs": 20000}
    )
    result = await node_worker.result()
    assert not result["timedOut"]
    assert [s["name"] for s in result["seen"]] == [j.name for j in added]
    async with Queue(name, url=cluster_url) as queue:
        counts = await queue.get_job_counts("completed", "waiting", "active")
    assert counts == {"completed": 10, "waiting": 0, "active": 0}
