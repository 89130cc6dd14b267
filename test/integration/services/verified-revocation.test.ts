import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { revokeGrantJob } from '../../../src/jobs/definitions/revoke-grant.ts';
import type { JobAttempt } from '../../../src/jobs/job-definition.ts';
import { RetryableFailure } from '../../../src/jobs/retryable-failure.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { LatchMetrics } from '../../../src/metrics/latch-metrics.ts';
import { createPostgresProvider } from '../../../src/providers/postgres/postgres-provider.ts';
import { createWebhookProvider } from '../../../src/providers/webhook/webhook-provider.ts';
import { ok, type AccessProvider, type ProviderGrant, type ProviderResult, type RevocationCheck } from '../../../src/providers/provider.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { computeDigest } from '../../../src/services/compute-digest.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import { REVOCATION_ALERT_AFTER_ATTEMPTS, revokeGrant } from '../../../src/services/revoke-grant.ts';
import { verifyAuditRecords } from '../../../src/services/verify-audit-records.ts';
import { verifyAuditChain } from '../../../src/services/verify-audit-chain.ts';
import { digestMessage } from '../../../src/slack/blocks/digest-message.ts';
import { decisionInteractions } from '../../../src/slack/decision-interactions.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { testJobContext } from '../../helpers/job-context.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { adminQuery, createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';
import { WebhookReceiver } from '../../helpers/webhook-receiver.ts';

/**
 * Revocations that are verified, not assumed: after a provider reports a revocation done, it looks
 * at the target again, and Latch records the access as gone only when it is. The target here is a
 * real PostgreSQL (this test's own database, with roles of a random suffix); a provider that lies
 * (says revoked, leaves the role granted) is the real postgres provider with its REVOKE skipped.
 */

const { escapeIdentifier } = pg;
const suffix = randomBytes(5).toString('hex');
const ROLE = `latch_verify_read_${suffix}`;
const PRINCIPAL = `latch_verify_alice_${suffix}`;
const CONNECTION_ENV = 'LATCH_TEST_VERIFY_TARGET_URL';

let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;
let postgres: AccessProvider;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 8 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 4 });
  await adminQuery(testDb.url, `CREATE ROLE ${escapeIdentifier(ROLE)} NOLOGIN`);
  await adminQuery(testDb.url, `CREATE ROLE ${escapeIdentifier(PRINCIPAL)} LOGIN`);
  const built = createPostgresProvider({ connectionStringEnv: CONNECTION_ENV, roles: { read: ROLE } }, { [CONNECTION_ENV]: testDb.url });
  if (!built.ok) throw new Error(built.problems.join('; '));
  postgres = built.provider;
});
afterAll(async () => {
  await postgres?.close?.();
  await locks?.close();
  await db?.$disconnect();
  await testDb?.drop();
  // Roles are cluster-wide: they outlive the database.
  for (const role of [PRINCIPAL, ROLE]) await adminQuery(inject('adminDatabaseUrl'), `DROP ROLE IF EXISTS ${escapeIdentifier(role)}`);
});
beforeEach(async () => {
  await emptyRequestTables(db);
  await adminQuery(testDb.url, `REVOKE ${escapeIdentifier(ROLE)} FROM ${escapeIdentifier(PRINCIPAL)}`);
});

/** The target's own answer, through the superuser connection, not through any provider. */
async function targetHasRole(): Promise<boolean> {
  const client = new pg.Client({ connectionString: testDb.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ member: boolean }>(`SELECT pg_has_role($1::name, $2::name, 'MEMBER') AS member`, [PRINCIPAL, ROLE]);
    return rows[0]?.member === true;
  } finally {
    await client.end();
  }
}

/** The real postgres provider, except that while `lying` its revoke reports success and changes nothing. */
class LyingProvider implements AccessProvider {
  readonly type = 'postgres';
  lying = true;
  revokes = 0;
  constructor(private readonly real: AccessProvider) {}
  grant(grant: ProviderGrant): Promise<ProviderResult> {
    return this.real.grant(grant);
  }
  async revoke(grant: ProviderGrant): Promise<ProviderResult> {
    this.revokes++;
    return this.lying ? ok() : this.real.revoke(grant);
  }
  check(grant: ProviderGrant): Promise<ProviderResult<boolean>> {
    return this.real.check(grant);
  }
  verifyRevoked(grant: ProviderGrant, since: Date): Promise<ProviderResult<RevocationCheck | null>> {
    return this.real.verifyRevoked!(grant, since);
  }
}

