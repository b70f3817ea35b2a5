"""Which client library corral should use for Redis Cluster and Sentinel: measured.

``python -m bench.client_choice`` starts a Redis Cluster (3 primaries + 3
replicas, ``tests/deployments.py``) and one standalone server, then times the
call corral makes most, a script over two keys of one slot (``EVALSHA``), from
16 coroutines at once, with each library that is installed:

* corral's own pipelining client (standalone only: it speaks to one server);
* redis-py's asyncio ``Redis`` / ``RedisCluster``, and corral's Cluster
  connection over it (what corral uses);
* coredis's ``Redis`` / ``RedisCluster``;
* valkey-glide's ``GlideClient`` / ``GlideClusterClient``.

A library that is not installed is skipped (``pip install coredis valkey-glide``
into a scratch venv to include them; corral needs neither). Every library runs
in this one process, in turns rotated every round; the median of the rounds is
shown.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

SCRIPT = """
redis.call("SET", KEYS[1], ARGV[1], "PX", 30000)
return redis.call("INCR", KEYS[2])
"""
CALLS = 20_000
CONCURRENCY = 16
ROUNDS = 3

Call = Callable[[int], Awaitable[Any]]
Maker = Callable[[str, int], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]]


def _keys(i: int) -> tuple[str, str]:
    slot = "{q" + str(i % 50) + "}"
    return f"bull:{slot}:{i}:lock", f"bull:{slot}:counter"


async def _corral(host: str, port: int) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from corral.backends.redis.client import RedisClient

    client = RedisClient(f"redis://{host}:{port}/0")
    sha = await client.execute("SCRIPT", "LOAD", SCRIPT)

    async def call(i: int) -> Any:
        return await client.execute("EVALSHA", sha, 2, *_keys(i), "t")

    return call, client.close


async def _corral_cluster(host: str, port: int) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from corral.backends.redis.deployments import parse_deployment_url
    from corral.backends.redis.redispy import ClusterConnection

    conn = ClusterConnection(parse_deployment_url(f"redis+cluster://{host}:{port}"))
    sha = await conn.execute("SCRIPT", "LOAD", SCRIPT)

    async def call(i: int) -> Any:
        return await conn.execute("EVALSHA", sha, 2, *_keys(i), "t")

    return call, conn.close


def _redis_py(cluster: bool) -> Maker:
    async def make(host: str, port: int) -> tuple[Call, Callable[[], Awaitable[None]]]:
        from redis.asyncio import Redis, RedisCluster

        client: Any = (RedisCluster if cluster else Redis)(host=host, port=port, protocol=2)
        sha = await client.script_load(SCRIPT)

        async def call(i: int) -> Any:
            return await client.evalsha(sha, 2, *_keys(i), "t")

        return call, client.aclose

    return make


def _coredis(cluster: bool) -> Maker:
    async def make(host: str, port: int) -> tuple[Call, Callable[[], Awaitable[None]]]:
        import coredis

        client: Any = (coredis.RedisCluster if cluster else coredis.Redis)(host=host, port=port)
        entered = await client.__aenter__() if hasattr(client, "__aenter__") else client
        sha = await entered.script_load(SCRIPT)

        async def call(i: int) -> Any:
            return await entered.evalsha(sha, keys=list(_keys(i)), args=["t"])

        async def close() -> None:
            if hasattr(client, "__aexit__"):
                await client.__aexit__(None, None, None)

        return call, close

    return make


def _glide(cluster: bool) -> Maker:
    async def make(host: str, port: int) -> tuple[Call, Callable[[], Awaitable[None]]]:
        import glide

        if cluster:
            config: Any = glide.GlideClusterClientConfiguration([glide.NodeAddress(host, port)])
            client: Any = await glide.GlideClusterClient.create(config)
        else:
            config = glide.GlideClientConfiguration([glide.NodeAddress(host, port)])
            client = await glide.GlideClient.create(config)
        script = glide.Script(SCRIPT)

        async def call(i: int) -> Any:
            return await client.invoke_script(script, keys=list(_keys(i)), args=["t"])

        return call, client.close

    return make


async def _rate(make: Maker, host: str, port: int) -> float:
    call, close = await make(host, port)
    try:
        for i in range(200):  # warm up: connections, script caches
            await call(i)
        counter = iter(range(CALLS))

        async def one_lane() -> None:
            for i in counter:
                await call(i)

        start = time.perf_counter()
        await asyncio.gather(*(one_lane() for _ in range(CONCURRENCY)))
        return CALLS / (time.perf_counter() - start)
    finally:
        await close()


def _contenders() -> list[tuple[str, str, Maker]]:
    """(label, deployment, maker) for every installed library."""
    found = [
        ("corral's client", "standalone", _corral),
        ("redis-py", "standalone", _redis_py(False)),
        ("redis-py RedisCluster", "cluster", _redis_py(True)),
        ("corral over redis-py", "cluster", _corral_cluster),
    ]
    if find_spec("coredis"):
        found += [("coredis", "standalone", _coredis(False))]
        found += [("coredis RedisCluster", "cluster", _coredis(True))]
    if find_spec("glide"):
        found += [("valkey-glide", "standalone", _glide(False))]
        found += [("valkey-glide cluster", "cluster", _glide(True))]
    return found


async def _main() -> None:
    from tests.conftest import start_redis_server, stop_redis_server
    from tests.deployments import start_cluster

    with tempfile.TemporaryDirectory(prefix="corral-clients-") as tmp:
        server = start_redis_server(Path(tmp))
        cluster = start_cluster(Path(tmp) / "cluster")
        try:
            places = {"standalone": server.port, "cluster": cluster.seeds[0]}
            contenders = _contenders()
            rates: dict[str, list[float]] = {label: [] for label, _, _ in contenders}
            for round_no in range(ROUNDS):
                shift = round_no % len(contenders)
                for label, where, make in contenders[shift:] + contenders[:shift]:
                    try:
                        rates[label].append(await _rate(make, "127.0.0.1", places[where]))
                    except Exception as exc:  # a library's failure is a cell, not a crash
                        print(f"{label}: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            cluster.stop()
            stop_redis_server(server)
    print(f"EVALSHA over 2 keys, {CONCURRENCY} at once, {CALLS:,} calls; median of {ROUNDS}")
    for label, where, _ in contenders:
        shown = f"{statistics.median(rates[label]):>10,.0f} calls/s" if rates[label] else "failed"
        print(f"  {label:<24} {where:<11} {shown}")


if __name__ == "__main__":
    asyncio.run(_main())
