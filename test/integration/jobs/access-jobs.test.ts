import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { AccessQueues, grantJobId } from '../../../src/jobs/access-queues.ts';
import { startAccessWorkers, type RunningAccessWorkers } from '../../../src/jobs/access-workers.ts';
import type { LatchEvent } from '../../../src/services/latch-events.ts';
import { reconcileAccess } from '../../../src/jobs/reconcile-access.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { transient } from '../../../src/providers/provider.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { systemClock } from '../../../src/services/service-context.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * The grant and revoke queues on the real Redis and PostgreSQL, with the system clock: what
 * happens to an approved request with nobody watching, and after Redis forgets its jobs.
 */
const logger = createLogger({ level: 'silent' });
let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;
let redis: Redis;
const running: Array<{ workers: RunningAccessWorkers; queues: AccessQueues }> = [];

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 12 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 8 });
  redis = new Redis(inject('redisUrl'));
});
afterEach(async () => {
  for (const { workers, queues } of running.splice(0)) {
    await workers.stop();
    await queues.close();
  }
});
afterAll(async () => {
  redis.disconnect();
  await locks.close();
  await db.$disconnect();
  await testDb.drop();
});

function start(options: { provider?: MemoryProvider } = {}) {
  const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
  const provider = options.provider ?? new MemoryProvider();
  const queues = new AccessQueues({ redisUrl: inject('redisUrl'), prefix, logger, grantRetry: { attempts: 3, baseDelayMs: 50 } });
  const base = testServiceContext(db, testPolicy()).ctx;
  // What the grant and revoke use cases publish, named by what it is about (the grant, for revocation alerts).
  const heard: Array<[LatchEvent['type'], string]> = [];
  const events = { publish: async (event: LatchEvent) => void heard.push([event.type, subjectOf(event)]) };
  const ctx: AccessContext = { ...base, clock: systemClock, access: queues, events, providerFor: () => provider, locks };
  const workers = startAccessWorkers({
    redisUrl: inject('redisUrl'),
    prefix,
    ctx,
    logger,
    concurrency: 4,
    revocationBackoff: { quickAttempts: 3, quickBaseMs: 20, slowBaseMs: 100, slowMaxMs: 200 },
  });
  running.push({ workers, queues });
  return { prefix, provider, queues, ctx, heard };
}

async function approvedRequest(durationSeconds: number, principal = `user-${randomBytes(3).toString('hex')}`) {
  const request = await db.accessRequest.create({
    data: { requesterSlackId: 'U0REQUESTER', resourceId: 'prod-db', role: 'read', principal, durationSeconds, reason: 'jobs test', state: 'approved' },
  });
  return { id: request.id, principal };
}

