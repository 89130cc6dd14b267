import { Queue } from 'bullmq';
import type { Logger } from '../logging/logger.ts';
import { createRedisConnection } from './redis-connection.ts';
import { runScheduledJobs, type RunningScheduledJobs } from './scheduled-jobs.ts';

/**
 * Periodic sweeps over PostgreSQL (expire undecided requests, re-announce, reconcile), run by
 * BullMQ job schedulers. The schedules live in Redis, so a Redis that lost its data (FLUSHALL, a
 * restart without persistence) would also lose the reconcile sweep that recovers the lost grant and
 * revocation jobs. A guard in each process therefore checks the schedules on a timer of its own and
 * restores missing ones, which runs them at once. `upsertJobScheduler` is idempotent, and the sweeps
 * read the truth from PostgreSQL, so a missed or repeated run changes nothing but timing.
 */
export const MAINTENANCE_QUEUE = 'latch-maintenance';

export interface MaintenanceSweeps {
  /** Expires pending requests past their decision time and tells people. */
  expirePendingRequests(): Promise<void>;
  /** Posts the approval messages Slack refused earlier. */
  announceMissedRequests(): Promise<void>;
  /** Queues again every grant and revocation PostgreSQL says is needed (see reconcileAccess). */
  reconcile(): Promise<void>;
  /** Reminds people of what waits for them: unreviewed break-glass use, undecided requests. */
  sendReminders(): Promise<void>;
  /** Asks the providers who holds each role and reports holders without a grant. */
  scanStandingAccess(): Promise<void>;
}

export interface MaintenanceOptions {
  redisUrl: string;
  /** REDIS_URL names a Redis Cluster's seed nodes. */
  redisCluster?: boolean | undefined;
  /** BullMQ key prefix (LATCH_QUEUE_PREFIX); on a Redis Cluster it must hold a {hash tag}. */
  prefix?: string;
  everyMs?: number;
  /** The reconcile sweep's own interval: every minute unless told. */
  reconcileEveryMs?: number;
  /** The standing-access scan's own interval: every ten minutes unless told (it asks every target). */
  scanEveryMs?: number;
  /** How often this process checks that Redis still has the schedules (15 s unless told). */
  guardEveryMs?: number;
  sweeps: MaintenanceSweeps;
  logger: Logger;
}

/** The sweeps' schedules and their worker, as shutdown sees them. */
export type RunningMaintenance = RunningScheduledJobs;

const SWEEP_HANDLERS: Record<string, keyof MaintenanceSweeps> = {
  'expire-pending-requests': 'expirePendingRequests',
  'announce-missed-requests': 'announceMissedRequests',
  reconcile: 'reconcile',
  'send-reminders': 'sendReminders',
  'scan-standing-access': 'scanStandingAccess',
};

export async function startMaintenance({
  redisUrl,
  redisCluster,
  prefix = 'latch',
  everyMs = 30_000,
  reconcileEveryMs = 60_000,
  scanEveryMs = 10 * 60_000,
  guardEveryMs = 15_000,
  sweeps,
  logger,
}: MaintenanceOptions): Promise<RunningMaintenance> {
  const queueConnection = createRedisConnection(redisUrl, 'queue', logger, { cluster: redisCluster });
  const workerConnection = createRedisConnection(redisUrl, 'worker', logger, { cluster: redisCluster });
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: queueConnection, prefix });
  const intervalOf = (name: string) => (name === 'reconcile' ? reconcileEveryMs : name === 'scan-standing-access' ? scanEveryMs : everyMs);
  const schedule = (name: string) =>
    queue.upsertJobScheduler(name, { every: intervalOf(name) }, { name, opts: { removeOnComplete: 100, removeOnFail: 100 } });
  for (const name of Object.keys(SWEEP_HANDLERS)) await schedule(name);
  return runScheduledJobs({
    queue,
    queueConnection,
    workerConnection,
    prefix,
    async run(job) {
      const sweep = SWEEP_HANDLERS[job.name];
      if (!sweep) throw new Error(`unknown maintenance job ${job.name}`);
      await sweeps[sweep]();
    },
    describe: (job) => `the ${job.name} sweep`,
    onFailed: (job, error) => logger.error({ err: error, job: job?.name }, 'maintenance job failed'),
    checkSchedules: () => restoreLostSchedules(queue, schedule, logger),
    checkEveryMs: guardEveryMs,
  });
}

/** Restores the schedules Redis no longer has; never throws (Redis may be down right now). */
async function restoreLostSchedules(queue: Queue, schedule: (name: string) => Promise<unknown>, logger: Logger): Promise<void> {
  try {
    for (const name of Object.keys(SWEEP_HANDLERS)) {
      if (await queue.getJobScheduler(name)) continue;
      logger.warn({ schedule: name }, 'Redis lost the maintenance schedule (was it flushed or restarted empty?); restoring it and running it now');
      await schedule(name);
    }
  } catch (error) {
    logger.warn({ err: error }, 'could not check the maintenance schedules in Redis; will try again');
  }
}
