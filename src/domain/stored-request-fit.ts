import { formatDuration } from './duration.ts';
import type { HeldAccess } from './extension-rules.ts';
import { findResource, findRole, groupsOf, isInAudience, type Audience, type Policy, type ResourcePolicy, type RolePolicy } from './policy.ts';
import { checkScope, readStoredScope, scopeApprovals } from './scope-rules.ts';

/**
 * Does a request stored under an earlier policy still fit the policy in force? A reload can remove
 * a resource or a role, lower a maximum, narrow the requesters or withdraw a rule, and what is
 * already queued (a pending request, an approved one with a later start, a request for more time)
 * must be held to it: the policy in force decides every step that changes access, not only the
 * first. Asked at each decision and again when the access is granted.
 */

export type PolicyMismatch =
  | 'resource_removed'
  | 'role_removed'
  | 'requester_not_allowed'
  | 'duration_over_maximum'
  | 'break_glass_withdrawn'
  | 'auto_approval_withdrawn'
  | 'scope_not_allowed'
  | 'pending_timeout_passed';

/** What the check needs of a stored request (an AccessRequest row has all of it). */
export interface StoredRequest {
  requesterSlackId: string;
  resourceId: string;
  role: string;
  durationSeconds: number;
  breakGlass: boolean;
  /** The auto-approval (or break-glass) rule that approved it; null when people decide. */
  decidedByRule: string | null;
  requiredApprovals: number;
  requiredGroups: readonly string[];
  createdAt: Date;
  pendingExpiresAt: Date | null;
  decidedAt: Date | null;
  /** What of the role was asked for, as stored (jsonb); null or absent: the whole role. */
  scope?: unknown;
}

/**
 * `decision`: an approver is deciding a pending request. `grant`: an approved request is about to
 * be granted (at once, at its later start, or as more time on live access).
 */
export type FitMoment = 'decision' | 'grant';

export interface FitQuestion {
  moment: FitMoment;
  now: Date;
  /** The user groups the requester is in, of those `groupsToCheck` named (resolved by the caller). */
  requesterGroups: ReadonlySet<string>;
  /** For a request for more time: the stretch of access it extends, while that access lasts. */
  extending?: HeldAccess | null;
}

export type StoredRequestFit =
  | {
      fits: true;
      resource: ResourcePolicy;
      role: RolePolicy;
      /** Approvals needed now: the stricter of what was stored and what the policy says. */
      requiredApprovals: number;
      requiredGroups: string[];
    }
  | { fits: false; code: PolicyMismatch; message: string };

/** The user groups whose membership the check needs, so the caller asks Slack once, for these only. */
export function groupsToCheck(policy: Policy, request: Pick<StoredRequest, 'resourceId' | 'breakGlass' | 'decidedByRule'>): string[] {
  const resource = findResource(policy, request.resourceId);
  if (!resource) return [];
  if (request.breakGlass) return resource.breakGlass ? groupsOf(resource.breakGlass.requesters) : [];
  const audiences: Audience[] = [resource.requesters];
  const rule = !request.breakGlass && request.decidedByRule ? resource.autoApprove.find((candidate) => candidate.name === request.decidedByRule) : undefined;
  if (rule) audiences.push(rule.requesters);
  return [...new Set(audiences.flatMap(groupsOf))];
}

/** When an undecided request stops being decidable: the stored deadline, or sooner if the policy now says so. */
export function decisionDeadline(request: Pick<StoredRequest, 'createdAt' | 'pendingExpiresAt'>, resource: ResourcePolicy | undefined): Date | null {
  const deadlines = [
    request.pendingExpiresAt?.getTime(),
    resource ? request.createdAt.getTime() + resource.pendingTimeoutSeconds * 1000 : undefined,
  ].filter((time): time is number => time !== undefined);
  return deadlines.length > 0 ? new Date(Math.min(...deadlines)) : null;
}

