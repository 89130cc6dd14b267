import type { AccessRequest, Grant } from './generated/client.ts';
import type { SqlTransaction } from './sql-transaction.ts';
import { accessRequestColumns, grantColumns, unprefixed } from './table-columns.ts';

const GRANT_PREFIX = 'grant.';

const REQUESTER_ACCESS = `
  SELECT ${accessRequestColumns('r')}, ${grantColumns('g', GRANT_PREFIX)}
    FROM access_requests AS r LEFT JOIN grants AS g ON g.request_id = r.id
   WHERE r.requester_slack_id = $1 AND r.resource_id = $2 AND r.role = $3
     AND (r.state IN ('approved', 'active') OR r.decided_at >= $4::timestamptz OR g.revoked_at >= $4::timestamptz)`;

/**
 * A requester's requests of one resource and role, each with its grant, that are approved or
 * active, or were decided or had their access revoked `since` then: what an auto-approval must
 * take into account (services/auto-approval-history.ts). One statement, in the caller's
 * transaction, which holds the requester's lock.
 */
export async function readRequesterAccess(
  tx: SqlTransaction,
  access: { requesterId: string; resourceId: string; role: string },
  since: Date,
): Promise<Array<AccessRequest & { grant: Grant | null }>> {
  const rows = await tx.rows<Record<string, unknown>>(REQUESTER_ACCESS, [access.requesterId, access.resourceId, access.role, since]);
  return rows.map((row) => {
    const grant = unprefixed<Grant>(row, GRANT_PREFIX);
    const request = Object.fromEntries(Object.entries(row).filter(([name]) => !name.startsWith(GRANT_PREFIX))) as unknown as AccessRequest;
    return { ...request, grant: grant.id === null ? null : grant };
  });
}
