import { DEFAULT_GRANT_RETRY } from '../../src/jobs/job-settings.ts';
import { revocationRetryDelayMs } from '../../src/jobs/definitions/revoke-grant.ts';
import type { SlackRequestEvidence } from '../../src/domain/decision-evidence.ts';
import type { Policy } from '../../src/domain/policy.ts';
import type { Logger } from '../../src/logging/logger.ts';
import type { AccessContext } from '../../src/services/access-context.ts';
import { cancelRequest } from '../../src/services/cancel-request.ts';
import { decideRequest } from '../../src/services/decide-request.ts';
import { endAccessEarly } from '../../src/services/end-access-early.ts';
import { expirePendingRequests } from '../../src/services/expire-pending-requests.ts';
import { grantAccess } from '../../src/services/grant-access.ts';
import { unheardEvents } from '../../src/services/latch-events.ts';
import { requestAccess } from '../../src/services/request-access.ts';
import { requestExtension } from '../../src/services/request-extension.ts';
import { reviewBreakGlass } from '../../src/services/review-break-glass.ts';
import { revokeGrant } from '../../src/services/revoke-grant.ts';
import type { AccessScheduler } from '../../src/services/service-context.ts';
import type { AccessLocks } from '../../src/store/access-lock.ts';
import type { Database } from '../../src/store/database.ts';
import { drawPlans, type Plan, type PlannedDecision, type Skipped } from './plans.ts';
import { SeedPopulation } from './population.ts';
import { clockAt, EventQueue, SeedProvider, type ScheduledEvent } from './simulation.ts';

export interface SeedHistoryOptions {
  /** Requests to write (a request for more time counts as one). */
  requests: number;
  /** The history covers this many days before `until`. */
  days: number;
  /** Any text: the same seed writes the same history. */
  seed: string;
  /** The end of the history, usually now: what is still open is open at this moment. */
  until: Date;
  /** Called now and then with the number of requests made so far. */
  onProgress?: (made: number) => void;
}

export interface SeedHistoryDeps {
  db: Database;
  policy: Policy;
  /** Grants and revokes take the access lock, as they do in production. */
  locks: AccessLocks;
  logger: Logger;
}

export interface SeedHistoryResult {
  requests: number;
  /** Requests by their state at the end of the history. */
  byState: Record<string, number>;
  /** Audit events written by the seed. */
  auditEvents: number;
  autoApproved: number;
  breakGlass: number;
  people: number;
  from: Date;
  until: Date;
  /** Resources of the policy the seed could not use, and why. */
  skipped: Skipped[];
  /** Steps a use case refused although the plan expected them to succeed (a bug in the seed). */
  refused: string[];
}

const MINUTE = 60_000;
/** Simulated people's decisions say so in their audit events: `latch audit verify` counts them as seeded, not signed. */
const SEEDED: SlackRequestEvidence = { transport: 'seed' };
/**
 * Events at most this far apart in simulated time may run side by side: the audit chain then
 * reads forward in time to within this much.
 */
const BATCH_WINDOW_MS = MINUTE;
/** Events run side by side at most; the access-lock pool should hold as many connections. */
export const SEED_CONCURRENCY = 8;
const BATCH_SIZE = SEED_CONCURRENCY;

/**
 * Fills the database with a history of access requests, written through the same use cases
 * Slack's clicks and the job workers call — requestAccess, decideRequest, grantAccess,
 * revokeGrant, endAccessEarly, cancelRequest, expirePendingRequests, requestExtension,
 * reviewBreakGlass — so every row and every audit event is one the product itself would write.
 *
 * Time is simulated: events run in time order, each with a clock that reads its own moment, so the
 * audit chain reads forward in time (to within BATCH_WINDOW_MS: events of different requests that
 * close together run side by side, as they would in a busy workspace). What BullMQ would do (grant once approved, revoke at expiry, retry
 * with backoff) the seed does itself, at the simulated moment the job would run; nothing is put
 * on a queue. Providers are stand-ins that grant nothing (see SeedProvider). Whatever is due after
 * `until` is left for a running Latch: its reconcile sweep revokes the access still open then.
 */
