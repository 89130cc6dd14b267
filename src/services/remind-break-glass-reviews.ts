import { findResource } from '../domain/policy.ts';
import { publishCommitted } from './latch-events.ts';
import type { ServiceContext } from './service-context.ts';

const DEFAULT_REMIND_EVERY_SECONDS = 60 * 60;

/**
 * Break-glass uses whose review is overdue and that were not reminded about within their
 * resource's `remindEvery`: each is claimed (its reminder time set) before its reminder is
 * published, so two workers running this sweep do not remind twice. Returns the ids claimed.
 */
export async function claimBreakGlassReminders(ctx: ServiceContext): Promise<string[]> {
  const now = ctx.clock.now();
  const due = await ctx.db.accessRequest.findMany({
    where: { breakGlass: true, reviewedAt: null, reviewDueAt: { lte: now } },
    select: { id: true, resourceId: true, lastRemindedAt: true },
    orderBy: { reviewDueAt: 'asc' },
    take: 200,
  });
  const claimed: string[] = [];
  for (const request of due) {
    const everySeconds = findResource(ctx.policy(), request.resourceId)?.breakGlass?.remindEverySeconds ?? DEFAULT_REMIND_EVERY_SECONDS;
    const notAfter = new Date(now.getTime() - everySeconds * 1000);
    if (request.lastRemindedAt && request.lastRemindedAt > notAfter) continue;
    // Compare-and-set on the value read: whoever changes it first sends the reminder.
    const { count } = await ctx.db.accessRequest.updateMany({
      where: { id: request.id, reviewedAt: null, lastRemindedAt: request.lastRemindedAt },
      data: { lastRemindedAt: now },
    });
    if (count === 1) claimed.push(request.id);
  }
  for (const requestId of claimed) await publishCommitted(ctx, { type: 'break_glass.review_overdue', requestId });
  return claimed;
}
