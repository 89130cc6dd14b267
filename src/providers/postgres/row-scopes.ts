import pg from 'pg';
import { SCOPES_SCHEMA, TABLE_SCOPE } from './scopes-schema.ts';
import { tableExpiryInstallLines } from './table-grants.ts';

/**
 * Row-level scopes on a PostgreSQL target (issue 17): a login Latch grants a role to sees only the
 * rows of the scope values it was granted (customer 4711), through row-level security that the
 * database itself enforces.
 *
 * How it holds:
 * - Latch writes one row per granted value in `latch_scopes.grants` (login, scope, value,
 *   request, expiry); nothing else can write there, and the logins it scopes cannot even read it.
 * - Each scoped table gets a RESTRICTIVE policy for everyone: a session whose login has scope rows
 *   sees only rows whose column value it was granted, unexpired. Sessions of other logins (the
 *   application's own role) are untouched, at the cost of one lookup per query.
 * - The predicate is keyed on `session_user`, which `SET ROLE` and `RESET ROLE` do not change
 *   (`current_user` does), and compares the expiry with `clock_timestamp()`: once the time is up the
 *   database stops honouring the scope by itself, in sessions already open, even if no Latch
 *   process runs. A login whose scope rows are all expired still counts as scoped: it sees nothing.
 * - The functions run as their owner (SECURITY DEFINER, with a fixed search_path, so no caller's
 *   objects can stand in for pg_catalog's) and only read the grants table.
 * - Values travel as bound parameters, never as SQL text; identifiers in the install script are
 *   quoted with pg.escapeIdentifier after a strict shape check.
 */

export { SCOPES_SCHEMA, TABLE_SCOPE };

/** One table column a scope limits: `public.orders.customer_id` for the scope `customer`. */
export interface ScopedColumn {
  scope: string;
  /** `schema.table` or `table` (then `public`). */
  table: string;
  column: string;
}

const NAME = /^[a-z_][a-z0-9_$]{0,62}$/;
const SCOPE_NAME = /^[a-z][a-z0-9_-]{0,39}$/;

/** Why `scope` cannot name a scope parameter, or null. */
export function scopeNameProblem(scope: string): string | null {
  return SCOPE_NAME.test(scope) ? null : `scope "${scope}" must be lower-case letters, digits, - or _ (at most 40), starting with a letter`;
}

/** Why a scoped column is not one Latch will write SQL for, or null. */
export function scopedColumnProblem(column: ScopedColumn): string | null {
  const scopeProblem = scopeNameProblem(column.scope);
  if (scopeProblem) return scopeProblem;
  const parts = column.table.split('.');
  if (parts.length > 2 || !parts.every((part) => NAME.test(part))) return `table "${column.table}" must be [schema.]table in lower case (letters, digits, _)`;
  if (!NAME.test(column.column)) return `column "${column.column}" must be a lower-case column name (letters, digits, _)`;
  return null;
}

function qualified(table: string): string {
  const [schema, name] = table.includes('.') ? table.split('.') : ['public', table];
  return `${pg.escapeIdentifier(schema!)}.${pg.escapeIdentifier(name!)}`;
}

/** The policy's name on a table: one per scope and column, so installing twice replaces it. */
function policyName(column: ScopedColumn): string {
  return `latch_scope_${column.scope.replaceAll('-', '_')}_${column.column}`.slice(0, 63);
}

/**
 * The SQL a DBA applies once (as the tables' owner or a superuser), and again after adding a
 * scoped column: the grants table, the two functions, and per table RLS with Latch's policy.
 * Idempotent. A table that had no row-level security yet also gets a permissive policy open to
 * everyone, so enabling RLS takes nothing from the roles that read it today; one that already
 * had RLS keeps its own policies, which Latch's restrictive one narrows for scoped logins only.
 */
