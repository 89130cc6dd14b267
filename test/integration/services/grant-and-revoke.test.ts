import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/config/policy-file.ts';
import { canonicalJson, type Policy, type ProviderSettings } from '../../../src/domain/policy.ts';
import type { SlackAccount } from '../../../src/domain/identity.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { PolicySource } from '../../../src/runtime/policy-source.ts';
import { decideRequest } from '../../../src/services/decide-request.ts';
import { transient, permanent } from '../../../src/providers/provider.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { endAccessEarly } from '../../../src/services/end-access-early.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import { checkExtension, requestExtension } from '../../../src/services/request-extension.ts';
import { REVOCATION_ALERT_AFTER_ATTEMPTS, revokeGrant } from '../../../src/services/revoke-grant.ts';
import { listOpenAccess } from '../../../src/services/list-open-access.ts';
import { verifyAuditChain } from '../../../src/services/verify-audit-chain.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { SECURITY_ADMIN, testPolicy, testResource } from '../../helpers/test-policy.ts';
import { memberProfile, testServiceContext } from '../../helpers/test-services.ts';

const REQUESTER = 'U0REQUESTER';
const PRINCIPAL = 'alice';

let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 12 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 8 });
});
afterAll(async () => {
  await locks.close();
  await db.$disconnect();
  await testDb.drop();
});
beforeEach(async () => {
  await emptyRequestTables(db);
});

function setup() {
  const base = testServiceContext(db, testPolicy());
  const provider = new MemoryProvider();
  const scheduled: Array<{ grantId: string; dueAt: Date }> = [];
  const ctx: AccessContext = {
    ...base.ctx,
    access: { requestGrant: async () => undefined, scheduleRevocation: async (grantId, dueAt) => void scheduled.push({ grantId, dueAt }) },
    providerFor: (resourceId) => (resourceId === 'prod-db' ? provider : undefined),
    locks,
  };
  return { ...base, ctx, provider, scheduled };
}

/** An approved request, as decideRequest leaves it. */
async function approvedRequest(overrides: { durationSeconds?: number; startsAt?: Date; principal?: string; role?: string; requesterId?: string } = {}) {
  const request = await db.accessRequest.create({
    data: {
      requesterSlackId: overrides.requesterId ?? REQUESTER,
      resourceId: 'prod-db',
      role: overrides.role ?? 'read',
      principal: overrides.principal ?? PRINCIPAL,
      durationSeconds: overrides.durationSeconds ?? 3600,
      reason: 'incident 4711',
      state: 'approved',
      startsAt: overrides.startsAt ?? null,
    },
  });
  return request.id;
}

async function actions(requestId: string) {
  return (await db.auditEvent.findMany({ where: { requestId }, orderBy: { seq: 'asc' } })).map((event) => event.action);
}

async function grantOf(requestId: string) {
  return db.grant.findUniqueOrThrow({ where: { requestId } });
}

