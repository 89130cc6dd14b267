import { describe, expect, it } from 'vitest';
import { assessRisk, type PastRequest, type RiskCandidate, type RiskHistory } from '../../../src/domain/risk-flags.ts';

const NOW = new Date('2026-03-10T14:00:00Z');
const HOUR = 3600_000;

const request: RiskCandidate = { resourceId: 'prod-db', role: 'read', durationSeconds: 3600, at: NOW };

function past(hoursAgo: number, overrides: Partial<PastRequest> = {}): PastRequest {
  return { resourceId: 'prod-db', role: 'read', createdAt: new Date(NOW.getTime() - hoursAgo * HOUR), denied: false, breakGlass: false, ...overrides };
}

/** A person who asks for this every weekday around 14:00, one-hour requests: nothing unusual. */
const usual: RiskHistory = {
  askedForResourceBefore: true,
  recentRequests: [1, 2, 3, 4, 5].map((days) => past(days * 24)),
  roleDurations: { count: 12, usualSeconds: 3600 },
};

const signals = (history: RiskHistory, candidate: RiskCandidate = request) => assessRisk(candidate, history).map((flag) => flag.signal);

describe('risk flags', () => {
  it('raises nothing for a usual request', () => {
    expect(assessRisk(request, usual)).toEqual([]);
  });

  it('flags the first request for a resource by this person', () => {
    const flags = assessRisk(request, { ...usual, askedForResourceBefore: false });
    expect(flags).toEqual([{ signal: 'first-request', explanation: 'First request for this resource by this person.' }]);
  });

  it('flags a request outside the hours this person usually asks at, counting across midnight', () => {
    const at3am = { ...request, at: new Date('2026-03-10T03:00:00Z') };
    const flags = assessRisk(at3am, usual);
    expect(flags.map((f) => f.signal)).toEqual(['unusual-hours']);
    expect(flags[0]!.explanation).toContain('03:00 UTC');
    const nightOwl = { ...usual, recentRequests: [1, 2, 3, 4, 5].map((days) => past(days * 24 + 16)) }; // 22:00 UTC
    expect(signals(nightOwl, { ...request, at: new Date('2026-03-10T23:30:00Z') })).toEqual([]);
  });

  it('says nothing about hours until the person has enough history', () => {
    expect(signals({ ...usual, recentRequests: usual.recentRequests.slice(0, 4) }, { ...request, at: new Date('2026-03-10T03:00:00Z') })).toEqual([]);
  });

  // The percentile itself is worked out by the store (test/integration/slack/risk-flags.test.ts).
  it("flags a duration above the role's usual (its 90th percentile), and only with enough history", () => {
    const roleDurations = { count: 10, usualSeconds: 9 * 3600 };
    expect(signals({ ...usual, roleDurations }, { ...request, durationSeconds: 9 * 3600 })).toEqual([]);
    const flags = assessRisk({ ...request, durationSeconds: 10 * 3600 }, { ...usual, roleDurations });
    expect(flags).toEqual([{ signal: 'long-duration', explanation: "Duration above this role's usual: 10 h asked, p90 of the last 10 requests is 9 h." }]);
    expect(signals({ ...usual, roleDurations: { count: 9, usualSeconds: 9 * 3600 } }, { ...request, durationSeconds: 20 * 3600 })).toEqual([]);
    expect(signals({ ...usual, roleDurations: { count: 0, usualSeconds: null } }, { ...request, durationSeconds: 20 * 3600 })).toEqual([]);
  });

  it('flags several requests in a short time', () => {
    const history = { ...usual, recentRequests: [...usual.recentRequests, past(0.2, { resourceId: 'other' }), past(0.5, { resourceId: 'another' })] };
    const flags = assessRisk(request, history);
    expect(flags).toEqual([{ signal: 'request-burst', explanation: 'Several requests in a short time: 3 in the last 60 minutes.' }]);
    expect(signals({ ...usual, recentRequests: [...usual.recentRequests, past(0.5)] })).toEqual([]);
  });

  it('flags a recent denial of the same request, not of another role or an old one', () => {
    expect(signals({ ...usual, recentRequests: [...usual.recentRequests, past(50, { denied: true })] })).toEqual(['recent-denial']);
    expect(signals({ ...usual, recentRequests: [...usual.recentRequests, past(50, { denied: true, role: 'admin' })] })).toEqual([]);
    expect(signals({ ...usual, recentRequests: [...usual.recentRequests, past(8 * 24, { denied: true })] })).toEqual([]);
  });

  it('flags a break-glass use in the last days, on any resource', () => {
    expect(signals({ ...usual, recentRequests: [...usual.recentRequests, past(72, { breakGlass: true, resourceId: 'x' })] })).toEqual(['recent-break-glass']);
    expect(signals({ ...usual, recentRequests: [...usual.recentRequests, past(10 * 24, { breakGlass: true })] })).toEqual([]);
  });
});
