import type { Logger } from '../logging/logger.ts';
import { findReconcileWork } from '../services/find-reconcile-work.ts';
import type { ServiceContext } from '../services/service-context.ts';
import type { AccessQueues } from './access-queues.ts';

/** Revocations due within this window are queued by every run; runs are more frequent than that. */
export const RECONCILE_HORIZON_MS = 5 * 60_000;

/**
 * Puts back into Redis every grant and revocation PostgreSQL says is needed: approved requests
 * not granted, and grants due (or overdue) for revocation. Jobs that already exist are left as
 * they are (deterministic ids), except that a revocation already due is brought forward if its
 * job sleeps longer than it should. Run at start-up and every minute.
 *
 * On a Redis Cluster every key of Latch's queues shares the prefix's hash tag, so one node holds
 * them all: "Redis lost its data" is that node losing it (a FLUSHALL there, a restart without
 * persistence, a failover to a replica that was behind), and the maintenance guard, whose check
 * reads keys in that slot, sees it and runs this at once. Other nodes hold none of Latch's keys.
 */
export async function reconcileAccess(ctx: ServiceContext, queues: AccessQueues, logger: Logger, horizonMs = RECONCILE_HORIZON_MS): Promise<void> {
  let grants = 0;
  let revocations = 0;
  const now = ctx.clock.now();
  for await (const work of findReconcileWork(ctx, horizonMs)) {
    await queues.requestGrants(work.grants);
    const due = work.revocations.filter((r) => r.dueAt <= now);
    const soon = work.revocations.filter((r) => r.dueAt > now);
    await queues.scheduleRevocations(soon);
    // Few in a healthy system; each is checked so an early end whose job was lost is not late.
    for (const revocation of due) await queues.scheduleRevocation(revocation.grantId, revocation.dueAt);
    grants += work.grants.length;
    revocations += work.revocations.length;
  }
  logger.debug({ grants, revocations }, 'reconcile: grants and revocations queued (existing jobs kept)');
}