describe('grantAccess', () => {
  it('grants through the provider, counts the duration from the grant, and audits it', async () => {
    const { ctx, clock, provider } = setup();
    const id = await approvedRequest({ durationSeconds: 7200 });
    clock.advance(600); // the grant happens ten minutes after approval
    const result = await grantAccess(ctx, { requestId: id, finalAttempt: false });

    expect(result).toMatchObject({ outcome: 'granted', expiresAt: new Date(clock.now().getTime() + 7200_000) });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(true);
    expect(await grantOf(id)).toMatchObject({ grantedAt: clock.now(), expiresAt: new Date(clock.now().getTime() + 7200_000), principal: PRINCIPAL, grantAttempts: 1 });
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('active');
    expect(await actions(id)).toEqual(['grant.granted']);
    // The event says what was recorded: the access's end, still wanted.
    const grant = await grantOf(id);
    expect((await db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'grant.granted' } })).data).toMatchObject({
      grantId: grant.id,
      expiresAt: grant.expiresAt!.toISOString(),
      endedMeanwhile: false,
      attempt: 1,
    });
  });

  it('grants once when two grant jobs for one request run at the same time', async () => {
    const { ctx, provider } = setup();
    const id = await approvedRequest();
    const results = await Promise.all([grantAccess(ctx, { requestId: id, finalAttempt: false }), grantAccess(ctx, { requestId: id, finalAttempt: false })]);

    expect(results.map((r) => r.outcome).sort()).toEqual(['granted', 'skipped']);
    expect(provider.callsOf('grant')).toBe(1);
    expect(await db.grant.count({ where: { requestId: id } })).toBe(1);
    expect(await actions(id)).toEqual(['grant.granted']);
  });

  it('waits for a later start, and then counts the duration from the grant', async () => {
    const { ctx, clock, provider } = setup();
    const startsAt = new Date(clock.now().getTime() + 3 * 3600_000);
    const id = await approvedRequest({ startsAt, durationSeconds: 1800 });

    expect(await grantAccess(ctx, { requestId: id, finalAttempt: false })).toEqual({ outcome: 'not_yet', startsAt });
    expect(provider.callsOf('grant')).toBe(0);
    clock.advance(3 * 3600);
    expect(await grantAccess(ctx, { requestId: id, finalAttempt: false })).toMatchObject({ outcome: 'granted', expiresAt: new Date(startsAt.getTime() + 1800_000) });
  });

  it('refuses at its later start a request a reload no longer allows, failed with the reason and audited', async () => {
    const { ctx, clock, provider } = setup();
    const startsAt = new Date(clock.now().getTime() + 3 * 3600_000);
    const id = await approvedRequest({ startsAt, durationSeconds: 2 * 3600 });
    expect(await grantAccess(ctx, { requestId: id, finalAttempt: false })).toEqual({ outcome: 'not_yet', startsAt });
    // While it waits, the policy is reloaded with a shorter maximum for read.
    const tightened: AccessContext = { ...ctx, policy: () => testPolicy([testResource({ roles: [{ id: 'read', maxDurationSeconds: 3600 }] })]) };
    clock.advance(3 * 3600);
    const reason = 'The policy now allows at most 1h of read on Production database; this request asks for 2h.';
    expect(await grantAccess(tightened, { requestId: id, finalAttempt: false })).toEqual({ outcome: 'failed', requestId: id, message: reason, cleanupGrantId: null });
    expect(provider.calls).toEqual([]);
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'failed', outcomeReason: `The policy changed before the access was granted: ${reason}` });
    const [event] = await db.auditEvent.findMany({ where: { requestId: id } });
    expect(event).toMatchObject({ action: 'grant.failed', actor: 'latch', data: { code: 'duration_over_maximum', message: reason, grantId: null } });
  });

  it('records a transient failure for a retry, then fails the request on the last attempt and leaves the grant to be revoked', async () => {
    const { ctx, provider } = setup();
    const id = await approvedRequest();
    provider.failNext('grant', transient('target timed out'), 2);

    expect(await grantAccess(ctx, { requestId: id, finalAttempt: false })).toEqual({ outcome: 'retry', message: 'target timed out' });
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('approved');
    // What Slack may show is Latch's fixed notice; the provider's words are in the audit event (and the log).
    expect(await grantOf(id)).toMatchObject({ lastError: expect.stringMatching(/^The target system could not complete the grant \(reference [0-9a-f]{8}\)$/), grantedAt: null, revokedAt: null });

    const last = await grantAccess(ctx, { requestId: id, finalAttempt: true });
    // A timeout may have granted all the same: the grant is due for revocation at once.
    expect(last).toMatchObject({ outcome: 'failed', message: 'target timed out', cleanupGrantId: (await grantOf(id)).id });
    const failed = await db.accessRequest.findUniqueOrThrow({ where: { id } });
    expect(failed).toMatchObject({ state: 'failed', outcomeReason: expect.stringMatching(/^The target system could not complete the grant \(reference [0-9a-f]{8}\)$/) });
    const event = await db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'grant.failed' } });
    expect(event.data).toMatchObject({ message: 'target timed out', ref: /reference ([0-9a-f]{8})/.exec(failed.outcomeReason!)![1] });
    expect(await grantOf(id)).toMatchObject({ grantAttempts: 2, revokedAt: null, revokeReason: 'grant failed' });
    expect(await actions(id)).toEqual(['grant.attempt_failed', 'grant.failed']);
  });

  it('fails at once on a permanent failure, without a clean-up revocation', async () => {
    const { ctx, provider } = setup();
    const id = await approvedRequest();
    provider.failNext('grant', permanent('role "read" does not exist on the target'));

    expect(await grantAccess(ctx, { requestId: id, finalAttempt: false })).toMatchObject({ outcome: 'failed', cleanupGrantId: null });
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('failed');
    expect((await grantOf(id)).revokedAt).not.toBeNull();
  });

  it.each<[string, Partial<SlackAccount>, string]>([
    ['became a guest', { guest: true }, 'Guests of this Slack workspace cannot request Production database.'],
    ['was deactivated', { deleted: true }, 'Your Slack account is deactivated: Latch gives it no access.'],
    ['left for another workspace', { ofLatchTeam: false }, 'Your Slack account belongs to another workspace or organisation (Slack Connect): Latch gives access only to members of its own workspace.'],
  ])('does not grant to a requester who %s while the request waited: the request is failed with the reason, audited, and people told', async (_, account, message) => {
    const { ctx, users, events, provider } = setup();
    const id = await approvedRequest();
    users.profiles.set(REQUESTER, memberProfile(REQUESTER, 'u0requester@example.com', account));

    expect(await grantAccess(ctx, { requestId: id, finalAttempt: false })).toEqual({ outcome: 'failed', requestId: id, message, cleanupGrantId: null });
    expect(provider.calls).toEqual([]);
    expect(await db.grant.count({ where: { requestId: id } })).toBe(0);
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'failed', outcomeReason: `The requester's Slack account changed before the access was granted: ${message}` });
    const [event, ...others] = await db.auditEvent.findMany({ where: { requestId: id } });
    expect(others).toEqual([]);
    expect(event).toMatchObject({ action: 'grant.failed', actor: 'latch', data: { code: 'identity_refused', message, grantId: null, cleanup: false } });
    // The requester and the approvers are told (the notifier hears grant.failed).
    expect(events.heard()).toEqual([['grant.failed', id]]);
  });

  it('grants nothing while Slack cannot say who the requester is, leaves the request approved for a retry, and grants once it can', async () => {
    const { ctx, users, events, provider } = setup();
    const id = await approvedRequest();
    users.profiles.set(REQUESTER, null);

    const retry = await grantAccess(ctx, { requestId: id, finalAttempt: false });
    expect(retry).toMatchObject({ outcome: 'retry' });
    // Not a failure of the request either on the last attempt: the reconcile job queues it again.
    expect(await grantAccess(ctx, { requestId: id, finalAttempt: true })).toMatchObject({ outcome: 'retry' });
    expect(provider.calls).toEqual([]);
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'approved', outcomeReason: null });
    expect(await db.grant.count({ where: { requestId: id } })).toBe(0);
    expect(await actions(id)).toEqual([]);
    expect(events.heard()).toEqual([]);

    users.profiles.delete(REQUESTER);
    expect(await grantAccess(ctx, { requestId: id, finalAttempt: false })).toMatchObject({ outcome: 'granted' });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(true);
    expect(await actions(id)).toEqual(['grant.granted']);
  });

  it("grants to a guest where the resource allows guests, and to a machine, which has no Slack account to check", async () => {
    const { ctx, users, provider } = setup();
    users.profiles.set(REQUESTER, memberProfile(REQUESTER, 'u0requester@example.com', { guest: true }));
    const guestsWelcome: AccessContext = { ...ctx, policy: () => testPolicy([testResource({ identity: { map: {}, from: 'slack-user-id', template: '{email}', allowGuests: true } })]) };
    const guest = await approvedRequest();
    expect(await grantAccess(guestsWelcome, { requestId: guest, finalAttempt: false })).toMatchObject({ outcome: 'granted' });

    const machine = 'machine:deploy';
    // Slack knows nothing of a machine: reading its profile would say it cannot.
    users.profiles.set(machine, null);
    const machinesOnly: AccessContext = { ...ctx, policy: () => testPolicy([testResource({ requesters: { everyone: false, users: [], groups: [], machines: ['deploy'] } })]) };
    const id = await approvedRequest({ requesterId: machine, principal: 'deploy_bot' });
    expect(await grantAccess(machinesOnly, { requestId: id, finalAttempt: false })).toMatchObject({ outcome: 'granted' });
    expect(provider.holds('deploy_bot', 'read')).toBe(true);
  });

  it('grants nothing for a request that is not approved', async () => {
    const { ctx, provider } = setup();
    const id = await approvedRequest();
    await db.accessRequest.update({ where: { id }, data: { state: 'cancelled' } });
    expect(await grantAccess(ctx, { requestId: id, finalAttempt: false })).toEqual({ outcome: 'skipped', reason: 'the request is cancelled' });
    expect(provider.calls).toEqual([]);
  });
});