export async function seedHistory(deps: SeedHistoryDeps, options: SeedHistoryOptions): Promise<SeedHistoryResult> {
  const { db, policy, locks, logger } = deps;
  const until = options.until.getTime();
  const from = until - options.days * 24 * 60 * MINUTE;
  const population = new SeedPopulation(policy);
  const { plans, skipped } = drawPlans(policy, population, { requests: options.requests, days: options.days, seed: options.seed, until });

  const queue = new EventQueue<Plan>();
  const providers = new Map(policy.resources.map((resource) => [resource.id, new SeedProvider(resource.provider.type)]));
  /** Each plan's own request (not its request for more time). */
  const firstRequestOf = new Map<Plan, string>();
  const requestIds: string[] = [];
  const refused: string[] = [];
  let autoApproved = 0;
  let breakGlass = 0;

  type Step = (ctx: AccessContext, at: number) => Promise<void>;
  const schedule = (at: number, plan: Plan, step: Step) => queue.add(at, plan, (when) => step(contextAt(plan, when), when));
  const later = (plan: Plan, minMs: number, maxMs: number) => Math.round(plan.rng.between(minMs, maxMs));
  const refusal = (plan: Plan, step: string, detail: unknown) => {
    refused.push(`plan ${plan.index} (${plan.kind}): ${step} refused: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  };

  /**
   * What a use case sees when it runs at `at` for `plan`: the simulated time, and in place of the
   * job queues, the seed's own schedule, where the job would run (grant once approved, revoke at
   * expiry) at the simulated moment it would.
   */
  function contextAt(plan: Plan, at: number): AccessContext {
    const access: AccessScheduler = {
      async requestGrant(requestId, notBefore) {
        schedule(Math.max(at + later(plan, 300, 4_000), notBefore?.getTime() ?? 0), plan, (ctx, when) => grant(ctx, when, plan, requestId, 1));
      },
      async scheduleRevocation(grantId, dueAt) {
        schedule(Math.max(dueAt.getTime(), at) + later(plan, 20, 1_500), plan, (ctx) => revoke(ctx, plan, grantId, 1));
      },
    };
    return { db, policy: () => policy, clock: clockAt(at), groups: population, users: population, access, events: unheardEvents, logger, providerFor: (id) => providers.get(id), locks };
  }

  async function start(ctx: AccessContext, at: number, plan: Plan): Promise<void> {
    const made = await requestAccess(ctx, {
      requesterId: plan.requester,
      resourceId: plan.resource.id,
      role: plan.role,
      duration: `${plan.durationSeconds / 60}m`,
      reason: plan.reason,
      ticket: plan.ticket,
      startsAt: plan.startsAt === null ? null : new Date(plan.startsAt),
      breakGlass: plan.breakGlass,
    });
    if (!made.ok) return refusal(plan, 'requestAccess', made.refusal.fields ?? made.refusal.message);
    const requestId = made.requestId;
    firstRequestOf.set(plan, requestId);
    if (made.autoApprovedBy) autoApproved++;
    if (made.breakGlass) breakGlass++;
    requestIds.push(requestId);
    if (requestIds.length % 1000 === 0) options.onProgress?.(requestIds.length);
    const provider = providers.get(plan.resource.id)!;
    if (plan.failures.grant.length > 0) provider.failNext(requestId, 'grant', plan.failures.grant);
    if (plan.failures.revoke.length > 0) provider.failNext(requestId, 'revoke', plan.failures.revoke);
    if (!made.autoApprovedBy && !made.breakGlass) scheduleDecisions(plan, requestId, plan.decisions, at);
    if (plan.cancelAfterMs !== null) {
      schedule(at + plan.cancelAfterMs, plan, async (next) => {
        const result = await cancelRequest(next, { requestId, userId: plan.requester, evidence: SEEDED });
        if (!result.ok) refusal(plan, 'cancelRequest', result.refusal.message);
      });
    }
    // The maintenance sweep that expires undecided requests (it runs every minute).
    if (plan.sweepAfterMs !== null) schedule(at + plan.sweepAfterMs, plan, async (next) => void (await expirePendingRequests(next)));
    const review = plan.review;
    if (review) {
      schedule(at + review.afterMs, plan, async (next) => {
        const result = await reviewBreakGlass(next, { requestId, userId: review.by, evidence: SEEDED });
        if (!result.ok) refusal(plan, 'reviewBreakGlass', result.refusal.message);
      });
    }
  }

  function scheduleDecisions(plan: Plan, requestId: string, decisions: PlannedDecision[], since: number): void {
    for (const decision of decisions) {
      schedule(since + decision.afterMs, plan, async (ctx) => {
        const result = await decideRequest(ctx, { requestId, deciderId: decision.by, decision: decision.decision, comment: decision.comment, evidence: SEEDED });
        if (!result.ok) refusal(plan, 'decideRequest', result.refusal.message);
      });
    }
  }

  // The grant job: retried with the job's exponential backoff, put back to sleep until a later start.
  async function grant(ctx: AccessContext, at: number, plan: Plan, requestId: string, attempt: number): Promise<void> {
    const result = await grantAccess(ctx, { requestId, finalAttempt: attempt >= DEFAULT_GRANT_RETRY.attempts });
    switch (result.outcome) {
      case 'granted':
        if (result.requestId === firstRequestOf.get(plan)) afterGrant(plan, result.requestId, at);
        return;
      case 'not_yet':
        schedule(result.startsAt.getTime(), plan, (next, when) => grant(next, when, plan, requestId, attempt));
        return;
      case 'retry':
        schedule(at + DEFAULT_GRANT_RETRY.baseDelayMs * 2 ** (attempt - 1), plan, (next, when) => grant(next, when, plan, requestId, attempt + 1));
        return;
      case 'failed':
      case 'skipped':
        return;
    }
  }

  // The revoke job: never given up, on the revocation backoff.
  async function revoke(ctx: AccessContext, plan: Plan, grantId: string, attempt: number): Promise<void> {
    const result = await revokeGrant(ctx, grantId);
    if (result.outcome === 'not_due') schedule(result.dueAt.getTime() + later(plan, 20, 1_500), plan, (next) => revoke(next, plan, grantId, attempt));
    else if (result.outcome === 'retry') {
      schedule(ctx.clock.now().getTime() + revocationRetryDelayMs(attempt, result.permanent), plan, (next) => revoke(next, plan, grantId, attempt + 1));
    }
  }

  // What the holder (or a security admin) does while the access is live.
  function afterGrant(plan: Plan, requestId: string, grantedAt: number): void {
    const next = plan.afterGrant;
    if (!next) return;
    const at = grantedAt + Math.round(plan.durationSeconds * 1000 * next.atShare);
    if (next.kind === 'end-early') {
      schedule(at, plan, async (ctx) => {
        const result = await endAccessEarly(ctx, { requestId, userId: next.by, evidence: SEEDED });
        if (!result.ok) refusal(plan, 'endAccessEarly', result.refusal.message);
      });
      return;
    }
    schedule(at, plan, async (ctx, when) => {
      const result = await requestExtension(ctx, { requestId, requesterId: plan.requester, duration: `${next.durationSeconds / 60}m`, reason: next.reason });
      if (!result.ok) return refusal(plan, 'requestExtension', result.refusal.fields ?? result.refusal.message);
      requestIds.push(result.requestId);
      scheduleDecisions(plan, result.requestId, next.decisions, when);
    });
  }

  const auditBefore = await auditHead(db);
  for (const plan of plans) schedule(plan.createdAt, plan, (ctx, at) => start(ctx, at, plan));
  // Events run in time order. Those of different plans close together in time run side by side
  // (each with its own simulated time), as they would in a busy workspace; a plan's own events
  // always run one after another.
  for (let first = queue.peek(); first && first.at <= until; first = queue.peek()) {
    const batch: Array<ScheduledEvent<Plan>> = [];
    const owners = new Set<Plan>();
    for (let next: ScheduledEvent<Plan> | undefined = first; next && next.at <= until && next.at - first.at <= BATCH_WINDOW_MS && batch.length < BATCH_SIZE && !owners.has(next.owner); next = queue.peek()) {
      batch.push(queue.take()!);
      owners.add(next.owner);
    }
    await Promise.all(batch.map((event) => event.run(event.at)));
  }
  if (requestIds.length % 1000 !== 0) options.onProgress?.(requestIds.length);

  return {
    requests: requestIds.length,
    byState: await statesOf(db, requestIds),
    auditEvents: Number((await auditHead(db)) - auditBefore),
    autoApproved,
    breakGlass,
    people: population.people.length,
    from: new Date(from),
    until: options.until,
    skipped,
    refused,
  };
}

async function auditHead(db: Database): Promise<bigint> {
  const [row] = await db.$queryRaw<Array<{ seq: bigint | null }>>`SELECT max(seq) AS seq FROM audit_events`;
  return row?.seq ?? 0n;
}

async function statesOf(db: Database, ids: string[]): Promise<Record<string, number>> {
  const byState: Record<string, number> = {};
  for (let i = 0; i < ids.length; i += 50_000) {
    const rows = await db.$queryRaw<Array<{ state: string; count: bigint }>>`
      SELECT state::text AS state, count(*) AS count FROM access_requests WHERE id = ANY(${ids.slice(i, i + 50_000)}::uuid[]) GROUP BY state`;
    for (const row of rows) byState[row.state] = (byState[row.state] ?? 0) + Number(row.count);
  }
  return byState;
}
