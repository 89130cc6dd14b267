import { randomBytes, randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import pg, { type QueryResultRow } from 'pg';
import { DEFAULT_REQUEST_LIMITS, type Policy } from '../src/domain/policy.ts';
import { grantAccessJob } from '../src/jobs/definitions/grant-access.ts';
import { revokeGrantJob } from '../src/jobs/definitions/revoke-grant.ts';
import { JobQueues } from '../src/jobs/job-queues.ts';
import { runJobs } from '../src/jobs/job-runner.ts';
import { createRedisConnection, type RedisClient } from '../src/jobs/redis-connection.ts';
import { createLogger } from '../src/logging/logger.ts';
import { ok, type AccessProvider } from '../src/providers/provider.ts';
import type { AccessContext } from '../src/services/access-context.ts';
import { unheardEvents } from '../src/services/latch-events.ts';
import { systemClock } from '../src/services/service-context.ts';
import { PostgresAccessLocks, type AccessKey, type AccessLocks, type LockedRead } from '../src/store/access-lock.ts';
import { createDatabase } from '../src/store/database.ts';
import { testResource } from '../test/helpers/test-policy.ts';

/**
 * Revocation lateness: how long after a grant's expiry Latch has actually taken the access away
 * (grants.revoked_at − grants.expires_at, both from PostgreSQL), when many grants expire within
 * the same minute. Beside it, the same measurement for bare BullMQ delayed jobs with a no-op
 * processor: the floor any BullMQ-scheduled revocation can reach on the same machine.
 */

export interface PhaseOptions {
  redisUrl: string;
  /** Grants (or jobs) due. */
  count: number;
  /** Due times are spread uniformly over this window… */
  windowMs: number;
  /** …which starts this long after the phase begins (setup must fit in it). */
  leadMs: number;
  /** Jobs each worker runs at once. */
  concurrency: number;
  /** Give up this long after the window ends. */
  timeoutMs: number;
  say(line: string): void;
}

export interface LatchPhaseOptions extends PhaseOptions {
  databaseUrl: string;
  /** Prisma's pool (the app's default is 10); the access-lock pool is twice the concurrency, as startJobs sizes it. */
  dbPoolSize: number;
}

export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export interface PhaseResult {
  /** Lateness in ms of every job that ran (every grant revoked). */
  lateness: Percentiles;
  /** Done out of `count`; less only when the phase timed out. */
  done: number;
  count: number;
  /** Done per second, from the first due time to the last completion. */
  sustainedPerSecond: number;
  /** Completions in the busiest one-second bucket. */
  busiestSecond: number;
  /** Time the phase took to write its rows and schedule its jobs. */
  setupMs: number;
  /** Setup finished after the first item was due: its lateness includes setup. */
  setupOverran: boolean;
  memory: MemoryPeak;
  eventLoopDelayMs: { p99: number; max: number };
  /** CPU time of this process during the run (user + system), as a share of one core. */
  cpuCoreShare: number;
  runMs: number;
}

export interface LatchPhaseResult extends PhaseResult {
  /** Checks that every revocation went through the whole use case. */
  checks: { requestsRevoked: number; auditEvents: number; providerRevokes: number };
  /** PostgreSQL sessions of the benchmark database, averaged over samples during the run. */
  postgresSessions: { samples: number; byState: Array<{ state: string; average: number }> };
  /** Where a revocation's lateness is spent: waiting in BullMQ, or in the worker's handler. */
  where: WhereTheTimeGoes;
}

/**
 * The lateness split by mechanism, so a backlog can be told apart from slow work: how late the
 * handler started (the job's wait in Redis and in the worker's fetch), how long it ran, how long of
 * that it waited for the access lock, how many ran at once, and where the due jobs sat in Redis.
 */
export interface WhereTheTimeGoes {
  /** Due time → the handler's first start, per grant. */
  startedLate: Percentiles;
  /** Handler runs (a job that slept and ran again counts twice). */
  handlerMs: Percentiles;
  /** Waiting for the access lock, per handler run that took it. */
  lockWaitMs: Percentiles;
  /** Handler runs in all (more than the grants when a job ran early and went back to sleep). */
  handlerRuns: number;
  /** Handlers running at once, sampled every 50 ms during the window: mean and max. */
  runningAtOnce: { mean: number; max: number };
  /**
   * Due jobs in Redis, sampled every second during the window: still in the delayed set though
   * due (not promoted), and in the wait list (promoted, not yet taken by the worker). Means and maxima.
   */
  dueInRedis: { delayedMean: number; delayedMax: number; waitMean: number; waitMax: number; samples: number };
}

export interface MemoryPeak {
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  /** At the start of the run, for comparison. */
  startRssMiB: number;
  startHeapUsedMiB: number;
}

/** The Latch path: rows in PostgreSQL, revoke jobs from JobQueues, the real grant and revoke workers (runJobs). */
export async function runLatchRevocations(options: LatchPhaseOptions): Promise<LatchPhaseResult> {
  const { count, windowMs, leadMs, concurrency, say } = options;
  const logger = createLogger({ level: 'silent' });
  const prefix = `bench-${randomBytes(6).toString('hex')}`;
  const db = createDatabase({ databaseUrl: options.databaseUrl, poolSize: options.dbPoolSize });
  const queues = new JobQueues({ redisUrl: options.redisUrl, prefix, logger, settings: { concurrency, revokeConcurrency: concurrency } });
  const locks = new PostgresAccessLocks({ databaseUrl: options.databaseUrl, poolSize: concurrency * 2 });
  // Polling and sampling go through a connection of their own, never Latch's pools.
  const probe = new pg.Client({ connectionString: options.databaseUrl, application_name: 'latch-bench-probe' });
  const provider = new NoOpProvider();
  // Where the due jobs sit in Redis is sampled on a connection of its own too.
  const sampler = createRedisConnection(options.redisUrl, 'queue', logger);
  let workers: { stop(): Promise<void> } | undefined;
  let lost: Error | undefined;
  probe.on('error', (error) => {
    lost = error;
  });
  try {
    await probe.connect();
    await sampler.connect();
    const phaseStart = Date.now();
    const windowStart = phaseStart + leadMs;
    const grantedAt = new Date(phaseStart - 60 * 60_000);
    const requests = [];
    const grants = [];
    for (let i = 0; i < count; i++) {
      const requestId = randomUUID();
      const principal = `bench_user_${i}`;
      const expiresAt = new Date(windowStart + Math.floor((i * windowMs) / count));
      requests.push({
        id: requestId,
        requesterSlackId: `UBENCH${i}`,
        resourceId: BENCH_RESOURCE,
        role: BENCH_ROLE,
        principal,
        durationSeconds: Math.round((expiresAt.getTime() - grantedAt.getTime()) / 1000),
        reason: 'benchmark',
        state: 'active' as const,
        decidedAt: grantedAt,
      });
      grants.push({
        id: randomUUID(),
        requestId,
        provider: provider.type,
        principal,
        resourceId: BENCH_RESOURCE,
        role: BENCH_ROLE,
        grantedAt,
        expiresAt,
        grantAttempts: 1,
      });
    }
    // Straight SQL from arrays: at 100,000 rows Prisma's createMany would eat the lead.
    for (const chunk of chunks(requests, 10_000)) {
      await probe.query(
        `INSERT INTO access_requests (id, requester_slack_id, resource_id, role, principal, duration_seconds, reason, state, decided_at, created_at, updated_at)
         SELECT id, requester, $5, $6, principal, duration, 'benchmark', 'active', $7, $7, $7
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[]) AS r(id, requester, principal, duration)`,
        [chunk.map((r) => r.id), chunk.map((r) => r.requesterSlackId), chunk.map((r) => r.principal), chunk.map((r) => r.durationSeconds), BENCH_RESOURCE, BENCH_ROLE, grantedAt],
      );
    }
    for (const chunk of chunks(grants, 10_000)) {
      await probe.query(
        `INSERT INTO grants (id, request_id, provider, principal, resource_id, role, granted_at, expires_at, grant_attempts, updated_at)
         SELECT id, request_id, $5, principal, $6, $7, $8, expires_at, 1, $8
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[]) AS g(id, request_id, principal, expires_at)`,
        [chunk.map((g) => g.id), chunk.map((g) => g.requestId), chunk.map((g) => g.principal), chunk.map((g) => g.expiresAt), provider.type, BENCH_RESOURCE, BENCH_ROLE, grantedAt],
      );
    }
    const insertedAt = Date.now();
    // In pages of 1,000, as the reconcile job schedules them.
    for (const chunk of chunks(grants, 1_000)) await queues.scheduleRevocations(chunk.map((grant) => ({ grantId: grant.id, dueAt: grant.expiresAt })));
    const setupMs = Date.now() - phaseStart;
    say(`  Latch: ${count.toLocaleString('en-US')} grants inserted in ${insertedAt - phaseStart} ms, revocations scheduled in ${Date.now() - insertedAt} ms`);

    const ctx: AccessContext = {
      db,
      policy: () => BENCH_POLICY,
      clock: systemClock,
      groups: { memberGroups: async () => new Set<string>() },
      users: { profile: async () => null },
      access: queues,
      // The Slack side is left out: telling people is not part of taking the access away.
      events: unheardEvents,
      logger,
      providerFor: (resourceId) => (resourceId === BENCH_RESOURCE ? provider : undefined),
      locks,
    };
    const where = watchWhereTheTimeGoes(sampler, `${prefix}:${revokeGrantJob.queue.name}`, new Map(grants.map((grant) => [grant.id, grant.expiresAt.getTime()])), windowStart);
    const monitor = startMonitors();
    workers = await runJobs({
      queues,
      definitions: [grantAccessJob, where.timed(revokeGrantJob)],
      context: { access: { ...ctx, locks: where.timedLocks(locks) }, logger },
    });

    const sessions = new Map<string, number>();
    let samples = 0;
    let remaining = count;
    const deadline = windowStart + windowMs + options.timeoutMs;
    let lastReport = Date.now();
    while (remaining > 0 && Date.now() < deadline) {
      await sleep(200);
      if (lost) throw new Error(`lost the connection to PostgreSQL during the run: ${lost.message}`);
      const { rows } = await probe.query<{ remaining: string; overdue: string }>(
        'SELECT count(*) AS remaining, count(*) FILTER (WHERE expires_at <= now()) AS overdue FROM grants WHERE revoked_at IS NULL',
      );
      remaining = Number(rows[0]!.remaining);
      const overdue = Number(rows[0]!.overdue);
      if (Date.now() >= windowStart) {
        samples++;
        const activity = await probe.query<{ state: string; n: string }>(
          `SELECT coalesce(state, '?') || CASE WHEN wait_event IS NULL THEN '' ELSE ' / waiting on ' || wait_event_type || ':' || wait_event END AS state, count(*) AS n
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1`,
        );
        for (const row of activity.rows) sessions.set(row.state, (sessions.get(row.state) ?? 0) + Number(row.n));
      }
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now();
        say(`  Latch: ${remaining.toLocaleString('en-US')} grants not yet revoked (${overdue.toLocaleString('en-US')} of them due), ${secondsFrom(windowStart)}; ${where.now()}`);
      }
    }
    const observed = monitor.stop();
    const whereTheTimeGoes = await where.stop();
    await workers.stop();
    workers = undefined;
    if (remaining > 0) say(`  Latch: TIMED OUT with ${remaining.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} grants not revoked`);

    const { rows } = await probe.query<{ late: number; done: number; due: number }>(
      `SELECT (extract(epoch FROM revoked_at - expires_at) * 1000)::float8 AS late,
              (extract(epoch FROM revoked_at) * 1000)::float8 AS done,
              (extract(epoch FROM expires_at) * 1000)::float8 AS due
         FROM grants WHERE revoked_at IS NOT NULL`,
    );
    const checks = await probe.query<{ requests: string; audits: string; attempts: string }>(
      `SELECT (SELECT count(*) FROM access_requests WHERE state = 'revoked') AS requests,
              (SELECT count(*) FROM audit_events WHERE action = 'grant.revoked') AS audits,
              (SELECT coalesce(sum(revoke_attempts), 0) FROM grants) AS attempts`,
    );
    return {
      ...summarise(rows, count, windowStart, leadMs, setupMs, observed),
      checks: {
        requestsRevoked: Number(checks.rows[0]!.requests),
        auditEvents: Number(checks.rows[0]!.audits),
        providerRevokes: provider.revokes,
      },
      postgresSessions: {
        samples,
        byState: [...sessions].map(([state, total]) => ({ state, average: samples ? total / samples : 0 })).sort((a, b) => b.average - a.average),
      },
      where: whereTheTimeGoes,
    };
  } finally {
    await workers?.stop().catch(() => undefined);
    await locks.close().catch(() => undefined);
    await queues.queue(revokeGrantJob.queue).obliterate({ force: true }).catch(() => undefined);
    await queues.queue(grantAccessJob.queue).obliterate({ force: true }).catch(() => undefined);
    await queues.close().catch(() => undefined);
    sampler.disconnect();
    await db.$disconnect().catch(() => undefined);
    await probe.end().catch(() => undefined);
  }
}

