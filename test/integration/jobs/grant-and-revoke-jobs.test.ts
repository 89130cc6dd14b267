import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { grantAccessJob } from '../../../src/jobs/definitions/grant-access.ts';
import { reconcileAccess } from '../../../src/jobs/definitions/reconcile.ts';
import { revokeGrantJob } from '../../../src/jobs/definitions/revoke-grant.ts';
import { JobQueues } from '../../../src/jobs/job-queues.ts';
import { runJobs, type RunningJobs } from '../../../src/jobs/job-runner.ts';
import { createLogger, type Logger } from '../../../src/logging/logger.ts';
import { transient } from '../../../src/providers/provider.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { systemClock, type UserDirectory } from '../../../src/services/service-context.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { testJobContext } from '../../helpers/job-context.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy } from '../../helpers/test-policy.ts';
import { memberProfile, testServiceContext } from '../../helpers/test-services.ts';

/**
 * The grant and revoke jobs (their definitions, run by the job runner) on the real Redis and
 * PostgreSQL, with the system clock: what happens to an approved request with nobody watching,
 * after Redis forgets its jobs, and when Redis hands back a job that is not what Latch wrote.
 */
const logger = createLogger({ level: 'silent' });
let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;
let redis: Redis;
const running: Array<{ jobs: RunningJobs; queues: JobQueues }> = [];

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 12 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 8 });
  redis = new Redis(inject('redisUrl'));
});
afterEach(async () => {
  for (const { jobs, queues } of running.splice(0)) {
    await jobs.stop();
    await queues.close();
  }
});
afterAll(async () => {
  redis.disconnect();
  await locks.close();
  await db.$disconnect();
  await testDb.drop();
});

