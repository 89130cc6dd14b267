import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { APP_ROLE_SQL_PATH, grantAppRole } from '../../../src/store/app-role.ts';
import { TestRoles, tablePrivilegesOf } from '../../helpers/database-roles.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

/**
 * prisma/app-role.sql is the one list of the app role's privileges: the README tells operators to
 * run it with psql, the demo applies it from Node. Both ways must give the same privileges, and
 * every table the migrations create must be in it (a new table without its grant would fail only
 * in production, where Latch runs as that role).
 */

const PSQL = ['/usr/bin/psql', '/usr/lib/postgresql/15/bin/psql'].find((path) => existsSync(path));
let testDb: TestDatabase;
const roles = new TestRoles();
const newRole = () => roles.create(testDb.url);
const privilegesOf = (role: string) => tablePrivilegesOf(testDb.url, role);

beforeAll(async () => {
  testDb = await createTestDatabase();
});

afterAll(async () => {
  await testDb?.drop();
  await roles.dropAll(inject('adminDatabaseUrl'));
});

describe('prisma/app-role.sql', () => {
  it('gives every table a grant: state tables read-write, append-only ones SELECT and INSERT, never TRUNCATE', async () => {
    const role = await newRole();
    await grantAppRole(testDb.url, role);
    const privileges = await privilegesOf(role);
    expect(privileges).toMatchObject({
      access_requests: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
      // The worker's sweep deletes the logins nothing can use any more (sweep-lapsed-logins.ts).
      cli_logins: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
      audit_events: ['SELECT', 'INSERT'],
      decision_evidence: ['SELECT', 'INSERT'],
      audit_evidence_start: ['SELECT'],
      _prisma_migrations: ['SELECT'],
    });
    for (const [table, held] of Object.entries(privileges)) {
      expect(held, `${table} has no grant in ${APP_ROLE_SQL_PATH}`).toContain('SELECT');
      expect(held, table).not.toContain('TRUNCATE');
    }
  });

  it.runIf(PSQL)('gives the same privileges when run with psql as the README says', async () => {
    const [fromNode, fromPsql] = [await newRole(), await newRole()];
    await grantAppRole(testDb.url, fromNode);
    await promisify(execFile)(PSQL!, [testDb.url, '-v', 'ON_ERROR_STOP=1', '-v', `app_role=${fromPsql}`, '-q', '-f', APP_ROLE_SQL_PATH]);
    expect(await privilegesOf(fromPsql)).toEqual(await privilegesOf(fromNode));
  });

  it.runIf(PSQL)("is what docker-compose's app-role service applies, and the latch service connects as that role, not the owner", async () => {
    type Service = { environment: Record<string, string>; command: string[]; volumes?: Array<{ source: string; target: string }> };
    const compose = parse(readFileSync(new URL('../../../docker-compose.yml', import.meta.url), 'utf8')) as { services: Record<string, Service> };
    const { 'app-role': appRole, latch, postgres } = compose.services;
    const owner = postgres!.environment.POSTGRES_USER;
    const appUser = new URL(latch!.environment.DATABASE_URL!.replace(/\$\{[^}]*\}/g, 'x')).username;
    expect(appUser).not.toBe(owner);
    expect(compose.services.migrate!.environment.DATABASE_URL).toMatch(new RegExp(`^postgresql://${owner}:`));
    const mounted = appRole!.volumes!.find((volume) => volume.source === './prisma/app-role.sql')!;

    // The service's own shell command, as Compose would run it ($$ is Compose's escaped $), on a
    // role name of this test's own (roles are cluster-wide), twice: a restart must not fail.
    const role = `${appUser}_${randomBytes(4).toString('hex')}`;
    roles.track(role);
    const command = appRole!.command[0]!.replaceAll('$$', '$').replace(`app_role=${appUser}`, `app_role=${role}`).replace(mounted.target, APP_ROLE_SQL_PATH);
    const target = new URL(testDb.url);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', PGHOST: target.hostname, PGPORT: target.port, PGUSER: decodeURIComponent(target.username), PGDATABASE: testDb.name, LATCH_APP_PASSWORD: 'compose-test-password' };
    for (let run = 0; run < 2; run++) await promisify(execFile)('sh', ['-c', command.replace(/^psql /, `${PSQL} `)], { env });

    const reference = await newRole();
    await grantAppRole(testDb.url, reference);
    expect(await privilegesOf(role)).toEqual(await privilegesOf(reference));
    const client = new pg.Client({ connectionString: testDb.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ rolsuper: boolean; rolcreaterole: boolean }>('SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1', [role]);
      expect(rows).toEqual([{ rolsuper: false, rolcreaterole: false }]);
    } finally {
      await client.end();
    }
  });
});
