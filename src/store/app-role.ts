import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/**
 * The privileges of the role Latch serves as, which must not own the tables (an owner can switch
 * off the audit trail's triggers). The list lives in prisma/app-role.sql, a psql script the README
 * points to; the demo and the tests apply the same file from here, so the three never disagree.
 */

export const APP_ROLE_SQL_PATH = fileURLToPath(new URL('../../prisma/app-role.sql', import.meta.url));

/** prisma/app-role.sql for `role`: psql's `:"app_role"` replaced by the quoted identifier. */
export function appRoleGrantsSql(role: string): string {
  const sql = readFileSync(APP_ROLE_SQL_PATH, 'utf8').replaceAll(':"app_role"', pg.escapeIdentifier(role));
  // Another psql variable would reach PostgreSQL as a syntax error; say which file is at fault.
  if (/:["'][a-z_]+["']/i.test(sql.replace(/--.*$/gm, ''))) throw new Error(`${APP_ROLE_SQL_PATH} uses a psql variable other than :"app_role"`);
  return sql;
}

/**
 * Grants an existing role what prisma/app-role.sql lists, on the database `ownerUrl` names,
 * connected as the tables' owner (or a superuser). Run it after migrating: a new table needs its
 * grant. Idempotent.
 */
export async function grantAppRole(ownerUrl: string, role: string): Promise<void> {
  const client = new pg.Client({ connectionString: ownerUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(appRoleGrantsSql(role));
  } finally {
    await client.end();
  }
}
