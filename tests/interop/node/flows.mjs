// Node BullMQ's flow API, step by step, on one Redis: what Node writes and what it reads.
//
// command: {
//   "prefix": "bull",                         optional, for every object made here
//   "steps": [ {"op": ..., ...}, ... ]
// }
// Ops: addFlow {tree} | addBulk {trees}      FlowProducer.add / addBulk; tree as Node takes it
//      | getFlow {id, queueName, depth, maxChildren}
//      | getDependencies {queueName, id, opts} | getDependenciesCount {queueName, id, opts}
//      | childrenValues {queueName, id} | ignoredFailures {queueName, id}
//      | failedChildrenValues {queueName, id}
//      | add {queueName, name, data, opts}    Queue.add (opts may hold "parent")
//      | state {queueName, id} | job {queueName, id} | remove {queueName, id, removeChildren}
//      | counts {queueName, types}
// A step with "catch": true reports {"error": {message, code, name}} instead of aborting.
// Result: the list of step results. A flow node is {id, name, queueName, children?}.
import { FlowProducer, Job, Queue } from 'bullmq';
import { connectionFor, jobView, run, runSteps } from './common.mjs';

function nodeView(node) {
  if (!node) return null;
  const view = { id: node.job.id, name: node.job.name, queueName: node.job.queueName };
  if (node.children) view.children = node.children.map(nodeView);
  return view;
}

function flowView(node) {
  // getFlow's shape: a child that no longer exists is undefined (null in JSON).
  if (!node) return null;
  const view = {
    id: node.job.id,
    name: node.job.name,
    queueName: node.job.queueName,
    returnvalue: node.job.returnvalue ?? null,
  };
  if (node.children) view.children = node.children.map(flowView);
  return view;
}

run(async ({ url, command }) => {
  const connection = connectionFor(url);
  const prefix = command.prefix ?? 'bull';
  const producer = new FlowProducer({ connection, prefix });
  const queues = new Map();
  const queueFor = (name) => {
    if (!queues.has(name)) queues.set(name, new Queue(name, { connection, prefix }));
    return queues.get(name);
  };
  const jobOf = async (s) => {
    const job = await Job.fromId(queueFor(s.queueName), s.id);
    if (!job) throw new Error(`no job ${s.queueName}/${s.id}`);
    return job;
  };

  const ops = {
    addFlow: async (s) => nodeView(await producer.add(s.tree)),
    addBulk: async (s) => (await producer.addBulk(s.trees)).map(nodeView),
    getFlow: async (s) =>
      flowView(
        await producer.getFlow({
          id: s.id,
          queueName: s.queueName,
          depth: s.depth,
          maxChildren: s.maxChildren,
          prefix,
        }),
      ),
    getDependencies: async (s) => (await jobOf(s)).getDependencies(s.opts),
    getDependenciesCount: async (s) => (await jobOf(s)).getDependenciesCount(s.opts),
    childrenValues: async (s) => (await jobOf(s)).getChildrenValues(),
    ignoredFailures: async (s) => (await jobOf(s)).getIgnoredChildrenFailures(),
    failedChildrenValues: async (s) => (await jobOf(s)).getFailedChildrenValues(),
    add: async (s) => jobView(await queueFor(s.queueName).add(s.name, s.data ?? {}, s.opts ?? {})),
    state: async (s) => queueFor(s.queueName).getJobState(s.id),
    job: async (s) => {
      const job = await Job.fromId(queueFor(s.queueName), s.id);
      return job ? { ...jobView(job), parentKey: job.parentKey ?? null, parent: job.parent ?? null } : null;
    },
    remove: async (s) => queueFor(s.queueName).remove(s.id, { removeChildren: s.removeChildren ?? true }),
    counts: async (s) => queueFor(s.queueName).getJobCounts(...(s.types ?? [])),
  };

  try {
    return await runSteps(ops, command.steps);
  } finally {
    await producer.close();
    for (const queue of queues.values()) await queue.close();
  }
});
