import { validateAccessRequest, type AccessRequestDraft, type FieldErrors } from '../domain/access-request-rules.ts';
import { resolvePrincipal, type PrincipalResult } from '../domain/identity.ts';
import { groupsOf, type ResourcePolicy } from '../domain/policy.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { inTransaction } from '../store/transaction.ts';
import type { ServiceContext } from './service-context.ts';

export interface RequestAccessInput extends AccessRequestDraft {
  teamId?: string | null;
}

export type RequestAccessResult = { ok: true; requestId: string } | { ok: false; errors: FieldErrors };

/**
 * Stores a new request as pending, with its `request.created` audit event in the same
 * transaction. The caller posts the Slack messages after the commit.
 */
export async function requestAccess(ctx: ServiceContext, input: RequestAccessInput): Promise<RequestAccessResult> {
  const policy = ctx.policy();
  const candidateGroups = policy.resources.find((r) => r.id === input.resourceId)?.requesters;
  const memberGroups = candidateGroups ? await ctx.groups.memberGroups(input.requesterId, groupsOf(candidateGroups)) : new Set<string>();
  const validation = validateAccessRequest(policy, input, memberGroups, ctx.clock.now());
  if (!validation.ok) return validation;

  const { resource, role, durationSeconds, reason, ticket, startsAt } = validation.request;
  const identity = await principalFor(ctx, resource, input.requesterId);
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
    policyVersion: policy.version,
  };
  const requestId = await inTransaction(ctx.db, async (tx) => {
    const request = await tx.accessRequest.create({
      data: {
        ...asked,
        requesterSlackId: input.requesterId,
        slackTeamId: input.teamId ?? null,
        state: 'pending',
        approvalChannelId: resource.approvalChannel,
        pendingExpiresAt: new Date(now.getTime() + resource.pendingTimeoutSeconds * 1000),
        createdAt: now,
      },
    });
    await appendAuditEvent(tx, {
      actor: input.requesterId,
      action: 'request.created',
      requestId: request.id,
      at: now,
      data: { ...asked, startsAt: startsAt?.toISOString() ?? null },
    });
    return request.id;
  });
  ctx.logger.info({ accessRequestId: requestId, resourceId: resource.id, role: role.id }, 'access requested');
  return { ok: true, requestId };
}

/**
 * The account the provider will grant to. Resolved now, so a requester with no identity on the
 * target is told when asking, not when the grant fails after approval. Slack is asked for the
 * profile only when the identity comes from the email.
 */
async function principalFor(ctx: ServiceContext, resource: ResourcePolicy, userId: string): Promise<PrincipalResult> {
  const { identity } = resource;
  if (identity.map[userId] || identity.from !== 'email') return resolvePrincipal(identity, resource.name, { id: userId });
  const profile = await ctx.users.profile(userId);
  if (!profile) return { ok: false, message: 'Latch could not read your Slack profile just now; try again in a minute.' };
  return resolvePrincipal(identity, resource.name, profile);
}
