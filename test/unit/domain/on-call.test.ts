import { describe, expect, it } from 'vitest';
import { explainAutoApproval, onCallRulesToCheck, type OnCallEvidence } from '../../../src/domain/auto-approval.ts';
import { judgeOnCall, type OnCallCondition, type OnCallFacts, type OnCallShift } from '../../../src/domain/on-call.ts';
import { DEFAULT_AUTO_APPROVAL_LIMITS, type AutoApprovalRule } from '../../../src/domain/policy.ts';
import { testResource } from '../../helpers/test-policy.ts';

const NOW = new Date('2026-12-05T10:00:00Z');
const SHIFT_END = new Date('2026-12-05T14:00:00Z');
const condition = (overrides: Partial<OnCallCondition> = {}): OnCallCondition => ({ provider: 'pagerduty', schedules: ['PSCHED1'], escalationPolicies: [], maxLevel: null, incidentOpenOn: [], ...overrides });
const shift = (overrides: Partial<OnCallShift> = {}): OnCallShift => ({ email: 'ada@example.com', end: SHIFT_END, scheduleId: 'PSCHED1', escalationPolicyId: 'PPOL1', level: 1, ...overrides });
const facts = (shifts: OnCallShift[], servicesWithOpenIncident: string[] = []): OnCallFacts => ({ shifts, servicesWithOpenIncident });

describe('judgeOnCall', () => {
  it('holds for the person on call in a named schedule, until their shift ends', () => {
    expect(judgeOnCall(condition(), 'ada@example.com', facts([shift()]), NOW)).toEqual({ holds: true, until: SHIFT_END });
  });

  it('matches the Slack email to the provider email whatever their case', () => {
    expect(judgeOnCall(condition(), 'Ada@Example.COM', facts([shift()]), NOW).holds).toBe(true);
  });

  it.each([
    { label: 'someone else is on call', shifts: [shift({ email: 'bob@example.com' })] },
    { label: 'the shift is in another schedule', shifts: [shift({ scheduleId: 'POTHER' })] },
    { label: 'the shift has ended', shifts: [shift({ end: new Date('2026-12-05T09:59:59Z') })] },
    { label: 'nobody is on call', shifts: [] },
  ])('does not hold when $label', ({ shifts }) => {
    const verdict = judgeOnCall(condition(), 'ada@example.com', facts(shifts), NOW);
    expect(verdict).toEqual({ holds: false, because: 'the requester is not on call now for schedule PSCHED1 in PagerDuty' });
  });

  it('does not hold for a requester without a confirmed email', () => {
    expect(judgeOnCall(condition(), null, facts([shift()]), NOW)).toMatchObject({ holds: false, because: expect.stringContaining('no confirmed email') });
  });

  it('counts only escalation levels up to maxLevel, and an entry without a level not at all', () => {
    const levels = condition({ schedules: [], escalationPolicies: ['PPOL1'], maxLevel: 2 });
    expect(judgeOnCall(levels, 'ada@example.com', facts([shift({ level: 2 })]), NOW).holds).toBe(true);
    expect(judgeOnCall(levels, 'ada@example.com', facts([shift({ level: 3 })]), NOW)).toEqual({ holds: false, because: 'the requester is not on call now for escalation policy PPOL1 (levels 1–2) in PagerDuty' });
    expect(judgeOnCall(levels, 'ada@example.com', facts([shift({ level: null })]), NOW).holds).toBe(false);
  });

  it('keeps the latest end of the matching shifts, and no end when one has none', () => {
    const later = new Date('2026-12-05T20:00:00Z');
    expect(judgeOnCall(condition(), 'ada@example.com', facts([shift(), shift({ end: later })]), NOW)).toEqual({ holds: true, until: later });
    expect(judgeOnCall(condition(), 'ada@example.com', facts([shift(), shift({ end: null })]), NOW)).toEqual({ holds: true, until: null });
  });

  it('needs an open incident on a named service as well, when the condition names services', () => {
    const during = condition({ incidentOpenOn: ['PSVC1'] });
    expect(judgeOnCall(during, 'ada@example.com', facts([shift()], ['PSVC1']), NOW)).toEqual({ holds: true, until: SHIFT_END });
    expect(judgeOnCall(during, 'ada@example.com', facts([shift()], []), NOW)).toEqual({ holds: false, because: 'no incident is open on PSVC1' });
    // Only an incident: anyone the rest of the rule lets in, on call or not.
    expect(judgeOnCall(condition({ schedules: [], incidentOpenOn: ['PSVC1'] }), null, facts([], ['PSVC1']), NOW)).toEqual({ holds: true, until: null });
  });
});

