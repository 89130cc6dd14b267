import type { SlackRequestEvidence } from '../domain/decision-evidence.ts';
import { findResource, isInAudience } from '../domain/policy.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { inTransaction } from '../store/transaction.ts';
import { isSecurityAdmin } from './end-access-early.ts';
import { publishCommitted } from './latch-events.ts';
import { refuse, type Refused } from './refusal.ts';
import type { ServiceContext } from './service-context.ts';
import { isRequestId } from './request-id.ts';
import { deciderAccountRefused } from './decider-account.ts';
import { lockRequest } from '../store/request-lock.ts';

export type ReviewResult = { ok: true; requestId: string } | Refused;

/**
 * Someone other than the person who used break-glass confirms they looked at it: a security
 * admin, or one of the resource's approvers (the people who would otherwise have decided).
 * Recorded once, with its audit event; the reminders stop.
 */
export async function reviewBreakGlass(ctx: ServiceContext, input: { requestId: string; userId: string; evidence?: SlackRequestEvidence | undefined }): Promise<ReviewResult> {
  const request = isRequestId(input.requestId) ? await ctx.db.accessRequest.findUnique({ where: { id: input.requestId } }) : null;
  if (!request?.breakGlass) return refuse(request ? 'not_break_glass' : 'not_found', 'This is not a break-glass request.');
  if (request.requesterSlackId === input.userId) return refuse('own_request', 'Someone other than the person who used break-glass must review it.');
  const resource = findResource(ctx.policy(), request.resourceId);
  const approvers = resource ? { everyone: false as const, users: resource.approvers.users, groups: resource.approvers.groups } : null;
  const isApprover = approvers ? isInAudience(approvers, input.userId, await ctx.groups.memberGroups(input.userId, approvers.groups)) : false;
  if (!isApprover && !(await isSecurityAdmin(ctx, input.userId))) {
    return refuse('not_allowed', 'Only a security admin or an approver of this resource can review break-glass use.');
  }
  const accountRefused = await deciderAccountRefused(ctx, input.userId);
  if (accountRefused) return accountRefused;
  const now = ctx.clock.now();
  const result = await inTransaction(ctx.db, async (tx): Promise<ReviewResult> => {
    const locked = await lockRequest(tx, request.id);
    if (!locked) return refuse('not_found', 'This request no longer exists.');
    if (locked.reviewedAt) {
      return refuse('already_reviewed', `This break-glass use was already reviewed by <@${locked.reviewedBySlackId}>.`, { detail: { reviewedAt: locked.reviewedAt.toISOString() } });
    }
    await tx.accessRequest.update({ where: { id: locked.id }, data: { reviewedAt: now, reviewedBySlackId: input.userId } });
    await appendAuditEvent(tx, {
      actor: input.userId,
      action: 'request.reviewed',
      requestId: locked.id,
      at: now,
      data: { breakGlass: true, reviewDueAt: locked.reviewDueAt?.toISOString() ?? null, late: locked.reviewDueAt ? now > locked.reviewDueAt : false },
      evidence: input.evidence,
    });
    return { ok: true, requestId: locked.id };
  });
  if (result.ok) await publishCommitted(ctx, { type: 'break_glass.reviewed', requestId: result.requestId });
  return result;
}
