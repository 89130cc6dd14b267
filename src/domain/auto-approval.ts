import { formatDuration } from './duration.ts';
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
}

export type RuleVerdict = { rule: AutoApprovalRule; applies: true } | { rule: AutoApprovalRule; applies: false; because: string };

export function findAutoApproval(
  resource: ResourcePolicy,
  request: AutoApprovalCandidate,
  requesterGroups: ReadonlySet<string>,
  now: Date,
): AutoApprovalRule | undefined {
  return explainAutoApproval(resource, request, requesterGroups, now).find((verdict) => verdict.applies)?.rule;
}

/** Every rule with whether it applies and, when not, the first condition that fails: for `policy explain`. */
export function explainAutoApproval(
  resource: ResourcePolicy,
  request: AutoApprovalCandidate,
  requesterGroups: ReadonlySet<string>,
  now: Date,
): RuleVerdict[] {
  const role = findRole(resource, request.role);
  return resource.autoApprove.map((rule): RuleVerdict => {
    const because = failedCondition(rule, request, role?.maxDurationSeconds, requesterGroups, request.startsAt ?? now);
    return because ? { rule, applies: false, because } : { rule, applies: true };
  });
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
