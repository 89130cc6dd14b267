import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlProvider } from '../../../src/providers/mysql/mysql-provider.ts';
import type { AccessProvider, ProviderGrant, ProviderGuard } from '../../../src/providers/provider.ts';
import { freePort } from '../../helpers/free-port.ts';
import { createMariadbGrantor, GRANTOR_PASSWORD, GRANTOR_USER } from '../../helpers/mariadb-grantor.ts';
import { PrivateMariadb } from '../../helpers/private-mariadb.ts';

/**
 * The mysql provider against a real MariaDB server of this file's own (Debian's 10.11): what the
 * contract suite does not cover. The grantor holds only what src/providers/mysql/README.md asks for.
 */

const CONNECTION_ENV = 'LATCH_TEST_MYSQL_GRANTOR_URL';
const USER_PASSWORD = 'user-password';
const ROLE = 'orders_read';
const OTHER_ROLE = 'orders_write';

let server: PrivateMariadb;
let admin: mysql.Connection;
let grantorUrl: string;
const providers: AccessProvider[] = [];
const sessions: mysql.Connection[] = [];

function providerWith(settings: Record<string, unknown> = {}, env: Record<string, string> = { [CONNECTION_ENV]: grantorUrl }, guard?: ProviderGuard): AccessProvider {
  const built = createMysqlProvider({ dialect: 'mariadb', connectionStringEnv: CONNECTION_ENV, ...settings }, env, { guard });
  if (!built.ok) throw new Error(built.problems.join('; '));
  providers.push(built.provider);
  return built.provider;
}

const grantFor = (principal: string, role = ROLE): ProviderGrant => ({
  grantId: randomUUID(),
  requestId: randomUUID(),
  resourceId: 'orders-db',
  role,
  principal,
  expiresAt: new Date(Date.now() + 3_600_000),
});

async function createAccount(user: string, privileges?: string): Promise<string> {
  await admin.query('CREATE USER ?@? IDENTIFIED BY ?', [user, '%', USER_PASSWORD]);
  if (privileges) await admin.query(`GRANT ${privileges} ON *.* TO ?@?`, [user, '%']);
  return user;
}

/** A login as `user`, as a person would open one: the default role is active, no SET ROLE. */
async function sessionOf(user: string): Promise<mysql.Connection> {
  const session = await mysql.createConnection(server.url(user, USER_PASSWORD));
  session.on('error', () => undefined);
  sessions.push(session);
  return session;
}

async function readsOrders(session: mysql.Connection): Promise<boolean> {
  try {
    await session.query('SELECT count(*) AS n FROM orders.items');
    return true;
  } catch {
    return false;
  }
}

async function holds(user: string, role = ROLE): Promise<boolean> {
  const [rows] = await admin.query('SELECT 1 FROM mysql.roles_mapping WHERE User = ? AND Host = ? AND Role = ?', [user, '%', role]);
  return (rows as unknown[]).length > 0;
}

async function defaultRoleOf(user: string): Promise<string> {
  const [rows] = await admin.query('SELECT default_role AS role FROM mysql.user WHERE User = ? AND Host = ?', [user, '%']);
  return (rows as Array<{ role: string }>)[0]?.role ?? '';
}

beforeAll(async () => {
  server = await PrivateMariadb.start();
  admin = await server.admin();
  await admin.query('CREATE DATABASE orders');
  await admin.query('CREATE TABLE orders.items (id INT PRIMARY KEY)');
  await admin.query('INSERT INTO orders.items VALUES (1), (2)');
  await admin.query(`CREATE ROLE ${ROLE}`);
  await admin.query(`GRANT SELECT ON orders.* TO ${ROLE}`);
  await admin.query(`CREATE ROLE ${OTHER_ROLE}`);
  await admin.query(`GRANT SELECT, INSERT ON orders.* TO ${OTHER_ROLE}`);
  grantorUrl = await createMariadbGrantor(server, admin, [ROLE, OTHER_ROLE]);
  // Initialising a data directory takes seconds when the machine is idle, far longer when it is not.
}, 180_000);

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end().catch(() => undefined)));
  await Promise.all(providers.map((provider) => provider.close?.()));
  await admin?.end();
  await server?.stop();
});

