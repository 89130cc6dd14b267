import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { permanent } from '../../../src/providers/provider.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { announceMissedRequests } from '../../../src/services/announce-missed-requests.ts';
import { cancelRequest } from '../../../src/services/cancel-request.ts';
import { decideRequest } from '../../../src/services/decide-request.ts';
import { endAccessEarly } from '../../../src/services/end-access-early.ts';
import { expirePendingRequests } from '../../../src/services/expire-pending-requests.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import type { LatchEvent } from '../../../src/services/latch-events.ts';
import { requestAccess } from '../../../src/services/request-access.ts';
import { requestExtension } from '../../../src/services/request-extension.ts';
import { reviewBreakGlass } from '../../../src/services/review-break-glass.ts';
import { revokeGrant } from '../../../src/services/revoke-grant.ts';
import { sendReminders } from '../../../src/services/send-reminders.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { SECURITY_ADMIN, testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * Every state-changing use case says what happened through ctx.events, after its commit, and says
 * nothing when it refuses; a publisher that fails changes nothing that was stored.
 */

const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';

let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 8 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 2 });
});
afterAll(async () => {
  await locks.close();
  await db.$disconnect();
  await testDb.drop();
});
beforeEach(async () => {
  await emptyRequestTables(db);
});

function setup(resource = testResource()) {
  const base = testServiceContext(db, testPolicy([resource]));
  const provider = new MemoryProvider();
  const scheduled: Array<{ grantId: string; dueAt: Date }> = [];
  // What the request row says when the event arrives, read on another connection: only a committed change shows.
  const seen: Array<{ event: LatchEvent; state: string | null }> = [];
  const ctx: AccessContext = {
    ...base.ctx,
    access: { requestGrant: async (id) => void base.granted.push(id), scheduleRevocation: async (grantId, dueAt) => void scheduled.push({ grantId, dueAt }) },
    events: {
      publish: async (event) => {
        await base.events.publish(event);
        const requestId = 'requestId' in event ? event.requestId : null;
        const row = requestId ? await db.accessRequest.findUnique({ where: { id: requestId }, select: { state: true } }) : null;
        seen.push({ event, state: row?.state ?? null });
      },
    },
    providerFor: () => provider,
    locks,
  };
  return { ...base, ctx, provider, scheduled, seen };
}

const draft = { requesterId: REQUESTER, resourceId: 'prod-db', role: 'read', duration: '2h', reason: 'incident 4711', ticket: null };

async function ask(ctx: AccessContext): Promise<string> {
  const made = await requestAccess(ctx, draft);
  if (!made.ok) throw new Error(JSON.stringify(made.refusal));
  return made.requestId;
}

