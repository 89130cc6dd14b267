import { Queue } from 'bullmq';
import type { DigestPolicy } from '../domain/policy.ts';
import type { Logger } from '../logging/logger.ts';
import { createRedisConnection } from './redis-connection.ts';
import { runScheduledJobs, type RunningScheduledJobs } from './scheduled-jobs.ts';

export const DIGEST_QUEUE = 'latch-digests';
const SCHEDULER_PREFIX = 'digest-';

export interface DigestScheduleOptions {
  redisUrl: string;
  /** REDIS_URL names a Redis Cluster's seed nodes. */
  redisCluster?: boolean | undefined;
  /** BullMQ key prefix (LATCH_QUEUE_PREFIX); on a Redis Cluster it must hold a {hash tag}. */
  prefix?: string;
  /** The digests of the policy in force: read at every sync, so a reloaded policy takes effect. */
  digests: () => DigestPolicy[];
  /** Builds and posts one digest by name. */
  send: (name: string) => Promise<void>;
  logger: Logger;
  /** How often the schedules in Redis are compared with the policy (15 s unless told). */
  syncEveryMs?: number;
}

/** The digest schedules and their worker, as shutdown sees them. */
export type RunningDigests = RunningScheduledJobs;

/**
 * One BullMQ job scheduler per digest of the policy, from its cron expression and time zone, so
 * each digest is sent once per run however many workers there are. The schedules are compared
 * with the policy at start and every few seconds after: a digest added, changed or removed by a
 * policy reload is scheduled accordingly, and schedules Redis lost are restored.
 */
export async function startDigestSchedules(options: DigestScheduleOptions): Promise<RunningDigests> {
  const { redisUrl, redisCluster, prefix = 'latch', logger } = options;
  const queueConnection = createRedisConnection(redisUrl, 'queue', logger, { cluster: redisCluster });
  const workerConnection = createRedisConnection(redisUrl, 'worker', logger, { cluster: redisCluster });
  const queue = new Queue(DIGEST_QUEUE, { connection: queueConnection, prefix });
  const sync = async () => {
    const wanted = new Map(options.digests().map((digest) => [`${SCHEDULER_PREFIX}${digest.name}`, digest]));
    const existing = await queue.getJobSchedulers(0, -1);
    for (const scheduler of existing) {
      const digest = scheduler.key ? wanted.get(scheduler.key) : undefined;
      if (!digest) await queue.removeJobScheduler(scheduler.key);
      else if (scheduler.pattern === digest.schedule && scheduler.tz === digest.timeZone) wanted.delete(scheduler.key);
    }
    for (const [key, digest] of wanted) {
      await queue.upsertJobScheduler(key, { pattern: digest.schedule, tz: digest.timeZone }, { name: 'digest', data: { name: digest.name }, opts: { removeOnComplete: 100, removeOnFail: 100, attempts: 3, backoff: { type: 'exponential', delay: 10_000 } } });
      logger.info({ digest: digest.name, schedule: digest.schedule, timeZone: digest.timeZone }, 'digest scheduled');
    }
  };
  await sync();
  return runScheduledJobs<{ name: string }>({
    queue,
    queueConnection,
    workerConnection,
    prefix,
    run: (job) => options.send(job.data.name),
    describe: (job) => `the digest ${job.data.name}`,
    onFailed: (job, error) => logger.error({ err: error, digest: job?.data.name }, 'digest could not be sent'),
    checkSchedules: () => sync().catch((error: unknown) => logger.warn({ err: error }, 'could not sync the digest schedules with Redis; will try again')),
    checkEveryMs: options.syncEveryMs ?? 15_000,
  });
}
