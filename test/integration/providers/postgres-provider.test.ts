import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { createPostgresProvider } from '../../../src/providers/postgres/postgres-provider.ts';
import type { AccessProvider, ProviderGrant, ProviderGuard, ProviderResult } from '../../../src/providers/provider.ts';
import { freePort } from '../../helpers/free-port.ts';
import { adminQuery, withDatabaseName } from '../../helpers/test-database.ts';

/**
 * The postgres provider against the real test server: a target database of this file's own, and
 * roles with a random suffix (roles are cluster-wide, so fixed names would collide with other runs).
 * The provider connects as a grantor that is not a superuser and holds only what README.md asks for:
 * ADMIN OPTION on the managed roles and membership in pg_signal_backend.
 */

const { escapeIdentifier } = pg;
const suffix = randomBytes(5).toString('hex');
const databaseName = `latch_pgprov_${suffix}`;
const CONNECTION_ENV = 'LATCH_TEST_PG_GRANTOR_URL';
// The server trusts loopback and never checks it; it is here to prove it never reaches a message.
const GRANTOR_PASSWORD = 'Grantor-Pa55word-never-shown';

let adminUrl: string;
let admin: pg.Client;
let grantor: string;
let grantorUrl: string;
const createdRoles: string[] = [];
const providers: AccessProvider[] = [];
const clients: pg.Client[] = [];

const roleName = (label: string) => `latch_pgprov_${label}_${suffix}`;

async function createRole(name: string, options: 'LOGIN' | 'NOLOGIN'): Promise<string> {
  await admin.query(`CREATE ROLE ${escapeIdentifier(name)} ${options}`);
  createdRoles.push(name);
  return name;
}

/** A role Latch manages: the grantor gets ADMIN OPTION on it, as README.md tells operators to do. */
async function createManagedRole(name: string): Promise<string> {
  await createRole(name, 'NOLOGIN');
  await admin.query(`GRANT ${escapeIdentifier(name)} TO ${escapeIdentifier(grantor)} WITH ADMIN OPTION`);
  return name;
}

async function dropRoles(names: string[]): Promise<void> {
  for (const name of names) {
    await admin.query(`DROP ROLE IF EXISTS ${escapeIdentifier(name)}`);
    createdRoles.splice(createdRoles.indexOf(name), 1);
  }
}

/** The target's own answer, through the superuser connection, not the provider. */
async function adminHasRole(principal: string, role: string): Promise<boolean> {
  const { rows } = await admin.query<{ member: boolean }>(`SELECT pg_has_role($1::name, $2::name, 'MEMBER') AS member`, [
    principal,
    role,
  ]);
  return rows[0]?.member === true;
}

async function roleExists(name: string): Promise<boolean> {
  const { rowCount } = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1::name', [name]);
  return rowCount === 1;
}

function urlFor(user: string, password: string | undefined, base = adminUrl, database = databaseName): string {
  const url = new URL(withDatabaseName(base, database));
  url.username = encodeURIComponent(user);
  url.password = password ? encodeURIComponent(password) : '';
  return url.toString();
}

function newProvider(settings: Record<string, unknown> = {}, connectionString = grantorUrl, logger?: ReturnType<typeof createLogger>, guard?: ProviderGuard) {
  const created = createPostgresProvider({ connectionStringEnv: CONNECTION_ENV, ...settings }, { [CONNECTION_ENV]: connectionString }, { logger, ...(guard ? { guard } : {}) });
  if (!created.ok) throw new Error(`provider not created: ${created.problems.join('; ')}`);
  providers.push(created.provider);
  return created.provider;
}

function grantFor(principal: string, role: string): ProviderGrant {
  return {
    grantId: randomUUID(),
    requestId: randomUUID(),
    resourceId: 'test-db',
    role,
    principal,
    expiresAt: new Date(Date.now() + 3_600_000),
  };
}

/** A session on the target as `user` (trust auth), with every error it emits recorded. */
async function connectAs(user: string): Promise<{ client: pg.Client; errors: Error[]; ended: Promise<Error> }> {
  const url = new URL(adminUrl);
  const client = new pg.Client({ host: url.hostname, port: Number(url.port), user, database: databaseName });
  const errors: Error[] = [];
  const ended = new Promise<Error>((resolve) => {
    client.on('error', (error) => {
      errors.push(error);
      resolve(error);
    });
  });
  await client.connect();
  clients.push(client);
  return { client, errors, ended };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms).unref()),
  ]);
}

