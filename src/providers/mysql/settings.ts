import { z } from 'zod';
import { parseProviderSettings, type SettingsResult } from '../settings-problems.ts';

/**
 * The `settings` block of a resource whose provider is `mysql`, as written in the policy file.
 * The connection string is a secret, so the file names the environment variable that holds it.
 */

export const MYSQL_DIALECTS = ['mariadb', 'mysql8'] as const;
export type MysqlDialect = (typeof MYSQL_DIALECTS)[number];

// Longer names are refused by the server (MariaDB keeps 80 characters of a user or role name since
// 10.x, MySQL 8 keeps 32): refused here, so a policy never names an account the server cannot have.
export const MAX_NAME_CHARACTERS: Record<MysqlDialect, number> = { mariadb: 80, mysql8: 32 };
const MAX_HOST_CHARACTERS = 255;

/** Why `name` cannot be a user or role name on `dialect`'s server, or undefined when it can. */
export function accountNameProblem(name: string, dialect: MysqlDialect): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.includes('\0')) return 'contains a NUL character';
  const limit = MAX_NAME_CHARACTERS[dialect];
  if ([...name].length > limit) return `is longer than ${limit} characters, the server's limit for a user or role name`;
  return undefined;
}

const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const mysqlSettingsSchema = z
  .strictObject({
    /** Whose role syntax the server speaks: MariaDB (10.4 and later) or MySQL 8. */
    dialect: z.enum(MYSQL_DIALECTS, { error: 'must be "mariadb" or "mysql8": the server whose role syntax Latch speaks' }),
    /** Name of the environment variable holding the grantor's connection string, e.g. PROD_MYSQL_ADMIN_URL. */
    connectionStringEnv: z
      .string({ error: 'is missing: name the environment variable holding the connection string, e.g. PROD_MYSQL_ADMIN_URL' })
      .regex(ENV_NAME_PATTERN, {
        error: 'must be the name of an environment variable (letters, digits and _), not the connection string itself',
      }),
    /** The host part of the accounts Latch grants to: a principal `alice` is the account 'alice'@'<accountHost>'. */
    accountHost: z
      .string({ error: 'must be the host part of the accounts, e.g. "%"' })
      .min(1, { error: 'is empty: use "%" for accounts that may connect from any host' })
      .max(MAX_HOST_CHARACTERS, { error: `is longer than ${MAX_HOST_CHARACTERS} characters` })
      .refine((host) => !host.includes('\0'), { error: 'contains a NUL character' })
      .default('%'),
    /** Policy role id → role name on the server. A role id not listed here is used as the role name. */
    roles: z
      .record(
        z.string(),
        z.string({ error: 'must be the name of a role on the server' }).superRefine((name, ctx) => {
          // The longer of the two limits here; MySQL 8's shorter one below, once the dialect is known.
          const problem = accountNameProblem(name, 'mariadb');
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      )
      .optional(),
    /** End the account's open connections after a revoke (MariaDB sessions keep a revoked role). */
    terminateSessions: z.boolean({ error: 'must be true or false' }).default(true),
  })
  .superRefine((settings, ctx) => {
    if (settings.dialect !== 'mysql8') return;
    for (const [roleId, name] of Object.entries(settings.roles ?? {})) {
      const problem = accountNameProblem(name, settings.dialect);
      if (problem) ctx.addIssue({ code: 'custom', path: ['roles', roleId], message: problem });
    }
  });

export type MysqlSettings = z.infer<typeof mysqlSettingsSchema>;

/** Settings as one-line problems that name the setting, never quoting a value. */
export function parseMysqlSettings(settings: Record<string, unknown>): SettingsResult<MysqlSettings> {
  return parseProviderSettings(mysqlSettingsSchema, settings, 'mysql');
}