async function stateOf(id: string) {
  return (await db.accessRequest.findUniqueOrThrow({ where: { id } })).state;
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function subjectOf(event: LatchEvent): string {
  if (event.type === 'standing_access.changed') return 'standing access';
  return event.type === 'revocation.overdue' || event.type === 'revocation.recovered' ? event.grantId : event.requestId;
}

/** Events are told after their state change commits, so a test sees the state a moment first. */
function heardOf(heard: Array<[LatchEvent['type'], string]>, event: LatchEvent['type'], subject: string): boolean {
  return heard.some(([name, id]) => name === event && id === subject);
}

describe('grant and revoke jobs', () => {
  it('grants an approved request, then revokes it when its time is up, telling people each time', async () => {
    const { provider, queues, heard } = start();
    const { id, principal } = await approvedRequest(2);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'active');
    expect(provider.holds(principal, 'read')).toBe(true);
    await waitFor(async () => (await stateOf(id)) === 'revoked');
    expect(provider.holds(principal, 'read')).toBe(false);
    await waitFor(() => heardOf(heard, 'access.ended', id));
    const grant = await db.grant.findUniqueOrThrow({ where: { requestId: id } });
    // Revoked at its expiry, not before it.
    expect(grant.revokedAt!.getTime()).toBeGreaterThanOrEqual(grant.expiresAt!.getTime());
    expect(heard).toEqual([['access.granted', id], ['access.ended', id]]);
  });

  it('queues one grant job for one request, however often it is asked', async () => {
    const { provider, queues } = start();
    const release = provider.pause('grant');
    const { id } = await approvedRequest(60);
    await Promise.all([queues.requestGrant(id), queues.requestGrant(id), queues.requestGrants([{ requestId: id, startsAt: null }])]);
    const jobs = await queues.grants.getJobs(['waiting', 'active', 'delayed']);
    expect(jobs.map((job) => job.id)).toEqual([grantJobId(id)]);
    release();
    await waitFor(async () => (await stateOf(id)) === 'active');
    expect(provider.callsOf('grant')).toBe(1);
  });

  it('withdraws the delayed grant job of a request called off before its start, and leaves others', async () => {
    const { queues } = start();
    const { id } = await approvedRequest(60);
    const { id: other } = await approvedRequest(60);
    const later = new Date(Date.now() + 60_000);
    await queues.requestGrant(id, later);
    await queues.requestGrant(other, later);
    await queues.withdrawGrant(id);
    const jobs = await queues.grants.getJobs(['waiting', 'active', 'delayed']);
    expect(jobs.map((job) => job.id)).toEqual([grantJobId(other)]);
    // Nothing queued: nothing to do.
    await queues.withdrawGrant(id);
  });

  it('retries a grant that fails transiently, and fails the request when the retries run out', async () => {
    const provider = new MemoryProvider();
    const { queues, heard } = start({ provider });
    provider.failNext('grant', transient('target timed out'), 3);
    const { id } = await approvedRequest(60);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'failed');
    // The event follows the committed state change, so it may arrive a moment later.
    await waitFor(() => heardOf(heard, 'grant.failed', id));
    expect(provider.callsOf('grant')).toBe(3);
    // The last failure was a timeout: the clean-up revocation runs.
    await waitFor(() => provider.callsOf('revoke') === 1);
  });

  it('keeps retrying a failing revocation, alerts once, and revokes when the target recovers', async () => {
    const provider = new MemoryProvider();
    const { queues, heard } = start({ provider });
    provider.failNext('revoke', transient('connection refused'), 5);
    const { id, principal } = await approvedRequest(1);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'revoked', 20_000);
    expect(provider.callsOf('revoke')).toBe(6);
    expect(provider.holds(principal, 'read')).toBe(false);
    const grantId = (await db.grant.findUniqueOrThrow({ where: { requestId: id } })).id;
    await waitFor(() => heardOf(heard, 'revocation.recovered', grantId));
    expect(heard.filter(([event]) => event === 'revocation.overdue')).toEqual([['revocation.overdue', grantId]]);
  });

  it('revokes on time after Redis lost every job, once the reconcile job has run', async () => {
    const { prefix, provider, queues, ctx } = start();
    const { id, principal } = await approvedRequest(2);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'active');
    // The grant job queues the revocation just after the grant commits: lose it after that.
    await waitFor(async () => (await queues.revocations.getJobs(['delayed', 'waiting'])).length === 1);
    // What FLUSHALL does to this test's keys, without disturbing other test files.
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    expect(await queues.revocations.getJobs(['delayed', 'waiting'])).toEqual([]);

    await reconcileAccess(ctx, queues, logger);
    await waitFor(async () => (await stateOf(id)) === 'revoked');
    expect(provider.holds(principal, 'read')).toBe(false);
  });

  it('grants an approved request whose grant job was lost, once the reconcile job has run', async () => {
    const { queues, ctx } = start();
    const { id } = await approvedRequest(60);
    await reconcileAccess(ctx, queues, logger);
    await waitFor(async () => (await stateOf(id)) === 'active');
  });
});
