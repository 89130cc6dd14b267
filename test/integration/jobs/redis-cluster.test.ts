import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../../../src/domain/policy.ts';
import { expirePendingRequestsJob } from '../../../src/jobs/definitions/expire-pending-requests.ts';
import { grantAccessJob } from '../../../src/jobs/definitions/grant-access.ts';
import { reconcileAccess, reconcileJob } from '../../../src/jobs/definitions/reconcile.ts';
import { revokeGrantJob } from '../../../src/jobs/definitions/revoke-grant.ts';
import { sendDigestJob } from '../../../src/jobs/definitions/send-digest.ts';
import type { JobDefinition } from '../../../src/jobs/job-definition.ts';
import { JOB_QUEUES } from '../../../src/jobs/job-queue-specs.ts';
import { JobQueues } from '../../../src/jobs/job-queues.ts';
import { runJobs } from '../../../src/jobs/job-runner.ts';
import type { JobSettings } from '../../../src/jobs/job-settings.ts';
import { createRedisConnection } from '../../../src/jobs/redis-connection.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { checkReadiness } from '../../../src/runtime/readiness.ts';
import { QueuedNotices } from '../../../src/runtime/queued-notices.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { systemClock } from '../../../src/services/service-context.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { testJobContext } from '../../helpers/job-context.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { RedisCluster } from '../../helpers/redis-cluster.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * Latch's queues, workers, sweeps and readiness on a real Redis Cluster of three masters, with a
 * hash-tagged prefix: every key of every queue in one slot, so BullMQ's multi-key scripts run,
 * and "Redis lost its data" means the node serving that slot lost it.
 */
const logger = createLogger({ level: 'silent' });
let cluster: RedisCluster;
let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;
const stops: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  [cluster, testDb] = await Promise.all([RedisCluster.start(), createTestDatabase()]);
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 8 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 8 });
}, 60_000);
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});
afterAll(async () => {
  await locks?.close();
  await db?.$disconnect();
  await testDb?.drop();
  await cluster?.stop();
});

const taggedPrefix = () => `{latch-test-${randomBytes(4).toString('hex')}}`;

/** The queues of every job on the cluster, as `latch start` makes them with REDIS_CLUSTER=true. */
function clusterQueues(prefix: string, settings: Partial<JobSettings> = {}) {
  const queues = new JobQueues({ redisUrl: cluster.url, redisCluster: true, prefix, logger, settings: { concurrency: 4, revokeConcurrency: 4, grantRetry: { attempts: 3, baseDelayMs: 50 }, ...settings } });
  stops.push(() => queues.close());
  return queues;
}

/** The grant and revoke jobs on the cluster, as `latch start` runs them with REDIS_CLUSTER=true. */
async function startAccess(prefix: string) {
  const provider = new MemoryProvider();
  const queues = clusterQueues(prefix);
  const { ctx: base, events } = testServiceContext(db, testPolicy());
  const ctx: AccessContext = { ...base, clock: systemClock, access: queues, providerFor: () => provider, locks };
  const jobs = await runJobs({ queues, context: testJobContext({ access: ctx, logger }), definitions: [grantAccessJob, revokeGrantJob] });
  stops.push(() => jobs.stop());
  return { provider, queues, ctx, events };
}

/** Scheduled jobs on the cluster, on queues of their own (another runner may hold the access jobs). */
async function startScheduled(prefix: string, definitions: JobDefinition[], settings: Partial<JobSettings>, given: Parameters<typeof testJobContext>[0] = {}) {
  const queues = clusterQueues(prefix, { sweepEveryMs: 60_000, reconcileEveryMs: 60_000, ...settings });
  const jobs = await runJobs({ queues, context: testJobContext({ logger, ...given }), definitions });
  stops.push(() => jobs.stop());
}

