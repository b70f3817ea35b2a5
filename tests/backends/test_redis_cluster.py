"""corral on a real Redis Cluster (3 primaries + 3 replicas started by the tests).

What a user of a Cluster relies on beyond the conformance suite (which also runs
here): a queue whose keys would spread over slots, and a flow whose queues are
in several slots, are refused before anything is written; queues spread over
every shard are all listed (``list_queues``, ``corral status``); a braced prefix
carries a flow across queues. Failover and slot migration are in
``test_redis_cluster_failover.py``, with a cluster of their own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from corral import ConfigurationError, FlowProducer, Job, Queue, Worker
from corral.backends import open_backend
from corral.backends.redis.slots import key_slot
from tests.deployments import Cluster, cli, raw_client

pytestmark = [pytest.mark.cluster, pytest.mark.redis_only]


@pytest.fixture
async def raw(cluster_url: str) -> AsyncIterator[object]:
    client = raw_client(cluster_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_prefix_that_spreads_a_queue_over_slots_is_refused_before_writing(
    cluster_url: str, queue_name: str, raw: object
) -> None:
    async with Queue(queue_name, url=cluster_url) as queue:
        with pytest.raises(ConfigurationError, match=r"prefix='\{bull\}'.*'\{" + queue_name):
            await queue.add("job", {})
    keys = [k async for k in raw.scan_iter(match=f"bull:{queue_name}:*")]  # type: ignore[attr-defined]
    assert keys == []


async def test_a_braced_prefix_or_queue_name_keeps_the_queue_in_one_slot(
    cluster_url: str, queue_name: str
) -> None:
    for prefix, name in (("{app}", queue_name), ("bull", "{" + queue_name + "}")):
        async with Queue(name, url=cluster_url, prefix=prefix) as queue:
            job = await queue.add("job", {"n": 1})
            done: asyncio.Queue[str] = asyncio.Queue()

            async def work(job: Job, done: asyncio.Queue[str] = done) -> str:
                done.put_nowait(job.id)
                return "ok"

            async with Worker(name, work, url=cluster_url, prefix=prefix, drain_delay=0.2):
                assert await done.get() == job.id
            got = await queue.get_job(job.id)
            assert got is not None
            assert await got.get_state() == "completed"


async def test_a_flow_across_slots_is_refused_with_how_to_choose_the_prefix(
    cluster_url: str, queue_name: str, raw: object
) -> None:
    parent, child = "{" + queue_name + "-a}", "{" + queue_name + "-b}"
    assert key_slot(f"bull:{parent}:x") != key_slot(f"bull:{child}:x")
    async with FlowProducer(url=cluster_url) as flows:
        with pytest.raises(ConfigurationError, match=r"one braced prefix \(prefix='\{app\}'"):
            await flows.add(
                {
                    "name": "p",
                    "queue_name": parent,
                    "children": [{"name": "c", "queue_name": child}],
                }
            )
    keys = [k async for k in raw.scan_iter(match=f"bull:{{{queue_name}*")]  # type: ignore[attr-defined]
    assert keys == []


async def test_a_flow_under_one_braced_prefix_spans_queues(
    cluster_url: str, queue_name: str
) -> None:
    prefix = "{" + queue_name + "}"
    async with FlowProducer(url=cluster_url, prefix=prefix) as flows:
        node = await flows.add(
            {
                "name": "parent",
                "queue_name": "render",
                "children": [{"name": "child", "queue_name": "media"}],
            }
        )

    async def child(job: object) -> int:
        return 7

    async def parent(job: object) -> object:
        return await job.get_children_values()  # type: ignore[attr-defined]

    options: dict[str, Any] = {"url": cluster_url, "prefix": prefix, "drain_delay": 0.2}
    async with (
        Worker("media", child, **options),
        Worker("render", parent, **options),
        Queue("render", url=cluster_url, prefix=prefix) as queue,
    ):
        for _ in range(300):
            job = await queue.get_job(node.job.id)
            if job is not None and await job.get_state() == "completed":
                break
            await asyncio.sleep(0.05)
        assert job is not None
        assert job.return_value == {f"{prefix}:media:{node.children[0].job.id}": 7}


def _queues_on_every_primary(cluster: Cluster, stem: str, per_primary: int = 3) -> list[str]:
    """Braced queue names, ``per_primary`` on each primary of ``cluster``."""
    owners = cluster.slot_map()
    wanted: dict[int, list[str]] = {port: [] for port in set(owners.values())}
    i = 0
    while any(len(names) < per_primary for names in wanted.values()):
        name = "{" + f"{stem}-{i}" + "}"
        slot = key_slot(f"bull:{name}:id")
        port = next(p for (a, b), p in owners.items() if a <= slot <= b)
        if len(wanted[port]) < per_primary:
            wanted[port].append(name)
        i += 1
    return sorted(n for names in wanted.values() for n in names)


async def test_list_queues_and_corral_status_see_queues_on_every_shard(
    redis_cluster: Cluster, cluster_url: str, queue_name: str
) -> None:
    names = _queues_on_every_primary(redis_cluster, queue_name)
    for name in names:
        async with Queue(name, url=cluster_url) as queue:
            await queue.add("job", {})
    backend = open_backend(cluster_url)
    try:
        listed = await backend.list_queues()
    finally:
        await backend.close()
    assert set(names) <= set(listed)

    status = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "corral", "status", "--url", cluster_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    for name in names:
        assert name in status.stdout


EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "cluster_sentinel.py"
EXPECTED = EXAMPLE.with_suffix(".out").read_text()


async def test_the_guide_example_runs_on_the_cluster(cluster_url: str, tmp_path: Path) -> None:
    example = EXAMPLE
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(example)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "CORRAL_URL": cluster_url},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == EXPECTED


def _topology_reads(cluster: Cluster) -> int:
    """How many times a client read the slot table, summed over the nodes."""
    total = 0
    for node in cluster.nodes:
        for line in cli(node.port, "INFO", "commandstats").splitlines():
            name, _, stats = line.partition(":")
            if name in ("cmdstat_cluster|slots", "cmdstat_cluster|shards", "cmdstat_cluster|nodes"):
                total += int(stats.split("calls=", 1)[1].split(",", 1)[0])
    return total


async def test_queues_of_one_process_read_the_cluster_topology_once(
    redis_cluster: Cluster, queue_name: str
) -> None:
    url = redis_cluster.url()
    first = Queue("{" + queue_name + "-0}", url=url)
    await first.add("job", {})
    before = _topology_reads(redis_cluster)
    queues = [Queue("{" + f"{queue_name}-{i}" + "}", url=url) for i in range(1, 6)]
    try:
        for queue in queues:
            await queue.add("job", {})
        assert _topology_reads(redis_cluster) == before
        # Closing one leaves the others working on the shared client.
        await first.close()
        for queue in queues:
            assert await queue.get_job_counts("waiting") == {"waiting": 1}
    finally:
        for queue in queues:
            await queue.close()
    # After the last one closed, a new queue connects again.
    async with Queue("{" + queue_name + "-0}", url=url) as again:
        assert await again.get_job_counts("waiting") == {"waiting": 1}
        assert _topology_reads(redis_cluster) > before
