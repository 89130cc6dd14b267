import { describe, expect, it } from 'vitest';
import { approverRefusal, validateAccessRequest, type AccessRequestDraft } from '../../../src/domain/access-request-rules.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

const policy = testPolicy([
  testResource(),
  testResource({ id: 'vault', name: 'Vault', requesters: { everyone: false, users: ['U0ALLOWED'], groups: ['S0SRE'] } }),
]);
const NOW = new Date('2026-11-24T09:00:00Z');
const draft: AccessRequestDraft = { requesterId: 'U0ME', resourceId: 'prod-db', role: 'read', duration: '2h', reason: 'incident', ticket: ' INC-1 ' };

describe('validateAccessRequest', () => {
  it('accepts a good draft, trimmed, with the duration in seconds', () => {
    const result = validateAccessRequest(policy, draft, new Set(), NOW);
    expect(result).toMatchObject({ ok: true, request: { durationSeconds: 7200, reason: 'incident', ticket: 'INC-1', role: { id: 'read' } } });
  });

  it.each([
    [{ resourceId: undefined }, { resource: 'Pick a resource.' }],
    [{ resourceId: 'nope' }, { resource: 'There is no resource called "nope".' }],
    [{ role: undefined }, { role: 'Pick a role.' }],
    [{ role: 'admin' }, { role: 'Production database has no role "admin"; its roles are read, write.' }],
    [{ role: 'write', duration: '2h' }, { duration: 'At most 1h for write on Production database.' }],
    [{ duration: 'forever' }, { duration: '"forever" is not a duration: use forms like 30m, 2h, 1d or 1h30m.' }],
    [{ reason: ' ' }, { reason: 'Say why you need this access.' }],
    [{ reason: 'x'.repeat(1001) }, { reason: 'Keep the reason under 1000 characters.' }],
    [{ ticket: 'T'.repeat(101) }, { ticket: 'Keep the ticket under 100 characters.' }],
    [{ startsAt: new Date('2026-11-24T08:00:00Z') }, { startsAt: 'Pick a start time in the future, or leave it empty to start once approved.' }],
    [{ startsAt: new Date('2026-12-09T09:00:00Z') }, { startsAt: 'Pick a start within 14d.' }],
    [{ startsAt: new Date(Number.NaN) }, { startsAt: 'Pick a valid start time, or leave it empty.' }],
    [{ resourceId: 'vault' }, { resource: 'You may not request access to Vault: the policy does not list you as a requester.' }],
  ] as Array<[Partial<AccessRequestDraft>, Record<string, string>]>)('refuses %j', (change, errors) => {
    expect(validateAccessRequest(policy, { ...draft, ...change }, new Set(), NOW)).toEqual({ ok: false, errors });
  });

  it('asks for a minute at least, unless a test lowers the minimum', () => {
    expect(validateAccessRequest(policy, { ...draft, duration: '30s' }, new Set(), NOW)).toEqual({ ok: false, errors: { duration: 'A duration must be at least one minute.' } });
    expect(validateAccessRequest(policy, { ...draft, duration: '3s' }, new Set(), NOW, 'approval', 1)).toMatchObject({ ok: true, request: { durationSeconds: 3 } });
  });

  it('keeps a later start, and treats a start picked for about now as "once approved"', () => {
    const tonight = new Date('2026-11-24T22:00:00Z');
    expect(validateAccessRequest(policy, { ...draft, startsAt: tonight }, new Set(), NOW)).toMatchObject({ ok: true, request: { startsAt: tonight } });
    expect(validateAccessRequest(policy, { ...draft, startsAt: new Date('2026-11-24T08:58:00Z') }, new Set(), NOW)).toMatchObject({ ok: true, request: { startsAt: null } });
    expect(validateAccessRequest(policy, draft, new Set(), NOW)).toMatchObject({ ok: true, request: { startsAt: null } });
  });

  describe('with a ticket pattern and a minimum reason length', () => {
    const strict = testPolicy([testResource({ ticketPattern: '^SEC-\\d+$', minReasonLength: 12 })]);
    it.each([
      [{ ticket: 'SEC-42', reason: 'rotate the key' }, null],
      [{ ticket: ' SEC-42 ', reason: 'rotate the key' }, null],
      [{ ticket: null }, { ticket: 'Production database needs a ticket matching ^SEC-\\d+$.' }],
      [{ ticket: 'SEC-42x' }, { ticket: '"SEC-42x" is not a ticket Production database accepts: it must match ^SEC-\\d+$.' }],
      [{ ticket: 'SEC-42', reason: 'because' }, { reason: 'Say a little more: Production database needs a reason of at least 12 characters (this one has 7).' }],
    ] as Array<[Partial<AccessRequestDraft>, Record<string, string> | null]>)('%j → %j', (change, errors) => {
      const result = validateAccessRequest(strict, { ...draft, reason: 'investigating INC-1', ...change }, new Set(), NOW);
      expect(result).toEqual(errors ? { ok: false, errors } : expect.objectContaining({ ok: true }));
    });
  });

  describe('in break-glass mode', () => {
    const breakGlass = { requesters: { everyone: false as const, users: [], groups: ['S0ONCALL'] }, maxDurationSeconds: 3600, reviewWithinSeconds: 4 * 3600, remindEverySeconds: 3600 };
    const emergency = testPolicy([
      testResource({ requesters: { everyone: false, users: ['U0OTHER'], groups: [] }, ticketPattern: '^SEC-\\d+$', breakGlass }),
      testResource({ id: 'vault', name: 'Vault' }),
    ]);
    const oncall = new Set(['S0ONCALL']);
    const check = (change: Partial<AccessRequestDraft>, groups: ReadonlySet<string> = oncall) =>
      validateAccessRequest(emergency, { ...draft, ticket: null, duration: '30m', ...change }, groups, NOW, 'break-glass');

    it('lets the on-call group in without being a requester and without a ticket', () => {
      expect(check({})).toMatchObject({ ok: true, request: { durationSeconds: 1800, ticket: null } });
    });
    it.each([
      [{}, new Set<string>(), { resource: 'You may not use break-glass on Production database: the policy does not list you for it.' }],
      [{ duration: '2h' }, oncall, { duration: 'Break-glass on Production database lasts at most 1h; ask the approvers for longer.' }],
      [{ resourceId: 'vault' }, oncall, { resource: 'Break-glass is not available for Vault: ask the approvers instead.' }],
      [{ startsAt: new Date('2026-11-24T22:00:00Z') }, oncall, { startsAt: 'Break-glass starts now: leave the start empty, or ask the approvers for a later start.' }],
    ] as Array<[Partial<AccessRequestDraft>, ReadonlySet<string>, Record<string, string>]>)('refuses %j', (change, groups, errors) => {
      expect(check(change, groups)).toEqual({ ok: false, errors });
    });
  });

  it('lets a requester in through a listed user or a listed group', () => {
    expect(validateAccessRequest(policy, { ...draft, resourceId: 'vault', requesterId: 'U0ALLOWED' }, new Set(), NOW).ok).toBe(true);
    expect(validateAccessRequest(policy, { ...draft, resourceId: 'vault' }, new Set(['S0SRE']), NOW).ok).toBe(true);
  });
});

