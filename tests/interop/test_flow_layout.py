"""The same flow added by Node BullMQ's FlowProducer and by corral's writes the same
keys: key names and types, hash fields (JSON fields compared parsed), sorted-set
members and scores, lists, sets, counters, and each queue's event sequence."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis.asyncio import Redis

from corral import FlowProducer
from tests.interop.conftest import NodeBullMQ

pytestmark = pytest.mark.interop

T = 1_800_000_000_000
"""The flow's creation time (ms), fixed so both sides store the same timestamps."""


def node_tree(render: str, media: str) -> dict[str, Any]:
    return {
        "name": "render-video", "queueName": render, "data": {"id": 7},
        "opts": {"jobId": "root-1", "priority": 3, "timestamp": T},
        "children": [
            {"name": "transcode", "queueName": media, "data": {"res": 1080},
             "opts": {"jobId": "c1", "failParentOnFailure": True, "timestamp": T}},
            {"name": "thumbnail", "queueName": media, "data": {},
             "opts": {"jobId": "c2", "ignoreDependencyOnFailure": True, "delay": 5000,
                      "timestamp": T}},
            {"name": "sub", "queueName": media, "data": {},
             "opts": {"jobId": "sub-1", "attempts": 3, "removeOnComplete": True, "timestamp": T},
             "children": [
                 {"name": "leaf", "queueName": render, "data": {},
                  "opts": {"jobId": "leaf-1", "priority": 4, "timestamp": T}}]},
        ],
    }  # fmt: skip


def corral_tree(render: str, media: str) -> dict[str, Any]:
    at = T / 1000
    return {
        "name": "render-video", "queue_name": render, "data": {"id": 7},
        "options": {"job_id": "root-1", "priority": 3, "timestamp": at},
        "children": [
            {"name": "transcode", "queue_name": media, "data": {"res": 1080},
             "options": {"job_id": "c1", "fail_parent_on_failure": True, "timestamp": at}},
            {"name": "thumbnail", "queue_name": media,
             "options": {"job_id": "c2", "ignore_dependency_on_failure": True, "delay": 5,
                         "timestamp": at}},
            {"name": "sub", "queue_name": media,
             "options": {"job_id": "sub-1", "attempts": 3, "remove_on_complete": True,
                         "timestamp": at},
             "children": [
                 {"name": "leaf", "queue_name": render,
                  "options": {"job_id": "leaf-1", "priority": 4, "timestamp": at}}]},
        ],
    }  # fmt: skip


def _value(text: str) -> Any:
    """A stored string, parsed when it is JSON (opts, data, parent), else as is."""
    try:
        return json.loads(text)
    except ValueError:
        return text


async def dump(client: Redis, prefix: str) -> dict[str, Any]:
    """Every key under ``prefix`` with its contents, the prefix replaced by ``P``."""
    out: dict[str, Any] = {}
    raw: Any = client  # replies are text (decode_responses)

    def norm(text: Any) -> str:
        return str(text).replace(prefix + ":", "P:")

    async for key in raw.scan_iter(match=f"{prefix}:*", count=1000):
        kind = await raw.type(key)
        name = norm(key)
        if kind == "hash":
            fields = await raw.hgetall(key)
            out[name] = ("hash", {f: _value(norm(v)) for f, v in fields.items()})
        elif kind == "zset":
            out[name] = (
                "zset",
                sorted((norm(m), s) for m, s in await raw.zrange(key, 0, -1, withscores=True)),
            )
        elif kind == "list":
            out[name] = ("list", await raw.lrange(key, 0, -1))
        elif kind == "set":
            out[name] = ("set", sorted(norm(m) for m in await raw.smembers(key)))
        elif kind == "stream":
            entries = await raw.xrange(key)
            out[name] = (
                "stream",
                [{k: norm(v) for k, v in fields.items()} for _, fields in entries],
            )
        else:
            out[name] = (kind, norm(await raw.get(key)))
    return out


async def test_node_and_corral_write_the_same_flow(
    bullmq: NodeBullMQ, redis_url: str, queue_name: str
) -> None:
    render, media = f"{queue_name}-render", f"{queue_name}-media"
    await bullmq.run("flows.mjs", "-", {"prefix": "nodefl", "steps": [
        {"op": "addFlow", "tree": node_tree(render, media)}]})  # fmt: skip
    async with FlowProducer(url=redis_url, prefix="corfl") as flows:
        await flows.add(corral_tree(render, media))
    raw = Redis.from_url(redis_url, decode_responses=True)
    try:
        theirs, mine = await dump(raw, "nodefl"), await dump(raw, "corfl")
    finally:
        await raw.aclose()
    assert len(theirs) > 15
    assert sorted(mine) == sorted(theirs)
    for key in sorted(theirs):
        assert mine[key] == theirs[key], key
