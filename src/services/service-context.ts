import type { SlackProfile } from '../domain/identity.ts';
import type { OnCallCondition, OnCallFacts } from '../domain/on-call.ts';
import type { Policy } from '../domain/policy.ts';
import type { Logger } from '../logging/logger.ts';
import type { AccessProvider } from '../providers/provider.ts';
import type { Database } from '../store/database.ts';
import type { LatchEventPublisher } from './latch-events.ts';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * Which of `groups` (Slack user group ids) a user belongs to. Resolved through Slack and cached
 * by the implementation; use cases call it before opening a transaction, never inside one.
 */
export interface GroupDirectory {
  memberGroups(userId: string, groups: readonly string[]): Promise<Set<string>>;
}

/** People's Slack profiles, for mapping them to the identity a provider knows. */
export interface UserDirectory {
  profile(userId: string): Promise<SlackProfile | null>;
}

/** What an on-call provider said, or why it could not say (fit to show people). */
export type OnCallAnswer = { facts: OnCallFacts } | { unavailable: string };

/**
 * Who is on call now, and which services have an open incident, from PagerDuty or Opsgenie. Never
 * throws, and bounded in time: use cases call it before opening a transaction, never inside one.
 */
export interface OnCallDirectory {
  check(condition: OnCallCondition, now: Date): Promise<OnCallAnswer>;
}

/**
 * Where use cases hand work on to the job queues, after their transaction commits. If the process
 * dies before a call lands, the reconcile job finds the row in PostgreSQL and schedules it again.
 */
export interface AccessScheduler {
  /** Grants an approved request, not before `notBefore` when it asked for a later start. */
  requestGrant(requestId: string, notBefore?: Date | null): Promise<void>;
  /**
   * Drops the queued grant job of a request called off before it started. Optional tidying: the
   * grant job itself grants only a request that is still approved.
   */
  withdrawGrant?(requestId: string): Promise<void>;
  /** Revokes a grant at `dueAt` (at once when past), moving an already scheduled revocation earlier. */
  scheduleRevocation(grantId: string, dueAt: Date): Promise<void>;
}

/** How a request was decided: by approvers (approved, denied) or at once by the policy. */
export type DecisionOutcome = 'approved' | 'denied' | 'approved_by_policy';

/** Told of each decision after its commit (the metrics); a use case never depends on it. */
export interface DecisionMetrics {
  decision(outcome: DecisionOutcome, createdAt: Date, decidedAt: Date): void;
  /** A new request raised this risk flag (domain/risk-flags.ts). */
  riskFlag?(signal: string): void;
}

/** What every use case gets: injected, so tests can give a fixed clock or a fake directory. */
export interface ServiceContext {
  db: Database;
  /** The policy in force now (a function: the policy may be reloaded while running). */
  policy: () => Policy;
  clock: Clock;
  groups: GroupDirectory;
  users: UserDirectory;
  /** The on-call providers; absent, every on-call rule fails closed (people decide). */
  onCall?: OnCallDirectory | undefined;
  access: AccessScheduler;
  /** Told what happened after each commit (publishCommitted): who hears of it is not the use case's concern. */
  events: LatchEventPublisher;
  logger: Logger;
  metrics?: DecisionMetrics | undefined;
  /**
   * The provider serving a resource under the policy in force, where this process has them: a
   * request is then checked against its target (checkPrincipal) before it is stored.
   */
  providerFor?: ((resourceId: string) => AccessProvider | undefined) | undefined;
  /**
   * The shortest duration a request or an extension may ask for, in seconds; a minute
   * (MINIMUM_DURATION_SECONDS) when absent. Only tests set it, to grant for seconds: no variable
   * or policy field a deployment reads reaches it.
   */
  minimumDurationSeconds?: number | undefined;
}
