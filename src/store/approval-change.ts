import type { SqlTransaction } from './sql-transaction.ts';

/**
 * Narrows a pending request as its approver changed it, and starts a new revision: votes cast on
 * what was asked before do not count towards what is approved now. Under the request's row lock.
 * Returns the new revision.
 */
export async function narrowRequest(tx: SqlTransaction, requestId: string, change: { role: string; durationSeconds: number }): Promise<number> {
  const rows = await tx.rows<{ revision: number }>(
    `UPDATE access_requests
        SET role = $2, duration_seconds = $3::int, revision = revision + 1, updated_at = now()
      WHERE id = $1::uuid AND state = 'pending'
      RETURNING revision`,
    [requestId, change.role, change.durationSeconds],
  );
  if (!rows[0]) throw new Error('the request to narrow is not pending under its lock');
  return rows[0].revision;
}
