"""OpenTelemetry spans (corral.otel), on both backends: a producer span on add, a
consumer span around each job, linked through the context the job carries."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from corral import Job, Queue, Worker
from tests.otel_support import by_name, spans  # noqa: F401 - the fixture


async def run_until(worker: Worker, finished: int) -> None:
    seen: list[str] = []
    done = asyncio.Event()

    def count(job: Job, _outcome: Any) -> None:
        seen.append(job.id)
        if len(seen) >= finished:
            done.set()

    worker.on("completed", count)
    worker.on("failed", count)
    async with worker:
        await asyncio.wait_for(done.wait(), timeout=20)


async def test_a_job_carries_its_producer_span_to_the_consumer_span(
    url: str,
    queue_name: str,
    spans,  # noqa: F811
):
    async def process(job: Job) -> str:
        with trace.get_tracer("app").start_as_current_span("inside the job"):
            return "ok"

    async with Queue(queue_name, url=url) as queue:
        job = await queue.add("resize", {"image": "a.png"})
        stored = await queue.get_job(job.id)
        await run_until(Worker(queue_name, process, url=url, drain_delay=0.2), 1)

    finished = spans.get_finished_spans()
    producer = by_name(finished, f"add {queue_name}.resize")
    consumer = by_name(finished, f"process {queue_name}")
    inner = by_name(finished, "inside the job")
    assert stored is not None
    carried = json.loads(str(stored.opts.extra["tm"]))
    assert carried["traceparent"].split("-")[2] == format(producer.context.span_id, "016x")
    assert producer.kind is SpanKind.PRODUCER
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    assert consumer.context.trace_id == producer.context.trace_id
    assert inner.parent is not None
    assert inner.parent.span_id == consumer.context.span_id
    assert consumer.attributes is not None
    assert consumer.attributes["bullmq.job.id"] == job.id
    assert consumer.attributes["bullmq.queue.name"] == queue_name


async def test_a_failure_is_recorded_on_the_consumer_span(
    url: str,
    queue_name: str,
    spans,  # noqa: F811
):
    def process(job: Job) -> None:  # a plain function: its span opens in its thread
        raise ValueError("no such image")

    async with Queue(queue_name, url=url) as queue:
        await queue.add("resize")
        await run_until(Worker(queue_name, process, url=url, drain_delay=0.2), 1)

    consumer = by_name(spans.get_finished_spans(), f"process {queue_name}")
    producer = by_name(spans.get_finished_spans(), f"add {queue_name}.resize")
    assert consumer.status.status_code is StatusCode.ERROR
    assert [e.name for e in consumer.events] == ["exception"]
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id


async def test_a_bulk_add_is_one_span_every_job_links_to(
    url: str,
    queue_name: str,
    spans,  # noqa: F811
):
    async with Queue(queue_name, url=url) as queue:
        await queue.add_bulk([{"name": "a"}, {"name": "b"}, {"name": "c"}])
        await run_until(Worker(queue_name, lambda job: None, url=url, drain_delay=0.2), 3)

    finished = spans.get_finished_spans()
    bulk = by_name(finished, f"addBulk {queue_name}")
    consumers = [s for s in finished if s.name == f"process {queue_name}"]
    assert bulk.attributes is not None
    assert bulk.attributes["bullmq.job.bulk.count"] == 3
    assert len(consumers) == 3
    assert {s.parent.span_id for s in consumers if s.parent} == {bulk.context.span_id}


def _run(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


CHECK = """
import asyncio, sys
{block}
import corral, corral.otel
async def main():
    async with corral.Queue("q", url="sqlite:///:memory:") as q:
        job = await q.add("x")
        print(corral.otel.ENABLED, "tm" in (await q.get_job(job.id)).opts.extra)
asyncio.run(main())
"""


def test_without_the_extra_corral_never_touches_opentelemetry() -> None:
    blocked = "sys.modules['opentelemetry'] = None  # as if it were not installed"
    assert _run(CHECK.format(block=blocked)) == "False False"


def test_corral_otel_0_turns_the_spans_off() -> None:
    assert _run(CHECK.format(block=""), CORRAL_OTEL="0") == "False False"


UNCONFIGURED = """
import asyncio
from opentelemetry import context, trace
import corral
TRACE = 0x0AF7651916CD43DD8448EB211C80319C
async def main():
    seen = {}
    async def work(job):
        seen[job.name] = trace.get_current_span().get_span_context().trace_id
    async with corral.Connection("sqlite:///:memory:") as conn:
        q = corral.Queue("q", connection=conn)
        incoming = trace.SpanContext(TRACE, 0xB7AD6B7169203331, True, trace.TraceFlags(1))
        token = context.attach(trace.set_span_in_context(trace.NonRecordingSpan(incoming)))
        await q.add("carried")
        context.detach(token)
        await q.add("plain")
        worker = corral.Worker("q", work, connection=conn)
        async with worker:
            while len(seen) < 2:
                await asyncio.sleep(0.01)
    print(seen["carried"] == TRACE, seen["plain"])
