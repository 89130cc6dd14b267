import type { RequestScope } from '../domain/request-scope.ts';
import { readStoredScope } from '../domain/scope-rules.ts';
import type { Database } from '../store/database.ts';

/**
 * What a digest reports for a period, every number computed by PostgreSQL (counts, percentiles,
 * top lists), never by loading rows: a digest over a year of history costs a few queries.
 */
export interface DigestReport {
  since: Date;
  until: Date;
  /** Requests made in the period, by the state they are in now. */
  requestsByState: Record<string, number>;
  requestsTotal: number;
  /** Approvals given in the period: by a policy rule (auto-approval, break-glass) or by people. */
  approvedByPolicy: number;
  approvedByPeople: number;
  denied: number;
  breakGlass: BreakGlassUse[];
  /** Access held now, and the longest-running of it. */
  activeGrants: number;
  longestActive: ActiveGrantLine[];
  /** Revocations in the period that came more than a minute after their expiry, or failed an attempt. */
  lateRevocations: number;
  failedRevocationAttempts: number;
  overdueNow: number;
  /**
   * Revocations in the period that reached the target, by provider type: how many the provider
   * verified gone and how late (from the scheduled end to the verified end), and how many it could
   * not verify (recorded as the provider reported them).
   */
  revocationsByProvider: ProviderRevocations[];
  /** Role holders without a grant that the standing-access scan has open now. */
  standingAccess: Array<{ resourceId: string; role: string; principal: string; firstSeenAt: Date }>;
  /** From request to the people's decision, for requests people decided in the period. */
  decisionLatency: { medianSeconds: number; p90Seconds: number } | null;
  topRequesters: Array<{ id: string; requests: number }>;
  topResources: Array<{ id: string; requests: number }>;
  /** The audit chain's last event when the digest was made: posted, it anchors the chain outside the database. */
  chainHead: { seq: bigint; hash: string } | null;
}

export interface ProviderRevocations {
  provider: string;
  verified: number;
  unverified: number;
  /** Seconds from the scheduled end to the verified end, over the verified ones; null when none was. */
  verifiedLateness: { medianSeconds: number; maxSeconds: number } | null;
}

export interface BreakGlassUse {
  requestId: string;
  requesterId: string;
  resourceId: string;
  role: string;
  /** What of the role was taken (issue 17); null or absent for the whole role. */
  scope?: RequestScope | null;
  at: Date;
  reviewedBy: string | null;
  reviewDueAt: Date | null;
}

export interface ActiveGrantLine {
  requesterId: string;
  principal: string;
  resourceId: string;
  role: string;
  /** What of the role was granted (issue 17); null or absent for the whole role. */
  scope?: RequestScope | null;
  grantedAt: Date;
  expiresAt: Date;
}

/**
 * A revocation later than this after its expiry counts as late: measured from the event's dueAt to
 * the millisecond, not from its lateBySeconds, which is rounded (60.4 s late would read 60).
 */
const LATE_AFTER_SECONDS = 60;
const TOP = 5;

