import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_AUTO_APPROVAL_LIMITS, type AutoApprovalLimits } from '../../../src/domain/policy.ts';
import { cancelRequest } from '../../../src/services/cancel-request.ts';
import { requestAccess, type RequestAccessResult } from '../../../src/services/request-access.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { testAutoApprovalRule, testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * Auto-approval cannot be chained into standing access (48 forms in 4 s, each 30m starting where
 * the previous one ended, once gave 23 hours of access nobody decided), and one person cannot
 * flood the approvers with pending requests. Real PostgreSQL; requests made concurrently count
 * each other through the per-requester lock.
 */

const REQUESTER = 'U0REQUESTER';
const OTHER = 'U0OTHER';
const MINUTE = 60;
const HOUR = 3600;

let testDb: TestDatabase;
let db: Database;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 12 });
});
afterAll(async () => {
  await db.$disconnect();
  await testDb.drop();
});
beforeEach(async () => {
  await emptyRequestTables(db);
});

/** Auto-approves `read` up to 2h a stretch; limits as given, loose otherwise so each is seen alone. */
function setup(limits: Partial<AutoApprovalLimits> = {}, pendingPerPerson = 100) {
  const rule = testAutoApprovalRule({ name: 'short-reads', roles: ['read'], maxDurationSeconds: 2 * HOUR, limits: { cooldownSeconds: HOUR, maxPerDay: 100, startWithinSeconds: 24 * HOUR, ...limits } });
  const policy = { ...testPolicy([testResource({ autoApprove: [rule] })]), limits: { pendingPerPerson } };
  return testServiceContext(db, policy);
}

type Setup = ReturnType<typeof setup>;

/** 30 minutes of read, starting `startMinute` minutes from now (null: as soon as approved). */
async function ask(ctx: Setup['ctx'], startMinute: number | null, requesterId = REQUESTER, duration = '30m'): Promise<RequestAccessResult> {
  const startsAt = startMinute === null ? null : new Date(ctx.clock.now().getTime() + startMinute * MINUTE * 1000);
  return requestAccess(ctx, { requesterId, resourceId: 'prod-db', role: 'read', duration, reason: 'reading the logs', startsAt });
}

function ok(result: RequestAccessResult) {
  if (!result.ok) throw new Error(JSON.stringify(result.refusal));
  return result;
}

/** The access each auto-approved request books, merged where it touches: the continuous stretches. */
async function autoApprovedStretches(): Promise<Array<{ start: number; end: number }>> {
  const approved = await db.accessRequest.findMany({ where: { state: 'approved', decidedByRule: 'short-reads' } });
  // A start "now" is stored as none: the access starts when it was approved.
  const startOf = (request: (typeof approved)[number]) => (request.startsAt ?? request.decidedAt!).getTime();
  const spans = approved.map((request) => ({ start: startOf(request), end: startOf(request) + request.durationSeconds * 1000 })).sort((a, b) => a.start - b.start);
  const stretches: Array<{ start: number; end: number }> = [];
  for (const span of spans) {
    const last = stretches.at(-1);
    if (last && span.start <= last.end) last.end = Math.max(last.end, span.end);
    else stretches.push({ ...span });
  }
  return stretches;
}

/** The request becomes access held from `grantedAt` for its duration, as the grant job leaves it. */
async function granted(requestId: string, grantedAt: Date) {
  const request = await db.accessRequest.update({ where: { id: requestId }, data: { state: 'active' } });
  await db.grant.create({
    data: { requestId, provider: 'postgres', principal: request.principal!, resourceId: request.resourceId, role: request.role, grantedAt, expiresAt: new Date(grantedAt.getTime() + request.durationSeconds * 1000), grantAttempts: 1 },
  });
}

/** The access ended at its expiry, as the revoke job leaves it. */
async function expired(requestId: string) {
  const grant = await db.grant.findUniqueOrThrow({ where: { requestId } });
  await db.grant.update({ where: { id: grant.id }, data: { revokedAt: grant.expiresAt, revokeReason: 'expired' } });
  await db.accessRequest.update({ where: { id: requestId }, data: { state: 'revoked', endedAt: grant.expiresAt } });
}

