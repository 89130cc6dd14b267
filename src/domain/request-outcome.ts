import { validateAccessRequest } from './access-request-rules.ts';
import { explainAutoApproval, type RuleVerdict } from './auto-approval.ts';
import { formatDuration } from './duration.ts';
import type { Policy, ResourcePolicy } from './policy.ts';
import { checkScope, describeScopeParameter, scopeApprovals } from './scope-rules.ts';

/**
 * What the policy would do with a request, without storing anything: refuse it, approve it by a
 * rule, or ask people for approvals. `latch policy explain` prints it and `latch policy test`
 * compares it with what a case expects, so both say exactly what the running service would do.
 * The reason and the ticket are not part of the question: their rules are listed instead.
 */

export interface RequestQuestion {
  requesterId: string;
  /** The user groups the requester is in, as far as the asker knows (nothing is looked up). */
  requesterGroups: ReadonlySet<string>;
  resourceId: string;
  role: string;
  duration: string;
  /** When it would be asked (auto-approval schedules depend on it). */
  at: Date;
  /** The scope asked for, for a role with scope parameters (`--scope customer=4711`). */
  scope?: Readonly<Record<string, readonly string[]>> | null;
}

export type RequestOutcome =
  | { kind: 'refused'; reasons: string[] }
  | { kind: 'auto-approved'; rule: string }
  | { kind: 'needs-approval'; approvals: number; oneFrom: string[]; users: string[]; groups: string[] };

export interface RequestExplanation {
  outcome: RequestOutcome;
  /** Each auto-approval rule of the resource, with why it does not apply. */
  rules: RuleVerdict[];
  /** What a request must also carry: the reason and ticket rules, in words. */
  requirements: string[];
}

export function explainRequest(policy: Policy, question: RequestQuestion): RequestExplanation {
  const resource = policy.resources.find((candidate) => candidate.id === question.resourceId);
  // A reason and a ticket that satisfy the resource's rules: the question is about everything else.
  const validation = validateAccessRequest(
    policy,
    { requesterId: question.requesterId, resourceId: question.resourceId, role: question.role, duration: question.duration, reason: 'x'.repeat(resource?.minReasonLength ?? 1), ticket: null, scope: question.scope ?? null },
    question.requesterGroups,
    question.at,
  );
  const requirements = resource ? requirementsOf(resource) : [];
  if (!validation.ok) {
    const { ticket: _ticket, reason: _reason, ...errors } = validation.errors;
    const reasons = Object.values(errors).filter((message): message is string => Boolean(message));
    if (reasons.length > 0 || !resource) return { outcome: { kind: 'refused', reasons }, rules: [], requirements };
  }
  const durationSeconds = validation.ok ? validation.request.durationSeconds : 0;
  // Reached only when the role and the scope are valid (the ticket and reason rules aside).
  const role = resource!.roles.find((candidate) => candidate.id === question.role)!;
  const scope = checkScope(role, question.scope);
  const more = scopeApprovals(role, scope.ok ? scope.scope : null);
  const scopeNeedsMore = more.add > 0 || more.oneFrom.length > 0;
  const rules = explainAutoApproval(resource!, { requesterId: question.requesterId, role: question.role, durationSeconds, startsAt: null }, question.requesterGroups, question.at);
  // As when asked: a scope that needs more approvers is never approved by a rule alone.
  const approving = scopeNeedsMore ? undefined : rules.find((verdict) => verdict.applies);
  if (approving) return { outcome: { kind: 'auto-approved', rule: approving.rule.name }, rules, requirements };
  const { required, oneFrom, users, groups } = resource!.approvers;
  return { outcome: { kind: 'needs-approval', approvals: required + more.add, oneFrom: [...new Set([...oneFrom, ...more.oneFrom])], users, groups }, rules, requirements };
}

/** One line, the same for an outcome and for what a test case expects of it. */
export function describeOutcome(outcome: RequestOutcome): string {
  switch (outcome.kind) {
    case 'refused':
      return outcome.reasons.length > 0 ? `refused: ${outcome.reasons.join(' ')}` : 'refused';
    case 'auto-approved':
      return `auto-approved by rule ${outcome.rule}`;
    case 'needs-approval': {
      const who = [...outcome.users, ...outcome.groups.map((group) => `members of ${group}`)].join(', ');
      const oneFrom = outcome.oneFrom.length > 0 ? `, including one from ${outcome.oneFrom.join(' and one from ')}` : '';
      return `needs ${outcome.approvals} approval${outcome.approvals === 1 ? '' : 's'}${oneFrom}${who ? ` (from ${who}; never the requester)` : ''}`;
    }
  }
}

function requirementsOf(resource: ResourcePolicy): string[] {
  const requirements = [`a reason of at least ${resource.minReasonLength} character${resource.minReasonLength === 1 ? '' : 's'}`];
  if (resource.ticketPattern) requirements.push(`a ticket matching ${resource.ticketPattern}`);
  requirements.push(`longest durations: ${resource.roles.map((role) => `${role.id} ${formatDuration(role.maxDurationSeconds)}`).join(', ')}`);
  for (const role of resource.roles) {
    for (const parameter of role.scopes ?? []) requirements.push(`for ${role.id}: ${describeScopeParameter(parameter)}`);
  }
  return requirements;
}
