import { inTransactionSpan } from '../observability/transaction-span.ts';
import { startRecordingAuditEvents, takeRecordedAuditEvents, writeRecordedAuditEvents } from './audit-log.ts';
import { CONNECTION_WAIT_MS, type Database } from './database.ts';
import type { Prisma } from './generated/client.ts';
import { renderOpeningStatement, type OpeningStatement } from './opening-statement.ts';
import { sendPipelined } from './pipelined-statements.ts';
import { MODEL_TYPES } from './table-columns.ts';
import { queryOf, SqlTransaction } from './sql-transaction.ts';

/** The client inside one of Prisma's interactive transactions (the cold paths: sweeps, admin commands). */
export type Transaction = Prisma.TransactionClient;

/**
 * Runs `work` in one transaction on one pooled `pg` connection (BEGIN … COMMIT): the hot paths'
 * transactions, a slash command's, a decision's, a grant's and a revocation's. The audit events
 * the work recorded are written after it, as the transaction's last statement, and chained into
 * the audit trail at COMMIT, where the chain's lock is taken (src/store/audit-log.ts). Any failure
 * rolls back.
 *
 * Each statement is sent once the one before has answered (the pool does not pipeline:
 * database.ts says why). A COMMIT that PostgreSQL answers with ROLLBACK (a statement failed and
 * the work carried on) is reported as a failure.
 *
 * With `opening`, the transaction's first statement (a lock, keyed by integers Latch computed) is
 * sent with BEGIN, in the same round trip (opening-statement.ts), and its rows are given to the
 * work; if it fails, nothing runs and the transaction is rolled back like any other failure. An
 * opening `followedBy` a statement with parameters sends that one in the same write too, and the
 * work is given its rows instead. A work whose last statement carried COMMIT (rowsThenCommit)
 * is not committed again.
 *
 * Work inside must be database work only: no Slack calls, no other connection's queries. Waiting
 * for a connection is bounded by the pool (CONNECTION_WAIT_MS); a transaction left idle, its
 * process stuck, is ended by PostgreSQL (the pool's idle_in_transaction_session_timeout,
 * database.ts), which releases its locks.
 */
export function inSqlTransaction<T, Row = Record<string, unknown>>(
  db: Database,
  work: (tx: SqlTransaction, opened: Row[]) => Promise<T>,
  opening?: OpeningStatement,
): Promise<T> {
  return inTransactionSpan(async () => {
    // Rendered before a connection is taken: a value that is not an integer sends nothing.
    const openingText = opening ? renderOpeningStatement(opening) : null;
    const client = await db.pool.connect();
    const tx = new SqlTransaction(client);
    let result: T;
    try {
      let opened: Row[] = [];
      if (openingText === null) await client.query('BEGIN');
      else if (opening?.followedBy) {
        // BEGIN and the opening as one simple-protocol query, the statement after them pipelined
        // behind it: one write, and PostgreSQL runs it once the opening's lock is granted.
        const [, next] = await sendPipelined(client, [
          { text: `BEGIN; ${openingText}`, types: MODEL_TYPES },
          queryOf(opening.followedBy.statement, opening.followedBy.values),
        ]);
        opened = (next?.rows ?? []) as Row[];
      } else {
        // One simple-protocol query, two statements: pg gives back a result for each.
        const results = (await client.query({ text: `BEGIN; ${openingText}`, types: MODEL_TYPES })) as unknown as Array<{ rows: Row[] }>;
        opened = results[results.length - 1]?.rows ?? [];
      }
      startRecordingAuditEvents(tx);
      result = await work(tx, opened);
      const append = takeRecordedAuditEvents(tx);
      if (tx.committed) {
        // The work's last statement carried COMMIT (rowsThenCommit): events recorded after it were never written.
        if (append) throw new Error('audit events were recorded after the transaction committed');
      } else {
        if (append) await tx.rows(append.text, append.values);
        const committed = await client.query('COMMIT');
        // A statement failed and the work carried on: PostgreSQL answers COMMIT with a ROLLBACK.
        if (committed.command !== 'COMMIT') throw new Error(`the transaction was rolled back (${committed.command}) after a statement in it failed`);
      }
    } catch (error) {
      // A connection whose ROLLBACK fails is in an unknown state: destroyed, not pooled again.
      const broken = await client.query('ROLLBACK').then(
        () => undefined,
        (rollbackError: unknown) => (rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))),
      );
      client.release(broken);
      throw error;
    }
    client.release();
    return result;
  });
}

/**
 * Runs `work` in one of Prisma's interactive transactions with explicit bounds, for the cold
 * paths written with Prisma's models. Work inside must be database work only: no Slack calls, no
 * outer-client queries (a timeout firing during COMMIT has crashed processes, prisma/orm#29952).
 * The audit events the work recorded are written as its last statement, as inSqlTransaction does.
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
