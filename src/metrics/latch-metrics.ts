import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RISK_SIGNALS } from '../domain/risk-flags.ts';
import { REQUEST_STATES } from '../domain/request-state.ts';
import type { Logger } from '../logging/logger.ts';
import { REFUSED_KINDS, type RefusedKind } from '../slack/admission-gate.ts';
import { withTimeout } from '../runtime/with-timeout.ts';
import type { DecisionOutcome } from '../services/service-context.ts';
import type { Database } from '../store/database.ts';

/** A BullMQ queue, as far as the metrics read it (JobQueues' grant and revocation queues). */
export interface JobCountsSource {
  readonly name: string;
  getJobCounts(): Promise<Record<string, number>>;
}

export interface LatchMetricsOptions {
  /** Read on the pool in plain SQL: a scrape must not be what builds a web process's Prisma client. */
  db: Pick<Database, 'pool'>;
  queues: readonly JobCountsSource[];
  /** A scrape waits this long for PostgreSQL and for Redis, then reports the previous values. */
  collectTimeoutMs?: number;
  logger?: Logger;
}

/** A grant not revoked this long after its expiry counts as overdue (as in the digests). */
export const OVERDUE_AFTER_SECONDS = 60;
export const DEFAULT_COLLECT_TIMEOUT_MS = 2_000;

