import pg from 'pg';
import { SCOPES_SCHEMA, TABLE_SCOPE } from './scopes-schema.ts';

/**
 * Table-level grants on a PostgreSQL target (issue 17): a scoped request names tables, and the
 * grant is `GRANT <privileges> ON <those tables>` to the request's own role (scoped-access.ts),
 * nothing else. The settings list the tables a request may name and, per policy role, the
 * privileges it gives, from a fixed list: no privilege that row-level security cannot hold back
 * (TRUNCATE, REFERENCES, TRIGGER) can be handed out.
 *
 * Expiry held by the database: each such table gets a RESTRICTIVE policy (installed by `latch
 * scopes install`) that reads the grant's own scope row (`TABLE_SCOPE`, the table, its expiry):
 * a login that holds table rows for the table sees and changes nothing in it once they have all
 * expired, in sessions already open, with no Latch process running. A login without such rows (the
 * application's own role) is untouched.
 */

export const TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] as const;
export type TablePrivilege = (typeof TABLE_PRIVILEGES)[number];

const QUALIFIED_TABLE = /^[a-z_][a-z0-9_$]{0,62}\.[a-z_][a-z0-9_$]{0,62}$/;

/** Why `table` is not a table name Latch will write SQL for (`schema.table`, plain lower case), or null. */
export function qualifiedTableProblem(table: string): string | null {
  return QUALIFIED_TABLE.test(table) ? null : 'must be schema.table in lower case (letters, digits, _), e.g. public.orders';
}

/** `"schema"."table"`, for a name qualifiedTableProblem accepted. */
export function quotedTable(table: string): string {
  const [schema, name] = table.split('.');
  return `${pg.escapeIdentifier(schema!)}.${pg.escapeIdentifier(name!)}`;
}

const MAX_QUERY_LENGTH = 2_000;

/**
 * Why a `scopeValues` query is not one Latch will run, or null. It comes from the policy file, not
 * a request, and runs in a READ ONLY transaction with a statement timeout; it is wrapped as a
 * subquery, so it must be one SELECT (or WITH … SELECT, VALUES) without a `;`.
 */
export function scopeValuesQueryProblem(query: string): string | null {
  const text = query.trim();
  if (text.length === 0) return 'must be a SELECT query returning the allowed values';
  if (text.length > MAX_QUERY_LENGTH) return `must be at most ${MAX_QUERY_LENGTH} characters`;
  if (text.includes(';')) return 'must be one query, without ;';
  if (!/^(select|with|values)\b/i.test(text)) return 'must be a SELECT (or WITH … SELECT, VALUES) query';
  return null;
}

export const TABLE_EXPIRY_POLICY = 'latch_table_grant_expiry';

/**
 * The install SQL's lines for table grants, after row-scopes.ts's schema and functions: per table,
 * row-level security (with a permissive policy open to all, when the table had none, so that
 * enabling it takes nothing from today's readers) and Latch's restrictive expiry policy.
 */
export function tableExpiryInstallLines(tables: readonly string[]): string[] {
  const schema = pg.escapeIdentifier(SCOPES_SCHEMA);
  const lines: string[] = [];
  for (const table of tables) {
    const problem = qualifiedTableProblem(table);
    if (problem) throw new Error(`table ${problem}`);
    const quoted = quotedTable(table);
    const predicate = `${schema}.table_allows(${pg.escapeLiteral(table)})`;
    lines.push(
      `-- ${table}: table grants end at their expiry`,
      'DO $latch$ BEGIN',
      `  IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = ${pg.escapeLiteral(table)}::regclass) THEN`,
      `    ALTER TABLE ${quoted} ENABLE ROW LEVEL SECURITY;`,
      `    CREATE POLICY latch_scope_open ON ${quoted} AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true);`,
      '  END IF;',
      'END $latch$;',
      `DROP POLICY IF EXISTS ${TABLE_EXPIRY_POLICY} ON ${quoted};`,
      `CREATE POLICY ${TABLE_EXPIRY_POLICY} ON ${quoted} AS RESTRICTIVE FOR ALL TO PUBLIC`,
      `  USING (${predicate})`,
      `  WITH CHECK (${predicate});`,
    );
  }
  return lines;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface TableGrantSettings {
  scope: string;
  tables: readonly string[];
  privileges: Readonly<Record<string, readonly TablePrivilege[]>>;
}

/**
 * What is missing on the target for table grants, as sentences (for `latch scopes check` and
 * checkScope); empty when everything is in place. By default every table the settings list and
 * every privilege any role gives; `only` narrows it to one request's. The grantor must hold each
 * privilege it hands out WITH GRANT OPTION (or own the table).
 */
export async function tableGrantsProblems(
  client: Queryable,
  settings: TableGrantSettings,
  only?: { tables: readonly string[]; privileges: readonly TablePrivilege[] },
): Promise<string[]> {
  const tables = only?.tables ?? settings.tables;
  const privileges = [...new Set(only?.privileges ?? Object.values(settings.privileges).flat())];
  const { rows: [installed] } = await client.query<{ allows: string | null; current_scoped: boolean }>(
    `SELECT to_regprocedure('${SCOPES_SCHEMA}.table_allows(text)')::text AS allows,
            COALESCE((SELECT position($1 IN prosrc) > 0 FROM pg_proc WHERE oid = to_regprocedure('${SCOPES_SCHEMA}.scoped()')), false) AS current_scoped`,
    [pg.escapeLiteral(TABLE_SCOPE)],
  );
  const problems: string[] = [];
  if (!installed?.allows) problems.push(`the ${SCOPES_SCHEMA} schema's table_allows function is missing: apply \`latch scopes install\`'s SQL as the tables' owner`);
  // An install from before table grants: its scoped() counts their rows, so a login granted a
  // table would see nothing of the row-scoped tables it otherwise reads.
  else if (!installed.current_scoped) problems.push(`the ${SCOPES_SCHEMA}.scoped() function predates table grants: apply \`latch scopes install\`'s SQL again`);
  for (const table of tables) {
    const { rows: [found] } = await client.query<{ exists: boolean; rls: boolean | null; policy: boolean | null; missing: string[] | null }>(
      `SELECT c.oid IS NOT NULL AS exists, c.relrowsecurity AS rls,
              EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = $2 AND NOT p.polpermissive) AS policy,
              CASE WHEN c.oid IS NULL THEN NULL ELSE array(
                SELECT privilege FROM unnest($3::text[]) AS privilege
                WHERE NOT has_table_privilege(current_user, c.oid, privilege || ' WITH GRANT OPTION')
              ) END AS missing
         FROM (SELECT to_regclass($1) AS oid) AS t LEFT JOIN pg_class c ON c.oid = t.oid AND c.relkind IN ('r', 'p')`,
      [quotedTable(table), TABLE_EXPIRY_POLICY, privileges],
    );
    if (!found?.exists) {
      problems.push(`table ${table} does not exist`);
      continue;
    }
    if (found.missing && found.missing.length > 0) problems.push(`the grantor cannot grant ${found.missing.join(', ')} on table ${table} (it needs them WITH GRANT OPTION)`);
    if (!found.rls || !found.policy) problems.push(`table ${table} lacks Latch's restrictive policy ${TABLE_EXPIRY_POLICY} (expiry held by the database): apply \`latch scopes install\`'s SQL`);
  }
  return problems;
}