async function start(options: { provider?: MemoryProvider; logger?: Logger; users?: UserDirectory; slots?: { concurrency: number; revokeConcurrency: number } } = {}) {
  const prefix = `latch-test-${randomBytes(4).toString('hex')}`;
  const provider = options.provider ?? new MemoryProvider();
  const queues = new JobQueues({
    redisUrl: inject('redisUrl'),
    prefix,
    logger,
    settings: {
      concurrency: 4,
      revokeConcurrency: 4,
      ...options.slots,
      grantRetry: { attempts: 3, baseDelayMs: 50 },
      revocationBackoff: { quickAttempts: 3, quickBaseMs: 20, slowBaseMs: 100, slowMaxMs: 200 },
    },
  });
  // What the grant and revoke use cases publish is recorded in `events`.
  const { ctx: base, events } = testServiceContext(db, testPolicy());
  const ctx: AccessContext = { ...base, ...(options.users ? { users: options.users } : {}), clock: systemClock, access: queues, providerFor: () => provider, locks };
  const context = testJobContext({ access: ctx, logger: options.logger ?? logger });
  const jobs = await runJobs({ queues, context, definitions: [grantAccessJob, revokeGrantJob] });
  running.push({ jobs, queues });
  return { prefix, provider, queues, ctx, events, grants: queues.queue(grantAccessJob.queue), revocations: queues.queue(revokeGrantJob.queue) };
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

describe('grant and revoke jobs', () => {
  it('grants an approved request, then revokes it when its time is up, telling people each time', async () => {
    const { provider, queues, events } = await start();
    const { id, principal } = await approvedRequest(2);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'active');
    expect(provider.holds(principal, 'read')).toBe(true);
    await waitFor(async () => (await stateOf(id)) === 'revoked');
    expect(provider.holds(principal, 'read')).toBe(false);
    await waitFor(() => events.has('access.ended', id));
    const grant = await db.grant.findUniqueOrThrow({ where: { requestId: id } });
    // Revoked at its expiry, not before it.
    expect(grant.revokedAt!.getTime()).toBeGreaterThanOrEqual(grant.expiresAt!.getTime());
    expect(events.heard()).toEqual([['access.granted', id], ['access.ended', id]]);
  });

  it('queues one grant job for one request, however often it is asked', async () => {
    const { provider, queues, grants } = await start();
    const release = provider.pause('grant');
    const { id } = await approvedRequest(60);
    await Promise.all([queues.requestGrant(id), queues.requestGrant(id), queues.requestGrants([{ requestId: id, startsAt: null }])]);
    const jobs = await grants.getJobs(['waiting', 'active', 'delayed']);
    expect(jobs.map((job) => job.id)).toEqual([grantAccessJob.id({ requestId: id })]);
    release();
    await waitFor(async () => (await stateOf(id)) === 'active');
    expect(provider.callsOf('grant')).toBe(1);
  });

  it('withdraws the delayed grant job of a request called off before its start, and leaves others', async () => {
    const { queues, grants } = await start();
    const { id } = await approvedRequest(60);
    const { id: other } = await approvedRequest(60);
    const later = new Date(Date.now() + 60_000);
    await queues.requestGrant(id, later);
    await queues.requestGrant(other, later);
    await queues.withdrawGrant(id);
    const jobs = await grants.getJobs(['waiting', 'active', 'delayed']);
    expect(jobs.map((job) => job.id)).toEqual([grantAccessJob.id({ requestId: other })]);
    // Nothing queued: nothing to do.
    await queues.withdrawGrant(id);
  });

  it('retries a grant that fails transiently, and fails the request when the retries run out', async () => {
    const provider = new MemoryProvider();
    const { queues, events } = await start({ provider });
    provider.failNext('grant', transient('target timed out'), 3);
    const { id } = await approvedRequest(60);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'failed');
    // The event follows the committed state change, so it may arrive a moment later.
    await waitFor(() => events.has('grant.failed', id));
    expect(provider.callsOf('grant')).toBe(3);
    // The last failure was a timeout: the clean-up revocation runs.
    await waitFor(() => provider.callsOf('revoke') === 1);
  });

  it('runs as many revocations at once as LATCH_REVOKE_CONCURRENCY says, none waiting for another to finish', async () => {
    // Issue 19: a worker makes at most its revocation slots divided by one revocation's time a
    // second, so anything that made revocations of different people take turns (a lock held across
    // the provider call, a write serialised behind another) would cap all of them. Here every
    // revoke call is held open: the worker must have all of its 5 revocation slots in the provider
    // at once, more than the 2 its grants are given (revocations have a setting of their own).
    const { provider, queues, revocations } = await start({ slots: { concurrency: 2, revokeConcurrency: 5 } });
    const release = provider.pause('revoke');
    // Let go whatever happens: a call left held keeps its slot, and stopping the worker in afterEach
    // would wait for it until the hook timed out, failing the tests after this one too.
    try {
      const requests = await Promise.all(Array.from({ length: 7 }, () => approvedRequest(1)));
      const ids = requests.map(({ id }) => id);
      for (const id of ids) await queues.requestGrant(id);
      await waitFor(() => provider.callsOf('revoke') === 5);
      const inFlight = provider.calls.filter((call) => call.op === 'revoke').map((call) => call.grantId);
      expect(new Set(inFlight).size).toBe(5);

      // Once all seven are granted and past their expiry, the other two are due and wait for a slot,
      // taken by no other. Where they wait depends on when they fell due: in the waiting list if
      // before the fifth slot was taken, still in the delayed set if after, because BullMQ moves due
      // jobs out of it only when a worker asks for work, and a worker whose slots are all taken does
      // not ask. (Grants spread out on a busy machine, and their revocations with them.)
      await waitFor(async () => (await db.grant.count({ where: { requestId: { in: ids }, expiresAt: { lte: new Date() } } })) === 7);
      const counts = await revocations.getJobCounts('active', 'waiting', 'delayed');
      expect(counts.active).toBe(5);
      expect(counts.waiting! + counts.delayed!).toBe(2);
      expect(provider.callsOf('revoke')).toBe(5);
      // None is revoked while its provider call is held.
      expect(await db.grant.count({ where: { requestId: { in: ids }, revokedAt: { not: null } } })).toBe(0);

      release();
      for (const id of ids) await waitFor(async () => (await stateOf(id)) === 'revoked');
      expect(provider.callsOf('revoke')).toBe(7);
      for (const { principal } of requests) expect(provider.holds(principal, 'read')).toBe(false);
    } finally {
      release();
    }
  });

  it('keeps retrying a failing revocation, alerts once, and revokes when the target recovers', async () => {
    const provider = new MemoryProvider();
    const { queues, events } = await start({ provider });
    provider.failNext('revoke', transient('connection refused'), 5);
    const { id, principal } = await approvedRequest(1);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'revoked', 20_000);
    expect(provider.callsOf('revoke')).toBe(6);
    expect(provider.holds(principal, 'read')).toBe(false);
    const grantId = (await db.grant.findUniqueOrThrow({ where: { requestId: id } })).id;
    await waitFor(() => events.has('revocation.recovered', grantId));
    expect(events.heard().filter(([event]) => event === 'revocation.overdue')).toEqual([['revocation.overdue', grantId]]);
  });

  it('revokes on time after Redis lost every job, once the reconcile job has run', async () => {
    const { prefix, provider, queues, ctx, revocations } = await start();
    const { id, principal } = await approvedRequest(2);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'active');
    // The grant job queues the revocation just after the grant commits: lose it after that.
    await waitFor(async () => (await revocations.getJobs(['delayed', 'waiting'])).length === 1);
    // What FLUSHALL does to this test's keys, without disturbing other test files.
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    expect(await revocations.getJobs(['delayed', 'waiting'])).toEqual([]);

    await reconcileAccess(ctx, queues, logger);
    await waitFor(async () => (await stateOf(id)) === 'revoked');
    expect(provider.holds(principal, 'read')).toBe(false);
  });

  it("retries a grant while Slack cannot say who the requester is, and grants once it can", async () => {
    // Slack cannot read the requester's profile for the first two attempts of three.
    let reads = 0;
    const users: UserDirectory = { profile: async (userId) => (++reads <= 2 ? null : memberProfile(userId, `${userId.toLowerCase()}@example.com`)) };
    const { provider, queues, events } = await start({ users });
    const { id, principal } = await approvedRequest(60);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'active');
    expect(reads).toBe(3);
    expect(provider.callsOf('grant')).toBe(1);
    expect(provider.holds(principal, 'read')).toBe(true);
    await waitFor(() => events.has('access.granted', id));
    expect(events.has('grant.failed', id)).toBe(false);
  });

  it('grants an approved request whose grant job was lost, once the reconcile job has run', async () => {
    const { queues, ctx } = await start();
    const { id } = await approvedRequest(60);
    await reconcileAccess(ctx, queues, logger);
    await waitFor(async () => (await stateOf(id)) === 'active');
  });

  it('fails a job whose payload in Redis is malformed, says which in the log, and goes on with the others', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const capture = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
    const { provider, queues, grants } = await start({ logger: capture });
    // What another writer, an older Latch or a hand in redis-cli could leave in the queue.
    await grants.add(grantAccessJob.name, { requestId: 42 }, { jobId: 'grant-malformed', attempts: 3, removeOnFail: false });
    await grants.add('grant-everything', { requestId: 'x' }, { jobId: 'grant-unknown', removeOnFail: false });
    await waitFor(async () => (await grants.getJobState('grant-malformed')) === 'failed' && (await grants.getJobState('grant-unknown')) === 'failed');

    const malformed = (await grants.getJob('grant-malformed'))!;
    // Failed for good at once: no retry runs bad data a second time.
    expect(malformed.attemptsMade).toBe(1);
    expect(malformed.failedReason).toMatch(/malformed payload.*requestId/);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', jobName: 'grant', job: 'grant-malformed', msg: expect.stringMatching(/^grant job grant-malformed has a malformed payload, so it fails without running: .*requestId/) }));
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', jobName: 'grant-everything', msg: expect.stringContaining('no definition runs') }));
    expect(provider.callsOf('grant')).toBe(0);

    // The worker is still there, and grants what is well formed.
    const { id, principal } = await approvedRequest(60);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'active');
    expect(provider.holds(principal, 'read')).toBe(true);
  });

  it('refuses to enqueue a payload its definition does not accept', async () => {
    const { queues, grants } = await start();
    await expect(queues.requestGrant('not-a-request-id')).rejects.toThrow(/requestId/);
    expect(await grants.getJobs(['waiting', 'delayed', 'active'])).toEqual([]);
  });
});
