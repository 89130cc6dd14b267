import { canTransition } from '../domain/request-state.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { inTransaction } from '../store/transaction.ts';
import { lockRequest } from './decide-request.ts';
import type { ServiceContext } from './service-context.ts';

export type CancelRequestResult = { ok: true; requestId: string } | { ok: false; message: string };

/** The requester withdraws a request that is still pending. */
export async function cancelRequest(ctx: ServiceContext, input: { requestId: string; userId: string }): Promise<CancelRequestResult> {
  const exists = await ctx.db.accessRequest.findUnique({ where: { id: input.requestId }, select: { id: true } }).catch(() => null);
  if (!exists) return { ok: false, message: 'This request no longer exists.' };
  const now = ctx.clock.now();
  const result = await inTransaction(ctx.db, async (tx): Promise<CancelRequestResult> => {
    const request = await lockRequest(tx, input.requestId);
    if (!request) return { ok: false, message: 'This request no longer exists.' };
    if (request.requesterSlackId !== input.userId) return { ok: false, message: 'Only the person who asked can cancel a request.' };
    if (!canTransition(request.state, 'cancelled')) return { ok: false, message: `This request is already ${request.state}.` };
    await tx.accessRequest.update({
      where: { id: request.id },
      data: { state: 'cancelled', endedAt: now, outcomeReason: 'Cancelled by the requester.' },
    });
    await appendAuditEvent(tx, { actor: input.userId, action: 'request.cancelled', requestId: request.id, at: now });
    return { ok: true, requestId: request.id };
  });
  if (result.ok) ctx.logger.info({ accessRequestId: result.requestId }, 'request cancelled');
  return result;
}
