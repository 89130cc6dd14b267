import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.ts';

export type Database = InstanceType<typeof PrismaClient>;

export interface DatabaseOptions {
  databaseUrl: string;
  /** Connections in the pool; pg's default is 10. */
  poolSize?: number;
}

/**
 * The Prisma client on `pg`. pg waits forever for a free connection by default; a bounded wait
 * turns an exhausted pool into an error someone can see instead of a hang.
 */
export function createDatabase({ databaseUrl, poolSize = 10 }: DatabaseOptions): Database {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'latch',
  });
  return new PrismaClient({ adapter });
}
