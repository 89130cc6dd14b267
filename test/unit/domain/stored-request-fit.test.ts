import { describe, expect, it } from 'vitest';
import { DEFAULT_AUTO_APPROVAL_LIMITS, sameProviderSettings, type ResourcePolicy } from '../../../src/domain/policy.ts';
import { checkStoredRequest, decisionDeadline, groupsToCheck, type StoredRequest } from '../../../src/domain/stored-request-fit.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

const HOUR = 3600;
const created = new Date('2026-11-24T09:00:00Z');
const now = new Date('2026-11-24T10:00:00Z');
const none = new Set<string>();

/** A pending request for 2h of read on prod-db, asked an hour ago, needing one approval. */
function stored(overrides: Partial<StoredRequest> = {}): StoredRequest {
  return {
    requesterSlackId: 'U0REQUESTER',
    resourceId: 'prod-db',
    role: 'read',
    durationSeconds: 2 * HOUR,
    breakGlass: false,
    decidedByRule: null,
    requiredApprovals: 1,
    requiredGroups: [],
    createdAt: created,
    pendingExpiresAt: new Date(created.getTime() + 24 * HOUR * 1000),
    decidedAt: null,
    ...overrides,
  };
}

const check = (resource: ResourcePolicy | null, request: StoredRequest, extra: Partial<Parameters<typeof checkStoredRequest>[2]> = {}) =>
  checkStoredRequest(testPolicy(resource ? [resource] : []), request, { moment: 'decision', now, requesterGroups: none, ...extra });

describe('checkStoredRequest with scopes', () => {
  const scopedRead = {
    id: 'read',
    maxDurationSeconds: 4 * HOUR,
    scopes: [{ name: 'customer', pattern: '[0-9]+', values: null, minValues: 1, maxValues: 3 }],
    moreApprovers: [{ when: { customer: { moreThan: 1 } }, add: 1, oneFrom: ['S0SECURITY'] }],
  };

  it('holds the stored scope to the role in force, and adds the approvers its scope needs now', () => {
    expect(check(testResource({ roles: [scopedRead] }), stored({ scope: { customer: ['4711', '4712'] } }))).toMatchObject({ fits: true, requiredApprovals: 2, requiredGroups: ['S0SECURITY'] });
    expect(check(testResource({ roles: [scopedRead] }), stored({ scope: { customer: ['4711'] } }))).toMatchObject({ fits: true, requiredApprovals: 1, requiredGroups: [] });
  });

  it('refuses a request whose role became scoped, whose scope the policy narrowed away, or whose scope cannot be read', () => {
    expect(check(testResource({ roles: [scopedRead] }), stored())).toMatchObject({ fits: false, code: 'scope_not_allowed' });
    const narrowed = { ...scopedRead, scopes: [{ ...scopedRead.scopes[0]!, maxValues: 1 }], moreApprovers: [] };
    expect(check(testResource({ roles: [narrowed] }), stored({ scope: { customer: ['4711', '4712'] } }))).toEqual({
      fits: false,
      code: 'scope_not_allowed',
      message: 'The policy no longer allows this scope of read on Production database: At most 1 value of customer (2 given).',
    });
    expect(check(testResource(), stored({ scope: { customer: ['4711'] } }))).toMatchObject({ fits: false, code: 'scope_not_allowed' });
    expect(check(testResource({ roles: [scopedRead] }), stored({ scope: { customer: 4711 } }))).toMatchObject({ fits: false, code: 'scope_not_allowed' });
  });

  it('withdraws an auto-approval once the policy asks more approvers for its scope', () => {
    const resource = testResource({ roles: [scopedRead], autoApprove: [{ name: 'quick', roles: null, maxDurationSeconds: null, requesters: { everyone: true }, schedule: null, limits: DEFAULT_AUTO_APPROVAL_LIMITS }] });
    expect(check(resource, stored({ decidedByRule: 'quick', decidedAt: now, scope: { customer: ['4711'] } }), { moment: 'grant' })).toMatchObject({ fits: true });
    expect(check(resource, stored({ decidedByRule: 'quick', decidedAt: now, scope: { customer: ['4711', '4712'] } }), { moment: 'grant' })).toMatchObject({ fits: false, code: 'auto_approval_withdrawn' });
  });
});

