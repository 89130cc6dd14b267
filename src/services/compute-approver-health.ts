import {
  approverGroupsOf,
  expiriesByGroup,
  groupOfResource,
  mutualApprovals,
  quickApproversFirst,
  slowestFirst,
  type ApproverHealth,
} from '../domain/approver-health.ts';
import type { ResourcePolicy } from '../domain/policy.ts';
import type { Database } from '../store/database.ts';

export interface ApproverHealthInput {
  /** The policy in force's resources: they name the approver groups. */
  resources: readonly ResourcePolicy[];
  since: Date;
  until: Date;
  /** An approval sooner than this after its request counts as quick. */
  rubberStampUnderSeconds: number;
}

/**
 * How approvers behaved in [since, until), for a digest. As computeDigest does, PostgreSQL does the
 * counting and the percentiles; what comes back is a row per approver group, per approver, per
 * resource, and per approver–requester pair that approved both ways, never a row per request.
 *
 * "In the period": decisions people made in it (time to decision, as the digest's overall line),
 * approvals given in it (an approval is a person's approve vote; one per request however many
 * revisions they approved), and requests that expired in it.
 */
export async function computeApproverHealth(db: Database, input: ApproverHealthInput): Promise<ApproverHealth> {
  const { since, until, rubberStampUnderSeconds } = input;
  const groups = approverGroupsOf(input.resources);
  // Resource → its group's key, for PostgreSQL to gather the decisions of a group's resources into one percentile.
  const mapped = groups.flatMap((group) => group.resourceIds.map((resourceId) => [resourceId, group.key] as const));
  const resourceIds = mapped.map(([resourceId]) => resourceId);
  const groupKeys = mapped.map(([, key]) => key);

  const [times, quick, mutual, expired] = await Promise.all([
    // A resource the policy no longer has is a group of its own (groupOfResource), keyed by its id.
    db.$queryRaw<Array<{ resource_id: string; group_key: string | null; decisions: bigint; median: number; p90: number }>>`
      WITH mapping AS (SELECT * FROM unnest(${resourceIds}::text[], ${groupKeys}::text[]) AS m(resource_id, group_key))
      SELECT min(r.resource_id) AS resource_id, m.group_key, count(*) AS decisions,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.decided_at - r.created_at)) AS median,
             percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM r.decided_at - r.created_at)) AS p90
      FROM access_requests r LEFT JOIN mapping m ON m.resource_id = r.resource_id
      WHERE r.decided_by_rule IS NULL AND r.decided_at >= ${since} AND r.decided_at < ${until}
      GROUP BY m.group_key, CASE WHEN m.group_key IS NULL THEN r.resource_id END`,
    db.$queryRaw<Array<{ approver: string; quick: bigint; approvals: bigint }>>`
      SELECT a.approver_slack_id AS approver,
             count(DISTINCT a.request_id) FILTER (WHERE a.created_at - r.created_at < make_interval(secs => ${rubberStampUnderSeconds})) AS quick,
             count(DISTINCT a.request_id) AS approvals
      FROM approvals a JOIN access_requests r ON r.id = a.request_id
      WHERE a.decision = 'approve' AND a.created_at >= ${since} AND a.created_at < ${until}
      GROUP BY a.approver_slack_id
      HAVING count(DISTINCT a.request_id) FILTER (WHERE a.created_at - r.created_at < make_interval(secs => ${rubberStampUnderSeconds})) > 0`,
    // Only the edges whose reverse exists come back: the pairing itself is the domain's.
    db.$queryRaw<Array<{ approver: string; requester: string; requests: bigint }>>`
      WITH edges AS (
        SELECT a.approver_slack_id AS approver, r.requester_slack_id AS requester, count(DISTINCT a.request_id) AS requests
        FROM approvals a JOIN access_requests r ON r.id = a.request_id
        WHERE a.decision = 'approve' AND a.created_at >= ${since} AND a.created_at < ${until} AND a.approver_slack_id <> r.requester_slack_id
        GROUP BY 1, 2)
      SELECT e.approver, e.requester, e.requests FROM edges e
      WHERE EXISTS (SELECT 1 FROM edges b WHERE b.approver = e.requester AND b.requester = e.approver)`,
    db.$queryRaw<Array<{ resource_id: string; requests: bigint }>>`
      SELECT resource_id, count(*) AS requests FROM access_requests
      WHERE state = 'expired' AND ended_at >= ${since} AND ended_at < ${until}
      GROUP BY resource_id`,
  ]);

  const byGroup = expiriesByGroup(
    expired.map((row) => ({ resourceId: row.resource_id, requests: Number(row.requests) })),
    groups,
  );
  return {
    rubberStampUnderSeconds,
    decisionTimes: slowestFirst(
      times.map((row) => ({
        group: groups.find((group) => group.key === row.group_key) ?? groupOfResource(groups, row.resource_id),
        decisions: Number(row.decisions),
        medianSeconds: Number(row.median),
        p90Seconds: Number(row.p90),
      })),
      groups,
    ),
    quickApprovers: quickApproversFirst(quick.map((row) => ({ approverId: row.approver, quick: Number(row.quick), approvals: Number(row.approvals) }))),
    mutualApprovals: mutualApprovals(mutual.map((row) => ({ approverId: row.approver, requesterId: row.requester, requests: Number(row.requests) }))),
    expiredUndecided: { total: byGroup.reduce((sum, entry) => sum + entry.total, 0), byGroup },
  };
}
