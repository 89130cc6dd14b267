import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { grantAccessJob } from '../../../src/jobs/definitions/grant-access.ts';
import { revokeGrantJob } from '../../../src/jobs/definitions/revoke-grant.ts';
import { JOB_QUEUES } from '../../../src/jobs/job-queue-specs.ts';
import { JobQueues } from '../../../src/jobs/job-queues.ts';
import { runJobs } from '../../../src/jobs/job-runner.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { LatchMetrics, type JobCountsSource } from '../../../src/metrics/latch-metrics.ts';
import { transient } from '../../../src/providers/provider.ts';
import { systemClock } from '../../../src/services/service-context.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { FreezableProxy } from '../../helpers/freezable-proxy.ts';
import { testJobContext } from '../../helpers/job-context.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * The metrics registry against a real PostgreSQL and Redis: gauges read at scrape time, a scrape
 * that survives a failing or stuck database, and what the process counts itself.
 */
const logger = createLogger({ level: 'silent' });
let testDb: TestDatabase;
let db: Database;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 4 });
});
beforeEach(async () => {
  await emptyRequestTables(db);
});
afterAll(async () => {
  await db.$disconnect();
  await testDb.drop();
});

const seconds = (n: number) => new Date(Date.now() + n * 1000);
const noQueues: JobCountsSource[] = [];

