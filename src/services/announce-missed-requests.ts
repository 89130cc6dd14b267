import { publishCommitted } from './latch-events.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * Pending requests whose approval message never reached Slack (Slack was down or refused), older
 * than `graceSeconds` so a request being announced right now is left to finish, are published
 * again as `request.unannounced`. Without this, such a request would wait unseen by any approver
 * until it expired. Returns the ids published.
 */
export async function announceMissedRequests(ctx: ServiceContext, graceSeconds = 60): Promise<string[]> {
  const before = new Date(ctx.clock.now().getTime() - graceSeconds * 1000);
  const rows = await ctx.db.accessRequest.findMany({
    where: { state: 'pending', approvalMessageTs: null, createdAt: { lt: before } },
    select: { id: true, bundleId: true },
    orderBy: { createdAt: 'asc' },
    take: 100,
  });
  // The items of a bundle share one card, posted by its card's item: announced once, by that id.
  const ids = [...new Set(rows.map((row) => row.bundleId ?? row.id))];
  for (const id of ids) await publishCommitted(ctx, { type: 'request.unannounced', requestId: id });
  return ids;
}