export function checkStoredRequest(policy: Policy, request: StoredRequest, question: FitQuestion): StoredRequestFit {
  const refuse = (code: PolicyMismatch, message: string): StoredRequestFit => ({ fits: false, code, message });
  const resource = findResource(policy, request.resourceId);

  // Time first: a request nobody decided in time is expired, whatever else changed.
  if (question.moment === 'decision') {
    const deadline = decisionDeadline(request, resource);
    if (deadline && deadline <= question.now) return refuse('pending_timeout_passed', 'Nobody decided in time.');
  } else if (request.pendingExpiresAt && request.decidedAt && request.decidedAt > request.pendingExpiresAt) {
    return refuse('pending_timeout_passed', 'It was approved after its decision time had passed.');
  }

  if (!resource) return refuse('resource_removed', `The policy no longer has the resource ${request.resourceId}.`);
  const role = findRole(resource, request.role);
  if (!role) return refuse('role_removed', `The policy no longer offers ${request.role} on ${resource.name}.`);
  const { requesterSlackId: requester } = request;
  // Break-glass has its own list of who may use it, in place of the requesters (as when asked).
  if (!request.breakGlass && !isInAudience(resource.requesters, requester, question.requesterGroups)) {
    return refuse('requester_not_allowed', `The policy no longer lists the requester as someone who may ask for ${resource.name}.`);
  }

  // The scope is held to the role in force too: a reload may have narrowed what may be asked, or
  // made the role scoped (an unscoped request for it would now be the whole of what it guards).
  const scope = readStoredScope(request.scope);
  if (scope === 'invalid') return refuse('scope_not_allowed', `The scope stored with this request for ${role.id} on ${resource.name} cannot be read.`);
  const scopeCheck = checkScope(role, scope);
  if (!scopeCheck.ok) return refuse('scope_not_allowed', `The policy no longer allows this scope of ${role.id} on ${resource.name}: ${scopeCheck.problems.join(' ')}`);
  const more = scopeApprovals(role, scope);

  let maxSeconds = role.maxDurationSeconds;
  if (request.breakGlass) {
    const breakGlass = resource.breakGlass;
    if (!breakGlass || !isInAudience(breakGlass.requesters, requester, question.requesterGroups)) {
      return refuse('break_glass_withdrawn', `The policy no longer allows this break-glass use of ${resource.name}.`);
    }
    maxSeconds = Math.min(maxSeconds, breakGlass.maxDurationSeconds);
  } else if (request.decidedByRule) {
    const autoApproval = autoApprovalRefusal(resource, request, question.requesterGroups);
    if (autoApproval) return refuse('auto_approval_withdrawn', autoApproval);
    // The policy now wants more people to look at this scope: no rule approves it alone.
    if (more.add > 0 || more.oneFrom.length > 0) return refuse('auto_approval_withdrawn', `The policy now asks more approvers for this scope of ${role.id} on ${resource.name}; ask again for people to decide.`);
  }

  // More time counts the whole stretch, from the first grant to the new end (as extension-rules.ts).
  const held = question.extending;
  const heldSeconds = held ? Math.round((held.until.getTime() - held.since.getTime()) / 1000) : 0;
  if (heldSeconds + request.durationSeconds > maxSeconds) {
    const asked = held ? `${formatDuration(heldSeconds + request.durationSeconds)} in all with the access it extends` : formatDuration(request.durationSeconds);
    return refuse('duration_over_maximum', `The policy now allows at most ${formatDuration(maxSeconds)} of ${role.id} on ${resource.name}; this request asks for ${asked}.`);
  }

  return {
    fits: true,
    resource,
    role,
    requiredApprovals: Math.max(request.requiredApprovals, resource.approvers.required + more.add),
    requiredGroups: [...new Set([...request.requiredGroups, ...resource.approvers.oneFrom, ...more.oneFrom])],
  };
}

/**
 * An auto-approved request is approved by its rule, so the rule must still exist and still cover
 * it. Its time window is not asked again: it was judged for the time the access starts.
 */
function autoApprovalRefusal(resource: ResourcePolicy, request: StoredRequest, requesterGroups: ReadonlySet<string>): string | null {
  const rule = resource.autoApprove.find((candidate) => candidate.name === request.decidedByRule);
  const withdrawn = `The policy's rule ${request.decidedByRule} no longer approves this request by itself; ask again for people to decide.`;
  if (!rule) return withdrawn;
  if (rule.roles && !rule.roles.includes(request.role)) return withdrawn;
  if (rule.maxDurationSeconds !== null && request.durationSeconds > rule.maxDurationSeconds) return withdrawn;
  if (!isInAudience(rule.requesters, request.requesterSlackId, requesterGroups)) return withdrawn;
  return null;
}