describe('auto-approval and the access already held or booked', () => {
  it('breaks the 48-form chain: each continuous stretch within the rule’s 2h, the rest go to the approvers', async () => {
    const { ctx, granted: queued } = setup();
    const results = [];
    for (let i = 0; i < 48; i++) results.push(ok(await ask(ctx, i * 30)));
    const approved = results.flatMap((result, i) => (result.autoApprovedBy ? [i] : []));
    // Four make 2h; the 5th would run over and the 6th start 30m after: people decide those.
    expect(approved.slice(0, 8)).toEqual([0, 1, 2, 3, 6, 7, 8, 9]);
    expect(queued).toHaveLength(approved.length);
    for (const stretch of await autoApprovedStretches()) expect(stretch.end - stretch.start).toBeLessThanOrEqual(2 * HOUR * 1000);
    expect(await db.accessRequest.count({ where: { state: 'pending' } })).toBe(48 - approved.length);
    // Why the rule stood back is on the record.
    const fifth = await db.auditEvent.findFirstOrThrow({ where: { requestId: results[4]!.requestId, action: 'request.created' } });
    expect(fifth.data).toMatchObject({ autoApprovalWithheld: { rule: 'short-reads', because: expect.stringMatching(/would run 2h 30m without a break, over its 2h/) } });
  });

  it('counts every one of 48 forms submitted at once: no continuous stretch over 2h, none closer than the cooldown', async () => {
    const { ctx } = setup();
    const results = (await Promise.all(Array.from({ length: 48 }, (_, i) => ask(ctx, i * 30)))).map(ok);
    const approved = results.filter((result) => result.autoApprovedBy).length;
    expect(approved).toBeGreaterThan(0);
    const stretches = await autoApprovedStretches();
    for (const stretch of stretches) expect(stretch.end - stretch.start).toBeLessThanOrEqual(2 * HOUR * 1000);
    for (let i = 1; i < stretches.length; i++) expect(stretches[i]!.start - stretches[i - 1]!.end).toBeGreaterThanOrEqual(HOUR * 1000);
    expect(await db.accessRequest.count({ where: { state: 'pending' } })).toBe(48 - approved);
  });

  it('holds a burst to the default limits: three at most, none starting more than an hour ahead', async () => {
    const { ctx } = setup(DEFAULT_AUTO_APPROVAL_LIMITS);
    const results = (await Promise.all(Array.from({ length: 48 }, (_, i) => ask(ctx, i * 30)))).map(ok);
    const approved = results.flatMap((result, i) => (result.autoApprovedBy ? [i] : []));
    expect(approved.length).toBeGreaterThan(0);
    expect(approved.length).toBeLessThanOrEqual(3);
    // Starting at 0, 30m or 60m: 90m of access at most, then people decide.
    for (const i of approved) expect(i).toBeLessThanOrEqual(2);
  });

  it('counts access held now, however it was approved, in the stretch', async () => {
    const { ctx, clock } = setup();
    const first = ok(await ask(ctx, null, REQUESTER, '90m'));
    expect(first.autoApprovedBy).toBe('short-reads');
    await granted(first.requestId, clock.now());
    clock.advance(60 * MINUTE);
    // Held until +90m: 30m more from then is a 2h stretch; 31m is not.
    expect(ok(await ask(ctx, 30, REQUESTER, '31m')).autoApprovedBy).toBeNull();
    expect(ok(await ask(ctx, 30, REQUESTER, '30m')).autoApprovedBy).toBe('short-reads');
    // Another person's access is theirs alone.
    expect(ok(await ask(ctx, null, OTHER, '2h')).autoApprovedBy).toBe('short-reads');
  });

  it('waits the cooldown after an auto-approved stretch ends before approving another by itself', async () => {
    const { ctx, clock } = setup();
    const first = ok(await ask(ctx, null));
    await granted(first.requestId, clock.now());
    clock.advance(30 * MINUTE);
    await expired(first.requestId);
    clock.advance(59 * MINUTE);
    const early = ok(await ask(ctx, null));
    expect(early.autoApprovedBy).toBeNull();
    const created = await db.auditEvent.findFirstOrThrow({ where: { requestId: early.requestId, action: 'request.created' } });
    expect(created.data).toMatchObject({ autoApprovalWithheld: { because: expect.stringMatching(/needs 1h between stretches/) } });
    clock.advance(1 * MINUTE);
    expect(ok(await ask(ctx, null)).autoApprovedBy).toBe('short-reads');
  });

  it('approves at most maxPerDay a day for one person, over a rolling 24 hours', async () => {
    const { ctx, clock } = setup({ maxPerDay: 2, cooldownSeconds: MINUTE });
    const byRule = async () => {
      const result = ok(await ask(ctx, null));
      if (result.autoApprovedBy) {
        await granted(result.requestId, clock.now());
        clock.advance(30 * MINUTE);
        await expired(result.requestId);
      }
      clock.advance(MINUTE);
      return result.autoApprovedBy;
    };
    expect(await byRule()).toBe('short-reads');
    expect(await byRule()).toBe('short-reads');
    expect(await byRule()).toBeNull();
    // A minute before the first approval is 24h old, then (byRule moves the clock a minute) at 24h.
    clock.advance(24 * HOUR - 64 * MINUTE);
    expect(await byRule()).toBeNull();
    expect(await byRule()).toBe('short-reads');
  });

  it('approves by itself only access starting within startWithin; a later start goes to the approvers', async () => {
    const { ctx } = setup({ startWithinSeconds: HOUR });
    expect(ok(await ask(ctx, 61)).autoApprovedBy).toBeNull();
    expect(ok(await ask(ctx, 60 + 120)).autoApprovedBy).toBeNull();
    expect(ok(await ask(ctx, 60, OTHER)).autoApprovedBy).toBe('short-reads');
  });
});

