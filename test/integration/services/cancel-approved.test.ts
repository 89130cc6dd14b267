import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { cancelRequest } from '../../../src/services/cancel-request.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import { requestAccess } from '../../../src/services/request-access.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { SECURITY_ADMIN, testAutoApprovalRule, testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * An approved request whose access has not started (a later start, often booked by an
 * auto-approval) can be called off by the requester or a security admin: it is cancelled,
 * audited, its queued grant job withdrawn, and the grant job grants nothing for it.
 */

const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';

let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 12 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 4 });
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
  const base = testServiceContext(db, testPolicy([testResource({ autoApprove: [testAutoApprovalRule({ name: 'short-reads', roles: ['read'] })] })]));
  const provider = new MemoryProvider();
  const withdrawn: string[] = [];
  const ctx: AccessContext = {
    ...base.ctx,
    access: { ...base.ctx.access, withdrawGrant: async (requestId) => void withdrawn.push(requestId) },
    providerFor: () => provider,
    locks,
  };
  return { ...base, ctx, provider, withdrawn };
}

/** Auto-approved 30m of read starting in 30 minutes. */
async function bookedAhead(ctx: AccessContext): Promise<string> {
  const startsAt = new Date(ctx.clock.now().getTime() + 30 * 60 * 1000);
  const made = await requestAccess(ctx, { requesterId: REQUESTER, resourceId: 'prod-db', role: 'read', duration: '30m', reason: 'maintenance window', startsAt });
  if (!made.ok || !made.autoApprovedBy) throw new Error(`expected an auto-approval: ${JSON.stringify(made)}`);
  return made.requestId;
}

async function cancelledEvents(requestId: string) {
  return db.auditEvent.findMany({ where: { requestId, action: 'request.cancelled' } });
}

describe('cancelling approved access before it starts', () => {
  it('lets the requester call it off: cancelled, audited, the grant job withdrawn, and nothing granted at the start', async () => {
    const { ctx, clock, provider, withdrawn } = setup();
    const id = await bookedAhead(ctx);
    expect(await cancelRequest(ctx, { requestId: id, userId: REQUESTER })).toEqual({ ok: true, requestId: id });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'cancelled', outcomeReason: 'Cancelled by the requester before access began.' });
    const [event] = await cancelledEvents(id);
    expect(event).toMatchObject({ actor: REQUESTER, data: { wasApproved: true, by: 'requester' } });
    expect(withdrawn).toEqual([id]);
    // A grant job that runs all the same (queued again, or already running) grants nothing.
    clock.advance(31 * 60);
    expect(await grantAccess(ctx, { requestId: id, finalAttempt: false })).toEqual({ outcome: 'skipped', reason: 'the request is cancelled' });
    expect(provider.callsOf('grant')).toBe(0);
    expect(await db.grant.count()).toBe(0);
  });

  it('lets a security admin named in the policy call it off, audited as theirs', async () => {
    const { ctx, provider } = setup();
    const id = await bookedAhead(ctx);
    expect(await cancelRequest(ctx, { requestId: id, userId: SECURITY_ADMIN })).toEqual({ ok: true, requestId: id });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'cancelled', outcomeReason: 'Cancelled by a security admin before access began.' });
    expect((await cancelledEvents(id))[0]).toMatchObject({ actor: SECURITY_ADMIN, data: { by: 'security-admin' } });
    expect(await grantAccess(ctx, { requestId: id, finalAttempt: true })).toMatchObject({ outcome: 'skipped' });
    expect(provider.callsOf('grant')).toBe(0);
  });

  it('refuses anyone else, an approver included, and changes nothing', async () => {
    const { ctx, withdrawn } = setup();
    const id = await bookedAhead(ctx);
    for (const userId of [APPROVER, 'U0STRANGER']) {
      expect(await cancelRequest(ctx, { requestId: id, userId })).toEqual({
        ok: false,
        refusal: { code: 'not_allowed', message: 'Only the person who asked or a security admin named in the policy can cancel approved access.', detail: { state: 'approved' } },
      });
    }
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('approved');
    expect(await cancelledEvents(id)).toEqual([]);
    expect(withdrawn).toEqual([]);
  });

  it('still lets only the requester withdraw a pending request', async () => {
    const { ctx } = setup();
    const made = await requestAccess(ctx, { requesterId: REQUESTER, resourceId: 'prod-db', role: 'write', duration: '30m', reason: 'not covered by the rule' });
    if (!made.ok) throw new Error(JSON.stringify(made.refusal));
    expect(await cancelRequest(ctx, { requestId: made.requestId, userId: SECURITY_ADMIN })).toEqual({ ok: false, refusal: { code: 'not_allowed', message: 'Only the person who asked can cancel a request.', detail: { state: 'pending' } } });
    expect(await cancelRequest(ctx, { requestId: made.requestId, userId: REQUESTER })).toEqual({ ok: true, requestId: made.requestId });
  });

  it('refuses once Latch has begun granting or the access is active: that access is ended instead', async () => {
    const { ctx, clock, provider } = setup();
    const id = await bookedAhead(ctx);
    clock.advance(30 * 60);
    expect(await grantAccess(ctx, { requestId: id, finalAttempt: false })).toMatchObject({ outcome: 'granted' });
    expect(await cancelRequest(ctx, { requestId: id, userId: REQUESTER })).toEqual({ ok: false, refusal: { code: 'not_cancellable', message: 'This request is already active.', detail: { state: 'active' } } });

    // Granting under way (the grant row exists, the provider is at work): too late to cancel.
    // The same rule with looser limits, so a second booking is auto-approved; the grant job holds it
    // to the rule in force, which must still be the one that approved it (stored-request-fit.ts).
    const looser = testAutoApprovalRule({ name: 'short-reads', roles: ['read'], limits: { cooldownSeconds: 0, maxPerDay: 10, startWithinSeconds: 3600 } });
    const second = await bookedAhead({ ...ctx, policy: () => testPolicy([testResource({ autoApprove: [looser] })]) });
    clock.advance(30 * 60 + 1);
    const release = provider.pause('grant');
    const granting = grantAccess(ctx, { requestId: second, finalAttempt: false });
    await expect.poll(() => provider.calls.length).toBe(2);
    expect(await cancelRequest(ctx, { requestId: second, userId: REQUESTER })).toEqual({ ok: false, refusal: { code: 'already_granting', message: 'Latch has already begun granting this access: end it with “I’m done” once it is active.' } });
    release();
    expect(await granting).toMatchObject({ outcome: 'granted' });
  });
});
