import { describe, expect, it } from 'vitest';
import { explainAutoApproval, findAutoApproval, isWithin } from '../../../src/domain/auto-approval.ts';
import type { AutoApprovalRule, WeeklyWindow } from '../../../src/domain/policy.ts';
import { testResource } from '../../helpers/test-policy.ts';

const HOUR = 3600;
const OFFICE: WeeklyWindow = { timeZone: 'Europe/Berlin', days: ['mon', 'tue', 'wed', 'thu', 'fri'], fromMinute: 9 * 60, toMinute: 18 * 60 };
const rule = (overrides: Partial<AutoApprovalRule> = {}): AutoApprovalRule => ({
  name: 'low-risk',
  roles: ['read'],
  maxDurationSeconds: HOUR,
  requesters: { everyone: false, users: [], groups: ['S0SRE'] },
  schedule: OFFICE,
  ...overrides,
});
// Tuesday 2026-11-24, 10:00 in Berlin (UTC+1 in winter).
const TUESDAY_10_BERLIN = new Date('2026-11-24T09:00:00Z');
const sre = new Set(['S0SRE']);
const request = { requesterId: 'U0ALICE', role: 'read', durationSeconds: HOUR, startsAt: null };

describe('findAutoApproval', () => {
  it.each([
    { label: 'every condition holds', change: {}, groups: sre, at: TUESDAY_10_BERLIN, applies: true },
    { label: 'another role', change: { role: 'write' }, groups: sre, at: TUESDAY_10_BERLIN, applies: false },
    { label: 'longer than the rule allows', change: { durationSeconds: HOUR + 60 }, groups: sre, at: TUESDAY_10_BERLIN, applies: false },
    { label: 'a requester outside its groups', change: {}, groups: new Set<string>(), at: TUESDAY_10_BERLIN, applies: false },
    { label: 'before office hours in Berlin (08:59)', change: {}, groups: sre, at: new Date('2026-11-24T07:59:00Z'), applies: false },
    { label: 'at 17:59 in Berlin', change: {}, groups: sre, at: new Date('2026-11-24T16:59:00Z'), applies: true },
    { label: 'at 18:00 in Berlin (the end is exclusive)', change: {}, groups: sre, at: new Date('2026-11-24T17:00:00Z'), applies: false },
    { label: 'on a Saturday', change: {}, groups: sre, at: new Date('2026-11-28T09:00:00Z'), applies: false },
    { label: 'asked at night for a start in office hours', change: { startsAt: TUESDAY_10_BERLIN }, groups: sre, at: new Date('2026-11-24T02:00:00Z'), applies: true },
  ])('$label → $applies', ({ change, groups, at, applies }) => {
    const resource = testResource({ autoApprove: [rule()] });
    expect(findAutoApproval(resource, { ...request, ...change }, groups, at)?.name).toBe(applies ? 'low-risk' : undefined);
  });

  it('takes the first rule that applies, in the order of the file', () => {
    const resource = testResource({
      autoApprove: [rule({ name: 'narrow', maxDurationSeconds: 30 * 60 }), rule({ name: 'office' }), rule({ name: 'anyone', requesters: { everyone: true }, schedule: null })],
    });
    expect(findAutoApproval(resource, request, sre, TUESDAY_10_BERLIN)?.name).toBe('office');
    expect(findAutoApproval(resource, request, new Set(), TUESDAY_10_BERLIN)?.name).toBe('anyone');
  });

  it('treats absent conditions as no restriction', () => {
    const open = rule({ roles: null, maxDurationSeconds: null, requesters: { everyone: true }, schedule: null });
    const resource = testResource({ autoApprove: [open] });
    expect(findAutoApproval(resource, { requesterId: 'U0X', role: 'write', durationSeconds: HOUR, startsAt: null }, new Set(), new Date('2026-11-28T03:00:00Z'))?.name).toBe('low-risk');
  });

  it('says why each rule does not apply', () => {
    const resource = testResource({ autoApprove: [rule({ name: 'writes', roles: ['write'] }), rule({ name: 'short', maxDurationSeconds: 1800 }), rule({ name: 'office' })] });
    expect(explainAutoApproval(resource, request, sre, new Date('2026-11-28T09:00:00Z')).map((v) => (v.applies ? `${v.rule.name}: applies` : `${v.rule.name}: ${v.because}`))).toEqual([
      'writes: it covers only write',
      'short: it covers at most 30m',
      'office: it applies only mon, tue, wed, thu, fri 09:00–18:00 Europe/Berlin',
    ]);
  });
});

describe('isWithin', () => {
  const night: WeeklyWindow = { timeZone: 'America/New_York', days: ['fri'], fromMinute: 22 * 60, toMinute: 6 * 60 };
  it.each([
    { at: '2026-11-28T02:59:00Z', label: 'Friday 21:59 in New York', within: false },
    { at: '2026-11-28T03:00:00Z', label: 'Friday 22:00 in New York', within: true },
    { at: '2026-11-28T10:59:00Z', label: 'Saturday 05:59 in New York (the night that began Friday)', within: true },
    { at: '2026-11-28T11:00:00Z', label: 'Saturday 06:00 in New York', within: false },
    { at: '2026-11-27T10:00:00Z', label: 'Friday 05:00 in New York (the night that began Thursday)', within: false },
  ])('an overnight window from Friday 22:00 to 06:00: $label → $within', ({ at, within }) => {
    expect(isWithin(night, new Date(at))).toBe(within);
  });

  it('follows daylight saving time: 09:00 in Berlin is 07:00 UTC in summer and 08:00 UTC in winter', () => {
    expect(isWithin(OFFICE, new Date('2026-07-07T07:00:00Z'))).toBe(true);
    expect(isWithin(OFFICE, new Date('2026-07-07T06:59:00Z'))).toBe(false);
    expect(isWithin(OFFICE, new Date('2026-11-24T08:00:00Z'))).toBe(true);
    expect(isWithin(OFFICE, new Date('2026-11-24T07:59:00Z'))).toBe(false);
  });
});
