import { readStoredScope } from '../domain/scope-rules.ts';
import { readRequestScope } from '../store/request-reads.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { lockRequest } from '../store/request-lock.ts';
import { inTransaction } from '../store/transaction.ts';
import { oneLine, type AccessContext } from './access-context.ts';
import { handOver } from './decide-request.ts';
import { thrownFailure } from './grant-access.ts';

export interface UsedAccessSweep {
  /** Single-use grants whose one session has ended: their revocation is queued now. */
  ended: string[];
  /** Grants whose session is open now (no other can start). */
  inUse: number;
  /** One line per grant the target could not be asked about; they are looked at again next time. */
  errors: string[];
}

export const USED_UP_REASON = 'its single session ended';

/**
 * Single-use access (a role's `uses: 1`): for each live grant of such a role whose credentials
 * were handed out, asks the provider about the login's sessions. Once the one session has ended,
 * the access ends at once, as if its holder had said "I'm done": the grant's expiry moves to now
 * with a `grant.end_requested` event (actor `latch`) in one transaction, and the revocation is
 * queued; the revoke job does the rest. Run by the worker's sweep, so a session is seen within
 * one sweep interval; the provider stops further logins the first time it sees the session.
 */
export async function endUsedAccess(ctx: AccessContext): Promise<UsedAccessSweep> {
  const sweep: UsedAccessSweep = { ended: [], inUse: 0, errors: [] };
  const now = ctx.clock.now();
  const singleUseRoles = ctx.policy().resources.flatMap((resource) => resource.roles.filter((role) => role.uses === 1).map((role) => ({ resourceId: resource.id, role: role.id })));
  if (singleUseRoles.length === 0) return sweep;
  const grants = await ctx.db.grant.findMany({
    where: { OR: singleUseRoles, revokedAt: null, grantedAt: { not: null }, credentialsIssuedAt: { not: null }, expiresAt: { gt: now } },
  });
  for (const grant of grants) {
    const provider = ctx.providerFor(grant.resourceId);
    if (!provider?.watchSingleUse) continue;
    const scope = readStoredScope(await readRequestScope(ctx.db, grant.requestId));
    const target = { grantId: grant.id, requestId: grant.requestId, resourceId: grant.resourceId, role: grant.role, principal: grant.principal, expiresAt: grant.expiresAt!, singleUse: true, ...(scope && scope !== 'invalid' ? { scope } : {}) };
    const state = await provider.watchSingleUse(target).catch((error: unknown) => ({ ok: false as const, failure: thrownFailure(error) }));
    if (!state.ok) {
      sweep.errors.push(`${grant.id}: ${oneLine(state.failure.message)}`);
      continue;
    }
    if (state.value === 'in_use') sweep.inUse += 1;
    if (state.value !== 'used') continue;
    if (await endUsedGrant(ctx, grant.requestId, grant.id)) {
      sweep.ended.push(grant.id);
      await handOver(ctx, () => ctx.access.scheduleRevocation(grant.id, ctx.clock.now()), grant.requestId);
    }
  }
  for (const error of sweep.errors) ctx.logger.warn({ error }, 'could not look at a single-use login’s sessions');
  if (sweep.ended.length > 0) ctx.logger.info({ grantIds: sweep.ended }, 'single-use access used: ending it now');
  return sweep;
}

/** The grant's end moves to now, with its audit event; false when it ended meanwhile. */
async function endUsedGrant(ctx: AccessContext, requestId: string, grantId: string): Promise<boolean> {
  const now = ctx.clock.now();
  return inTransaction(ctx.db, async (tx) => {
    // The request's lock first, as "I'm done" takes it: the two cannot both end the grant.
    await lockRequest(tx, requestId);
    const grant = await tx.grant.findUnique({ where: { id: grantId } });
    if (!grant || grant.revokedAt || !grant.expiresAt || grant.expiresAt <= now) return false;
    await tx.grant.update({ where: { id: grantId }, data: { endRequestedAt: now, expiresAt: now, revokeReason: USED_UP_REASON, revokedBySlackId: 'latch' } });
    await appendAuditEvent(tx, { actor: 'latch', action: 'grant.end_requested', requestId: grant.requestId, at: now, data: { grantId, reason: USED_UP_REASON } });
    return true;
  });
}