describe('what the request use cases publish', () => {
  it('a request, once stored; a refused one, nothing', async () => {
    const { ctx, events, seen } = setup();
    expect(await requestAccess(ctx, { ...draft, reason: ' ' })).toMatchObject({ ok: false });
    expect(events.published).toEqual([]);
    const requestId = await ask(ctx);
    expect(seen).toEqual([{ event: { type: 'request.created', requestId }, state: 'pending' }]);
  });

  it('a vote while more are needed, then the decision; nothing for someone who may not decide', async () => {
    const { ctx, events, seen } = setup(testResource({ approvers: { users: [APPROVER, 'U0APPROVER2'], groups: [], required: 2, oneFrom: [] } }));
    const requestId = await ask(ctx);
    events.clear();
    seen.length = 0;
    expect(await decideRequest(ctx, { requestId, deciderId: 'U0STRANGER', decision: 'approve' })).toMatchObject({ ok: false, refusal: { code: 'not_approver' } });
    expect(events.published).toEqual([]);
    await decideRequest(ctx, { requestId, deciderId: APPROVER, decision: 'approve' });
    await decideRequest(ctx, { requestId, deciderId: 'U0APPROVER2', decision: 'approve' });
    expect(seen).toEqual([
      { event: { type: 'vote.recorded', requestId }, state: 'pending' },
      { event: { type: 'request.decided', requestId, outcome: 'approved' }, state: 'approved' },
    ]);
  });

  it('a denial, and a request the policy in force closed instead of recording the vote', async () => {
    const { ctx, events } = setup();
    const denied = await ask(ctx);
    const unfit = await ask(ctx);
    events.clear();
    await decideRequest(ctx, { requestId: denied, deciderId: APPROVER, decision: 'deny', comment: 'no' });
    const narrowed: AccessContext = { ...ctx, policy: () => testPolicy([testResource({ roles: [{ id: 'write', maxDurationSeconds: 3600 }] })]) };
    expect(await decideRequest(narrowed, { requestId: unfit, deciderId: APPROVER, decision: 'approve' })).toMatchObject({ ok: false, endedRequestId: unfit });
    expect(events.published).toEqual([
      { type: 'request.decided', requestId: denied, outcome: 'denied' },
      { type: 'request.decided', requestId: unfit, outcome: 'denied' },
    ]);
  });

  it('a cancellation; nothing when someone else tries', async () => {
    const { ctx, events } = setup();
    const requestId = await ask(ctx);
    events.clear();
    expect(await cancelRequest(ctx, { requestId, userId: 'U0STRANGER' })).toMatchObject({ ok: false });
    expect(events.published).toEqual([]);
    await cancelRequest(ctx, { requestId, userId: REQUESTER });
    expect(events.published).toEqual([{ type: 'request.cancelled', requestId }]);
  });

  it('the sweeps: expiries, requests never announced, reminders and escalations, each once', async () => {
    const { ctx, clock, events } = setup(testResource({ reminders: { afterSeconds: 3600, escalateAfterSeconds: 4 * 3600, escalateTo: ['S0LEADS'] } }));
    const requestId = await ask(ctx);
    events.clear();
    clock.advance(4 * 3600);
    await sendReminders(ctx);
    await sendReminders(ctx);
    expect(await announceMissedRequests(ctx)).toEqual([requestId]);
    expect(events.published).toEqual([
      { type: 'request.escalated', requestId },
      { type: 'reminder.due', requestId },
      { type: 'request.unannounced', requestId },
    ]);
    events.clear();
    clock.advance(24 * 3600);
    await expirePendingRequests(ctx);
    await expirePendingRequests(ctx);
    expect(events.ofType('request.expired')).toEqual([{ type: 'request.expired', requestId }]);
  });
});

