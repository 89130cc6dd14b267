import { z } from 'zod';
import { parseProviderSettings, type SettingsResult } from '../settings-problems.ts';
import { scopedColumnProblem } from './row-scopes.ts';

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
}).superRefine((settings, ctx) => {
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
