import { appendAuditEvent } from '../store/audit-log.ts';
import { inTransaction } from '../store/transaction.ts';
import { publishCommitted } from './latch-events.ts';
import type { ServiceContext } from './service-context.ts';

const BATCH_SIZE = 100;

/**
 * Moves every pending request whose decision time has passed to `expired`, each in its own
 * transaction with its audit event. The update is conditional on the request still being
 * pending, so a decision that lands at the same moment wins cleanly and nothing expires twice.
 * Each expiry is published once all are stored; returns the ids that expired.
 */
export async function expirePendingRequests(ctx: ServiceContext): Promise<string[]> {
  const now = ctx.clock.now();
  const expired: string[] = [];
  for (;;) {
    const due = await ctx.db.accessRequest.findMany({
      where: { state: 'pending', pendingExpiresAt: { lte: now }, id: { notIn: expired } },
      select: { id: true },
      orderBy: { pendingExpiresAt: 'asc' },
      take: BATCH_SIZE,
    });
    if (due.length === 0) break;
    for (const { id } of due) {
      const changed = await inTransaction(ctx.db, async (tx) => {
        // The condition is canTransition('pending', 'expired') evaluated by the row itself, so a
        // decision committed a moment earlier wins.
        const { count } = await tx.accessRequest.updateMany({
          where: { id, state: 'pending', pendingExpiresAt: { lte: now } },
          data: { state: 'expired', endedAt: now, outcomeReason: 'Nobody decided in time.' },
        });
        if (count === 1) await appendAuditEvent(tx, { actor: 'latch', action: 'request.expired', requestId: id, at: now });
        return count === 1;
      });
      if (changed) expired.push(id);
    }
    if (due.length < BATCH_SIZE) break;
  }
  if (expired.length > 0) ctx.logger.info({ count: expired.length }, 'pending requests expired');
  for (const requestId of expired) await publishCommitted(ctx, { type: 'request.expired', requestId });
  return expired;
}
