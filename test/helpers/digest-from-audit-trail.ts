import { approverGroupsOf, groupOfResource, type ApproverHealth } from '../../src/domain/approver-health.ts';
import type { ResourcePolicy } from '../../src/domain/policy.ts';
import type { Database } from '../../src/store/database.ts';
import type { DigestReport } from '../../src/services/compute-digest.ts';

/**
 * What a digest should report, worked out a second way: the audit trail is read into memory and
 * replayed event by event in TypeScript, with no SQL aggregate, no request or grant row, and none
 * of the digest's own code. Tests compare computeDigest (counts, percentiles and top lists in
 * PostgreSQL, over the rows) with this; a disagreement means one of the two misreads the history.
 *
 * "In the period" follows what the digest promises, from the events: requests made in the period
 * (their `request.created`), approvals and denials given in it (`request.approved`,
 * `request.denied`), revocations and failed attempts that happened in it, and time to decision
 * for requests people decided in it. Grants held and the chain head are as of now.
 */
export interface AuditRow {
  seq: bigint;
  at: Date;
  actor: string;
  action: string;
  requestId: string | null;
  data: unknown;
  prevHash: string;
  hash: string;
}

/** One request as its events tell it. */
export interface RequestStory {
  id: string;
  requesterId: string;
  resourceId: string;
  role: string;
  createdAt: Date;
  state: string;
  breakGlass: boolean;
  reviewDueAt: Date | null;
  reviewedBy: string | null;
  /** Set when people (not a rule) made the final decision. */
  decidedByPeopleAt: Date | null;
}

/** One grant as its events tell it. */
export interface GrantStory {
  id: string;
  requestId: string;
  principal: string | null;
  grantedAt: Date | null;
  /** When the access is due to end: granted until, moved to the moment it was ended early. */
  dueAt: Date | null;
  revokedAt: Date | null;
}

export interface ReplayedHistory {
  events: AuditRow[];
  requests: Map<string, RequestStory>;
  grants: Map<string, GrantStory>;
}

/** A revocation more than this after the access was due counts as late. */
const LATE_AFTER_MS = 60_000;
const TOP = 5;

export async function readAuditTrail(db: Database): Promise<AuditRow[]> {
  const rows = await db.auditEvent.findMany({ orderBy: { seq: 'asc' } });
  return rows.map((row) => ({ seq: row.seq, at: row.at, actor: row.actor, action: row.action, requestId: row.requestId, data: row.data, prevHash: row.prevHash, hash: row.hash }));
}

/** Replays the trail, checking on the way that it is one unbroken chain (seq 1, 2, …, each linked to the one before). */
export function replayAuditTrail(events: AuditRow[]): ReplayedHistory {
  const requests = new Map<string, RequestStory>();
  const grants = new Map<string, GrantStory>();
  let previous: AuditRow | null = null;
  for (const event of events) {
    if (event.seq !== (previous ? previous.seq + 1n : 1n)) throw new Error(`the audit trail skips from ${previous?.seq ?? 0n} to ${event.seq}`);
    if (event.prevHash !== (previous ? previous.hash : '0'.repeat(64))) throw new Error(`event ${event.seq} is not linked to the one before it`);
    previous = event;
    apply(event, requests, grants);
  }
  return { events, requests, grants };
}