/** A resource whose provider cannot look at its target (as the webhook's cannot): MemoryProvider has no verifyRevoked. */
const WIKI = testResource({ id: 'wiki', name: 'Wiki', provider: { type: 'memory', settings: {} } });

function setup(provider: AccessProvider) {
  const base = testServiceContext(db, testPolicy([testResource(), WIKI]));
  const memory = new MemoryProvider();
  const ctx: AccessContext = {
    ...base.ctx,
    access: { requestGrant: async () => undefined, scheduleRevocation: async () => undefined },
    providerFor: (resourceId) => (resourceId === 'prod-db' ? provider : resourceId === 'wiki' ? memory : undefined),
    locks,
  };
  return { ...base, ctx, memory };
}

/** An access granted through the use case, one hour long, and now due for revocation. */
async function dueGrant(ctx: AccessContext, advance: (seconds: number) => void, resourceId = 'prod-db', principal = PRINCIPAL): Promise<string> {
  const request = await db.accessRequest.create({
    data: { requesterSlackId: 'U0REQUESTER', resourceId, role: 'read', principal, durationSeconds: 3600, reason: 'incident 4711', state: 'approved' },
  });
  const granted = await grantAccess(ctx, { requestId: request.id, finalAttempt: false });
  if (granted.outcome !== 'granted') throw new Error(`not granted: ${JSON.stringify(granted)}`);
  advance(3600 + 5); // five seconds after the scheduled end
  return granted.grantId;
}

async function eventsOf(grantId: string) {
  const grant = await db.grant.findUniqueOrThrow({ where: { id: grantId } });
  return (await db.auditEvent.findMany({ where: { requestId: grant.requestId }, orderBy: { seq: 'asc' } })).map((event) => ({ action: event.action, data: event.data as Record<string, unknown> }));
}

/**
 * What `latch audit verify` finds wrong with the grants' verified_revoked_at. (These requests are
 * made approved without their earlier events, so only this column's findings are looked at.)
 */
async function verifiedRevokedMismatches() {
  const report = await verifyAuditRecords(db, { signingSecret: null, interactions: decisionInteractions });
  return report.mismatches.filter((mismatch) => mismatch.field === 'verifiedRevokedAt');
}

const attempt: JobAttempt = { id: 'test', isFinal: false, sleepUntil: () => Promise.reject(new Error('not expected to sleep')) };

describe('a revocation verified against the real PostgreSQL', () => {
  it('records the access verified gone, in the grant, its audit event and audit verify', async () => {
    const { ctx, clock } = setup(postgres);
    const grantId = await dueGrant(ctx, (s) => clock.advance(s));
    expect(await targetHasRole()).toBe(true);

    const result = await revokeGrant(ctx, grantId);

    expect(result).toMatchObject({ outcome: 'revoked', provider: 'postgres', verifiedAt: clock.now() });
    expect(await targetHasRole()).toBe(false);
    const grant = await db.grant.findUniqueOrThrow({ where: { id: grantId } });
    expect(grant.verifiedRevokedAt).toEqual(grant.revokedAt);
    expect(grant.verifiedRevokedAt).not.toBeNull();
    expect((await eventsOf(grantId)).at(-1)).toMatchObject({ action: 'grant.revoked', data: { verified: true, provider: 'postgres', providerCalled: true, lateBySeconds: 5 } });
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true });
    expect(await verifiedRevokedMismatches()).toEqual([]);
  });

  it('finds a session begun before the revocation that outlives it: the access is not gone', async () => {
    const session = new pg.Client({ connectionString: testDb.url.replace(/\/\/[^@/]*@/, `//${PRINCIPAL}@`) });
    await adminQuery(testDb.url, `GRANT ${escapeIdentifier(ROLE)} TO ${escapeIdentifier(PRINCIPAL)}`);
    await session.connect();
    try {
      await session.query(`SET ROLE ${escapeIdentifier(ROLE)}`);
      const since = new Date(Date.now() + 1000);
      // Someone revokes the membership by hand, and nobody ends the session.
      await adminQuery(testDb.url, `REVOKE ${escapeIdentifier(ROLE)} FROM ${escapeIdentifier(PRINCIPAL)}`);
      const grant: ProviderGrant = { grantId: 'g', requestId: 'r', resourceId: 'prod-db', role: 'read', principal: PRINCIPAL, expiresAt: new Date() };
      const looked = await postgres.verifyRevoked!(grant, since);
      expect(looked).toEqual({ ok: true, value: { gone: false, remains: expect.stringMatching(/1 session\(s\) of ".*" begun before the revocation are still open/) } });
    } finally {
      await session.end();
    }
  });
});