const succeeded = { ok: true, value: undefined };
const failedWith = (kind: 'transient' | 'permanent', message: RegExp | string = /\S/) => ({
  ok: false,
  failure: { kind, message: typeof message === 'string' ? message : expect.stringMatching(message) },
});

beforeAll(async () => {
  adminUrl = inject('adminDatabaseUrl');
  await adminQuery(adminUrl, `CREATE DATABASE ${databaseName}`);
  admin = new pg.Client({ connectionString: withDatabaseName(adminUrl, databaseName) });
  await admin.connect();
  grantor = await createRole(roleName('grantor'), 'LOGIN');
  await admin.query(`GRANT pg_signal_backend TO ${escapeIdentifier(grantor)}`);
  grantorUrl = urlFor(grantor, GRANTOR_PASSWORD);
  const { rows } = await admin.query<{ rolsuper: boolean; rolcreaterole: boolean }>(
    'SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1',
    [grantor],
  );
  expect(rows[0]).toEqual({ rolsuper: false, rolcreaterole: false });
});

afterAll(async () => {
  await Promise.allSettled(providers.map((provider) => provider.close?.()));
  await Promise.allSettled(clients.map((client) => client.end()));
  await admin?.end().catch(() => {});
  if (!adminUrl) return;
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
  // Members before the roles they belong to; the grantor (created first) last.
  for (const name of [...createdRoles].reverse()) {
    await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${escapeIdentifier(name)}`);
  }
});

describe('postgres: revoke ends sessions', () => {
  it("ends the principal's open sessions on the target, and leaves a bystander's alone", async () => {
    const role = await createManagedRole(roleName('sessions_role'));
    const principal = await createRole(roleName('carol'), 'LOGIN');
    const bystander = await createRole(roleName('dave'), 'LOGIN');
    const provider = newProvider();
    expect(await provider.grant(grantFor(principal, role))).toEqual(succeeded);
    expect(await provider.grant(grantFor(bystander, role))).toEqual(succeeded);
    const carol = await connectAs(principal);
    const dave = await connectAs(bystander);
    // A session already using the role keeps it after REVOKE: only ending the session stops it.
    await carol.client.query(`SET ROLE ${escapeIdentifier(role)}`);
    await dave.client.query(`SET ROLE ${escapeIdentifier(role)}`);

    expect(await provider.revoke(grantFor(principal, role))).toEqual(succeeded);

    const error = await within(carol.ended, 5_000, "the principal's session");
    expect((error as { code?: string }).code).toBe('57P01');
    await expect(carol.client.query('SELECT 1')).rejects.toThrow();
    expect(await adminHasRole(principal, role)).toBe(false);
    const { rows } = await dave.client.query<{ who: string }>('SELECT current_user AS who');
    expect(rows[0]?.who).toBe(role);
    expect(dave.errors).toEqual([]);
  });

  it('leaves sessions open when terminateSessions is false (and shows why the default ends them)', async () => {
    const role = await createManagedRole(roleName('keep_sessions_role'));
    const principal = await createRole(roleName('erin'), 'LOGIN');
    const provider = newProvider({ terminateSessions: false });
    expect(await provider.grant(grantFor(principal, role))).toEqual(succeeded);
    const erin = await connectAs(principal);
    await erin.client.query(`SET ROLE ${escapeIdentifier(role)}`);

    expect(await provider.revoke(grantFor(principal, role))).toEqual(succeeded);

    expect(await adminHasRole(principal, role)).toBe(false);
    const { rows } = await erin.client.query<{ who: string }>('SELECT current_user AS who');
    expect(rows[0]?.who).toBe(role);
    expect(erin.errors).toEqual([]);
  });

  it('fails permanently, naming pg_signal_backend, when the grantor may not end sessions', async () => {
    const weakGrantor = await createRole(roleName('grantor_nosignal'), 'LOGIN');
    const role = await createRole(roleName('nosignal_role'), 'NOLOGIN');
    await admin.query(`GRANT ${escapeIdentifier(role)} TO ${escapeIdentifier(weakGrantor)} WITH ADMIN OPTION`);
    const principal = await createRole(roleName('frank'), 'LOGIN');
    const provider = newProvider({}, urlFor(weakGrantor, GRANTOR_PASSWORD));
    expect(await provider.grant(grantFor(principal, role))).toEqual(succeeded);
    const frank = await connectAs(principal);

    const result = await provider.revoke(grantFor(principal, role));

    expect(result).toEqual(failedWith('permanent', /pg_signal_backend/));
    expect(JSON.stringify(result)).not.toContain(GRANTOR_PASSWORD);
    // The membership is gone; only the session lives on, which is why the failure is raised.
    expect(await adminHasRole(principal, role)).toBe(false);
    expect((await frank.client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
  });
});

describe('postgres: names that need quoting and hostile principals', () => {
  it('grants a role whose name needs quoting to a real user whose name looks like SQL, and nothing else happens', async () => {
    const victim = await createRole(`latch_pgprov_v_${suffix}`, 'NOLOGIN');
    const role = await createManagedRole(`Latch "Role"; ${suffix} x`);
    const principal = await createRole(`bob"; DROP ROLE ${victim}; --`, 'LOGIN');
    const provider = newProvider({ roles: { weird: role } });
    const grant = grantFor(principal, 'weird');

    expect(await provider.grant(grant)).toEqual(succeeded);
    expect(await adminHasRole(principal, role)).toBe(true);
    expect(await provider.check(grant)).toEqual({ ok: true, value: true });
    const listed = await provider.list!('weird');
    expect(listed.ok && listed.value).toEqual([principal]);
    expect(await provider.revoke(grant)).toEqual(succeeded);
    expect(await adminHasRole(principal, role)).toBe(false);
    expect(await provider.check(grant)).toEqual({ ok: true, value: false });
    expect(await roleExists(victim)).toBe(true);
  });

  it('refuses a hostile principal that does not exist, harmlessly', async () => {
    const victim = await createRole(`latch_pgprov_w_${suffix}`, 'NOLOGIN');
    const role = await createManagedRole(roleName('hostile_role'));
    const hostile = `x${suffix}"; DROP ROLE ${victim}; --`;
    const provider = newProvider();
    const grant = grantFor(hostile, role);

    expect(await provider.grant(grant)).toEqual(failedWith('permanent', `database user "${hostile}" does not exist on the target`));
    expect(await provider.check(grant)).toEqual(failedWith('permanent', `database user "${hostile}" does not exist on the target`));
    // Nobody by that name can hold the role: the revoke has nothing to do.
    expect(await provider.revoke(grant)).toEqual(succeeded);
    expect(await roleExists(victim)).toBe(true);
    expect(await roleExists(hostile)).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['longer than PostgreSQL keeps (it would truncate to another name)', 'a'.repeat(64)],
    ['PUBLIC, which means everybody even when quoted', 'public'],
    ['a predefined role', 'pg_signal_backend'],
    ['a NUL character', 'bob\0admin'],
  ])('refuses a principal that is %s without asking the target', async (_, principal) => {
    const role = roleName('contract_role');
    // A closed port: a refusal that reached the target would be transient, not permanent.
    const provider = newProvider({}, urlFor(grantor, GRANTOR_PASSWORD, `postgresql://127.0.0.1:${await freePort()}/x`));
    expect(await provider.grant(grantFor(principal, role))).toEqual(failedWith('permanent'));
    expect(await provider.revoke(grantFor(principal, role))).toEqual(failedWith('permanent'));
  });
});

