import { Queue, Worker } from 'bullmq';
import type { DigestPolicy } from '../domain/policy.ts';
import { withLogContext } from '../logging/log-context.ts';
import type { Logger } from '../logging/logger.ts';
import { createRedisConnection } from './redis-connection.ts';

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

export interface RunningDigests {
  /** The digest being sent ("the digest weekly"), for shutdown's log; null when none. */
  busyWith(): string | null;
  /** Stops scheduling and fetching; resolves once the running job has finished, however long it takes. */
  finish(): Promise<void>;
  /** Drops the worker's connections under a job still running; BullMQ runs it again once its lock expires. */
  abandon(): Promise<void>;
  /** Closes the queue's and the worker's connections. */
  close(): Promise<void>;
  /** finish() for at most 5 s, then close(): for callers that do not bound it themselves. */
  stop(): Promise<void>;
}

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
  let running: string | null = null;
  const worker = new Worker<{ name: string }>(
    DIGEST_QUEUE,
    (job) =>
      withLogContext({ jobId: job.id ?? job.name }, async () => {
        running = job.data.name;
        try {
          await options.send(job.data.name);
        } finally {
          running = null;
        }
      }),
    { connection: workerConnection, prefix, concurrency: 1 },
  );
  worker.on('failed', (job, error) => logger.error({ err: error, digest: job?.data.name }, 'digest could not be sent'));

  let syncing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    syncing = syncing.then(() => sync().catch((error: unknown) => logger.warn({ err: error }, 'could not sync the digest schedules with Redis; will try again')));
  }, options.syncEveryMs ?? 15_000);
  timer.unref();
  let finishing: Promise<void> | null = null;
  const finish = () =>
    (finishing ??= (async () => {
      clearInterval(timer);
      await syncing;
      await worker.close();
    })());
  const close = async () => {
    await queue.close();
    queueConnection.disconnect();
    workerConnection.disconnect();
  };
  return {
    busyWith: () => (running ? `the digest ${running}` : null),
    finish,
    abandon: async () => workerConnection.disconnect(),
    close,
    async stop() {
      await Promise.race([finish(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
      await close();
    },
  };
}
