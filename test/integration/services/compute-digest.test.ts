import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AUTO_APPROVAL_LIMITS } from '../../../src/domain/policy.ts';
import { computeDigest, isQuiet, type DigestReport } from '../../../src/services/compute-digest.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { decideRequest } from '../../../src/services/decide-request.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import { requestAccess, type RequestAccessInput } from '../../../src/services/request-access.ts';
import { revokeGrant } from '../../../src/services/revoke-grant.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * A known history, and a digest over it that must report what the test counts by hand. The
 * period is 2026-11-25 00:00–06:00 UTC; one decision before it and one request after it must
 * not be counted.
 */
let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;
let report: DigestReport;
/** What wrote the history, for tests that add to it in periods of their own. */
let history: {
  ctx: AccessContext;
  at: (time: string) => void;
  ask: (input: Omit<RequestAccessInput, 'reason' | 'ticket'>) => Promise<string>;
  decide: (requestId: string, decision: 'approve' | 'deny') => Promise<unknown>;
  grant: (requestId: string) => Promise<string>;
};
const SINCE = new Date('2026-11-25T00:00:00Z');
const UNTIL = new Date('2026-11-25T06:00:00Z');

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 6 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 4 });
  const base = testServiceContext(
    db,
    testPolicy([
      testResource({
        identity: { map: {}, from: 'slack-user-id', template: '{email}' },
        autoApprove: [{ name: 'bob-reads', roles: ['read'], maxDurationSeconds: 2 * 3600, requesters: { everyone: false, users: ['U0BOB'], groups: [] }, schedule: null, limits: DEFAULT_AUTO_APPROVAL_LIMITS }],
        breakGlass: { requesters: { everyone: false, users: ['U0CAROL'], groups: [] }, maxDurationSeconds: 4 * 3600, reviewWithinSeconds: 3600, remindEverySeconds: 3600 },
      }),
      testResource({ id: 'vault', name: 'Vault', roles: [{ id: 'admin', maxDurationSeconds: 3600 }] }),
    ]),
  );
  const { clock } = base;
  const ctx: AccessContext = { ...base.ctx, providerFor: () => new MemoryProvider(), locks };
  const at = (time: string) => clock.advance((new Date(time).getTime() - clock.now().getTime()) / 1000);
  const ask = async (input: Omit<RequestAccessInput, 'reason' | 'ticket'>) => {
    const made = await requestAccess(ctx, { reason: 'digest history', ticket: null, ...input });
    if (!made.ok) throw new Error(JSON.stringify(made.refusal));
    return made.requestId;
  };
  const decide = (requestId: string, decision: 'approve' | 'deny') => decideRequest(ctx, { requestId, deciderId: 'U0APPROVER1', decision, comment: decision === 'deny' ? 'no' : null });
  const grant = async (requestId: string) => {
    const granted = await grantAccess(ctx, { requestId, finalAttempt: false });
    if (granted.outcome !== 'granted') throw new Error(JSON.stringify(granted));
    return granted.grantId;
  };

  at('2026-11-24T12:00:00Z');
  const before = await ask({ requesterId: 'U0DAVE', resourceId: 'prod-db', role: 'read', duration: '1h' });
  at('2026-11-24T12:05:00Z');
  await decide(before, 'deny');

  at('2026-11-25T00:00:00Z');
  const r1 = await ask({ requesterId: 'U0ALICE', resourceId: 'prod-db', role: 'read', duration: '1h' });
  at('2026-11-25T00:10:00Z');
  await decide(r1, 'approve');
  const r1Grant = await grant(r1);
  at('2026-11-25T01:15:00Z'); // five minutes after its expiry: late
  await revokeGrant(ctx, r1Grant);
  at('2026-11-25T01:20:00Z');
  const r2 = await ask({ requesterId: 'U0ALICE', resourceId: 'prod-db', role: 'read', duration: '8h' });
  at('2026-11-25T01:50:00Z');
  await decide(r2, 'approve');
  await grant(r2);
  at('2026-11-25T02:00:00Z');
  await grant(await ask({ requesterId: 'U0BOB', resourceId: 'prod-db', role: 'read', duration: '2h' })); // auto-approved; expires 04:00, never revoked
  at('2026-11-25T02:30:00Z');
  const r4 = await ask({ requesterId: 'U0BOB', resourceId: 'vault', role: 'admin', duration: '1h' });
  at('2026-11-25T02:50:00Z');
  await decide(r4, 'deny');
  at('2026-11-25T03:00:00Z');
  await grant(await ask({ requesterId: 'U0CAROL', resourceId: 'prod-db', role: 'read', duration: '3h', breakGlass: true }));
  at('2026-11-25T03:30:00Z');
  await ask({ requesterId: 'U0ALICE', resourceId: 'prod-db', role: 'read', duration: '1h' }); // pending
  at('2026-11-25T07:00:00Z');
  await ask({ requesterId: 'U0ALICE', resourceId: 'prod-db', role: 'read', duration: '1h' }); // after the period

  report = await computeDigest(db, SINCE, UNTIL);
  history = { ctx, at, ask, decide, grant };
});
afterAll(async () => {
  await locks.close();
  await db.$disconnect();
  await testDb.drop();
});

