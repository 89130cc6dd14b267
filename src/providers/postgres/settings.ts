import { z } from 'zod';

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
});

export type PostgresSettings = z.infer<typeof postgresSettingsSchema>;

/**
 * Settings as one-line problems that name the setting (`settings.roles.read: is empty`). Messages
 * never quote the values, in case someone pasted a connection string where a name belongs.
 */
export function parsePostgresSettings(
  settings: Record<string, unknown>,
): { ok: true; settings: PostgresSettings } | { ok: false; problems: string[] } {
  const parsed = postgresSettingsSchema.safeParse(settings);
  if (parsed.success) return { ok: true, settings: parsed.data };
  const problems = parsed.error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map(
        (key) => `${settingPath([...issue.path, key])}: is not a postgres setting (known: connectionStringEnv, roles, terminateSessions)`,
      );
    }
    return [`${settingPath(issue.path)}: ${issue.message}`];
  });
  return { ok: false, problems };
}

function settingPath(path: PropertyKey[]): string {
  return ['settings', ...path.map(String)].join('.');
}
