// Node BullMQ Workers (with processors) on several queues of a flow, until enough jobs
// finished; reports what each processor saw.
//
// command: {
//   "prefix": "bull",
//   "queues": ["media", ...],   one Worker per queue, in this process
//   "fail": {"<job name>": "message"},  jobs with that name throw (UnrecoverableError if
//                               "unrecoverable" lists the name, else Error)
//   "unrecoverable": ["<job name>", ...],
//   "step": {"<job name>": {"queue": q, "children": n}}  the step-job pattern: on its
//                               first run the job adds n children ("part", {n}) to q with
//                               itself as parent, then moveToWaitingChildren + WaitingChildrenError
//   "until": {"finished": n},   stop after n jobs finished for good (completed or failed)
//   "timeoutMs": 20000
// }
// Every processor returns {"by": "node", "name", "data", "children": getChildrenValues()}.
// Result: {seen: [{id, name, queueName, attemptsMade}], completed: [{id, queueName,
//          returnvalue}], failed: [{id, queueName, failedReason}], errors, timedOut}
import { Queue, UnrecoverableError, WaitingChildrenError, Worker } from 'bullmq';
import { connectionFor, finishLine, ready, run, waitForEnd } from './common.mjs';

run(async ({ url, command }) => {
  const connection = connectionFor(url);
  const prefix = command.prefix ?? 'bull';
  const seen = [];
  const completed = [];
  const failed = [];
  const errors = [];
  const fail = command.fail ?? {};
  const unrecoverable = new Set(command.unrecoverable ?? []);
  const steps = command.step ?? {};
  const finishing = finishLine(command.until?.finished ?? null);
  const others = new Map();
  const queueFor = (name) => {
    if (!others.has(name)) others.set(name, new Queue(name, { connection, prefix }));
    return others.get(name);
  };

  const processor = async (job, token) => {
    seen.push({ id: job.id, name: job.name, queueName: job.queueName, attemptsMade: job.attemptsMade });
    const step = steps[job.name];
    if (step && !job.data.stepped) {
      await job.updateData({ ...job.data, stepped: true });
      const target = queueFor(step.queue);
      for (let n = 0; n < step.children; n += 1) {
        await target.add('part', { n }, { parent: { id: job.id, queue: job.queueQualifiedName } });
      }
      if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
    }
    if (fail[job.name] !== undefined) {
      const message = fail[job.name];
      throw unrecoverable.has(job.name) ? new UnrecoverableError(message) : new Error(message);
    }
    return { by: 'node', name: job.name, data: job.data, children: await job.getChildrenValues() };
  };

  const workers = (command.queues ?? []).map((name) => {
    const worker = new Worker(name, processor, { connection, prefix, ...(command.options ?? {}) });
    worker.on('completed', (job, returnvalue) => {
      completed.push({ id: job.id, queueName: job.queueName, returnvalue });
      finishing.finish();
    });
    worker.on('failed', (job, err) => {
      const attempts = Math.max(job?.opts?.attempts ?? 1, 1);
      if ((job?.attemptsMade ?? 0) >= attempts || err?.name === 'UnrecoverableError') {
        failed.push({ id: job?.id ?? null, queueName: job?.queueName ?? null, failedReason: String(err?.message ?? err) });
        finishing.finish();
      }
    });
    worker.on('error', (err) => errors.push(String(err?.message ?? err)));
    return worker;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  ready();

  const why = await waitForEnd(finishing.done, command.timeoutMs ?? 20000);
  await Promise.all(workers.map((w) => w.close()));
  for (const queue of others.values()) await queue.close();
  return { seen, completed, failed, errors, timedOut: why === 'timeout' };
});
