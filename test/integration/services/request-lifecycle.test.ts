import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { DEFAULT_AUTO_APPROVAL_LIMITS } from '../../../src/domain/policy.ts';
import { auditHash, GENESIS_HASH } from '../../../src/domain/audit-hash.ts';
import { cancelRequest } from '../../../src/services/cancel-request.ts';
import { decideRequest } from '../../../src/services/decide-request.ts';
import { expirePendingRequests } from '../../../src/services/expire-pending-requests.ts';
import { requestAccess } from '../../../src/services/request-access.ts';
import { claimPendingReminders, escalateOverdueRequests } from '../../../src/services/remind-pending-requests.ts';
import { verifyAuditRecords } from '../../../src/services/verify-audit-records.ts';
import { decisionInteractions } from '../../../src/slack/decision-interactions.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';
import { memberProfile, testServiceContext } from '../../helpers/test-services.ts';

const REQUESTER = 'U0REQUESTER';
const [APPROVER1, APPROVER2] = ['U0APPROVER1', 'U0APPROVER2'];

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
  // Audit rows reference requests; this database belongs to this file alone.
  await emptyRequestTables(db);
});

function setup(required = 1) {
  return testServiceContext(db, testPolicy([testResource({ approvers: { users: [APPROVER1, APPROVER2, REQUESTER], groups: ['S0DBAS'], required, oneFrom: [] } })]));
}

const draft = { requesterId: REQUESTER, resourceId: 'prod-db', role: 'read', duration: '2h', reason: 'incident 4711', ticket: 'INC-4711' };

async function newRequest(ctx: ReturnType<typeof setup>['ctx']) {
  const result = await requestAccess(ctx, draft);
  if (!result.ok) throw new Error(JSON.stringify(result.refusal));
  return result.requestId;
}

async function auditActions(requestId: string) {
  return (await db.auditEvent.findMany({ where: { requestId }, orderBy: { seq: 'asc' } })).map((e) => e.action);
}

describe('requestAccess', () => {
  it('stores a pending request with its audit event, its expiry and the policy version', async () => {
    const { ctx, clock } = setup(2);
    const id = await newRequest(ctx);
    const stored = await db.accessRequest.findUniqueOrThrow({ where: { id } });
    expect(stored).toMatchObject({
      state: 'pending',
      requesterSlackId: REQUESTER,
      resourceId: 'prod-db',
      role: 'read',
      durationSeconds: 7200,
      reason: 'incident 4711',
      ticket: 'INC-4711',
      requiredApprovals: 2,
      policyVersion: 'test-policy-v1',
      approvalChannelId: 'C0APPROVALS',
      pendingExpiresAt: new Date(clock.now().getTime() + 24 * 3600 * 1000),
    });
    expect(await auditActions(id)).toEqual(['request.created']);
  });

  it('refuses bad input field by field and stores nothing', async () => {
    const { ctx } = setup();
    const result = await requestAccess(ctx, { ...draft, role: 'write', duration: '3h', reason: '  ' });
    expect(result).toEqual({
      ok: false,
      refusal: {
        code: 'invalid_input',
        message: 'At most 1h for write on Production database. Say why you need this access.',
        fields: { duration: 'At most 1h for write on Production database.', reason: 'Say why you need this access.' },
      },
    });
    expect(await db.accessRequest.count()).toBe(0);
    expect(await db.auditEvent.count()).toBe(0);
  });

  it('refuses someone the policy does not list as a requester, and accepts them through a group', async () => {
    const { ctx, groups } = setup();
    ctx.policyNow = testPolicy([testResource({ requesters: { everyone: false, users: [], groups: ['S0ENGINEERS'] } })]);
    const refused = await requestAccess(ctx, draft);
    const notListed = 'You may not request access to Production database: the policy does not list you as a requester.';
    expect(refused).toEqual({ ok: false, refusal: { code: 'invalid_input', message: notListed, fields: { resource: notListed } } });
    groups.members.set('S0ENGINEERS', [REQUESTER]);
    expect((await requestAccess(ctx, draft)).ok).toBe(true);
  });
});

