import { beforeEach, describe, expect, it } from 'vitest';
import { explainAutoApproval, findAutoApproval, isWithin, type AccessPeriod, type AutoApprovalHistory } from '../../../src/domain/auto-approval.ts';
import { DEFAULT_AUTO_APPROVAL_LIMITS, type AutoApprovalRule, type WeeklyWindow } from '../../../src/domain/policy.ts';
import { testResource } from '../../helpers/test-policy.ts';

const HOUR = 3600;
const OFFICE: WeeklyWindow = { timeZone: 'Europe/Berlin', days: ['mon', 'tue', 'wed', 'thu', 'fri'], fromMinute: 9 * 60, toMinute: 18 * 60 };
const rule = (overrides: Partial<AutoApprovalRule> = {}): AutoApprovalRule => ({
  name: 'low-risk',
  roles: ['read'],
  maxDurationSeconds: HOUR,
  requesters: { everyone: false, users: [], groups: ['S0SRE'] },
  schedule: OFFICE,
  // Later starts up to a working day ahead, so the schedule is judged at the start (below).
  limits: { ...DEFAULT_AUTO_APPROVAL_LIMITS, startWithinSeconds: 8 * HOUR },
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

describe('findAutoApproval: chaining requests into standing access', () => {
  const MINUTE = 60;
  const NOW = new Date('2026-11-24T09:00:00Z');
  const at = (minutes: number) => new Date(NOW.getTime() + minutes * MINUTE * 1000);
  const period = (fromMinute: number, toMinute: number, autoApproved = true): AccessPeriod => ({ start: at(fromMinute), end: at(toMinute), autoApproved });
  const history = (periods: AccessPeriod[], autoApprovedAt: Date[] = periods.filter((p) => p.autoApproved).map(() => at(-1))): AutoApprovalHistory => ({ periods, autoApprovedAt });
  // Two hours a stretch, a one-hour cooldown; the daily cap and the later start set loose here
  // unless the test is about them, so each limit is seen on its own.
  const limits = { cooldownSeconds: HOUR, maxPerDay: 100, startWithinSeconds: 24 * HOUR };
  const chainRule = rule({ maxDurationSeconds: 2 * HOUR, schedule: null, limits });
  let resource = testResource({ autoApprove: [chainRule] });
  beforeEach(() => {
    resource = testResource({ autoApprove: [chainRule] });
  });
  const ask = (durationMinutes: number, startMinute: number | null = null) => ({ ...request, durationSeconds: durationMinutes * MINUTE, startsAt: startMinute === null ? null : at(startMinute) });
  const verdict = (candidate: ReturnType<typeof ask>, past: AutoApprovalHistory) => {
    const [only] = explainAutoApproval(resource, candidate, sre, NOW, past);
    return only!.applies ? 'applies' : only!.because;
  };

  it('approves a request that continues held access while the whole stretch stays within the maximum', () => {
    expect(verdict(ask(30, 60), history([period(0, 60)]))).toBe('applies');
    expect(verdict(ask(60, 60), history([period(-30, 60)]))).toMatch(/would run 2h 30m without a break, over its 2h/);
  });

  it('counts booked access after the new request too, and access that only touches it', () => {
    // Booked 30m–90m, held −60m–0: a request for now to 30m joins them into 2h 30m.
    expect(verdict(ask(30), history([period(-60, 0), period(30, 90)]))).toMatch(/would run 2h 30m/);
  });

  it('counts access approved by people in the stretch as well', () => {
    expect(verdict(ask(60), history([period(-90, 30, false)], []))).toMatch(/would run 2h 30m without a break/);
  });

  it('breaks the 48-form chain: no stretch longer than the maximum, an hour between stretches', () => {
    // 48 forms asked at once, each 30m starting where the previous one ends.
    const booked: AccessPeriod[] = [];
    const approved: number[] = [];
    for (let i = 0; i < 48; i++) {
      if (verdict(ask(30, i * 30), history(booked)) !== 'applies') continue;
      approved.push(i);
      booked.push(period(i * 30, i * 30 + 30));
    }
    // Four make a 2h stretch; the 5th would run over, the 6th starts 30m after it: people decide.
    expect(approved.slice(0, 8)).toEqual([0, 1, 2, 3, 6, 7, 8, 9]);
    expect(approved).toHaveLength(32);
  });

  it('breaks the same chain after three with the default daily cap and the later start bound', () => {
    resource = testResource({ autoApprove: [rule({ maxDurationSeconds: 2 * HOUR, schedule: null, limits: DEFAULT_AUTO_APPROVAL_LIMITS })] });
    const booked: AccessPeriod[] = [];
    for (let i = 0; i < 48; i++) {
      if (verdict(ask(30, i * 30), history(booked)) === 'applies') booked.push(period(i * 30, i * 30 + 30));
    }
    // 0–30m, 30–60m and 60–90m: the 4th would start more than 1h ahead, and 3 a day is the cap.
    expect(booked.map((p) => p.start)).toEqual([at(0), at(30), at(60)]);
  });

  it('holds back-to-back requests asked as each one is due to the maximum, then the cooldown', () => {
    // The same chain asked just in time: 4 × 30m make the 2h stretch, the 5th goes to people.
    expect(verdict(ask(30, 0), history([period(-90, 0)]))).toBe('applies');
    expect(verdict(ask(30, 0), history([period(-120, 0)]))).toMatch(/would run 2h 30m/);
  });

  it('needs the cooldown between stretches of auto-approved access, on either side', () => {
    expect(verdict(ask(30), history([period(-61, -59)]))).toMatch(/needs 1h between stretches of auto-approved access, and this one would start 59m after the last one ended/);
    expect(verdict(ask(30), history([period(-90, -60)]))).toBe('applies');
    expect(verdict(ask(30, 0), history([period(60, 90)]))).toMatch(/would end 30m before the next one begins/);
    // Access people approved needs no cooldown.
    expect(verdict(ask(30), history([period(-90, -1, false)], []))).toBe('applies');
  });

  it('approves at most maxPerDay a day, over a rolling 24 hours', () => {
    resource = testResource({ autoApprove: [rule({ schedule: null, limits: { ...limits, maxPerDay: 3 } })] });
    const threeToday = { periods: [], autoApprovedAt: [at(-23 * 60), at(-600), at(-300)] };
    expect(verdict(ask(30), threeToday)).toBe('it approves at most 3 a day for one person, and 3 were in the last 24h');
    const oneFellOut = { periods: [], autoApprovedAt: [at(-24 * 60), at(-600), at(-300)] };
    expect(verdict(ask(30), oneFellOut)).toBe('applies');
  });

  it('covers only requests starting within startWithin', () => {
    resource = testResource({ autoApprove: [rule({ schedule: null, limits: { ...limits, startWithinSeconds: 15 * MINUTE } })] });
    expect(verdict(ask(30, 15), history([]))).toBe('applies');
    expect(verdict(ask(30, 16), history([]))).toBe('it covers only access starting within 15m');
    // A start a little in the past (the form's "now") is now.
    expect(verdict(ask(30, -3), history([]))).toBe('applies');
  });

  it('applies the default limits: 1h later start, one hour of cooldown, three a day', () => {
    expect(DEFAULT_AUTO_APPROVAL_LIMITS).toEqual({ cooldownSeconds: HOUR, maxPerDay: 3, startWithinSeconds: HOUR });
    const defaults = testResource({ autoApprove: [rule({ schedule: null, limits: DEFAULT_AUTO_APPROVAL_LIMITS })] });
    expect(findAutoApproval(defaults, ask(30, 61), sre, NOW)).toBeUndefined();
    expect(findAutoApproval(defaults, ask(30, 60), sre, NOW)?.name).toBe('low-risk');
  });

  it('lets a later rule approve what an earlier one may not', () => {
    const twoRules = testResource({ autoApprove: [chainRule, rule({ name: 'long', maxDurationSeconds: 4 * HOUR, schedule: null })] });
    expect(findAutoApproval(twoRules, ask(60), sre, NOW, history([period(-90, 0)]))?.name).toBe('long');
  });
});
