"""OpenTelemetry: a producer span on add, a consumer span around the job, one trace."""

import asyncio

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from corral import Job, Queue, Worker

# --8<-- [start:setup]
exporter = InMemorySpanExporter()  # your exporter: OTLP, Jaeger, the console ...
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # corral traces with the global provider
# --8<-- [end:setup]


async def resize(job: Job) -> str:
    with trace.get_tracer("app").start_as_current_span("load image"):  # a child span
        return "done"


async def main() -> None:
    done = asyncio.Event()
    async with Queue("thumbs") as queue:
        job = await queue.add("resize", {"image": "a.png"})
        stored = await queue.get_job(job.id)
        assert stored is not None
        print("the job carries:", sorted(stored.opts.extra))  # BullMQ's telemetry.metadata
        worker = Worker("thumbs", resize)
        worker.on("completed", lambda job, result: done.set())
        async with worker:
            await done.wait()

    spans = {span.name: span for span in exporter.get_finished_spans()}
    for name, span in spans.items():
        parent = next(
            (p for p in spans if span.parent and spans[p].context.span_id == span.parent.span_id),
            None,
        )
        print(f"{name:<20} {span.kind.name:<9} parent: {parent}")
    traces = {span.context.trace_id for span in spans.values()}
    print("one trace:", len(traces) == 1)


if __name__ == "__main__":
    asyncio.run(main())