describe('revokeGrant', () => {
  async function activeGrant(ctx: AccessContext, overrides: Parameters<typeof approvedRequest>[0] = {}) {
    const requestId = await approvedRequest(overrides);
    const granted = await grantAccess(ctx, { requestId, finalAttempt: false });
    if (granted.outcome !== 'granted') throw new Error(`not granted: ${JSON.stringify(granted)}`);
    return granted;
  }

  it('revokes a burst of grants due at once, each once, written together into one gapless chain', async () => {
    const { ctx, clock, provider } = setup();
    const grants = await Promise.all(Array.from({ length: 40 }, (_, index) => activeGrant(ctx, { durationSeconds: 600, principal: `burst_${index}` })));
    clock.advance(600);
    // Each revocation twice, as two workers would: the second finds nothing to do.
    const results = await Promise.all(grants.flatMap(({ grantId }) => [revokeGrant(ctx, grantId), revokeGrant(ctx, grantId)]));
    expect(results.filter((result) => result.outcome === 'revoked')).toHaveLength(40);
    expect(results.filter((result) => result.outcome === 'nothing')).toHaveLength(40);
    expect(provider.callsOf('revoke')).toBe(40);
    expect(await db.grant.count({ where: { revokedAt: null } })).toBe(0);
    expect(await db.accessRequest.count({ where: { state: 'revoked' } })).toBe(40);
    expect(await db.auditEvent.count({ where: { action: 'grant.revoked' } })).toBe(40);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 80 });
  });

  it('records the rest of a burst when one grant is gone by the time it is written, and fails only that revocation', async () => {
    const { ctx, clock, provider } = setup();
    const grants = await Promise.all(Array.from({ length: 6 }, (_, index) => activeGrant(ctx, { durationSeconds: 600, principal: `gone_${index}` })));
    const gone = grants[2]!;
    clock.advance(600);
    // The provider takes the access away, and meanwhile the grant's row disappears (deleted by hand).
    const deleting: AccessContext = {
      ...ctx,
      providerFor: () => ({
        ...provider,
        type: provider.type,
        check: (grant) => provider.check(grant),
        grant: (grant) => provider.grant(grant),
        revoke: async (grant) => {
          const result = await provider.revoke(grant);
          if (grant.grantId === gone.grantId) await db.grant.delete({ where: { id: gone.grantId } });
          return result;
        },
      }),
    };
    const results = await Promise.allSettled(grants.map(({ grantId }) => revokeGrant(deleting, grantId)));
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(String((results[2] as PromiseRejectedResult).reason)).toContain(`the grant ${gone.grantId} is missing`);
    expect(await db.grant.count({ where: { revokedAt: { not: null } } })).toBe(5);
    // Nothing recorded for the one gone: its request did not end, and no event says it was revoked.
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: gone.requestId } })).toMatchObject({ state: 'active' });
    expect(await db.accessRequest.count({ where: { state: 'revoked' } })).toBe(5);
    expect(await actions(gone.requestId)).toEqual(['grant.granted']);
    expect(await db.auditEvent.count({ where: { action: 'grant.revoked' } })).toBe(5);
    expect(await verifyAuditChain(testDb.url)).toMatchObject({ ok: true, events: 11 });
  });

  it('leaves access alone before its expiry, and takes it away after, once', async () => {
    const { ctx, clock, provider } = setup();
    const { grantId, requestId, expiresAt } = await activeGrant(ctx, { durationSeconds: 3600 });

    expect(await revokeGrant(ctx, grantId)).toEqual({ outcome: 'not_due', dueAt: expiresAt });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(true);
    clock.advance(3600);
    expect(await revokeGrant(ctx, grantId)).toMatchObject({ outcome: 'revoked', providerCalled: true, coveredBy: [] });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(false);
    expect(await revokeGrant(ctx, grantId)).toEqual({ outcome: 'nothing', reason: 'the grant is already revoked' });
    expect(provider.callsOf('revoke')).toBe(1);
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).toMatchObject({ state: 'revoked', outcomeReason: 'The access expired.' });
    expect(await actions(requestId)).toEqual(['grant.granted', 'grant.revoked']);
    expect((await verifyAuditChain(testDb.url)).ok).toBe(true);
  });

  it('keeps access that an overlapping grant still covers, and ends it with the last grant', async () => {
    const { ctx, clock, provider } = setup();
    const first = await activeGrant(ctx, { durationSeconds: 3600 });
    clock.advance(1800);
    const second = await activeGrant(ctx, { durationSeconds: 3600 });

    clock.advance(1800); // the first grant expires; the second has half an hour left
    expect(await revokeGrant(ctx, first.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: false, coveredBy: [second.grantId] });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(true);
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id: first.requestId } })).state).toBe('revoked');

    clock.advance(1800);
    expect(await revokeGrant(ctx, second.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: true, coveredBy: [] });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(false);
  });

  it('does not count a grant of another role or another person as covering', async () => {
    const { ctx, clock, provider } = setup();
    const mine = await activeGrant(ctx, { durationSeconds: 600 });
    await activeGrant(ctx, { durationSeconds: 3600, role: 'write' });
    await activeGrant(ctx, { durationSeconds: 3600, principal: 'bob' });
    clock.advance(600);
    expect(await revokeGrant(ctx, mine.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: true });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(false);
    expect(provider.holds(PRINCIPAL, 'write')).toBe(true);
    expect(provider.holds('bob', 'read')).toBe(true);
  });

  it('does not let a revoke interleave with a grant of the same access that is in flight', async () => {
    const { ctx, clock, provider } = setup();
    const first = await activeGrant(ctx, { durationSeconds: 600 });
    clock.advance(600);
    const secondId = await approvedRequest({ durationSeconds: 3600 });
    // The second grant's provider call is held open while the first grant's revocation is due.
    const release = provider.pause('grant');
    const granting = grantAccess(ctx, { requestId: secondId, finalAttempt: false });
    await waitFor(() => provider.callsOf('grant') === 2);
    const revoking = revokeGrant(ctx, first.grantId);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(provider.callsOf('revoke')).toBe(0); // waiting for the access lock
    release();
    await granting;
    expect(await revoking).toMatchObject({ outcome: 'revoked', providerCalled: false });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(true);
  });

  it('never gives up: records each failure, alerts once after the quick retries, and says it was overdue when it succeeds', async () => {
    const { ctx, clock, provider } = setup();
    const { grantId, requestId } = await activeGrant(ctx, { durationSeconds: 600 });
    clock.advance(600);
    provider.failNext('revoke', transient('connection refused'), REVOCATION_ALERT_AFTER_ATTEMPTS + 1);

    const alerts: boolean[] = [];
    for (let attempt = 1; attempt <= REVOCATION_ALERT_AFTER_ATTEMPTS + 1; attempt++) {
      const result = await revokeGrant(ctx, grantId);
      expect(result).toMatchObject({ outcome: 'retry', attempts: attempt, message: 'connection refused' });
      alerts.push(result.outcome === 'retry' && result.alert);
    }
    expect(alerts).toEqual([false, false, false, false, true, false]);
    expect(provider.holds(PRINCIPAL, 'read')).toBe(true);
    clock.advance(3600);
    expect(await listOpenAccess(db, clock.now())).toMatchObject([{ status: 'revocation_overdue', grantId, revokeAttempts: REVOCATION_ALERT_AFTER_ATTEMPTS + 1, lastError: expect.stringMatching(/^The target system could not complete the revocation \(reference [0-9a-f]{8}\)$/) }]);

    expect(await revokeGrant(ctx, grantId)).toMatchObject({ outcome: 'revoked', wasOverdue: true });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(false);
    expect(await listOpenAccess(db, clock.now())).toEqual([]);
    const trail = await actions(requestId);
    expect(trail.filter((action) => action === 'grant.revoke_failed')).toHaveLength(REVOCATION_ALERT_AFTER_ATTEMPTS);
    expect(trail.filter((action) => action === 'grant.revocation_overdue')).toHaveLength(1);
    expect(trail.at(-1)).toBe('grant.revoked');
  });

  it('alerts at the first permanent failure', async () => {
    const { ctx, clock, provider } = setup();
    const { grantId } = await activeGrant(ctx, { durationSeconds: 600 });
    clock.advance(600);
    provider.failNext('revoke', permanent('password authentication failed'));
    expect(await revokeGrant(ctx, grantId)).toMatchObject({ outcome: 'retry', permanent: true, alert: true });
  });

  it('cleans up after a grant that failed on a timeout', async () => {
    const { ctx, provider } = setup();
    const requestId = await approvedRequest();
    provider.failNext('grant', transient('timeout'));
    const failed = await grantAccess(ctx, { requestId, finalAttempt: true });
    if (failed.outcome !== 'failed' || !failed.cleanupGrantId) throw new Error('expected a clean-up grant');
    expect(await revokeGrant(ctx, failed.cleanupGrantId)).toMatchObject({ outcome: 'revoked', providerCalled: true });
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).state).toBe('failed');
  });
});

