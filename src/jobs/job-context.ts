import type { Logger } from '../logging/logger.ts';
import type { AccessContext } from '../services/access-context.ts';
import type { LatchEventPublisher } from '../services/latch-events.ts';
import type { AccessScheduler } from '../services/service-context.ts';

/**
 * What every job definition's `run` gets. `access` is the use cases' own context: its `events`
 * tell people (the Slack notifier), so a job only calls its use case and hands on the result.
 * The other fields are what a job needs beyond it (the reconcile's bulk requeue, metrics).
 */
export interface JobContext {
  /** The use cases' context, with this process's providers and access locks. */
  access: AccessContext;
  /** Where the reconcile job queues the grants and revocations PostgreSQL says are needed. */
  jobs: AccessJobScheduler;
  /** Revocation lateness (failed attempts are counted by the runner). */
  metrics?: AccessJobMetrics | undefined;
  /**
   * Where the revoke job tells people, when set: as notify jobs (runtime/queued-notices.ts), so a
   * revocation's worker slot is free once the access is gone and recorded, not once Slack has
   * answered (see revoke-grant.ts). Unset: the use cases' own `events`, in this process.
   */
  revocationNotices?: LatchEventPublisher | undefined;
  logger: Logger;
}

/** AccessScheduler, plus the bulk adds the reconcile job uses (existing ids are left alone). */
export interface AccessJobScheduler extends AccessScheduler {
  requestGrants(requests: ReadonlyArray<{ requestId: string; startsAt: Date | null }>): Promise<void>;
  scheduleRevocations(revocations: ReadonlyArray<{ grantId: string; dueAt: Date }>): Promise<void>;
}

/** Told of each revocation and each failed job attempt (the metrics). */
export interface AccessJobMetrics {
  /**
   * The access was taken away at `revokedAt`; it was due at `dueAt`; through `provider`, which
   * found it gone at `verifiedAt` (null: the provider cannot look, or another grant kept the access).
   */
  revoked(dueAt: Date, revokedAt: Date, verification?: { provider: string; verifiedAt: Date | null }): void;
  jobFailed(queue: string): void;
}
