import { setTimeout as sleep } from 'node:timers/promises';
import { DelayedError, type Job, Worker } from 'bullmq';
import { withLogContext } from '../logging/log-context.ts';
import type { Logger } from '../logging/logger.ts';
import type { AccessContext } from '../services/access-context.ts';
import { grantAccess } from '../services/grant-access.ts';
import { revokeGrant, type RevokeGrantResult } from '../services/revoke-grant.ts';
import { GRANT_QUEUE, REVOCATION_BACKOFF_TYPE, REVOKE_QUEUE, type GrantJobData, type RevokeJobData } from './access-queues.ts';
import { createRedisConnection, type RedisClient } from './redis-connection.ts';
import { DEFAULT_REVOCATION_BACKOFF, revocationRetryDelayMs, type RevocationBackoff } from './revocation-backoff.ts';

/** Told of each revocation and each failed job attempt (the metrics). */
export interface AccessJobMetrics {
  /** The access was taken away at `revokedAt`; it was due at `dueAt`. */
  revoked(dueAt: Date, revokedAt: Date): void;
  jobFailed(queue: string): void;
}

export interface AccessWorkerOptions {
  redisUrl: string;
  /** REDIS_URL names a Redis Cluster's seed nodes. */
  redisCluster?: boolean | undefined;
  /** BullMQ key prefix: the queues' own (AccessQueues). */
  prefix?: string;
  ctx: AccessContext;
  logger: Logger;
  /** Jobs of each queue run at once in this process; the access lock pool should match. */
  concurrency?: number;
  revocationBackoff?: RevocationBackoff;
  metrics?: AccessJobMetrics | undefined;
}

export interface RunningAccessWorkers {
  /** The jobs running now, for shutdown's log ("1 grant job, 2 revoke jobs"), or null when none. */
  busyWith(): string | null;
  /** Stops fetching jobs and resolves once the running ones have finished, however long they take. */
  finish(): Promise<void>;
  /**
   * Drops the connections under the jobs still running. Their locks in Redis are no longer
   * renewed, so once they expire (lockDuration) a worker here or elsewhere takes the jobs again;
   * the use cases read the truth from PostgreSQL, so the rerun does what is left, once.
   */
  abandon(): Promise<void>;
  /** Ends the Redis connections the workers were given, once they have finished or let go. */
  close(): Promise<void>;
  /** finish() for at most 10 s, then abandon(): for callers that do not bound it themselves. */
  stop(): Promise<void>;
}

/** A failure BullMQ should retry; `permanent` picks the slow revocation schedule at once. */
class RetryableFailure extends Error {
  constructor(message: string, readonly permanent = false) {
    super(message);
    this.name = permanent ? 'PermanentProviderFailure' : 'TransientProviderFailure';
  }
}

/**
 * The workers that grant and revoke. Each job only calls its use case, which reads the truth
 * from PostgreSQL, so a job that runs twice, late, or after its request changed does the right
 * thing; the use case also queues what follows and tells people. The job only translates its
 * result into BullMQ's terms: not due yet (a later start, an extended grant) puts it back to
 * sleep, a failure worth retrying throws, anything else is done.
 */
