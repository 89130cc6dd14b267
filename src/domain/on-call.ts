/**
 * On-call conditions of auto-approval rules: "whoever is on call now for these schedules", "only
 * escalation levels 1–2", "only while an incident is open on this service". Pure: the caller asks
 * the on-call provider (PagerDuty, Opsgenie) for the facts and passes them with the requester's
 * email; this file only judges them. The provider's answer is trusted input (see the README's
 * threat model): whoever can change a schedule there can make someone "on call" here.
 */

import type { SlackProfile } from './identity.ts';

export const ON_CALL_PROVIDERS = ['pagerduty', 'opsgenie'] as const;
export type OnCallProvider = (typeof ON_CALL_PROVIDERS)[number];

export interface OnCallCondition {
  provider: OnCallProvider;
  /** On call now in any of these schedules (provider ids). */
  schedules: string[];
  /** On call now in any of these escalation policies (PagerDuty ids). */
  escalationPolicies: string[];
  /** Only on-call entries at escalation level 1 up to this one count; null: every level. */
  maxLevel: number | null;
  /** Only while an incident is open (triggered or acknowledged) on one of these services; empty: no such condition. */
  incidentOpenOn: string[];
}

/** One stretch of someone being on call, as the provider reports it. */
export interface OnCallShift {
  /** Lower case, as every email here is compared. */
  email: string;
  /** When the shift ends; null when the provider gives no end (a permanent on-call, or Opsgenie's "now"). */
  end: Date | null;
  scheduleId: string | null;
  escalationPolicyId: string | null;
  /** The escalation level (1 is first); null when the provider does not say. */
  level: number | null;
}

/** What the provider said for one condition, at one moment. */
export interface OnCallFacts {
  shifts: readonly OnCallShift[];
  /** Services of `incidentOpenOn` with an open incident now. */
  servicesWithOpenIncident: readonly string[];
}

export type OnCallVerdict =
  | {
      holds: true;
      /** The end of the on-call shift that makes it hold, when known: the access ends there at the latest. */
      until: Date | null;
    }
  | { holds: false; because: string };

/**
 * Whether a person with `email` meets `condition` under `facts` at `now`. Emails are compared
 * case-insensitively; a shift that has already ended counts for nothing. When the person is on
 * call in several matching shifts, the latest end wins (one of them still covers them until then).
 */
export function judgeOnCall(condition: OnCallCondition, email: string | null, facts: OnCallFacts, now: Date): OnCallVerdict {
  const wantsOnCall = condition.schedules.length > 0 || condition.escalationPolicies.length > 0;
  let until: Date | null = null;
  if (wantsOnCall) {
    if (!email) return { holds: false, because: 'the requester has no confirmed email in Slack to find them on call by' };
    const own = email.trim().toLowerCase();
    const matching = facts.shifts.filter((shift) => shift.email.toLowerCase() === own && isCurrent(shift, now) && countsFor(condition, shift));
    if (matching.length === 0) return { holds: false, because: `the requester is not on call now for ${describeOnCall(condition)}` };
    until = matching.some((shift) => shift.end === null) ? null : new Date(Math.max(...matching.map((shift) => shift.end!.getTime())));
  }
  if (condition.incidentOpenOn.length > 0) {
    const open = condition.incidentOpenOn.filter((service) => facts.servicesWithOpenIncident.includes(service));
    if (open.length === 0) return { holds: false, because: `no incident is open on ${condition.incidentOpenOn.join(', ')}` };
  }
  return { holds: true, until };
}

function isCurrent(shift: OnCallShift, now: Date): boolean {
  return shift.end === null || shift.end > now;
}

/** A shift counts when it is in a named schedule or a named escalation policy, at an allowed level. */
function countsFor(condition: OnCallCondition, shift: OnCallShift): boolean {
  const named =
    (shift.scheduleId !== null && condition.schedules.includes(shift.scheduleId)) ||
    (shift.escalationPolicyId !== null && condition.escalationPolicies.includes(shift.escalationPolicyId));
  if (!named) return false;
  if (condition.maxLevel === null) return true;
  // An entry without a level cannot show it is within the allowed ones.
  return shift.level !== null && shift.level >= 1 && shift.level <= condition.maxLevel;
}

/** `schedule PABC123, escalation policy PXYZ (levels 1–2)`: for reasons and the card. */
export function describeOnCall(condition: OnCallCondition): string {
  const parts = [
    ...condition.schedules.map((id) => `schedule ${id}`),
    ...condition.escalationPolicies.map((id) => `escalation policy ${id}`),
  ];
  const levels = condition.maxLevel === null ? '' : condition.maxLevel === 1 ? ' (level 1 only)' : ` (levels 1–${condition.maxLevel})`;
  return `${parts.join(', ')}${levels} in ${PROVIDER_NAMES[condition.provider]}`;
}

/** What the whole condition asks for, for `policy explain`: "on call now for …, and an incident open on …". */
export function describeCondition(condition: OnCallCondition): string {
  const onCall = condition.schedules.length > 0 || condition.escalationPolicies.length > 0 ? `someone on call now for ${describeOnCall(condition)}` : null;
  const incident = condition.incidentOpenOn.length > 0 ? `an incident open on ${condition.incidentOpenOn.join(', ')} in ${PROVIDER_NAMES[condition.provider]}` : null;
  return [onCall, incident].filter((part) => part !== null).join(', and ');
}

export const PROVIDER_NAMES: Record<OnCallProvider, string> = { pagerduty: 'PagerDuty', opsgenie: 'Opsgenie' };

/**
 * The email a person is found on call by: their Slack profile's, only when Slack confirmed they own
 * it and the account is a person of this workspace. An email anyone can type into a profile must
 * not make them somebody on call.
 */
export function onCallEmailOf(profile: SlackProfile | null): string | null {
  const account = profile?.account;
  if (!profile?.email || !account || !account.emailConfirmed || !account.ofLatchTeam || account.deleted || account.bot) return null;
  return profile.email;
}
