import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { adminQuery } from './test-database.ts';

/** Login roles a test makes: roles are cluster-wide, so each gets a random name, and all are dropped afterwards. */
export class TestRoles {
  private readonly made: string[] = [];

  /** A new login role with no privileges, created through `databaseUrl`. */
  async create(databaseUrl: string): Promise<string> {
    const role = `latch_app_test_${randomBytes(4).toString('hex')}`;
    await adminQuery(databaseUrl, `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN`);
    this.made.push(role);
    return role;
  }

  /** A role the test created by other means, to be dropped with the rest. */
  track(role: string): void {
    this.made.push(role);
  }

  async dropAll(adminDatabaseUrl: string): Promise<void> {
    for (const role of this.made) await adminQuery(adminDatabaseUrl, `DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  }
}

/** table → the privileges `role` holds on it, for every table in the public schema of `databaseUrl`. */
export async function tablePrivilegesOf(databaseUrl: string, role: string): Promise<Record<string, string[]>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ table: string; privileges: string[] }>(
      `SELECT c.relname AS table,
              array(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p WHERE has_table_privilege($1, c.oid, p)) AS privileges
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r'
        ORDER BY c.relname`,
      [role],
    );
    return Object.fromEntries(rows.map((row) => [row.table, row.privileges]));
  } finally {
    await client.end();
  }
}
