import type { LockedRead } from './access-lock.ts';
import type { Database } from './database.ts';
import type { Grant } from './generated/client.ts';
import { SqlTransaction } from './sql-transaction.ts';
import { grantColumns, MODEL_TYPES } from './table-columns.ts';

const GRANT = `SELECT ${grantColumns('g')} FROM grants AS g WHERE g.id = $1`;

/** One grant, as its row is (plain SQL, one statement). Null when there is none. */
export async function readGrant(db: Database, grantId: string): Promise<Grant | null> {
  const { rows } = await db.pool.query<Grant>(GRANT, [grantId]);
  return rows[0] ?? null;
}

const GRANT_OF_REQUEST = `SELECT ${grantColumns('g')} FROM grants AS g WHERE g.request_id = $1::uuid`;

/** A request's grant, as its row is, read in `source` (a transaction, or the pool). Null when there is none. */
export async function readGrantOfRequest(source: Database | SqlTransaction, requestId: string): Promise<Grant | null> {
  if (source instanceof SqlTransaction) return (await source.rows<Grant>(GRANT_OF_REQUEST, [requestId]))[0] ?? null;
  const { rows } = await source.pool.query<Grant>({ text: GRANT_OF_REQUEST, values: [requestId], types: MODEL_TYPES });
  return rows[0] ?? null;
}

const GRANT_AND_COVERING = `
  SELECT ${grantColumns('g')}, (SELECT r.scope FROM access_requests AS r WHERE r.id = g.request_id) AS "requestScope" FROM grants AS g
   WHERE g.id = $1
      OR (g.principal = $2 AND (g.resource_id, g.role) IN (SELECT * FROM unnest($3::text[], $4::text[]))
          AND g.id <> $1 AND g.revoked_at IS NULL AND g.granted_at IS NOT NULL AND g.expires_at > $5
          AND NOT EXISTS (SELECT 1 FROM access_requests AS r
                           WHERE r.id IN (g.request_id, (SELECT d.request_id FROM grants AS d WHERE d.id = $1))
                             AND r.scope IS NOT NULL))`;

/** What the grant-and-covering read finds: the grant as it is now, the grants that cover it, its request's scope. */
export interface GrantAndCovering {
  grant: Grant | null;
  covering: Grant[];
  scope: unknown;
}

export type GrantAndCoveringRow = Grant & { requestScope: unknown };

/**
 * One statement: the grant as it is now, and every other grant that gives its principal the same
 * access (any of `sameAccess`'s resources and roles) and is live at `now`. A scoped grant (its
 * request has a scope) covers nothing and is covered by nothing: each has target objects of its
 * own that only its own revocation removes. Also the grant's request's scope, which the provider
 * is told at revocation (as a help: it finds what the grant made by its request id).
 *
 * Given as a statement, not run: the revocation runs it under the access lock, on the lock's own
 * connection, in the lock's round trip (AccessLocks.withLockAndRead); grantAndCoveringOf reads
 * its rows.
 */
export function grantAndCoveringRead(
  grantId: string,
  principal: string,
  sameAccess: ReadonlyArray<{ resourceId: string; role: string }>,
  now: Date,
): LockedRead {
  return { text: GRANT_AND_COVERING, values: [grantId, principal, sameAccess.map((access) => access.resourceId), sameAccess.map((access) => access.role), now] };
}

export function grantAndCoveringOf(rows: readonly GrantAndCoveringRow[], grantId: string): GrantAndCovering {
  const strip = ({ requestScope: _scope, ...grant }: GrantAndCoveringRow): Grant => grant;
  const found = rows.find((row) => row.id === grantId);
  return { grant: found ? strip(found) : null, covering: rows.filter((row) => row.id !== grantId).map(strip), scope: found?.requestScope ?? null };
}