describe('approverRefusal', () => {
  const resource = testResource({ approvers: { users: ['U0A', 'U0REQ'], groups: ['S0DBA'], required: 1, oneFrom: [] } });
  it.each([
    ['U0A', [], null],
    ['U0B', ['S0DBA'], null],
    ['U0B', [], 'You are not an approver for Production database.'],
    ['U0REQ', [], 'You cannot decide your own request.'],
    ['U0REQ', ['S0DBA'], 'You cannot decide your own request.'],
  ])('%s in groups %j → %j', (decider, groups, refusal) => {
    expect(approverRefusal(resource, 'U0REQ', decider as string, new Set(groups as string[]))).toBe(refusal);
  });
});

describe('validateAccessRequest with a scope', () => {
  const scoped = testResource({
    roles: [
      { id: 'read', maxDurationSeconds: 3600 },
      { id: 'debug', maxDurationSeconds: 3600, scopes: [{ name: 'customer', pattern: '^[0-9]+$', values: null, minValues: 1, maxValues: 1 }] },
    ],
  });
  const at = new Date('2026-11-24T10:00:00Z');
  const draft = { requesterId: 'U0REQUESTER', resourceId: 'prod-db', duration: '30m', reason: 'ticket 99' };

  it('gives back the checked scope, and puts each problem under the parameter it is about', () => {
    expect(validateAccessRequest(testPolicy([scoped]), { ...draft, role: 'debug', scope: { customer: [' 4711 '] } }, new Set(), at)).toMatchObject({ ok: true, request: { scope: { customer: ['4711'] } } });
    expect(validateAccessRequest(testPolicy([scoped]), { ...draft, role: 'debug', scope: { customer: ['47x1'] } }, new Set(), at)).toEqual({ ok: false, errors: { 'scope.customer': 'customer "47x1" does not match ^[0-9]+$.' } });
    expect(validateAccessRequest(testPolicy([scoped]), { ...draft, role: 'read', scope: { customer: ['4711'] } }, new Set(), at)).toEqual({
      ok: false,
      errors: { scope: 'The role read takes no scope (customer): leave it out to ask for the whole role.' },
    });
    expect(validateAccessRequest(testPolicy([scoped]), { ...draft, role: 'read' }, new Set(), at)).toMatchObject({ ok: true, request: { scope: null } });
  });

  it('requires the scope for break-glass too', () => {
    const withBreakGlass = testResource({ ...scoped, breakGlass: { requesters: { everyone: true }, maxDurationSeconds: 3600, reviewWithinSeconds: 3600, remindEverySeconds: 3600 } });
    expect(validateAccessRequest(testPolicy([withBreakGlass]), { ...draft, role: 'debug' }, new Set(), at, 'break-glass')).toMatchObject({ ok: false, errors: { 'scope.customer': expect.stringContaining('Give customer') } });
  });
});
