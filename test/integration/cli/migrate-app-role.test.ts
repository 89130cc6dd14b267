import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { grantAppRole } from '../../../src/store/app-role.ts';
import { TestRoles, tablePrivilegesOf } from '../../helpers/database-roles.ts';
import { runLatch } from '../../helpers/latch-process.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

/**
 * `LATCH_APP_ROLE=latch_app latch migrate`, run as the tables' owner, migrates and then grants the
 * role the service connects as exactly prisma/app-role.sql's privileges: what the Kubernetes
 * migrate Job (deploy/kubernetes/migrate-job.yaml) does after every upgrade, with no psql step.
 */

let testDb: TestDatabase;
const roles = new TestRoles();
const newRole = () => roles.create(testDb.url);
const privilegesOf = (role: string) => tablePrivilegesOf(testDb.url, role);

beforeAll(async () => {
  testDb = await createTestDatabase({ migrated: false });
});

afterAll(async () => {
  await testDb?.drop();
  await roles.dropAll(inject('adminDatabaseUrl'));
});

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
