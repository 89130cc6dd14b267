import { canonicalJson, type ApproverPolicy, type ResourcePolicy } from './policy.ts';

/**
 * How the people who decide behave, for the digests: how long each approver group takes, who
 * approves within seconds of a request (too fast to have read it), who approves each other's
 * requests, and what nobody decided. The figures come from the database (services/
 * compute-approver-health.ts); the rules that shape them are here, pure.
 */

/**
 * The people who decide a set of resources, as the policy names them: a resource's `approvers`
 * rule. Resources whose rules are the same (the same users and groups, the same count) share one
 * group, so a team that approves several resources is one line, not one per resource.
 */
export interface ApproverGroup {
  /** Identifies the rule: equal rules, however ordered in the file, have equal keys. */
  key: string;
  /** The rule, as the policy in force has it; null for a resource the policy no longer has. */
  approvers: ApproverPolicy | null;
  /** The resources it decides, in the policy's order (for a removed resource: that one). */
  resourceIds: string[];
}

export interface GroupDecisionTimes {
  group: ApproverGroup;
  /** Requests people decided (approved or denied) in the period. */
  decisions: number;
  /** From the request to its decision. */
  medianSeconds: number;
  p90Seconds: number;
}

export interface QuickApprover {
  approverId: string;
  /** Requests this person approved sooner after they were made than the digest's threshold. */
  quick: number;
  /** Requests this person approved in the period. */
  approvals: number;
}

/** An approval of one person's requests by another, in the period. */
export interface ApprovalEdge {
  approverId: string;
  requesterId: string;
  /** Distinct requests of the requester the approver approved. */
  requests: number;
}

/** Two people who each approved the other's requests in the period. */
export interface MutualApproval {
  /** In code-point order of their ids, so one pair is one line. */
  people: [string, string];
  /** How many of the second's requests the first approved, and of the first's the second. */
  approvals: [number, number];
}

export interface GroupExpiries {
  group: ApproverGroup;
  total: number;
  /** Most first. */
  resources: Array<{ resourceId: string; requests: number }>;
}

export interface ApproverHealth {
  /** An approval this soon after its request counts as quick (the digest's `rubberStampUnder`). */
  rubberStampUnderSeconds: number;
  /** Slowest first. */
  decisionTimes: GroupDecisionTimes[];
  /** Most quick approvals first. */
  quickApprovers: QuickApprover[];
  /** Most approvals between them first. */
  mutualApprovals: MutualApproval[];
  /** Requests that expired with no decision, in the period. */
  expiredUndecided: { total: number; byGroup: GroupExpiries[] };
}

/** A threshold most people cannot read a request and its reason in. */
export const DEFAULT_RUBBER_STAMP_UNDER_SECONDS = 10;

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The key of an approver rule: its lists as sets, so listing the same people differently is the same rule. */
function ruleKey(approvers: ApproverPolicy): string {
  const sorted = (list: readonly string[]) => [...new Set(list)].sort(byText);
  return canonicalJson({
    users: sorted(approvers.users),
    groups: sorted(approvers.groups),
    required: approvers.required,
    oneFrom: sorted(approvers.oneFrom),
    oneMoreWhenFlagged: approvers.oneMoreWhenFlagged === true,
  });
}

/** The policy's approver groups, in the order their first resource appears in the policy. */
export function approverGroupsOf(resources: readonly ResourcePolicy[]): ApproverGroup[] {
  const groups = new Map<string, ApproverGroup>();
  for (const resource of resources) {
    const key = ruleKey(resource.approvers);
    const group = groups.get(key);
    if (group) group.resourceIds.push(resource.id);
    else groups.set(key, { key, approvers: resource.approvers, resourceIds: [resource.id] });
  }
  return [...groups.values()];
}

/**
 * The group that decides `resourceId`: from `groups`, or for a resource the policy no longer has
 * (removed by a reload since its requests were made) a group of its own, which says so. Its key
 * cannot collide with a rule's: rules' keys are JSON objects.
 */
export function groupOfResource(groups: readonly ApproverGroup[], resourceId: string): ApproverGroup {
  return groups.find((group) => group.resourceIds.includes(resourceId)) ?? { key: `removed:${resourceId}`, approvers: null, resourceIds: [resourceId] };
}

