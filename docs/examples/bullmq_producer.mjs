// A Node BullMQ producer that keeps running during a migration: its jobs go to corral workers.
// node bullmq_producer.mjs redis://localhost:6379/0
import { Queue } from "bullmq";

const url = new URL(process.argv[2] ?? "redis://localhost:6379/0");
const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };

// --8<-- [start:producer]
const queue = new Queue("receipts", { connection });
const job = await queue.add(
  "send-receipt",
  { orderId: 42, email: "ada@example.com" },
  { attempts: 3, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: 1000 },
);
console.log(`added job ${job.id}`);
await queue.close();
// --8<-- [end:producer]
