import { validateAccessRequest, type AccessRequestDraft, type FieldErrors } from '../domain/access-request-rules.ts';
import { groupsOf } from '../domain/policy.ts';
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
  const validation = validateAccessRequest(policy, input, memberGroups);
  if (!validation.ok) return validation;

  const { resource, role, durationSeconds, reason, ticket } = validation.request;
  const now = ctx.clock.now();
  const requestId = await inTransaction(ctx.db, async (tx) => {
    const request = await tx.accessRequest.create({
      data: {
        requesterSlackId: input.requesterId,
        slackTeamId: input.teamId ?? null,
        resourceId: resource.id,
        role: role.id,
        durationSeconds,
        reason,
        ticket,
        state: 'pending',
        requiredApprovals: resource.approvers.required,
        policyVersion: policy.version,
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
      data: {
        resourceId: resource.id,
        role: role.id,
        durationSeconds,
        reason,
        ticket,
        requiredApprovals: resource.approvers.required,
        policyVersion: policy.version,
      },
    });
    return request.id;
  });
  ctx.logger.info({ accessRequestId: requestId, resourceId: resource.id, role: role.id }, 'access requested');
  return { ok: true, requestId };
}