describe('requestAccess: who gets the access', () => {
  const emailIdentity = testResource({ identity: { map: { U0MAPPED: 'svc_mapped' }, from: 'email', template: '{localpart}', domains: ['example.com'] } });

  it('records the principal from the requester’s Slack email, as the policy’s template says', async () => {
    const { ctx, users } = setup();
    ctx.policyNow = testPolicy([emailIdentity]);
    users.profiles.set(REQUESTER, memberProfile(REQUESTER, 'Grace.Hopper@example.com'));
    const result = await requestAccess(ctx, draft);
    if (!result.ok) throw new Error(JSON.stringify(result.refusal));
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: result.requestId } })).toMatchObject({ principal: 'grace.hopper' });
    const [created] = await db.auditEvent.findMany({ where: { requestId: result.requestId } });
    expect(created!.data).toMatchObject({ principal: 'grace.hopper' });
  });

  it('prefers the explicit map', async () => {
    const { ctx } = setup();
    ctx.policyNow = testPolicy([emailIdentity]);
    const result = await requestAccess(ctx, { ...draft, requesterId: 'U0MAPPED' });
    expect(result.ok && (await db.accessRequest.findUniqueOrThrow({ where: { id: result.requestId } })).principal).toBe('svc_mapped');
  });

  it('refuses, when asked, someone Latch cannot map, and stores nothing', async () => {
    const { ctx, users } = setup();
    ctx.policyNow = testPolicy([emailIdentity]);
    users.profiles.set(REQUESTER, memberProfile(REQUESTER));
    expect(await requestAccess(ctx, draft)).toEqual({
      ok: false,
      refusal: { code: 'identity_refused', message: 'Latch cannot tell who you are on Production database: your Slack profile shows no email address.', detail: { resourceId: 'prod-db' } },
    });
    users.profiles.set(REQUESTER, null);
    expect(await requestAccess(ctx, draft)).toEqual({
      ok: false,
      refusal: { code: 'profile_unavailable', message: 'Latch could not read your Slack profile just now; try again in a minute.' },
    });
    expect(await db.accessRequest.count()).toBe(0);
  });
});

