import { describe, expect, it } from 'vitest';
import { compareWithRows, replayRequest, type ReplayedEvent, type StoredGrant, type StoredRequest } from '../../../src/domain/request-replay.ts';

const T0 = Date.UTC(2026, 11, 3, 9, 0, 0);
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const GRANT = '01930000-0000-7000-8000-00000000000g';
let seq = 0n;
const event = (minutes: number, actor: string, action: string, data: Record<string, unknown> = {}): ReplayedEvent => ({ seq: ++seq, at: at(minutes), actor, action, data });

const created = event(0, 'U0REQ', 'request.created', { resourceId: 'prod-db', role: 'read', principal: 'alice', durationSeconds: 3600, startsAt: null, requiredApprovals: 1, requiredGroups: [] });
const history = [
  created,
  event(1, 'U0APP', 'approval.recorded', { decision: 'approve', comment: null, revision: 1 }),
  event(1, 'U0APP', 'request.approved', { approvers: ['U0APP'] }),
  event(2, 'latch', 'grant.granted', { grantId: GRANT, provider: 'postgres', principal: 'alice', expiresAt: at(62).toISOString(), endedMeanwhile: false }),
  event(10, 'U0REQ', 'grant.end_requested', { grantId: GRANT, reason: 'ended early by the requester' }),
  event(10, 'U0REQ', 'grant.revoked', { grantId: GRANT, reason: 'ended early by the requester' }),
];

function rows(overrides: { request?: Partial<StoredRequest>; grant?: Partial<StoredGrant> | null } = {}) {
  const request: StoredRequest = {
    id: 'R1',
    requesterSlackId: 'U0REQ',
    resourceId: 'prod-db',
    role: 'read',
    principal: 'alice',
    durationSeconds: 3600,
    startsAt: null,
    extendsRequestId: null,
    requiredApprovals: 1,
    requiredGroups: [],
    state: 'revoked',
    breakGlass: false,
    decidedAt: at(1),
    decidedByRule: null,
    reviewedBySlackId: null,
    reviewedAt: null,
    ...overrides.request,
  };
  const approvals = [{ id: 'A1', approverSlackId: 'U0APP', requestRevision: 1, decision: 'approve', comment: null, approverGroups: [], createdAt: at(1) }];
  const grant =
    overrides.grant === null
      ? null
      : { id: GRANT, provider: 'postgres', principal: 'alice', grantedAt: at(2), expiresAt: at(10), revokedAt: at(10), endRequestedAt: at(10), revokedBySlackId: 'U0REQ', ...overrides.grant };
  return { request, approvals, grant };
}