const DECISION_OUTCOMES: readonly DecisionOutcome[] = ['approved', 'denied', 'approved_by_policy'];
const QUEUE_STATES = ['active', 'waiting', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'] as const;

/** From a few seconds (a quick click) to days (a request left pending until its timeout). */
const DECISION_BUCKETS_SECONDS = [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200];
/** From the BullMQ floor (tens of ms) to an hour late, which is an incident. */
const LATENESS_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** Slack method names (`chat.postMessage`) and error codes (`channel_not_found`): anything else is `other`. */
const SLACK_METHOD = /^[a-zA-Z]+(\.[a-zA-Z]+){1,4}$/;
const SLACK_ERROR = /^[a-z0-9_]{1,64}$/;

/** Through which provider type a revocation went, and when it found the access gone (null: not looked at). */
export interface RevocationVerification {
  provider: string;
  verifiedAt: Date | null;
}

interface DatabaseCounts {
  requests: Map<string, number>;
  grantsActive: number;
  revocationsOverdue: number;
}

/**
 * Latch's Prometheus metrics, in a registry of their own (never prom-client's global one).
 *
 * Two kinds. What PostgreSQL and Redis know (requests by state, access held, overdue revocations,
 * queued jobs) is read at scrape time, so every instance reports the same truth and nothing is
 * lost across restarts; a scrape waits at most `collectTimeoutMs` for it, and otherwise reports
 * the values it read last and counts the failure. What happens in this process (decisions,
 * revocation lateness, job failures, Slack errors and rate limits) is counted when it happens.
 *
 * Label values are bounded: states, outcomes, queue names, Slack method names and error codes;
 * never a user, request or grant id.
 */
export class LatchMetrics {
  readonly registry = new Registry();
  private readonly collectErrors: Counter<'source'>;
  private readonly decisions: Counter<'outcome'>;
  private readonly riskFlags: Counter<'signal'>;
  private readonly timeToDecision: Histogram<'outcome'>;
  private readonly revocationLateness: Histogram;
  private readonly verifiedRevocationLateness: Histogram<'provider'>;
  private readonly unverifiedRevocations: Counter<'provider'>;
  private readonly jobFailures: Counter<'queue'>;
  private readonly slackApiErrors: Counter<'method' | 'error'>;
  private readonly slackRateLimits: Counter<'method'>;
  private readonly slackRefusals: Counter<'kind'>;

  constructor(options: LatchMetricsOptions) {
    const register = this.registry;
    const registers = [register];
    const timeoutMs = options.collectTimeoutMs ?? DEFAULT_COLLECT_TIMEOUT_MS;
    collectDefaultMetrics({ register, prefix: 'latch_' });

    const failed = (source: 'postgres' | 'redis') => (error: unknown, firstSinceSuccess: boolean) => {
      this.collectErrors.inc({ source });
      // Once at warn when a source starts failing; every scrape after that only at debug.
      options.logger?.[firstSinceSuccess ? 'warn' : 'debug']({ err: error, source }, `metrics: could not read ${source}; reporting the previous values`);
    };
    const database = new LatestReading(() => readDatabaseCounts(options.db), timeoutMs, failed('postgres'));
    const queues = new LatestReading(() => readQueueCounts(options.queues), timeoutMs, failed('redis'));

    this.collectErrors = new Counter({
      name: 'latch_metrics_collect_errors_total',
      help: 'Scrapes that could not read PostgreSQL or Redis in time and reported the previous values',
      labelNames: ['source'],
      registers,
      // Metrics are gathered all at once: wait for this scrape's readings, so it counts their failures.
      async collect() {
        await Promise.all([database.get(), queues.get()]);
      },
    });
    for (const source of ['postgres', 'redis']) this.collectErrors.inc({ source }, 0);

    new Gauge({
      name: 'latch_requests',
      help: 'Access requests by state, now (from PostgreSQL)',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await database.get();
        this.reset();
        for (const [state, count] of counts?.requests ?? []) this.set({ state }, count);
      },
    });
    new Gauge({
      name: 'latch_grants_active',
      help: 'Grants in force: granted and not revoked yet, overdue ones included (from PostgreSQL)',
      registers,
      async collect() {
        this.set((await database.get())?.grantsActive ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'latch_revocations_overdue',
      help: `Grants still not revoked ${OVERDUE_AFTER_SECONDS} s after their expiry (from PostgreSQL)`,
      registers,
      async collect() {
        this.set((await database.get())?.revocationsOverdue ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'latch_queue_jobs',
      help: 'Jobs in the BullMQ queues by state (from Redis)',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        const counts = await queues.get();
        this.reset();
        for (const [queue, states] of counts ?? []) {
          for (const [state, count] of Object.entries(states)) this.set({ queue, state }, count);
        }
      },
    });

    this.decisions = new Counter({
      name: 'latch_decisions_total',
      help: 'Requests decided in this process: approved or denied by people, or approved at once by the policy (auto-approval, break-glass)',
      labelNames: ['outcome'],
      registers,
    });
    this.riskFlags = new Counter({
      name: 'latch_risk_flags_total',
      help: 'Risk flags raised on new requests in this process, by signal (first-request, unusual-hours, long-duration, request-burst, recent-denial, recent-break-glass)',
      labelNames: ['signal'],
      registers,
    });
    for (const signal of RISK_SIGNALS) this.riskFlags.inc({ signal }, 0);
    this.timeToDecision = new Histogram({
      name: 'latch_time_to_decision_seconds',
      help: 'From a request to its decision, for the decisions made in this process',
      labelNames: ['outcome'],
      buckets: DECISION_BUCKETS_SECONDS,
      registers,
    });
    for (const outcome of DECISION_OUTCOMES) {
      this.decisions.inc({ outcome }, 0);
      this.timeToDecision.zero({ outcome });
    }
    this.revocationLateness = new Histogram({
      name: 'latch_revocation_lateness_seconds',
      help: "From a grant's expiry to its revocation, for the revocations done in this process",
      buckets: LATENESS_BUCKETS_SECONDS,
      registers,
    });
    this.verifiedRevocationLateness = new Histogram({
      name: 'latch_revocation_verified_lateness_seconds',
      help: "From a grant's expiry to when its provider, looking at the target again, found the access gone, by provider type, for the revocations done in this process",
      labelNames: ['provider'],
      buckets: LATENESS_BUCKETS_SECONDS,
      registers,
    });
    this.unverifiedRevocations = new Counter({
      name: 'latch_revocations_unverified_total',
      help: 'Revocations recorded as the provider reported them, without a look at the target (a provider that cannot verify, e.g. webhook), by provider type',
      labelNames: ['provider'],
      registers,
    });
    this.jobFailures = new Counter({
      name: 'latch_job_failures_total',
      help: 'Failed job attempts in this process (each retry counts), by queue',
      labelNames: ['queue'],
      registers,
    });
    for (const queue of options.queues) this.jobFailures.inc({ queue: queue.name }, 0);
    this.slackApiErrors = new Counter({
      name: 'latch_slack_api_errors_total',
      help: "Slack Web API calls that failed (Slack's error code, http_<status>, or request_failed), by method",
      labelNames: ['method', 'error'],
      registers,
    });
    this.slackRateLimits = new Counter({
      name: 'latch_slack_rate_limited_total',
      help: 'Slack Web API calls answered HTTP 429 (the client waits Retry-After and tries again), by method',
      labelNames: ['method'],
      registers,
    });
    this.slackRefusals = new Counter({
      name: 'latch_slack_requests_refused_total',
      help: 'Slack requests refused at the door because too much listener work was in flight (the person was told), by kind',
      labelNames: ['kind'],
      registers,
    });
    for (const kind of REFUSED_KINDS) this.slackRefusals.inc({ kind }, 0);
  }

  /** A request left pending (or was approved at once by the policy). */
  decision(outcome: DecisionOutcome, createdAt: Date, decidedAt: Date): void {
    this.decisions.inc({ outcome });
    this.timeToDecision.observe({ outcome }, Math.max(0, (decidedAt.getTime() - createdAt.getTime()) / 1000));
  }

  riskFlag(signal: string): void {
    this.riskFlags.inc({ signal });
  }

  /**
   * A grant's access was taken away: `dueAt` is its expiry. `verification` says through which
   * provider type, and when that provider found the access gone (null: it could not look).
   */
  revoked(dueAt: Date, revokedAt: Date, verification?: RevocationVerification): void {
    this.revocationLateness.observe(Math.max(0, (revokedAt.getTime() - dueAt.getTime()) / 1000));
    if (!verification) return;
    // Provider types are the registry's few names, a bounded label.
    const { provider, verifiedAt } = verification;
    if (verifiedAt) this.verifiedRevocationLateness.observe({ provider }, Math.max(0, (verifiedAt.getTime() - dueAt.getTime()) / 1000));
    else this.unverifiedRevocations.inc({ provider });
  }

  jobFailed(queue: string): void {
    this.jobFailures.inc({ queue });
  }

  slackApiError(method: string, error: string): void {
    this.slackApiErrors.inc({ method: slackMethodLabel(method), error: SLACK_ERROR.test(error) ? error : 'other' });
  }

  slackRateLimited(method: string): void {
    this.slackRateLimits.inc({ method: slackMethodLabel(method) });
  }

  slackRequestRefused(kind: RefusedKind): void {
    this.slackRefusals.inc({ kind });
  }

  /** The `GET /metrics` answer. Never rejects for PostgreSQL or Redis: their readings fall back. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function slackMethodLabel(method: string): string {
  return SLACK_METHOD.test(method) ? method : 'other';
}

/**
 * The latest reading of a slow source. All the gauges of one scrape share one reading, and a
 * reading still running when a scrape gives up on it is joined by the next scrape, never started
 * again: a stuck PostgreSQL holds at most one connection, however often Prometheus scrapes.
 */
class LatestReading<T> {
  private last: T | undefined;
  private reading: Promise<T> | null = null;
  private scrape: Promise<T | undefined> | null = null;
  private failing = false;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly timeoutMs: number,
    /** `firstSinceSuccess`: the first failure since the last success (or ever). */
    private readonly failed: (error: unknown, firstSinceSuccess: boolean) => void,
  ) {}

  get(): Promise<T | undefined> {
    this.scrape ??= this.refresh().finally(() => (this.scrape = null));
    return this.scrape;
  }

  private async refresh(): Promise<T | undefined> {
    this.reading ??= this.read()
      .then((value) => (this.last = value))
      .finally(() => (this.reading = null));
    try {
      const value = await withTimeout(this.reading, this.timeoutMs, () => {
        throw new Error(`no answer within ${this.timeoutMs} ms`);
      });
      this.failing = false;
      return value;
    } catch (error) {
      this.failed(error, !this.failing);
      this.failing = true;
      return this.last;
    }
  }
}

/** One round trip: requests by state, grants in force, and overdue revocations. */
async function readDatabaseCounts(db: Pick<Database, 'pool'>): Promise<DatabaseCounts> {
  const { rows } = await db.pool.query<{ kind: string; key: string; n: number }>(
    `SELECT 'request' AS kind, state::text AS key, count(*)::int AS n FROM access_requests GROUP BY state
     UNION ALL
     SELECT 'active', '', count(*)::int FROM grants WHERE revoked_at IS NULL AND granted_at IS NOT NULL
     UNION ALL
     SELECT 'overdue', '', count(*)::int FROM grants
     WHERE revoked_at IS NULL AND expires_at < now() - make_interval(secs => $1)`,
    [OVERDUE_AFTER_SECONDS],
  );
  // Every state is reported, zeros included, so a series never disappears when its last row leaves.
  const requests = new Map<string, number>(REQUEST_STATES.map((state) => [state, 0]));
  let grantsActive = 0;
  let revocationsOverdue = 0;
  for (const row of rows) {
    if (row.kind === 'request') requests.set(row.key, Number(row.n));
    else if (row.kind === 'active') grantsActive = Number(row.n);
    else revocationsOverdue = Number(row.n);
  }
  return { requests, grantsActive, revocationsOverdue };
}

async function readQueueCounts(queues: readonly JobCountsSource[]): Promise<Map<string, Record<string, number>>> {
  const counts = await Promise.all(queues.map((queue) => queue.getJobCounts()));
  return new Map(
    queues.map((queue, index) => {
      const states = counts[index] ?? {};
      // The states BullMQ reports, zeros included, in a fixed order.
      return [queue.name, Object.fromEntries(QUEUE_STATES.map((state) => [state, states[state] ?? 0]))];
    }),
  );
}