describe('endAccessEarly', () => {
  it("lets the holder end their access now: the expiry moves to now and the revocation is queued", async () => {
    const { ctx, clock, scheduled } = setup();
    const requestId = await approvedRequest({ durationSeconds: 3600 });
    const granted = await grantAccess(ctx, { requestId, finalAttempt: false });
    clock.advance(60);

    const grantId = (await grantOf(requestId)).id;
    if (granted.outcome !== 'granted') throw new Error('expected a grant');
    // The grant queued its revocation at expiry; ending early queues it again, now.
    expect(scheduled).toEqual([{ grantId, dueAt: granted.expiresAt }]);
    expect(await endAccessEarly(ctx, { requestId, userId: REQUESTER })).toEqual({ ok: true, requestId, grantId, ended: [{ requestId, grantId }] });
    expect(scheduled).toEqual([{ grantId, dueAt: granted.expiresAt }, { grantId: (await grantOf(requestId)).id, dueAt: clock.now() }]);
    expect(await grantOf(requestId)).toMatchObject({ expiresAt: clock.now(), revokeReason: 'ended early by the requester', revokedBySlackId: REQUESTER });
    expect(granted.outcome).toBe('granted');
    expect(await revokeGrant(ctx, (await grantOf(requestId)).id)).toMatchObject({ outcome: 'revoked' });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).toMatchObject({ state: 'revoked', outcomeReason: 'Ended early by the requester.' });
  });

  it('refuses someone who neither holds the access nor is a security admin, and lets an admin', async () => {
    const { ctx } = setup();
    const requestId = await approvedRequest();
    await grantAccess(ctx, { requestId, finalAttempt: false });
    expect(await endAccessEarly(ctx, { requestId, userId: 'U0STRANGER' })).toEqual({
      ok: false,
      refusal: { code: 'not_allowed', message: 'Only the person who holds this access or a security admin named in the policy can end it.' },
    });
    expect(await endAccessEarly(ctx, { requestId, userId: SECURITY_ADMIN })).toMatchObject({ ok: true });
    expect((await grantOf(requestId)).revokeReason).toBe('revoked by a security admin');
  });

  it('revokes at once what a grant in flight gave, when the request was ended meanwhile', async () => {
    const { ctx, provider } = setup();
    const requestId = await approvedRequest({ durationSeconds: 3600 });
    const release = provider.pause('grant');
    const granting = grantAccess(ctx, { requestId, finalAttempt: false });
    await waitFor(() => provider.callsOf('grant') === 1);
    expect(await endAccessEarly(ctx, { requestId, userId: REQUESTER })).toMatchObject({ ok: true });
    release();
    const granted = await granting;
    expect(granted).toMatchObject({ outcome: 'granted' });
    const grant = await grantOf(requestId);
    expect(grant.expiresAt).toEqual(grant.grantedAt);
    // Its one event says so: the access ends as it was granted.
    const events = await db.auditEvent.findMany({ where: { requestId, action: 'grant.granted' } });
    expect(events.map((event) => event.data)).toEqual([expect.objectContaining({ grantId: grant.id, expiresAt: grant.grantedAt!.toISOString(), endedMeanwhile: true })]);
    expect(await revokeGrant(ctx, grant.id)).toMatchObject({ outcome: 'revoked', providerCalled: true });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(false);
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).state).toBe('revoked');
  });
});