function apply(event: AuditRow, requests: Map<string, RequestStory>, grants: Map<string, GrantStory>): void {
  const data = (event.data ?? {}) as Record<string, unknown>;
  const request = event.requestId ? requests.get(event.requestId) : undefined;
  const grantOf = (id: unknown): GrantStory => {
    if (typeof id !== 'string') throw new Error(`event ${event.seq} (${event.action}) names no grant`);
    let grant = grants.get(id);
    if (!grant) grants.set(id, (grant = { id, requestId: event.requestId!, principal: null, grantedAt: null, dueAt: null, revokedAt: null }));
    return grant;
  };
  if (event.action !== 'request.created' && event.requestId && !request) throw new Error(`event ${event.seq} (${event.action}) is about a request never created`);
  // Access granted or being granted ends with its revocation or its failure; a request that ended before (denied, cancelled, failed) stays as it ended.
  const end = (state: string) => {
    if (request && (request.state === 'approved' || request.state === 'active')) request.state = state;
  };

  switch (event.action) {
    case 'request.created':
      requests.set(event.requestId!, {
        id: event.requestId!,
        requesterId: event.actor,
        resourceId: String(data.resourceId),
        role: String(data.role),
        createdAt: event.at,
        state: 'pending',
        breakGlass: data.breakGlass === true,
        reviewDueAt: null,
        reviewedBy: null,
        decidedByPeopleAt: null,
      });
      return;
    case 'request.approved':
      request!.state = 'approved';
      if (event.actor.startsWith('policy:')) request!.reviewDueAt = typeof data.reviewDueAt === 'string' ? new Date(data.reviewDueAt) : null;
      else request!.decidedByPeopleAt = event.at;
      return;
    case 'request.denied':
      request!.state = 'denied';
      request!.decidedByPeopleAt = event.at;
      return;
    case 'request.cancelled':
      request!.state = 'cancelled';
      return;
    case 'request.expired':
      request!.state = 'expired';
      return;
    case 'request.reviewed':
      request!.reviewedBy = event.actor;
      return;
    case 'grant.granted': {
      const grant = grantOf(data.grantId);
      grant.grantedAt = event.at;
      grant.principal = String(data.principal);
      grant.dueAt = new Date(String(data.expiresAt));
      if (data.endedMeanwhile !== true && request!.state === 'approved') request!.state = 'active';
      return;
    }
    case 'grant.end_requested':
      if (request!.state === 'approved') request!.state = 'revoked';
      if (data.grantId !== null) {
        const grant = grantOf(data.grantId);
        if (!grant.revokedAt) grant.dueAt = event.at;
      }
      return;
    case 'grant.failed':
      end('failed');
      if (data.grantId !== null) {
        const grant = grantOf(data.grantId);
        // Refused for good: nothing exists. Timed out: it may exist, so it is due for revocation now.
        if (data.cleanup === true) grant.dueAt = event.at;
        else grant.revokedAt = event.at;
      }
      return;
    case 'grant.revoked':
      grantOf(data.grantId).revokedAt = event.at;
      end('revoked');
      return;
    default:
      return;
  }
}

/** The digest for [since, until), from the replayed history. */
export function digestFromHistory(history: ReplayedHistory, since: Date, until: Date): DigestReport {
  const inPeriod = (at: Date) => at >= since && at < until;
  const made = [...history.requests.values()].filter((request) => inPeriod(request.createdAt));
  const eventsInPeriod = history.events.filter((event) => inPeriod(event.at));
  const count = (predicate: (event: AuditRow) => boolean) => eventsInPeriod.filter(predicate).length;

  const requestsByState: Record<string, number> = {};
  for (const request of made) requestsByState[request.state] = (requestsByState[request.state] ?? 0) + 1;

  const held = [...history.grants.values()].filter((grant) => grant.grantedAt !== null && grant.revokedAt === null);
  const lengthOf = (grant: GrantStory) => grant.dueAt!.getTime() - grant.grantedAt!.getTime();
  const longest = held
    .filter((grant) => grant.dueAt !== null)
    .sort((a, b) => lengthOf(b) - lengthOf(a) || a.grantedAt!.getTime() - b.grantedAt!.getTime())
    .slice(0, TOP);

  const late = eventsInPeriod.filter((event) => {
    if (event.action !== 'grant.revoked') return false;
    const grant = history.grants.get((event.data as { grantId: string }).grantId)!;
    return event.at.getTime() - grant.dueAt!.getTime() > LATE_AFTER_MS;
  });

  const latencies = [...history.requests.values()]
    .filter((request) => request.decidedByPeopleAt !== null && inPeriod(request.decidedByPeopleAt))
    .map((request) => (request.decidedByPeopleAt!.getTime() - request.createdAt.getTime()) / 1000)
    .sort((a, b) => a - b);

  const head = history.events.at(-1);
  return {
    since,
    until,
    requestsByState,
    requestsTotal: made.length,
    approvedByPolicy: count((event) => event.action === 'request.approved' && event.actor.startsWith('policy:')),
    approvedByPeople: count((event) => event.action === 'request.approved' && !event.actor.startsWith('policy:')),
    denied: count((event) => event.action === 'request.denied'),
    breakGlass: made
      .filter((request) => request.breakGlass)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      .map((request) => ({ requestId: request.id, requesterId: request.requesterId, resourceId: request.resourceId, role: request.role, at: request.createdAt, reviewedBy: request.reviewedBy, reviewDueAt: request.reviewDueAt })),
    activeGrants: held.length,
    longestActive: longest.map((grant) => {
      const request = history.requests.get(grant.requestId)!;
      return { requesterId: request.requesterId, principal: grant.principal!, resourceId: request.resourceId, role: request.role, grantedAt: grant.grantedAt!, expiresAt: grant.dueAt! };
    }),
    lateRevocations: late.length,
    failedRevocationAttempts: count((event) => event.action === 'grant.revoke_failed' || event.action === 'grant.revocation_overdue'),
    overdueNow: [...history.grants.values()].filter((grant) => grant.revokedAt === null && grant.dueAt !== null && grant.dueAt.getTime() < until.getTime() - LATE_AFTER_MS).length,
    standingAccess: openStandingAccess(history.events),
    decisionLatency: latencies.length === 0 ? null : { medianSeconds: percentile(latencies, 0.5), p90Seconds: percentile(latencies, 0.9) },
    topRequesters: top(made.map((request) => request.requesterId)),
    topResources: top(made.map((request) => request.resourceId)),
    revocationsByProvider: revocationsByProvider(eventsInPeriod),
    chainHead: head ? { seq: head.seq, hash: head.hash } : null,
  };
}