/**
 * Watches the Latch phase's revoke jobs: wraps the job definition (handler start and end) and the
 * access locks (time to take one), and samples how many handlers run at once and where the due
 * jobs sit in Redis. Only the bench does this; the worker under test is otherwise unchanged.
 */
function watchWhereTheTimeGoes(redis: RedisClient, queueKey: string, dueAt: ReadonlyMap<string, number>, windowStart: number) {
  const firstStart = new Map<string, number>();
  const handlerMs: number[] = [];
  const lockWaitMs: number[] = [];
  let running = 0;
  const runningSamples: number[] = [];
  const delayed: number[] = [];
  const waiting: number[] = [];
  const sampleRunning = setInterval(() => {
    if (Date.now() >= windowStart) runningSamples.push(running);
  }, 50);
  let stopped = false;
  const sampleRedis = (async () => {
    const key = (name: string) => `${queueKey}:${name}`;
    while (!stopped) {
      await sleep(1_000);
      if (Date.now() < windowStart) continue;
      // BullMQ scores a delayed job by its due time × 0x1000 (its low bits order jobs due together).
      const [dueDelayed, wait] = await Promise.all([redis.zcount(key('delayed'), 0, Date.now() * 0x1000), redis.llen(key('wait'))]);
      delayed.push(dueDelayed);
      waiting.push(wait);
    }
  })();
  return {
    /** The moment's figures, for the progress lines. */
    now(): string {
      return `handlers running ${running}; due jobs in Redis: ${delayed.at(-1) ?? 0} not promoted, ${waiting.at(-1) ?? 0} waiting`;
    },
    timed(definition: typeof revokeGrantJob): typeof revokeGrantJob {
      return {
        ...definition,
        async run(ctx, payload, attempt) {
          const start = Date.now();
          if (!firstStart.has(payload.grantId)) firstStart.set(payload.grantId, start);
          running++;
          try {
            await definition.run(ctx, payload, attempt);
          } finally {
            running--;
            handlerMs.push(Date.now() - start);
          }
        },
      };
    },
    timedLocks(locks: AccessLocks): AccessLocks {
      return {
        withLock(access, work) {
          const asked = Date.now();
          return locks.withLock(access, () => {
            lockWaitMs.push(Date.now() - asked);
            return work();
          });
        },
        withLockAndRead<R extends QueryResultRow, T>(access: AccessKey, read: LockedRead, work: (rows: R[]) => Promise<T>): Promise<T> {
          // With the read under the lock in the same round trip, the wait measured includes it.
          const asked = Date.now();
          return locks.withLockAndRead<R, T>(access, read, (rows) => {
            lockWaitMs.push(Date.now() - asked);
            return work(rows);
          });
        },
        close: (options) => locks.close(options),
      };
    },
    async stop(): Promise<WhereTheTimeGoes> {
      stopped = true;
      clearInterval(sampleRunning);
      await sampleRedis.catch(() => undefined);
      const mean = (values: number[]) => (values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : 0);
      const max = (values: number[]) => values.reduce((most, value) => Math.max(most, value), 0);
      return {
        startedLate: percentiles([...firstStart].map(([grantId, start]) => start - (dueAt.get(grantId) ?? start))),
        handlerMs: percentiles(handlerMs),
        lockWaitMs: percentiles(lockWaitMs),
        handlerRuns: handlerMs.length,
        runningAtOnce: { mean: mean(runningSamples), max: max(runningSamples) },
        dueInRedis: { delayedMean: mean(delayed), delayedMax: max(delayed), waitMean: mean(waiting), waitMax: max(waiting), samples: delayed.length },
      };
    },
  };
}