asyncio.run(main())
"""


LATE_OR_NAMED = """
import asyncio, os
from opentelemetry import trace
import corral
async def main():
    seen = []
    async def work(job):
        seen.append(trace.get_current_span().get_span_context().trace_id != 0)
    async with corral.Connection("sqlite:///:memory:") as conn:
        q = corral.Queue("q", connection=conn)
        worker = corral.Worker("q", work, connection=conn)
        async with worker:
            await q.add("before")
            while len(seen) < 1:
                await asyncio.sleep(0.01)
            if not os.environ.get("OTEL_PYTHON_TRACER_PROVIDER"):
                from opentelemetry.sdk.trace import TracerProvider
                trace.set_tracer_provider(TracerProvider())  # set while the worker runs
            await q.add("after")
            while len(seen) < 2:
                await asyncio.sleep(0.01)
    print(*seen)
asyncio.run(main())
"""


def test_a_tracer_provider_set_while_a_worker_runs_is_used_from_then_on() -> None:
    assert _run(LATE_OR_NAMED) == "False True"


def test_a_tracer_provider_named_by_the_environment_traces_every_job() -> None:
    assert _run(LATE_OR_NAMED, OTEL_PYTHON_TRACER_PROVIDER="sdk_tracer_provider") == "True True"


def test_without_a_tracer_provider_a_producer_context_still_reaches_the_processor() -> None:
    """No provider set: the job's trace context is current in its processor (the
    processor's own adds carry it on); a job without one runs in no trace."""
    assert _run(UNCONFIGURED) == "True 0"


async def test_a_flow_has_a_producer_span_per_job_each_job_carrying_its_own(
    url: str,
    queue_name: str,
    spans,  # noqa: F811
):
    from corral import FlowProducer

    parts = f"{queue_name}-parts"
    async with FlowProducer(url=url) as flows:
        tree = await flows.add(
            {"name": "report", "queue_name": queue_name,
             "children": [{"name": "chunk", "queue_name": parts, "data": i} for i in range(2)]}
        )  # fmt: skip
    await run_until(Worker(parts, lambda job: job.data, url=url, drain_delay=0.2), 2)
    await run_until(Worker(queue_name, lambda job: "done", url=url, drain_delay=0.2), 1)

    finished = spans.get_finished_spans()
    flow = by_name(finished, f"addFlow {queue_name}")
    root_node = by_name(finished, f"addNode {queue_name}")
    child_nodes = [s for s in finished if s.name == f"addNode {parts}"]
    chunk_runs = [s for s in finished if s.name == f"process {parts}"]
    report_run = by_name(finished, f"process {queue_name}")
    assert flow.kind is root_node.kind is SpanKind.PRODUCER
    assert flow.attributes is not None
    assert flow.attributes["bullmq.flow.name"] == "report"
    assert root_node.parent is not None
    assert root_node.parent.span_id == flow.context.span_id
    assert root_node.attributes is not None
    assert root_node.attributes["bullmq.job.id"] == tree.job.id
    assert len(child_nodes) == 2
    assert {s.parent.span_id for s in child_nodes if s.parent} == {root_node.context.span_id}
    # Each job's run is the child of its own node's span, all in one trace.
    by_job = {s.attributes["bullmq.job.id"]: s for s in child_nodes if s.attributes}
    assert {c.job.id for c in tree.children} == set(by_job)
    for run in chunk_runs:
        assert run.attributes is not None
        node = by_job[str(run.attributes["bullmq.job.id"])]
        assert run.parent is not None
        assert run.parent.span_id == node.context.span_id
    assert report_run.parent is not None
    assert report_run.parent.span_id == root_node.context.span_id
    assert {s.context.trace_id for s in (*child_nodes, *chunk_runs, report_run)} == {
        flow.context.trace_id
    }


async def test_a_bulk_of_flows_is_one_span_over_every_roots_node_span(
    url: str,
    queue_name: str,
    spans,  # noqa: F811
):
    from corral import FlowProducer

    async with FlowProducer(url=url) as flows:
        await flows.add_bulk(
            [{"name": "a", "queue_name": queue_name}, {"name": "b", "queue_name": queue_name}]
        )

    finished = spans.get_finished_spans()
    bulk = by_name(finished, "addBulkFlows")
    nodes = [s for s in finished if s.name == f"addNode {queue_name}"]
    assert bulk.attributes is not None
    assert bulk.attributes["bullmq.job.bulk.count"] == 2
    assert bulk.attributes["bullmq.job.bulk.names"] == "a,b"
    assert len(nodes) == 2
    assert {s.parent.span_id for s in nodes if s.parent} == {bulk.context.span_id}
