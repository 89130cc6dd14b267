import type { SlackRequestEvidence } from '../domain/decision-evidence.ts';
import { canTransition } from '../domain/request-state.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { inTransaction } from '../store/transaction.ts';
import { isSecurityAdmin } from './end-access-early.ts';
import { deciderAccountRefused } from './decider-account.ts';
import { publishCommitted } from './latch-events.ts';
import { refuse, type Refused } from './refusal.ts';
import type { ServiceContext } from './service-context.ts';
import { isRequestId } from './request-id.ts';
import { lockRequest } from '../store/request-lock.ts';

export type CancelRequestResult = { ok: true; requestId: string } | Refused;

/**
 * Calls a request off before any access exists: the requester withdraws one still pending, or
 * the requester or a security admin named in the policy cancels an approved one whose access has
 * not started (a later start booked, possibly by an auto-approval). Nothing is granted after: the
 * queued grant job is withdrawn, and the grant job grants only a request still approved. Once
 * Latch has begun granting, the access is ended instead ("I'm done", "Revoke now").
 */
export async function cancelRequest(ctx: ServiceContext, input: { requestId: string; userId: string; evidence?: SlackRequestEvidence | undefined }): Promise<CancelRequestResult> {
  const found = isRequestId(input.requestId) ? await ctx.db.accessRequest.findUnique({ where: { id: input.requestId }, select: { id: true, requesterSlackId: true } }) : null;
  if (!found) return refuse('not_found', 'This request no longer exists.');
  const byRequester = found.requesterSlackId === input.userId;
  // Asked before the transaction: the directory may call Slack.
  const byAdmin = !byRequester && (await isSecurityAdmin(ctx, input.userId));
  // Calling off someone else's access is a decision for others: only a member of this workspace makes it.
  const accountRefused = byAdmin ? await deciderAccountRefused(ctx, input.userId) : null;
  if (accountRefused) return accountRefused;
  const now = ctx.clock.now();
  const result = await inTransaction(ctx.db, async (tx): Promise<CancelRequestResult & { wasApproved?: boolean }> => {
    const request = await lockRequest(tx, input.requestId);
    if (!request) return refuse('not_found', 'This request no longer exists.');
    const approved = request.state === 'approved';
    if (!byRequester && !(approved && byAdmin)) {
      return refuse('not_allowed', approved ? 'Only the person who asked or a security admin named in the policy can cancel approved access.' : 'Only the person who asked can cancel a request.', {
        detail: { state: request.state },
      });
    }
    if (!canTransition(request.state, 'cancelled')) return refuse('not_cancellable', `This request is already ${request.state}.`, { detail: { state: request.state } });
    if (approved && (await tx.grant.findUnique({ where: { requestId: request.id }, select: { id: true } }))) {
      return refuse('already_granting', 'Latch has already begun granting this access: end it with “I’m done” once it is active.');
    }
    const by = byRequester ? 'the requester' : 'a security admin';
    await tx.accessRequest.update({
      where: { id: request.id },
      data: { state: 'cancelled', endedAt: now, outcomeReason: approved ? `Cancelled by ${by} before access began.` : 'Cancelled by the requester.' },
    });
    await appendAuditEvent(tx, {
      actor: input.userId,
      action: 'request.cancelled',
      requestId: request.id,
      at: now,
      ...(approved ? { data: { wasApproved: true, by: byRequester ? 'requester' : 'security-admin', startsAt: request.startsAt?.toISOString() ?? null } } : {}),
      evidence: input.evidence,
    });
    return { ok: true, requestId: request.id, wasApproved: approved };
  });
  if (!result.ok) return result;
  if (result.wasApproved) {
    try {
      await ctx.access.withdrawGrant?.(result.requestId);
    } catch (error) {
      ctx.logger.warn({ err: error, accessRequestId: result.requestId }, 'could not withdraw the queued grant job; it will find the request cancelled and grant nothing');
    }
  }
  ctx.logger.info({ accessRequestId: result.requestId, by: input.userId, wasApproved: result.wasApproved }, 'request cancelled');
  await publishCommitted(ctx, { type: 'request.cancelled', requestId: result.requestId });
  return { ok: true, requestId: result.requestId };
}