export async function computeDigest(db: Database, since: Date, until: Date): Promise<DigestReport> {
  const [byState, decisions, breakGlass, active, longest, revocations, latency, requesters, resources, head, standing, byProvider] = await Promise.all([
    db.$queryRaw<Array<{ state: string; count: bigint }>>`
      SELECT state::text AS state, count(*) AS count FROM access_requests
      WHERE created_at >= ${since} AND created_at < ${until} GROUP BY state`,
    db.$queryRaw<Array<{ by_policy: bigint; by_people: bigint; denied: bigint }>>`
      SELECT count(*) FILTER (WHERE action = 'request.approved' AND actor LIKE 'policy:%') AS by_policy,
             count(*) FILTER (WHERE action = 'request.approved' AND actor NOT LIKE 'policy:%') AS by_people,
             count(*) FILTER (WHERE action = 'request.denied') AS denied
      FROM audit_events WHERE at >= ${since} AND at < ${until} AND action IN ('request.approved', 'request.denied')`,
    db.$queryRaw<Array<{ id: string; requester: string; resource: string; role: string; scope: unknown; at: Date; reviewed_by: string | null; review_due_at: Date | null }>>`
      SELECT id::text, requester_slack_id AS requester, resource_id AS resource, role, scope, created_at AS at, reviewed_by_slack_id AS reviewed_by, review_due_at
      FROM access_requests WHERE break_glass AND created_at >= ${since} AND created_at < ${until} ORDER BY created_at`,
    db.$queryRaw<Array<{ count: bigint }>>`SELECT count(*) AS count FROM grants WHERE revoked_at IS NULL AND granted_at IS NOT NULL`,
    db.$queryRaw<Array<{ requester: string; principal: string; resource: string; role: string; scope: unknown; granted_at: Date; expires_at: Date }>>`
      SELECT r.requester_slack_id AS requester, g.principal, g.resource_id AS resource, g.role, r.scope, g.granted_at, g.expires_at
      FROM grants g JOIN access_requests r ON r.id = g.request_id
      WHERE g.revoked_at IS NULL AND g.granted_at IS NOT NULL AND g.expires_at IS NOT NULL
      ORDER BY g.expires_at - g.granted_at DESC, g.granted_at LIMIT ${TOP}`,
    db.$queryRaw<Array<{ late: bigint; failed: bigint; overdue: bigint }>>`
      SELECT (SELECT count(*) FROM audit_events WHERE action = 'grant.revoked' AND at >= ${since} AND at < ${until}
                AND at - (data->>'dueAt')::timestamptz > make_interval(secs => ${LATE_AFTER_SECONDS})) AS late,
             (SELECT count(*) FROM audit_events WHERE action IN ('grant.revoke_failed', 'grant.revocation_overdue') AND at >= ${since} AND at < ${until}) AS failed,
             (SELECT count(*) FROM grants WHERE revoked_at IS NULL AND expires_at < ${until}::timestamptz - make_interval(secs => ${LATE_AFTER_SECONDS})) AS overdue`,
    db.$queryRaw<Array<{ median: number | null; p90: number | null }>>`
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at)) AS median,
             percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at)) AS p90
      FROM access_requests WHERE decided_by_rule IS NULL AND decided_at >= ${since} AND decided_at < ${until}`,
    db.$queryRaw<Array<{ id: string; requests: bigint }>>`
      SELECT requester_slack_id AS id, count(*) AS requests FROM access_requests
      WHERE created_at >= ${since} AND created_at < ${until} GROUP BY requester_slack_id ORDER BY requests DESC, id LIMIT ${TOP}`,
    db.$queryRaw<Array<{ id: string; requests: bigint }>>`
      SELECT resource_id AS id, count(*) AS requests FROM access_requests
      WHERE created_at >= ${since} AND created_at < ${until} GROUP BY resource_id ORDER BY requests DESC, id LIMIT ${TOP}`,
    db.auditEvent.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true, hash: true } }),
    db.standingAccessFinding.findMany({
      where: { resolvedAt: null },
      orderBy: [{ firstSeenAt: 'asc' }, { principal: 'asc' }],
      take: 50,
      select: { resourceId: true, role: true, principal: true, firstSeenAt: true },
    }),
    // The revocation events that called a provider (a grant closed while another covered the
    // access did not). Events from before verification name no provider and are left out.
    db.$queryRaw<Array<{ provider: string; verified: bigint; unverified: bigint; median: number | null; max: number | null }>>`
      SELECT data->>'provider' AS provider,
             count(*) FILTER (WHERE data->>'verified' = 'true') AS verified,
             count(*) FILTER (WHERE data->>'verified' IS DISTINCT FROM 'true') AS unverified,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(0, extract(epoch FROM at - (data->>'dueAt')::timestamptz)))
               FILTER (WHERE data->>'verified' = 'true') AS median,
             max(greatest(0, extract(epoch FROM at - (data->>'dueAt')::timestamptz))) FILTER (WHERE data->>'verified' = 'true') AS max
      FROM audit_events
      WHERE action = 'grant.revoked' AND at >= ${since} AND at < ${until} AND data->>'providerCalled' = 'true' AND data->>'provider' IS NOT NULL
      GROUP BY data->>'provider' ORDER BY data->>'provider'`,
  ]);
  const requestsByState = Object.fromEntries(byState.map((row) => [row.state, Number(row.count)]));
  const decided = decisions[0];
  const times = latency[0];
  return {
    since,
    until,
    requestsByState,
    requestsTotal: Object.values(requestsByState).reduce((sum, count) => sum + count, 0),
    approvedByPolicy: Number(decided?.by_policy ?? 0),
    approvedByPeople: Number(decided?.by_people ?? 0),
    denied: Number(decided?.denied ?? 0),
    breakGlass: breakGlass.map((row) => ({ requestId: row.id, requesterId: row.requester, resourceId: row.resource, role: row.role, ...digestScope(row.scope), at: row.at, reviewedBy: row.reviewed_by, reviewDueAt: row.review_due_at })),
    activeGrants: Number(active[0]?.count ?? 0),
    longestActive: longest.map((row) => ({ requesterId: row.requester, principal: row.principal, resourceId: row.resource, role: row.role, ...digestScope(row.scope), grantedAt: row.granted_at, expiresAt: row.expires_at })),
    lateRevocations: Number(revocations[0]?.late ?? 0),
    failedRevocationAttempts: Number(revocations[0]?.failed ?? 0),
    overdueNow: Number(revocations[0]?.overdue ?? 0),
    revocationsByProvider: byProvider.map((row) => ({
      provider: row.provider,
      verified: Number(row.verified),
      unverified: Number(row.unverified),
      verifiedLateness: row.median === null ? null : { medianSeconds: Number(row.median), maxSeconds: Number(row.max) },
    })),
    standingAccess: standing,
    decisionLatency: times?.median === null || times?.median === undefined ? null : { medianSeconds: Number(times.median), p90Seconds: Number(times.p90) },
    topRequesters: requesters.map((row) => ({ id: row.id, requests: Number(row.requests) })),
    topResources: resources.map((row) => ({ id: row.id, requests: Number(row.requests) })),
    chainHead: head,
  };
}

/** Nothing happened and nothing is held: the digest says so in one line. */
export function isQuiet(report: DigestReport): boolean {
  return (
    report.requestsTotal === 0 &&
    report.approvedByPolicy + report.approvedByPeople + report.denied === 0 &&
    report.breakGlass.length === 0 &&
    report.standingAccess.length === 0 &&
    report.activeGrants === 0 &&
    report.revocationsByProvider.length === 0 &&
    report.lateRevocations + report.failedRevocationAttempts + report.overdueNow === 0
  );
}

/** A stored scope for a digest line (none for the whole role); one that cannot be read is shown as such, never as the whole role. */
function digestScope(stored: unknown): { scope?: RequestScope } {
  const scope = readStoredScope(stored);
  if (scope === 'invalid') return { scope: { scope: ['(stored in a form Latch cannot read)'] } };
  return scope ? { scope } : {};
}
