/**
 * The worker-memory baseline: a bare BullMQ Worker with a no-op processor, in a process of its
 * own, run over as many delayed jobs as Latch's worker revokes. Says on IPC when it has run them.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const count = Number(process.env.BENCH_JOBS);
let done = 0;
const connection = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
const worker = new Worker(
  process.env.BENCH_QUEUE!,
  async () => {
    if (++done === count) process.send!({ type: 'done' });
  },
  { connection, prefix: process.env.BENCH_PREFIX!, concurrency: Number(process.env.BENCH_CONCURRENCY) },
);
worker.on('error', () => undefined);
await worker.waitUntilReady();
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready' });
