import type { Database } from '../store/database.ts';
import type { AccessRequest, Grant } from '../store/generated/client.ts';
import type { Transaction } from '../store/transaction.ts';

export type ChainedRequest = AccessRequest & { grant: Grant | null };

// Extensions come one at a time and each is bounded by the role's maximum, so chains stay short;
// the bound only keeps a corrupted row (a cycle) from looping forever.
const MAX_CHAIN_LENGTH = 100;

/**
 * One stretch of access: the request that started it and every request for more time on it,
 * oldest first, each with its grant. Ending the access early ends all of them, and the role's
 * maximum duration bounds them together.
 */
export async function findAccessChain(db: Database | Transaction, requestId: string): Promise<ChainedRequest[]> {
  let root = await db.accessRequest.findUnique({ where: { id: requestId }, include: { grant: true } }).catch(() => null);
  for (let hops = 0; root?.extendsRequestId && hops < MAX_CHAIN_LENGTH; hops++) {
    root = await db.accessRequest.findUnique({ where: { id: root.extendsRequestId }, include: { grant: true } });
  }
  if (!root) return [];
  const chain: ChainedRequest[] = [root];
  let frontier = [root.id];
  while (frontier.length > 0 && chain.length < MAX_CHAIN_LENGTH) {
    const next = await db.accessRequest.findMany({ where: { extendsRequestId: { in: frontier } }, include: { grant: true }, orderBy: { createdAt: 'asc' } });
    chain.push(...next);
    frontier = next.map((request) => request.id);
  }
  return chain;
}

/** A grant that holds access now: granted, not revoked, not asked to end. */
export function isLiveGrant(grant: Grant | null): grant is Grant & { grantedAt: Date; expiresAt: Date } {
  return grant !== null && grant.grantedAt !== null && grant.expiresAt !== null && grant.revokedAt === null && grant.endRequestedAt === null;
}