describe('a provider that says revoked but leaves the role granted', () => {
  it('is not recorded as done: retried by the revoke job, alerted once overdue, and recorded verified once the role is really gone', async () => {
    const liar = new LyingProvider(postgres);
    const { ctx, clock, events } = setup(liar);
    const grantId = await dueGrant(ctx, (s) => clock.advance(s));
    const jobContext = testJobContext({ access: ctx });

    // The revoke job's attempt fails like any failing revocation: BullMQ retries it.
    const first = revokeGrantJob.run(jobContext as Parameters<typeof revokeGrantJob.run>[0], { grantId }, attempt);
    await expect(first).rejects.toBeInstanceOf(RetryableFailure);
    await expect(first).rejects.toThrow(/reported the revocation done, but the access remains: ".*" is still a member of database role/);
    expect(await targetHasRole()).toBe(true);
    let grant = await db.grant.findUniqueOrThrow({ where: { id: grantId } });
    expect(grant).toMatchObject({ revokedAt: null, verifiedRevokedAt: null, revokeAttempts: 1, overdueAlertedAt: null });
    expect(grant.lastError).toMatch(/\S/);
    expect((await eventsOf(grantId)).at(-1)).toMatchObject({ action: 'grant.revoke_failed', data: { kind: 'transient', attempt: 1 } });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: grant.requestId } })).toMatchObject({ state: 'active' });

    // Retried until it is overdue: the security channel hears of it once.
    for (let attempt = 2; attempt <= REVOCATION_ALERT_AFTER_ATTEMPTS; attempt++) {
      clock.advance(60);
      expect(await revokeGrant(ctx, grantId)).toMatchObject({ outcome: 'retry', attempts: attempt, alert: attempt === REVOCATION_ALERT_AFTER_ATTEMPTS });
    }
    expect(events.ofType('revocation.overdue').map((event) => event.grantId)).toEqual([grantId]);
    grant = await db.grant.findUniqueOrThrow({ where: { id: grantId } });
    expect(grant.overdueAlertedAt).not.toBeNull();
    expect(grant.revokedAt).toBeNull();
    expect((await eventsOf(grantId)).map((event) => event.action)).toContain('grant.revocation_overdue');
    // Counted as overdue by the digest, like any revocation that keeps failing.
    expect((await computeDigest(db, new Date(0), new Date(clock.now().getTime() + 120_000))).overdueNow).toBe(1);
    expect(await targetHasRole()).toBe(true);

    // The provider mends its ways: the role is really revoked, verified, and the overdue alert recovers.
    liar.lying = false;
    clock.advance(60);
    const done = await revokeGrant(ctx, grantId);
    expect(done).toMatchObject({ outcome: 'revoked', wasOverdue: true, provider: 'postgres', verifiedAt: clock.now() });
    expect(await targetHasRole()).toBe(false);
    expect(events.ofType('revocation.recovered').map((event) => event.grantId)).toEqual([grantId]);
    grant = await db.grant.findUniqueOrThrow({ where: { id: grantId } });
    expect(grant.verifiedRevokedAt).toEqual(clock.now());
    expect(liar.revokes).toBe(REVOCATION_ALERT_AFTER_ATTEMPTS + 1);
    expect(await verifiedRevokedMismatches()).toEqual([]);
  });
});

