import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/client.ts';

/**
 * PostgreSQL, as the store reaches it: the Prisma client, and the `pg` pool under it (`pool`) for
 * the hot paths written in plain SQL (a statement through the pool costs a fraction of the CPU of
 * the same statement through Prisma's runtime). Both share the one pool, so its bound holds for all.
 */
export type Database = InstanceType<typeof PrismaClient> & { readonly pool: pg.Pool };

/** Connections in a process's pool unless told otherwise: pg's own default. */
export const DEFAULT_POOL_SIZE = 10;

export interface DatabaseOptions {
  databaseUrl: string;
  /** Connections in the pool; DEFAULT_POOL_SIZE unless told. */
  poolSize?: number;
}

/**
 * How long a query waits for a free connection (or for a new one to connect). pg waits forever by
 * default; a bound turns a PostgreSQL that never answers into an error someone can see instead of
 * a hang. It is long because being merely busy must not fail work already taken on: Slack
 * listeners ack before they touch PostgreSQL, so a connection timeout there loses a request the
 * person was told was taken. The admission gate (src/slack/admission-gate.ts) bounds how much
 * listener work waits here, so the queue drains in seconds and 30 s is reached only when
 * PostgreSQL itself is stuck. A PostgreSQL that refuses connections fails at once, and readiness
 * (GET /readyz) answers within its own 2 s whatever this is; jobs that wait here are retried.
 */
export const CONNECTION_WAIT_MS = 30_000;

/** How long a transaction may sit idle between its statements before PostgreSQL ends it. */
export const TRANSACTION_IDLE_LIMIT_MS = 10_000;

/**
 * The Prisma client on a `pg` pool with a bounded wait for a connection (CONNECTION_WAIT_MS).
 * `$disconnect` also ends the pool.
 *
 * The Prisma client is made on first use, not here: a process whose work all runs in plain SQL on
 * `pool` (`latch web` on its hot paths, its start-up and readiness checks) never builds Prisma's
 * runtime data model nor instantiates its WASM query compiler, which together cost about 40 MiB of
 * resident memory (measured: client construction 8 MiB, the first query 31 MiB).
 *
 * `errorFormat: 'minimal'`: any other format makes Prisma capture a stack trace (`new Error()`)
 * at every query, for the code frame it prints with an error; that cost about a quarter of a
 * millisecond of CPU per query, on every query, to decorate the rare one that fails. Errors keep
 * their message and code; pino logs their stack.
 */
export function createDatabase({ databaseUrl, poolSize = DEFAULT_POOL_SIZE }: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: CONNECTION_WAIT_MS,
    idleTimeoutMillis: 30_000,
    application_name: 'latch',
    // A transaction left idle (its process stuck between statements) is ended by PostgreSQL, which
    // releases its locks; Prisma's interactive transactions time out after as long (transaction.ts).
    // A startup parameter of each connection: no round trip per transaction.
    idle_in_transaction_session_timeout: TRANSACTION_IDLE_LIMIT_MS,
    // No pipelining (node-postgres's `pipeline: true`, which let inSqlTransaction send BEGIN with
    // its first statement and COMMIT behind the audit append): with it on, revocations fell behind
    // their due times (the bench's 20,000 grants due at 500/s: p50 2.1 s / p99 3.2 s late against
    // p50 8 ms / p99 161 ms with it off; p50 49 s at 100,000), a missed revocation being the worst
    // thing Latch can do. Every caller awaits each statement before sending the next, so pg never
    // queues one behind another on a connection (it warns when it does).
  });
  // An idle connection that PostgreSQL closed (a restart, a failover, a terminated backend) is
  // dropped by the pool, which opens another when one is next needed; the next query that fails
  // reports the outage. Without a listener, Node throws the pool's 'error' event and the process
  // ends: Prisma's listener exists only while it is connected, and the plain-SQL paths use the pool
  // before Prisma connects and after it disconnects.
  pool.on('error', () => undefined);
  let client: PrismaClient | undefined;
  const prisma = () => (client ??= new PrismaClient({ adapter: new PrismaPg(pool), errorFormat: 'minimal' }));
  const own = {
    pool,
    $disconnect: async () => {
      if (client) await client.$disconnect();
      if (!pool.ended) await pool.end();
    },
  };
  return new Proxy(own, {
    get(target, key) {
      if (Object.hasOwn(target, key)) return Reflect.get(target, key);
      const value: unknown = Reflect.get(prisma(), key);
      // Methods keep the client as `this` (Prisma's `$transaction`, `$queryRaw` read it).
      return typeof value === 'function' ? value.bind(client) : value;
    },
  }) as unknown as Database;
}
