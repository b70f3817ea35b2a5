"""The Redis layout of flows: what a child's hash and a parent's keys hold, and the
Cluster rule (one braced prefix puts every key a flow's scripts touch in one slot)."""

from __future__ import annotations

import json
import re

from redis.asyncio import Redis

from corral import FlowProducer, Worker


def hash_tag(key: str) -> str:
    """Redis Cluster's hash tag: the text between the first "{" and the next "}", if
    not empty; else the whole key."""
    match = re.search(r"\{([^}]+)\}", key)
    return match.group(1) if match else key


async def test_a_child_names_its_parent_as_node_does(
    redis_url: str, raw: Redis, queue_name: str
) -> None:
    kids = f"{queue_name}-kids"
    async with FlowProducer(url=redis_url) as flows:
        node = await flows.add({"name": "p", "queue_name": queue_name, "children": [
            {"name": "c", "queue_name": kids, "options": {"continue_parent_on_failure": True}}]})  # fmt: skip
    child = node.children[0].job
    fields = await raw.hgetall(f"bull:{kids}:{child.id}")
    assert fields["parentKey"] == f"bull:{queue_name}:{node.job.id}"
    assert json.loads(fields["parent"]) == {
        "id": node.job.id, "queueKey": f"bull:{queue_name}", "cpof": True,
    }  # fmt: skip
    opts = json.loads(fields["opts"])
    assert opts["parent"] == {"id": node.job.id, "queue": f"bull:{queue_name}"}
    assert opts["cpof"] is True
    # A parent's own hash has no flow fields; its children are a set of job keys.
    assert "parentKey" not in await raw.hgetall(f"bull:{queue_name}:{node.job.id}")
    deps = await raw.smembers(f"bull:{queue_name}:{node.job.id}:dependencies")
    assert deps == {f"bull:{kids}:{child.id}"}
    assert await raw.zscore(f"bull:{queue_name}:waiting-children", node.job.id) is not None


async def test_a_flow_under_one_braced_prefix_stays_in_one_hash_slot(
    redis_url: str, raw: Redis, queue_name: str
) -> None:
    prefix = "{app}"
    kids = f"{queue_name}-kids"
    async with FlowProducer(url=redis_url, prefix=prefix) as flows:
        node = await flows.add({"name": "p", "queue_name": queue_name, "children": [
            {"name": f"c{i}", "queue_name": kids} for i in range(3)]})  # fmt: skip
    async with Worker(kids, url=redis_url, prefix=prefix) as worker:
        for _ in range(3):
            job = await worker.get_next_job("t", block=False)
            assert job is not None
            await job.move_to_completed("ok", "t", fetch_next=False)
    assert await node.job.get_state() == "waiting"
    keys = [key async for key in raw.scan_iter(match="{app}:*", count=1000)]
    assert any(k.endswith(":processed") for k in keys)
    assert {hash_tag(k) for k in keys} == {"app"}