describe('decideRequest', () => {
  it('approves 2-of-2 only after two distinct approvers, and hands the request on to be granted', async () => {
    const { ctx, granted } = setup(2);
    const id = await newRequest(ctx);
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' })).toEqual({ ok: true, outcome: 'recorded', requestId: id });
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('pending');
    expect(granted).toEqual([]);
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER2, decision: 'approve' })).toEqual({ ok: true, outcome: 'approved', requestId: id });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'approved', decidedAt: expect.any(Date) });
    expect(granted).toEqual([id]);
    expect(await auditActions(id)).toEqual(['request.created', 'approval.recorded', 'approval.recorded', 'request.approved']);
  });

  it('counts both votes when two approvers decide at the same instant, and approves once', async () => {
    for (let round = 0; round < 8; round++) {
      const { ctx, granted } = setup(2);
      const id = await newRequest(ctx);
      const outcomes = await Promise.all([APPROVER1, APPROVER2].map((deciderId) => decideRequest(ctx, { requestId: id, deciderId, decision: 'approve' })));
      expect(outcomes.map((outcome) => (outcome.ok ? outcome.outcome : outcome.refusal.code)).sort()).toEqual(['approved', 'recorded']);
      expect((await db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('approved');
      expect(granted).toEqual([id]);
      expect((await auditActions(id)).sort()).toEqual(['approval.recorded', 'approval.recorded', 'request.approved', 'request.created']);
    }
  });

  it('counts a vote recorded between another decision’s read and its write, and approves once', async () => {
    const { ctx, granted } = setup(2);
    const id = await newRequest(ctx);
    // APPROVER2 decides, whole, after APPROVER1's decision has read the request (its approver
    // check looks up groups) and before it is written.
    let second: Awaited<ReturnType<typeof decideRequest>> | undefined;
    const interleaving = {
      ...ctx,
      groups: {
        memberGroups: async (userId: string, groups: readonly string[]) => {
          if (userId === APPROVER1 && !second) second = await decideRequest(ctx, { requestId: id, deciderId: APPROVER2, decision: 'approve' });
          return ctx.groups.memberGroups(userId, groups);
        },
      },
    };
    expect(await decideRequest(interleaving, { requestId: id, deciderId: APPROVER1, decision: 'approve' })).toEqual({ ok: true, outcome: 'approved', requestId: id });
    expect(second).toEqual({ ok: true, outcome: 'recorded', requestId: id });
    expect(await db.approval.count({ where: { requestId: id } })).toBe(2);
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('approved');
    expect(granted).toEqual([id]);
    expect(await auditActions(id)).toEqual(['request.created', 'approval.recorded', 'approval.recorded', 'request.approved']);
    const approved = await db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'request.approved' } });
    expect(approved).toMatchObject({ actor: APPROVER1, data: { approvers: [APPROVER2, APPROVER1] } });
  });

  it('counts a vote committed while a decision waits for the request’s row', async () => {
    const { ctx, granted } = setup(2);
    const id = await newRequest(ctx);
    // Another transaction holds the row; the decision, read before it, waits on it to write.
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM access_requests WHERE id = $1 FOR UPDATE', [id]);
      const deciding = decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' });
      await waitForRowLockWaiter(holder);
      // Meanwhile APPROVER2's vote commits, and writes the row as every vote does.
      await holder.query(
        `INSERT INTO approvals (id, request_id, request_revision, approver_slack_id, decision, approver_groups, created_at)
         VALUES (gen_random_uuid(), $1, 1, $2, 'approve', '{}', now())`,
        [id, APPROVER2],
      );
      await holder.query('UPDATE access_requests SET updated_at = now() WHERE id = $1', [id]);
      await holder.query('COMMIT');
      // The write finds the row changed, so the decision is made again with that vote counted.
      expect(await deciding).toEqual({ ok: true, outcome: 'approved', requestId: id });
    } finally {
      holder.release();
    }
    expect(await db.approval.count({ where: { requestId: id } })).toBe(2);
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('approved');
    expect(granted).toEqual([id]);
    const approved = await db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'request.approved' } });
    expect(approved.data).toMatchObject({ approvers: [APPROVER2, APPROVER1] });
  });

  it('never lets the requester decide, even when the policy names them as an approver', async () => {
    const { ctx } = setup();
    const id = await newRequest(ctx);
    expect(await decideRequest(ctx, { requestId: id, deciderId: REQUESTER, decision: 'approve' })).toEqual({
      ok: false,
      refusal: { code: 'own_request', message: 'You cannot decide your own request.' },
    });
    expect(await db.approval.count()).toBe(0);
  });

  it('refuses a non-approver, and accepts a member of an approver group', async () => {
    const { ctx, groups } = setup();
    const id = await newRequest(ctx);
    expect(await decideRequest(ctx, { requestId: id, deciderId: 'U0STRANGER', decision: 'approve' })).toMatchObject({
      ok: false,
      refusal: { code: 'not_approver', message: 'You are not an approver for Production database.' },
    });
    groups.members.set('S0DBAS', ['U0STRANGER']);
    expect(await decideRequest(ctx, { requestId: id, deciderId: 'U0STRANGER', decision: 'approve' })).toMatchObject({ ok: true, outcome: 'approved' });
  });

  it('records one decision for a double click', async () => {
    const { ctx } = setup(2);
    const id = await newRequest(ctx);
    await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' });
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' })).toMatchObject({ ok: false, refusal: { code: 'already_decided' } });
    expect(await db.approval.count({ where: { requestId: id } })).toBe(1);
  });

  it('records one decision and one state change when the same click arrives many times at once', async () => {
    const { ctx, granted } = setup(1);
    const id = await newRequest(ctx);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(await db.approval.count({ where: { requestId: id } })).toBe(1);
    expect(granted).toEqual([id]);
    expect((await auditActions(id)).filter((a) => a === 'request.approved')).toHaveLength(1);
  });

  it('lets only one of two approvers who click at the same instant decide a 1-of-2 request', async () => {
    const { ctx } = setup(1);
    const id = await newRequest(ctx);
    const [a, b] = await Promise.all([
      decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' }),
      decideRequest(ctx, { requestId: id, deciderId: APPROVER2, decision: 'deny', comment: 'no' }),
    ]);
    expect([a, b].filter((r) => r.ok)).toHaveLength(1);
    expect([a, b].find((r) => !r.ok)).toMatchObject({ refusal: { code: 'not_pending' } });
    expect(await db.approval.count({ where: { requestId: id } })).toBe(1);
  });

  it('denies on one deny, keeping the reason', async () => {
    const { ctx, granted } = setup(2);
    const id = await newRequest(ctx);
    await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' });
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER2, decision: 'deny', comment: 'use the replica' })).toMatchObject({ outcome: 'denied' });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'denied', outcomeReason: 'use the replica' });
    expect(granted).toEqual([]);
  });

  it('does not count votes cast on an earlier revision of the request', async () => {
    const { ctx } = setup(2);
    const id = await newRequest(ctx);
    await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' });
    // An edit or an extension bumps the revision: what approvers saw is no longer what is asked.
    await db.accessRequest.update({ where: { id }, data: { revision: 2, durationSeconds: 4 * 3600 } });
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER2, decision: 'approve' })).toMatchObject({ outcome: 'recorded' });
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER2, decision: 'approve', revision: 1 })).toMatchObject({ ok: false });
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve', revision: 1 })).toMatchObject({ ok: false, refusal: { code: 'stale', detail: { shown: 1, current: 2 } } });
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve', revision: 2 })).toMatchObject({ outcome: 'approved' });
  });

  it('refuses a decision on a request that does not exist or is not an id', async () => {
    const { ctx } = setup();
    for (const requestId of ['0190f0e2-0000-7000-8000-000000000001', 'not-a-uuid']) {
      expect(await decideRequest(ctx, { requestId, deciderId: APPROVER1, decision: 'approve' })).toEqual({ ok: false, refusal: { code: 'not_found', message: 'This request no longer exists.' } });
    }
  });
});

