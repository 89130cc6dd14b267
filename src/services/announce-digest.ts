import type { LatchEventPublisher } from './latch-events.ts';
import type { Clock } from './service-context.ts';

/**
 * Says that the digest `name` of the policy is due now; the notifier builds it from the audit
 * trail and posts it to its channel. Published as is, not through publishCommitted: nothing was
 * stored, and a digest that could not be posted must fail its job so the job is retried.
 */
export async function announceDigest(ctx: { clock: Clock; events: LatchEventPublisher }, name: string): Promise<void> {
  await ctx.events.publish({ type: 'digest.due', name, at: ctx.clock.now() });
}
