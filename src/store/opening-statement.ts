import type { PreparedStatement } from './prepared-statement.ts';

/**
 * A transaction's first statement, sent in the same round trip as its BEGIN (inSqlTransaction,
 * transaction.ts): `BEGIN; <statement>` as one simple-protocol query. Issue 19: on a quiet 2-vCPU
 * machine each round trip a process sleeps on costs it about 0.4 ms of CPU, and the statement
 * that opens a hot path's transaction (a lock) needs nothing from the one before it.
 *
 * The simple protocol takes no parameters, so the values are written into the text: integers only,
 * each checked here, never text (anything that came from outside stays a bound parameter of the
 * statements after it). A key made from text is hashed to an integer first (postgres-hashtext.ts).
 */
export interface OpeningStatement {
  /** SQL with `$1`… placeholders for `values`, e.g. `SELECT pg_advisory_xact_lock($1::int, $2::int)`. */
  text: string;
  /** Safe integers (Number.isSafeInteger): written into the text as decimal literals. */
  values: readonly number[];
  /**
   * A statement with bound parameters that runs next, sent in the same write as BEGIN and this one
   * (sendPipelined, pipelined-statements.ts), not after their answer: a read that needs the lock
   * held, such as a slash command's risk history. Its values are parameters, never text in the
   * SQL; its rows are the ones the transaction's work is given.
   */
  followedBy?: { statement: string | PreparedStatement; values: readonly unknown[] };
}

/**
 * The statement with its values written in. Throws, before anything is sent, on a value that is
 * not a safe integer or a placeholder without its value: a programming error, not bad input.
 */
export function renderOpeningStatement(opening: OpeningStatement): string {
  for (const [index, value] of opening.values.entries()) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new Error(`an opening statement takes integers only: value $${index + 1} is not one`);
  }
  return opening.text.replace(/\$(\d+)/g, (_placeholder, digits: string) => {
    const value = opening.values[Number(digits) - 1];
    if (value === undefined) throw new Error(`an opening statement has no value for $${digits}`);
    // Parenthesised when negative: `-2147483648::int` would cast 2147483648 first, out of int4.
    return value < 0 ? `(${value})` : String(value);
  });
}
