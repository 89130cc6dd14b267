import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cancelRequest } from '../../../src/services/cancel-request.ts';
import { checkDecider, decideRequest } from '../../../src/services/decide-request.ts';
import { endAccessEarly } from '../../../src/services/end-access-early.ts';
import { requestAccess } from '../../../src/services/request-access.ts';
import { reviewBreakGlass } from '../../../src/services/review-break-glass.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { SECURITY_ADMIN, testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * The codes of the main refusals, one shape for every use case: `{ ok: false, refusal: { code,
 * message, detail?, fields? } }`. The codes are what logs and callers rely on; the messages are
 * the ones people already see.
 */
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';
const STRANGER = 'U0STRANGER';
const UNKNOWN_ID = '0190f0e2-0000-7000-8000-000000000009';
const breakGlass = { requesters: { everyone: true as const }, maxDurationSeconds: 3600, reviewWithinSeconds: 3600, remindEverySeconds: 600 };

let testDb: TestDatabase;
let db: Database;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 4 });
});
afterAll(async () => {
  await db.$disconnect();
  await testDb.drop();
});
beforeEach(() => emptyRequestTables(db));

const setup = () => testServiceContext(db, testPolicy([testResource({ breakGlass })]));
const draft = { requesterId: REQUESTER, resourceId: 'prod-db', role: 'read', duration: '2h', reason: 'incident 4711', ticket: null };

async function pending(ctx: ReturnType<typeof setup>['ctx'], asBreakGlass = false): Promise<string> {
  const made = await requestAccess(ctx, asBreakGlass ? { ...draft, duration: '1h', breakGlass: true } : draft);
  if (!made.ok) throw new Error(JSON.stringify(made.refusal));
  return made.requestId;
}

describe('requestAccess', () => {
  it('a bad duration: invalid_input, the message on its field', async () => {
    const { ctx } = setup();
    expect(await requestAccess(ctx, { ...draft, duration: '30s' })).toEqual({
      ok: false,
      refusal: { code: 'invalid_input', message: 'A duration must be at least one minute.', fields: { duration: 'A duration must be at least one minute.' } },
    });
    expect(await db.accessRequest.count()).toBe(0);
  });
});

describe('deciding', () => {
  it('own_request, not_approver, not_pending and not_found, before the form and at the decision', async () => {
    const { ctx } = setup();
    const id = await pending(ctx);
    expect(await checkDecider(ctx, id, REQUESTER, 'approve')).toEqual({ ok: false, refusal: { code: 'own_request', message: 'You cannot decide your own request.' } });
    expect(await checkDecider(ctx, id, STRANGER, 'approve')).toEqual({ ok: false, refusal: { code: 'not_approver', message: 'You are not an approver for Production database.' } });
    expect(await decideRequest(ctx, { requestId: id, deciderId: STRANGER, decision: 'deny', comment: 'no' })).toMatchObject({ ok: false, refusal: { code: 'not_approver' } });
    expect(await cancelRequest(ctx, { requestId: id, userId: REQUESTER })).toMatchObject({ ok: true });
    expect(await checkDecider(ctx, id, APPROVER, 'approve')).toEqual({ ok: false, refusal: { code: 'not_pending', message: 'This request is already cancelled.', detail: { state: 'cancelled' } } });
    expect(await checkDecider(ctx, UNKNOWN_ID, APPROVER, 'approve')).toEqual({ ok: false, refusal: { code: 'not_found', message: 'This request no longer exists.' } });
  });
});

describe('reviewing break-glass use', () => {
  it('not_break_glass, own_request, not_allowed, then already_reviewed once reviewed', async () => {
    const { ctx } = setup();
    const ordinary = await pending(ctx);
    expect(await reviewBreakGlass(ctx, { requestId: ordinary, userId: SECURITY_ADMIN })).toEqual({ ok: false, refusal: { code: 'not_break_glass', message: 'This is not a break-glass request.' } });
    expect(await reviewBreakGlass(ctx, { requestId: UNKNOWN_ID, userId: SECURITY_ADMIN })).toMatchObject({ ok: false, refusal: { code: 'not_found' } });
    const used = await pending(ctx, true);
    expect(await reviewBreakGlass(ctx, { requestId: used, userId: REQUESTER })).toEqual({
      ok: false,
      refusal: { code: 'own_request', message: 'Someone other than the person who used break-glass must review it.' },
    });
    expect(await reviewBreakGlass(ctx, { requestId: used, userId: STRANGER })).toEqual({
      ok: false,
      refusal: { code: 'not_allowed', message: 'Only a security admin or an approver of this resource can review break-glass use.' },
    });
    expect(await reviewBreakGlass(ctx, { requestId: used, userId: SECURITY_ADMIN })).toEqual({ ok: true, requestId: used });
    expect(await reviewBreakGlass(ctx, { requestId: used, userId: APPROVER })).toMatchObject({
      ok: false,
      refusal: { code: 'already_reviewed', message: `This break-glass use was already reviewed by <@${SECURITY_ADMIN}>.`, detail: { reviewedAt: expect.any(String) } },
    });
  });
});

describe('ending access early', () => {
  it('not_found, not_allowed, and not_active for a request still waiting', async () => {
    const { ctx } = setup();
    const id = await pending(ctx);
    expect(await endAccessEarly(ctx, { requestId: UNKNOWN_ID, userId: REQUESTER })).toMatchObject({ ok: false, refusal: { code: 'not_found' } });
    expect(await endAccessEarly(ctx, { requestId: id, userId: STRANGER })).toMatchObject({ ok: false, refusal: { code: 'not_allowed' } });
    expect(await endAccessEarly(ctx, { requestId: id, userId: REQUESTER })).toEqual({
      ok: false,
      refusal: { code: 'not_active', message: 'This access is not active: the request is pending.', detail: { state: 'pending' } },
    });
  });
});

describe('a database that is down', () => {
  it('is an error, not a refusal: no use case says the request no longer exists', async () => {
    const down = createDatabase({ databaseUrl: 'postgresql://latch@127.0.0.1:1/latch', poolSize: 1 });
    const { ctx } = testServiceContext(down, testPolicy([testResource({ breakGlass })]));
    try {
      await expect(decideRequest(ctx, { requestId: UNKNOWN_ID, deciderId: APPROVER, decision: 'approve' })).rejects.toThrow();
      await expect(cancelRequest(ctx, { requestId: UNKNOWN_ID, userId: REQUESTER })).rejects.toThrow();
      await expect(endAccessEarly(ctx, { requestId: UNKNOWN_ID, userId: REQUESTER })).rejects.toThrow();
      await expect(reviewBreakGlass(ctx, { requestId: UNKNOWN_ID, userId: SECURITY_ADMIN })).rejects.toThrow();
    } finally {
      await down.$disconnect();
    }
  });
});
