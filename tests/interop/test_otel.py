"""One trace from a Node producer through a corral worker and back to a Node worker:
corral reads the trace context where Node BullMQ's telemetry (bullmq-otel) puts it,
and puts its own there; spans caught by each side's in-memory exporter."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.trace import SpanKind

from corral import Job, Queue, Worker
from tests.interop.conftest import NodeBullMQ
from tests.otel_support import by_name, spans  # noqa: F401 - the fixture

pytestmark = pytest.mark.interop


def hex_id(value: int, width: int) -> str:
    return format(value, f"0{width}x")


async def test_a_trace_runs_from_node_through_corral_and_back(
    bullmq: NodeBullMQ,
    queue_name: str,
    redis_url: str,
    spans,  # noqa: F811
) -> None:
    onward = f"{queue_name}-onward"
    produced = await bullmq.run("otel.mjs", queue_name, {"mode": "produce", "name": "from-node"})
    node_add = next(s for s in produced["spans"] if s["kind"] == "PRODUCER")
    carried = produced["job"]["opts"]["telemetry"]["metadata"]

    done = asyncio.Event()
    async with Queue(onward, url=redis_url) as next_queue:

        async def process(job: Job) -> str:
            await next_queue.add("from-corral", {"from": job.id})
            return "passed on"

        worker = Worker(queue_name, process, url=redis_url, drain_delay=0.2)
        worker.on("completed", lambda job, result: done.set())
        async with worker:
            await asyncio.wait_for(done.wait(), timeout=20)
        worked = await bullmq.run("otel.mjs", onward, {"mode": "work", "finished": 1})

    finished = spans.get_finished_spans()
    consumer = by_name(finished, f"process {queue_name}")
    producer = by_name(finished, f"add {onward}.from-corral")
    node_process = next(s for s in worked["spans"] if s["name"] == f"process {onward}")

    trace_id = node_add["traceId"]
    assert node_add["kind"] == "PRODUCER"
    assert json.loads(carried)["traceparent"].split("-")[1] == trace_id
    # corral's consumer span is the child of Node's producer span ...
    assert consumer.kind is SpanKind.CONSUMER
    assert hex_id(consumer.context.trace_id, 32) == trace_id
    assert consumer.parent is not None
    assert hex_id(consumer.parent.span_id, 16) == node_add["spanId"]
    assert consumer.attributes is not None
    assert consumer.attributes["bullmq.job.name"] == "from-node"
    # ... the job it adds carries its producer span, a child of the consumer span ...
    assert producer.kind is SpanKind.PRODUCER
    assert producer.parent is not None
    assert producer.parent.span_id == consumer.context.span_id
    # ... and Node's worker continues the same trace from there.
    assert node_process["kind"] == "CONSUMER"
    assert node_process["traceId"] == trace_id
    assert node_process["parentSpanId"] == hex_id(producer.context.span_id, 16)