describe('auto-approval rules with an on-call condition', () => {
  const onCallRule = (overrides: Partial<AutoApprovalRule> = {}): AutoApprovalRule => ({
    name: 'on-call',
    roles: ['read'],
    maxDurationSeconds: 4 * 3600,
    requesters: { everyone: true },
    schedule: null,
    limits: DEFAULT_AUTO_APPROVAL_LIMITS,
    onCall: condition(),
    ...overrides,
  });
  const resource = testResource({ autoApprove: [onCallRule()] });
  const request = { requesterId: 'U0ADA', role: 'read', durationSeconds: 3600, startsAt: null };
  const evidence = (answer: { facts: OnCallFacts } | { unavailable: string }, email: string | null = 'ada@example.com'): OnCallEvidence => ({ email, byRule: new Map([['on-call', answer]]) });

  it('applies to the person on call, with the shift end where the access must end', () => {
    const [verdict] = explainAutoApproval(resource, { ...request, onCall: evidence({ facts: facts([shift()]) }) }, new Set(), NOW);
    expect(verdict).toMatchObject({ applies: true, onCallUntil: SHIFT_END });
  });

  it('goes to people for someone off call', () => {
    const [verdict] = explainAutoApproval(resource, { ...request, onCall: evidence({ facts: facts([shift({ email: 'bob@example.com' })]) }) }, new Set(), NOW);
    expect(verdict).toMatchObject({ applies: false, because: expect.stringContaining('not on call now') });
    expect(verdict).not.toHaveProperty('onCallUnavailable');
  });

  it('fails closed when the provider could not be asked, and says why', () => {
    const [verdict] = explainAutoApproval(resource, { ...request, onCall: evidence({ unavailable: 'PagerDuty did not answer in time' }) }, new Set(), NOW);
    expect(verdict).toEqual({ rule: resource.autoApprove[0], applies: false, because: 'on call could not be checked: PagerDuty did not answer in time', onCallUnavailable: 'PagerDuty did not answer in time' });
  });

  it('fails closed when nobody asked the provider (policy explain, a caller that forgot)', () => {
    expect(explainAutoApproval(resource, request, new Set(), NOW)[0]).toMatchObject({ applies: false, because: 'it needs someone on call now for schedule PSCHED1 in PagerDuty, which Latch asks only when a request is made' });
    const withIncident = testResource({ autoApprove: [onCallRule({ onCall: condition({ incidentOpenOn: ['PSVC1'] }) })] });
    expect(explainAutoApproval(withIncident, request, new Set(), NOW)[0]).toMatchObject({ because: 'it needs someone on call now for schedule PSCHED1 in PagerDuty, and an incident open on PSVC1 in PagerDuty, which Latch asks only when a request is made' });
  });

  it('never approves a later start on a shift judged now', () => {
    const later = { ...request, startsAt: new Date('2026-12-05T10:30:00Z'), onCall: evidence({ facts: facts([shift()]) }) };
    expect(explainAutoApproval(resource, later, new Set(), NOW)[0]).toMatchObject({ applies: false, because: expect.stringContaining('starting now') });
  });

  it('asks the provider only for rules whose other conditions hold', () => {
    const two = testResource({ autoApprove: [onCallRule(), onCallRule({ name: 'writers', roles: ['write'] }), onCallRule({ name: 'no-on-call', onCall: undefined })] });
    expect(onCallRulesToCheck(two, request, new Set(), NOW).map((rule) => rule.name)).toEqual(['on-call']);
  });
});