/** The value of one sample line (`name{labels} value`), or undefined when it is not there. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function request(state: 'pending' | 'approved' | 'active' | 'revoked' | 'denied') {
  return db.accessRequest.create({
    data: { requesterSlackId: 'U0METRICS', resourceId: 'prod-db', role: 'read', principal: 'alice', durationSeconds: 3600, reason: 'metrics test', state },
  });
}

async function grant(fields: { grantedAt: Date | null; expiresAt: Date | null; revokedAt?: Date }) {
  const { id } = await request(fields.revokedAt ? 'revoked' : fields.grantedAt ? 'active' : 'approved');
  return db.grant.create({ data: { requestId: id, provider: 'postgres', principal: 'alice', resourceId: 'prod-db', role: 'read', ...fields } });
}

describe('LatchMetrics', () => {
  it('reports requests by state, grants in force and overdue revocations from PostgreSQL, and queued jobs from Redis', async () => {
    await request('pending');
    await request('pending');
    await request('denied');
    await grant({ grantedAt: seconds(-600), expiresAt: seconds(3000) }); // active
    await grant({ grantedAt: seconds(-600), expiresAt: seconds(-30) }); // due, not overdue yet
    await grant({ grantedAt: seconds(-600), expiresAt: seconds(-300) }); // overdue
    await grant({ grantedAt: seconds(-600), expiresAt: seconds(-300), revokedAt: seconds(-299) }); // done
    await grant({ grantedAt: null, expiresAt: null }); // being granted

    const queues = new JobQueues({ redisUrl: inject('redisUrl'), prefix: `latch-test-${randomBytes(4).toString('hex')}`, logger });
    const [grants, revocations] = [queues.queue(JOB_QUEUES.grants), queues.queue(JOB_QUEUES.revocations)];
    try {
      await queues.scheduleRevocation('0190f0f0-0000-7000-8000-000000000001', seconds(3600));
      await queues.requestGrant('0190f0f0-0000-7000-8000-000000000002', seconds(3600));
      const metrics = new LatchMetrics({ db, queues: [grants, revocations], logger });
      const { contentType, body } = await metrics.scrape();
      expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);

      expect(sample(body, 'latch_requests{state="pending"}')).toBe(2);
      expect(sample(body, 'latch_requests{state="denied"}')).toBe(1);
      expect(sample(body, 'latch_requests{state="active"}')).toBe(3);
      expect(sample(body, 'latch_requests{state="revoked"}')).toBe(1);
      expect(sample(body, 'latch_requests{state="approved"}')).toBe(1);
      expect(sample(body, 'latch_requests{state="expired"}')).toBe(0); // every state, zeros included
      expect(sample(body, 'latch_grants_active')).toBe(3);
      expect(sample(body, 'latch_revocations_overdue')).toBe(1);
      expect(sample(body, 'latch_queue_jobs{queue="latch-revocations",state="delayed"}')).toBe(1);
      expect(sample(body, 'latch_queue_jobs{queue="latch-grants",state="delayed"}')).toBe(1);
      expect(sample(body, 'latch_queue_jobs{queue="latch-grants",state="active"}')).toBe(0);
      expect(sample(body, 'latch_metrics_collect_errors_total{source="postgres"}')).toBe(0);
      // Process metrics, with Latch's prefix, in the same registry.
      expect(body).toMatch(/^latch_process_cpu_user_seconds_total \d/m);
      expect(body).toMatch(/^latch_nodejs_eventloop_lag_seconds \d/m);

      // Read again at each scrape: nothing is cached across scrapes.
      await request('pending');
      expect(sample((await metrics.scrape()).body, 'latch_requests{state="pending"}')).toBe(3);
    } finally {
      await grants.obliterate({ force: true });
      await revocations.obliterate({ force: true });
      await queues.close();
    }
  });

  it('never fails a scrape when PostgreSQL or Redis fail: it counts the error and reports what it read last', async () => {
    let failing = false;
    const flaky = { pool: { query: (...args: unknown[]) => (failing ? Promise.reject(new Error('connection refused')) : db.pool.query(...(args as [string, unknown[]]))) } as unknown as Database['pool'] };
    const queue: JobCountsSource = {
      name: 'latch-grants',
      getJobCounts: async () => {
        if (failing) throw new Error('Connection is closed.');
        return { waiting: 4 };
      },
    };
    await grant({ grantedAt: seconds(-600), expiresAt: seconds(3000) });
    const metrics = new LatchMetrics({ db: flaky, queues: [queue], logger });
    expect(sample((await metrics.scrape()).body, 'latch_grants_active')).toBe(1);

    failing = true;
    await grant({ grantedAt: seconds(-600), expiresAt: seconds(3000) });
    const { body } = await metrics.scrape();
    expect(sample(body, 'latch_grants_active')).toBe(1);
    expect(sample(body, 'latch_queue_jobs{queue="latch-grants",state="waiting"}')).toBe(4);
    // One failed reading per source and scrape, however many gauges it feeds.
    expect(sample(body, 'latch_metrics_collect_errors_total{source="postgres"}')).toBe(1);
    expect(sample(body, 'latch_metrics_collect_errors_total{source="redis"}')).toBe(1);

    failing = false;
    const recovered = (await metrics.scrape()).body;
    expect(sample(recovered, 'latch_grants_active')).toBe(2);
    expect(sample(recovered, 'latch_metrics_collect_errors_total{source="postgres"}')).toBe(1);
  });

  it('reports NaN, not a reassuring zero, when it could never read PostgreSQL', async () => {
    const broken = { pool: { query: () => Promise.reject(new Error('no database')) } as unknown as Database['pool'] };
    const { body } = await new LatchMetrics({ db: broken, queues: noQueues, logger }).scrape();
    expect(body).toMatch(/^latch_revocations_overdue Nan$/m);
    expect(body).not.toMatch(/^latch_requests\{/m);
    expect(sample(body, 'latch_metrics_collect_errors_total{source="postgres"}')).toBe(1);
  });

  it('gives up on a stuck PostgreSQL after the timeout, and holds one query open however often it is scraped', async () => {
    const target = new URL(testDb.url);
    const proxy = await FreezableProxy.start({ host: target.hostname, port: Number(target.port) });
    const proxied = new URL(testDb.url);
    proxied.port = String(proxy.port);
    const slow = createDatabase({ databaseUrl: proxied.toString(), poolSize: 4 });
    let queries = 0;
    const counting = { pool: { query: (...args: unknown[]) => (queries++, slow.pool.query(...(args as [string, unknown[]]))) } as unknown as Database['pool'] };
    try {
      await grant({ grantedAt: seconds(-600), expiresAt: seconds(-120) });
      const metrics = new LatchMetrics({ db: counting, queues: noQueues, logger, collectTimeoutMs: 300 });
      expect(sample((await metrics.scrape()).body, 'latch_revocations_overdue')).toBe(1);
      expect(queries).toBe(1); // the three gauges shared one reading

      proxy.freeze();
      await grant({ grantedAt: seconds(-600), expiresAt: seconds(-120) });
      const startedAt = Date.now();
      const [first, second] = await Promise.all([metrics.scrape(), metrics.scrape()]);
      const third = await metrics.scrape();
      expect(Date.now() - startedAt).toBeLessThan(2_000);
      for (const { body } of [first, second, third]) expect(sample(body, 'latch_revocations_overdue')).toBe(1);
      expect(sample(third.body, 'latch_metrics_collect_errors_total{source="postgres"}')).toBe(2);
      expect(queries).toBe(2); // the stuck query is waited on again, not queried anew

      proxy.thaw();
      await expect.poll(async () => sample((await metrics.scrape()).body, 'latch_revocations_overdue')).toBe(2);
    } finally {
      proxy.thaw();
      await slow.$disconnect();
      await proxy.close();
    }
  });

  it('counts decisions with their time to decision, and revocation lateness in its buckets', async () => {
    const metrics = new LatchMetrics({ db, queues: noQueues, logger });
    const created = new Date('2026-11-24T10:00:00Z');
    metrics.decision('approved', created, new Date(created.getTime() + 90_000));
    metrics.decision('denied', created, new Date(created.getTime() + 3_000));
    metrics.decision('approved_by_policy', created, created);
    const due = new Date('2026-11-24T12:00:00Z');
    metrics.revoked(due, new Date(due.getTime() + 30)); // 0.03 s
    metrics.revoked(due, new Date(due.getTime() + 400)); // 0.4 s
    metrics.revoked(due, new Date(due.getTime() + 7_000)); // 7 s
    metrics.revoked(due, new Date(due.getTime() + 7_200_000)); // 2 h: beyond the last bucket
    metrics.jobFailed('latch-revocations');

    const { body } = await metrics.scrape();
    expect(sample(body, 'latch_decisions_total{outcome="approved"}')).toBe(1);
    expect(sample(body, 'latch_decisions_total{outcome="approved_by_policy"}')).toBe(1);
    expect(sample(body, 'latch_time_to_decision_seconds_bucket{le="60",outcome="approved"}')).toBe(0);
    expect(sample(body, 'latch_time_to_decision_seconds_bucket{le="120",outcome="approved"}')).toBe(1);
    expect(sample(body, 'latch_time_to_decision_seconds_sum{outcome="approved"}')).toBe(90);
    expect(sample(body, 'latch_time_to_decision_seconds_count{outcome="denied"}')).toBe(1);

    const bucket = (le: string) => sample(body, `latch_revocation_lateness_seconds_bucket{le="${le}"}`);
    expect([bucket('0.05'), bucket('0.1'), bucket('0.25'), bucket('0.5'), bucket('5'), bucket('10'), bucket('3600'), bucket('+Inf')]).toEqual([1, 1, 1, 2, 2, 3, 3, 4]);
    expect(sample(body, 'latch_revocation_lateness_seconds_count')).toBe(4);
    expect(sample(body, 'latch_job_failures_total{queue="latch-revocations"}')).toBe(1);
  });

  it('hears from the grant and revoke jobs: a failed revoke attempt, then the revocation and its lateness', async () => {
    const queues = new JobQueues({
      redisUrl: inject('redisUrl'),
      prefix: `latch-test-${randomBytes(4).toString('hex')}`,
      logger,
      settings: { revocationBackoff: { quickAttempts: 3, quickBaseMs: 20, slowBaseMs: 100, slowMaxMs: 200 } },
    });
    const [grants, revocations] = [queues.queue(JOB_QUEUES.grants), queues.queue(JOB_QUEUES.revocations)];
    const locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 2 });
    const metrics = new LatchMetrics({ db, queues: [grants, revocations], logger });
    const provider = new MemoryProvider();
    provider.failNext('revoke', transient('connection refused'), 1);
    const ctx = { ...testServiceContext(db, testPolicy()).ctx, clock: systemClock, access: queues, providerFor: () => provider, locks };
    const context = testJobContext({ access: ctx, logger, metrics });
    const workers = await runJobs({ queues, context, definitions: [grantAccessJob, revokeGrantJob] });
    try {
      const { id } = await db.accessRequest.create({
        data: { requesterSlackId: 'U0METRICS', resourceId: 'prod-db', role: 'read', principal: 'alice', durationSeconds: 1, reason: 'metrics test', state: 'approved' },
      });
      await queues.requestGrant(id);
      await expect.poll(async () => (await db.accessRequest.findUniqueOrThrow({ where: { id } })).state, { timeout: 15_000 }).toBe('revoked');
      await expect.poll(async () => sample((await metrics.scrape()).body, 'latch_revocation_lateness_seconds_count')).toBe(1);
      const { body } = await metrics.scrape();
      expect(sample(body, 'latch_job_failures_total{queue="latch-revocations"}')).toBe(1);
      expect(sample(body, 'latch_job_failures_total{queue="latch-grants"}')).toBe(0);
      // Revoked on the retry, tens of milliseconds after its expiry: well under ten seconds late.
      expect(sample(body, 'latch_revocation_lateness_seconds_bucket{le="10"}')).toBe(1);
    } finally {
      await workers.stop();
      await grants.obliterate({ force: true });
      await revocations.obliterate({ force: true });
      await queues.close();
      await locks.close();
    }
  });

  it('keeps label values bounded: Slack method names and error codes, anything else as other', async () => {
    const metrics = new LatchMetrics({ db, queues: noQueues, logger });
    metrics.slackApiError('chat.postMessage', 'channel_not_found');
    metrics.slackApiError('chat.postMessage', 'channel_not_found');
    metrics.slackApiError('https://hooks.slack.com/actions/T0/123/secret', 'Some <html> page');
    metrics.slackRateLimited('users.info');
    const { body } = await metrics.scrape();
    expect(sample(body, 'latch_slack_api_errors_total{method="chat.postMessage",error="channel_not_found"}')).toBe(2);
    expect(sample(body, 'latch_slack_api_errors_total{method="other",error="other"}')).toBe(1);
    expect(sample(body, 'latch_slack_rate_limited_total{method="users.info"}')).toBe(1);
    expect(body).not.toContain('secret');
  });
});
