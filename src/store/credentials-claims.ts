import type { SqlTransaction } from './sql-transaction.ts';

/**
 * A grant's credentials are handed out once: the first fetch claims them by setting
 * `credentials_issued_at` (under the request's lock, in the transaction of its audit event), and
 * every later fetch finds the claim. A claim whose credentials could not be set on the target is
 * given back, so the requester may try again; nothing else ever clears it.
 */

export async function claimCredentials(tx: SqlTransaction, grantId: string, at: Date): Promise<void> {
  await tx.rows(`UPDATE grants SET credentials_issued_at = $2::timestamptz, updated_at = now() WHERE id = $1::uuid`, [grantId, at]);
}

export async function releaseCredentialsClaim(tx: SqlTransaction, grantId: string, claimedAt: Date): Promise<void> {
  await tx.rows(`UPDATE grants SET credentials_issued_at = NULL, updated_at = now() WHERE id = $1::uuid AND credentials_issued_at = $2::timestamptz`, [grantId, claimedAt]);
}
