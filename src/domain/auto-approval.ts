import { formatDuration } from './duration.ts';
import { describeCondition, judgeOnCall, type OnCallFacts } from './on-call.ts';
import { findRole, isInAudience, type AutoApprovalRule, type ResourcePolicy, type WeeklyWindow, type Weekday } from './policy.ts';

/**
 * Which auto-approval rule, if any, approves a request by itself. Pure: the caller resolves the
 * requester's user groups and passes the time. The first rule whose every condition holds wins,
 * so the file's order is the order of precedence.
 */

export interface AutoApprovalCandidate {
  requesterId: string;
  role: string;
  durationSeconds: number;
  /** A later start is judged at the time the access would start, not when it is asked. */
  startsAt: Date | null;
  /** What the on-call providers said, for rules with an `onCall` condition; absent: not asked. */
  onCall?: OnCallEvidence;
}

/** The on-call facts gathered for a request, before any rule is judged (the domain does no I/O). */
export interface OnCallEvidence {
  /** The requester's confirmed Slack email; null when there is none (nobody is on call without one). */
  email: string | null;
  /** By rule name: the provider's facts, or why they could not be had (down, slow, rate-limited). */
  byRule: ReadonlyMap<string, { facts: OnCallFacts } | { unavailable: string }>;
}

export type RuleVerdict =
  | {
      rule: AutoApprovalRule;
      applies: true;
      /** For an on-call rule: the shift's end, where the access must end at the latest; null when unbounded. */
      onCallUntil?: Date | null;
    }
  | {
      rule: AutoApprovalRule;
      applies: false;
      because: string;
      /** The on-call provider could not be asked: people decide, and the card says why. */
      onCallUnavailable?: string;
    };

/** A span of the requester's access to the same resource and role: held, booked, or ended. */
export interface AccessPeriod {
  start: Date;
  /** Exclusive: a period starting at this instant continues this one without a gap. */
  end: Date;
  /** Approved by an auto-approval rule (not by people, not break-glass). */
  autoApproved: boolean;
}

/**
 * What the requester already has of the same resource and role, read under a per-requester lock
 * so concurrent requests see each other. Without it, each of 48 requests made within seconds
 * looks like the first and a rule approves them all into a day of continuous access.
 */
export interface AutoApprovalHistory {
  /** Live and booked access (any approval), and auto-approved access that ended recently. */
  periods: readonly AccessPeriod[];
  /** When each auto-approval of the resource and role for the requester was made (at least the last 24 h). */
  autoApprovedAt: readonly Date[];
}

/** For `policy explain` and `policy test`: a request with nothing before it. */
export const NO_HISTORY: AutoApprovalHistory = { periods: [], autoApprovedAt: [] };

const DAY_MS = 24 * 3600 * 1000;

export function findAutoApproval(
  resource: ResourcePolicy,
  request: AutoApprovalCandidate,
  requesterGroups: ReadonlySet<string>,
  now: Date,
  history: AutoApprovalHistory = NO_HISTORY,
): AutoApprovalRule | undefined {
  return explainAutoApproval(resource, request, requesterGroups, now, history).find((verdict) => verdict.applies)?.rule;
}

/** Every rule with whether it applies and, when not, the first condition that fails: for `policy explain`. */
export function explainAutoApproval(
  resource: ResourcePolicy,
  request: AutoApprovalCandidate,
  requesterGroups: ReadonlySet<string>,
  now: Date,
  history: AutoApprovalHistory = NO_HISTORY,
): RuleVerdict[] {
  const role = findRole(resource, request.role);
  return resource.autoApprove.map((rule): RuleVerdict => {
    const failed = failedCondition(rule, request, role?.maxDurationSeconds, requesterGroups, request.startsAt ?? now);
    if (failed) return { rule, applies: false, because: failed };
    const onCall = onCallVerdict(rule, request, now);
    if (onCall && !onCall.holds) return { rule, applies: false, because: onCall.because, ...(onCall.unavailable ? { onCallUnavailable: onCall.unavailable } : {}) };
    const because = role ? exceededLimit(rule, request, rule.maxDurationSeconds ?? role.maxDurationSeconds, now, history) : null;
    if (because) return { rule, applies: false, because };
    return onCall ? { rule, applies: true, onCallUntil: onCall.until } : { rule, applies: true };
  });
}

