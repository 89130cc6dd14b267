import type { AccessQueues } from '../jobs/access-queues.ts';
import { startAccessWorkers, type AccessJobMetrics, type RunningAccessWorkers } from '../jobs/access-workers.ts';
import { reconcileAccess } from '../jobs/reconcile-access.ts';
import { scanStandingAccess } from '../services/scan-standing-access.ts';
import type { RevocationBackoff } from '../jobs/revocation-backoff.ts';
import type { Logger } from '../logging/logger.ts';
import type { ProviderSettings } from '../domain/policy.ts';
import type { AccessProvider } from '../providers/provider.ts';
import type { AccessContext } from '../services/access-context.ts';
import { PostgresAccessLocks } from '../store/access-lock.ts';
import type { Latch } from './create-latch.ts';

export interface AccessJobsOptions {
  latch: Latch;
  queues: AccessQueues;
  /** One provider per resource id (createProviders). */
  /** Asked on every use: a reloaded policy brings its own providers. */
  providers: {
    get(resourceId: string): AccessProvider | undefined;
    /** From a grant's recorded settings, once its resource left the policy (PolicySource). */
    fromSettings?(settings: ProviderSettings): Promise<AccessProvider | undefined>;
  };
  databaseUrl: string;
  redisUrl: string;
  /** REDIS_URL names a Redis Cluster's seed nodes. */
  redisCluster?: boolean | undefined;
  /** BullMQ key prefix: the queues' own (AccessQueues). */
  prefix?: string;
  logger: Logger;
  concurrency?: number;
  revocationBackoff?: RevocationBackoff;
  /** Revocation lateness and failed job attempts (LatchMetrics). */
  metrics?: AccessJobMetrics | undefined;
}

export interface RunningAccessJobs {
  /** Queues again what PostgreSQL says is needed (the reconcile sweep). */
  reconcile(): Promise<void>;
  /** Looks for role holders without a grant and tells the security channel (a maintenance sweep). */
  scanStandingAccess(): Promise<void>;
  /** The grant and revoke workers, stopped in steps by the graceful shutdown (see RunningAccessWorkers). */
  workers: Pick<RunningAccessWorkers, 'busyWith' | 'finish' | 'abandon'>;
  /** Closes the access locks' connections, once the workers are done with them. */
  close(): Promise<void>;
  /** The workers' bounded stop, then close(). */
  stop(): Promise<void>;
}

/**
 * The worker side of granting and revoking: reconciles once at start-up (so a grant that expired
 * while Latch was down is revoked at once), then runs the grant and revoke workers, whose use
 * cases tell people through the context's events (the Slack notifier).
 */
export async function startAccessJobs(options: AccessJobsOptions): Promise<RunningAccessJobs> {
  const { latch, queues, providers, logger } = options;
  const concurrency = options.concurrency ?? 10;
  const locks = new PostgresAccessLocks({ databaseUrl: options.databaseUrl, poolSize: concurrency * 2 });
  const ctx: AccessContext = {
    ...latch.services,
    providerFor: (resourceId) => providers.get(resourceId),
    providerForSettings: async (settings) => providers.fromSettings?.(settings),
    locks,
  };
  let abandoned = false;
  const reconcile = () => reconcileAccess(ctx, queues, logger);
  await reconcile();
  const workers = startAccessWorkers({
    redisUrl: options.redisUrl,
    redisCluster: options.redisCluster,
    ...(options.prefix ? { prefix: options.prefix } : {}),
    ctx,
    logger,
    concurrency,
    ...(options.revocationBackoff ? { revocationBackoff: options.revocationBackoff } : {}),
    metrics: options.metrics,
  });
  return {
    reconcile,
    async scanStandingAccess() {
      await scanStandingAccess(ctx);
    },
    workers: {
      busyWith: () => workers.busyWith(),
      finish: () => workers.finish(),
      async abandon() {
        abandoned = true;
        await workers.abandon();
      },
    },
    async close() {
      await workers.close();
      // Jobs let go of may still hold their access lock: do not wait for them.
      await locks.close({ force: abandoned });
    },
    async stop() {
      await workers.stop();
      await locks.close();
    },
  };
}
