import { canTransition } from '../domain/request-state.ts';
import type { ProviderFailure } from '../providers/provider.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import type { Grant } from '../store/generated/client.ts';
import { inTransaction } from '../store/transaction.ts';
import { oneLine, type AccessContext } from './access-context.ts';
import { thrownFailure } from './grant-access.ts';
import { lockRequest } from './decide-request.ts';

/**
 * After this many failed attempts (or the first permanent failure) a revocation is overdue: the
 * security channel is told, once, and the job falls back to its slow retry schedule.
 */
export const REVOCATION_ALERT_AFTER_ATTEMPTS = 5;

export type RevokeGrantResult =
  /** The access is gone, or another active grant still covers it and this one is closed. */
  | { outcome: 'revoked'; requestId: string; grantId: string; providerCalled: boolean; coveredBy: string[]; wasOverdue: boolean }
  /** Nothing to do: the grant is revoked already, or was never completed. */
  | { outcome: 'nothing'; reason: string }
  /** Not due yet (extended, or the job ran early): run again at `dueAt`. */
  | { outcome: 'not_due'; dueAt: Date }
  /** The provider failed; recorded. `alert` is true the one time the security channel must hear of it. */
  | { outcome: 'retry'; grantId: string; message: string; attempts: number; permanent: boolean; alert: boolean };

/**
 * Takes away a grant's access once it is due. Idempotent: a revoked grant stays revoked, and a
 * provider's revoke succeeds when the access is already gone.
 *
 * Overlapping grants: when another active grant gives the same principal the same role on the same
 * resource, the access must outlive this grant. Under the access lock (no grant or revoke of the
 * same access can run meanwhile) Latch looks for such a grant; if there is one, this grant is
 * closed without calling the provider, and the access ends when the last covering grant does.
 */
export async function revokeGrant(ctx: AccessContext, grantId: string): Promise<RevokeGrantResult> {
  const grant = await ctx.db.grant.findUnique({ where: { id: grantId } });
  const early = earlyOutcome(grant, ctx.clock.now());
  if (early) return early;
  const key = { resourceId: grant!.resourceId, role: grant!.role, principal: grant!.principal };

  return ctx.locks.withLock(key, async (): Promise<RevokeGrantResult> => {
    // Another worker may have finished it while this one waited for the lock.
    const current = await ctx.db.grant.findUnique({ where: { id: grantId } });
    const now = ctx.clock.now();
    const stillNothing = earlyOutcome(current, now);
    if (stillNothing) return stillNothing;
    const due = current!;
    const covering = await ctx.db.grant.findMany({
      where: { ...key, id: { not: due.id }, revokedAt: null, grantedAt: { not: null }, expiresAt: { gt: now } },
      select: { id: true },
    });
    if (covering.length === 0) {
      const provider = ctx.providerFor(due.resourceId);
      const result = provider
        ? await provider
            .revoke({ grantId: due.id, requestId: due.requestId, resourceId: due.resourceId, role: due.role, principal: due.principal, expiresAt: due.expiresAt! })
            .catch((error: unknown) => ({ ok: false as const, failure: thrownFailure(error) }))
        : { ok: false as const, failure: { kind: 'permanent' as const, message: `the policy no longer configures a provider for ${due.resourceId}; remove the access by hand` } };
      if (!result.ok) return recordFailedRevocation(ctx, due, result.failure);
    }
    return recordRevocation(ctx, due, covering.map((grant) => grant.id), covering.length === 0);
  });
}

function earlyOutcome(grant: Grant | null, now: Date): RevokeGrantResult | null {
  if (!grant) return { outcome: 'nothing', reason: 'the grant does not exist' };
  if (grant.revokedAt) return { outcome: 'nothing', reason: 'the grant is already revoked' };
  // No expiry yet means the grant job has not finished; it sets one when it does.
  if (!grant.expiresAt) return { outcome: 'nothing', reason: 'the grant is not complete yet' };
  if (grant.expiresAt > now) return { outcome: 'not_due', dueAt: grant.expiresAt };
  return null;
}

async function recordRevocation(ctx: AccessContext, grant: Grant, coveredBy: string[], providerCalled: boolean): Promise<RevokeGrantResult> {
  const now = ctx.clock.now();
  const reason = grant.revokeReason ?? 'expired';
  await inTransaction(ctx.db, async (tx) => {
    const request = await lockRequest(tx, grant.requestId);
    await tx.grant.update({
      where: { id: grant.id },
      data: { revokedAt: now, revokeReason: reason, revokeAttempts: providerCalled ? { increment: 1 } : undefined, lastError: null, lastErrorAt: null },
    });
    if (request && canTransition(request.state, 'revoked')) {
      await tx.accessRequest.update({ where: { id: request.id }, data: { state: 'revoked', endedAt: now, outcomeReason: outcomeReasonFor(reason) } });
    }
    await appendAuditEvent(tx, {
      actor: grant.revokedBySlackId ?? 'latch',
      action: 'grant.revoked',
      requestId: grant.requestId,
      at: now,
      data: {
        grantId: grant.id,
        reason,
        providerCalled,
        coveredBy,
        dueAt: grant.expiresAt!.toISOString(),
        lateBySeconds: Math.max(0, Math.round((now.getTime() - grant.expiresAt!.getTime()) / 1000)),
      },
    });
  });
  ctx.logger.info({ accessRequestId: grant.requestId, grantId: grant.id, providerCalled, coveredBy }, 'access revoked');
  return { outcome: 'revoked', requestId: grant.requestId, grantId: grant.id, providerCalled, coveredBy, wasOverdue: grant.overdueAlertedAt !== null };
}

async function recordFailedRevocation(ctx: AccessContext, grant: Grant, failure: ProviderFailure): Promise<RevokeGrantResult> {
  const now = ctx.clock.now();
  const message = oneLine(failure.message);
  const attempts = grant.revokeAttempts + 1;
  const overdue = failure.kind === 'permanent' || attempts >= REVOCATION_ALERT_AFTER_ATTEMPTS;
  const alert = overdue && grant.overdueAlertedAt === null;
  await inTransaction(ctx.db, async (tx) => {
    await tx.grant.update({
      where: { id: grant.id },
      data: { revokeAttempts: attempts, lastError: message, lastErrorAt: now, ...(alert ? { overdueAlertedAt: now } : {}) },
    });
    await appendAuditEvent(tx, {
      actor: 'latch',
      action: alert ? 'grant.revocation_overdue' : 'grant.revoke_failed',
      requestId: grant.requestId,
      at: now,
      data: { grantId: grant.id, attempt: attempts, kind: failure.kind, message },
    });
  });
  ctx.logger.error({ accessRequestId: grant.requestId, grantId: grant.id, attempt: attempts, failure: message, kind: failure.kind }, 'revocation failed; it will be retried');
  return { outcome: 'retry', grantId: grant.id, message, attempts, permanent: failure.kind === 'permanent', alert };
}

/** What the requester and approvers read about how the access ended. */
function outcomeReasonFor(revokeReason: string): string {
  switch (revokeReason) {
    case 'expired':
      return 'The access expired.';
    case 'grant failed':
      return 'Access could not be granted.';
    default:
      // "ended early by the requester" → "Ended early by the requester."
      return `${revokeReason.charAt(0).toUpperCase()}${revokeReason.slice(1)}.`;
  }
}
