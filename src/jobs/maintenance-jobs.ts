import { Queue, Worker } from 'bullmq';
import { withLogContext } from '../logging/log-context.ts';
import type { Logger } from '../logging/logger.ts';
import { createRedisConnection } from './redis-connection.ts';

/**
 * Periodic sweeps over PostgreSQL (expire undecided requests, re-announce, reconcile), run by
 * BullMQ job schedulers. `upsertJobScheduler` is idempotent and called at every start, so a Redis
 * that lost its data gets its schedules back on the next start; the sweeps themselves read the
 * truth from PostgreSQL, so a missed or repeated run changes nothing but timing.
 */
export const MAINTENANCE_QUEUE = 'latch-maintenance';

export interface MaintenanceSweeps {
  /** Expires pending requests past their decision time and tells people. */
  expirePendingRequests(): Promise<void>;
  /** Posts the approval messages Slack refused earlier. */
  announceMissedRequests(): Promise<void>;
  /** Queues again every grant and revocation PostgreSQL says is needed (see reconcileAccess). */
  reconcile(): Promise<void>;
}

export interface MaintenanceOptions {
  redisUrl: string;
  /** BullMQ key prefix; wrap it in {braces} for Redis Cluster. */
  prefix?: string;
  everyMs?: number;
  /** The reconcile sweep's own interval: every minute unless told. */
  reconcileEveryMs?: number;
  sweeps: MaintenanceSweeps;
  logger: Logger;
}

export interface RunningMaintenance {
  stop(): Promise<void>;
}

const SWEEP_HANDLERS: Record<string, keyof MaintenanceSweeps> = {
  'expire-pending-requests': 'expirePendingRequests',
  'announce-missed-requests': 'announceMissedRequests',
  reconcile: 'reconcile',
};

export async function startMaintenance({ redisUrl, prefix = 'latch', everyMs = 30_000, reconcileEveryMs = 60_000, sweeps, logger }: MaintenanceOptions): Promise<RunningMaintenance> {
  const queueConnection = createRedisConnection(redisUrl, 'queue', logger);
  const workerConnection = createRedisConnection(redisUrl, 'worker', logger);
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: queueConnection, prefix });
  for (const name of Object.keys(SWEEP_HANDLERS)) {
    await queue.upsertJobScheduler(name, { every: name === 'reconcile' ? reconcileEveryMs : everyMs }, { name, opts: { removeOnComplete: 100, removeOnFail: 100 } });
  }
  const worker = new Worker(
    MAINTENANCE_QUEUE,
    (job) =>
      withLogContext({ jobId: job.id ?? job.name }, async () => {
        const sweep = SWEEP_HANDLERS[job.name];
        if (!sweep) throw new Error(`unknown maintenance job ${job.name}`);
        await sweeps[sweep]();
      }),
    { connection: workerConnection, prefix, concurrency: 1 },
  );
  worker.on('failed', (job, error) => logger.error({ err: error, job: job?.name }, 'maintenance job failed'));
  return {
    async stop() {
      // close() waits for a running job without limit; a sweep is short, but bound it anyway.
      await Promise.race([worker.close(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
      await queue.close();
      queueConnection.disconnect();
      workerConnection.disconnect();
    },
  };
}
