// Listen to a queue's events with BullMQ's QueueEvents and report them.
//
// command: {
//   "prefix": "bull",
//   "events": ["completed", "stalled", ...],   event names to record
//   "until": [["completed", "<jobId>"], ...],  stop once each (event, jobId) was seen;
//                                              otherwise run until "stop" on stdin
//   "timeoutMs": 20000
// }
// Reading starts just after the newest entry already in the stream when the script
// starts, so nothing emitted after {"ready": true} is missed.
// Result: {events: [{event, ...payload}], timedOut}
import { QueueEvents } from 'bullmq';
import IORedis from 'ioredis';
import { connectionFor, ready, run, waitForEnd } from './common.mjs';

run(async ({ url, queueName, command }) => {
  const connection = connectionFor(url);
  const prefix = command.prefix ?? 'bull';

  const probe = new IORedis(connection);
  const newest = await probe.xrevrange(`${prefix}:${queueName}:events`, '+', '-', 'COUNT', 1);
  await probe.quit();
  const lastEventId = newest.length ? newest[0][0] : '0-0';

  const queueEvents = new QueueEvents(queueName, { connection, prefix, lastEventId });
  const events = [];
  const pending = new Set((command.until ?? []).map(([e, id]) => `${e}\u0000${id}`));
  const wantsUntil = pending.size > 0;
  let notify = () => {};
  const allSeen = new Promise((resolve) => {
    notify = () => {
      if (wantsUntil && pending.size === 0) resolve('done');
    };
  });
  for (const name of command.events ?? []) {
    queueEvents.on(name, (payload) => {
      events.push({ event: name, ...(payload ?? {}) });
      if (payload?.jobId !== undefined) pending.delete(`${name}\u0000${payload.jobId}`);
      notify();
    });
  }
  await queueEvents.waitUntilReady();
  ready();

  const why = await waitForEnd(allSeen, command.timeoutMs ?? 20000);
  await queueEvents.close();
  return { events, timedOut: why === 'timeout' };
});
