import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approverGroupsOf, type ApproverHealth } from '../../../src/domain/approver-health.ts';
import type { ResourcePolicy } from '../../../src/domain/policy.ts';
import { computeApproverHealth } from '../../../src/services/compute-approver-health.ts';
import { decideRequest } from '../../../src/services/decide-request.ts';
import { expirePendingRequests } from '../../../src/services/expire-pending-requests.ts';
import { requestAccess, type RequestAccessInput } from '../../../src/services/request-access.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { testAutoApprovalRule, testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * The approver health PostgreSQL computes, over a history written through the use cases with a
 * clock the test moves: what counts and what does not (denials, auto-approvals, a vote on a
 * revision approved twice, decisions outside the period), and a resource a reload removed.
 * The period is 2026-11-25 00:00–06:00 UTC.
 */
const SINCE = new Date('2026-11-25T00:00:00Z');
const UNTIL = new Date('2026-11-25T06:00:00Z');
const [ANA, BEN, CARL] = ['U0ANA', 'U0BEN', 'U0CARL'];

let testDb: TestDatabase;
let db: Database;
let resources: ResourcePolicy[];
let health: ApproverHealth;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 6 });
  resources = [
    // Two approvals, so a change by one approver restarts the votes on a new revision.
    testResource({ id: 'prod-db', approvers: { users: [ANA, BEN, CARL], groups: [], required: 2, oneFrom: [] } }),
    testResource({ id: 'vault', approvers: { users: [ANA, BEN, CARL], groups: [], required: 1, oneFrom: [] }, autoApprove: [testAutoApprovalRule({ name: 'reads', roles: ['read'] })], pendingTimeoutSeconds: 3600 }),
    testResource({ id: 'old-db', approvers: { users: [ANA, BEN], groups: [], required: 1, oneFrom: [] }, pendingTimeoutSeconds: 3600 }),
  ];
  const { ctx, clock } = testServiceContext(db, testPolicy(resources));
  const at = (time: string) => clock.advance((new Date(time).getTime() - clock.now().getTime()) / 1000);
  const ask = async (input: Omit<RequestAccessInput, 'reason' | 'ticket'>) => {
    const made = await requestAccess(ctx, { reason: 'approver health', ticket: null, ...input });
    if (!made.ok) throw new Error(JSON.stringify(made.refusal));
    return made.requestId;
  };
  const decide = async (requestId: string, deciderId: string, decision: 'approve' | 'deny', change?: { role: string | null; durationSeconds: number }) => {
    const decided = await decideRequest(ctx, { requestId, deciderId, decision, comment: decision === 'deny' ? 'no' : null, ...(change ? { change, revision: 1 } : {}) });
    if (!decided.ok) throw new Error(JSON.stringify(decided.refusal));
  };

  // Before the period: Ben approves Ana's request quickly. Neither the speed nor the pair counts.
  at('2026-11-24T23:00:00Z');
  const before = await ask({ requesterId: ANA, resourceId: 'vault', role: 'write', duration: '1h' });
  at('2026-11-24T23:00:02Z');
  await decide(before, BEN, 'approve');

  // prod-db, two approvals. Ana approves Carl's request 4 s in; Ben approves it with a shorter
  // duration (a new revision, 10 min in), and Ana approves the new revision too: one request for her.
  at('2026-11-25T00:00:00Z');
  const carls = await ask({ requesterId: CARL, resourceId: 'prod-db', role: 'write', duration: '1h' });
  at('2026-11-25T00:00:04Z');
  await decide(carls, ANA, 'approve');
  at('2026-11-25T00:10:00Z');
  await decide(carls, BEN, 'approve', { role: null, durationSeconds: 1800 });
  at('2026-11-25T00:30:00Z');
  await decide(carls, ANA, 'approve'); // decided: 30 min after the request

  // vault: Carl approves Ana's request 2 s in; Ben denies Carl's after 40 min (a decision, not an approval).
  at('2026-11-25T01:00:00Z');
  const anas = await ask({ requesterId: ANA, resourceId: 'vault', role: 'write', duration: '1h' });
  at('2026-11-25T01:00:02Z');
  await decide(anas, CARL, 'approve');
  const denied = await ask({ requesterId: CARL, resourceId: 'vault', role: 'write', duration: '1h' });
  at('2026-11-25T01:40:02Z');
  await decide(denied, BEN, 'deny');
  // Auto-approved by the policy: no person decided it, so it is in no approver's figures.
  await ask({ requesterId: BEN, resourceId: 'vault', role: 'read', duration: '1h' });

  // old-db: Ana approves Ben's request after 6 s (not quick at 5 s); one request expires there, one at vault.
  at('2026-11-25T02:00:00Z');
  const bens = await ask({ requesterId: BEN, resourceId: 'old-db', role: 'read', duration: '1h' });
  at('2026-11-25T02:00:06Z');
  await decide(bens, ANA, 'approve');
  await ask({ requesterId: CARL, resourceId: 'old-db', role: 'read', duration: '1h' });
  await ask({ requesterId: CARL, resourceId: 'vault', role: 'write', duration: '1h' });
  at('2026-11-25T03:30:00Z');
  expect(await expirePendingRequests(ctx)).toHaveLength(2);

  // After the period: Ben approves Carl's request at once. Not counted.
  at('2026-11-25T07:00:00Z');
  const after = await ask({ requesterId: CARL, resourceId: 'vault', role: 'write', duration: '1h' });
  await decide(after, BEN, 'approve');

  // A reload removed old-db since: its figures stay, under a group that says so.
  health = await computeApproverHealth(db, { resources: resources.filter((resource) => resource.id !== 'old-db'), since: SINCE, until: UNTIL, rubberStampUnderSeconds: 5 });
});
afterAll(async () => {
  await db?.$disconnect();
  await testDb?.drop();
});

