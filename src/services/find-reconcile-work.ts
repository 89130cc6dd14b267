import type { ServiceContext } from './service-context.ts';

export interface ReconcileWork {
  /** Approved requests not granted yet, with the start they asked for. */
  grants: Array<{ requestId: string; startsAt: Date | null }>;
  /** Grants not revoked whose expiry falls before the horizon (overdue ones included). */
  revocations: Array<{ grantId: string; dueAt: Date }>;
}

const PAGE_SIZE = 1_000;

/**
 * Everything the job queues should hold, re-derived from PostgreSQL, so a Redis that lost its
 * data, a job lost between a commit and its enqueue, or a process killed mid-job changes only
 * timing. Revocations are taken up to `horizon` ahead: the reconcile job runs more often than
 * that, so every grant is queued in time however long ago Redis forgot it, while a run's cost
 * stays proportional to the grants due soon, not to every active grant.
 */
export async function* findReconcileWork(ctx: ServiceContext, horizonMs: number): AsyncGenerator<ReconcileWork> {
  const until = new Date(ctx.clock.now().getTime() + horizonMs);
  let afterRequest: string | undefined;
  for (;;) {
    const page = await ctx.db.accessRequest.findMany({
      where: { state: 'approved', ...(afterRequest ? { id: { gt: afterRequest } } : {}) },
      select: { id: true, startsAt: true },
      orderBy: { id: 'asc' },
      take: PAGE_SIZE,
    });
    if (page.length === 0) break;
    yield { grants: page.map((r) => ({ requestId: r.id, startsAt: r.startsAt })), revocations: [] };
    afterRequest = page.at(-1)!.id;
    if (page.length < PAGE_SIZE) break;
  }
  let afterGrant: string | undefined;
  for (;;) {
    // Keyset on id: expiresAt changes under us (an early end), ids do not.
    const page = await ctx.db.grant.findMany({
      where: { revokedAt: null, expiresAt: { lte: until }, ...(afterGrant ? { id: { gt: afterGrant } } : {}) },
      select: { id: true, expiresAt: true },
      orderBy: { id: 'asc' },
      take: PAGE_SIZE,
    });
    if (page.length === 0) break;
    yield { grants: [], revocations: page.map((g) => ({ grantId: g.id, dueAt: g.expiresAt! })) };
    afterGrant = page.at(-1)!.id;
    if (page.length < PAGE_SIZE) break;
  }
}