/** Where a group stands in the policy; groups of removed resources after all the policy's. */
function policyOrder(groups: readonly ApproverGroup[]): (group: ApproverGroup) => number {
  return (group) => {
    const index = groups.findIndex((candidate) => candidate.key === group.key);
    return index < 0 ? groups.length : index;
  };
}

/** Slowest first: by p90, then median, then the most decisions; ties in the order of the policy. */
export function slowestFirst(times: readonly GroupDecisionTimes[], groups: readonly ApproverGroup[]): GroupDecisionTimes[] {
  const order = policyOrder(groups);
  return [...times].sort(
    (a, b) =>
      b.p90Seconds - a.p90Seconds ||
      b.medianSeconds - a.medianSeconds ||
      b.decisions - a.decisions ||
      order(a.group) - order(b.group) ||
      byText(a.group.key, b.group.key),
  );
}

/** The approvers with at least one quick approval, most first; ties by the larger share, then by id. */
export function quickApproversFirst(rows: readonly QuickApprover[]): QuickApprover[] {
  return rows
    .filter((row) => row.quick > 0)
    .sort((a, b) => b.quick - a.quick || b.quick / b.approvals - a.quick / a.approvals || byText(a.approverId, b.approverId));
}

/**
 * The pairs of people who each approved at least one of the other's requests. A person approving
 * their own request is refused before it is stored; an edge that says so anyway is ignored here
 * too, so nobody is ever paired with themselves. Most approvals between them first, then the
 * most evenly traded, then by ids.
 */
export function mutualApprovals(edges: readonly ApprovalEdge[]): MutualApproval[] {
  const approved = new Map<string, number>();
  const edgeKey = (approverId: string, requesterId: string) => JSON.stringify([approverId, requesterId]);
  for (const edge of edges) {
    if (edge.approverId === edge.requesterId || edge.requests <= 0) continue;
    const key = edgeKey(edge.approverId, edge.requesterId);
    approved.set(key, (approved.get(key) ?? 0) + edge.requests);
  }
  const pairs: MutualApproval[] = [];
  for (const [key, requests] of approved) {
    const [approverId, requesterId] = JSON.parse(key) as [string, string];
    // Each pair once: from the side whose approver comes first.
    if (byText(approverId, requesterId) > 0) continue;
    const back = approved.get(edgeKey(requesterId, approverId));
    if (back) pairs.push({ people: [approverId, requesterId], approvals: [requests, back] });
  }
  const total = (pair: MutualApproval) => pair.approvals[0] + pair.approvals[1];
  const least = (pair: MutualApproval) => Math.min(...pair.approvals);
  return pairs.sort((a, b) => total(b) - total(a) || least(b) - least(a) || byText(a.people[0], b.people[0]) || byText(a.people[1], b.people[1]));
}

/** Expired requests per resource, gathered by approver group: most first, ties in the policy's order. */
export function expiriesByGroup(rows: ReadonlyArray<{ resourceId: string; requests: number }>, groups: readonly ApproverGroup[]): GroupExpiries[] {
  const byGroup = new Map<string, GroupExpiries>();
  for (const row of rows) {
    if (row.requests <= 0) continue;
    const group = groupOfResource(groups, row.resourceId);
    const entry = byGroup.get(group.key) ?? { group, total: 0, resources: [] };
    byGroup.set(group.key, entry);
    entry.total += row.requests;
    entry.resources.push({ resourceId: row.resourceId, requests: row.requests });
  }
  const order = policyOrder(groups);
  const entries = [...byGroup.values()];
  for (const entry of entries) entry.resources.sort((a, b) => b.requests - a.requests || byText(a.resourceId, b.resourceId));
  return entries.sort((a, b) => b.total - a.total || order(a.group) - order(b.group) || byText(a.group.key, b.group.key));
}

/** Nothing to say about approvers in the period: the digest leaves the part out. */
export function isApproverHealthEmpty(health: ApproverHealth): boolean {
  return health.decisionTimes.length === 0 && health.quickApprovers.length === 0 && health.mutualApprovals.length === 0 && health.expiredUndecided.total === 0;
}