describe('computeApproverHealth', () => {
  it("gives each approver group's time to decision over the decisions people made in the period, slowest first", () => {
    const [prodDb, vault] = approverGroupsOf(resources);
    expect(health.decisionTimes).toEqual([
      // vault: 2 s and 40 min: the median is halfway, p90 nine tenths of the way (2160.2 s).
      { group: vault, decisions: 2, medianSeconds: 1201, p90Seconds: expect.closeTo(2 + 0.9 * 2398, 6) },
      // prod-db: Carl's request, decided 30 min after it was made.
      { group: prodDb, decisions: 1, medianSeconds: 1800, p90Seconds: 1800 },
      { group: { key: 'removed:old-db', approvers: null, resourceIds: ['old-db'] }, decisions: 1, medianSeconds: 6, p90Seconds: 6 },
    ]);
  });

  it('counts the approvals each person gave within the threshold, once per request, denials and rules left out', () => {
    // Ana: Carl's (4 s, approved again later: still one request) and Ben's (6 s: not quick). Carl: Ana's at 2 s.
    expect(health.quickApprovers).toEqual([
      { approverId: CARL, quick: 1, approvals: 1 },
      { approverId: ANA, quick: 1, approvals: 2 },
    ]);
  });

  it('pairs the people who approved each other in the period, and nobody else', () => {
    // Ana approved Carl's and Ben's; Carl approved Ana's; Ben approved Carl's (with changes). Ben
    // approved Ana's only before the period, and nobody approved Ben's but Ana.
    expect(health.mutualApprovals).toEqual([{ people: [ANA, CARL], approvals: [1, 1] }]);
  });

  it('counts the requests that expired undecided per approver group, a removed resource under its own', () => {
    expect(health.expiredUndecided.total).toBe(2);
    expect(health.expiredUndecided.byGroup.map((entry) => [entry.group.key.startsWith('removed:') ? entry.group.key : entry.group.resourceIds, entry.total, entry.resources])).toEqual([
      [['vault'], 1, [{ resourceId: 'vault', requests: 1 }]],
      ['removed:old-db', 1, [{ resourceId: 'old-db', requests: 1 }]],
    ]);
  });

  it('has nothing to say for a period in which approvers did nothing', async () => {
    const quiet = await computeApproverHealth(db, { resources, since: new Date('2026-10-01T00:00:00Z'), until: new Date('2026-10-02T00:00:00Z'), rubberStampUnderSeconds: 10 });
    expect(quiet).toEqual({ rubberStampUnderSeconds: 10, decisionTimes: [], quickApprovers: [], mutualApprovals: [], expiredUndecided: { total: 0, byGroup: [] } });
  });
});
