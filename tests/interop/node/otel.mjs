// BullMQ with OpenTelemetry (bullmq-otel), its spans caught by the SDK's in-memory exporter.
//
// command: {
//   "mode": "produce" | "work",
//   "prefix": "bull",
//   "name": "job name", "data": {...}     produce: the job Queue.add adds
//   "finished": n, "timeoutMs": 20000     work: run a Worker until n jobs completed
// }
// Result: {job: {id, opts} (produce), spans: [{name, kind, traceId, spanId, parentSpanId,
//          attributes}]}, once every span has ended.
import { propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Queue, Worker } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import { connectionFor, run, sleep } from './common.mjs';

const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const KINDS = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

function spanView(span) {
  const context = span.spanContext();
  return {
    name: span.name,
    kind: KINDS[span.kind],
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? span.parentSpanId ?? null,
    attributes: span.attributes,
  };
}

run(async ({ url, queueName, command }) => {
  const connection = connectionFor(url);
  const prefix = command.prefix ?? 'bull';
  const telemetry = new BullMQOtel('corral-interop');
  let job = null;
  if (command.mode === 'produce') {
    const queue = new Queue(queueName, { connection, prefix, telemetry });
    const added = await queue.add(command.name ?? 'traced', command.data ?? {});
    job = { id: added.id, opts: added.opts };
    await queue.close();
  } else {
    let finished = 0;
    const target = command.finished ?? 1;
    const worker = new Worker(queueName, async (j) => ({ by: 'node', name: j.name }), {
      connection,
      prefix,
      telemetry,
    });
    worker.on('completed', () => {
      finished += 1;
    });
    const deadline = Date.now() + (command.timeoutMs ?? 20000);
    while (finished < target && Date.now() < deadline) await sleep(50);
    await worker.close();
  }
  return { job, spans: exporter.getFinishedSpans().map(spanView) };
});
