"""corral's driver, on Redis or on SQLite (the spec's URL decides)."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import replace
from typing import Any

from bench.peers import proto
from bench.peers.proto import Spec
from corral import FlowProducer, Job, MetricsTime, Queue, Worker

REMOVE = {"remove_on_complete": True}


def _bulk_item(i: int) -> dict[str, Any]:
    return {"name": "noop", "data": proto.payload(i), **REMOVE}


async def add_one(spec: Spec) -> dict[str, Any]:
    queue = Queue(spec.queue, url=spec.url)
    try:
        start = time.perf_counter()
        for i in range(spec.n):
            await queue.add("noop", proto.payload(i), remove_on_complete=True)
        return {"elapsed": time.perf_counter() - start}
    finally:
        await queue.close()


async def add_bulk(spec: Spec) -> dict[str, Any]:
    queue = Queue(spec.queue, url=spec.url)
    try:
        start = time.perf_counter()
        for first in range(0, spec.n, spec.batch):
            last = min(first + spec.batch, spec.n)
            await queue.add_bulk([_bulk_item(i) for i in range(first, last)])
        return {"elapsed": time.perf_counter() - start}
    finally:
        await queue.close()


fill = add_bulk


async def work(spec: Spec) -> dict[str, Any]:
    done = asyncio.Event()
    completed = 0

    async def noop(job: Job) -> None:
        job.data["i"]

    def on_completed(job: Job, result: Any) -> None:
        nonlocal completed
        completed += 1
        if completed >= spec.n:
            done.set()

    kinds = "both" if spec.metrics is True else str(spec.metrics or "")
    worker = Worker(
        spec.queue, noop, url=spec.url, concurrency=spec.concurrency,
        metrics=MetricsTime.ONE_WEEK if kinds in ("bullmq", "both") else None,
    )  # fmt: skip
    if kinds in ("prometheus", "both"):
        from prometheus_client import CollectorRegistry

        from corral.prometheus import WorkerMetrics

        WorkerMetrics(CollectorRegistry()).instrument(worker)
    worker.on("completed", on_completed)
    cpu = proto.cpu_s()
    start = time.perf_counter()
    running = asyncio.create_task(worker.run())
    await done.wait()
    elapsed = time.perf_counter() - start
    cpu = proto.cpu_s() - cpu
    await worker.close()
    await running
    return {"elapsed": elapsed, "cpu_s": cpu}


METRICS_KINDS = ("none", "bullmq", "prometheus", "both")
"""The cases of :func:`metrics_phases`, in the order of its first round."""


async def metrics_phases(spec: Spec) -> dict[str, Any]:
    """One c16 worker on ``cycles`` rounds of phases, one phase per kind of metrics
    (``METRICS_KINDS``, the order turning each round), ``n`` jobs each: what it
    records changes between phases, with nothing else changed (same process, same
    memory, same connections), so the phases compare what recording costs per job.
    Each phase's wall time, this process's CPU and, on Redis, the server's CPU are
    read when its last job completes."""
    from prometheus_client import CollectorRegistry

    from corral.prometheus import WorkerMetrics

    rounds = [METRICS_KINDS[r % 4 :] + METRICS_KINDS[: r % 4] for r in range(spec.cycles)]
    plan = [kind for order in rounds for kind in order]
    done = asyncio.Event()
    completed = 0
    marks: list[tuple[float, float]] = []
    redis = None
    if spec.url.startswith("redis"):
        from corral.backends.redis.client import RedisClient

        redis = RedisClient(spec.url)

    async def noop(job: Job) -> None:
        job.data["i"]

    worker = Worker(spec.queue, noop, url=spec.url, concurrency=16)
    hooks = worker._hooks._callbacks  # the bench toggles the metrics' own hooks
    before = {event: list(callbacks) for event, callbacks in hooks.items()}
    registry = CollectorRegistry()
    WorkerMetrics(registry).instrument(worker)
    prometheus = {
        event: [c for c in callbacks if c not in before.get(event, [])]
        for event, callbacks in hooks.items()
    }
    fetcher = worker._fetcher
    movers = {  # jobs fetched from then on move through the mover the fetcher holds
        False: replace(fetcher.mover, metrics_max_points=0),
        True: replace(fetcher.mover, metrics_max_points=int(MetricsTime.ONE_WEEK)),
    }
    redis_cpu: list[asyncio.Task[float]] = []

    hooked = True  # instrument() registered them

    def record(kind: str) -> None:
        nonlocal hooked
        fetcher.mover = movers[kind in ("bullmq", "both")]
        wanted = kind in ("prometheus", "both")
        if wanted != hooked:
            hooked = wanted
            for event, callbacks in prometheus.items():
                for callback in callbacks:
                    if wanted:
                        worker.on(event, callback)  # type: ignore[arg-type]
                    else:
                        worker.off(event, callback)  # type: ignore[arg-type]

    def mark() -> None:
        marks.append((time.perf_counter(), proto.cpu_s()))
        if redis is not None:
            redis_cpu.append(asyncio.ensure_future(_redis_cpu_s(redis)))

    def on_completed(job: Job, result: Any) -> None:
        nonlocal completed
        completed += 1
        if completed % spec.n == 0:
            mark()
            phase = completed // spec.n
            if phase == len(plan):
                done.set()
            else:
                record(plan[phase])

    worker.on("completed", on_completed)
    record(plan[0])
    mark()
    running = asyncio.create_task(worker.run())
    await done.wait()
    await worker.close()
    await running
    server = [await task for task in redis_cpu]
    if redis is not None:
        await redis.close()
    # What each kind counted, for the harness to check the phases switched as planned.
    counted = registry.get_sample_value(
        "corral_jobs_completed_total", {"queue": spec.queue, "name": "noop"}
    )
    async with Queue(spec.queue, url=spec.url) as queue:
        per_minute = (await queue.get_metrics("completed")).meta.count
    phases = []
    for i, kind in enumerate(plan):
        (t0, c0), (t1, c1) = marks[i], marks[i + 1]
        phase = {"kind": kind, "rate": spec.n / (t1 - t0), "cpu_us": (c1 - c0) / spec.n * 1e6}
        if server:
            phase["redis_us"] = (server[i + 1] - server[i]) / spec.n * 1e6
        phases.append(phase)
    return {
        "elapsed": 0.0,
        "phases": phases,
        "counted": {"prometheus": counted or 0, "bullmq": per_minute},
    }


async def _redis_cpu_s(redis: Any) -> float:
    info = await redis.execute("INFO", "cpu")
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return float(fields["used_cpu_user"]) + float(fields["used_cpu_sys"])


async def manual(spec: Spec) -> dict[str, Any]:
    worker = Worker(spec.queue, url=spec.url)
    token = "bench-token"
    try:
        cpu = proto.cpu_s()
        start = time.perf_counter()
        job = await worker.get_next_job(token)
        done = 0
        while job is not None:
            job.data["i"]
            done += 1
            job = await job.move_to_completed(None, token, fetch_next=done < spec.n)
        elapsed = time.perf_counter() - start
        cpu = proto.cpu_s() - cpu
        if done != spec.n:
            raise RuntimeError(f"processed {done} jobs, expected {spec.n}")
        return {"elapsed": elapsed, "cpu_s": cpu}
    finally:
        await worker.close()


async def latency_worker(spec: Spec) -> dict[str, Any]:
    latencies: list[float] = []
    done = asyncio.Event()

    async def noop(job: Job) -> None:
        started = proto.wall_ms()
        data = job.data
        if data["i"] >= 0:
            latencies.append(started - data["t"])
            if len(latencies) >= spec.n:
                done.set()

    worker = Worker(spec.queue, noop, url=spec.url, concurrency=1)
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.5)
    proto.emit({"ready": True})
    await done.wait()
    await worker.close()
    await running
    return {"elapsed": 0.0, "latencies": latencies}


async def latency_producer(spec: Spec) -> dict[str, Any]:
    queue = Queue(spec.queue, url=spec.url)
    try:
        for i in range(-1, spec.n):
            await queue.add("noop", proto.payload(i), remove_on_complete=True)
            await proto.pace(spec.gap_ms)
        return {"elapsed": 0.0}
    finally:
        await queue.close()


# -- corral-only measurements -------------------------------------------------------


async def fetch_cost(spec: Spec) -> dict[str, Any]:
    """What one fetch costs while ``waiting`` jobs wait. Each of ``cycles`` cycles
    tops the queue up to ``waiting`` (untimed), then times ``n`` calls of
    ``get_next_job`` and ``n`` turns of the hand-driven loop (complete and fetch
    the next in one call). Returns the median µs per call of each."""
    queue = Queue(spec.queue, url=spec.url)
    worker = Worker(spec.queue, url=spec.url)
    fetch_us: list[float] = []
    loop_us: list[float] = []
    added = 0
    try:
        for _ in range(spec.cycles):
            deficit = spec.waiting + spec.n + 1 - (await queue.get_job_counts("waiting"))["waiting"]
            while deficit > 0:
                count = min(deficit, spec.batch)
                await queue.add_bulk([_bulk_item(added + i) for i in range(count)])
                added += count
                deficit -= count
            held: list[Job] = []
            start = time.perf_counter()
            for i in range(spec.n):
                job = await worker.get_next_job(f"fetch-{i}", block=False)
                if job is None:
                    raise RuntimeError("the queue ran dry")
                held.append(job)
            fetch_us.append((time.perf_counter() - start) / spec.n * 1e6)
            token = "loop"
            next_job = await worker.get_next_job(token, block=False)
            start = time.perf_counter()
            for _ in range(spec.n):
                if next_job is None:
                    raise RuntimeError("the queue ran dry")
                next_job = await next_job.move_to_completed(None, token)
            loop_us.append((time.perf_counter() - start) / spec.n * 1e6)
            if next_job is not None:
                held.append(next_job)
            for job in held:  # untimed: keep the active list small
                await job.move_to_completed(None, job.token, fetch_next=False)
        return {
            "elapsed": 0.0,
            "fetch_us": statistics.median(fetch_us),
            "loop_us": statistics.median(loop_us),
            "waiting_after": (await queue.get_job_counts("waiting"))["waiting"],
        }
    finally:
        await worker.close()
        await queue.close()


async def sibling_cost(spec: Spec) -> dict[str, Any]:
    """What completing a flow's child costs while ``waiting`` siblings are pending.
    Each of ``cycles`` cycles adds (untimed) one parent with ``waiting + n`` children
    (and a few more to warm up on) in a fresh queue, fetches them (untimed),
    completes the warm-up ones (untimed: the store settles after the big add), then
    times ``n`` completions (no fetch of the next). Returns the median µs per
    completion."""
    warm_up = 50
    complete_us: list[float] = []
    async with FlowProducer(url=spec.url) as flows:
        for cycle in range(spec.cycles):
            kids = f"{spec.queue}-{cycle}"
            children = [
                {"name": "child", "queue_name": kids, "data": proto.payload(i)}
                for i in range(spec.waiting + spec.n + warm_up)
            ]
            await flows.add(
                {"name": "parent", "queue_name": f"{kids}-parent", "children": children}
            )
            async with Worker(kids, url=spec.url) as worker:
                held = []
                for i in range(spec.n + warm_up):
                    job = await worker.get_next_job(f"sib-{i}", block=False)
                    if job is None:
                        raise RuntimeError("the flow's children ran dry")
                    held.append(job)
                for job in held[:warm_up]:
                    await job.move_to_completed(None, job.token, fetch_next=False)
                start = time.perf_counter()
                for job in held[warm_up:]:
                    await job.move_to_completed(None, job.token, fetch_next=False)
                complete_us.append((time.perf_counter() - start) / spec.n * 1e6)
    return {"elapsed": 0.0, "complete_us": statistics.median(complete_us)}


async def memory_producer(spec: Spec) -> dict[str, Any]:
    """Keep about ``10 * batch`` jobs waiting until ``n`` have been added."""
    queue = Queue(spec.queue, url=spec.url)
    try:
        added = 0
        while added < spec.n:
            waiting = (await queue.get_job_counts("waiting"))["waiting"]
            if waiting > 10 * spec.batch:
                await asyncio.sleep(0.05)
                continue
            count = min(spec.batch, spec.n - added)
            await queue.add_bulk([_bulk_item(added + i) for i in range(count)])
            added += count
        return {"elapsed": 0.0}
    finally:
        await queue.close()


async def memory_worker(spec: Spec) -> dict[str, Any]:
    """Process ``n`` jobs (``concurrency`` at a time), sampling this process's RSS."""
    done = asyncio.Event()
    completed = 0
    samples: list[tuple[int, int]] = []
    every = max(1, spec.sample_every)

    async def noop(job: Job) -> None:
        job.data["i"]

    def on_completed(job: Job, result: Any) -> None:
        nonlocal completed
        completed += 1
        if completed % every == 0:
            samples.append((completed, proto.read_status_kb("VmRSS")))
        if completed >= spec.n:
            done.set()

    worker = Worker(spec.queue, noop, url=spec.url, concurrency=spec.concurrency)
    worker.on("completed", on_completed)
    samples.append((0, proto.read_status_kb("VmRSS")))
    start = time.perf_counter()
    running = asyncio.create_task(worker.run())
    await done.wait()
    elapsed = time.perf_counter() - start
    await worker.close()
    await running
    return {"elapsed": elapsed, "samples": samples}


if __name__ == "__main__":
    proto.run(
        {
            "add-one": add_one,
            "add-bulk": add_bulk,
            "fill": fill,
            "work": work,
            "manual": manual,
            "latency-worker": latency_worker,
            "latency-producer": latency_producer,
            "fetch-cost": fetch_cost,
            "memory-producer": memory_producer,
            "memory-worker": memory_worker,
            "sibling-cost": sibling_cost,
            "metrics-phases": metrics_phases,
        }
    )
