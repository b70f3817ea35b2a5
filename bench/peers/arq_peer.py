"""The driver of arq (asyncio, Redis). arq has no bulk add and no hand-driven
fetch. Its worker polls the queue: every ``poll_delay`` it reads at most
``queue_read_limit`` (100) ids, so the 0.5 s default caps it at 200 jobs/s and
~250 ms latency. The benchmark polls every 50 ms (``POLL_DELAY``), still a modest
idle load, to measure arq rather than its default setting."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func

from bench.peers import proto
from bench.peers.proto import Spec

POLL_DELAY = 0.05
LATENCIES: list[float] = []
LATENCY_DONE: asyncio.Event | None = None
LATENCY_WANTED = 0


async def noop(ctx: dict[str, Any], data: dict[str, Any]) -> None:
    data["i"]


async def noop_latency(ctx: dict[str, Any], data: dict[str, Any]) -> None:
    started = proto.wall_ms()
    if data["i"] >= 0:
        LATENCIES.append(started - data["t"])
        if len(LATENCIES) >= LATENCY_WANTED and LATENCY_DONE is not None:
            LATENCY_DONE.set()


async def _pool(spec: Spec) -> ArqRedis:
    return await create_pool(RedisSettings.from_dsn(spec.url), default_queue_name=spec.queue)


async def add_one(spec: Spec) -> dict[str, Any]:
    pool = await _pool(spec)
    try:
        start = time.perf_counter()
        for i in range(spec.n):
            await pool.enqueue_job("noop", proto.payload(i))
        return {"elapsed": time.perf_counter() - start}
    finally:
        await pool.aclose()


async def fill(spec: Spec) -> dict[str, Any]:
    pool = await _pool(spec)
    try:
        for first in range(0, spec.n, spec.batch):
            last = min(first + spec.batch, spec.n)
            for i in range(first, last):
                await pool.enqueue_job("noop", proto.payload(i))
        return {"elapsed": 0.0}
    finally:
        await pool.aclose()


def _worker(spec: Spec, function: Any, *, burst: bool, concurrency: int) -> Worker:
    return Worker(
        functions=[func(function, name="noop")],
        redis_settings=RedisSettings.from_dsn(spec.url),
        queue_name=spec.queue,
        burst=burst,
        max_jobs=concurrency,
        keep_result=0,
        poll_delay=POLL_DELAY,
        handle_signals=False,
    )


async def work(spec: Spec) -> dict[str, Any]:
    worker = _worker(spec, noop, burst=True, concurrency=spec.concurrency)
    start = time.perf_counter()
    await worker.main()
    elapsed = time.perf_counter() - start
    done = worker.jobs_complete
    await worker.close()
    if done < spec.n:
        raise RuntimeError(f"processed {done} jobs, expected {spec.n}")
    return {"elapsed": elapsed}


async def latency_worker(spec: Spec) -> dict[str, Any]:
    global LATENCY_DONE, LATENCY_WANTED
    LATENCY_DONE = asyncio.Event()
    LATENCY_WANTED = spec.n
    worker = _worker(spec, noop_latency, burst=False, concurrency=1)
    running = asyncio.create_task(worker.main())
    await asyncio.sleep(0.5)
    proto.emit({"ready": True})
    await LATENCY_DONE.wait()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    with contextlib.suppress(asyncio.CancelledError):  # close() cancels the job tasks
        await worker.close()
    return {"elapsed": 0.0, "latencies": LATENCIES}


async def latency_producer(spec: Spec) -> dict[str, Any]:
    pool = await _pool(spec)
    try:
        for i in range(-1, spec.n):
            await pool.enqueue_job("noop", proto.payload(i))
            await proto.pace(spec.gap_ms)
        return {"elapsed": 0.0}
    finally:
        await pool.aclose()


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
