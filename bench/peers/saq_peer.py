"""The driver of SAQ (asyncio, Redis). SAQ has no bulk add (``Queue.map`` also
waits for results) and no hand-driven fetch. Results are not kept (``ttl=-1``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from saq import Queue, Worker

from bench.peers import proto
from bench.peers.proto import Spec

LATENCIES: list[float] = []


async def noop(ctx: Any, *, data: dict[str, Any]) -> None:
    data["i"]


async def noop_latency(ctx: Any, *, data: dict[str, Any]) -> None:
    started = proto.wall_ms()
    if data["i"] >= 0:
        LATENCIES.append(started - data["t"])


def _queue(spec: Spec) -> Queue:
    return Queue.from_url(spec.url, name=spec.queue)


async def add_one(spec: Spec) -> dict[str, Any]:
    queue = _queue(spec)
    await queue.connect()
    try:
        start = time.perf_counter()
        for i in range(spec.n):
            await queue.enqueue("noop", ttl=-1, data=proto.payload(i))
        return {"elapsed": time.perf_counter() - start}
    finally:
        await queue.disconnect()


async def fill(spec: Spec) -> dict[str, Any]:
    queue = _queue(spec)
    await queue.connect()
    try:
        for first in range(0, spec.n, spec.batch):
            last = min(first + spec.batch, spec.n)
            await asyncio.gather(
                *(queue.enqueue("noop", ttl=-1, data=proto.payload(i)) for i in range(first, last))
            )
        return {"elapsed": 0.0}
    finally:
        await queue.disconnect()


async def _run_until(spec: Spec, function: Any, concurrency: int, *, ready: bool) -> float:
    """Run a SAQ worker until ``wanted`` jobs finished; the seconds it took."""
    wanted = spec.n + 1 if ready else spec.n
    done = asyncio.Event()
    finished = 0

    async def after_process(ctx: Any) -> None:
        nonlocal finished
        finished += 1
        if finished >= wanted:
            done.set()

    queue = _queue(spec)
    await queue.connect()
    worker = Worker(
        queue, functions=[("noop", function)], concurrency=concurrency, after_process=after_process
    )
    worker.SIGNALS = []
    start = time.perf_counter()
    running = asyncio.create_task(worker.start())
    if ready:
        await asyncio.sleep(0.5)
        proto.emit({"ready": True})
    await done.wait()
    elapsed = time.perf_counter() - start
    await worker.stop()
    await asyncio.gather(running, return_exceptions=True)
    await queue.disconnect()
    return elapsed


async def work(spec: Spec) -> dict[str, Any]:
    return {"elapsed": await _run_until(spec, noop, spec.concurrency, ready=False)}


async def latency_worker(spec: Spec) -> dict[str, Any]:
    await _run_until(spec, noop_latency, 1, ready=True)
    return {"elapsed": 0.0, "latencies": LATENCIES}


async def latency_producer(spec: Spec) -> dict[str, Any]:
    queue = _queue(spec)
    await queue.connect()
    try:
        for i in range(-1, spec.n):
            await queue.enqueue("noop", ttl=-1, data=proto.payload(i))
            await proto.pace(spec.gap_ms)
        return {"elapsed": 0.0}
    finally:
        await queue.disconnect()


if __name__ == "__main__":
    proto.run(
        {
            "add-one": add_one,
            "fill": fill,
            "work": work,
            "latency-worker": latency_worker,
            "latency-producer": latency_producer,
        }
    )