describe('postgres: accounts Latch never grants to nor revokes from', () => {
  /** pg_auth_members as the superuser sees it: the principal's direct membership in `role`, if any. */
  async function membership(principal: string, role: string): Promise<{ admin_option: boolean } | null> {
    const { rows } = await admin.query<{ admin_option: boolean }>(
      `SELECT m.admin_option FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
       WHERE r.rolname = $1 AND u.rolname = $2`,
      [role, principal],
    );
    return rows[0] ?? null;
  }

  /** Neither grant nor revoke touches the account, and checkPrincipal refuses it when asked. */
  async function expectRefused(provider: AccessProvider, principal: string, role: string, why: RegExp) {
    const before = await membership(principal, role);
    expect(await provider.checkPrincipal!(principal, role)).toEqual(failedWith('permanent', why));
    expect(await provider.grant(grantFor(principal, role))).toEqual(failedWith('permanent', new RegExp(`refused to grant.*${why.source}`)));
    expect(await membership(principal, role)).toEqual(before);
    expect(await provider.revoke(grantFor(principal, role))).toEqual(failedWith('permanent', new RegExp(`refused to revoke.*${why.source}.*nothing was changed`)));
    expect(await membership(principal, role)).toEqual(before);
  }

  it('refuses the grantor itself: its own ADMIN OPTION membership survives a revoke', async () => {
    const role = await createManagedRole(roleName('guard_role'));
    const provider = newProvider();
    expect(await membership(grantor, role)).toEqual({ admin_option: true });
    await expectRefused(provider, grantor, role, /the account Latch itself connects as \(the grantor\)/);
    expect(await membership(grantor, role)).toEqual({ admin_option: true });
    // And Latch can still grant the role to a person afterwards.
    const person = await createRole(roleName('after_grantor'), 'LOGIN');
    expect(await provider.grant(grantFor(person, role))).toEqual(succeeded);
    expect(await adminHasRole(person, role)).toBe(true);
  });

  it('refuses a login that is a member of the grantor', async () => {
    const role = await createManagedRole(roleName('guard_member_role'));
    const insider = await createRole(roleName('grantor_member'), 'LOGIN');
    await admin.query(`GRANT ${escapeIdentifier(grantor)} TO ${escapeIdentifier(insider)}`);
    await expectRefused(newProvider(), insider, role, /a member of the account Latch itself connects as/);
    expect(await adminHasRole(insider, role)).toBe(true); // through the grantor, untouched
  });

  it('refuses a superuser and a role with CREATEROLE', async () => {
    const role = await createManagedRole(roleName('guard_admins_role'));
    const superuser = await createRole(roleName('super'), 'LOGIN');
    await admin.query(`ALTER ROLE ${escapeIdentifier(superuser)} SUPERUSER`);
    const roleAdmin = await createRole(roleName('createrole'), 'LOGIN');
    await admin.query(`ALTER ROLE ${escapeIdentifier(roleAdmin)} CREATEROLE`);
    const provider = newProvider();
    await expectRefused(provider, superuser, role, /it is a superuser/);
    await expectRefused(provider, roleAdmin, role, /it has CREATEROLE/);
  });

  it('refuses a role with ADMIN OPTION on a managed role, this one or another the policy grants, and leaves its membership', async () => {
    const role = await createManagedRole(roleName('guard_admin_of'));
    const other = await createManagedRole(roleName('guard_other_managed'));
    const owner = await createRole(roleName('role_owner'), 'LOGIN');
    await admin.query(`GRANT ${escapeIdentifier(role)} TO ${escapeIdentifier(owner)} WITH ADMIN OPTION`);
    const otherOwner = await createRole(roleName('other_owner'), 'LOGIN');
    await admin.query(`GRANT ${escapeIdentifier(other)} TO ${escapeIdentifier(otherOwner)} WITH ADMIN OPTION`);
    const guard: ProviderGuard = { permanentHolders: [], peers: [{ settings: { connectionStringEnv: CONNECTION_ENV }, roles: [role, other] }] };
    const provider = newProvider({}, grantorUrl, undefined, guard);
    await expectRefused(provider, owner, role, new RegExp(`ADMIN OPTION on "${role}"`));
    expect(await membership(owner, role)).toEqual({ admin_option: true });
    await expectRefused(provider, otherOwner, role, new RegExp(`ADMIN OPTION on "${other}"`));
  });

  it('refuses a managed role itself, and a NOLOGIN group role', async () => {
    const role = await createManagedRole(roleName('guard_target'));
    // A managed role that can log in (it happens): refused as managed, not only as a group role.
    const managedLogin = await createRole(roleName('managed_login'), 'LOGIN');
    const group = await createRole(roleName('some_group'), 'NOLOGIN');
    const guard: ProviderGuard = { permanentHolders: [], peers: [{ settings: { connectionStringEnv: CONNECTION_ENV, roles: { write: managedLogin } }, roles: ['write'] }] };
    const provider = newProvider({}, grantorUrl, undefined, guard);
    await expectRefused(provider, managedLogin, role, /a role Latch grants to people/);
    await expectRefused(provider, group, role, /cannot log in \(a group role\)/);
  });

  it("refuses the policy's permanent holders, and a revoke leaves their standing membership", async () => {
    const role = await createManagedRole(roleName('guard_permanent'));
    const service = await createRole(roleName('svc_reporting'), 'LOGIN');
    await admin.query(`GRANT ${escapeIdentifier(role)} TO ${escapeIdentifier(service)}`);
    const provider = newProvider({}, grantorUrl, undefined, { permanentHolders: [service], peers: [] });
    await expectRefused(provider, service, role, /permanentHolders/);
    expect(await adminHasRole(service, role)).toBe(true);
  });

  it('gives an ordinary login a clean bill, and says nothing is wrong with an account the target does not have', async () => {
    const role = await createManagedRole(roleName('guard_plain'));
    const person = await createRole(roleName('plain_person'), 'LOGIN');
    const provider = newProvider();
    expect(await provider.checkPrincipal!(person, role)).toEqual(succeeded);
    expect(await provider.checkPrincipal!(roleName('nobody_here'), role)).toEqual(succeeded);
  });
});