describe('computeDigest', () => {
  it('counts the requests made in the period by the state they are in', () => {
    expect(report.requestsByState).toEqual({ revoked: 1, active: 3, denied: 1, pending: 1 });
    expect(report.requestsTotal).toBe(6);
  });

  it('tells approvals by people from approvals by policy, and counts denials in the period only', () => {
    expect({ people: report.approvedByPeople, policy: report.approvedByPolicy, denied: report.denied }).toEqual({ people: 2, policy: 2, denied: 1 });
  });

  it('lists break-glass use with its review, and the longest access held', () => {
    expect(report.breakGlass).toEqual([expect.objectContaining({ requesterId: 'U0CAROL', resourceId: 'prod-db', role: 'read', reviewedBy: null, at: new Date('2026-11-25T03:00:00Z') })]);
    expect(report.activeGrants).toBe(3);
    expect(report.longestActive.map((grant) => [grant.requesterId, (grant.expiresAt.getTime() - grant.grantedAt.getTime()) / 3600_000])).toEqual([
      ['U0ALICE', 8],
      ['U0CAROL', 3],
      ['U0BOB', 2],
    ]);
  });

  it('counts late revocations, and grants past their expiry at the end of the period', () => {
    expect({ late: report.lateRevocations, failed: report.failedRevocationAttempts, overdue: report.overdueNow }).toEqual({ late: 1, failed: 0, overdue: 1 });
  });

  it('computes time to decision over the decisions people made: 10, 30 and 20 minutes', () => {
    expect(report.decisionLatency).toEqual({ medianSeconds: 1200, p90Seconds: 1680 });
  });

  it('ranks requesters and resources, and anchors the chain head', async () => {
    expect(report.topRequesters).toEqual([{ id: 'U0ALICE', requests: 3 }, { id: 'U0BOB', requests: 2 }, { id: 'U0CAROL', requests: 1 }]);
    expect(report.topResources).toEqual([{ id: 'prod-db', requests: 5 }, { id: 'vault', requests: 1 }]);
    const last = await db.auditEvent.findFirstOrThrow({ orderBy: { seq: 'desc' } });
    expect(report.chainHead).toEqual({ seq: last.seq, hash: last.hash });
    expect(isQuiet(report)).toBe(false);
  });

  it('is quiet for a period in which nothing happened and nothing is held', async () => {
    const quiet = await computeDigest(db, new Date('2026-10-01T00:00:00Z'), new Date('2026-10-02T00:00:00Z'));
    expect(quiet.requestsTotal).toBe(0);
    // Access is still held today, so even an old period's digest is not quiet: it reports it.
    expect(isQuiet(quiet)).toBe(false);
    expect(quiet.activeGrants).toBe(3);
  });

  it('lists open standing-access findings, and not resolved ones', async () => {
    const seen = new Date('2026-11-25T05:00:00Z');
    await db.standingAccessFinding.createMany({
      data: [
        { resourceId: 'prod-db', role: 'read', principal: 'mallory', firstSeenAt: seen, lastSeenAt: seen },
        { resourceId: 'prod-db', role: 'read', principal: 'gone', firstSeenAt: seen, lastSeenAt: seen, resolvedAt: seen },
      ],
    });
    const withFinding = await computeDigest(db, SINCE, UNTIL);
    expect(withFinding.standingAccess).toEqual([{ resourceId: 'prod-db', role: 'read', principal: 'mallory', firstSeenAt: seen }]);
  });

  it('counts a revocation as late once it is more than a minute after the expiry, to the millisecond', async () => {
    const { ctx, at, ask, decide, grant } = history;
    const revokedAfter = async (start: string, lateBy: string) => {
      at(start);
      const requestId = await ask({ requesterId: 'U0DAVE', resourceId: 'vault', role: 'admin', duration: '1h' });
      await decide(requestId, 'approve');
      const grantId = await grant(requestId);
      at(new Date(new Date(start).getTime() + 3600_000 + Number(lateBy) * 1000).toISOString());
      const revoked = await revokeGrant(ctx, grantId);
      if (revoked.outcome !== 'revoked') throw new Error(JSON.stringify(revoked));
    };
    await revokedAfter('2026-11-26T10:00:00Z', '60');
    await revokedAfter('2026-11-26T12:00:00Z', '60.4');
    const day = await computeDigest(db, new Date('2026-11-26T00:00:00Z'), new Date('2026-11-27T00:00:00Z'));
    // 60 s is not more than a minute; 60.4 s is, though its audit event rounds it to 60 s.
    expect(day.lateRevocations).toBe(1);
  });
});