/** Bare BullMQ: the same number of delayed jobs over the same window, a no-op processor. */
export async function runBareBullmq(options: PhaseOptions): Promise<PhaseResult> {
  const { count, windowMs, leadMs, concurrency, say } = options;
  const logger = createLogger({ level: 'silent' });
  const prefix = `bench-bare-${randomBytes(6).toString('hex')}`;
  const name = 'bench-delayed';
  const queueConnection = createRedisConnection(options.redisUrl, 'queue', logger);
  const workerConnection = createRedisConnection(options.redisUrl, 'worker', logger);
  const queue = new Queue<{ due: number }>(name, { connection: queueConnection, prefix });
  let worker: Worker<{ due: number }> | undefined;
  try {
    const phaseStart = Date.now();
    const windowStart = phaseStart + leadMs;
    const jobs = Array.from({ length: count }, (_, i) => windowStart + Math.floor((i * windowMs) / count));
    for (const chunk of chunks(jobs, 1_000)) {
      await queue.addBulk(
        chunk.map((due) => ({ name: 'noop', data: { due }, opts: { delay: Math.max(0, due - Date.now()), removeOnComplete: true, removeOnFail: true } })),
      );
    }
    const setupMs = Date.now() - phaseStart;
    say(`  bare BullMQ: ${count.toLocaleString('en-US')} delayed jobs added in ${setupMs} ms`);

    const results: Array<{ late: number; done: number; due: number }> = [];
    const monitor = startMonitors();
    worker = new Worker<{ due: number }>(
      name,
      async (job) => {
        const done = Date.now();
        results.push({ late: done - job.data.due, done, due: job.data.due });
      },
      { connection: workerConnection, prefix, concurrency },
    );
    worker.on('error', () => undefined);
    const deadline = windowStart + windowMs + options.timeoutMs;
    while (results.length < count && Date.now() < deadline) await sleep(100);
    const observed = monitor.stop();
    if (results.length < count) say(`  bare BullMQ: TIMED OUT with ${(count - results.length).toLocaleString('en-US')} jobs not run`);
    return summarise(results, count, windowStart, leadMs, setupMs, observed);
  } finally {
    await worker?.close().catch(() => undefined);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close().catch(() => undefined);
    queueConnection.disconnect();
    workerConnection.disconnect();
  }
}