describe('mysql provider on MariaDB: sessions and default roles', () => {
  it('makes the role the default role, so a fresh login reads the table without SET ROLE', async () => {
    const user = await createAccount('dora');
    const provider = providerWith();
    expect(await readsOrders(await sessionOf(user))).toBe(false);
    expect(await provider.grant(grantFor(user))).toEqual({ ok: true, value: undefined });
    expect(await defaultRoleOf(user)).toBe(ROLE);
    expect(await readsOrders(await sessionOf(user))).toBe(true);
    expect((await provider.revoke(grantFor(user))).ok).toBe(true);
    expect(await defaultRoleOf(user)).toBe('');
    expect(await readsOrders(await sessionOf(user))).toBe(false);
  });

  it('ends an open session at revocation: the session that read the table can no longer', async () => {
    const user = await createAccount('erin');
    const provider = providerWith();
    await provider.grant(grantFor(user));
    const open = await sessionOf(user);
    expect(await readsOrders(open)).toBe(true);
    expect(await provider.revoke(grantFor(user))).toEqual({ ok: true, value: undefined });
    expect(await holds(user)).toBe(false);
    expect(await readsOrders(open)).toBe(false);
    const [rows] = await admin.query('SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?', [user]);
    expect((rows as Array<{ n: number }>)[0]?.n).toBe(0);
  });

  it('without terminateSessions an open session keeps the revoked role: why the provider ends them', async () => {
    const user = await createAccount('fred');
    const provider = providerWith({ terminateSessions: false });
    await provider.grant(grantFor(user));
    const open = await sessionOf(user);
    expect((await provider.revoke(grantFor(user))).ok).toBe(true);
    expect(await holds(user)).toBe(false);
    expect(await readsOrders(open)).toBe(true);
    expect(await readsOrders(await sessionOf(user))).toBe(false);
  });

  it('keeps one default role, as MariaDB does: a second grant replaces it, and revoking the first leaves the second', async () => {
    const user = await createAccount('gina');
    const provider = providerWith({ roles: { write: OTHER_ROLE } });
    await provider.grant(grantFor(user));
    await provider.grant(grantFor(user, 'write'));
    expect(await defaultRoleOf(user)).toBe(OTHER_ROLE);
    expect((await provider.revoke(grantFor(user))).ok).toBe(true);
    expect(await defaultRoleOf(user)).toBe(OTHER_ROLE);
    expect(await holds(user, OTHER_ROLE)).toBe(true);
    expect((await provider.revoke(grantFor(user, 'write'))).ok).toBe(true);
    expect(await defaultRoleOf(user)).toBe('');
  });

  it('lists holders on other hosts as user@host, and leaves the grantor out', async () => {
    await admin.query('CREATE USER ?@? IDENTIFIED BY ?', ['hank', '10.0.0.%', USER_PASSWORD]);
    await admin.query(`GRANT ${ROLE} TO ?@?`, ['hank', '10.0.0.%']);
    const listed = await providerWith().list!(ROLE);
    expect(listed.ok && listed.value).toContain('hank@10.0.0.%');
    expect(listed.ok && listed.value).not.toContain(GRANTOR_USER);
  });
});

describe('mysql provider on MariaDB: accounts it never changes', () => {
  it('refuses the grantor, root, administrators, roles and permanent holders, and changes nothing', async () => {
    const admin1 = await createAccount('ivan', 'CREATE USER');
    const keeper = await createAccount('svc_orders');
    const guard: ProviderGuard = { permanentHolders: ['svc_orders'], peers: [] };
    const provider = providerWith({}, undefined, guard);
    const refusals: Array<[string, RegExp]> = [
      [GRANTOR_USER, /the grantor/],
      ['root', /reserves/],
      [admin1, /administers accounts/],
      [OTHER_ROLE, /a role/],
      [keeper, /permanentHolders/],
    ];
    for (const [principal, why] of refusals) {
      const before = await holds(principal);
      expect(await provider.grant(grantFor(principal))).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringMatching(why) } });
      expect(await provider.checkPrincipal!(principal, ROLE)).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringMatching(why) } });
      expect(await holds(principal)).toBe(before);
    }
    // The grantor's own ADMIN OPTION is never taken by a revoke naming it.
    expect((await provider.revoke(grantFor(GRANTOR_USER))).ok).toBe(false);
    expect(await holds(GRANTOR_USER)).toBe(true);
    await admin.query(`GRANT ${ROLE} TO ?@?`, [keeper, '%']);
    expect(await provider.revoke(grantFor(keeper))).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('nothing was changed') } });
    expect(await holds(keeper)).toBe(true);
    expect(await provider.checkPrincipal!(await createAccount('jane'), ROLE)).toEqual({ ok: true, value: undefined });
  });

  it('sends a hostile name as one quoted identifier: no second statement runs', async () => {
    const hostile = 'x` TO `root`@`%`; DROP USER `root`@`localhost`; -- ';
    const result = await providerWith().grant(grantFor(hostile));
    expect(result).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('does not exist on the target') } });
    const [rows] = await admin.query("SELECT 1 FROM mysql.user WHERE User = 'root' AND Host = 'localhost'");
    expect((rows as unknown[]).length).toBe(1);
  });
});

