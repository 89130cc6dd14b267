import { explainAutoApproval } from '../../src/domain/auto-approval.ts';
import type { Policy, ResourcePolicy, RolePolicy } from '../../src/domain/policy.ts';
import { permanent, transient, type ProviderResult } from '../../src/providers/provider.ts';
import type { SeedPopulation } from './population.ts';
import { SeededRandom } from './random.ts';

/**
 * What happens to each seeded request, decided before anything is written. Every plan is drawn
 * from a random stream of its own (the seed and the plan's number), and nothing in a plan depends
 * on the wall clock, so one seed always gives the same requests, the same people and the same
 * final states, whenever it runs. Only where a request falls in the week changes with the end of
 * the history: an auto-approval rule with office hours may then approve a request that people
 * approved in another run, which changes who approved it but never how it ended.
 */
export type PlanKind =
  /** Approved (by people or by a rule), granted, revoked at expiry: most of the history. */
  | 'used'
  | 'ended-early'
  | 'revoked-by-admin'
  /** More time asked for and approved: two requests, both revoked. */
  | 'extended'
  /** More time asked for and denied: two requests, one revoked, one denied. */
  | 'extension-denied'
  | 'denied'
  | 'cancelled'
  | 'expired'
  | 'break-glass'
  /** The provider refuses the grant for good: the request fails. */
  | 'grant-failed'
  /** The provider times out once, the retry grants. */
  | 'grant-retried'
  /** The provider fails the revocation once or more: a late revocation. */
  | 'revoke-retried'
  /** Asked for a later start (a maintenance window). */
  | 'later-start'
  // Still open when the history ends:
  | 'active-at-end'
  | 'pending-at-end'
  | 'approved-at-end';

export const PLAN_KINDS: readonly PlanKind[] = [
  'used', 'ended-early', 'revoked-by-admin', 'extended', 'extension-denied', 'denied', 'cancelled', 'expired', 'break-glass',
  'grant-failed', 'grant-retried', 'revoke-retried', 'later-start', 'active-at-end', 'pending-at-end', 'approved-at-end',
];

/** How often each kind of closed history happens (relative weights). */
const MIX: ReadonlyArray<readonly [PlanKind, number]> = [
  ['used', 50],
  ['ended-early', 8],
  ['revoked-by-admin', 1.5],
  ['extended', 4],
  ['extension-denied', 1],
  ['denied', 10],
  ['cancelled', 5],
  ['expired', 5],
  ['break-glass', 3],
  ['grant-failed', 1],
  ['grant-retried', 1],
  ['revoke-retried', 2],
  ['later-start', 2.5],
];

/** One approver's click, this long after the request (or the request for more time) was made. */
export interface PlannedDecision {
  by: string;
  decision: 'approve' | 'deny';
  afterMs: number;
  comment: string | null;
}

export interface Plan {
  index: number;
  kind: PlanKind;
  /** The plan's own stream, for what is drawn while it runs (latencies). */
  rng: SeededRandom;
  resource: ResourcePolicy;
  role: string;
  requester: string;
  durationSeconds: number;
  reason: string;
  ticket: string | null;
  breakGlass: boolean;
  createdAt: number;
  startsAt: number | null;
  /** Skipped when an auto-approval rule approves the request by itself. */
  decisions: PlannedDecision[];
  cancelAfterMs: number | null;
  /** For `expired`: when the expiry sweep runs, after the request's pending timeout. */
  sweepAfterMs: number | null;
  review: { by: string; afterMs: number } | null;
  /** What happens once the access is granted, as a share of its duration. */
  afterGrant:
    | { kind: 'end-early'; by: string; atShare: number }
    | { kind: 'extend'; atShare: number; durationSeconds: number; reason: string; decisions: PlannedDecision[] }
    | null;
  failures: { grant: Array<ProviderResult<never>>; revoke: Array<ProviderResult<never>> };
  /** Requests the plan makes (an extension is a request of its own). */
  slots: number;
}

/** The policy gives the seed nothing it can do: said to the person, not thrown as a bug. */
export class UnseedablePolicyError extends Error {}

