import pg from 'pg';

/**
 * Serialises every grant and revoke of one piece of access (a resource, role and principal)
 * across all Latch processes, for the whole provider call. Without it, revoking an expired grant
 * while an overlapping grant of the same role is being made could end access the second grant
 * still covers: the revoke's "is anyone else covering this?" check and its provider call must not
 * interleave with another grant's call.
 *
 * The lock is a session-level PostgreSQL advisory lock on a connection of its own (not Prisma's
 * pool, where session locks are unsafe), held while the caller's work runs, including the
 * provider call. Prisma transactions stay short and happen inside it. If the process dies, the
 * connection closes and PostgreSQL releases the lock.
 */
export interface AccessLocks {
  withLock<T>(access: AccessKey, work: () => Promise<T>): Promise<T>;
  /**
   * Waits for the locks held to be released, then closes. With `force`, does not wait: the
   * connections of locks still held are closed, which releases them in PostgreSQL (shutdown, once
   * the work holding them has been let go).
   */
  close(options?: { force?: boolean }): Promise<void>;
}

export interface AccessKey {
  resourceId: string;
  role: string;
  principal: string;
  /**
   * What the access is in the target when its provider names it (a Slack user group): then the
   * lock is the target's and the principal's, shared by every resource and role that gives it.
   */
  target?: string;
}

/** The two-int advisory-lock key space is separate from the one-bigint space the audit lock uses. */
const ACCESS_LOCK_CLASS = 4917;

export interface AccessLockOptions {
  databaseUrl: string;
  /** Concurrent locks held (one connection each); match the grant and revoke workers' concurrency. */
  poolSize?: number;
  /** How long to wait for a lock another process holds before giving up (and retrying later). */
  waitMs?: number;
}

export class PostgresAccessLocks implements AccessLocks {
  private readonly pool: pg.Pool;
  private readonly held = new Set<pg.PoolClient>();

  constructor({ databaseUrl, poolSize = 10, waitMs = 60_000 }: AccessLockOptions) {
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: poolSize,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      application_name: 'latch-access-lock',
      // A startup parameter of each connection, rather than a SET round trip before every lock.
      lock_timeout: Math.max(1, Math.floor(waitMs)),
    });
    // An idle connection that drops is replaced on the next checkout; say so instead of crashing.
    this.pool.on('error', () => undefined);
  }

  async withLock<T>(access: AccessKey, work: () => Promise<T>): Promise<T> {
    // hashtext spreads keys over int4; a collision only makes two accesses take turns.
    const key = JSON.stringify(access.target !== undefined ? ['target', access.target, access.principal] : [access.resourceId, access.role, access.principal]);
    const client = await this.pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [ACCESS_LOCK_CLASS, key]);
    } catch (error) {
      client.release(true);
      throw error;
    }
    this.held.add(client);
    try {
      return await work();
    } finally {
      this.held.delete(client);
      try {
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [ACCESS_LOCK_CLASS, key]);
        client.release();
      } catch {
        // The lock's state is unknown: close the connection, which releases it.
        client.release(true);
      }
    }
  }

  async close({ force = false }: { force?: boolean } = {}): Promise<void> {
    const ended = this.pool.end();
    if (!force) return ended;
    ended.catch(() => undefined);
    await Promise.all([...this.held].map((client) => (client as unknown as pg.Client).end().catch(() => undefined)));
  }
}