async function waitFor(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('more time (requestExtension)', () => {
  /** Live access granted now for `hours`, and a helper to ask for more on it. */
  async function liveAccess(hours = 2) {
    const env = setup();
    const id = await approvedRequest({ durationSeconds: hours * 3600 });
    await grantAccess(env.ctx, { requestId: id, finalAttempt: false });
    const ask = (duration: string, requesterId = REQUESTER, requestId = id) => requestExtension(env.ctx, { requestId, requesterId, duration, reason: 'the migration overran' });
    return { ...env, id, ask };
  }
  const approve = (id: string) => db.accessRequest.update({ where: { id }, data: { state: 'approved' } });

  it('asks the approvers again, and once approved runs on from the current end without a lapse', async () => {
    const { ctx, clock, provider, id, ask } = await liveAccess(2);
    const originalEnd = (await grantOf(id)).expiresAt!;
    clock.advance(3600);
    const asked = await ask('1h');
    if (!asked.ok) throw new Error(JSON.stringify(asked));
    const extension = await db.accessRequest.findUniqueOrThrow({ where: { id: asked.requestId } });
    expect(extension).toMatchObject({ state: 'pending', extendsRequestId: id, durationSeconds: 3600, principal: PRINCIPAL, role: 'read', requiredApprovals: 1 });
    // Undecided by the time the access ends, it expires with it.
    expect(extension.pendingExpiresAt!.getTime()).toBeLessThanOrEqual(originalEnd.getTime());
    expect(await actions(asked.requestId)).toEqual(['request.created']);

    await approve(asked.requestId);
    expect(await grantAccess(ctx, { requestId: asked.requestId, finalAttempt: false })).toMatchObject({
      outcome: 'granted',
      expiresAt: new Date(originalEnd.getTime() + 3600_000),
    });
    // The first grant's expiry leaves the access to the extension: the provider is not asked to revoke.
    clock.advance(3600);
    expect(await revokeGrant(ctx, (await grantOf(id)).id)).toMatchObject({ outcome: 'revoked', providerCalled: false, coveredBy: [(await grantOf(asked.requestId)).id] });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(true);
    clock.advance(3600);
    expect(await revokeGrant(ctx, (await grantOf(asked.requestId)).id)).toMatchObject({ outcome: 'revoked', providerCalled: true });
    expect(provider.holds(PRINCIPAL, 'read')).toBe(false);
  });

  it('refuses more time past the role maximum counted from the first grant', async () => {
    const { ctx, id, ask } = await liveAccess(7);
    const atMost = 'At most 1h more: read may be held for 8h in all.';
    expect(await ask('2h')).toEqual({ ok: false, refusal: { code: 'invalid_input', message: atMost, fields: { duration: atMost } } });
    const first = await ask('1h');
    if (!first.ok) throw new Error(JSON.stringify(first));
    await approve(first.requestId);
    await grantAccess(ctx, { requestId: first.requestId, finalAttempt: false });
    // From the extension's own message, the whole stretch counts.
    expect(await ask('1m', REQUESTER, first.requestId)).toEqual({
      ok: false,
      refusal: {
        code: 'invalid_input',
        message: 'This access already runs for the longest read allows (8h); request it again later.',
        fields: { duration: 'This access already runs for the longest read allows (8h); request it again later.' },
      },
    });
    expect(await db.accessRequest.count({ where: { extendsRequestId: id } })).toBe(1);
  });

  it('holds more time asked before a tightening to the policy in force, at the decision and at the grant', async () => {
    const { ctx, provider, id, ask } = await liveAccess(2);
    const originalEnd = (await grantOf(id)).expiresAt;
    // Asked under an 8h maximum: 2h held + 4h more.
    const asked = await ask('4h');
    if (!asked.ok) throw new Error(JSON.stringify(asked));
    const tightened: AccessContext = { ...ctx, policy: () => testPolicy([testResource({ roles: [{ id: 'read', maxDurationSeconds: 4 * 3600 }] })]) };
    const reason = 'The policy now allows at most 4h of read on Production database; this request asks for 6h in all with the access it extends.';
    expect(await decideRequest(tightened, { requestId: asked.requestId, deciderId: 'U0APPROVER1', decision: 'approve' })).toMatchObject({
      ok: false,
      refusal: { code: 'no_longer_fits' },
      endedRequestId: asked.requestId,
    });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: asked.requestId } })).toMatchObject({ state: 'denied', outcomeReason: reason });

    // Approved just before the reload, granted just after: the grant job refuses it.
    const again = await ask('4h');
    if (!again.ok) throw new Error(JSON.stringify(again));
    await approve(again.requestId);
    expect(await grantAccess(tightened, { requestId: again.requestId, finalAttempt: false })).toMatchObject({ outcome: 'failed', message: reason });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: again.requestId } })).toMatchObject({ state: 'failed' });
    expect(provider.callsOf('grant')).toBe(1);
    expect((await grantOf(id)).expiresAt).toEqual(originalEnd);

    // Asked after the requesters were narrowed: refused at once.
    const narrowed: AccessContext = { ...ctx, policy: () => testPolicy([testResource({ requesters: { everyone: false, users: ['U0SOMEONEELSE'], groups: [] } })]) };
    expect(await requestExtension(narrowed, { requestId: id, requesterId: REQUESTER, duration: '1h', reason: 'the migration overran' })).toEqual({
      ok: false,
      refusal: { code: 'no_longer_fits', message: 'The policy no longer lists you as someone who may ask for Production database, so you cannot ask for more time.' },
    });
  });

  it("checks the holder's Slack account as a new request does: one who has since become a guest, or left, may not ask", async () => {
    const { ctx, users, id, ask } = await liveAccess(2);
    const auditBefore = await db.auditEvent.count();
    const refusals: Array<[string, Partial<SlackAccount>, string]> = [
      ['a guest now', { guest: true }, 'Guests of this Slack workspace cannot request Production database.'],
      ['deactivated', { deleted: true }, 'Your Slack account is deactivated: Latch gives it no access.'],
      ['moved to another workspace', { ofLatchTeam: false }, 'Your Slack account belongs to another workspace or organisation (Slack Connect): Latch gives access only to members of its own workspace.'],
    ];
    for (const [, account, message] of refusals) {
      users.profiles.set(REQUESTER, memberProfile(REQUESTER, 'u0requester@example.com', account));
      const refused = { ok: false, refusal: { code: 'identity_refused', message, detail: { resourceId: 'prod-db' } } };
      // Refused when the button is pressed, before the form opens, and again on submit.
      expect(await checkExtension(ctx, id, REQUESTER)).toEqual(refused);
      expect(await ask('1h')).toEqual(refused);
    }
    // Slack cannot say who they are just now: refused with a "try again", never let through unchecked.
    users.profiles.set(REQUESTER, null);
    expect(await ask('1h')).toEqual({ ok: false, refusal: { code: 'profile_unavailable', message: 'Latch could not read your Slack profile just now; try again in a minute.' } });
    expect(await db.accessRequest.count({ where: { extendsRequestId: id } })).toBe(0);
    expect(await db.auditEvent.count()).toBe(auditBefore);

    // A member of the workspace still may.
    users.profiles.set(REQUESTER, memberProfile(REQUESTER, 'u0requester@example.com'));
    expect(await ask('1h')).toMatchObject({ ok: true });
  });

  it('lets a guest ask for more time on a resource that allows guests', async () => {
    const { ctx, users, id } = await liveAccess(2);
    users.profiles.set(REQUESTER, memberProfile(REQUESTER, 'u0requester@example.com', { guest: true }));
    const guestsWelcome: AccessContext = { ...ctx, policy: () => testPolicy([testResource({ identity: { map: {}, from: 'slack-user-id', template: '{email}', allowGuests: true } })]) };
    const asked = await requestExtension(guestsWelcome, { requestId: id, requesterId: REQUESTER, duration: '1h', reason: 'the migration overran' });
    if (!asked.ok) throw new Error(JSON.stringify(asked));
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: asked.requestId } })).toMatchObject({ state: 'pending', extendsRequestId: id });
  });

  it("lets a machine ask for more time on its access: it has no Slack account to check", async () => {
    const env = setup();
    const machine = 'machine:deploy';
    // Slack knows nothing of a machine: reading its profile would refuse.
    env.users.profiles.set(machine, null);
    const machinesOnly: AccessContext = { ...env.ctx, policy: () => testPolicy([testResource({ requesters: { everyone: false, users: [], groups: [], machines: ['deploy'] } })]) };
    const id = await approvedRequest({ requesterId: machine, principal: 'deploy_bot' });
    await grantAccess(machinesOnly, { requestId: id, finalAttempt: false });
    const asked = await requestExtension(machinesOnly, { requestId: id, requesterId: machine, duration: '30m', reason: 'the deploy overran' });
    if (!asked.ok) throw new Error(JSON.stringify(asked));
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: asked.requestId } })).toMatchObject({ state: 'pending', extendsRequestId: id, principal: 'deploy_bot' });
  });

  it('lets only the holder ask, one request for more time at a time, and only while the access lasts', async () => {
    const { ctx, clock, id, ask } = await liveAccess(1);
    expect(await ask('1h', 'U0SOMEONEELSE')).toEqual({ ok: false, refusal: { code: 'not_allowed', message: 'Only the person who holds this access can ask for more time.' } });
    const [one, two] = await Promise.all([ask('30m'), ask('30m')]);
    expect([one, two].filter((result) => result.ok)).toHaveLength(1);
    expect([one, two].find((result) => !result.ok)).toEqual({ ok: false, refusal: { code: 'already_asked', message: 'You have already asked for more time on this access: wait for that decision.' } });
    await db.accessRequest.updateMany({ where: { extendsRequestId: id }, data: { state: 'denied' } });

    clock.advance(3600);
    await revokeGrant(ctx, (await grantOf(id)).id);
    expect(await ask('30m')).toEqual({ ok: false, refusal: { code: 'already_ended', message: 'This access has already ended: ask for it again with /request-access.' } });
  });

  it('ends the extension with the access when the holder is done, and cancels a request for more time still undecided', async () => {
    const { ctx, clock, scheduled, provider, id, ask } = await liveAccess(2);
    const first = await ask('1h');
    if (!first.ok) throw new Error(JSON.stringify(first));
    await approve(first.requestId);
    await grantAccess(ctx, { requestId: first.requestId, finalAttempt: false });
    const second = await ask('1h', REQUESTER, first.requestId);
    if (!second.ok) throw new Error(JSON.stringify(second));

    clock.advance(600);
    const scheduledBefore = scheduled.length;
    const ended = await endAccessEarly(ctx, { requestId: id, userId: REQUESTER });
    expect(ended).toMatchObject({ ok: true, requestId: id });
    for (const requestId of [id, first.requestId]) {
      expect(await grantOf(requestId)).toMatchObject({ expiresAt: clock.now(), revokeReason: 'ended early by the requester' });
    }
    expect(scheduled.slice(scheduledBefore).map((entry) => entry.grantId).sort()).toEqual([(await grantOf(id)).id, (await grantOf(first.requestId)).id].sort());
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: second.requestId } })).toMatchObject({ state: 'cancelled' });
    // Both grants revoked: the access is gone, whichever revocation runs first.
    await revokeGrant(ctx, (await grantOf(first.requestId)).id);
    await revokeGrant(ctx, (await grantOf(id)).id);
    expect(provider.holds(PRINCIPAL, 'read')).toBe(false);
    expect(provider.callsOf('revoke')).toBeGreaterThanOrEqual(1);
  });
});

