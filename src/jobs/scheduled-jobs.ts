import { Worker, type Job, type Queue } from 'bullmq';
import { withLogContext } from '../logging/log-context.ts';
import type { RedisClient } from './redis-connection.ts';

/** A queue of scheduled jobs and its worker, as shutdown sees them. */
export interface RunningScheduledJobs {
  /** The job running ("the reconcile sweep"), for shutdown's log; null when none. */
  busyWith(): string | null;
  /** Stops checking and fetching; resolves once the running job has finished, however long it takes. */
  finish(): Promise<void>;
  /** Drops the worker's connections under a job still running; BullMQ runs it again once its lock expires. */
  abandon(): Promise<void>;
  /** Closes the queue's and the worker's connections. */
  close(): Promise<void>;
  /** finish() for at most 5 s, then close(): for callers that do not bound it themselves. */
  stop(): Promise<void>;
}

export interface ScheduledJobsOptions<Data> {
  /** The queue whose job schedulers make the jobs, on `queueConnection`. */
  queue: Queue;
  queueConnection: RedisClient;
  workerConnection: RedisClient;
  prefix: string;
  run(job: Job<Data>): Promise<void>;
  /** What a running job is called in shutdown's log. */
  describe(job: Job<Data>): string;
  onFailed(job: Job<Data> | undefined, error: Error): void;
  /** Brings the schedules in Redis back in line (after a policy reload, or a Redis that lost them); never throws. */
  checkSchedules(): Promise<void>;
  checkEveryMs: number;
}

/**
 * Runs a queue's scheduled jobs one at a time, each in a log context of its own, and checks the
 * schedules on a timer of this process: one check at a time, so a slow Redis does not pile them up.
 */
export function runScheduledJobs<Data>(options: ScheduledJobsOptions<Data>): RunningScheduledJobs {
  const { queue, queueConnection, workerConnection } = options;
  let running: string | null = null;
  const worker = new Worker<Data>(
    queue.name,
    (job) =>
      withLogContext({ jobId: job.id ?? job.name }, async () => {
        running = options.describe(job);
        try {
          await options.run(job);
        } finally {
          running = null;
        }
      }),
    { connection: workerConnection, prefix: options.prefix, concurrency: 1 },
  );
  worker.on('failed', (job, error) => options.onFailed(job, error));

  let checking: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    checking = checking.then(() => options.checkSchedules());
  }, options.checkEveryMs);
  timer.unref();

  let finishing: Promise<void> | null = null;
  const finish = () =>
    (finishing ??= (async () => {
      clearInterval(timer);
      await checking;
      await worker.close();
    })());
  const close = async () => {
    await queue.close();
    queueConnection.disconnect();
    workerConnection.disconnect();
  };
  return {
    busyWith: () => running,
    finish,
    abandon: async () => workerConnection.disconnect(),
    close,
    async stop() {
      // close() waits for a running job without limit; the jobs are short, but bound it anyway.
      await Promise.race([finish(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
      await close();
    },
  };
}
