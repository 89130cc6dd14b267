import { validateAccessRequest, type AccessRequestDraft, type FieldErrors } from '../domain/access-request-rules.ts';
import { findAutoApproval } from '../domain/auto-approval.ts';
import { groupsOf } from '../domain/policy.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { inTransaction } from '../store/transaction.ts';
import { handOver } from './decide-request.ts';
import { requesterPrincipal } from './requester-principal.ts';
import type { ServiceContext } from './service-context.ts';

export interface RequestAccessInput extends AccessRequestDraft {
  teamId?: string | null;
  /** Emergency access: granted at once if the policy allows it, then reviewed (see BreakGlassPolicy). */
  breakGlass?: boolean;
  /**
   * What the request was submitted by (`slack-view:<view id>`), when it can be submitted twice:
   * Slack shows a person an error when a form's answer takes over 3 s, and they submit it again.
   * A second submission gives back the request the first one made, not another.
   */
  submissionKey?: string | null;
}

export type RequestAccessResult =
  | {
      ok: true;
      requestId: string;
      autoApprovedBy: string | null;
      breakGlass: { reviewDueAt: Date } | null;
      /** The same submission made this request before: it is (being) announced already. */
      resubmitted?: true;
    }
  | { ok: false; errors: FieldErrors };

/** The decider recorded for break-glass access: the policy, by its break-glass block. */
export const BREAK_GLASS_RULE = 'break-glass';

/**
 * Stores a new request as pending, with its `request.created` audit event in the same
 * transaction. When one of the resource's auto-approval rules covers it, the request is approved
 * in that same transaction, the rule's name recorded as the decider, and handed on to be granted.
 * The caller posts the Slack messages after the commit: an auto-approved request is announced too.
 */
export async function requestAccess(ctx: ServiceContext, input: RequestAccessInput): Promise<RequestAccessResult> {
  if (input.submissionKey) {
    const made = await requestMadeBy(ctx, input.submissionKey, input.requesterId);
    if (made) return made;
  }
  const policy = ctx.policy();
  const candidate = policy.resources.find((r) => r.id === input.resourceId);
  // Every group that may matter to this request, asked about at once (the lookups are cached).
  const relevantGroups = candidate
    ? [
        ...new Set([
          ...groupsOf(candidate.requesters),
          ...candidate.autoApprove.flatMap((rule) => groupsOf(rule.requesters)),
          ...(candidate.breakGlass ? groupsOf(candidate.breakGlass.requesters) : []),
        ]),
      ]
    : [];
  const memberGroups = relevantGroups.length > 0 ? await ctx.groups.memberGroups(input.requesterId, relevantGroups) : new Set<string>();
  const validation = validateAccessRequest(policy, input, memberGroups, ctx.clock.now(), input.breakGlass ? 'break-glass' : 'approval');
  if (!validation.ok) return validation;

  const { resource, role, durationSeconds, reason, ticket, startsAt } = validation.request;
  const identity = await requesterPrincipal(ctx, resource, role.id, input.requesterId);
  if (!identity.ok) return { ok: false, errors: { resource: identity.message } };
  const now = ctx.clock.now();
  // What was asked and under which rules: stored on the request and, identically, in its audit event.
  const asked = {
    resourceId: resource.id,
    role: role.id,
    principal: identity.principal,
    durationSeconds,
    reason,
    ticket,
    startsAt,
    requiredApprovals: resource.approvers.required,
    requiredGroups: resource.approvers.oneFrom,
    policyVersion: policy.version,
  };
  const rule = input.breakGlass ? undefined : findAutoApproval(resource, { requesterId: input.requesterId, role: role.id, durationSeconds, startsAt }, memberGroups, now);
  const breakGlass = input.breakGlass && resource.breakGlass ? { reviewDueAt: new Date(now.getTime() + resource.breakGlass.reviewWithinSeconds * 1000) } : null;
  const decidedBy = breakGlass ? BREAK_GLASS_RULE : rule?.name;
  let requestId: string;
  try {
    requestId = await inTransaction(ctx.db, async (tx) => {
      const request = await tx.accessRequest.create({
        data: {
          ...asked,
          requesterSlackId: input.requesterId,
          slackTeamId: input.teamId ?? null,
          state: decidedBy ? 'approved' : 'pending',
          approvalChannelId: resource.approvalChannel,
          pendingExpiresAt: new Date(now.getTime() + resource.pendingTimeoutSeconds * 1000),
          ...(decidedBy ? { decidedAt: now, decidedByRule: decidedBy } : {}),
          ...(breakGlass ? { breakGlass: true, reviewDueAt: breakGlass.reviewDueAt } : {}),
          ...(input.submissionKey ? { submissionKey: input.submissionKey } : {}),
          createdAt: now,
        },
      });
      await appendAuditEvent(tx, {
        actor: input.requesterId,
        action: 'request.created',
        requestId: request.id,
        at: now,
        data: { ...asked, startsAt: startsAt?.toISOString() ?? null, ...(breakGlass ? { breakGlass: true } : {}) },
      });
      if (decidedBy) {
        await appendAuditEvent(tx, {
          actor: `policy:${decidedBy}`,
          action: 'request.approved',
          requestId: request.id,
          at: now,
          data: { rule: decidedBy, policyVersion: policy.version, ...(breakGlass ? { breakGlass: true, reviewDueAt: breakGlass.reviewDueAt.toISOString() } : {}) },
        });
      }
      return request.id;
    });
  } catch (error) {
    // The same form submitted twice at once: the other submission's request is the one.
    const made = input.submissionKey && isUniqueViolation(error) ? await requestMadeBy(ctx, input.submissionKey, input.requesterId) : null;
    if (made) return made;
    throw error;
  }
  if (decidedBy) ctx.metrics?.decision('approved_by_policy', now, now);
  if (decidedBy) await handOver(ctx, () => ctx.access.requestGrant(requestId, startsAt), requestId);
  const logged = { accessRequestId: requestId, resourceId: resource.id, role: role.id, autoApprovedBy: rule?.name, breakGlass: Boolean(breakGlass) };
  if (breakGlass) ctx.logger.warn(logged, 'break-glass access used');
  else ctx.logger.info(logged, 'access requested');
  return { ok: true, requestId, autoApprovedBy: rule?.name ?? null, breakGlass };
}

/** The request a submission already made, as requestAccess reports it; null when there is none. */
async function requestMadeBy(ctx: ServiceContext, submissionKey: string, requesterId: string): Promise<RequestAccessResult | null> {
  const made = await ctx.db.accessRequest.findUnique({ where: { submissionKey } });
  // A key is a Slack view id, shown to one person: another's is not theirs to find.
  if (!made || made.requesterSlackId !== requesterId) return null;
  ctx.logger.info({ accessRequestId: made.id }, 'the same request form was submitted again; the request it made stands');
  return {
    ok: true,
    requestId: made.id,
    autoApprovedBy: made.breakGlass ? null : made.decidedByRule,
    breakGlass: made.breakGlass && made.reviewDueAt ? { reviewDueAt: made.reviewDueAt } : null,
    resubmitted: true,
  };
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'P2002';
}