const BENCH_RESOURCE = 'bench-db';
const BENCH_ROLE = 'read';

// The resource is in the policy in force, as in production: revokeGrant revokes through the
// provider of a resource the policy still configures (a grant whose resource left the policy finds none).
const BENCH_POLICY: Policy = {
  version: 'bench',
  security: { channel: null, admins: { users: [], groups: [] } },
  limits: DEFAULT_REQUEST_LIMITS,
  digests: [],
  resources: [testResource({ id: BENCH_RESOURCE, name: 'Bench database', provider: { type: 'bench', settings: {} } })],
  machines: [],
};

/** A provider whose target answers at once: only Latch's own work is measured. */
class NoOpProvider implements AccessProvider {
  readonly type = 'bench';
  revokes = 0;
  async grant() {
    await yieldToLoop();
    return ok();
  }
  async revoke() {
    await yieldToLoop();
    this.revokes++;
    return ok();
  }
  async check() {
    await yieldToLoop();
    return ok(true);
  }
}

interface Observed {
  memory: MemoryPeak;
  eventLoopDelayMs: { p99: number; max: number };
  cpuCoreShare: number;
  runMs: number;
}

/** Samples memory every 100 ms, and watches event-loop delay and CPU, until stopped. */
function startMonitors(): { stop(): Observed } {
  const start = process.memoryUsage();
  const peak = { rss: start.rss, heapUsed: start.heapUsed, heapTotal: start.heapTotal };
  const sample = () => {
    const now = process.memoryUsage();
    peak.rss = Math.max(peak.rss, now.rss);
    peak.heapUsed = Math.max(peak.heapUsed, now.heapUsed);
    peak.heapTotal = Math.max(peak.heapTotal, now.heapTotal);
  };
  const timer = setInterval(sample, 100);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpuStart = process.cpuUsage();
  const startedAt = Date.now();
  return {
    stop() {
      sample();
      clearInterval(timer);
      loop.disable();
      const cpu = process.cpuUsage(cpuStart);
      const runMs = Date.now() - startedAt;
      const mib = (bytes: number) => bytes / 1024 / 1024;
      return {
        memory: {
          rssMiB: mib(peak.rss),
          heapUsedMiB: mib(peak.heapUsed),
          heapTotalMiB: mib(peak.heapTotal),
          startRssMiB: mib(start.rss),
          startHeapUsedMiB: mib(start.heapUsed),
        },
        eventLoopDelayMs: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
        cpuCoreShare: (cpu.user + cpu.system) / 1000 / Math.max(1, runMs),
        runMs,
      };
    },
  };
}

