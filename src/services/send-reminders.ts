import { claimBreakGlassReminders } from './remind-break-glass-reviews.ts';
import { claimPendingReminders, escalateOverdueRequests } from './remind-pending-requests.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * The reminder sweep: what waits for someone is claimed and published, most urgent first —
 * unreviewed break-glass use, then escalations of requests nobody decided, then reminders to
 * the approvers of the rest.
 */
export async function sendReminders(ctx: ServiceContext): Promise<void> {
  await claimBreakGlassReminders(ctx);
  await escalateOverdueRequests(ctx);
  await claimPendingReminders(ctx);
}
