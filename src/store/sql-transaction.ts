import type pg from 'pg';
import { sendPipelined } from './pipelined-statements.ts';
import type { PreparedStatement } from './prepared-statement.ts';
import { MODEL_TYPES } from './table-columns.ts';
import type { Transaction } from './transaction.ts';

/**
 * A transaction on one pooled `pg` connection, opened by inSqlTransaction (transaction.ts): the
 * hot paths' transactions (a slash command, a decision, a grant, a revocation) in plain SQL. A
 * statement here is one round trip through pg, a fraction of the CPU of Prisma's interactive
 * transaction, which runs each statement, BEGIN and COMMIT through its query engine and keeps a
 * transaction registry and timers besides.
 *
 * Rows are parsed as the generated models read them (MODEL_TYPES: an int8 is a bigint), so a row
 * selected with the columns of table-columns.ts has its model's type.
 */
export class SqlTransaction {
  private running = false;
  private ended = false;

  constructor(private readonly client: pg.PoolClient) {}

  /** COMMIT was sent by rowsThenCommit: nothing more may run in it, and inSqlTransaction sends no COMMIT. */
  get committed(): boolean {
    return this.ended;
  }

  /**
   * Runs one statement (`$1`… parameters) and gives back its rows, typed by the caller. One at a
   * time: a statement sent while another is running is refused at once, as a programming error,
   * rather than queued by pg (which warns) or pipelined (which made revocations late: database.ts).
   * A PreparedStatement is parsed once per connection and then run by its name (prepared-statement.ts).
   */
  async rows<Row>(statement: string | PreparedStatement, values: readonly unknown[] = []): Promise<Row[]> {
    this.refuseUnlessIdle();
    this.running = true;
    try {
      const result = await this.client.query<Row & pg.QueryResultRow>(queryOf(statement, values));
      return result.rows;
    } finally {
      this.running = false;
    }
  }

  /**
   * Runs the transaction's last statement and commits, COMMIT sent behind the statement in the
   * same write (sendPipelined): one round trip instead of two. Only for a statement that is the
   * transaction's one change, or whose every outcome may be committed (a statement that changed
   * nothing commits nothing): COMMIT goes whatever the statement returns. If the statement fails,
   * PostgreSQL answers COMMIT with a rollback and the statement's failure is thrown; if COMMIT
   * fails (the audit chain's trigger runs there), that is thrown. Either way nothing was committed.
   */
  async rowsThenCommit<Row>(statement: string | PreparedStatement, values: readonly unknown[] = []): Promise<Row[]> {
    this.refuseUnlessIdle();
    this.running = true;
    this.ended = true;
    try {
      const [result, committed] = await sendPipelined(this.client, [queryOf(statement, values), { text: 'COMMIT' }]);
      if (committed?.command !== 'COMMIT') throw new Error(`the transaction was rolled back (${committed?.command}) after a statement in it failed`);
      return (result?.rows ?? []) as Row[];
    } finally {
      this.running = false;
    }
  }

  private refuseUnlessIdle(): void {
    if (this.running) throw new Error('a statement was sent while another in the same transaction was still running: await each one');
    if (this.ended) throw new Error('a statement was sent after the transaction committed');
  }
}

/** What pg sends for a statement with its values, its rows parsed as the models read them. */
export function queryOf(statement: string | PreparedStatement, values: readonly unknown[]): pg.QueryConfig {
  const named = typeof statement === 'string' ? { text: statement } : { name: statement.name, text: statement.text };
  return { ...named, values: values as unknown[], types: MODEL_TYPES };
}

/** Either kind of transaction: the hot paths' (SqlTransaction) or a cold path's (Prisma's). */
export type AnyTransaction = SqlTransaction | Transaction;

/**
 * One statement in either kind of transaction, for the store's helpers that both hot and cold use
 * cases call (the request's row lock, the audit append). The statement casts its own parameters,
 * so it reads alike through pg and through Prisma's raw queries.
 */
export function rowsIn<Row>(tx: AnyTransaction, text: string, values: readonly unknown[]): Promise<Row[]> {
  return tx instanceof SqlTransaction ? tx.rows<Row>(text, values) : tx.$queryRawUnsafe<Row[]>(text, ...values);
}

/** A statement whose result is not read (Prisma's raw queries cannot read a `void` column). */
export async function executeIn(tx: AnyTransaction, text: string, values: readonly unknown[]): Promise<void> {
  if (tx instanceof SqlTransaction) await tx.rows(text, values);
  else await tx.$executeRawUnsafe(text, ...values);
}
