import { Prisma, type AccessRequest } from './generated/client.ts';
import { accessRequestColumns } from './table-columns.ts';
import type { Transaction } from './transaction.ts';

const LOCKED_REQUEST = Prisma.raw(`SELECT ${accessRequestColumns('r')} FROM access_requests AS r WHERE r.id = `);

/**
 * Locks the request's row until the transaction ends and reads it, in one statement: a row lock
 * that waited for another transaction reads the row as that one committed it (PostgreSQL re-reads
 * a locked row before returning it), so what comes back is current. Null when there is none.
 */
export async function lockRequest(tx: Transaction, requestId: string): Promise<AccessRequest | null> {
  const [row] = await tx.$queryRaw<AccessRequest[]>`${LOCKED_REQUEST}${requestId}::uuid FOR UPDATE`;
  return row ?? null;
}