describe('policy rules at decision time', () => {
  it('approves a request an auto-approval rule covers at once, naming the rule, and hands it on to be granted', async () => {
    const { ctx, granted, groups, clock } = setup();
    ctx.policyNow = testPolicy([
      testResource({
        autoApprove: [{ name: 'sre-reads', roles: ['read'], maxDurationSeconds: 2 * 3600, requesters: { everyone: false, users: [], groups: ['S0SRE'] }, schedule: null, limits: DEFAULT_AUTO_APPROVAL_LIMITS }],
      }),
    ]);
    // Not in the rule's group: people decide.
    const byPeople = await requestAccess(ctx, draft);
    expect(byPeople).toMatchObject({ ok: true, autoApprovedBy: null });
    groups.members.set('S0SRE', [REQUESTER]);
    const byRule = await requestAccess(ctx, draft);
    if (!byRule.ok) throw new Error(JSON.stringify(byRule.refusal));
    expect(byRule.autoApprovedBy).toBe('sre-reads');
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: byRule.requestId } })).toMatchObject({ state: 'approved', decidedByRule: 'sre-reads', decidedAt: clock.now() });
    expect(granted).toEqual([byRule.requestId]);
    const events = await db.auditEvent.findMany({ where: { requestId: byRule.requestId }, orderBy: { seq: 'asc' } });
    expect(events.map((e) => [e.action, e.actor])).toEqual([['request.created', REQUESTER], ['request.approved', 'policy:sre-reads']]);
    // Longer than the rule allows: back to people.
    expect(await requestAccess(ctx, { ...draft, duration: '3h' })).toMatchObject({ ok: true, autoApprovedBy: null });
  });

  it('needs one approval from the named group: two approvals without it leave the request pending', async () => {
    const { ctx, groups, granted } = setup();
    ctx.policyNow = testPolicy([testResource({ approvers: { users: [APPROVER1, APPROVER2], groups: ['S0SECURITY'], required: 2, oneFrom: ['S0SECURITY'] } })]);
    groups.members.set('S0SECURITY', ['U0SECLEAD']);
    const id = await newRequest(ctx);
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ requiredApprovals: 2, requiredGroups: ['S0SECURITY'] });
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' })).toMatchObject({ outcome: 'recorded' });
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER2, decision: 'approve' })).toMatchObject({ outcome: 'recorded' });
    expect(granted).toEqual([]);
    expect(await decideRequest(ctx, { requestId: id, deciderId: 'U0SECLEAD', decision: 'approve' })).toMatchObject({ outcome: 'approved' });
    expect(granted).toEqual([id]);
    const lead = await db.approval.findFirstOrThrow({ where: { requestId: id, approverSlackId: 'U0SECLEAD' } });
    expect(lead.approverGroups).toEqual(['S0SECURITY']);
  });
});

