import { inTransactionSpan } from '../observability/transaction-span.ts';
import { startRecordingAuditEvents, writeRecordedAuditEvents } from './audit-log.ts';
import { CONNECTION_WAIT_MS, type Database } from './database.ts';
import type { Prisma } from './generated/client.ts';

/** The client inside an interactive transaction. */
export type Transaction = Prisma.TransactionClient;

/**
 * Runs `work` in one interactive transaction with explicit bounds. Work inside must be database
 * work only: no Slack calls, no outer-client queries (a timeout firing during COMMIT has crashed
 * processes, prisma/orm#29952). The audit events the work recorded are written after it, as the
 * transaction's last statement, so the audit chain's lock is held only from there to COMMIT
 * (src/store/audit-log.ts).
 *
 * `maxWait` (waiting to start, i.e. for a connection) matches the pool's CONNECTION_WAIT_MS: a
 * transaction that was merely queued behind others must wait its turn, not fail after its Slack
 * request was acked; the admission gate bounds that queue. `timeout` (running) stays short: a
 * transaction holding a connection that long is stuck, not busy.
 */
export function inTransaction<T>(db: Database, work: (tx: Transaction) => Promise<T>): Promise<T> {
  return inTransactionSpan(() =>
    db.$transaction(
      async (tx) => {
        startRecordingAuditEvents(tx);
        const result = await work(tx);
        await writeRecordedAuditEvents(tx);
        return result;
      },
      { maxWait: CONNECTION_WAIT_MS, timeout: 10_000 },
    ),
  );
}