describe('access whose resource a reload removed', () => {
  const resourceYaml = (id: string, usergroup: string) => `
  - id: ${id}
    name: ${id}
    provider: { type: slack-usergroup, settings: { usergroup: ${usergroup} } }
    roles: [read]
    maxDuration: 1h
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS`;
  const policyText = (...resources: string[]) => `resources:${resources.join('')}\n`;

  /**
   * Latch as `latch start` wires it: the policy and providers from a PolicySource reading a file.
   * Each target is a memory provider keyed by its settings, so a provider built again from the
   * same settings reaches the same target, as a database or a user group would.
   */
  async function fromPolicyFile() {
    const text = policyText(resourceYaml('prod-db', 'S0DB'), resourceYaml('other', 'S0OTHER'));
    const file = join(mkdtempSync(join(tmpdir(), 'latch-removed-')), 'policy.yaml');
    writeFileSync(file, text);
    const parsed = parsePolicy(text);
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const targets = new Map<string, MemoryProvider>();
    const target = (settings: ProviderSettings) => {
      const key = canonicalJson(settings);
      if (!targets.has(key)) targets.set(key, new MemoryProvider());
      return targets.get(key)!;
    };
    const providersOf = (policy: Policy) => new Map(policy.resources.map((resource) => [resource.id, target(resource.provider)]));
    const env = { buildable: true };
    const source = new PolicySource(
      file,
      { policy: parsed.policy, providers: providersOf(parsed.policy) },
      async (policy) => ({ ok: true as const, providers: providersOf(policy) }),
      createLogger({ level: 'silent' }),
      (settings) => (env.buildable ? { ok: true as const, provider: target(settings) } : { ok: false as const, problems: ['settings: SLACK_BOT_TOKEN is not set'] }),
    );
    const base = testServiceContext(db, parsed.policy);
    const ctx: AccessContext = {
      ...base.ctx,
      policy: () => source.policy,
      providerFor: (resourceId) => source.providers.get(resourceId),
      providerForSettings: (settings) => source.providers.fromSettings(settings),
      locks,
    };
    const dbTarget = target({ type: 'slack-usergroup', settings: { usergroup: 'S0DB' } });
    const removeProdDb = async () => {
      writeFileSync(file, policyText(resourceYaml('other', 'S0OTHER')));
      expect(await source.reload('test')).toMatchObject({ outcome: 'reloaded' });
    };
    return { ...base, ctx, source, env, dbTarget, removeProdDb };
  }

  it('revokes it at expiry through the provider it was granted with, never leaving it orphaned', async () => {
    const { ctx, clock, source, dbTarget, removeProdDb } = await fromPolicyFile();
    try {
      const requestId = await approvedRequest({ durationSeconds: 600 });
      const granted = await grantAccess(ctx, { requestId, finalAttempt: false });
      if (granted.outcome !== 'granted') throw new Error(JSON.stringify(granted));
      const early = await approvedRequest({ durationSeconds: 600, principal: 'bob' });
      const earlyGrant = await grantAccess(ctx, { requestId: early, finalAttempt: false });
      if (earlyGrant.outcome !== 'granted') throw new Error(JSON.stringify(earlyGrant));
      expect(dbTarget.holds(PRINCIPAL, 'read')).toBe(true);
      expect((await grantOf(requestId)).providerSettings).toEqual({ type: 'slack-usergroup', settings: expect.objectContaining({ usergroup: 'S0DB' }) });

      await removeProdDb();
      expect(source.providers.get('prod-db')).toBeUndefined();
      // "I'm done" after the removal: ended now, through the same path.
      expect(await endAccessEarly(ctx, { requestId: early, userId: REQUESTER })).toMatchObject({ ok: true });
      expect(await revokeGrant(ctx, earlyGrant.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: true });
      expect(dbTarget.holds('bob', 'read')).toBe(false);
      // And at expiry.
      clock.advance(600);
      expect(await revokeGrant(ctx, granted.grantId)).toMatchObject({ outcome: 'revoked', providerCalled: true });
      expect(dbTarget.holds(PRINCIPAL, 'read')).toBe(false);
      expect(await db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).toMatchObject({ state: 'revoked' });
    } finally {
      await source.close();
    }
  });

  it('alerts and keeps retrying while no provider can be built for it, and revokes once one can', async () => {
    const { ctx, clock, source, env, dbTarget, removeProdDb } = await fromPolicyFile();
    try {
      const requestId = await approvedRequest({ durationSeconds: 600 });
      const granted = await grantAccess(ctx, { requestId, finalAttempt: false });
      if (granted.outcome !== 'granted') throw new Error(JSON.stringify(granted));
      await removeProdDb();
      env.buildable = false;
      clock.advance(600);
      expect(await revokeGrant(ctx, granted.grantId)).toMatchObject({ outcome: 'retry', permanent: true, alert: true });
      expect(await revokeGrant(ctx, granted.grantId)).toMatchObject({ outcome: 'retry', permanent: true, alert: false });
      expect(dbTarget.holds(PRINCIPAL, 'read')).toBe(true);
      expect(await actions(requestId)).toEqual(['grant.granted', 'grant.revocation_overdue', 'grant.revoke_failed']);
      env.buildable = true;
      expect(await revokeGrant(ctx, granted.grantId)).toMatchObject({ outcome: 'revoked', wasOverdue: true });
      expect(dbTarget.holds(PRINCIPAL, 'read')).toBe(false);
    } finally {
      await source.close();
    }
  });
});