/**
 * The rules whose on-call condition is worth asking a provider about: every other condition of
 * theirs holds. Asking for the others would spend the provider's rate limit on nothing.
 */
export function onCallRulesToCheck(resource: ResourcePolicy, request: AutoApprovalCandidate, requesterGroups: ReadonlySet<string>, now: Date): AutoApprovalRule[] {
  const role = findRole(resource, request.role);
  return resource.autoApprove.filter((rule) => rule.onCall && failedCondition(rule, request, role?.maxDurationSeconds, requesterGroups, request.startsAt ?? now) === null);
}

type OnCallOutcome = { holds: true; until: Date | null } | { holds: false; because: string; unavailable?: string };

/** Null for a rule without an on-call condition. Fails closed: no facts, no approval. */
function onCallVerdict(rule: AutoApprovalRule, request: AutoApprovalCandidate, now: Date): OnCallOutcome | null {
  if (!rule.onCall) return null;
  // On call is a fact about now: a booking for later would be judged on a shift that may be over by then.
  if (request.startsAt && request.startsAt > now) return { holds: false, because: 'it covers only access starting now: on call is checked when asked' };
  const evidence = request.onCall?.byRule.get(rule.name);
  if (!evidence) return { holds: false, because: `it needs ${describeCondition(rule.onCall)}, which Latch asks only when a request is made` };
  if ('unavailable' in evidence) return { holds: false, because: `on call could not be checked: ${evidence.unavailable}`, unavailable: evidence.unavailable };
  const verdict = judgeOnCall(rule.onCall, request.onCall?.email ?? null, evidence.facts, now);
  if (!verdict.holds) return verdict;
  // A shift that ends before the shortest useful access would approve access that is over at once.
  if (verdict.until && verdict.until.getTime() - now.getTime() < 1000) return { holds: false, because: 'the on-call shift is ending now' };
  return verdict;
}

function failedCondition(
  rule: AutoApprovalRule,
  request: AutoApprovalCandidate,
  roleMaxSeconds: number | undefined,
  requesterGroups: ReadonlySet<string>,
  at: Date,
): string | null {
  if (roleMaxSeconds === undefined) return `the resource has no role ${request.role}`;
  if (rule.roles && !rule.roles.includes(request.role)) return `it covers only ${rule.roles.join(', ')}`;
  if (rule.maxDurationSeconds !== null && request.durationSeconds > rule.maxDurationSeconds) return `it covers at most ${formatDuration(rule.maxDurationSeconds)}`;
  if (!isInAudience(rule.requesters, request.requesterId, requesterGroups)) return 'the requester is not among its requesters';
  if (rule.schedule && !isWithin(rule.schedule, at)) return `it applies only ${describeWindow(rule.schedule)}`;
  return null;
}

/**
 * The limits that keep a rule from being chained into standing access: a bounded later start, a
 * daily cap, the continuous stretch held to the rule's maximum, and a cooldown between stretches.
 * A request over a limit is not refused: it goes to people, like any request no rule covers.
 */