describe('a reloaded policy binds requests already waiting for a decision', () => {
  const approvers = { users: [APPROVER1, APPROVER2], groups: [], required: 1, oneFrom: [] };

  // What each test changed, the events account for: `latch audit verify` finds the rows as they say.
  afterEach(async () => {
    const records = await verifyAuditRecords(db, { signingSecret: null, interactions: decisionInteractions });
    expect(records.mismatches).toEqual([]);
  });

  /** A pending request made under `before`, then the policy reloaded to `after`. */
  async function queuedThenReloaded(after: Parameters<typeof testResource>[0], before: Parameters<typeof testResource>[0] = {}, asked = draft) {
    const env = setup();
    env.ctx.policyNow = testPolicy([testResource({ approvers, ...before })]);
    const result = await requestAccess(env.ctx, asked);
    if (!result.ok) throw new Error(JSON.stringify(result.refusal));
    env.ctx.policyNow = { ...testPolicy([testResource({ approvers, ...before, ...after })]), version: 'test-policy-v2' };
    return { ...env, id: result.requestId };
  }

  async function lastEvent(id: string) {
    const event = await db.auditEvent.findFirstOrThrow({ where: { requestId: id }, orderBy: { seq: 'desc' } });
    return { action: event.action, actor: event.actor, data: event.data };
  }

  it.each([
    {
      label: 'the role was removed',
      asked: { ...draft, role: 'write', duration: '1h' },
      after: { roles: [{ id: 'read', maxDurationSeconds: 8 * 3600 }] },
      code: 'role_removed',
      reason: 'The policy no longer offers write on Production database.',
    },
    {
      label: 'its maximum was lowered',
      asked: draft,
      after: { roles: [{ id: 'read', maxDurationSeconds: 3600 }] },
      code: 'duration_over_maximum',
      reason: 'The policy now allows at most 1h of read on Production database; this request asks for 2h.',
    },
    {
      label: 'the requesters were narrowed',
      asked: draft,
      after: { requesters: { everyone: false as const, users: [], groups: ['S0ONCALL'] } },
      code: 'requester_not_allowed',
      reason: 'The policy no longer lists the requester as someone who may ask for Production database.',
    },
  ])('refuses an approval after $label, and closes the request, audited, with the reason for its requester', async ({ asked, after, code, reason }) => {
    const { ctx, granted, id } = await queuedThenReloaded(after, {}, asked);
    const result = await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' });
    expect(result).toEqual({
      ok: false,
      refusal: { code: 'no_longer_fits', message: `This request can no longer be approved: ${reason} It has been closed and the requester told.`, detail: { fit: code, ended: true } },
      endedRequestId: id,
    });
    expect(granted).toEqual([]);
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'denied', outcomeReason: reason });
    expect(await db.approval.count({ where: { requestId: id } })).toBe(0);
    expect(await lastEvent(id)).toEqual({ action: 'request.denied', actor: 'latch', data: { code, reason, policyVersion: 'test-policy-v2', attemptedBy: APPROVER1 } });
    // Closed for good: a second click changes nothing.
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER2, decision: 'approve' })).toMatchObject({ ok: false, refusal: { code: 'not_pending', detail: { state: 'denied' } } });
  });

  it('closes a request whose resource left the policy at the first click on it', async () => {
    const env = setup();
    env.ctx.policyNow = testPolicy([testResource({ approvers })]);
    const id = await newRequest(env.ctx);
    env.ctx.policyNow = testPolicy([testResource({ id: 'other-db', approvers })]);
    expect(await decideRequest(env.ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' })).toMatchObject({ ok: false, refusal: { code: 'no_longer_fits' }, endedRequestId: id });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'denied', outcomeReason: 'The policy no longer has the resource prod-db.' });
    expect(env.granted).toEqual([]);
  });

  it('does not count an earlier approval by someone the policy no longer names as an approver', async () => {
    const { ctx, granted } = setup();
    ctx.policyNow = testPolicy([testResource({ approvers: { ...approvers, required: 2 } })]);
    const id = await newRequest(ctx);
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' })).toMatchObject({ ok: true, outcome: 'recorded' });
    // Reloaded: APPROVER1 is no longer an approver; U0APPROVER3 is.
    ctx.policyNow = testPolicy([testResource({ approvers: { users: [APPROVER2, 'U0APPROVER3'], groups: [], required: 2, oneFrom: [] } })]);
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER2, decision: 'approve' })).toEqual({ ok: true, outcome: 'recorded', requestId: id });
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('pending');
    expect(granted).toEqual([]);
    expect(await decideRequest(ctx, { requestId: id, deciderId: 'U0APPROVER3', decision: 'approve' })).toEqual({ ok: true, outcome: 'approved', requestId: id });
    expect(granted).toEqual([id]);
  });

  it('asks for the approvals the policy now requires when it requires more than when the request was made', async () => {
    const { ctx, granted, id } = await queuedThenReloaded({ approvers: { ...approvers, required: 2 } });
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' })).toEqual({ ok: true, outcome: 'recorded', requestId: id });
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'pending', requiredApprovals: 2 });
    expect(granted).toEqual([]);
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER2, decision: 'approve' })).toMatchObject({ outcome: 'approved' });
  });

  it('never approves a request past its decision time, although the expiry sweep has not run', async () => {
    const { ctx, clock, granted } = setup();
    const id = await newRequest(ctx);
    clock.advance(24 * 3600);
    const result = await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'approve' });
    expect(result).toEqual({
      ok: false,
      refusal: {
        code: 'no_longer_fits',
        message: 'This request can no longer be approved: nobody decided in time, so it has expired. The requester has been told.',
        detail: { fit: 'pending_timeout_passed', ended: true },
      },
      endedRequestId: id,
    });
    expect(granted).toEqual([]);
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'expired', outcomeReason: 'Nobody decided in time.' });
    expect(await auditActions(id)).toEqual(['request.created', 'request.expired']);
    // The sweep, when it runs, finds nothing more to do.
    expect(await expirePendingRequests(ctx)).toEqual([]);
  });

  it('lets a denial through after a tightening, but past the decision time the request expires instead', async () => {
    const { ctx, clock, id } = await queuedThenReloaded({ roles: [{ id: 'read', maxDurationSeconds: 3600 }] });
    expect(await decideRequest(ctx, { requestId: id, deciderId: APPROVER1, decision: 'deny', comment: 'no' })).toMatchObject({ ok: true, outcome: 'denied' });
    const asked = await requestAccess(ctx, { ...draft, duration: '1h' });
    if (!asked.ok) throw new Error(JSON.stringify(asked.refusal));
    const late = asked.requestId;
    clock.advance(24 * 3600);
    expect(await decideRequest(ctx, { requestId: late, deciderId: APPROVER1, decision: 'deny', comment: 'no' })).toMatchObject({ ok: false, refusal: { code: 'no_longer_fits' }, endedRequestId: late });
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id: late } })).state).toBe('expired');
  });
});

