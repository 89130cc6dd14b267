import type { ProviderSettings } from '../domain/policy.ts';
import type { AccessJobMetrics } from '../jobs/job-context.ts';
import type { JobDefinition } from '../jobs/job-definition.ts';
import type { JobQueues } from '../jobs/job-queues.ts';
import { runJobs, type RunningJobs } from '../jobs/job-runner.ts';
import type { Logger } from '../logging/logger.ts';
import type { AccessProvider } from '../providers/provider.ts';
import type { AccessContext } from '../services/access-context.ts';
import { PostgresAccessLocks } from '../store/access-lock.ts';
import type { Latch } from './create-latch.ts';

export interface StartJobsOptions {
  latch: Latch;
  queues: JobQueues;
  /** One provider per resource id, asked on every use: a reloaded policy brings its own providers. */
  providers: {
    get(resourceId: string): AccessProvider | undefined;
    /** From a grant's recorded settings, once its resource left the policy (PolicySource). */
    fromSettings?(settings: ProviderSettings): Promise<AccessProvider | undefined>;
  };
  databaseUrl: string;
  logger: Logger;
  /** Revocation lateness and failed job attempts (LatchMetrics). */
  metrics?: AccessJobMetrics | undefined;
  /** Every registered job unless told (a test harness runs only the grants and revocations). */
  definitions?: readonly JobDefinition[];
}

/**
 * The worker side of Latch (`latch start`, `latch worker`): the jobs' context from the Slack app's
 * use-case context (whose events reach the Slack notifier), this process's providers and access
 * locks; then every registered job (job-runner.ts).
 */
export async function startJobs(options: StartJobsOptions): Promise<RunningJobs> {
  const { latch, queues, providers, logger } = options;
  const locks = new PostgresAccessLocks({ databaseUrl: options.databaseUrl, poolSize: queues.settings.concurrency * 2 });
  const access: AccessContext = {
    ...latch.services,
    providerFor: (resourceId) => providers.get(resourceId),
    providerForSettings: async (settings) => providers.fromSettings?.(settings),
    locks,
  };
  const jobs = await runJobs({ queues, ...(options.definitions ? { definitions: options.definitions } : {}), context: { access, postDigest: latch.postDigest, metrics: options.metrics, logger } }).catch(async (error: unknown) => {
    await locks.close();
    throw error;
  });
  let abandoned = false;
  return {
    ...jobs,
    async abandon() {
      abandoned = true;
      await jobs.abandon();
    },
    async close() {
      await jobs.close();
      // Jobs let go of may still hold their access lock: do not wait for them.
      await locks.close({ force: abandoned });
    },
    async stop() {
      await jobs.stop();
      await locks.close();
    },
  };
}
