"""Opt-in durability: a write script followed by ``WAIT`` on the same connection.

Redis replicates asynchronously: a primary acknowledges a write before any
replica has it, so a primary killed just then takes the write with it, and the
replica promoted in its place never saw it (an ``add`` acknowledged to the
caller, then gone). With ``?min_replicas=N`` on the URL, every script that
writes is sent together with ``WAIT N timeout``, on one connection to the
server that ran it; the call returns once N replicas hold the write. When fewer
acknowledge in time, the call fails with "outcome unknown"
(:class:`~corral.backends.redis.connection.RedisConnectionError`, which the
backend raises as :class:`~corral.errors.StoreUnavailableError`): the write is
on the primary, but a failover now could lose it.

``WAIT`` narrows the window; it is not a consensus: a replica that acknowledged
can still lose the race to be promoted, and a write that failed ``WAIT`` may
survive. What it changes, measured: see the Cluster and Sentinel guide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.backends.redis.connection import (
    CommandHead,
    RedisConnection,
    RedisConnectionError,
    RedisReplyError,
)
from corral.backends.redis.scripts import Script

__all__ = ["READ_ONLY", "run_durably"]

READ_ONLY = frozenset(
    {"get_counts", "get_dependencies", "get_jobs", "get_rate_limit_ttl", "get_state"}
)
"""Scripts that write nothing, so need no ``WAIT``."""


async def run_durably(
    script: Script,
    connection: RedisConnection,
    head: CommandHead,
    args: Sequence[Any],
    replicas: int,
    wait_ms: int,
) -> Any:
    """Run ``script`` and ``WAIT`` until ``replicas`` replicas have its writes."""
    commands = [(*head.args, *args), ("WAIT", replicas, wait_ms)]
    try:
        reply, acknowledged = await connection.execute_many(commands)
    except RedisReplyError as exc:
        if not str(exc).startswith("NOSCRIPT"):
            raise
        await connection.execute("SCRIPT", "LOAD", script.source)
        reply, acknowledged = await connection.execute_many(commands)
    if int(acknowledged) < replicas:
        raise RedisConnectionError(
            f"{script.name} ran on the primary, but only {acknowledged} of {replicas} "
            f"replica(s) acknowledged it within {wait_ms} ms (min_replicas): a failover "
            "now could lose it"
        )
    return reply
