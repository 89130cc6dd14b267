import type { Database } from './database.ts';
import type { Transaction } from './transaction.ts';

/** A `latch login` row as Latch reads it: never a secret, only hashes. */
export interface CliLoginRow {
  id: string;
  deviceSecretHash: string;
  userCode: string;
  clientAddress: string;
  clientName: string;
  createdAt: Date;
  expiresAt: Date;
  slackUserId: string | null;
  confirmedAt: Date | null;
  refusedAt: Date | null;
  tokenSecretHash: string | null;
  tokenIssuedAt: Date | null;
  tokenExpiresAt: Date | null;
  revokedAt: Date | null;
}

export async function insertCliLogin(
  tx: Transaction,
  row: Pick<CliLoginRow, 'id' | 'deviceSecretHash' | 'userCode' | 'clientAddress' | 'clientName' | 'createdAt' | 'expiresAt'>,
): Promise<CliLoginRow> {
  return tx.cliLogin.create({ data: row });
}

export async function findCliLogin(db: Database | Transaction, id: string): Promise<CliLoginRow | null> {
  return db.cliLogin.findUnique({ where: { id } });
}

/**
 * The key of the advisory lock that makes login starts take turns, in PostgreSQL's one-bigint key
 * space beside the migration lock (4917320117, migrate.ts) and the audit chain's (4917320118,
 * migration 20261207120000); the two-int space of the access, requester and target locks is
 * apart from it.
 */
const LOGIN_STARTS_LOCK_KEY = 4_917_320_119n;

/**
 * Makes every process's login starts take turns until the transaction ends, so that counting the
 * waiting logins and inserting one are a single step: two starts at once would otherwise both see
 * room for one more. Taken in a statement of its own before the count, whose snapshot then sees
 * every start committed before the lock was granted. Held for a start's two statements and its
 * COMMIT: starts are few and short, and nothing else waits on it.
 */
export async function lockLoginStarts(tx: Transaction): Promise<void> {
  await tx.$queryRaw`SELECT 1 AS locked FROM pg_advisory_xact_lock(${LOGIN_STARTS_LOCK_KEY})`;
}

/** Logins not confirmed, refused or logged out, not expired: those waiting for a person. */
const waitingAt = (now: Date) => ({ expiresAt: { gt: now }, confirmedAt: null, refusedAt: null, revokedAt: null });

/**
 * How many logins wait for a person, counted up to `upTo` (no further: the caller only asks whether
 * the bound is reached). Cheap through cli_logins_expires_at_idx: only logins started in the last
 * LOGIN_PENDING_SECONDS are unexpired.
 */
export async function countWaitingCliLogins(tx: Transaction, now: Date, upTo: number): Promise<number> {
  return tx.cliLogin.count({ where: waitingAt(now), take: upTo });
}

/** When the first of the waiting logins lapses; null when none waits. */
export async function earliestWaitingCliLoginExpiry(tx: Transaction, now: Date): Promise<Date | null> {
  const first = await tx.cliLogin.findFirst({ where: waitingAt(now), orderBy: { expiresAt: 'asc' }, select: { expiresAt: true } });
  return first?.expiresAt ?? null;
}

/** The login a terminal polls for, by the hash of its device secret. */
export async function findCliLoginByDeviceSecret(db: Database | Transaction, deviceSecretHash: string): Promise<CliLoginRow | null> {
  return db.cliLogin.findUnique({ where: { deviceSecretHash } });
}

/** Logins with this code that still wait for a person, newest first (two at once is refused as ambiguous). */
export async function findWaitingCliLogins(db: Database | Transaction, userCode: string, now: Date): Promise<CliLoginRow[]> {
  return db.cliLogin.findMany({ where: { userCode, ...waitingAt(now) }, orderBy: { createdAt: 'desc' }, take: 2 });
}

/** The row, locked until the transaction ends, so that a confirmation and a collection never cross. */
export async function lockCliLogin(tx: Transaction, id: string): Promise<CliLoginRow | null> {
  const locked = await tx.$queryRaw<Array<{ id: string }>>`SELECT id FROM cli_logins WHERE id = ${id}::uuid FOR UPDATE`;
  return locked.length === 0 ? null : findCliLogin(tx, id);
}

export async function confirmCliLogin(tx: Transaction, id: string, slackUserId: string, at: Date): Promise<void> {
  await tx.cliLogin.update({ where: { id }, data: { slackUserId, confirmedAt: at } });
}

export async function refuseCliLogin(tx: Transaction, id: string, slackUserId: string, at: Date): Promise<void> {
  await tx.cliLogin.update({ where: { id }, data: { slackUserId, refusedAt: at } });
}

export async function recordCliLoginToken(tx: Transaction, id: string, token: { secretHash: string; issuedAt: Date; expiresAt: Date }): Promise<void> {
  await tx.cliLogin.update({ where: { id }, data: { tokenSecretHash: token.secretHash, tokenIssuedAt: token.issuedAt, tokenExpiresAt: token.expiresAt } });
}

/** Revokes a login not revoked yet; whether this call revoked it. */
export async function revokeCliLogin(tx: Transaction, id: string, at: Date): Promise<boolean> {
  const { count } = await tx.cliLogin.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
  return count === 1;
}

/** Logins whose token was collected and has not expired (revoked ones included), newest first: for `latch token list`. */
export async function listCollectedCliLogins(db: Database | Transaction, now: Date): Promise<CliLoginRow[]> {
  return db.cliLogin.findMany({ where: { tokenExpiresAt: { gt: now } }, orderBy: { createdAt: 'desc' } });
}

/**
 * Deletes up to `limit` logins nothing could use since before `cutoff` (isLapsedCliLogin, in SQL):
 * waits that lapsed before it, unless a token was issued that expired after it. Returns how many.
 * Found through cli_logins_expires_at_idx (a token is issued during the wait, so it expires after
 * the wait lapses), oldest first; a row a poll or a decision holds just now is skipped, not waited
 * for, and the next run takes it.
 */
export async function deleteLapsedCliLogins(tx: Transaction, cutoff: Date, limit: number): Promise<number> {
  return tx.$executeRaw`
    DELETE FROM cli_logins WHERE id IN (
      SELECT id FROM cli_logins
      WHERE expires_at < ${cutoff}::timestamptz AND (token_issued_at IS NULL OR token_expires_at < ${cutoff}::timestamptz)
      ORDER BY expires_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )`;
}