describe('lateness from the scheduled end to the verified end, per provider', () => {
  it('is in the metrics and the digest, and a provider that cannot verify is said to be unverified', async () => {
    const { ctx, clock } = setup(postgres);
    const metrics = new LatchMetrics({ db, queues: [], logger: createLogger({ level: 'silent' }) });
    const jobContext = testJobContext({ access: ctx, metrics }) as Parameters<typeof revokeGrantJob.run>[0];
    const from = clock.now();

    const verified = await dueGrant(ctx, (s) => clock.advance(s));
    await revokeGrantJob.run(jobContext, { grantId: verified }, attempt);
    // A provider that cannot look: its revocation is recorded as reported, unverified.
    const unverified = await dueGrant(ctx, (s) => clock.advance(s), 'wiki', 'alice@example.com');
    await revokeGrantJob.run(jobContext, { grantId: unverified }, attempt);
    expect(await db.grant.findUniqueOrThrow({ where: { id: unverified } })).toMatchObject({ verifiedRevokedAt: null });
    expect((await eventsOf(unverified)).at(-1)).toMatchObject({ action: 'grant.revoked', data: { verified: false, provider: 'memory' } });

    const { body } = await metrics.scrape();
    expect(body).toContain('latch_revocation_verified_lateness_seconds_count{provider="postgres"} 1');
    expect(body).toContain('latch_revocation_verified_lateness_seconds_bucket{le="5",provider="postgres"} 1');
    expect(body).toContain('latch_revocation_verified_lateness_seconds_bucket{le="2.5",provider="postgres"} 0');
    expect(body).toContain('latch_revocations_unverified_total{provider="memory"} 1');
    expect(body).not.toContain('latch_revocation_verified_lateness_seconds_count{provider="memory"}');

    const report = await computeDigest(db, from, new Date(clock.now().getTime() + 1000));
    expect(report.revocationsByProvider).toEqual([
      { provider: 'memory', verified: 0, unverified: 1, verifiedLateness: null },
      { provider: 'postgres', verified: 1, unverified: 0, verifiedLateness: { medianSeconds: 5, maxSeconds: 5 } },
    ]);
    const text = JSON.stringify(digestMessage('Daily', report));
    expect(text).toContain('`postgres`: 1 verified gone, 5 s after the scheduled end at the median, 5 s at worst');
    expect(text).toContain('`memory`: 1 not verifiable (recorded as the provider reported)');
  });
});

describe('the webhook: verified only where its receiver is said to answer check', () => {
  it('records nothing verified without verifyRevocations, and with it asks the receiver, which catches a revoke it did not do', async () => {
    const secret = randomBytes(32).toString('hex');
    const receiver = await WebhookReceiver.start(secret);
    try {
      const build = (settings: Record<string, unknown>) => {
        const built = createWebhookProvider({ url: receiver.url, secretEnv: 'LATCH_TEST_VERIFY_SECRET', ...settings }, { LATCH_TEST_VERIFY_SECRET: secret });
        if (!built.ok) throw new Error(built.problems.join('; '));
        return built.provider;
      };
      const unasked = build({});
      const asking = build({ verifyRevocations: true });
      const grant: ProviderGrant = { grantId: randomUUID(), requestId: randomUUID(), resourceId: 'wiki', role: 'read', principal: 'alice', expiresAt: new Date() };
      expect((await asking.grant(grant)).ok).toBe(true);
      // The receiver answers the revoke 200 without doing it.
      receiver.failNext(1, 200);
      expect((await asking.revoke(grant)).ok).toBe(true);
      expect(receiver.hasAccess('alice', 'read', 'wiki')).toBe(true);

      expect(await unasked.verifyRevoked!(grant, new Date())).toEqual({ ok: true, value: null });
      expect(receiver.callsFor('check')).toHaveLength(0);
      expect(await asking.verifyRevoked!(grant, new Date())).toEqual({ ok: true, value: { gone: false, remains: expect.stringContaining('{"active": true}') } });

      expect((await asking.revoke({ ...grant, grantId: randomUUID() })).ok).toBe(true);
      expect(await asking.verifyRevoked!(grant, new Date())).toEqual({ ok: true, value: { gone: true } });
    } finally {
      await receiver.close();
    }
  });
});