describe('reminders and escalation', () => {
  const reminding = () =>
    testPolicy([testResource({ approvers: { users: [APPROVER1], groups: [], required: 1, oneFrom: [] }, reminders: { afterSeconds: 3600, escalateAfterSeconds: 4 * 3600, escalateTo: ['S0LEADS'] } })]);

  it('reminds once per hour of waiting, never about a decided request', async () => {
    const { ctx, clock } = setup();
    ctx.policyNow = reminding();
    const waiting = await newRequest(ctx);
    const decided = await newRequest(ctx);
    await decideRequest(ctx, { requestId: decided, deciderId: APPROVER1, decision: 'approve' });
    clock.advance(3599);
    expect(await claimPendingReminders(ctx)).toEqual([]);
    clock.advance(1);
    expect(await claimPendingReminders(ctx)).toEqual([waiting]);
    // Two workers sweeping at once: one reminder.
    clock.advance(3600);
    const [a, b] = await Promise.all([claimPendingReminders(ctx), claimPendingReminders(ctx)]);
    expect([...a, ...b]).toEqual([waiting]);
    clock.advance(1800);
    expect(await claimPendingReminders(ctx)).toEqual([]);
  });

  it('escalates once after four hours, audited, and lets the escalation group decide only from then on', async () => {
    const { ctx, clock, groups } = setup();
    ctx.policyNow = reminding();
    groups.members.set('S0LEADS', ['U0LEAD']);
    const id = await newRequest(ctx);
    expect(await decideRequest(ctx, { requestId: id, deciderId: 'U0LEAD', decision: 'approve' })).toMatchObject({ ok: false, refusal: { code: 'not_approver' } });
    clock.advance(4 * 3600 - 1);
    expect(await escalateOverdueRequests(ctx)).toEqual([]);
    clock.advance(1);
    const [first, second] = await Promise.all([escalateOverdueRequests(ctx), escalateOverdueRequests(ctx)]);
    expect([...first, ...second]).toEqual([id]);
    expect(await escalateOverdueRequests(ctx)).toEqual([]);
    expect(await auditActions(id)).toEqual(['request.created', 'request.escalated']);
    expect(await decideRequest(ctx, { requestId: id, deciderId: 'U0LEAD', decision: 'approve' })).toMatchObject({ ok: true, outcome: 'approved' });
  });
});