/** The continuous percentile (linear interpolation between the two nearest ranks), of sorted values. */
export function percentile(sorted: number[], fraction: number): number {
  const position = fraction * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.ceil(position);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

/** The most frequent values, most first, ties by value. */
function top(values: string[]): Array<{ id: string; requests: number }> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts]
    .map(([id, requests]) => ({ id, requests }))
    .sort((a, b) => b.requests - a.requests || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, TOP);
}

/** Standing-access findings the scan opened and has not resolved. */
function openStandingAccess(events: AuditRow[]): DigestReport['standingAccess'] {
  const open = new Map<string, { resourceId: string; role: string; principal: string; firstSeenAt: Date }>();
  for (const event of events) {
    if (event.action !== 'standing_access.found' && event.action !== 'standing_access.resolved') continue;
    const { resourceId, role, principal } = event.data as { resourceId: string; role: string; principal: string };
    const key = JSON.stringify([resourceId, role, principal]);
    if (event.action === 'standing_access.resolved') open.delete(key);
    else if (!open.has(key)) open.set(key, { resourceId, role, principal, firstSeenAt: event.at });
  }
  return [...open.values()].sort((a, b) => a.firstSeenAt.getTime() - b.firstSeenAt.getTime() || (a.principal < b.principal ? -1 : 1));
}

/** Per provider type, the revocations that called it: verified gone (and how late), or not verifiable. */
function revocationsByProvider(events: AuditRow[]): DigestReport['revocationsByProvider'] {
  const byProvider = new Map<string, { verified: number[]; unverified: number }>();
  for (const event of events) {
    const data = (event.data ?? {}) as Record<string, unknown>;
    if (event.action !== 'grant.revoked' || data.providerCalled !== true || typeof data.provider !== 'string') continue;
    const row = byProvider.get(data.provider) ?? { verified: [], unverified: 0 };
    byProvider.set(data.provider, row);
    if (data.verified === true) row.verified.push(Math.max(0, (event.at.getTime() - new Date(String(data.dueAt)).getTime()) / 1000));
    else row.unverified++;
  }
  return [...byProvider.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([provider, row]) => {
      const late = [...row.verified].sort((a, b) => a - b);
      return {
        provider,
        verified: late.length,
        unverified: row.unverified,
        verifiedLateness: late.length === 0 ? null : { medianSeconds: percentile(late, 0.5), maxSeconds: late.at(-1)! },
      };
    });
}

/**
 * Approver health for [since, until), from the replayed history: votes are the `approval.recorded`
 * events, decisions by people and expiries the requests' stories. Only the naming of approver
 * groups is the digest's own (approverGroupsOf: which resources share a rule is a definition, not
 * a computation); counts, percentiles and pairs are worked out here. Lists come sorted by their
 * group key or ids, not in the digest's order: compare them after sorting the digest's the same way.
 */