async function approvedRequest(durationSeconds: number) {
  const principal = `user-${randomBytes(3).toString('hex')}`;
  const request = await db.accessRequest.create({
    data: { requesterSlackId: 'U0REQUESTER', resourceId: 'prod-db', role: 'read', principal, durationSeconds, reason: 'cluster test', state: 'approved' },
  });
  return { id: request.id, principal };
}

const stateOf = async (id: string) => (await db.accessRequest.findUniqueOrThrow({ where: { id } })).state;

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Nothing left to run: no job waiting, delayed or active in either queue. */
async function queuesSettled(queues: JobQueues): Promise<boolean> {
  for (const queue of [queues.queue(JOB_QUEUES.grants), queues.queue(JOB_QUEUES.revocations)]) {
    const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    if (Object.values(counts).some((count) => count > 0)) return false;
  }
  return true;
}

describe('Latch on a Redis Cluster', { timeout: 60_000 }, () => {
  it('grants an approved request and revokes it at its expiry, each exactly once', async () => {
    const { provider, queues, events } = await startAccess(taggedPrefix());
    const { id, principal } = await approvedRequest(2);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'active');
    expect(provider.holds(principal, 'read')).toBe(true);
    await waitFor(async () => (await stateOf(id)) === 'revoked');
    expect(provider.holds(principal, 'read')).toBe(false);
    await waitFor(() => queuesSettled(queues));

    const grant = await db.grant.findUniqueOrThrow({ where: { requestId: id } });
    expect(grant.revokedAt!.getTime()).toBeGreaterThanOrEqual(grant.expiresAt!.getTime());
    expect([provider.callsOf('grant'), provider.callsOf('revoke')]).toEqual([1, 1]);
    expect([grant.grantAttempts, grant.revokeAttempts]).toEqual([1, 1]);
    const actions = (await db.auditEvent.findMany({ where: { requestId: id, action: { in: ['grant.granted', 'grant.revoked'] } } })).map((event) => event.action);
    expect(actions.sort()).toEqual(['grant.granted', 'grant.revoked']);
    await waitFor(() => events.published.length === 2);
    expect(events.heard()).toEqual([['access.granted', id], ['access.ended', id]]);
  });

  it('runs the maintenance sweeps on their schedule', async () => {
    let expiries = 0;
    // Counting its runs instead of running its use case: this is about the schedule on the cluster.
    const countedExpiry: JobDefinition = { ...expirePendingRequestsJob, run: async () => void expiries++ };
    await startScheduled(taggedPrefix(), [countedExpiry], { sweepEveryMs: 150 });
    await waitFor(() => expiries >= 3);
  });

  it("revokes on time after the node serving the queues' slot lost its data: the guard restores the schedules and the reconcile requeues the revocation", async () => {
    const prefix = taggedPrefix();
    const { provider, queues, ctx } = await startAccess(prefix);
    let reconciles = 0;
    const countedReconcile: JobDefinition = { ...reconcileJob, runAtStart: false, run: async () => {
      reconciles++;
      await reconcileAccess(ctx, queues, logger);
    } };
    await startScheduled(prefix, [countedReconcile], { scheduleCheckEveryMs: 100 });
    await waitFor(() => reconciles === 1);
    // Long enough that the revoke job is still waiting while the nodes are flushed, on a busy CI
    // machine too (at 4 s it had already run once before the first check).
    const { id, principal } = await approvedRequest(15);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'active');
    const grantId = (await db.grant.findUniqueOrThrow({ where: { requestId: id } })).id;
    // The grant job queues the revocation just after the grant commits (CI once looked in between).
    await waitFor(async () => (await queues.find('revoke', { grantId })) !== undefined);

    // FLUSHALL is per node: the other nodes hold none of Latch's keys, so flushing them loses nothing.
    const serving = await cluster.portServing(`${prefix}:${JOB_QUEUES.revocations.name}:meta`);
    for (const port of cluster.ports.filter((p) => p !== serving)) await cluster.flushNode(port);
    expect(await queues.find('revoke', { grantId })).toBeDefined();

    await cluster.flushNode(serving);
    expect(await queues.find('revoke', { grantId })).toBeUndefined();
    // The next scheduled reconcile is a minute away: only the guard brings it back sooner.
    await waitFor(() => reconciles >= 2, 10_000);
    await waitFor(async () => (await stateOf(id)) === 'revoked', 40_000);
    expect(provider.holds(principal, 'read')).toBe(false);
    expect(provider.callsOf('revoke')).toBe(1);
  });

  it('keeps every key of every queue under the hash-tagged prefix, in one slot on one node', async () => {
    const prefix = taggedPrefix();
    const { queues } = await startAccess(prefix);
    const digests = { policy: () => ({ digests: [{ name: 'weekly', schedule: '0 9 * * 1', timeZone: 'UTC', channel: 'C0SEC' }] }) as unknown as Policy };
    // The sweep's queue is what matters here, not its use case.
    const idleExpiry: JobDefinition = { ...expirePendingRequestsJob, run: async () => {} };
    await startScheduled(prefix, [idleExpiry, sendDigestJob], {}, { access: digests });
    const { id } = await approvedRequest(60);
    await queues.requestGrant(id);
    await waitFor(async () => (await stateOf(id)) === 'active');
    // latch web queues its Slack notices; no worker runs them here, so the job stays in its queue.
    await new QueuedNotices(queues, db, { publish: async () => {} }).publish({ type: 'request.decided', requestId: id, outcome: 'approved' });

    const ours = (await cluster.allKeys()).filter(({ key }) => key.startsWith(prefix));
    const queuesSeen = new Set(ours.map(({ key }) => key.slice(prefix.length + 1).split(':')[0]));
    expect([...queuesSeen].sort()).toEqual(Object.values(JOB_QUEUES).map((queue) => queue.name).sort());
    const slots = new Set(await Promise.all(ours.map(({ key }) => cluster.slotOf(key))));
    expect(slots).toEqual(new Set([await cluster.slotOf(prefix)]));
    expect(new Set(ours.map(({ port }) => port)).size).toBe(1);
  });


  it('fails with CROSSSLOT when the prefix has no hash tag, which is why Latch refuses to start with one', async () => {
    const queues = clusterQueues(`latch-bare-${randomBytes(4).toString('hex')}`);
    const { id } = await approvedRequest(60);
    await expect(queues.requestGrant(id)).rejects.toThrow(/CROSSSLOT/);
  });

  // Last: it kills a node.
  it("reports Redis ready while the node serving the queues' slot answers, and not ready once that node is gone", async () => {
    const redis = createRedisConnection(cluster.url, 'queue', logger, { cluster: true });
    stops.push(async () => redis.disconnect());
    await redis.connect();
    // Two prefixes whose slots live on different nodes.
    const byNode = new Map<number, string>();
    for (let i = 0; byNode.size < 2; i++) byNode.set(await cluster.portServing(`{latch-ready-${i}}`), `{latch-ready-${i}}`);
    const [[doomedPort, doomedPrefix], [, livePrefix]] = [...byNode.entries()] as [[number, string], [number, string]];
    const readiness = (queuePrefix: string) => checkReadiness({ db, redis, queuePrefix, policyVersion: () => 'v1' });
    expect(await readiness(doomedPrefix)).toEqual({ ready: true, checks: { postgres: 'ok', redis: 'ok', policy: 'ok' } });

    await cluster.killNode(doomedPort);
    const [doomed, live] = await Promise.all([readiness(doomedPrefix), readiness(livePrefix)]);
    expect(doomed.ready).toBe(false);
    expect(doomed.checks.redis).not.toBe('ok');
    // The other nodes still serve their slots: a deployment whose queues live there is still ready.
    expect(live).toEqual({ ready: true, checks: { postgres: 'ok', redis: 'ok', policy: 'ok' } });
  });
});
