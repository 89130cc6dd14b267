import type { HeldAccess } from '../domain/extension-rules.ts';
import type { Database } from '../store/database.ts';
import type { AccessRequest, Grant } from '../store/generated/client.ts';
import type { Transaction } from '../store/transaction.ts';
import { isRequestId } from './request-id.ts';

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
  let root = isRequestId(requestId) ? await db.accessRequest.findUnique({ where: { id: requestId }, include: { grant: true } }) : null;
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

/**
 * The stretch of access a chain holds now: from its first grant to the latest end of its live
 * grants, with the request whose grant ends last (the one more time runs on from). Null once no
 * grant of the chain is live.
 */
export function heldAccessOf(chain: readonly ChainedRequest[], now: Date): { head: ChainedRequest; held: HeldAccess } | null {
  const live = chain.filter((request) => request.state === 'active' && isLiveGrant(request.grant));
  const head = live.reduce<ChainedRequest | undefined>((latest, request) => (!latest || request.grant!.expiresAt! > latest.grant!.expiresAt! ? request : latest), undefined);
  if (!head?.grant?.expiresAt || head.grant.expiresAt <= now) return null;
  const since = new Date(Math.min(...chain.flatMap((request) => (request.grant?.grantedAt ? [request.grant.grantedAt.getTime()] : []))));
  return { head, held: { since, until: head.grant.expiresAt } };
}
