import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.ts';

export type Database = InstanceType<typeof PrismaClient>;

export interface DatabaseOptions {
  databaseUrl: string;
  /** Connections in the pool; pg's default is 10. */
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

/** The Prisma client on `pg`, with a bounded wait for a connection (CONNECTION_WAIT_MS). */
export function createDatabase({ databaseUrl, poolSize = 10 }: DatabaseOptions): Database {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: CONNECTION_WAIT_MS,
    idleTimeoutMillis: 30_000,
    application_name: 'latch',
  });
  return new PrismaClient({ adapter });
}