describe('replaying a request’s audit events against its rows', () => {
  it('finds nothing when the rows are what the events say', () => {
    expect(compareWithRows(replayRequest(history), rows())).toEqual([]);
  });

  it('reports a scope written into the row of an unscoped request, or widened on a scoped one', () => {
    expect(compareWithRows(replayRequest(history), rows({ request: { scope: { customer: ['4711'] } } }))).toEqual([
      { table: 'access_requests', id: 'R1', field: 'scope', expected: 'null', found: '{"customer":["4711"]}' },
    ]);
    const scoped = [event(0, 'U0REQ', 'request.created', { ...(created.data as object), scope: { customer: ['4711'], tables: ['public.orders'] } }), ...history.slice(1)];
    // jsonb gives the parameters back in an order of its own: that is no difference.
    expect(compareWithRows(replayRequest(scoped), rows({ request: { scope: { tables: ['public.orders'], customer: ['4711'] } } }))).toEqual([]);
    expect(compareWithRows(replayRequest(scoped), rows({ request: { scope: { customer: ['4711', '4712'], tables: ['public.orders'] } } }))).toMatchObject([
      { table: 'access_requests', field: 'scope', found: '{"customer":["4711","4712"],"tables":["public.orders"]}' },
    ]);
    expect(compareWithRows(replayRequest(scoped), rows({ request: { scope: null } }))).toMatchObject([{ field: 'scope', found: 'null' }]);
  });

  it('names the row and field of a grant whose expiry was moved', () => {
    const later = new Date(at(10).getTime() + 10 * 365 * 86_400_000);
    expect(compareWithRows(replayRequest(history), rows({ grant: { expiresAt: later } }))).toEqual([
      { table: 'grants', id: GRANT, field: 'expiresAt', expected: at(10).toISOString(), found: later.toISOString() },
    ]);
  });

  it('reports a grant moved to another account, which its revocation would then miss', () => {
    expect(compareWithRows(replayRequest(history), rows({ grant: { principal: 'bob' } }))).toEqual([
      { table: 'grants', id: GRANT, field: 'principal', expected: 'alice', found: 'bob' },
    ]);
  });

  it('reports a state, a principal or a review that no event made', () => {
    const mismatches = compareWithRows(replayRequest(history), rows({ request: { state: 'active', principal: 'postgres', reviewedBySlackId: 'U0SEC', reviewedAt: at(3) } }));
    expect(mismatches.map((m) => m.field).sort()).toEqual(['principal', 'reviewedAt', 'reviewedBySlackId', 'state']);
  });

  it('reports an approval row without its event, and a request row without request.created', () => {
    const withoutApproval = history.filter((e) => e.action !== 'approval.recorded');
    expect(compareWithRows(replayRequest(withoutApproval), rows())).toEqual([expect.objectContaining({ table: 'approvals', id: 'A1', field: 'id' })]);
    expect(compareWithRows(replayRequest([]), rows())).toEqual([expect.objectContaining({ table: 'access_requests', id: 'R1', expected: 'a request.created event' })]);
  });

  it('follows an approval by policy (break-glass) and a grant that failed for good', () => {
    const replayed = replayRequest([
      { ...created, data: { ...(created.data as object), breakGlass: true } },
      event(0, 'policy:break-glass', 'request.approved', { rule: 'break-glass' }),
      event(1, 'latch', 'grant.failed', { grantId: GRANT, kind: 'permanent', cleanup: false }),
    ]);
    expect(replayed).toMatchObject({ state: 'failed', decidedByRule: 'break-glass', decidedAt: at(0), asked: { breakGlass: true } });
    expect(replayed.grant).toEqual({ id: GRANT, grantedAt: null, expiresAt: null, revokedAt: at(1), endRequestedAt: null, revokedBySlackId: null, credentialsIssuedAt: null, verifiedRevokedAt: null, effectiveEndLagSeconds: null });
  });

  it('accounts for credentials handed out once, and a claim given back after the target failed', () => {
    const issued = [...history.slice(0, 4), event(3, 'machine:deploy', 'credentials.issued', { grantId: GRANT, user: 'alice' }), ...history.slice(4)];
    expect(replayRequest(issued).grant?.credentialsIssuedAt).toEqual(at(3));
    expect(compareWithRows(replayRequest(issued), rows({ grant: { credentialsIssuedAt: at(3) } }))).toEqual([]);
    // Cleared by hand (to fetch the password again): the row no longer matches its events.
    expect(compareWithRows(replayRequest(issued), rows({ grant: { credentialsIssuedAt: null } }))).toEqual([expect.objectContaining({ table: 'grants', field: 'credentialsIssuedAt' })]);
    // Set without an event: a fetch that was never audited.
    expect(compareWithRows(replayRequest(history), rows({ grant: { credentialsIssuedAt: at(3) } }))).toEqual([expect.objectContaining({ table: 'grants', field: 'credentialsIssuedAt' })]);
    const givenBack = [...issued.slice(0, 5), event(3, 'latch', 'credentials.issue_failed', { grantId: GRANT, kind: 'transient' }), ...issued.slice(5)];
    expect(compareWithRows(replayRequest(givenBack), rows({ grant: { credentialsIssuedAt: null } }))).toEqual([]);
  });

  it('accounts for a revocation verified gone: set only by a grant.revoked event that says verified', () => {
    const verified = history.map((row) => (row.action === 'grant.revoked' ? { ...row, data: { ...(row.data as object), provider: 'postgres', verified: true } } : row));
    expect(replayRequest(verified).grant?.verifiedRevokedAt).toEqual(at(10));
    expect(compareWithRows(replayRequest(verified), rows({ grant: { verifiedRevokedAt: at(10) } }))).toEqual([]);
    // Said verified in the row, but the event says nothing of it (or says unverified): the row lies.
    expect(compareWithRows(replayRequest(history), rows({ grant: { verifiedRevokedAt: at(10) } }))).toEqual([expect.objectContaining({ table: 'grants', field: 'verifiedRevokedAt' })]);
    // Verified by its event, but cleared in the row.
    expect(compareWithRows(replayRequest(verified), rows({ grant: { verifiedRevokedAt: null } }))).toEqual([expect.objectContaining({ table: 'grants', field: 'verifiedRevokedAt' })]);
  });

  it('accounts for the effective end lag the grant.granted event recorded, and none where it recorded none', () => {
    const lagged = history.map((row) => (row.action === 'grant.granted' ? { ...row, data: { ...(row.data as object), effectiveEndLagSeconds: 3600 } } : row));
    expect(replayRequest(lagged).grant?.effectiveEndLagSeconds).toBe(3600);
    expect(compareWithRows(replayRequest(lagged), rows({ grant: { effectiveEndLagSeconds: 3600 } }))).toEqual([]);
    // A row that says sessions outlive the access by more (or less) than the grant recorded.
    expect(compareWithRows(replayRequest(lagged), rows({ grant: { effectiveEndLagSeconds: 60 } }))).toEqual([expect.objectContaining({ table: 'grants', field: 'effectiveEndLagSeconds' })]);
    expect(compareWithRows(replayRequest(history), rows({ grant: { effectiveEndLagSeconds: 3600 } }))).toEqual([expect.objectContaining({ table: 'grants', field: 'effectiveEndLagSeconds' })]);
    expect(compareWithRows(replayRequest(history), rows({ grant: { effectiveEndLagSeconds: null } }))).toEqual([]);
  });
});

describe('an approver narrowing the request as they approve (request.changed)', () => {
  const asked = { ...created, data: { ...(created.data as object), role: 'write', durationSeconds: 7200 } };
  const changedHistory = [
    asked,
    event(1, 'U0APP', 'request.changed', { from: { role: 'write', durationSeconds: 7200 }, role: 'read', durationSeconds: 3600, revision: 2 }),
    event(1, 'U0APP', 'approval.recorded', { decision: 'approve', comment: null, revision: 2 }),
    ...history.slice(2),
  ];
  const changedRows = (request: Partial<StoredRequest> = {}) => {
    const stored = rows({ request });
    return { ...stored, approvals: stored.approvals.map((approval) => ({ ...approval, requestRevision: 2 })) };
  };

  it('expects the rows to hold the narrowed role and duration', () => {
    expect(compareWithRows(replayRequest(changedHistory), changedRows())).toEqual([]);
  });

  it('reports a row widened back to what was asked', () => {
    expect(compareWithRows(replayRequest(changedHistory), changedRows({ role: 'write', durationSeconds: 7200 })).map((m) => m.field).sort()).toEqual(['durationSeconds', 'role']);
  });
});
