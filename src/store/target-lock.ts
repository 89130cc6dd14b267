import pg from 'pg';
import { TargetLockUnavailable, type TargetLocks } from '../providers/target-lock.ts';

/**
 * TargetLocks on PostgreSQL: a transaction-level advisory lock (`pg_advisory_xact_lock`) taken in
 * a transaction of its own, on a connection of its own, which stays open while the provider works.
 *
 * Why this shape:
 * - The lock must be held across the provider's calls to the target (a Slack read, write and
 *   read-back), so it cannot live in one of Prisma's short transactions, and a session-level lock
 *   through Prisma's pool is unsafe (PITFALLS.md). Here the connection comes from a small pool of
 *   its own: Prisma's pool, which serves Slack's requests, never waits behind a slow Slack call.
 * - Transaction-level rather than session-level: COMMIT or ROLLBACK releases it, and so does the
 *   connection closing (the process died), so no path can forget an unlock and return a
 *   connection to the pool still holding it. The transaction does nothing else: it holds no row
 *   lock, writes nothing, and keeps no snapshot that matters.
 * - A bounded wait (`lock_timeout`, and the pool's connection timeout): a holder that is stuck
 *   makes others fail with TargetLockUnavailable, a transient failure their job retries, instead
 *   of blocking revocations forever.
 * - A bounded hold (`idle_in_transaction_session_timeout`): a holder whose process hangs (frozen,
 *   cut off from PostgreSQL) loses the lock after `holdLimitMs`, longer than the provider's own
 *   calls can take (each has a timeout). If that ever happens to a live holder, COMMIT fails and
 *   withLock rejects with TargetLockUnavailable, so the change is retried and verified again
 *   rather than reported done while the lock was not held.
 */
export interface TargetLockOptions {
  databaseUrl: string;
  /** Locks held or waited for at once in this process (one connection each). */
  poolSize?: number;
  /** How long to wait for the lock (and for a connection) before giving up. */
  waitMs?: number;
  /** How long one holder may keep the lock before PostgreSQL ends its session. */
  holdLimitMs?: number;
}

/** The two-int advisory-lock key space of target locks, apart from the access locks' (4917). */
const TARGET_LOCK_CLASS = 4918;

export const TARGET_LOCK_WAIT_MS = 30_000;
export const TARGET_LOCK_HOLD_LIMIT_MS = 120_000;

export class PostgresTargetLocks implements TargetLocks {
  private readonly pool: pg.Pool;
  private readonly held = new Set<pg.PoolClient>();

  constructor({ databaseUrl, poolSize = 10, waitMs = TARGET_LOCK_WAIT_MS, holdLimitMs = TARGET_LOCK_HOLD_LIMIT_MS }: TargetLockOptions) {
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: poolSize,
      connectionTimeoutMillis: waitMs,
      idleTimeoutMillis: 30_000,
      application_name: 'latch-target-lock',
      // Startup parameters of each connection, rather than SET round trips before every lock.
      lock_timeout: Math.max(1, Math.floor(waitMs)),
      idle_in_transaction_session_timeout: Math.max(1, Math.floor(holdLimitMs)),
    });
    // An idle connection that drops is replaced on the next checkout.
    this.pool.on('error', () => undefined);
  }

  async withLock<T>(key: string, work: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw new TargetLockUnavailable(key, reasonOf(error));
    });
    // A held connection that PostgreSQL ends (the hold limit) emits 'error': noted by COMMIT failing.
    const ignore = () => undefined;
    client.on('error', ignore);
    try {
      await client.query('BEGIN');
      // hashtext spreads keys over int4; a collision only makes two targets take turns.
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [TARGET_LOCK_CLASS, key]);
    } catch (error) {
      client.off('error', ignore);
      client.release(true);
      throw new TargetLockUnavailable(key, reasonOf(error));
    }
    this.held.add(client);
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await work() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    this.held.delete(client);
    try {
      await client.query('COMMIT');
      client.off('error', ignore);
      client.release();
    } catch (error) {
      client.off('error', ignore);
      client.release(true);
      if (outcome.ok) throw new TargetLockUnavailable(key, `the lock was lost while it was held (${reasonOf(error)})`);
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /**
   * Closes the pool. With `force`, the connections of locks still held are ended too, which
   * releases them in PostgreSQL (shutdown, once the work holding them has been let go).
   */
  async close({ force = false }: { force?: boolean } = {}): Promise<void> {
    const ended = this.pool.end();
    if (!force) return ended;
    ended.catch(() => undefined);
    await Promise.all([...this.held].map((client) => (client as unknown as pg.Client).end().catch(() => undefined)));
  }
}

/** Why taking the lock failed, in one line without the URL: PostgreSQL's code and message. */
function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === '55P03') return 'another holder kept it past the wait (lock_timeout)';
  const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  return typeof code === 'string' ? `${code} ${message}` : message;
}
