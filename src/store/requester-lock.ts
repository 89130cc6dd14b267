import type { OpeningStatement } from './opening-statement.ts';
import { postgresHashtext } from './postgres-hashtext.ts';

/**
 * The advisory-lock class of per-requester locks, in PostgreSQL's two-int key space beside the
 * access locks' class (4917); the audit lock uses the one-bigint space.
 */
const REQUESTER_LOCK_CLASS = 4918;

/**
 * Makes one person's new requests take turns, across every Latch process, until the caller's
 * transaction ends: the opening statement of that transaction (inSqlTransaction), so the lock is
 * taken in the same round trip as BEGIN. Decisions that depend on what the person already has (how
 * much access an auto-approval would chain onto, how many requests are waiting) must see every
 * earlier request of theirs: without the lock, 48 forms submitted at once each see "nothing
 * booked" and each pass. Taken first in the transaction, before the audit lock, so the two are
 * always taken in one order, and in a statement before any that reads their requests (a
 * statement's snapshot is taken as it starts, so one that waited for the lock would not see what
 * the holder committed). The key is an integer computed here: nothing the person typed is written
 * into SQL.
 */
export function lockingRequester(requesterId: string): OpeningStatement {
  return { text: 'SELECT pg_advisory_xact_lock($1::int, $2::int)', values: [REQUESTER_LOCK_CLASS, requesterLockKey(requesterId)] };
}

/**
 * The lock's key: what `hashtext(requester id)` gives, the key every Latch before this one locked
 * with, so processes of both versions take turns during a rolling deploy. A collision only makes
 * two people's requests take turns.
 */
function requesterLockKey(requesterId: string): number {
  return postgresHashtext(requesterId);
}
