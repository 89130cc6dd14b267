import type { SqlTransaction } from './sql-transaction.ts';

/**
 * The advisory-lock class of per-requester locks, in PostgreSQL's two-int key space beside the
 * access locks' class (4917); the audit lock uses the one-bigint space.
 */
const REQUESTER_LOCK_CLASS = 4918;

/**
 * Makes one person's new requests take turns, across every Latch process, until the caller's
 * transaction ends. Decisions that depend on what the person already has (how much access an
 * auto-approval would chain onto, how many requests are waiting) must see every earlier request
 * of theirs: without the lock, 48 forms submitted at once each see "nothing booked" and each pass.
 * Taken first in the transaction, before the audit lock, so the two are always taken in one order.
 */
export async function lockRequester(tx: SqlTransaction, requesterId: string): Promise<void> {
  // hashtext spreads ids over int4; a collision only makes two people's requests take turns.
  await tx.rows('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [REQUESTER_LOCK_CLASS, requesterId]);
}
