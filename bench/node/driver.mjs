// Node BullMQ's driver for corral's benchmark (see bench/peers/proto.py).
//
//   node bench/node/driver.mjs '<json spec>'
//
// Prints one JSON object per line: {"ready": true} (latency-worker mode only, once
// the worker is idle), then {"result": {"elapsed": s, "rss_kb": n, ...}}. Uses the
// same payload and the same no-op job as every Python driver.

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';

const PAD = 'corral-benchmark-payload-'.repeat(3);
const REMOVE = { removeOnComplete: true };

const wallMs = () => performance.timeOrigin + performance.now();
const payload = (i) => ({ i, t: wallMs(), pad: PAD });
const seconds = (start) => (performance.now() - start) / 1000;
const cpuSeconds = (since) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

function peakRssKb() {
  const match = /^VmHWM:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'ascii'));
  return match ? Number(match[1]) : 0;
}

function connectionFor(url) {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    db: Number((u.pathname || '/0').slice(1) || 0),
    maxRetriesPerRequest: null,
  };
}

// A worker that resolves `finished` after `n` completed jobs.
function countingWorker(spec, connection, processor) {
  let completed = 0;
  let resolve;
  const finished = new Promise((r) => (resolve = r));
  const worker = new Worker(spec.queue, processor, {
    connection,
    concurrency: spec.concurrency ?? 1,
    autorun: false,
  });
  worker.on('completed', () => {
    completed += 1;
    if (completed >= spec.n) resolve();
  });
  return { worker, finished };
}

const modes = {
  async 'add-one'(spec, connection) {
    const queue = new Queue(spec.queue, { connection });
    const start = performance.now();
    for (let i = 0; i < spec.n; i++) await queue.add('noop', payload(i), REMOVE);
    const elapsed = seconds(start);
    await queue.close();
    return { elapsed };
  },

  async 'add-bulk'(spec, connection) {
    const queue = new Queue(spec.queue, { connection });
    const batch = spec.batch ?? 500;
    const start = performance.now();
    for (let first = 0; first < spec.n; first += batch) {
      const items = [];
      for (let i = first; i < Math.min(first + batch, spec.n); i++) {
        items.push({ name: 'noop', data: payload(i), opts: REMOVE });
      }
      await queue.addBulk(items);
    }
    const elapsed = seconds(start);
    await queue.close();
    return { elapsed };
  },

  async fill(spec, connection) {
    return modes['add-bulk'](spec, connection);
  },

  async work(spec, connection) {
    const { worker, finished } = countingWorker(spec, connection, async (job) => {
      job.data.i;
    });
    const cpu = process.cpuUsage();
    const start = performance.now();
    const running = worker.run();
    await finished;
    const elapsed = seconds(start);
    const cpu_s = cpuSeconds(cpu);
    await worker.close();
    await running;
    return { elapsed, cpu_s };
  },

  async manual(spec, connection) {
    const worker = new Worker(spec.queue, null, { connection });
    const token = 'bench-token';
    const cpu = process.cpuUsage();
    const start = performance.now();
    let job = await worker.getNextJob(token);
    let done = 0;
    while (job) {
      job.data.i;
      done += 1;
      const next = await job.moveToCompleted(null, token, done < spec.n);
      const [jobData, jobId] = Array.isArray(next) ? next : [];
      job = jobData ? await worker.nextJobFromJobData(jobData, jobId, token) : undefined;
    }
    const elapsed = seconds(start);
    const cpu_s = cpuSeconds(cpu);
    await worker.close();
    if (done !== spec.n) throw new Error(`processed ${done} jobs, expected ${spec.n}`);
    return { elapsed, cpu_s };
  },

  async 'latency-worker'(spec, connection) {
    const latencies = [];
    let resolve;
    const finished = new Promise((r) => (resolve = r));
    const worker = new Worker(
      spec.queue,
      async (job) => {
        const started = wallMs();
        if (job.data.i >= 0) {
          latencies.push(started - job.data.t);
          if (latencies.length >= spec.n) resolve();
        }
      },
      { connection, concurrency: 1, autorun: false },
    );
    const running = worker.run();
    await sleep(500);
    emit({ ready: true });
    await finished;
    await worker.close();
    await running;
    return { elapsed: 0, latencies };
  },

  async 'latency-producer'(spec, connection) {
    const queue = new Queue(spec.queue, { connection });
    for (let i = -1; i < spec.n; i++) {
      await queue.add('noop', payload(i), REMOVE);
      await sleep(spec.gap_ms ?? 15);
    }
    await queue.close();
    return { elapsed: 0 };
  },
};

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const mode = modes[spec.mode];
  if (!mode) {
    emit({ skipped: `this driver has no ${JSON.stringify(spec.mode)} mode` });
    return;
  }
  const cpu = process.cpuUsage();
  const result = await mode(spec, connectionFor(spec.url));
  if (result.cpu_s === undefined) result.cpu_s = cpuSeconds(cpu);
  result.rss_kb = peakRssKb();
  emit({ result });
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
