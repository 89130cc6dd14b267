import type pg from 'pg';

/**
 * A statement that each pooled connection parses and plans once, then runs by name (node-postgres's
 * named statements: PostgreSQL's extended protocol `Parse` with a name, once per connection, then
 * only `Bind`/`Execute`).
 *
 * Why (issue 19): a statement sent with parameters but no name is parsed, analysed and planned by
 * PostgreSQL every time. Measured with pg_stat_statements over 1,000 decisions (BENCHMARKS.md),
 * planning was about 2.1 ms of the 5.8 ms of CPU PostgreSQL's backends spent per decision: the
 * request read that rebuilds a request's messages took 0.49 ms to plan and 0.18 ms to run. A
 * prepared statement is planned for its first five runs on a connection, then PostgreSQL keeps a
 * generic plan when it costs no more than those (plan_cache_mode auto): for these statements,
 * each keyed by an id, the same index scans. PostgreSQL re-plans a prepared statement by itself
 * when a migration changes a table it reads (runPrepared covers the one change it refuses).
 *
 * Only for hot statements whose text is fixed: a name stands for exactly one text, and using one
 * name for two texts is refused when the second is made (pg would refuse it only on the first
 * connection that ran both). A pooler in transaction mode in front of PostgreSQL must keep
 * prepared statements per server connection (PgBouncer 1.21+ with `max_prepared_statements`).
 */
export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
}

const texts = new Map<string, string>();

export function preparedStatement(name: string, text: string): PreparedStatement {
  const known = texts.get(name);
  if (known !== undefined && known !== text) throw new Error(`prepared statement ${name} is already defined with another text`);
  texts.set(name, text);
  return { name: `latch_${name}`, text };
}

/**
 * Runs a prepared statement on the pool, as its own transaction. Once more when PostgreSQL
 * refuses the plan it keeps for it because a migration changed the type of a column it returns
 * ("cached plan must not change result type", seen once per connection and statement after such
 * a migration while Latch runs): the refusal comes when the statement is bound, before anything
 * ran, and PostgreSQL takes the new type from the next run.
 */
export async function runPrepared<Row extends pg.QueryResultRow>(pool: pg.Pool, statement: PreparedStatement, values: unknown[], types?: pg.CustomTypesConfig): Promise<pg.QueryResult<Row>> {
  const query = { ...statement, values, ...(types ? { types } : {}) };
  try {
    return await pool.query<Row>(query);
  } catch (error) {
    if (!isChangedResultType(error)) throw error;
    return pool.query<Row>(query);
  }
}

function isChangedResultType(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === '0A000' && message === 'cached plan must not change result type';
}
