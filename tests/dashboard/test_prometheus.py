"""Prometheus metrics: scraped from the dashboard's /metrics and from a user's own
registry, read back with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from corral import Connection, DelayedError, Job, Queue, Worker
from corral.prometheus import QueueCollector, WorkerMetrics
from tests.dashboard.conftest import Api

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_the_dashboard_serves_each_queues_jobs_per_state(client: Api, url: str, prefix: str):
    async with Queue("emails", url=url, prefix=prefix) as emails:
        await emails.add_bulk([{"name": "send"}] * 4)
        await emails.add("later", delay=60)
        await emails.pause()

    reply = await client.http.get("/metrics")

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    samples = parse(reply.text)
    assert samples[("corral_queue_jobs", (("queue", "emails"), ("state", "waiting")))] == 4
    assert samples[("corral_queue_jobs", (("queue", "emails"), ("state", "delayed")))] == 1
    assert samples[("corral_queue_jobs", (("queue", "emails"), ("state", "failed")))] == 0
    assert samples[("corral_queue_paused", (("queue", "emails"),))] == 1


async def test_a_workers_jobs_are_counted_timed_and_seen_in_progress(url: str, queue_name: str):
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    release = asyncio.Event()
    running = asyncio.Event()

    async def process(job: Job) -> str:
        if job.data == "bad":
            raise ValueError("bad input")
        if job.data == "hold":
            running.set()
            await release.wait()
        return "done"

    async with Connection(url) as conn:
        queue = Queue(queue_name, connection=conn)
        collector = QueueCollector(connection=conn, queues=[queue_name])
        registry.register(collector)
        await queue.add_bulk([{"name": "resize", "data": d} for d in ("ok", "bad", "ok")])
        await queue.add("slow", "hold")
        worker = Worker(queue_name, process, connection=conn, concurrency=3, drain_delay=0.2)
        metrics.instrument(worker)
        all_done = asyncio.Event()
        done: list[str] = []

        @worker.on("completed")
        def count(job: Job, _result: object) -> None:  # runs after the metrics' own hook
            done.append(job.id)
            if len(done) == 3:
                all_done.set()

        async with worker:
            await asyncio.wait_for(running.wait(), timeout=20)
            await collector.refresh()
            during = parse(generate_latest(registry).decode())
            release.set()
            await asyncio.wait_for(all_done.wait(), timeout=20)

    q = (("queue", queue_name),)
    assert during[("corral_worker_jobs_active", q)] == 1
    assert during[("corral_worker_concurrency", q)] == 3
    assert during[("corral_queue_jobs", (("queue", queue_name), ("state", "active")))] == 1
    after = parse(generate_latest(registry).decode())
    resize = (("name", "resize"), ("queue", queue_name))
    assert after[("corral_jobs_completed_total", resize)] == 2
    assert after[("corral_jobs_failed_total", resize)] == 1
    assert after[("corral_job_duration_seconds_count", resize)] == 3
    assert after[("corral_job_wait_seconds_count", q)] == 4
    assert after[("corral_worker_jobs_active", q)] == 0


async def test_jobs_that_leave_without_finishing_end_no_attempt(url: str, queue_name: str) -> None:
    """A job moved to delayed (or back to wait, or its lock lost) ends no attempt
    here: it counts as neither completed nor failed and adds no duration, and the
    jobs that do finish afterwards are counted as usual."""
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    moved: list[str] = []

    async def step(job: Job) -> None:
        if job.name == "park":
            await job.move_to_delayed(time.time() + 3600, job.token)
            moved.append(job.id)
            raise DelayedError()

    jobs = 400
    async with Connection(url) as conn:
        queue = Queue(queue_name, connection=conn)
        await queue.add_bulk([{"name": "park", "data": i} for i in range(jobs)])
        await queue.add_bulk([{"name": "run", "data": i} for i in range(3)])
        worker = Worker(queue_name, step, connection=conn, concurrency=4, drain_delay=0.2)
        metrics.instrument(worker)
        async with worker:
            for _ in range(1200):
                done = registry.get_sample_value(
                    "corral_jobs_completed_total", {"queue": queue_name, "name": "run"}
                )
                if len(moved) == jobs and done == 3:
                    break
                await asyncio.sleep(0.05)
        assert len(moved) == jobs
        assert await queue.get_job_counts("delayed") == {"delayed": jobs}
    labels = {"queue": queue_name, "name": "park"}
    assert registry.get_sample_value("corral_jobs_completed_total", labels) is None
    assert registry.get_sample_value("corral_jobs_failed_total", labels) is None
    assert registry.get_sample_value("corral_job_duration_seconds_count", labels) is None
    run = {"queue": queue_name, "name": "run"}
    assert registry.get_sample_value("corral_job_duration_seconds_count", run) == 3
    assert registry.get_sample_value("corral_job_wait_seconds_count", {"queue": queue_name}) == 3


async def test_a_collector_with_its_own_url_lists_the_stores_queues(url: str, prefix: str):
    async with Queue("a", url=url, prefix=prefix) as a, Queue("b", url=url, prefix=prefix) as b:
        await a.add("x")
        await b.add("y", delay=30)
    collector = QueueCollector(url, prefix=prefix)
    registry = CollectorRegistry()
    registry.register(collector)
    try:
        before = parse(generate_latest(registry).decode())
        await collector.refresh()
        after = parse(generate_latest(registry).decode())
    finally:
        await collector.close()

    assert not any(name == "corral_queue_jobs" for name, _ in before)
    assert after[("corral_queue_jobs", (("queue", "a"), ("state", "waiting")))] == 1
    assert after[("corral_queue_jobs", (("queue", "b"), ("state", "delayed")))] == 1


async def test_many_jobs_are_counted_and_bucketed_as_observed_one_by_one(url: str, queue_name: str):
    """More jobs than one tally holds: the histograms read the same buckets and sums
    as a Histogram observing each job's wait on its own, through the registry."""
    from prometheus_client import Histogram

    from corral.prometheus import DURATION_BUCKETS, FLUSH_EVERY

    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    reference = Histogram(
        "reference_wait_seconds", "", buckets=DURATION_BUCKETS, registry=CollectorRegistry()
    )
    total = 3 * FLUSH_EVERY + 5
    seen: list[str] = []
    all_done = asyncio.Event()

    async def process(job: Job) -> None:
        if job.data % 7 == 0:
            raise ValueError("a seventh fails")

    def record(job: Job, _outcome: object) -> None:
        raw = job._record
        assert raw.processed_on_ms is not None
        reference.observe(max(0.0, (raw.processed_on_ms - raw.timestamp_ms - raw.delay_ms) / 1000))
        seen.append(job.id)
        if len(seen) == total:
            all_done.set()

    async with Connection(url) as conn:
        queue = Queue(queue_name, connection=conn)
        await queue.add_bulk(
            [{"name": "odd" if i % 2 else "even", "data": i} for i in range(total)]
        )
        worker = Worker(queue_name, process, connection=conn, concurrency=4, drain_delay=0.2)
        metrics.instrument(worker)
        worker.on("completed", record)
        worker.on("failed", record)
        async with worker:
            await asyncio.wait_for(all_done.wait(), timeout=60)

    samples = parse(generate_latest(registry).decode())
    failed = {name: sum(1 for i in range(total) if i % 7 == 0 and (i % 2 == 1) == (name == "odd"))
              for name in ("odd", "even")}  # fmt: skip
    for name in ("odd", "even"):
        labels = (("name", name), ("queue", queue_name))
        jobs = sum(1 for i in range(total) if (i % 2 == 1) == (name == "odd"))
        assert samples[("corral_jobs_failed_total", labels)] == failed[name]
        assert samples[("corral_jobs_completed_total", labels)] == jobs - failed[name]
        assert samples[("corral_job_duration_seconds_count", labels)] == jobs
    q: tuple[tuple[str, str], ...] = (("queue", queue_name),)
    wanted = {
        (s.name, s.labels.get("le")): s.value
        for family in reference.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }
    for (name, le), value in wanted.items():
        ours = name.replace("reference_wait_seconds", "corral_job_wait_seconds")
        at = q if le is None else tuple(sorted({"queue": queue_name, "le": le}.items()))
        assert samples[(ours, at)] == pytest.approx(value), (ours, le)
    assert (
        metrics.registry.get_sample_value("corral_job_wait_seconds_count", {"queue": queue_name})
        == total
    )


def test_a_tally_lands_in_the_buckets_observe_would_put_it_in():
    """Values on, between and beyond the bounds, added at once, read as observed singly."""
    from prometheus_client import Histogram

    from corral.prometheus import DURATION_BUCKETS, _observe_all

    values = [0.0, 0.005, 0.0051, 0.01, 0.3, 0.3, 2.5, 61.0, 3600.0, 5000.0, 0.001, 900.0]
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    tallied = Histogram("h_seconds", "", buckets=DURATION_BUCKETS, registry=ours)
    observed = Histogram("h_seconds", "", buckets=DURATION_BUCKETS, registry=theirs)
    for value in values:
        observed.observe(value)
    _observe_all(tallied, list(values))

    def samples(registry: CollectorRegistry) -> Samples:
        return {k: v for k, v in parse(generate_latest(registry).decode()).items()
                if not k[0].endswith("_created")}  # fmt: skip

    assert samples(ours) == pytest.approx(samples(theirs))
