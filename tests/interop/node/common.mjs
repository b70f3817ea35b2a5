// Shared plumbing for corral's interop scripts.
//
// Every script is run as:  node <script>.mjs <redis-url> <queue-name> '<json command>'
// and speaks line-delimited JSON on stdout:
//   {"ready": true}                      once it is listening (long-running scripts only)
//   {"ok": true, "result": ...}          its final answer, then it exits 0
//   {"ok": false, "error": "...", ...}   on failure, then it exits 1
// Long-running scripts stop when a line "stop" arrives on stdin or stdin closes.

import { createRequire } from 'node:module';

// ioredis is loaded only for a Cluster URL: loading it slows every script's start.
const require = createRequire(import.meta.url);

export function parseArgs() {
  const [url, queueName, raw] = process.argv.slice(2);
  if (!url || !queueName) {
    throw new Error('usage: node <script>.mjs <redis-url> <queue-name> [json-command]');
  }
  const command = raw ? JSON.parse(raw) : {};
  return { url, queueName, command };
}

// ioredis connection options for a redis:// URL; every BullMQ object opens its own.
// A redis+cluster://host:port,host:port URL gives an ioredis Cluster on those seeds.
export function connectionFor(url) {
  if (url.startsWith('redis+cluster://')) {
    const seeds = url.slice('redis+cluster://'.length).split(/[/?]/)[0].split(',');
    const nodes = seeds.map((seed) => {
      const [host, port] = seed.split(':');
      return { host, port: Number(port) };
    });
    const { Cluster } = require('ioredis');
    return new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null } });
  }
  const u = new URL(url);
  const options = {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    db: Number((u.pathname || '/0').slice(1) || 0),
    maxRetriesPerRequest: null,
  };
  if (u.password) options.password = decodeURIComponent(u.password);
  if (u.username) options.username = decodeURIComponent(u.username);
  return options;
}

export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

export function ready() {
  emit({ ready: true });
}

// What a job looks like to Node, in plain JSON.
export function jobView(job) {
  if (!job) return null;
  return {
    id: job.id,
    name: job.name,
    data: job.data,
    opts: job.opts,
    timestamp: job.timestamp,
    delay: job.delay ?? 0,
    priority: job.priority,
    attemptsMade: job.attemptsMade,
    attemptsStarted: job.attemptsStarted,
    stalledCounter: job.stalledCounter,
    processedOn: job.processedOn ?? null,
    finishedOn: job.finishedOn ?? null,
    returnvalue: job.returnvalue ?? null,
    failedReason: job.failedReason ?? null,
    deferredFailure: job.deferredFailure ?? null,
    processedBy: job.processedBy ?? null,
    token: job.token ?? null,
  };
}

export function errorView(err) {
  return { message: String(err?.message ?? err), code: err?.code ?? null, name: err?.name ?? null };
}

// Run each step's op (ops[step.op]) in order; one result per step. A step with
// "catch": true reports what its op throws as {"error": {message, code, name}} instead of
// aborting the run.
export async function runSteps(ops, steps) {
  const results = [];
  for (const step of steps ?? []) {
    const op = ops[step.op];
    if (!op) throw new Error(`unknown op ${JSON.stringify(step.op)}`);
    try {
      results.push((await op(step)) ?? null);
    } catch (err) {
      if (!step.catch) throw err;
      results.push({ error: errorView(err) });
    }
  }
  return results;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves when "stop" is written to stdin or stdin is closed.
export function stopRequested() {
  return new Promise((resolve) => {
    let buffer = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      buffer += chunk;
      if (buffer.split('\n').some((line) => line.trim() === 'stop')) resolve('stop');
    });
    process.stdin.on('end', () => resolve('eof'));
    process.stdin.on('error', () => resolve('eof'));
  });
}

// Counts jobs finished for good: `finish()` counts one; `done` resolves ('done') once
// `target` are (never when `target` is null).
export function finishLine(target) {
  let finished = 0;
  let resolveDone;
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });
  const finish = () => {
    finished += 1;
    if (target !== null && finished >= target) resolveDone('done');
  };
  return { done, finish };
}

// Wait for the promise `done`, a "stop" on stdin (or its end) or `timeoutMs`, whichever
// comes first; resolves to what came ('timeout' for the last).
export async function waitForEnd(done, timeoutMs = 20000) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    return await Promise.race([done, stopRequested(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Run main(); print its result or its error; exit. A hard deadline guards against hangs.
export async function run(main, { deadlineMs = 60000 } = {}) {
  const timer = setTimeout(() => {
    emit({ ok: false, error: `script did not finish within ${deadlineMs} ms` });
    process.exit(2);
  }, deadlineMs);
  try {
    const result = await main(parseArgs());
    emit({ ok: true, result: result ?? null });
    clearTimeout(timer);
    process.exit(0);
  } catch (err) {
    emit({ ok: false, error: String(err?.message ?? err), stack: err?.stack ?? null });
    clearTimeout(timer);
    process.exit(1);
  }
}
