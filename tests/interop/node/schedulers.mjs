// Job schedulers and cron next runs as Node BullMQ sees them.
//
// command: {"prefix": "bull", "steps": [ {"op": ..., ...}, ... ]}
// Ops: upsert {id, repeat, template}       -> the first iteration's job view
//      list {start=0, end=-1, asc=true}    -> queue.getJobSchedulers(...)
//      get {id}                            -> queue.getJobScheduler(id)
//      count                               -> queue.getJobSchedulersCount()
//      remove {id}                         -> queue.removeJobScheduler(id)
//      cronNext {cases: [[pattern, tz, startMs, n], ...]}
//                                          -> for each case the next n run times (ms)
//                                             from cron-parser, as BullMQ computes them,
//                                             or an error text where it gives up
// Result: the list of step results.
import { Queue } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import { connectionFor, jobView, run, runSteps } from './common.mjs';

function cronNext(cases) {
  return cases.map(([pattern, tz, start, n]) => {
    const times = [];
    let current = start;
    for (let i = 0; i < n; i++) {
      try {
        // One parse per run, from the previous run, as a worker moves a scheduler on.
        const it = CronExpressionParser.parse(pattern, { tz, currentDate: new Date(current) });
        current = it.next().getTime();
        times.push(current);
      } catch (err) {
        times.push(String(err?.message ?? err));
        break;
      }
    }
    return times;
  });
}

run(async ({ url, queueName, command }) => {
  const steps = command.steps ?? [];
  if (steps.every((s) => s.op === 'cronNext')) {
    return steps.map((s) => cronNext(s.cases));
  }
  const queue = new Queue(queueName, { connection: connectionFor(url), prefix: command.prefix ?? 'bull' });
  const ops = {
    upsert: async (s) => jobView(await queue.upsertJobScheduler(s.id, s.repeat, s.template ?? {})),
    list: async (s) => queue.getJobSchedulers(s.start ?? 0, s.end ?? -1, s.asc ?? true),
    get: async (s) => (await queue.getJobScheduler(s.id)) ?? null,
    count: async () => queue.getJobSchedulersCount(),
    remove: async (s) => queue.removeJobScheduler(s.id),
    cronNext: async (s) => cronNext(s.cases),
  };
  try {
    return await runSteps(ops, steps);
  } finally {
    await queue.close();
  }
});
