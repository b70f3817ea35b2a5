// The Node BullMQ worker being replaced; it can run next to corral workers on one queue.
// node bullmq_worker.mjs redis://localhost:6379/0 (stops after one job, for the test)
import { Worker } from "bullmq";

const url = new URL(process.argv[2] ?? "redis://localhost:6379/0");
const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };

// --8<-- [start:worker]
const worker = new Worker(
  "receipts",
  async (job) => `receipt for order ${job.data.orderId} sent to ${job.data.email}`,
  { connection, concurrency: 16, lockDuration: 30000 },
);
// --8<-- [end:worker]
worker.on("completed", async (job, result) => {
  console.log(`job ${job.id} completed: ${result}`);
  await worker.close();
});
