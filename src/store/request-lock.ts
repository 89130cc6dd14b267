import type { AccessRequest } from './generated/client.ts';
import { rowsIn, type AnyTransaction } from './sql-transaction.ts';
import { accessRequestColumns } from './table-columns.ts';

const LOCKED_REQUEST = `SELECT ${accessRequestColumns('r')} FROM access_requests AS r WHERE r.id = $1::uuid FOR UPDATE`;

/**
 * Locks the request's row until the transaction ends and reads it, in one statement: a row lock
 * that waited for another transaction reads the row as that one committed it (PostgreSQL re-reads
 * a locked row before returning it), so what comes back is current. Null when there is none.
 */
export async function lockRequest(tx: AnyTransaction, requestId: string): Promise<AccessRequest | null> {
  const [row] = await rowsIn<AccessRequest>(tx, LOCKED_REQUEST, [requestId]);
  return row ?? null;
}