describe('what granting and revoking publish, and what they queue', () => {
  async function approved(ctx: AccessContext): Promise<string> {
    const requestId = await ask(ctx);
    await decideRequest(ctx, { requestId, deciderId: APPROVER, decision: 'approve' });
    return requestId;
  }

  it('a grant queues its own revocation at expiry, then says the access exists; the revocation says it ended', async () => {
    const { ctx, clock, events, scheduled, seen } = setup();
    const requestId = await approved(ctx);
    events.clear();
    seen.length = 0;
    const granted = await grantAccess(ctx, { requestId, finalAttempt: false });
    if (granted.outcome !== 'granted') throw new Error(JSON.stringify(granted));
    expect(scheduled).toEqual([{ grantId: granted.grantId, dueAt: granted.expiresAt }]);
    expect(seen).toEqual([{ event: { type: 'access.granted', requestId, grantId: granted.grantId }, state: 'active' }]);
    expect(await grantAccess(ctx, { requestId, finalAttempt: false })).toMatchObject({ outcome: 'skipped' });
    expect(events.published).toHaveLength(1);

    clock.advance(2 * 3600);
    await revokeGrant(ctx, granted.grantId);
    expect(seen.at(-1)).toEqual({ event: { type: 'access.ended', requestId, grantId: granted.grantId }, state: 'revoked' });
  });

  it('a failed grant says so; a revocation that keeps failing alerts once, and says when it is done', async () => {
    const { ctx, clock, events, provider } = setup();
    const failing = await approved(ctx);
    provider.failNext('grant', permanent('no such role'));
    await grantAccess(ctx, { requestId: failing, finalAttempt: false });
    expect(events.ofType('grant.failed')).toEqual([{ type: 'grant.failed', requestId: failing }]);

    const requestId = await approved(ctx);
    const granted = await grantAccess(ctx, { requestId, finalAttempt: false });
    if (granted.outcome !== 'granted') throw new Error(JSON.stringify(granted));
    clock.advance(2 * 3600);
    provider.failNext('revoke', permanent('target refused'), 2);
    await revokeGrant(ctx, granted.grantId);
    await revokeGrant(ctx, granted.grantId);
    expect(events.ofType('revocation.overdue')).toEqual([{ type: 'revocation.overdue', requestId, grantId: granted.grantId }]);
    await revokeGrant(ctx, granted.grantId);
    expect(events.published.slice(-2)).toEqual([
      { type: 'access.ended', requestId, grantId: granted.grantId },
      { type: 'revocation.recovered', requestId, grantId: granted.grantId },
    ]);
  });

  it('ending access early says so for each request it ends; more time asked is a new request', async () => {
    const { ctx, events } = setup();
    const requestId = await approved(ctx);
    await grantAccess(ctx, { requestId, finalAttempt: false });
    expect(await requestExtension(ctx, { requestId, requesterId: 'U0STRANGER', duration: '1h', reason: 'more' })).toMatchObject({ ok: false });
    const more = await requestExtension(ctx, { requestId, requesterId: REQUESTER, duration: '1h', reason: 'the migration overran' });
    if (!more.ok) throw new Error(JSON.stringify(more));
    expect(events.published.at(-1)).toEqual({ type: 'request.created', requestId: more.requestId });
    events.clear();
    await endAccessEarly(ctx, { requestId, userId: REQUESTER });
    expect(events.published.map((event) => event.type)).toEqual(['access.end_requested', 'access.end_requested']);
    expect(new Set(events.published.map((event) => ('requestId' in event ? event.requestId : null)))).toEqual(new Set([requestId, more.requestId]));
  });

  it('a break-glass review, by someone who may; nothing for the person who used it', async () => {
    const { ctx, events } = setup(testResource({ breakGlass: { requesters: { everyone: true }, maxDurationSeconds: 3600, reviewWithinSeconds: 3600, remindEverySeconds: 600 } }));
    const made = await requestAccess(ctx, { ...draft, duration: '1h', breakGlass: true });
    if (!made.ok) throw new Error(JSON.stringify(made.refusal));
    events.clear();
    expect(await reviewBreakGlass(ctx, { requestId: made.requestId, userId: REQUESTER })).toMatchObject({ ok: false });
    expect(events.published).toEqual([]);
    await reviewBreakGlass(ctx, { requestId: made.requestId, userId: SECURITY_ADMIN });
    expect(events.published).toEqual([{ type: 'break_glass.reviewed', requestId: made.requestId }]);
  });
});

describe('a publisher that fails', () => {
  it('undoes nothing: the request, the decision and the queued grant stand, and nothing is retried', async () => {
    const { ctx, events, granted } = setup();
    events.failing = true;
    const requestId = await ask(ctx);
    expect(await decideRequest(ctx, { requestId, deciderId: APPROVER, decision: 'approve' })).toEqual({ ok: true, outcome: 'approved', requestId });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).toMatchObject({ state: 'approved' });
    expect(granted).toEqual([requestId]);
    expect(events.published.map((event) => event.type)).toEqual(['request.created', 'request.decided']);
    const done = await grantAccess(ctx, { requestId, finalAttempt: false });
    expect(done).toMatchObject({ outcome: 'granted' });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).toMatchObject({ state: 'active' });
  });
});