describe('pending requests per person', () => {
  const WITHOUT_RULES = () => {
    const set = setup({}, 10);
    set.ctx.policyNow = { ...set.ctx.policyNow, resources: [testResource()] };
    return set;
  };
  const message = 'You already have 10 requests waiting for approvers, the most the policy allows at once. Cancel one you no longer need, or wait for a decision, then ask again.';

  it('refuses the 11th with a clear message, even when 30 arrive at once, and stores nothing for it', async () => {
    const { ctx } = WITHOUT_RULES();
    const results = await Promise.all(Array.from({ length: 30 }, () => ask(ctx, null)));
    expect(results.filter((result) => result.ok)).toHaveLength(10);
    expect(results.filter((result) => !result.ok)).toEqual(Array.from({ length: 20 }, () => ({ ok: false, refusal: { code: 'limit_reached', message, detail: { limit: 10 } } })));
    expect(await db.accessRequest.count({ where: { requesterSlackId: REQUESTER } })).toBe(10);
    expect(await db.auditEvent.count()).toBe(10);
    // Someone else is not held back by it.
    expect(ok(await ask(ctx, null, OTHER)).requestId).toBeTruthy();
  });

  it('accepts a new one once one of the ten is no longer pending', async () => {
    const { ctx } = WITHOUT_RULES();
    const ten = await Promise.all(Array.from({ length: 10 }, async () => ok(await ask(ctx, null)).requestId));
    expect(await ask(ctx, null)).toEqual({ ok: false, refusal: { code: 'limit_reached', message, detail: { limit: 10 } } });
    expect(await cancelRequest(ctx, { requestId: ten[0]!, userId: REQUESTER })).toMatchObject({ ok: true });
    expect((await ask(ctx, null)).ok).toBe(true);
  });

  it('does not count or refuse what an auto-approval rule approves', async () => {
    const { ctx } = setup({}, 1);
    ok(await ask(ctx, null, REQUESTER, '3h'));
    // One pending (3h is over the rule): the next auto-approvable request still passes.
    expect(ok(await ask(ctx, null)).autoApprovedBy).toBe('short-reads');
    expect(await ask(ctx, null, REQUESTER, '3h')).toMatchObject({ ok: false });
  });
});
