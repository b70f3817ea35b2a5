// Queue maintenance, global limits, workers and job edits, as Node BullMQ does them.
//
// command: {
//   "prefix": "bull",                 optional
//   "hold": {"name": "w1"},           optional: first start a Worker (named, or
//                                      unnamed with {}) that runs until "stop" on
//                                      stdin, after emitting {"ready": true}
//   "awaitFinished": {"id", "ttl"}    instead: listen, emit {"ready": true}, wait for
//                                      the job (job.waitUntilFinished); the result is
//                                      [{value}] or [{error}]
//   "steps": [ {"op": ..., ...}, ... ]
// }
// Ops: add {name, data, opts} | clean {grace, limit, type} | drain {delayed}
//      | retryJobs {state, count} | promoteJobs {count} | trimEvents {maxLength}
//      | setGlobalConcurrency {n} | getGlobalConcurrency | removeGlobalConcurrency
//      | setGlobalRateLimit {max, duration} | getGlobalRateLimit | removeGlobalRateLimit
//      | getWorkers | getJobs {types, start, end, asc} (ids) | counts {types}
//      | getState {id} | changeDelay {id, delay} | changePriority {id, priority, lifo}
//      | updateData {id, data} | fromId {id} | events (the stream, oldest first)
//      | waitUntilFinished {id, ttl} (returns {value} or {error})
// Result: the list of step results (with "hold", after stop).
import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { connectionFor, errorView, jobView, ready, run, runSteps, stopRequested } from './common.mjs';

run(async ({ url, queueName, command }) => {
  const connection = connectionFor(url);
  const prefix = command.prefix ?? 'bull';
  const queue = new Queue(queueName, { connection, prefix });
  if (command.awaitFinished) {
    // Listen first (then say ready), so the job cannot finish unseen.
    const { id, ttl } = command.awaitFinished;
    // From the stream's start: "ready" comes before the reader's first XREAD, and a
    // job finishing in between must not be missed.
    const events = new QueueEvents(queueName, { connection, prefix, lastEventId: '0-0' });
    try {
      await events.waitUntilReady();
      const job = await Job.fromId(queue, id);
      if (!job) throw new Error(`no job ${id}`);
      ready();
      return [{ value: await job.waitUntilFinished(events, ttl ?? 10000) }];
    } catch (err) {
      return [{ error: errorView(err) }];
    } finally {
      await events.close();
      await queue.close();
    }
  }
  let holder = null;
  if (command.hold) {
    holder = new Worker(queueName, async () => 'held', {
      connection,
      prefix,
      ...(command.hold.name ? { name: command.hold.name } : {}),
    });
    await holder.waitUntilReady();
    // The blocking connection is named once it is connected: wait until it is listed.
    const own = holder.opts.name ? `:w:${holder.opts.name}` : null;
    const listed = async () =>
      (await queue.getWorkers()).some((w) => (own ? w.rawname.endsWith(own) : true));
    for (let i = 0; i < 100 && !(await listed()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    ready();
    await stopRequested();
  }
  const job = async (id) => {
    const found = await Job.fromId(queue, id);
    if (!found) throw new Error(`no job ${id}`);
    return found;
  };
  const ops = {
    add: async (s) => jobView(await queue.add(s.name, s.data ?? {}, s.opts ?? {})),
    clean: async (s) => queue.clean(s.grace ?? 0, s.limit ?? 0, s.type ?? 'completed'),
    drain: async (s) => queue.drain(s.delayed ?? false),
    retryJobs: async (s) => queue.retryJobs({ state: s.state ?? 'failed', count: s.count }),
    promoteJobs: async (s) => queue.promoteJobs({ count: s.count }),
    trimEvents: async (s) => queue.trimEvents(s.maxLength),
    setGlobalConcurrency: async (s) => queue.setGlobalConcurrency(s.n),
    getGlobalConcurrency: async () => queue.getGlobalConcurrency(),
    removeGlobalConcurrency: async () => queue.removeGlobalConcurrency(),
    setGlobalRateLimit: async (s) => queue.setGlobalRateLimit(s.max, s.duration),
    getGlobalRateLimit: async () => queue.getGlobalRateLimit(),
    removeGlobalRateLimit: async () => queue.removeGlobalRateLimit(),
    getWorkers: async () =>
      (await queue.getWorkers()).map((w) => ({ name: w.name, rawname: w.rawname, addr: w.addr })),
    getJobs: async (s) =>
      (await queue.getJobs(s.types, s.start ?? 0, s.end ?? -1, s.asc ?? false)).map((j) => j.id),
    counts: async (s) => queue.getJobCounts(...(s.types ?? [])),
    getState: async (s) => queue.getJobState(s.id),
    changeDelay: async (s) => (await job(s.id)).changeDelay(s.delay),
    changePriority: async (s) =>
      (await job(s.id)).changePriority({ priority: s.priority, lifo: s.lifo ?? false }),
    updateData: async (s) => (await job(s.id)).updateData(s.data),
    fromId: async (s) => jobView(await Job.fromId(queue, s.id)),
    events: async () => {
      const redis = new IORedis(connection);
      try {
        const entries = await redis.xrange(`${prefix}:${queueName}:events`, '-', '+');
        return entries.map(([, fields]) => Object.fromEntries(
          fields.reduce((pairs, v, i) => (i % 2 ? pairs : [...pairs, [v, fields[i + 1]]]), []),
        ));
      } finally {
        redis.disconnect();
      }
    },
    waitUntilFinished: async (s) => {
      const events = new QueueEvents(queueName, { connection, prefix });
      try {
        await events.waitUntilReady();
        const value = await (await job(s.id)).waitUntilFinished(events, s.ttl ?? 10000);
        return { value };
      } catch (err) {
        return { error: errorView(err) };
      } finally {
        await events.close();
      }
    },
  };

  try {
    return await runSteps(ops, command.steps);
  } finally {
    if (holder) await holder.close();
    await queue.close();
  }
});
