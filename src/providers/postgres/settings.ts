import { z } from 'zod';
import { parseProviderSettings, type SettingsResult } from '../settings-problems.ts';
import { scopedColumnProblem, scopeNameProblem } from './row-scopes.ts';
import { qualifiedTableProblem, scopeValuesQueryProblem, TABLE_PRIVILEGES } from './table-grants.ts';

/**
 * The `settings` block of a resource whose provider is `postgres`, as written in the policy file.
 * The connection string is a secret, so the file names the environment variable that holds it.
 */

// PostgreSQL truncates longer identifiers to 63 bytes (NAMEDATALEN - 1), which could turn a name
// into a different, existing role: refuse them instead.
export const MAX_ROLE_NAME_BYTES = 63;

/** Why `name` cannot be a PostgreSQL role name, or undefined when it can. */
export function roleNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.includes('\0')) return 'contains a NUL character';
  if (Buffer.byteLength(name, 'utf8') > MAX_ROLE_NAME_BYTES) {
    return `is longer than ${MAX_ROLE_NAME_BYTES} bytes, PostgreSQL's limit for a role name`;
  }
  return undefined;
}

export const CREDENTIAL_MODES = ['grant', 'dynamic'] as const;
/** Sessions a dynamic login may open at once, unless the settings say otherwise. */
export const DEFAULT_CONNECTION_LIMIT = 2;
const MAX_CONNECTION_LIMIT = 100;

const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