describe('postgres: failures are classified, and never show the password', () => {
  it('reports a missing connection-string variable, or bad settings, as factory problems', () => {
    expect(createPostgresProvider({ connectionStringEnv: 'LATCH_PGPROV_UNSET' }, {})).toEqual({
      ok: false,
      problems: ['settings.connectionStringEnv: LATCH_PGPROV_UNSET is not set'],
    });
    expect(createPostgresProvider({ connectionStringEnv: 'LATCH_PGPROV_BLANK' }, { LATCH_PGPROV_BLANK: ' ' })).toEqual({
      ok: false,
      problems: ['settings.connectionStringEnv: LATCH_PGPROV_BLANK is not set'],
    });

    const notAUrl = createPostgresProvider({ connectionStringEnv: 'DB_URL' }, { DB_URL: `host=db password=${GRANTOR_PASSWORD}` });
    expect(notAUrl).toEqual({ ok: false, problems: [expect.stringMatching(/^settings\.connectionStringEnv: DB_URL is not a postgresql:\/\//)] });
    expect(JSON.stringify(notAUrl)).not.toContain(GRANTOR_PASSWORD);

    const pasted = `postgresql://grantor:${GRANTOR_PASSWORD}@db.example.com/prod`;
    const bad = createPostgresProvider(
      { connectionStringEnv: pasted, roles: { read: '' }, terminateSession: false },
      { [pasted]: pasted },
    );
    expect(bad.ok).toBe(false);
    const problems = bad.ok ? [] : bad.problems;
    expect(problems).toEqual([
      expect.stringMatching(/^settings\.connectionStringEnv: must be the name of an environment variable/),
      expect.stringMatching(/^settings\.roles\.read: is empty/),
      expect.stringMatching(/^settings\.terminateSession: is not a postgres setting/),
    ]);
    expect(JSON.stringify(problems)).not.toContain(GRANTOR_PASSWORD);
    expect(createPostgresProvider({}, {})).toEqual({ ok: false, problems: [expect.stringMatching(/^settings\.connectionStringEnv: is missing/)] });
  });

  it('gives a transient failure for an unreachable target, and logs no password', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
    const closedPort = await freePort();
    const provider = newProvider({}, urlFor(grantor, GRANTOR_PASSWORD, `postgresql://127.0.0.1:${closedPort}/x`), logger);
    const grant = grantFor(roleName('nobody'), roleName('contract_role'));

    const results: ProviderResult<unknown>[] = [
      await provider.grant(grant),
      await provider.revoke(grant),
      await provider.check(grant),
      await provider.list!('read'),
    ];

    for (const result of results) expect(result).toEqual(failedWith('transient', new RegExp(CONNECTION_ENV)));
    expect(JSON.stringify(results)).not.toContain(GRANTOR_PASSWORD);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(GRANTOR_PASSWORD);
  });

  it('gives a permanent failure when the password is refused (28P01), without the password', async () => {
    const server = await startPasswordRefusingServer();
    try {
      const provider = newProvider({}, urlFor(grantor, GRANTOR_PASSWORD, `postgresql://127.0.0.1:${server.port}/x`));
      const result = await provider.grant(grantFor(roleName('nobody'), 'read'));
      expect(result).toEqual(failedWith('permanent', new RegExp(`credentials.*${CONNECTION_ENV}`)));
      expect(server.passwordsReceived).toEqual([GRANTOR_PASSWORD]);
      expect(JSON.stringify(result)).not.toContain(GRANTOR_PASSWORD);
    } finally {
      await server.close();
    }
  });

  it('gives a permanent failure for a grantor the target does not know (28000)', async () => {
    const provider = newProvider({}, urlFor(roleName('no_such_grantor'), GRANTOR_PASSWORD));
    const result = await provider.grant(grantFor(roleName('nobody'), 'read'));
    expect(result).toEqual(failedWith('permanent', /credentials/));
    expect(JSON.stringify(result)).not.toContain(GRANTOR_PASSWORD);
  });

  it('gives a permanent failure, with advice, for a grantor without ADMIN OPTION on the role', async () => {
    const weakGrantor = await createRole(roleName('grantor_noadmin'), 'LOGIN');
    const role = await createRole(roleName('noadmin_role'), 'NOLOGIN');
    const principal = await createRole(roleName('grace'), 'LOGIN');
    const provider = newProvider({}, urlFor(weakGrantor, GRANTOR_PASSWORD));
    const grant = grantFor(principal, role);

    const results = [await provider.grant(grant), await provider.revoke(grant)];

    for (const result of results) expect(result).toEqual(failedWith('permanent', /ADMIN OPTION/));
    expect(JSON.stringify(results)).not.toContain(GRANTOR_PASSWORD);
    expect(await adminHasRole(principal, role)).toBe(false);
  });

  it('names which name the target lacks: the role, or the user', async () => {
    const role = await createManagedRole(roleName('names_role'));
    const principal = await createRole(roleName('heidi'), 'LOGIN');
    const missingRole = roleName('no_such_role');
    const missingUser = roleName('no_such_user');
    const provider = newProvider();

    expect(await provider.grant(grantFor(principal, missingRole))).toEqual(
      failedWith('permanent', `database role "${missingRole}" does not exist on the target`),
    );
    expect(await provider.revoke(grantFor(principal, missingRole))).toEqual(
      failedWith('permanent', `database role "${missingRole}" does not exist on the target`),
    );
    expect(await provider.list!(missingRole)).toEqual(failedWith('permanent', `database role "${missingRole}" does not exist on the target`));
    expect(await provider.grant(grantFor(missingUser, role))).toEqual(
      failedWith('permanent', `database user "${missingUser}" does not exist on the target`),
    );
    // check says "no such user", not "no access": a wrong principal must not look like a revoked one.
    expect(await provider.check(grantFor(missingUser, role))).toEqual(
      failedWith('permanent', `database user "${missingUser}" does not exist on the target`),
    );
  });
});

describe('postgres: the roles mapping', () => {
  it('grants the database role the policy role maps to', async () => {
    const databaseRole = await createManagedRole(`app_readonly_${suffix}`);
    const principal = await createRole(roleName('ivan'), 'LOGIN');
    const provider = newProvider({ roles: { read: databaseRole } });
    const grant = grantFor(principal, 'read');

    expect(await provider.grant(grant)).toEqual(succeeded);
    expect(await adminHasRole(principal, databaseRole)).toBe(true);
    expect(await provider.check(grant)).toEqual({ ok: true, value: true });
    const listed = await provider.list!('read');
    expect(listed.ok && listed.value).toEqual([principal]);
    expect(await provider.revoke(grant)).toEqual(succeeded);
    expect(await adminHasRole(principal, databaseRole)).toBe(false);
    expect(await provider.check(grant)).toEqual({ ok: true, value: false });
  });
});

/**
 * A loopback server that speaks just enough of PostgreSQL's protocol to ask for a password and
 * refuse it with 28P01, as a server with password authentication does (the test server trusts
 * loopback, so it never refuses one).
 */
async function startPasswordRefusingServer(): Promise<{ port: number; passwordsReceived: string[]; close(): Promise<void> }> {
  const passwordsReceived: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    let startedUp = false;
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (!startedUp) {
          if (buffer.length < 8) return;
          const length = buffer.readInt32BE(0);
          if (buffer.length < length) return;
          const code = buffer.readInt32BE(4);
          buffer = buffer.subarray(length);
          if (code === 80877103) {
            socket.write('N'); // SSLRequest: no SSL here
            continue;
          }
          startedUp = true;
          socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])); // AuthenticationCleartextPassword
          continue;
        }
        if (buffer.length < 5) return;
        const length = buffer.readInt32BE(1);
        if (buffer.length < length + 1) return;
        if (buffer[0] === 0x70) {
          passwordsReceived.push(buffer.subarray(5, length).toString('utf8'));
          socket.end(errorResponse('28P01', 'password authentication failed for user "grantor"'));
        }
        buffer = buffer.subarray(length + 1);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    passwordsReceived,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}