describe('cancelRequest and expirePendingRequests', () => {
  it('lets only the requester cancel, and only while pending', async () => {
    const { ctx } = setup();
    const id = await newRequest(ctx);
    expect(await cancelRequest(ctx, { requestId: id, userId: APPROVER1 })).toEqual({ ok: false, refusal: { code: 'not_allowed', message: 'Only the person who asked can cancel a request.', detail: { state: 'pending' } } });
    expect(await cancelRequest(ctx, { requestId: id, userId: REQUESTER })).toEqual({ ok: true, requestId: id });
    expect(await cancelRequest(ctx, { requestId: id, userId: REQUESTER })).toEqual({ ok: false, refusal: { code: 'not_cancellable', message: 'This request is already cancelled.', detail: { state: 'cancelled' } } });
    expect(await auditActions(id)).toEqual(['request.created', 'request.cancelled']);
  });

  it('expires what nobody decided in time, once, and leaves the rest', async () => {
    const { ctx, clock } = setup();
    const old = await newRequest(ctx);
    clock.advance(12 * 3600);
    const fresh = await newRequest(ctx);
    const decided = await newRequest(ctx);
    await decideRequest(ctx, { requestId: decided, deciderId: APPROVER1, decision: 'approve' });
    clock.advance(12 * 3600);
    expect(await expirePendingRequests(ctx)).toEqual([old]);
    expect(await expirePendingRequests(ctx)).toEqual([]);
    expect((await db.accessRequest.findUniqueOrThrow({ where: { id: fresh } })).state).toBe('pending');
    expect(await db.accessRequest.findUniqueOrThrow({ where: { id: old } })).toMatchObject({ state: 'expired', outcomeReason: 'Nobody decided in time.' });
    expect(await auditActions(old)).toEqual(['request.created', 'request.expired']);
  });
});

describe('the audit trail these use cases write', () => {
  it('is one unbroken hash chain, even when requests are made concurrently', async () => {
    const { ctx } = setup(2);
    await Promise.all(Array.from({ length: 10 }, () => newRequest(ctx)));
    const events = await db.auditEvent.findMany({ orderBy: { seq: 'asc' } });
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i + 1)));
    let prevHash = GENESIS_HASH;
    for (const event of events) {
      expect(event.prevHash).toBe(prevHash);
      expect(auditHash({ ...event, data: event.data })).toBe(event.hash);
      prevHash = event.hash;
    }
  });
});

/**
 * Until another session of this database waits for a row lock `holder` has (polled; no deadline but
 * the test's). Asked from the holder's transaction, which sees activity as of each fresh snapshot.
 */
async function waitForRowLockWaiter(holder: pg.PoolClient): Promise<void> {
  for (;;) {
    // Statistics views are read once per transaction unless cleared.
    await holder.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await holder.query<{ waiting: number }>(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE '%UPDATE access_requests%'`,
    );
    if (rows[0]!.waiting > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
