import { Queue } from 'bullmq';
import type { Logger } from '../logging/logger.ts';
import type { AccessScheduler } from '../services/service-context.ts';
import { createRedisConnection } from './redis-connection.ts';

/**
 * The grant and revoke queues. Apart, so a burst of grants never delays a revocation, and each
 * has its own retry policy. Job ids are deterministic (`grant-<requestId>`, `revoke-<grantId>`):
 * BullMQ ignores an add whose id exists, so duplicate clicks, Slack's retries and the reconcile
 * job never queue the same work twice. Finished jobs are removed at once, so the reconcile job can
 * queue a job again whenever PostgreSQL says it is still needed.
 */
export const GRANT_QUEUE = 'latch-grants';
export const REVOKE_QUEUE = 'latch-revocations';

export const grantJobId = (requestId: string) => `grant-${requestId}`;
export const revokeJobId = (grantId: string) => `revoke-${grantId}`;

export interface GrantJobData {
  requestId: string;
}
export interface RevokeJobData {
  grantId: string;
}

/** Named in the revoke jobs' options; the workers' backoffStrategy computes its delays. */
export const REVOCATION_BACKOFF_TYPE = 'latch-revocation';

export interface GrantRetryPolicy {
  /** Attempts before a grant that keeps failing transiently fails the request. */
  attempts: number;
  /** First retry delay; it doubles each time. */
  baseDelayMs: number;
}

/** 2 s, 4 s, … 256 s: about eight and a half minutes of trying before the requester is told. */
export const DEFAULT_GRANT_RETRY: GrantRetryPolicy = { attempts: 9, baseDelayMs: 2_000 };

export interface AccessQueueOptions {
  redisUrl: string;
  /** REDIS_URL names a Redis Cluster's seed nodes. */
  redisCluster?: boolean | undefined;
  /** BullMQ key prefix (LATCH_QUEUE_PREFIX); on a Redis Cluster it must hold a {hash tag}. */
  prefix?: string;
  grantRetry?: GrantRetryPolicy;
  logger: Logger;
}

export class AccessQueues implements AccessScheduler {
  readonly grants: Queue<GrantJobData>;
  readonly revocations: Queue<RevokeJobData>;
  private readonly grantRetry: GrantRetryPolicy;
  private readonly connection;

  constructor({ redisUrl, redisCluster, prefix = 'latch', grantRetry = DEFAULT_GRANT_RETRY, logger }: AccessQueueOptions) {
    this.connection = createRedisConnection(redisUrl, 'queue', logger, { cluster: redisCluster });
    this.grants = new Queue<GrantJobData>(GRANT_QUEUE, { connection: this.connection, prefix });
    this.revocations = new Queue<RevokeJobData>(REVOKE_QUEUE, { connection: this.connection, prefix });
    this.grantRetry = grantRetry;
  }

  async requestGrant(requestId: string, notBefore?: Date | null): Promise<void> {
    await this.grants.add('grant', { requestId }, { jobId: grantJobId(requestId), delay: delayUntil(notBefore), ...this.grantJobOptions() });
  }

  /** Adds many grant jobs in one round trip (the reconcile job); existing ids are left alone. */
  async requestGrants(requests: ReadonlyArray<{ requestId: string; startsAt: Date | null }>): Promise<void> {
    if (requests.length === 0) return;
    await this.grants.addBulk(
      requests.map(({ requestId, startsAt }) => ({
        name: 'grant',
        data: { requestId },
        opts: { jobId: grantJobId(requestId), delay: delayUntil(startsAt), ...this.grantJobOptions() },
      })),
    );
  }

  /** Removes a grant job still waiting (a later start called off); one already running finds the request cancelled. */
  async withdrawGrant(requestId: string): Promise<void> {
    const job = await this.grants.getJob(grantJobId(requestId));
    if (job && ((await job.isDelayed()) || (await job.isWaiting()))) await job.remove().catch(() => undefined);
  }

  async scheduleRevocation(grantId: string, dueAt: Date): Promise<void> {
    const jobId = revokeJobId(grantId);
    const existing = await this.revocations.getJob(jobId);
    if (existing && (await existing.isDelayed())) {
      // Waiting for its time or for a retry: bring it forward when it is due earlier than planned.
      const plannedAt = existing.timestamp + (existing.delay ?? 0);
      if (dueAt.getTime() <= Date.now() || dueAt.getTime() < plannedAt) await moveEarlier(existing, dueAt).catch(() => undefined);
      return;
    }
    await this.revocations.add('revoke', { grantId }, { jobId, delay: delayUntil(dueAt), ...REVOKE_JOB_OPTIONS });
  }

  /** Adds many revoke jobs in one round trip (the reconcile job); existing ids are left alone. */
  async scheduleRevocations(revocations: ReadonlyArray<{ grantId: string; dueAt: Date }>): Promise<void> {
    if (revocations.length === 0) return;
    await this.revocations.addBulk(
      revocations.map(({ grantId, dueAt }) => ({
        name: 'revoke',
        data: { grantId },
        opts: { jobId: revokeJobId(grantId), delay: delayUntil(dueAt), ...REVOKE_JOB_OPTIONS },
      })),
    );
  }

  async close(): Promise<void> {
    await this.grants.close();
    await this.revocations.close();
    this.connection.disconnect();
  }

  private grantJobOptions() {
    return {
      attempts: this.grantRetry.attempts,
      backoff: { type: 'exponential', delay: this.grantRetry.baseDelayMs },
      removeOnComplete: true,
      removeOnFail: true,
    } as const;
  }
}

/** Never give up a revocation: the attempts are effectively unlimited, on a slowing schedule. */
const REVOKE_JOB_OPTIONS = {
  attempts: 1_000_000,
  backoff: { type: REVOCATION_BACKOFF_TYPE },
  removeOnComplete: true,
  removeOnFail: true,
} as const;

function delayUntil(at: Date | null | undefined): number {
  return at ? Math.max(0, at.getTime() - Date.now()) : 0;
}

async function moveEarlier(job: { promote(): Promise<void>; changeDelay(delay: number): Promise<void> }, dueAt: Date): Promise<void> {
  const delay = dueAt.getTime() - Date.now();
  if (delay <= 0) await job.promote();
  else await job.changeDelay(delay);
}
