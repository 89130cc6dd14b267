import type { Database } from './database.ts';
import type { Prisma } from './generated/client.ts';

/** The client inside an interactive transaction. */
export type Transaction = Prisma.TransactionClient;

/**
 * Runs `work` in one interactive transaction with explicit bounds. Work inside must be database
 * work only: no Slack calls, no outer-client queries (a timeout firing during COMMIT has crashed
 * processes, prisma/orm#29952).
 */
export function inTransaction<T>(db: Database, work: (tx: Transaction) => Promise<T>): Promise<T> {
  return db.$transaction(work, { maxWait: 5_000, timeout: 10_000 });
}