function summarise(rows: ReadonlyArray<{ late: number; done: number; due: number }>, count: number, windowStart: number, leadMs: number, setupMs: number, observed: Observed): PhaseResult {
  const lateness = percentiles(rows.map((row) => row.late));
  const firstDue = rows.reduce((first, row) => Math.min(first, row.due), Number.POSITIVE_INFINITY);
  const lastDone = rows.reduce((last, row) => Math.max(last, row.done), windowStart);
  const buckets = new Map<number, number>();
  for (const row of rows) {
    const second = Math.floor(row.done / 1000);
    buckets.set(second, (buckets.get(second) ?? 0) + 1);
  }
  return {
    lateness,
    done: rows.length,
    count,
    sustainedPerSecond: rows.length ? rows.length / Math.max(0.001, (lastDone - firstDue) / 1000) : 0,
    busiestSecond: Math.max(0, ...buckets.values()),
    setupMs,
    setupOverran: setupMs > leadMs,
    ...observed,
  };
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
  return {
    count: sorted.length,
    p50: rank(50),
    p99: rank(99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.length ? sorted.reduce((sum, value) => sum + value, 0) / sorted.length : Number.NaN,
  };
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

function secondsFrom(at: number): string {
  const seconds = Math.round((Date.now() - at) / 1000);
  return seconds < 0 ? `${-seconds} s before the window opens` : `${seconds} s after the window opened`;
}
