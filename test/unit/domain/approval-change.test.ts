import { describe, expect, it } from 'vitest';
import { approvalChangeRefusal, lesserRoles } from '../../../src/domain/approval-change.ts';
import { testResource } from '../../helpers/test-policy.ts';

const HOUR = 3600;
const resource = testResource({
  roles: [
    { id: 'read', maxDurationSeconds: 8 * HOUR },
    { id: 'write', maxDurationSeconds: 4 * HOUR, lesser: ['read', 'audit'] },
    { id: 'audit', maxDurationSeconds: 30 * 60 },
  ],
});
const asked = { role: 'write', durationSeconds: 2 * HOUR, extension: false };
const refusal = (role: string, durationSeconds: number, on = asked) => approvalChangeRefusal(resource, on, { role, durationSeconds }, 60);

describe('approving with changes', () => {
  it('offers the lesser roles the policy lists (and only roles it still has)', () => {
    expect(lesserRoles(resource, 'write')).toEqual(['read', 'audit']);
    expect(lesserRoles(resource, 'read')).toEqual([]);
    expect(lesserRoles(testResource({ roles: [{ id: 'write', maxDurationSeconds: HOUR, lesser: ['gone'] }] }), 'write')).toEqual([]);
  });

  it('accepts a shorter duration, a lesser role, or both', () => {
    expect(refusal('write', HOUR)).toBeNull();
    expect(refusal('read', 2 * HOUR)).toBeNull();
    expect(refusal('read', 30 * 60)).toBeNull();
  });

  it.each([
    ['a longer duration', 'write', 3 * HOUR, 'longer than the 2h asked for'],
    ['a role not listed as lesser', 'admin', HOUR, 'is not a lesser role than `write`'],
    ['no change at all', 'write', 2 * HOUR, 'Nothing was changed'],
    ['a duration under the minimum', 'write', 30, 'at least 1m'],
    ['a lesser role held longer than it allows', 'audit', HOUR, '`audit` can be held for at most 30m'],
  ])('refuses %s', (_what, role, seconds, expected) => {
    expect(refusal(role, seconds)).toContain(expected);
  });

  it('refuses widening a lesser request to the role it is lesser than', () => {
    expect(refusal('write', HOUR, { role: 'read', durationSeconds: 2 * HOUR, extension: false })).toContain('is not a lesser role than `read`');
  });

  it('keeps the role of a request for more time: only its duration can be shortened', () => {
    const extension = { ...asked, extension: true };
    expect(refusal('read', HOUR, extension)).toContain('keeps the role');
    expect(refusal('write', HOUR, extension)).toBeNull();
  });
});

describe('approving a scoped request with changes', () => {
  const customer = { name: 'customer', pattern: '[0-9]+', values: null, minValues: 1, maxValues: 2 };
  const scopedResource = testResource({
    roles: [
      { id: 'debug-write', maxDurationSeconds: 4 * HOUR, scopes: [customer], lesser: ['debug-read', 'read'] },
      { id: 'debug-read', maxDurationSeconds: 4 * HOUR, scopes: [customer] },
      { id: 'read', maxDurationSeconds: 8 * HOUR },
    ],
  });
  const scoped = { role: 'debug-write', durationSeconds: 2 * HOUR, extension: false, scope: { customer: ['4711'] } };

  it('offers only the lesser roles that take the scope as it was asked, never the whole of an unscoped role', () => {
    expect(lesserRoles(scopedResource, 'debug-write', { customer: ['4711'] })).toEqual(['debug-read']);
    expect(approvalChangeRefusal(scopedResource, scoped, { role: 'debug-read', durationSeconds: HOUR }, 60)).toBeNull();
    expect(approvalChangeRefusal(scopedResource, scoped, { role: 'read', durationSeconds: HOUR }, 60)).toContain("`read` does not take this request's scope as it was asked");
  });
});