describe('checkStoredRequest', () => {
  it('lets a request that still fits through, with the resource and role in force', () => {
    const fit = check(testResource(), stored());
    expect(fit).toMatchObject({ fits: true, requiredApprovals: 1, requiredGroups: [] });
    expect(fit.fits && fit.role.id).toBe('read');
  });

  it.each([
    { label: 'the resource is gone', resource: null, code: 'resource_removed', message: 'The policy no longer has the resource prod-db.' },
    {
      label: 'the role is gone',
      resource: testResource({ roles: [{ id: 'write', maxDurationSeconds: HOUR }] }),
      code: 'role_removed',
      message: 'The policy no longer offers read on Production database.',
    },
    {
      label: 'the maximum was lowered below what it asks',
      resource: testResource({ roles: [{ id: 'read', maxDurationSeconds: HOUR }] }),
      code: 'duration_over_maximum',
      message: 'The policy now allows at most 1h of read on Production database; this request asks for 2h.',
    },
    {
      label: 'the requesters were narrowed',
      resource: testResource({ requesters: { everyone: false, users: ['U0SOMEONE'], groups: ['S0ONCALL'] } }),
      code: 'requester_not_allowed',
      message: 'The policy no longer lists the requester as someone who may ask for Production database.',
    },
  ])('refuses it when $label', ({ resource, code, message }) => {
    expect(check(resource, stored())).toEqual({ fits: false, code, message });
  });

  it('still lets a requester in through a group the caller found them in', () => {
    const resource = testResource({ requesters: { everyone: false, users: [], groups: ['S0ONCALL'] } });
    expect(groupsToCheck(testPolicy([resource]), stored())).toEqual(['S0ONCALL']);
    expect(check(resource, stored(), { requesterGroups: new Set(['S0ONCALL']) }).fits).toBe(true);
  });

  it('asks for the stricter of the stored and the current approvals', () => {
    const stricter = testResource({ approvers: { users: ['U0A'], groups: [], required: 2, oneFrom: ['S0SEC'] } });
    expect(check(stricter, stored({ requiredApprovals: 1, requiredGroups: ['S0DBA'] }))).toMatchObject({ fits: true, requiredApprovals: 2, requiredGroups: ['S0DBA', 'S0SEC'] });
    const looser = testResource({ approvers: { users: ['U0A'], groups: [], required: 1, oneFrom: [] } });
    expect(check(looser, stored({ requiredApprovals: 3, requiredGroups: ['S0DBA'] }))).toMatchObject({ fits: true, requiredApprovals: 3, requiredGroups: ['S0DBA'] });
  });

  it('refuses a decision once the decision time has passed, whether or not the sweep ran, and counts a shortened timeout', () => {
    const late = { now: new Date(created.getTime() + 24 * HOUR * 1000) };
    expect(check(testResource(), stored(), late)).toEqual({ fits: false, code: 'pending_timeout_passed', message: 'Nobody decided in time.' });
    // The policy now gives an hour: a request made an hour ago is out of time.
    const shorter = testResource({ pendingTimeoutSeconds: HOUR });
    expect(decisionDeadline(stored(), shorter)).toEqual(now);
    expect(check(shorter, stored())).toMatchObject({ fits: false, code: 'pending_timeout_passed' });
  });

  it('refuses at grant time a request that was decided after its decision time', () => {
    const deadline = stored().pendingExpiresAt!;
    const grant = { moment: 'grant' as const, now: new Date(deadline.getTime() + 1000) };
    expect(check(testResource(), stored({ decidedAt: new Date(deadline.getTime() - 1) }), grant).fits).toBe(true);
    expect(check(testResource(), stored({ decidedAt: new Date(deadline.getTime() + 1) }), grant)).toMatchObject({ fits: false, code: 'pending_timeout_passed' });
  });

  it('counts the whole stretch of access for more time, as asking for it did', () => {
    const extending = { since: new Date('2026-11-24T06:00:00Z'), until: new Date('2026-11-24T12:00:00Z') };
    // 6h held + 2h more = 8h: the role's maximum, exactly.
    expect(check(testResource(), stored(), { extending }).fits).toBe(true);
    const lowered = testResource({ roles: [{ id: 'read', maxDurationSeconds: 7 * HOUR }] });
    expect(check(lowered, stored(), { extending })).toEqual({
      fits: false,
      code: 'duration_over_maximum',
      message: 'The policy now allows at most 7h of read on Production database; this request asks for 8h in all with the access it extends.',
    });
  });

  it('holds break-glass to its own block: withdrawn, or a shorter maximum', () => {
    const breakGlass = { requesters: { everyone: true as const }, maxDurationSeconds: HOUR, reviewWithinSeconds: HOUR, remindEverySeconds: HOUR };
    const used = stored({ breakGlass: true, decidedByRule: 'break-glass', durationSeconds: HOUR, decidedAt: created });
    expect(check(testResource({ breakGlass }), used, { moment: 'grant' }).fits).toBe(true);
    // Its own list replaces the requesters: someone who may not ask for approval may still use it.
    const onCallOnly = testResource({ requesters: { everyone: false, users: [], groups: [] }, breakGlass: { ...breakGlass, requesters: { everyone: false, users: [], groups: ['S0ONCALL'] } } });
    expect(groupsToCheck(testPolicy([onCallOnly]), used)).toEqual(['S0ONCALL']);
    expect(check(onCallOnly, used, { moment: 'grant', requesterGroups: new Set(['S0ONCALL']) }).fits).toBe(true);
    expect(check(onCallOnly, used, { moment: 'grant' })).toMatchObject({ fits: false, code: 'break_glass_withdrawn' });
    expect(check(testResource(), used, { moment: 'grant' })).toMatchObject({ fits: false, code: 'break_glass_withdrawn' });
    expect(check(testResource({ breakGlass: { ...breakGlass, maxDurationSeconds: 1800 } }), used, { moment: 'grant' })).toMatchObject({ fits: false, code: 'duration_over_maximum' });
  });

  it('needs the auto-approval rule that approved a request to still cover it', () => {
    const rule = { name: 'short-reads', roles: ['read'], maxDurationSeconds: 2 * HOUR, requesters: { everyone: true as const }, schedule: null, limits: DEFAULT_AUTO_APPROVAL_LIMITS };
    const approved = stored({ decidedByRule: 'short-reads', decidedAt: created });
    expect(check(testResource({ autoApprove: [rule] }), approved, { moment: 'grant' }).fits).toBe(true);
    for (const changed of [[], [{ ...rule, maxDurationSeconds: HOUR }], [{ ...rule, roles: ['write'] }], [{ ...rule, requesters: { everyone: false as const, users: [], groups: [] } }]]) {
      expect(check(testResource({ autoApprove: changed }), approved, { moment: 'grant' })).toMatchObject({ fits: false, code: 'auto_approval_withdrawn' });
    }
  });
});

describe('sameProviderSettings', () => {
  it('compares settings whatever the order of their keys, and tells other settings apart', () => {
    const a = { type: 'postgres', settings: { connectionStringEnv: 'DB_URL', roles: { read: 'app_read' } } };
    expect(sameProviderSettings(a, { type: 'postgres', settings: { roles: { read: 'app_read' }, connectionStringEnv: 'DB_URL' } })).toBe(true);
    expect(sameProviderSettings(a, { type: 'postgres', settings: { connectionStringEnv: 'OTHER_URL', roles: { read: 'app_read' } } })).toBe(false);
    expect(sameProviderSettings(a, { type: 'webhook', settings: a.settings })).toBe(false);
  });
});