export function rowScopesInstallSql(input: { grantor: string; columns: readonly ScopedColumn[]; tables?: readonly string[] }): string {
  for (const column of input.columns) {
    const problem = scopedColumnProblem(column);
    if (problem) throw new Error(problem);
  }
  const schema = pg.escapeIdentifier(SCOPES_SCHEMA);
  const grantor = pg.escapeIdentifier(input.grantor);
  const lines = [
    '-- Latch row-level scopes: applied by a DBA as the tables\' owner (or a superuser). Idempotent.',
    'BEGIN;',
    `CREATE SCHEMA IF NOT EXISTS ${schema};`,
    `REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC;`,
    // Every querying role evaluates the policy, so it may look up the functions, and nothing else.
    `GRANT USAGE ON SCHEMA ${schema} TO PUBLIC;`,
    `CREATE TABLE IF NOT EXISTS ${schema}.grants (`,
    '  login name NOT NULL,',
    '  scope text NOT NULL,',
    '  value text NOT NULL,',
    '  request_id uuid NOT NULL,',
    '  expires_at timestamptz NOT NULL,',
    '  PRIMARY KEY (login, scope, value, request_id)',
    ');',
    `REVOKE ALL ON ${schema}.grants FROM PUBLIC;`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${schema}.grants TO ${grantor};`,
    `CREATE OR REPLACE FUNCTION ${schema}.scoped() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER`,
    '  SET search_path = pg_catalog, pg_temp',
    `  AS $$ SELECT EXISTS (SELECT 1 FROM ${schema}.grants WHERE login = session_user AND scope <> ${pg.escapeLiteral(TABLE_SCOPE)}) $$;`,
    `CREATE OR REPLACE FUNCTION ${schema}.allows(p_scope text, p_value text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER`,
    '  SET search_path = pg_catalog, pg_temp',
    `  AS $$ SELECT EXISTS (SELECT 1 FROM ${schema}.grants WHERE login = session_user AND scope = p_scope AND value = p_value AND expires_at > clock_timestamp()) $$;`,
    // A table grant's table: open unless the login holds table rows for it, and then only while one is unexpired.
    `CREATE OR REPLACE FUNCTION ${schema}.table_allows(p_table text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER`,
    '  SET search_path = pg_catalog, pg_temp',
    `  AS $$ SELECT NOT EXISTS (SELECT 1 FROM ${schema}.grants WHERE login = session_user AND scope = ${pg.escapeLiteral(TABLE_SCOPE)} AND value = p_table)`,
    `        OR EXISTS (SELECT 1 FROM ${schema}.grants WHERE login = session_user AND scope = ${pg.escapeLiteral(TABLE_SCOPE)} AND value = p_table AND expires_at > clock_timestamp()) $$;`,
    `REVOKE ALL ON FUNCTION ${schema}.scoped(), ${schema}.allows(text, text), ${schema}.table_allows(text) FROM PUBLIC;`,
    `GRANT EXECUTE ON FUNCTION ${schema}.scoped(), ${schema}.allows(text, text), ${schema}.table_allows(text) TO PUBLIC;`,
  ];
  for (const column of input.columns) {
    const table = qualified(column.table);
    // `(SELECT scoped())` is computed once per query (an InitPlan), not per row, so the tables'
    // usual readers pay one lookup; CASE guarantees allows() runs only for scoped sessions.
    const predicate = `CASE WHEN (SELECT ${schema}.scoped()) THEN ${schema}.allows(${pg.escapeLiteral(column.scope)}, ${pg.escapeIdentifier(column.column)}::text) ELSE true END`;
    const [schemaName, tableName] = column.table.includes('.') ? column.table.split('.') : ['public', column.table];
    lines.push(
      `-- ${column.table}.${column.column}: scope "${column.scope}"`,
      'DO $latch$ BEGIN',
      `  IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = ${pg.escapeLiteral(`${schemaName}.${tableName}`)}::regclass) THEN`,
      `    ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;`,
      `    CREATE POLICY latch_scope_open ON ${table} AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true);`,
      '  END IF;',
      'END $latch$;',
      `DROP POLICY IF EXISTS ${pg.escapeIdentifier(policyName(column))} ON ${table};`,
      `CREATE POLICY ${pg.escapeIdentifier(policyName(column))} ON ${table} AS RESTRICTIVE FOR ALL TO PUBLIC`,
      `  USING (${predicate})`,
      `  WITH CHECK (${predicate});`,
    );
  }
  lines.push(...tableExpiryInstallLines(input.tables ?? []), 'COMMIT;');
  return `${lines.join('\n')}\n`;
}

/** What a scope grant writes: the values of each scope, for one login and one request, until `expiresAt`. */
export interface ScopeGrant {
  login: string;
  requestId: string;
  expiresAt: Date;
  values: Readonly<Record<string, readonly string[]>>;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Writes the scope rows of a grant (idempotent: a retried grant writes the same rows). */
export async function writeScopeRows(client: Queryable, grant: ScopeGrant): Promise<void> {
  const rows = Object.entries(grant.values).flatMap(([scope, values]) => values.map((value) => [scope, value] as const));
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO ${pg.escapeIdentifier(SCOPES_SCHEMA)}.grants (login, scope, value, request_id, expires_at)
     SELECT $1, scope, value, $2::uuid, $3 FROM unnest($4::text[], $5::text[]) AS t(scope, value)
     ON CONFLICT (login, scope, value, request_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
    [grant.login, grant.requestId, grant.expiresAt, rows.map(([scope]) => scope), rows.map(([, value]) => value)],
  );
}

/** Removes a request's scope rows for a login; the login's other requests keep theirs. */
export async function removeScopeRows(client: Queryable, input: { login: string; requestId: string }): Promise<number> {
  const removed = await client.query(`DELETE FROM ${pg.escapeIdentifier(SCOPES_SCHEMA)}.grants WHERE login = $1 AND request_id = $2::uuid`, [input.login, input.requestId]);
  return removed.rowCount ?? 0;
}

/**
 * What is missing on the target for these scoped columns, as sentences for `latch policy check`
 * or the standing-access scan's operator; empty when everything is in place.
 */
export async function rowScopesProblems(client: Queryable, columns: readonly ScopedColumn[]): Promise<string[]> {
  const problems: string[] = [];
  const installed = await client.query<{ grants: string | null; scoped: string | null; allows: string | null }>(
    `SELECT to_regclass('${SCOPES_SCHEMA}.grants')::text AS grants, to_regprocedure('${SCOPES_SCHEMA}.scoped()')::text AS scoped, to_regprocedure('${SCOPES_SCHEMA}.allows(text,text)')::text AS allows`,
  );
  const row = installed.rows[0]!;
  if (!row.grants || !row.scoped || !row.allows) {
    problems.push(`the ${SCOPES_SCHEMA} schema is not installed (its grants table or functions are missing): apply \`latch scopes install\`'s SQL as the tables' owner`);
    return problems;
  }
  for (const column of columns) {
    const [schemaName, tableName] = column.table.includes('.') ? column.table.split('.') : ['public', column.table];
    const table = await client.query<{ rls: boolean; has_column: boolean; policy: string | null }>(
      `SELECT c.relrowsecurity AS rls,
              EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $3 AND NOT a.attisdropped) AS has_column,
              (SELECT p.polname::text FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = $4 AND NOT p.polpermissive) AS policy
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2`,
      [schemaName, tableName, column.column, policyName(column)],
    );
    const found = table.rows[0];
    if (!found) problems.push(`table ${column.table} does not exist`);
    else if (!found.has_column) problems.push(`table ${column.table} has no column ${column.column}`);
    else if (!found.rls) problems.push(`table ${column.table} does not have row-level security enabled`);
    else if (!found.policy) problems.push(`table ${column.table} lacks Latch's restrictive policy ${policyName(column)} for scope "${column.scope}"`);
  }
  return problems;
}
