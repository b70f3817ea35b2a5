// Run a list of BullMQ operations on one queue, in order, and report each result.
//
// command: {
//   "prefix": "bull",                       optional
//   "worker": {lockDuration, limiter, name}, options of the (non-running) Worker used
//                                             for getNextJob and job moves
//   "queue": {skipMetasUpdate, ...},         optional Queue options
//   "steps": [ {"op": ..., ...}, ... ]
// }
// Ops: add {name, data, opts} | getNextJob {token, block=false}
//      | complete {id, token, value, fetchNext=false} | fail {id, token, message, fetchNext=false}
//      | extendLock {id, token, duration} | fromId {id} | getState {id}
//      | pause | resume | isPaused | rateLimit {ms} | getRateLimitTtl {maxJobs}
//      | counts {types} | sleep {ms} | remove {id} | version
//      | getMetrics {type, start=0, end=-1}
// A step with "catch": true reports {"error": {message, code, name}} instead of aborting.
// Result: the list of step results.
import { Job, Queue, Worker } from 'bullmq';
import { connectionFor, jobView, run, runSteps, sleep } from './common.mjs';

run(async ({ url, queueName, command }) => {
  const connection = connectionFor(url);
  const prefix = command.prefix ?? 'bull';
  const queue = new Queue(queueName, { connection, prefix, ...(command.queue ?? {}) });
  let worker = null;
  const getWorker = async () => {
    if (worker === null) {
      worker = new Worker(queueName, null, {
        connection,
        prefix,
        autorun: false,
        ...(command.worker ?? {}),
      });
      await worker.waitUntilReady();
    }
    return worker;
  };
  // Jobs fetched in this process, so moves use the same Job object Node would.
  const held = new Map();
  const jobFor = async (id) => held.get(id) ?? (await Job.fromId(await getWorker(), id));

  const ops = {
    add: async (s) => jobView(await queue.add(s.name, s.data ?? {}, s.opts ?? {})),
    getNextJob: async (s) => {
      const job = await (await getWorker()).getNextJob(s.token, { block: s.block ?? false });
      if (job) held.set(job.id, job);
      return jobView(job);
    },
    complete: async (s) => {
      const job = await jobFor(s.id);
      if (!job) throw new Error(`no job ${s.id}`);
      await job.moveToCompleted(s.value ?? null, s.token, s.fetchNext ?? false);
      return jobView(job);
    },
    fail: async (s) => {
      const job = await jobFor(s.id);
      if (!job) throw new Error(`no job ${s.id}`);
      await job.moveToFailed(new Error(s.message ?? 'failed by node'), s.token, s.fetchNext ?? false);
      return jobView(job);
    },
    extendLock: async (s) => {
      const job = await jobFor(s.id);
      if (!job) throw new Error(`no job ${s.id}`);
      return await job.extendLock(s.token, s.duration);
    },
    fromId: async (s) => jobView(await Job.fromId(queue, s.id)),
    getState: async (s) => await queue.getJobState(s.id),
    pause: async () => queue.pause(),
    resume: async () => queue.resume(),
    isPaused: async () => queue.isPaused(),
    rateLimit: async (s) => queue.rateLimit(s.ms),
    getRateLimitTtl: async (s) => queue.getRateLimitTtl(s.maxJobs),
    counts: async (s) => queue.getJobCounts(...(s.types ?? [])),
    sleep: async (s) => sleep(s.ms),
    remove: async (s) => queue.remove(s.id),
    version: async () => queue.getVersion(),
    getMetrics: async (s) => queue.getMetrics(s.type, s.start ?? 0, s.end ?? -1),
  };

  try {
    return await runSteps(ops, command.steps);
  } finally {
    if (worker) await worker.close();
    await queue.close();
  }
});
