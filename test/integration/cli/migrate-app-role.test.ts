import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { grantAppRole } from '../../../src/store/app-role.ts';
import { runLatch } from '../../helpers/latch-process.ts';
import { adminQuery, createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

/**
 * `LATCH_APP_ROLE=latch_app latch migrate`, run as the tables' owner, migrates and then grants the
 * role the service connects as exactly prisma/app-role.sql's privileges: what the Kubernetes
 * migrate Job (deploy/kubernetes/migrate-job.yaml) does after every upgrade, with no psql step.
 */

let testDb: TestDatabase;
const roles: string[] = [];

beforeAll(async () => {
  testDb = await createTestDatabase({ migrated: false });
});

afterAll(async () => {
  await testDb?.drop();
  for (const role of roles) await adminQuery(inject('adminDatabaseUrl'), `DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
});

async function newRole(): Promise<string> {
  const role = `latch_app_test_${randomBytes(4).toString('hex')}`;
  await adminQuery(testDb.url, `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN`);
  roles.push(role);
  return role;
}

/** table → the privileges `role` holds on it, for every table in the public schema. */
async function privilegesOf(role: string): Promise<Record<string, string[]>> {
  const client = new pg.Client({ connectionString: testDb.url });
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

// Each test runs whole `latch migrate` processes (three in all), seconds each on a busy machine.
describe('latch migrate with LATCH_APP_ROLE', { timeout: 120_000 }, () => {
  it("migrates, then grants the service's role prisma/app-role.sql's privileges, and does it again on a second run", async () => {
    const role = await newRole();
    const first = await runLatch(['migrate'], { DATABASE_URL: testDb.url, LATCH_APP_ROLE: role });
    expect(first.code, first.stderr).toBe(0);
    const reference = await newRole();
    await grantAppRole(testDb.url, reference);
    const granted = await privilegesOf(role);
    expect(granted).toEqual(await privilegesOf(reference));
    expect(granted.audit_events).toEqual(['SELECT', 'INSERT']);

    const second = await runLatch(['migrate'], { DATABASE_URL: testDb.url, LATCH_APP_ROLE: role });
    expect(second.code, second.stderr).toBe(0);
    expect(await privilegesOf(role)).toEqual(granted);
  });

  it('fails in one line naming the role when it does not exist, after migrating', async () => {
    const missing = `latch_app_missing_${randomBytes(4).toString('hex')}`;
    const result = await runLatch(['migrate'], { DATABASE_URL: testDb.url, LATCH_APP_ROLE: missing });
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^latch: cannot grant LATCH_APP_ROLE ${missing} .*does not exist`))]);
  });
});
