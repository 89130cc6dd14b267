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
   * withLock, with `read` run first under the lock, on the lock's own connection, and sent with
   * the lock's statement: one round trip for both where withLock and a read would take two. The
   * read runs once the lock is held, so it sees everything committed by whoever held it before.
   */
  withLockAndRead<R extends pg.QueryResultRow, T>(access: AccessKey, read: LockedRead, work: (rows: R[]) => Promise<T>): Promise<T>;
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

/** A statement to read under the lock (parameterised, as `pg` takes it). */
export interface LockedRead {
  text: string;
  values: unknown[];
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

const LOCK = 'SELECT pg_advisory_lock($1, hashtext($2))';
const UNLOCK = 'SELECT pg_advisory_unlock($1, hashtext($2)) AS released';

/** hashtext spreads keys over int4; a collision only makes two accesses take turns. */
function lockKey(access: AccessKey): string {
  return JSON.stringify(access.target !== undefined ? ['target', access.target, access.principal] : [access.resourceId, access.role, access.principal]);
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
      // Statements are sent without waiting for the one before to be answered (withLockAndRead).
      // Nothing here opens a transaction or a cursor across statements, so each is its own.
      pipeline: true,
    });
    // An idle connection that drops is replaced on the next checkout; say so instead of crashing.
    this.pool.on('error', () => undefined);
  }

  async withLock<T>(access: AccessKey, work: () => Promise<T>): Promise<T> {
    return this.withLockAndRead(access, null, () => work());
  }

  async withLockAndRead<R extends pg.QueryResultRow, T>(access: AccessKey, read: LockedRead | null, work: (rows: R[]) => Promise<T>): Promise<T> {
    const key = lockKey(access);
    const client = await this.pool.connect();
    let rows: R[];
    try {
      // Both statements go out together (the pool's connections pipeline). PostgreSQL runs them in
      // order, each in its own implicit transaction: the read starts, and takes its snapshot, only
      // once the lock statement has returned, i.e. once the lock is held. If taking the lock fails
      // (lock_timeout), the read still runs and its rows are dropped: nothing was done under it.
      const locked = client.query(LOCK, [ACCESS_LOCK_CLASS, key]);
      const reading = read ? client.query<R>(read.text, read.values) : null;
      // Whatever happens to the lock, the read's outcome is collected, never left unhandled.
      const readResult = reading?.then((result) => ({ ok: true as const, rows: result.rows }), (error: unknown) => ({ ok: false as const, error }));
      await locked;
      const outcome = await readResult;
      if (outcome && !outcome.ok) throw outcome.error;
      rows = outcome?.rows ?? [];
    } catch (error) {
      // The lock may be held (the read failed after it was taken): closing the connection releases it.
      client.release(true);
      throw error;
    }
    this.held.add(client);
    try {
      return await work(rows);
    } finally {
      this.letGo(client, key);
    }
  }

  /**
   * Releases the lock without making its holder wait for PostgreSQL's answer: the work under it is
   * done and committed, so the caller (a revocation's worker slot) is free at once, and whoever
   * waits for the lock gets it as soon as PostgreSQL runs the unlock, as before. The connection
   * goes back to the pool only once PostgreSQL has answered that the lock is released: a session's
   * advisory locks stack, so a connection reused before its unlock ran could take the same lock a
   * second time, and the one unlock would leave it held. Any other answer, or none, closes the
   * connection, which releases every lock it held. Until then it counts as held (close()).
   */
  private letGo(client: pg.PoolClient, key: string): void {
    client.query<{ released: boolean }>(UNLOCK, [ACCESS_LOCK_CLASS, key]).then(
      (result) => {
        this.held.delete(client);
        client.release(result.rows[0]?.released === true ? undefined : true);
      },
      () => {
        this.held.delete(client);
        client.release(true);
      },
    );
  }

  async close({ force = false }: { force?: boolean } = {}): Promise<void> {
    const ended = this.pool.end();
    if (!force) return ended;
    ended.catch(() => undefined);
    await Promise.all([...this.held].map((client) => (client as unknown as pg.Client).end().catch(() => undefined)));
  }
}
