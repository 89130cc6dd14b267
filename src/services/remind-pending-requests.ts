import { findResource } from '../domain/policy.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { inTransaction } from '../store/transaction.ts';
import { publishCommitted } from './latch-events.ts';
import type { ServiceContext } from './service-context.ts';
import { lockRequest } from '../store/request-lock.ts';

const BATCH = 200;

/**
 * Undecided requests whose resource asks for reminders and that waited `after` since they were
 * made or last reminded. Each is claimed (its reminder time set, compare-and-set) before its
 * `reminder.due` is published, so two workers running the sweep remind once. A reminder changes
 * nothing about the request, so it is not audited. Returns the ids claimed.
 */
export async function claimPendingReminders(ctx: ServiceContext): Promise<string[]> {
  const now = ctx.clock.now();
  const pending = await ctx.db.accessRequest.findMany({
    where: { state: 'pending' },
    select: { id: true, resourceId: true, createdAt: true, lastRemindedAt: true },
    orderBy: { createdAt: 'asc' },
    take: BATCH * 5,
  });
  const claimed: string[] = [];
  for (const request of pending) {
    const reminders = findResource(ctx.policy(), request.resourceId)?.reminders;
    if (!reminders) continue;
    const since = request.lastRemindedAt ?? request.createdAt;
    if (now.getTime() - since.getTime() < reminders.afterSeconds * 1000) continue;
    const { count } = await ctx.db.accessRequest.updateMany({
      where: { id: request.id, state: 'pending', lastRemindedAt: request.lastRemindedAt },
      data: { lastRemindedAt: now },
    });
    if (count === 1) claimed.push(request.id);
    if (claimed.length >= BATCH) break;
  }
  for (const requestId of claimed) await publishCommitted(ctx, { type: 'reminder.due', requestId });
  return claimed;
}

/**
 * Undecided requests that waited `escalateAfter`: escalated once, with an audit event, in one
 * transaction, then published. From then on, members of the escalation groups may decide them too.
 */
export async function escalateOverdueRequests(ctx: ServiceContext): Promise<string[]> {
  const now = ctx.clock.now();
  const pending = await ctx.db.accessRequest.findMany({
    where: { state: 'pending', escalatedAt: null },
    select: { id: true, resourceId: true, createdAt: true },
    orderBy: { createdAt: 'asc' },
    take: BATCH * 5,
  });
  const escalated: string[] = [];
  for (const request of pending) {
    const reminders = findResource(ctx.policy(), request.resourceId)?.reminders;
    if (!reminders?.escalateAfterSeconds || reminders.escalateTo.length === 0) continue;
    if (now.getTime() - request.createdAt.getTime() < reminders.escalateAfterSeconds * 1000) continue;
    const done = await inTransaction(ctx.db, async (tx) => {
      const locked = await lockRequest(tx, request.id);
      if (locked?.state !== 'pending' || locked.escalatedAt) return false;
      await tx.accessRequest.update({ where: { id: locked.id }, data: { escalatedAt: now } });
      await appendAuditEvent(tx, { actor: 'latch', action: 'request.escalated', requestId: locked.id, at: now, data: { to: reminders.escalateTo, waitedSeconds: Math.round((now.getTime() - locked.createdAt.getTime()) / 1000) } });
      return true;
    });
    if (done) escalated.push(request.id);
    if (escalated.length >= BATCH) break;
  }
  for (const requestId of escalated) await publishCommitted(ctx, { type: 'request.escalated', requestId });
  return escalated;
}