export function approverHealthFromHistory(history: ReplayedHistory, resources: readonly ResourcePolicy[], since: Date, until: Date, rubberStampUnderSeconds: number): ApproverHealth {
  const inPeriod = (at: Date) => at >= since && at < until;
  const groups = approverGroupsOf(resources);
  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

  const latencies = new Map<string, { group: ReturnType<typeof groupOfResource>; seconds: number[] }>();
  for (const request of history.requests.values()) {
    if (request.decidedByPeopleAt === null || !inPeriod(request.decidedByPeopleAt)) continue;
    const group = groupOfResource(groups, request.resourceId);
    const entry = latencies.get(group.key) ?? { group, seconds: [] };
    latencies.set(group.key, entry);
    entry.seconds.push((request.decidedByPeopleAt.getTime() - request.createdAt.getTime()) / 1000);
  }

  // Per approver, the requests they approved in the period and those approved quickly; per (approver, requester), the requests.
  const approvedBy = new Map<string, { all: Set<string>; quick: Set<string> }>();
  const approvedOf = new Map<string, Set<string>>();
  for (const event of history.events) {
    const data = (event.data ?? {}) as Record<string, unknown>;
    if (event.action !== 'approval.recorded' || data.decision !== 'approve' || !inPeriod(event.at)) continue;
    const request = history.requests.get(event.requestId!)!;
    const mine = approvedBy.get(event.actor) ?? { all: new Set<string>(), quick: new Set<string>() };
    approvedBy.set(event.actor, mine);
    mine.all.add(request.id);
    if (event.at.getTime() - request.createdAt.getTime() < rubberStampUnderSeconds * 1000) mine.quick.add(request.id);
    const edge = JSON.stringify([event.actor, request.requesterId]);
    approvedOf.set(edge, (approvedOf.get(edge) ?? new Set<string>()).add(request.id));
  }
  const mutual: ApproverHealth['mutualApprovals'] = [];
  for (const [edge, requests] of approvedOf) {
    const [approver, requester] = JSON.parse(edge) as [string, string];
    const back = approvedOf.get(JSON.stringify([requester, approver]));
    if (approver < requester && back) mutual.push({ people: [approver, requester], approvals: [requests.size, back.size] });
  }

  const expiredBy = new Map<string, number>();
  for (const event of history.events) {
    if (event.action !== 'request.expired' || !inPeriod(event.at)) continue;
    const { resourceId } = history.requests.get(event.requestId!)!;
    expiredBy.set(resourceId, (expiredBy.get(resourceId) ?? 0) + 1);
  }
  const expiredGroups = new Map<string, ApproverHealth['expiredUndecided']['byGroup'][number]>();
  for (const [resourceId, requests] of [...expiredBy].sort(([a], [b]) => byText(a, b))) {
    const group = groupOfResource(groups, resourceId);
    const entry = expiredGroups.get(group.key) ?? { group, total: 0, resources: [] };
    expiredGroups.set(group.key, entry);
    entry.total += requests;
    entry.resources.push({ resourceId, requests });
  }

  return {
    rubberStampUnderSeconds,
    decisionTimes: [...latencies.values()]
      .map(({ group, seconds }) => {
        const sorted = [...seconds].sort((a, b) => a - b);
        return { group, decisions: sorted.length, medianSeconds: percentile(sorted, 0.5), p90Seconds: percentile(sorted, 0.9) };
      })
      .sort((a, b) => byText(a.group.key, b.group.key)),
    quickApprovers: [...approvedBy]
      .filter(([, mine]) => mine.quick.size > 0)
      .map(([approverId, mine]) => ({ approverId, quick: mine.quick.size, approvals: mine.all.size }))
      .sort((a, b) => byText(a.approverId, b.approverId)),
    mutualApprovals: mutual.sort((a, b) => byText(a.people.join(' '), b.people.join(' '))),
    expiredUndecided: { total: [...expiredBy.values()].reduce((sum, count) => sum + count, 0), byGroup: [...expiredGroups.values()].sort((a, b) => byText(a.group.key, b.group.key)) },
  };
}
