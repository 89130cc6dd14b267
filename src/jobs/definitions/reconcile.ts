import type { Logger } from '../../logging/logger.ts';
import { findReconcileWork } from '../../services/find-reconcile-work.ts';
import type { ServiceContext } from '../../services/service-context.ts';
import type { AccessJobScheduler } from '../job-context.ts';
import { defineSweep } from '../job-definition.ts';

/** Revocations due within this window are queued by every run; runs are more frequent than that. */
export const RECONCILE_HORIZON_MS = 5 * 60_000;

/**
 * Puts back into Redis every grant and revocation PostgreSQL says is needed: run when a worker
 * starts (so a grant that expired while Latch was down is revoked at once) and every minute.
 */
export const reconcileJob = defineSweep({
  name: 'reconcile',
  everyMs: (settings) => settings.reconcileEveryMs,
  runAtStart: true,
  run: (ctx) => reconcileAccess(ctx.access, ctx.jobs, ctx.logger),
});

/**
 * Approved requests not granted, and grants due (or overdue) for revocation. Jobs that already
 * exist are left as they are (deterministic ids), except that a revocation already due is brought
 * forward if its job sleeps longer than it should.
 *
 * On a Redis Cluster every key of Latch's queues shares the prefix's hash tag, so one node holds
 * them all: "Redis lost its data" is that node losing it (a FLUSHALL there, a restart without
 * persistence, a failover to a replica that was behind), and the runner's schedule check, which
 * reads keys in that slot, sees it and runs this at once. Other nodes hold none of Latch's keys.
 */
export async function reconcileAccess(ctx: ServiceContext, jobs: AccessJobScheduler, logger: Logger, horizonMs = RECONCILE_HORIZON_MS): Promise<void> {
  let grants = 0;
  let revocations = 0;
  const now = ctx.clock.now();
  for await (const work of findReconcileWork(ctx, horizonMs)) {
    await jobs.requestGrants(work.grants);
    const due = work.revocations.filter((r) => r.dueAt <= now);
    const soon = work.revocations.filter((r) => r.dueAt > now);
    await jobs.scheduleRevocations(soon);
    // Few in a healthy system; each is checked so an early end whose job was lost is not late.
    for (const revocation of due) await jobs.scheduleRevocation(revocation.grantId, revocation.dueAt);
    grants += work.grants.length;
    revocations += work.revocations.length;
  }
  logger.debug({ grants, revocations }, 'reconcile: grants and revocations queued (existing jobs kept)');
}
