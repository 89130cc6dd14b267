import { lapsedLoginCutoff } from '../domain/cli-login.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { deleteLapsedCliLogins } from '../store/cli-logins.ts';
import { inTransaction } from '../store/transaction.ts';
import type { ServiceContext } from './service-context.ts';

/** Rows a statement deletes: a backlog is taken in short transactions, never one long one. */
const BATCH_SIZE = 1_000;
/** Batches a run: more than an hour's flood at the bound on waiting logins (200 every 10 minutes). */
const BATCHES_PER_RUN = 5;

/**
 * Deletes the `latch login` rows nothing can use any more, kept a day after that
 * (LAPSED_LOGIN_KEPT_SECONDS, isLapsedCliLogin): anyone may start a login, so without this a
 * flood would add rows for ever. Each batch and a `login.swept` event saying how many and before
 * when are one transaction; the `login.*` events of each login stay in the audit trail. A live
 * token's row is never taken, nor a revoked one's before the token would have expired. Returns
 * how many were deleted.
 */
export async function sweepLapsedLogins(ctx: Pick<ServiceContext, 'db' | 'clock' | 'logger'>): Promise<number> {
  const now = ctx.clock.now();
  const cutoff = lapsedLoginCutoff(now);
  let swept = 0;
  for (let batch = 0; batch < BATCHES_PER_RUN; batch++) {
    const deleted = await inTransaction(ctx.db, async (tx) => {
      const count = await deleteLapsedCliLogins(tx, cutoff, BATCH_SIZE);
      if (count > 0) await appendAuditEvent(tx, { actor: 'latch', action: 'login.swept', at: now, data: { count, lapsedBefore: cutoff.toISOString() } });
      return count;
    });
    swept += deleted;
    if (deleted < BATCH_SIZE) break;
  }
  if (swept > 0) ctx.logger.info({ count: swept, lapsedBefore: cutoff.toISOString() }, 'lapsed CLI logins swept');
  return swept;
}
