import type { AccessPeriod, AutoApprovalHistory } from '../domain/auto-approval.ts';
import type { AccessRequest, Grant } from '../store/generated/client.ts';
import { readRequesterAccess } from '../store/requester-access.ts';
import type { SqlTransaction } from '../store/sql-transaction.ts';

const DAY_SECONDS = 24 * 3600;

/**
 * The requester's access of one resource and role that an auto-approval must take into account:
 * held and booked access (however it was approved) and, for the cooldown and the daily cap, what
 * ended or was auto-approved within `lookbackSeconds` (at least a day). Read inside the request's
 * transaction, under the requester's lock (see lockingRequester), so concurrent requests count.
 */
export async function loadAutoApprovalHistory(
  tx: SqlTransaction,
  access: { requesterId: string; resourceId: string; role: string },
  now: Date,
  lookbackSeconds: number,
): Promise<AutoApprovalHistory> {
  const since = new Date(now.getTime() - Math.max(DAY_SECONDS, lookbackSeconds) * 1000);
  const rows = await readRequesterAccess(tx, access, since);
  const autoApproved = (row: AccessRequest) => row.decidedByRule !== null && !row.breakGlass;
  const periods = new Map<string, AccessPeriod>();
  // Granted access first: a booked request for more time runs on from the end of the access it extends.
  for (const row of rows) {
    const held = heldPeriod(row.grant);
    if (held) periods.set(row.id, { ...held, autoApproved: autoApproved(row) });
  }
  for (const row of [...rows].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())) {
    if (row.state !== 'approved' || periods.has(row.id)) continue;
    const extended = row.extendsRequestId ? periods.get(row.extendsRequestId) : undefined;
    const startMs = Math.max(now.getTime(), row.startsAt?.getTime() ?? 0, extended?.end.getTime() ?? 0);
    periods.set(row.id, { start: new Date(startMs), end: new Date(startMs + row.durationSeconds * 1000), autoApproved: autoApproved(row) });
  }
  return {
    periods: [...periods.values()],
    autoApprovedAt: rows.filter((row) => autoApproved(row) && row.decidedAt !== null).map((row) => row.decidedAt!),
  };
}

/** From the grant to its revocation (when access really ended) or, while it lasts, its expiry. */
function heldPeriod(grant: Grant | null): { start: Date; end: Date } | null {
  if (!grant?.grantedAt) return null;
  const end = grant.revokedAt ?? grant.expiresAt;
  return end ? { start: grant.grantedAt, end } : null;
}