export function startAccessWorkers(options: AccessWorkerOptions): RunningAccessWorkers {
  const { ctx, logger, metrics, prefix = 'latch', concurrency = 10 } = options;
  const connections: RedisClient[] = [];
  const connect = () => {
    const connection = createRedisConnection(options.redisUrl, 'worker', logger, { cluster: options.redisCluster });
    connections.push(connection);
    return connection;
  };
  const backoff = options.revocationBackoff ?? DEFAULT_REVOCATION_BACKOFF;
  // A job whose worker died (kill -9, a lost host) is found again only once its lock has expired
  // and two stalled checks have seen it: with BullMQ's defaults (30 s and 30 s) that is up to a
  // minute and a half, too long for a revocation. The lock is renewed every half lockDuration
  // while a job runs, so shorter values bound the recovery, not the length of a job.
  const recovery = { lockDuration: 15_000, stalledInterval: 10_000 };
  // Counted so shutdown can say what it waits for.
  const running = { grant: 0, revoke: 0 };
  const runJob = async <T>(kind: keyof typeof running, job: Job, body: () => Promise<T>): Promise<T> => {
    running[kind] += 1;
    try {
      return await withLogContext({ jobId: job.id ?? job.name }, body);
    } finally {
      running[kind] -= 1;
    }
  };

  const grantWorker = new Worker<GrantJobData>(
    GRANT_QUEUE,
    (job, token) =>
      runJob('grant', job, async () => {
        const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        const result = await grantAccess(ctx, { requestId: job.data.requestId, finalAttempt });
        switch (result.outcome) {
          case 'granted':
          case 'failed':
            return;
          case 'not_yet':
            return sleepUntil(job, result.startsAt, token);
          case 'skipped':
            logger.info({ accessRequestId: job.data.requestId, reason: result.reason }, 'grant job had nothing to do');
            return;
          case 'retry':
            throw new RetryableFailure(result.message);
        }
      }),
    { connection: connect(), prefix, concurrency, ...recovery },
  );

  const revokeWorker = new Worker<RevokeJobData>(
    REVOKE_QUEUE,
    (job, token) =>
      runJob('revoke', job, async () => {
        const result = await revokeWhenDue(ctx, job.data.grantId);
        switch (result.outcome) {
          case 'revoked':
            metrics?.revoked(result.dueAt, result.revokedAt);
            return;
          case 'nothing':
            return;
          case 'not_due':
            return sleepUntil(job, result.dueAt, token);
          case 'retry':
            throw new RetryableFailure(result.message, result.permanent);
        }
      }),
    {
      connection: connect(),
      prefix,
      concurrency,
      ...recovery,
      settings: {
        backoffStrategy: (attemptsMade, type, error) =>
          type === REVOCATION_BACKOFF_TYPE ? revocationRetryDelayMs(attemptsMade, error?.name === 'PermanentProviderFailure', backoff) : 0,
      },
    },
  );

  for (const worker of [grantWorker, revokeWorker]) {
    worker.on('failed', (job, error) => {
      if (error instanceof DelayedError) return;
      metrics?.jobFailed(worker.name);
      logger.warn({ err: error, job: job?.id, attemptsMade: job?.attemptsMade }, `${worker.name} job failed`);
    });
    worker.on('error', (error) => logger.error({ err: error }, `${worker.name} worker error`));
  }

  let finishing: Promise<void> | null = null;
  const finish = () => (finishing ??= Promise.all([grantWorker.close(), revokeWorker.close()]).then(() => undefined));
  // Bounded: on a Redis Cluster, disconnect() can wait forever for an 'end' event the client does
  // not emit again. close() leaves the connections it was given open: they are ours to end.
  const disconnect = async () => {
    await Promise.race([
      Promise.all([grantWorker.disconnect(), revokeWorker.disconnect()]).catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 2_000)),
    ]);
    for (const connection of connections) connection.disconnect();
  };
  const close = async () => {
    for (const connection of connections) connection.disconnect();
  };
  return {
    busyWith() {
      const jobs = [plural(running.grant, 'grant job'), plural(running.revoke, 'revoke job')].filter(Boolean);
      return jobs.length > 0 ? jobs.join(', ') : null;
    },
    finish,
    abandon: disconnect,
    close,
    async stop() {
      // close() waits for running jobs without limit: give them a bounded time to finish.
      const closed = await Promise.race([finish().then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000))]);
      // Out of time: cut the workers' own blocking connections.
      if (!closed) await disconnect();
      else await close();
    },
  };
}

function plural(count: number, noun: string): string | null {
  return count === 0 ? null : `${count} ${noun}${count === 1 ? '' : 's'}`;
}

const MIN_SLEEP_MS = 250;

/**
 * A revocation due this soon is waited for here rather than put back to sleep in Redis, which
 * costs at least MIN_SLEEP_MS plus a trip through the delayed set: a job that runs a moment early
 * (clocks of hosts that disagree by a few ms) would otherwise be that much late.
 */
const WAIT_IN_WORKER_MAX_MS = 1_000;

/**
 * Revokes the grant, waiting out the last moment before its expiry in the worker when the job ran
 * a little early. Never early itself: revokeGrant decides again, by the clock, once the wait is over.
 */
async function revokeWhenDue(ctx: AccessContext, grantId: string): Promise<RevokeGrantResult> {
  const result = await revokeGrant(ctx, grantId);
  if (result.outcome !== 'not_due') return result;
  const remainingMs = result.dueAt.getTime() - ctx.clock.now().getTime();
  if (remainingMs > WAIT_IN_WORKER_MAX_MS) return result;
  // A timer may fire up to a millisecond early by the wall clock: wait one more.
  await sleep(Math.max(0, remainingMs) + 1);
  return revokeGrant(ctx, grantId);
}

/**
 * Puts a job back to sleep until `at` without counting an attempt. At least a moment: hosts whose
 * clocks disagree by a second must not bounce a job between them in a tight loop.
 */
async function sleepUntil(job: Job, at: Date, token: string | undefined): Promise<never> {
  await job.moveToDelayed(Math.max(at.getTime(), Date.now() + MIN_SLEEP_MS), token);
  throw new DelayedError();
}