export interface Skipped {
  resourceId: string;
  why: string;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Room after a plan's last planned step for grant latency, retries and revocation lateness. */
const MARGIN_MS = 15 * MINUTE;

const DURATION_MINUTES = [15, 30, 30, 60, 60, 60, 120, 120, 240, 480];

const REASONS = [
  'Investigating slow queries reported by support',
  'Checking data for a customer escalation',
  'Running the monthly reconciliation report',
  'Debugging the failed nightly export job',
  'Verifying a hotfix after the deploy',
  'Backfilling rows missed by the importer',
  'Reviewing access logs for the quarterly audit',
  'Rotating credentials as part of the runbook',
  'Cleaning up orphaned records after the migration',
  'Reproducing a bug that only shows with production data',
  'Pairing with the on-call engineer on an alert',
  'Checking replication lag before the release',
];
const INCIDENT_REASONS = [
  'Production outage: checkout failing, paging did not reach the approvers',
  'Incident in progress: database connections exhausted',
  'SEV1: error rate spiking after the deploy, need to roll back by hand',
  'Customer data not loading, investigating during the incident',
];
const DENIALS = [
  'Use the read replica for this instead.',
  'Needs a change ticket first.',
  'Too long: ask for an hour and extend if needed.',
  'Not during the change freeze, please.',
  'Ask your team lead to request it.',
  'The dashboard already shows this; no access needed.',
];
const EXTENSION_REASONS = ['The backfill is taking longer than planned', 'Still verifying the fix', 'The migration needs another pass', 'Waiting on the vendor to confirm'];
const GRANT_FAILURES = ['the role does not exist on the target', 'the target refused the credentials: check the grantor account'];
const TRANSIENT_FAILURES = ['connection timed out', 'the target answered 503 Service Unavailable', 'rate limited: retry later'];

/** Ticket forms tried against a resource's ticketPattern; the first that match are used. */
const TICKET_FORMS = ['INC-', 'CHG-', 'OPS-', 'SEC-', 'JIRA-', 'TICKET-', '#', ''];

/** Per resource, what the seed can do with it under this policy: worked out once. */
interface ResourceFacts {
  resource: ResourcePolicy;
  weight: number;
  requesters: string[];
  breakGlassRequesters: string[];
  approvers: string[];
  reviewers: string[];
  /** Ticket prefixes its pattern accepts; null when it has no pattern (tickets are optional). */
  ticketForms: string[] | null;
}

export interface PlanSet {
  plans: Plan[];
  skipped: Skipped[];
}

/**
 * `requests` requests' worth of plans, their times between `until` − `days` and `until`. Plans
 * that close are placed so that they close before `until`; the few that stay open are placed
 * near it.
 */
export function drawPlans(policy: Policy, population: SeedPopulation, options: { requests: number; days: number; seed: string; until: number }): PlanSet {
  const { facts, skipped } = resourceFacts(policy, population);
  if (facts.length === 0) {
    throw new UnseedablePolicyError(`no resource of the policy can be seeded: ${skipped.map((s) => `${s.resourceId}: ${s.why}`).join('; ') || 'it has none'}`);
  }
  const from = options.until - options.days * DAY;
  const open = openAtEnd(options.requests, options.days);
  const plans: Plan[] = [];
  let slots = 0;
  for (let index = 0; slots < options.requests; index++) {
    const rng = new SeededRandom(options.seed, 'plan', index);
    const left = options.requests - slots;
    let kind: PlanKind;
    if (index < open.active) kind = 'active-at-end';
    else if (index < open.active + open.pending) kind = 'pending-at-end';
    else if (index < open.active + open.pending + open.approved) kind = 'approved-at-end';
    else kind = rng.weighted(MIX.filter(([candidate]) => left >= 2 || !candidate.startsWith('exten')));
    const plan = drawPlan(kind, index, rng, facts, population, { from, until: options.until }) ?? fallback(kind, index, rng, facts, population, { from, until: options.until });
    plans.push(plan);
    slots += plan.slots;
  }
  return { plans, skipped };
}

function fallback(kind: PlanKind, index: number, rng: SeededRandom, facts: ResourceFacts[], population: SeedPopulation, window: Window): Plan {
  for (const other of ['used', 'denied', 'cancelled', 'break-glass'] as const) {
    if (other === kind) continue;
    const plan = drawPlan(other, index, rng, facts, population, window);
    if (plan) return plan;
  }
  throw new UnseedablePolicyError('the policy lets nobody the seed knows of request anything it can decide (see "Seed a database" in the README for who the seed knows)');
}

/** How many requests are still open when the history ends: about what a steady flow leaves open. */
export function openAtEnd(requests: number, days: number): { active: number; pending: number; approved: number } {
  if (requests < 10) return { active: 0, pending: 0, approved: 0 };
  const perDay = requests / days;
  const clamp = (value: number, min: number, max: number) => Math.max(min, Math.min(max, value));
  return {
    active: clamp(Math.round(perDay * 0.12), 2, Math.ceil(requests * 0.05)),
    pending: clamp(Math.round(perDay * 0.06), 1, Math.ceil(requests * 0.03)),
    approved: requests >= 50 ? clamp(Math.round(perDay * 0.02), 1, Math.ceil(requests * 0.01)) : 0,
  };
}

function resourceFacts(policy: Policy, population: SeedPopulation): { facts: ResourceFacts[]; skipped: Skipped[] } {
  const facts: ResourceFacts[] = [];
  const skipped: Skipped[] = [];
  const admins = population.securityAdmins();
  policy.resources.forEach((resource, position) => {
    const resolvable = (people: string[]) => people.filter((person) => population.principalOn(resource, person) !== null);
    const requesters = resolvable(population.audience(resource.requesters));
    const breakGlassRequesters = resource.breakGlass ? resolvable(population.audience(resource.breakGlass.requesters)) : [];
    const approvers = population.approversOf(resource);
    let ticketForms: string[] | null = null;
    if (resource.ticketPattern) {
      const pattern = new RegExp(resource.ticketPattern, 'u');
      ticketForms = TICKET_FORMS.filter((form) => pattern.test(`${form}4821`));
    }
    const why =
      requesters.length === 0 && breakGlassRequesters.length === 0
        ? 'nobody the seed knows of may request it (or has an account on it)'
        : ticketForms?.length === 0
          ? `no ticket form the seed knows (INC-1234, CHG-1234, …) matches ${resource.ticketPattern}`
          : null;
    if (why) {
      skipped.push({ resourceId: resource.id, why });
      return;
    }
    facts.push({
      resource,
      // The first resources of a policy tend to be the ones people ask for most.
      weight: 1 / (1 + 0.5 * position),
      requesters,
      breakGlassRequesters,
      approvers,
      reviewers: [...new Set([...approvers, ...admins])],
      ticketForms,
    });
  });
  return { facts, skipped };
}

interface Window {
  from: number;
  until: number;
}

const NEEDS_APPROVAL: ReadonlySet<PlanKind> = new Set(['used', 'ended-early', 'revoked-by-admin', 'extended', 'extension-denied', 'grant-failed', 'grant-retried', 'revoke-retried', 'later-start', 'active-at-end', 'approved-at-end']);
/** Kinds whose story needs people to decide (or not decide): no auto-approval rule may cover them. */
const PEOPLE_ONLY: ReadonlySet<PlanKind> = new Set(['denied', 'cancelled', 'expired', 'pending-at-end']);

function drawPlan(kind: PlanKind, index: number, rng: SeededRandom, facts: ResourceFacts[], population: SeedPopulation, window: Window): Plan | null {
  for (let attempt = 0; attempt < 40; attempt++) {
    const plan = tryPlan(kind, index, rng, facts, population, window);
    if (plan) return plan;
  }
  return null;
}

function tryPlan(kind: PlanKind, index: number, rng: SeededRandom, facts: ResourceFacts[], population: SeedPopulation, window: Window): Plan | null {
  const breakGlass = kind === 'break-glass';
  const candidates = facts.filter((f) => (breakGlass ? f.resource.breakGlass && f.breakGlassRequesters.length > 0 : f.requesters.length > 0));
  if (candidates.length === 0) return null;
  const fact = rng.weighted(candidates.map((f) => [f, f.weight] as const));
  const { resource } = fact;
  const requester = rng.pick(breakGlass ? fact.breakGlassRequesters : fact.requesters);
  // Roles that take a scope are left out: the history would need made-up customers and tables.
  const role = rng.weighted(resource.roles.filter((r) => !r.scopes).map((r, i) => [r, i === 0 ? 3 : 1] as const));
  const pendingMs = resource.pendingTimeoutSeconds * 1000;

  // How long the access is asked for: what the form suggests, or a usual length within the limits.
  let maxSeconds = breakGlass ? Math.min(role.maxDurationSeconds, resource.breakGlass!.maxDurationSeconds) : role.maxDurationSeconds;
  if (kind === 'extended' || kind === 'extension-denied') maxSeconds -= 15 * 60; // leave room for more time
  if (maxSeconds < 60) return null;
  const durationSeconds = pickDuration(rng, maxSeconds, kind === 'active-at-end' ? 30 * 60 : 0, breakGlass ? null : resource.defaultDurationSeconds);

  if (PEOPLE_ONLY.has(kind) && couldAutoApprove(resource, requester, role, durationSeconds, population)) return null;
  const approvers = fact.approvers.filter((person) => person !== requester);
  const approvalSet = NEEDS_APPROVAL.has(kind) ? pickApprovers(rng, resource, approvers, population) : null;
  if (NEEDS_APPROVAL.has(kind) && !approvalSet) return null;
  if ((kind === 'denied' || kind === 'cancelled' || kind === 'expired' || kind === 'pending-at-end') && approvers.length === 0) return null;

  const ticket = breakGlass ? (rng.chance(0.3) ? `INC-${rng.int(1000, 9999)}` : null) : makeTicket(rng, fact.ticketForms);
  const reason = makeReason(rng, breakGlass ? INCIDENT_REASONS : REASONS, resource.minReasonLength);
  if (reason === null) return null;

  const plan: Plan = {
    index,
    kind,
    rng,
    resource,
    role: role.id,
    requester,
    durationSeconds,
    reason,
    ticket,
    breakGlass,
    createdAt: 0,
    startsAt: null,
    decisions: [],
    cancelAfterMs: null,
    sweepAfterMs: null,
    review: null,
    afterGrant: null,
    failures: { grant: [], revoke: [] },
    slots: kind === 'extended' || kind === 'extension-denied' ? 2 : 1,
  };
  const durationMs = durationSeconds * 1000;
  // The latest moment a decision may come: before the request expires undecided.
  const decisionCap = 0.9 * pendingMs;
  let spanMs: number;

  switch (kind) {
    case 'used':
    case 'ended-early':
    case 'revoked-by-admin':
    case 'grant-failed':
    case 'grant-retried':
    case 'revoke-retried': {
      plan.decisions = approvals(rng, approvalSet!, decisionCap);
      spanMs = lastDecision(plan.decisions) + durationMs;
      if (kind === 'ended-early') plan.afterGrant = { kind: 'end-early', by: requester, atShare: rng.between(0.1, 0.8) };
      if (kind === 'revoked-by-admin') {
        const admins = population.securityAdmins().filter((admin) => admin !== requester);
        plan.afterGrant = { kind: 'end-early', by: admins.length > 0 ? rng.pick(admins) : requester, atShare: rng.between(0.1, 0.6) };
      }
      if (kind === 'grant-failed') plan.failures.grant.push(permanent(rng.pick(GRANT_FAILURES)));
      if (kind === 'grant-retried') plan.failures.grant.push(transient(rng.pick(TRANSIENT_FAILURES)));
      if (kind === 'revoke-retried') {
        // Mostly a blip retried within seconds; sometimes an outage long enough to alert and be late.
        for (let i = rng.chance(0.7) ? rng.int(1, 3) : rng.int(5, 7); i > 0; i--) plan.failures.revoke.push(transient(rng.pick(TRANSIENT_FAILURES)));
      }
      break;
    }
    case 'extended':
    case 'extension-denied': {
      plan.decisions = approvals(rng, approvalSet!, decisionCap);
      const atShare = rng.between(0.5, 0.85);
      const remainingMs = durationMs * (1 - atShare);
      const extensionSeconds = pickDuration(rng, role.maxDurationSeconds - durationSeconds, 0, null);
      const extensionApprovers = kind === 'extended' ? pickApprovers(rng, resource, approvers, population) : null;
      const extensionCap = Math.min(0.5 * remainingMs, decisionCap);
      const decisions = kind === 'extended' ? approvals(rng, extensionApprovers ?? approvalSet!, extensionCap) : [denial(rng, approvers, extensionCap)];
      const reasonForMore = makeReason(rng, EXTENSION_REASONS, 1) ?? 'More time needed';
      plan.afterGrant = { kind: 'extend', atShare, durationSeconds: extensionSeconds, reason: reasonForMore, decisions };
      spanMs = lastDecision(plan.decisions) + durationMs + extensionSeconds * 1000;
      break;
    }
    case 'later-start': {
      plan.decisions = approvals(rng, approvalSet!, decisionCap);
      const startOffset = roundTo(rng.between(2 * HOUR, 3 * DAY), 30 * MINUTE);
      spanMs = Math.max(startOffset, lastDecision(plan.decisions)) + durationMs;
      plan.startsAt = startOffset; // made absolute once the request is placed
      break;
    }
    case 'denied': {
      if (resource.approvers.required >= 2 && approvers.length >= 2 && rng.chance(0.4)) {
        const first = rng.pick(approvers);
        const afterMs = rng.between(MINUTE, decisionCap / 2);
        plan.decisions.push({ by: first, decision: 'approve', afterMs, comment: null });
        plan.decisions.push({ ...denial(rng, approvers.filter((a) => a !== first), decisionCap / 2), afterMs: afterMs + rng.between(MINUTE, decisionCap / 2) });
      } else plan.decisions.push(denial(rng, approvers, decisionCap));
      spanMs = lastDecision(plan.decisions);
      break;
    }
    case 'cancelled': {
      plan.cancelAfterMs = logUniform(rng, MINUTE, Math.max(2 * MINUTE, decisionCap));
      if (resource.approvers.required >= 2 && rng.chance(0.3)) plan.decisions.push({ by: rng.pick(approvers), decision: 'approve', afterMs: plan.cancelAfterMs / 2, comment: null });
      spanMs = plan.cancelAfterMs;
      break;
    }
    case 'expired': {
      if (resource.approvers.required >= 2 && rng.chance(0.3)) plan.decisions.push({ by: rng.pick(approvers), decision: 'approve', afterMs: rng.between(MINUTE, decisionCap), comment: null });
      // The maintenance sweep runs every minute.
      plan.sweepAfterMs = pendingMs + rng.between(1_000, MINUTE);
      spanMs = plan.sweepAfterMs;
      break;
    }
    case 'break-glass': {
      const { reviewWithinSeconds } = resource.breakGlass!;
      const reviewers = fact.reviewers.filter((person) => person !== requester);
      const when = rng.weighted([['in-time', 70], ['late', 15], ['never', 15]] as const);
      if (when !== 'never' && reviewers.length > 0) {
        const afterMs = when === 'in-time' ? rng.between(5 * MINUTE, 0.9 * reviewWithinSeconds * 1000) : rng.between(1.05, 2) * reviewWithinSeconds * 1000;
        plan.review = { by: rng.pick(reviewers), afterMs };
      }
      spanMs = Math.max(durationMs, plan.review?.afterMs ?? 0);
      break;
    }
    case 'active-at-end': {
      // Made within the access's duration before the end, decided soon enough to be granted before
      // it, so it is active at the end however it was approved.
      const sinceMs = durationMs * rng.between(0.2, 0.7);
      plan.decisions = approvals(rng, approvalSet!, Math.min(0.5 * sinceMs, decisionCap));
      plan.createdAt = window.until - sinceMs;
      break;
    }
    case 'pending-at-end': {
      const sinceMs = pendingMs * rng.between(0.05, 0.6);
      if (resource.approvers.required >= 2 && rng.chance(0.5)) plan.decisions.push({ by: rng.pick(approvers), decision: 'approve', afterMs: sinceMs * rng.between(0.1, 0.8), comment: null });
      plan.createdAt = window.until - sinceMs;
      break;
    }
    case 'approved-at-end': {
      const sinceMs = Math.min(rng.between(HOUR, 12 * HOUR), decisionCap);
      plan.decisions = approvals(rng, approvalSet!, 0.8 * sinceMs);
      plan.createdAt = window.until - sinceMs;
      plan.startsAt = window.until + roundTo(rng.between(HOUR, 2 * DAY), 30 * MINUTE) - plan.createdAt;
      break;
    }
  }
  if (kind === 'active-at-end' || kind === 'pending-at-end' || kind === 'approved-at-end') {
    if (plan.startsAt !== null) plan.startsAt += plan.createdAt;
    return plan;
  }
  plan.createdAt = placeInTime(rng, window.from, window.until - spanMs! - MARGIN_MS, breakGlass);
  if (plan.startsAt !== null) plan.startsAt = roundTo(plan.createdAt + plan.startsAt, 30 * MINUTE);
  return plan;
}

/** Would an auto-approval rule approve it at some time of the week? (Office hours aside.) */
function couldAutoApprove(resource: ResourcePolicy, requester: string, role: RolePolicy, durationSeconds: number, population: SeedPopulation): boolean {
  const anyTime = { ...resource, autoApprove: resource.autoApprove.map((rule) => ({ ...rule, schedule: null })) };
  const verdicts = explainAutoApproval(anyTime, { requesterId: requester, role: role.id, durationSeconds, startsAt: null }, population.groupsOf(requester), new Date(0));
  return verdicts.some((verdict) => verdict.applies);
}

/**
 * Approvers that together approve a request on `resource`: one from each `oneFrom` group, then
 * others up to the number required. Null when the policy's approvers cannot (the requester
 * excluded).
 */
function pickApprovers(rng: SeededRandom, resource: ResourcePolicy, pool: string[], population: SeedPopulation): string[] | null {
  const chosen: string[] = [];
  for (const group of resource.approvers.oneFrom) {
    if (chosen.some((person) => population.groupsOf(person).has(group))) continue;
    const members = pool.filter((person) => !chosen.includes(person) && population.groupsOf(person).has(group));
    if (members.length === 0) return null;
    chosen.push(rng.pick(members));
  }
  const rest = pool.filter((person) => !chosen.includes(person));
  const needed = resource.approvers.required - chosen.length;
  if (needed > rest.length) return null;
  return rng.sample([...chosen, ...rng.sample(rest, Math.max(0, needed))], Number.MAX_SAFE_INTEGER);
}

/** Approvals one after another: the first within minutes to an hour or two, the others soon after. */
function approvals(rng: SeededRandom, approvers: string[], capMs: number): PlannedDecision[] {
  let afterMs = 0;
  return approvers.map((by, i) => {
    afterMs = Math.min(afterMs + logUniform(rng, i === 0 ? MINUTE / 2 : MINUTE / 4, i === 0 ? 2 * HOUR : 45 * MINUTE), capMs * ((i + 1) / approvers.length));
    return { by, decision: 'approve' as const, afterMs, comment: null };
  });
}

function denial(rng: SeededRandom, approvers: string[], capMs: number): PlannedDecision {
  return { by: rng.pick(approvers), decision: 'deny', afterMs: Math.min(logUniform(rng, MINUTE / 2, 3 * HOUR), capMs), comment: rng.pick(DENIALS) };
}

function lastDecision(decisions: PlannedDecision[]): number {
  return decisions.reduce((latest, decision) => Math.max(latest, decision.afterMs), 0);
}

function pickDuration(rng: SeededRandom, maxSeconds: number, minSeconds: number, suggested: number | null): number {
  if (suggested !== null && suggested <= maxSeconds && suggested >= minSeconds && rng.chance(0.35)) return suggested;
  const fits = DURATION_MINUTES.filter((minutes) => minutes * 60 <= maxSeconds && minutes * 60 >= minSeconds);
  return fits.length > 0 ? rng.pick(fits) * 60 : Math.max(60, Math.floor(maxSeconds / 60) * 60);
}

function makeTicket(rng: SeededRandom, forms: string[] | null): string | null {
  if (forms === null) return rng.chance(0.4) ? `${rng.pick(['INC-', 'CHG-'])}${rng.int(1000, 9999)}` : null;
  return `${rng.pick(forms)}${rng.int(1000, 9999)}`;
}

function makeReason(rng: SeededRandom, reasons: string[], minLength: number): string | null {
  let reason = rng.pick(reasons);
  while (reason.length < minLength && reason.length < 900) reason += `; ${rng.pick(reasons).toLowerCase()}`;
  return reason.length >= minLength ? reason : null;
}

/**
 * A moment in [from, to], more often on weekdays in working hours (UTC) than at night or at the
 * weekend; break-glass happens at any hour.
 */
function placeInTime(rng: SeededRandom, from: number, to: number, anyHour: boolean): number {
  if (to <= from) return from;
  for (let attempt = 0; attempt < 60; attempt++) {
    const at = rng.between(from, to);
    const time = new Date(at);
    const hour = time.getUTCHours();
    const weekend = time.getUTCDay() === 0 || time.getUTCDay() === 6;
    let weight = hour >= 7 && hour < 18 ? 1 : hour >= 18 && hour < 22 ? 0.3 : 0.08;
    if (weekend) weight *= 0.25;
    if (anyHour) weight = Math.max(weight, 0.4);
    if (rng.chance(weight)) return Math.floor(at);
  }
  return Math.floor(rng.between(from, to));
}

function logUniform(rng: SeededRandom, min: number, max: number): number {
  if (max <= min) return max;
  return Math.exp(rng.between(Math.log(min), Math.log(max)));
}

function roundTo(ms: number, step: number): number {
  return Math.round(ms / step) * step;
}