function exceededLimit(rule: AutoApprovalRule, request: AutoApprovalCandidate, maxStretchSeconds: number, now: Date, history: AutoApprovalHistory): string | null {
  const { cooldownSeconds, maxPerDay, startWithinSeconds } = rule.limits;
  const start = request.startsAt && request.startsAt > now ? request.startsAt : now;
  if (start.getTime() - now.getTime() > startWithinSeconds * 1000) return `it covers only access starting within ${formatDuration(startWithinSeconds)}`;
  const madeToday = history.autoApprovedAt.filter((at) => at.getTime() > now.getTime() - DAY_MS && at <= now).length;
  if (madeToday >= maxPerDay) return `it approves at most ${maxPerDay} a day for one person, and ${madeToday} were in the last 24h`;
  const candidate: AccessPeriod = { start, end: new Date(start.getTime() + request.durationSeconds * 1000), autoApproved: true };
  const { stretch, outside } = continuousStretch(candidate, history.periods);
  const stretchSeconds = (stretch.end.getTime() - stretch.start.getTime()) / 1000;
  if (stretchSeconds > maxStretchSeconds) {
    return `with the access already held or booked it would run ${formatDuration(stretchSeconds)} without a break, over its ${formatDuration(maxStretchSeconds)}`;
  }
  const tooClose = outside.find((period) => period.autoApproved && gapSeconds(period, stretch) < cooldownSeconds);
  if (tooClose) {
    const gap = formatDuration(gapSeconds(tooClose, stretch));
    const where = tooClose.end <= stretch.start ? `start ${gap} after the last one ended` : `end ${gap} before the next one begins`;
    return `it needs ${formatDuration(cooldownSeconds)} between stretches of auto-approved access, and this one would ${where}`;
  }
  return null;
}

/**
 * The candidate merged with every period that touches or overlaps it, directly or through another:
 * one continuous span of access. `outside` holds the periods that are not part of it.
 */
export function continuousStretch(candidate: AccessPeriod, periods: readonly AccessPeriod[]): { stretch: { start: Date; end: Date }; outside: AccessPeriod[] } {
  let start = candidate.start.getTime();
  let end = candidate.end.getTime();
  let outside = [...periods];
  for (let merged = true; merged; ) {
    merged = false;
    const rest: AccessPeriod[] = [];
    for (const period of outside) {
      if (period.start.getTime() <= end && period.end.getTime() >= start) {
        start = Math.min(start, period.start.getTime());
        end = Math.max(end, period.end.getTime());
        merged = true;
      } else rest.push(period);
    }
    outside = rest;
  }
  return { stretch: { start: new Date(start), end: new Date(end) }, outside };
}

/** Seconds between two spans that do not touch (the earlier one's end to the later one's start). */
function gapSeconds(a: { start: Date; end: Date }, b: { start: Date; end: Date }): number {
  const gapMs = a.end <= b.start ? b.start.getTime() - a.end.getTime() : a.start.getTime() - b.end.getTime();
  return Math.max(0, gapMs / 1000);
}

const WEEKDAY_BY_NAME: Record<string, Weekday> = { Mon: 'mon', Tue: 'tue', Wed: 'wed', Thu: 'thu', Fri: 'fri', Sat: 'sat', Sun: 'sun' };
const ORDER: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** Weekday and minute of the day at `at`, on the clocks of `timeZone`. */
export function localTime(at: Date, timeZone: string): { day: Weekday; minute: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return { day: WEEKDAY_BY_NAME[part('weekday')]!, minute: Number(part('hour')) * 60 + Number(part('minute')) };
}

/**
 * Inside the window? A window that ends before it starts runs past midnight: 22:00–06:00 on `fri`
 * covers Friday 22:00 to Saturday 06:00, so the early hours belong to the day before.
 */
export function isWithin(window: WeeklyWindow, at: Date): boolean {
  const { day, minute } = localTime(at, window.timeZone);
  if (window.fromMinute < window.toMinute) return window.days.includes(day) && minute >= window.fromMinute && minute < window.toMinute;
  if (minute >= window.fromMinute) return window.days.includes(day);
  const dayBefore = ORDER[(ORDER.indexOf(day) + 6) % 7]!;
  return minute < window.toMinute && window.days.includes(dayBefore);
}

function describeWindow(window: WeeklyWindow): string {
  const clock = (minute: number) => `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
  return `${window.days.join(', ')} ${clock(window.fromMinute)}–${clock(window.toMinute)} ${window.timeZone}`;
}
