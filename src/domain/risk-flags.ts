/**
 * Risk flags: what is unusual about a request, judged from Latch's own history, each naming its
 * signal and saying in a sentence why it was raised, so an approver can weigh it instead of
 * trusting a score. Pure: the caller reads the history (loadRiskHistory) and passes the time.
 * A flag is a prompt to look closer, never a refusal: with too little history to know what is
 * usual, the signals that need it stay silent rather than flag everyone.
 */

export const RISK_SIGNALS = ['first-request', 'unusual-hours', 'long-duration', 'request-burst', 'recent-denial', 'recent-break-glass'] as const;
export type RiskSignal = (typeof RISK_SIGNALS)[number];

export interface RiskFlag {
  signal: RiskSignal;
  /** One sentence for the approval card: names the signal and the numbers behind it. */
  explanation: string;
}

/** The request being judged. */
export interface RiskCandidate {
  resourceId: string;
  role: string;
  durationSeconds: number;
  /** When it was asked. */
  at: Date;
}

/** One earlier request by the same person (any resource). */
export interface PastRequest {
  resourceId: string;
  role: string;
  createdAt: Date;
  /** Denied by a person or a rule. */
  denied: boolean;
  breakGlass: boolean;
}

export interface RiskHistory {
  /** Whether the person ever asked for this resource before (any role, any outcome). */
  askedForResourceBefore: boolean;
  /** The person's requests within the last RISK_LOOKBACK_DAYS, this one excluded. */
  recentRequests: readonly PastRequest[];
  /** Earlier requests for this resource and role, by anyone, within the lookback (loadRiskHistory). */
  roleDurations: RoleDurations;
}

/**
 * How long earlier requests for a role asked for: how many there were, and the
 * USUAL_DURATION_PERCENTILE-th percentile of their durations by nearest rank (a duration that
 * was actually asked for: the smallest one with at least that share of the durations at or below
 * it), null when there were none. The store works the percentile out where the rows are
 * (PostgreSQL's percentile_disc is this nearest rank), so a slash command does not read and
 * parse up to a thousand durations to use one of them.
 */
export interface RoleDurations {
  count: number;
  usualSeconds: number | null;
}

/** How far back history is read: long enough to learn habits, short enough that they are current. */
export const RISK_LOOKBACK_DAYS = 30;
/** Requests a person must have made before their hours say anything. */
export const MIN_REQUESTS_FOR_USUAL_HOURS = 5;
/** An hour of the day (UTC) is usual when a past request was made within this many hours of it. */
export const USUAL_HOURS_MARGIN = 1;
/** Earlier durations of a role needed before its 90th percentile means anything. */
export const MIN_REQUESTS_FOR_USUAL_DURATION = 10;
export const USUAL_DURATION_PERCENTILE = 90;
/** This many requests (this one included) within the window is a burst. */
export const BURST_REQUESTS = 3;
export const BURST_WINDOW_MINUTES = 60;
export const RECENT_DENIAL_DAYS = 7;
export const RECENT_BREAK_GLASS_DAYS = 7;

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

export function assessRisk(request: RiskCandidate, history: RiskHistory): RiskFlag[] {
  return [
    firstRequest(history),
    unusualHours(request, history),
    longDuration(request, history),
    requestBurst(request, history),
    recentDenial(request, history),
    recentBreakGlass(request, history),
  ].filter((flag): flag is RiskFlag => flag !== null);
}

function firstRequest(history: RiskHistory): RiskFlag | null {
  if (history.askedForResourceBefore) return null;
  return { signal: 'first-request', explanation: 'First request for this resource by this person.' };
}

function unusualHours(request: RiskCandidate, history: RiskHistory): RiskFlag | null {
  const past = history.recentRequests;
  if (past.length < MIN_REQUESTS_FOR_USUAL_HOURS) return null;
  const hour = request.at.getUTCHours();
  const usual = past.some((earlier) => hourDistance(earlier.createdAt.getUTCHours(), hour) <= USUAL_HOURS_MARGIN);
  if (usual) return null;
  return {
    signal: 'unusual-hours',
    explanation: `Outside this person's usual hours: none of their ${past.length} requests in the last ${RISK_LOOKBACK_DAYS} days was made within ${USUAL_HOURS_MARGIN} h of ${pad(hour)}:00 UTC.`,
  };
}

function longDuration(request: RiskCandidate, history: RiskHistory): RiskFlag | null {
  const { count, usualSeconds: usual } = history.roleDurations;
  if (count < MIN_REQUESTS_FOR_USUAL_DURATION || usual === null) return null;
  if (request.durationSeconds <= usual) return null;
  return {
    signal: 'long-duration',
    explanation: `Duration above this role's usual: ${minutes(request.durationSeconds)} asked, p${USUAL_DURATION_PERCENTILE} of the last ${count} requests is ${minutes(usual)}.`,
  };
}

function requestBurst(request: RiskCandidate, history: RiskHistory): RiskFlag | null {
  const since = request.at.getTime() - BURST_WINDOW_MINUTES * MINUTE_MS;
  const count = 1 + history.recentRequests.filter((earlier) => earlier.createdAt.getTime() > since).length;
  if (count < BURST_REQUESTS) return null;
  return { signal: 'request-burst', explanation: `Several requests in a short time: ${count} in the last ${BURST_WINDOW_MINUTES} minutes.` };
}

function recentDenial(request: RiskCandidate, history: RiskHistory): RiskFlag | null {
  const since = request.at.getTime() - RECENT_DENIAL_DAYS * DAY_MS;
  const denied = history.recentRequests.some(
    (earlier) => earlier.denied && earlier.resourceId === request.resourceId && earlier.role === request.role && earlier.createdAt.getTime() > since,
  );
  if (!denied) return null;
  return { signal: 'recent-denial', explanation: `The same request was denied in the last ${RECENT_DENIAL_DAYS} days.` };
}

function recentBreakGlass(request: RiskCandidate, history: RiskHistory): RiskFlag | null {
  const since = request.at.getTime() - RECENT_BREAK_GLASS_DAYS * DAY_MS;
  const used = history.recentRequests.some((earlier) => earlier.breakGlass && earlier.createdAt.getTime() > since);
  if (!used) return null;
  return { signal: 'recent-break-glass', explanation: `This person used break-glass access in the last ${RECENT_BREAK_GLASS_DAYS} days.` };
}

/** Hours apart on a 24-hour clock: 23:00 and 01:00 are two hours apart. */
function hourDistance(a: number, b: number): number {
  const apart = Math.abs(a - b);
  return Math.min(apart, 24 - apart);
}

function minutes(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600} h` : `${Math.round(seconds / 60)} min`;
}

function pad(hour: number): string {
  return String(hour).padStart(2, '0');
}