const databaseRoleName = z.string({ error: 'must be the name of a database role' }).superRefine((name, ctx) => {
  const problem = roleNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const postgresSettingsSchema = z.strictObject({
  /** Name of the environment variable holding the grantor's connection string, e.g. PROD_DB_ADMIN_URL. */
  connectionStringEnv: z
    .string({ error: 'is missing: name the environment variable holding the connection string, e.g. PROD_DB_ADMIN_URL' })
    .regex(ENV_NAME_PATTERN, {
      error: 'must be the name of an environment variable (letters, digits and _), not the connection string itself',
    }),
  /** Policy role id → database role name. A role id not listed here is used as the database role name. */
  roles: z.record(z.string(), databaseRoleName).optional(),
  /** End the principal's open sessions on the target database after a revoke. */
  terminateSessions: z.boolean({ error: 'must be true or false' }).default(true),
  /**
   * `grant` (the default): the role is granted to the requester's own login. `dynamic`: Latch creates
   * a login of its own for each request, hands its password out once, and drops it at the end.
   */
  credentials: z.enum(CREDENTIAL_MODES, { error: `must be ${CREDENTIAL_MODES.join(' or ')}` }).default('grant'),
  /** With `credentials: dynamic`: how many sessions the login may open at once. */
  connectionLimit: z
    .int({ error: 'must be a whole number of connections' })
    .min(1, { error: 'must be at least 1' })
    .max(MAX_CONNECTION_LIMIT, { error: `must be at most ${MAX_CONNECTION_LIMIT}` })
    .optional(),
  /** With `credentials: dynamic`: the host people and pipelines connect to, when not the grantor's. */
  credentialsHost: z.string({ error: 'must be a host name' }).min(1, { error: 'must not be empty' }).max(253, { error: 'is longer than a host name can be' }).optional(),
  /** With `credentials: dynamic`: the port they connect to, when not the grantor's. */
  credentialsPort: z.int({ error: 'must be a port number' }).min(1, { error: 'must be a port number' }).max(65_535, { error: 'must be a port number' }).optional(),
  /**
   * Row-level scopes (row-scopes.ts): scope name → the table columns it limits, e.g.
   * `customer: [{ table: public.orders, column: customer_id }]`. `latch scopes install` prints the
   * SQL a DBA applies for them; `latch scopes check` says what is missing on the target.
   */
  rowScopes: z
    .record(
      z.string(),
      z
        .array(z.strictObject({ table: z.string({ error: 'must be [schema.]table' }), column: z.string({ error: 'must be a column name' }) }), { error: 'must be a list of { table, column }' })
        .min(1, { error: 'must name at least one table column' }),
      { error: 'must map each scope name to the table columns it limits' },
    )
    .superRefine((scopes, ctx) => {
      for (const [scope, columns] of Object.entries(scopes)) {
        columns.forEach((column, index) => {
          const problem = scopedColumnProblem({ scope, ...column });
          if (problem) ctx.addIssue({ code: 'custom', path: [scope, index], message: problem });
        });
      }
    })
    .optional(),
  /**
   * Table-level grants (table-grants.ts): a scoped request names tables in the scope parameter
   * `scope` (values `schema.table`, each one of `tables`), and is granted `privileges[role]` on
   * those tables alone, instead of the role's database role.
   */
  tableGrants: z
    .strictObject({
      scope: z.string({ error: 'must be the name of the scope parameter that lists tables, e.g. tables' }).superRefine((scope, ctx) => {
        const problem = scopeNameProblem(scope);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
      tables: z
        .array(
          z.string({ error: 'must be schema.table' }).superRefine((table, ctx) => {
            const problem = qualifiedTableProblem(table);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
          { error: 'must list the tables a request may name (schema.table)' },
        )
        .min(1, { error: 'must list at least one table' }),
      privileges: z.record(
        z.string(),
        z
          .array(z.enum(TABLE_PRIVILEGES, { error: `must be one of ${TABLE_PRIVILEGES.join(', ')}` }), { error: `must be a list of ${TABLE_PRIVILEGES.join(', ')}` })
          .min(1, { error: 'must name at least one privilege' }),
        { error: 'must map each role id to the table privileges it grants, e.g. read: [SELECT]' },
      ),
    }, { error: 'must be { scope, tables, privileges }' })
    .optional(),
  /**
   * Scope name → a read-only query whose first column bounds the values a request may name, e.g.
   * `customer: SELECT id::text FROM customers` (asked when a request is made, with the values bound).
   */
  scopeValues: z
    .record(
      z.string(),
      z.string({ error: 'must be a SELECT query returning the allowed values' }).superRefine((query, ctx) => {
        const problem = scopeValuesQueryProblem(query);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
      { error: 'must map scope names to read-only queries' },
    )
    .optional(),
}).superRefine((settings, ctx) => {
  const rowScopeNames = Object.keys(settings.rowScopes ?? {});
  const tableScope = settings.tableGrants?.scope;
  if (tableScope !== undefined && rowScopeNames.includes(tableScope)) {
    ctx.addIssue({ code: 'custom', path: ['tableGrants', 'scope'], message: 'is also a row scope: name the table parameter differently' });
  }
  for (const scope of Object.keys(settings.scopeValues ?? {})) {
    if (!rowScopeNames.includes(scope) && scope !== tableScope) {
      ctx.addIssue({ code: 'custom', path: ['scopeValues', scope], message: 'is neither a row scope (rowScopes) nor the tableGrants scope' });
    }
  }
  if ((rowScopeNames.length > 0 || tableScope !== undefined) && !settings.terminateSessions) {
    // A session kept open past the revocation could have SET ROLE to what the grant gave; once the
    // scope rows are gone it would see every row. Scoped access always ends sessions.
    ctx.addIssue({ code: 'custom', path: ['terminateSessions'], message: 'must be true with rowScopes or tableGrants: a scoped login’s open sessions are ended at revocation' });
  }
  if (settings.credentials === 'dynamic') return;
  // Said at once, rather than silently ignored: the operator meant dynamic credentials.
  for (const field of ['connectionLimit', 'credentialsHost', 'credentialsPort'] as const) {
    if (settings[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'applies only with credentials: dynamic' });
  }
});

export type PostgresSettings = z.infer<typeof postgresSettingsSchema>;

/** Settings as one-line problems that name the setting, never quoting a value. */
export function parsePostgresSettings(settings: Record<string, unknown>): SettingsResult<PostgresSettings> {
  return parseProviderSettings(postgresSettingsSchema, settings, 'postgres');
}
