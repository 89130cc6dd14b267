import type { Logger } from '../logging/logger.ts';
import type { AccessContext } from '../services/access-context.ts';
import type { StandingAccessScan } from '../services/scan-standing-access.ts';
import type { AccessScheduler } from '../services/service-context.ts';

/**
 * What every job definition's `run` gets. `access` is the use cases' own context; the other
 * fields are what a job needs beyond it today (telling people, the Slack sweeps, digests), each
 * named for what it does, so a job reads as "call the use case, then hand on its result".
 */
export interface JobContext {
  /** The use cases' context, with this process's providers and access locks. */
  access: AccessContext;
  /** Where a job queues the work that follows it (a revocation after a grant, the reconcile's requeue). */
  jobs: AccessJobScheduler;
  /** What people hear of a job's outcome, after it is committed. */
  events: AccessEvents;
  /** The sweeps that tell people through Slack. */
  sweeps: SlackSweeps;
  /** Builds and posts one digest of the policy in force, by name. */
  postDigest(name: string): Promise<void>;
  /** Revocation lateness (failed attempts are counted by the runner). */
  metrics?: AccessJobMetrics | undefined;
  logger: Logger;
}

/** AccessScheduler, plus the bulk adds the reconcile job uses (existing ids are left alone). */
export interface AccessJobScheduler extends AccessScheduler {
  requestGrants(requests: ReadonlyArray<{ requestId: string; startsAt: Date | null }>): Promise<void>;
  scheduleRevocations(revocations: ReadonlyArray<{ grantId: string; dueAt: Date }>): Promise<void>;
}

/** What people hear about, after each outcome is committed. Failures to tell are logged, not retried. */
export interface AccessEvents {
  /** Access exists now. */
  granted(requestId: string): Promise<void>;
  /** Granting failed for good: the request is failed; tell the requester and the approvers. */
  grantFailed(requestId: string): Promise<void>;
  /** The access ended: rewrite its messages and tell the requester. */
  ended(requestId: string): Promise<void>;
  /** A revocation keeps failing: tell the security channel, naming the grant. */
  revocationOverdue(grantId: string): Promise<void>;
  /** A revocation that was overdue finally happened. */
  overdueRevocationDone(grantId: string): Promise<void>;
  /** A standing-access scan ended: tell the security channel what it found and what was resolved. */
  standingAccessScanned(scan: StandingAccessScan): Promise<void>;
}

/** The sweeps over PostgreSQL whose outcomes people are told of in Slack (createLatch's). */
export interface SlackSweeps {
  /** Expires pending requests past their decision time and tells people. */
  expirePendingRequests(): Promise<void>;
  /** Posts the approval messages Slack refused earlier. */
  announceMissedRequests(): Promise<void>;
  /** Reminds people of what waits for them: unreviewed break-glass use, undecided requests. */
  sendReminders(): Promise<void>;
}

/** Told of each revocation and each failed job attempt (the metrics). */
export interface AccessJobMetrics {
  /** The access was taken away at `revokedAt`; it was due at `dueAt`. */
  revoked(dueAt: Date, revokedAt: Date): void;
  jobFailed(queue: string): void;
}
