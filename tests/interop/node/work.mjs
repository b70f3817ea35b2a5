// Run a BullMQ Worker (with a processor) on a queue and report what it saw.
//
// command: {
//   "prefix": "bull",
//   "options": {...},          Worker options: concurrency, lockDuration, stalledInterval,
//                              maxStalledCount, limiter, name, drainDelay ...
//   "fail": {"<job name>": n}, the first n attempts of jobs with that name throw
//                              Error("planned failure <attempt>")
//   "holdMs": 0,               how long the processor works on each job
//   "rateLimit": {"<job name>": ms}, jobs with that name call worker.rateLimit(ms) and
//                              throw Worker.RateLimitError() (back to wait, no attempt)
//   "until": {"finished": n},  stop after n jobs finished for good (completed, or failed
//                              with no attempts left); otherwise run until "stop" on stdin
//   "timeoutMs": 20000         stop anyway after this long (result has timedOut: true)
// }
// The processor returns {"by": "node", "name": job.name, "data": job.data, "attempt": n}.
// Result: {seen: [job view + seenAt], completed: [{id, returnvalue}],
//          failed: [{id, failedReason, attemptsMade, final}], stalled: [id], errors, timedOut}
import { Worker } from 'bullmq';
import { connectionFor, finishLine, jobView, ready, run, sleep, waitForEnd } from './common.mjs';

run(async ({ url, queueName, command }) => {
  const connection = connectionFor(url);
  const seen = [];
  const completed = [];
  const failed = [];
  const stalled = [];
  const errors = [];
  const fail = command.fail ?? {};
  const finishing = finishLine(command.until?.finished ?? null);

  const worker = new Worker(
    queueName,
    async (job) => {
      seen.push({ ...jobView(job), seenAt: Date.now() });
      if (command.holdMs) await sleep(command.holdMs);
      const limitMs = command.rateLimit?.[job.name];
      if (limitMs) {
        await worker.rateLimit(limitMs);
        throw Worker.RateLimitError();
      }
      const attempt = job.attemptsMade + 1;
      if ((fail[job.name] ?? 0) >= attempt) throw new Error(`planned failure ${attempt}`);
      return { by: 'node', name: job.name, data: job.data, attempt };
    },
    { connection, prefix: command.prefix ?? 'bull', ...(command.options ?? {}) },
  );
  worker.on('completed', (job, returnvalue) => {
    completed.push({ id: job.id, returnvalue, at: Date.now() });
    finishing.finish();
  });
  worker.on('failed', (job, err) => {
    const attempts = Math.max(job?.opts?.attempts ?? 1, 1);
    const final = (job?.attemptsMade ?? 0) >= attempts;
    failed.push({
      id: job?.id ?? null,
      failedReason: String(err?.message ?? err),
      attemptsMade: job?.attemptsMade ?? null,
      final,
      at: Date.now(),
    });
    if (final) {
      finishing.finish();
    }
  });
  worker.on('stalled', (jobId) => stalled.push(jobId));
  worker.on('error', (err) => errors.push(String(err?.message ?? err)));
  await worker.waitUntilReady();
  ready();

  const why = await waitForEnd(finishing.done, command.timeoutMs ?? 20000);
  await worker.close();
  return { seen, completed, failed, stalled, errors, timedOut: why === 'timeout' };
});