describe('mysql provider on MariaDB: failures', () => {
  it('a missing account fails the grant permanently, naming it; revoking from it succeeds', async () => {
    const provider = providerWith();
    expect(await provider.grant(grantFor('nobody_here'))).toEqual({
      ok: false,
      failure: { kind: 'permanent', message: 'account "nobody_here" does not exist on the target (error 1133)' },
    });
    expect(await provider.revoke(grantFor('nobody_here'))).toEqual({ ok: true, value: undefined });
  });

  it('refused credentials are permanent, and the password never reaches the message', async () => {
    const wrong = grantorUrl.replace(encodeURIComponent(GRANTOR_PASSWORD), 'Wrong-Pa55word-also-secret');
    const result = await providerWith({}, { [CONNECTION_ENV]: wrong }).check(grantFor('dora'));
    expect(result).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining("refused the grantor's credentials") } });
    expect(JSON.stringify(result)).not.toMatch(/Pa55word/);
  });

  it('a server that does not answer is transient', async () => {
    const closed = `mysql://${GRANTOR_USER}:${encodeURIComponent(GRANTOR_PASSWORD)}@127.0.0.1:${await freePort()}/`;
    const result = await providerWith({}, { [CONNECTION_ENV]: closed }).grant(grantFor('dora'));
    expect(result).toMatchObject({ ok: false, failure: { kind: 'transient', message: expect.stringContaining('cannot reach') } });
    expect(JSON.stringify(result)).not.toMatch(/Pa55word/);
  });

  it('survives the server ending its idle connections: the next call works', async () => {
    const user = await createAccount('mona');
    const provider = providerWith();
    expect((await provider.grant(grantFor(user))).ok).toBe(true);
    const [rows] = await admin.query('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [GRANTOR_USER]);
    for (const { id } of rows as Array<{ id: number }>) await admin.query(`KILL CONNECTION ${Number(id)}`);
    const after = await provider.check(grantFor(user));
    // The pool may hand out a connection it has not yet seen die: one transient failure at most.
    const retried = after.ok ? after : await provider.check(grantFor(user));
    expect(retried).toEqual({ ok: true, value: true });
    expect((await provider.revoke(grantFor(user))).ok).toBe(true);
  });

  it('a grantor without ADMIN OPTION on the role fails permanently', async () => {
    await admin.query('CREATE ROLE billing_read');
    const user = await createAccount('kate');
    const result = await providerWith({ roles: { billing: 'billing_read' } }).grant(grantFor(user, 'billing'));
    expect(result).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('lacks a privilege') } });
    expect(await holds(user, 'billing_read')).toBe(false);
  });

  it('a grantor that cannot see other accounts’ connections fails the revoke permanently rather than kill nothing', async () => {
    const user = await createAccount('liam');
    await providerWith().grant(grantFor(user));
    await admin.query('REVOKE PROCESS ON *.* FROM ?@?', [GRANTOR_USER, '%']);
    try {
      const result = await providerWith().revoke(grantFor(user));
      expect(result).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('PROCESS') } });
      expect(await holds(user)).toBe(false);
    } finally {
      await admin.query('GRANT PROCESS ON *.* TO ?@?', [GRANTOR_USER, '%']);
    }
  });
});
