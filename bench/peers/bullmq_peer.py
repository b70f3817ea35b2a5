"""The driver of ``bullmq`` from PyPI, BullMQ's official Python port."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bullmq import Job, Queue, Worker

from bench.peers import proto
from bench.peers.proto import Spec

REMOVE = {"removeOnComplete": True}


def _bulk_item(i: int) -> dict[str, Any]:
    return {"name": "noop", "data": proto.payload(i), "opts": REMOVE}


async def add_one(spec: Spec) -> dict[str, Any]:
    queue = Queue(spec.queue, {"connection": spec.url})
    try:
        start = time.perf_counter()
        for i in range(spec.n):
            await queue.add("noop", proto.payload(i), REMOVE)
        return {"elapsed": time.perf_counter() - start}
    finally:
        await queue.close()


async def add_bulk(spec: Spec) -> dict[str, Any]:
    queue = Queue(spec.queue, {"connection": spec.url})
    try:
        start = time.perf_counter()
        for first in range(0, spec.n, spec.batch):
            last = min(first + spec.batch, spec.n)
            await queue.addBulk([_bulk_item(i) for i in range(first, last)])
        return {"elapsed": time.perf_counter() - start}
    finally:
        await queue.close()


async def work(spec: Spec) -> dict[str, Any]:
    done = asyncio.Event()
    completed = 0

    async def noop(job: Job, token: str) -> None:
        job.data["i"]

    def on_completed(*_: Any) -> None:
        nonlocal completed
        completed += 1
        if completed >= spec.n:
            done.set()

    opts = {"connection": spec.url, "concurrency": spec.concurrency, "autorun": False}
    worker = Worker(spec.queue, noop, opts)
    worker.on("completed", on_completed)
    start = time.perf_counter()
    running = asyncio.ensure_future(worker.run())
    await done.wait()
    elapsed = time.perf_counter() - start
    await worker.close()
    await running
    return {"elapsed": elapsed}


async def manual(spec: Spec) -> dict[str, Any]:
    worker = Worker(spec.queue, None, {"connection": spec.url})
    token = "bench-token"
    try:
        start = time.perf_counter()
        job = await worker.getNextJob(token)
        done = 0
        while job is not None:
            job.data["i"]
            done += 1
            raw = await job.moveToCompleted(None, token, done < spec.n)
            job = await worker.nextJobFromJobData(*raw, token) if raw and raw[0] else None
        elapsed = time.perf_counter() - start
        if done != spec.n:
            raise RuntimeError(f"processed {done} jobs, expected {spec.n}")
        return {"elapsed": elapsed}
    finally:
        await worker.close()


async def latency_worker(spec: Spec) -> dict[str, Any]:
    latencies: list[float] = []
    done = asyncio.Event()

    async def noop(job: Job, token: str) -> None:
        started = proto.wall_ms()
        if job.data["i"] >= 0:
            latencies.append(started - job.data["t"])
            if len(latencies) >= spec.n:
                done.set()

    opts = {"connection": spec.url, "concurrency": 1, "autorun": False}
    worker = Worker(spec.queue, noop, opts)
    running = asyncio.ensure_future(worker.run())
    await asyncio.sleep(0.5)
    proto.emit({"ready": True})
    await done.wait()
    await worker.close()
    await running
    return {"elapsed": 0.0, "latencies": latencies}


async def latency_producer(spec: Spec) -> dict[str, Any]:
    queue = Queue(spec.queue, {"connection": spec.url})
    try:
        for i in range(-1, spec.n):
            await queue.add("noop", proto.payload(i), REMOVE)
            await proto.pace(spec.gap_ms)
        return {"elapsed": 0.0}
    finally:
        await queue.close()


if __name__ == "__main__":
    proto.run(
        {
            "add-one": add_one,
            "add-bulk": add_bulk,
            "fill": add_bulk,
            "work": work,
            "manual": manual,
            "latency-worker": latency_worker,
            "latency-producer": latency_producer,
        }
    )
