import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestScope } from '../../../src/domain/request-scope.ts';
import { dynamicLoginName } from '../../../src/providers/postgres/dynamic-login.ts';
import { createPostgresProvider } from '../../../src/providers/postgres/postgres-provider.ts';
import { rowScopesInstallSql } from '../../../src/providers/postgres/row-scopes.ts';
import { scopedRoleName } from '../../../src/providers/postgres/scoped-access.ts';
import type { AccessProvider, ProviderGrant } from '../../../src/providers/provider.ts';
import { PrivatePostgres } from '../../helpers/private-postgres.ts';

/**
 * Scoped grants through the postgres provider, on a real, password-checking PostgreSQL where a
 * DBA applied `latch scopes install`'s SQL: a support login granted customer 4711 reads 4711's
 * rows alone whatever role it switches to, and nothing once the grant's time is up, in a session
 * left open with no Latch call; a table grant opens that table alone; revocation takes
 * everything away without being told the scope, ends the sessions, and another grant of the same
 * login stays whole. Names shaped like SQL are refused, values shaped like SQL stay values.
 */

const PASSWORD = 'scoped-login-password-0123';
const INSTALLED_TABLES = ['public.orders', 'public.invoices', 'public.audit_log'];

let target: PrivatePostgres;
let admin: pg.Client;
let provider: AccessProvider;
const sessions: pg.Client[] = [];

const SETTINGS = {
  connectionStringEnv: 'SUPPORT_DB_URL',
  roles: { debug: 'support_read' },
  rowScopes: { customer: [{ table: 'public.orders', column: 'customer_id' }] },
  tableGrants: { scope: 'tables', tables: [...INSTALLED_TABLES, 'public.missing'], privileges: { read: ['SELECT'], write: ['SELECT', 'INSERT'] } },
  scopeValues: { customer: 'SELECT id::text FROM customers' },
};

function build(settings: Record<string, unknown>, database = 'postgres'): AccessProvider {
  const built = createPostgresProvider(settings, { SUPPORT_DB_URL: target.urlFor('latch_grantor', PASSWORD, database) });
  if (!built.ok) throw new Error(built.problems.join('; '));
  return built.provider;
}

async function connectAs(user: string, password = PASSWORD): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: target.urlFor(user, password) });
  // A session Latch ends reports it as an error event: expected here, and asserted through queries.
  client.on('error', () => undefined);
  await client.connect();
  sessions.push(client);
  return client;
}

const customersSeen = async (client: pg.Client) => (await client.query<{ customer_id: number }>('SELECT DISTINCT customer_id FROM orders ORDER BY 1')).rows.map((row) => row.customer_id);

function grantOf(scope: RequestScope | undefined, options: { role?: string; principal?: string; expiresInMs?: number; requestId?: string } = {}): ProviderGrant {
  const requestId = options.requestId ?? randomUUID();
  return {
    grantId: randomUUID(),
    requestId,
    resourceId: 'support-db',
    role: options.role ?? 'debug',
    principal: options.principal ?? 'support_alice',
    expiresAt: new Date(Date.now() + (options.expiresInMs ?? 3_600_000)),
    ...(scope ? { scope } : {}),
  };
}

/** What the target itself says is left of a request (by the admin, not the provider). */
async function leftOf(grant: ProviderGrant): Promise<{ role: boolean; rows: number }> {
  const { rows } = await admin.query<{ role: boolean; rows: number }>(
    `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS role, (SELECT count(*)::int FROM latch_scopes.grants WHERE request_id = $2::uuid) AS rows`,
    [scopedRoleName(grant.requestId), grant.requestId],
  );
  return rows[0]!;
}

async function expectOk<T>(result: Promise<{ ok: true; value: T } | { ok: false; failure: { message: string } }>): Promise<T> {
  const settled = await result;
  if (!settled.ok) throw new Error(`expected ok, got: ${settled.failure.message}`);
  return settled.value;
}

beforeAll(async () => {
  target = await PrivatePostgres.start();
  admin = new pg.Client({ connectionString: target.adminUrl });
  await admin.connect();
  await admin.query(`
    CREATE TABLE customers (id integer PRIMARY KEY);
    INSERT INTO customers VALUES (4711), (4712), (4713);
    CREATE TABLE orders (id serial PRIMARY KEY, customer_id integer NOT NULL, item text NOT NULL);
    INSERT INTO orders (customer_id, item) VALUES (4711, 'lamp'), (4711, 'desk'), (4712, 'chair'), (4713, 'sofa');
    CREATE TABLE invoices (id integer PRIMARY KEY, amount integer NOT NULL);
    INSERT INTO invoices VALUES (1, 100), (2, 250);
    CREATE TABLE audit_log (id integer);
    CREATE TABLE secrets (id integer);
    INSERT INTO secrets VALUES (1);
    CREATE ROLE support_read NOLOGIN;
    GRANT SELECT ON orders TO support_read;
    -- So a scoped login can leave something behind that its revocation must clean up.
    GRANT CREATE ON SCHEMA public TO support_read;
    CREATE ROLE latch_grantor LOGIN CREATEROLE PASSWORD '${PASSWORD}';
    GRANT support_read TO latch_grantor WITH ADMIN OPTION;
    GRANT pg_signal_backend TO latch_grantor;
    GRANT SELECT ON customers TO latch_grantor;
    GRANT SELECT, INSERT ON orders, invoices TO latch_grantor WITH GRANT OPTION;
    CREATE ROLE support_alice LOGIN PASSWORD '${PASSWORD}';
    CREATE ROLE support_bob LOGIN PASSWORD '${PASSWORD}';
  `);
  await admin.query(rowScopesInstallSql({ grantor: 'latch_grantor', columns: [{ scope: 'customer', table: 'public.orders', column: 'customer_id' }], tables: INSTALLED_TABLES }));
  provider = build(SETTINGS);
}, 60_000);

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end().catch(() => undefined)));
  await provider?.close?.();
  await admin?.end();
  await target?.stop();
});

describe('scoped grants on PostgreSQL', { timeout: 60_000 }, () => {
  it("shows the login only customer 4711's rows, whatever role it switches to; revocation takes it all away and ends its sessions", async () => {
    const grant = grantOf({ customer: ['4711'] });
    await expectOk(provider.grant(grant));
    await expectOk(provider.grant(grant));
    expect(await expectOk(provider.check(grant))).toBe(true);

    const alice = await connectAs('support_alice');
    expect(await customersSeen(alice)).toEqual([4711]);
    await alice.query('SET ROLE support_read');
    expect(await customersSeen(alice)).toEqual([4711]);
    await alice.query(`SET ROLE ${scopedRoleName(grant.requestId)}`);
    expect(await customersSeen(alice)).toEqual([4711]);
    await alice.query('RESET ROLE');
    expect(await customersSeen(alice)).toEqual([4711]);
    await alice.query('SET SESSION AUTHORIZATION DEFAULT');
    expect(await customersSeen(alice)).toEqual([4711]);
    // The role gives what support_read gives, nothing else.
    await expect(alice.query('SELECT * FROM secrets')).rejects.toThrow(/permission denied/);
    // Something made as the request's role goes with it.
    await alice.query(`SET ROLE ${scopedRoleName(grant.requestId)}`);
    await alice.query('CREATE TABLE scratch_4711 (id integer)');
    await alice.query('SET ROLE support_read');

    const since = new Date();
    // Revoked without being told the scope: it is found by the request id.
    const { scope: _told, ...untold } = grant;
    await expectOk(provider.revoke(untold));
    await expect(alice.query('SELECT 1')).rejects.toThrow();
    expect(await leftOf(grant)).toEqual({ role: false, rows: 0 });
    expect((await admin.query(`SELECT to_regclass('public.scratch_4711') AS left`)).rows).toEqual([{ left: null }]);
    expect(await expectOk(provider.verifyRevoked!(grant, since))).toEqual({ gone: true });
    expect(await expectOk(provider.check(grant))).toBe(false);
    const again = await connectAs('support_alice');
    await expect(again.query('SELECT * FROM orders')).rejects.toThrow(/permission denied/);
    // Retried revocations succeed.
    await expectOk(provider.revoke(grant));
    await expectOk(provider.revoke(untold));
  });

  it('stops honouring row and table grants at their expiry by itself, in sessions left open, with no Latch call', async () => {
    const rows = grantOf({ customer: ['4711'] }, { expiresInMs: 5_000 });
    const table = grantOf({ tables: ['public.invoices'] }, { role: 'read', principal: 'support_bob', expiresInMs: 5_000 });
    await expectOk(provider.grant(rows));
    await expectOk(provider.grant(table));
    const alice = await connectAs('support_alice');
    const bob = await connectAs('support_bob');
    expect(await customersSeen(alice)).toEqual([4711]);
    expect((await bob.query('SELECT id FROM invoices ORDER BY 1')).rows).toEqual([{ id: 1 }, { id: 2 }]);

    const expiry = Math.max(rows.expiresAt.getTime(), table.expiresAt.getTime());
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiry - Date.now()) + 500));
    // Nothing ran against the target since: the database alone decides.
    expect(await customersSeen(alice)).toEqual([]);
    expect((await bob.query('SELECT id FROM invoices')).rows).toEqual([]);
    await bob.query('SET ROLE NONE');
    expect((await bob.query('SELECT id FROM invoices')).rows).toEqual([]);

    await expectOk(provider.revoke(rows));
    await expectOk(provider.revoke(table));
    expect(await leftOf(rows)).toEqual({ role: false, rows: 0 });
    expect(await leftOf(table)).toEqual({ role: false, rows: 0 });
  });

  it('grants SELECT on the named table alone; another table is refused; revoked, refused again', async () => {
    const grant = grantOf({ tables: ['public.invoices'] }, { role: 'read', principal: 'support_bob' });
    const bob = await connectAs('support_bob');
    await expect(bob.query('SELECT * FROM invoices')).rejects.toThrow(/permission denied/);
    await expectOk(provider.grant(grant));
    expect((await bob.query('SELECT amount FROM invoices ORDER BY id')).rows).toEqual([{ amount: 100 }, { amount: 250 }]);
    await expect(bob.query('INSERT INTO invoices VALUES (3, 1)')).rejects.toThrow(/permission denied/);
    await expect(bob.query('SELECT * FROM orders')).rejects.toThrow(/permission denied/);
    await expect(bob.query('SELECT * FROM secrets')).rejects.toThrow(/permission denied/);
    // The request's role holds that one privilege, on that one table.
    const { rows: [roleRow] } = await admin.query<{ privileges: string[] }>(
      `SELECT array(SELECT privilege_type::text FROM information_schema.role_table_grants WHERE grantee = $1 ORDER BY 1) AS privileges`,
      [scopedRoleName(grant.requestId)],
    );
    expect(roleRow!.privileges).toEqual(['SELECT']);

    // A table grant of a row-scoped table is not a row scope: every row of it, while it lasts.
    const orders = grantOf({ tables: ['public.orders'] }, { role: 'read', principal: 'support_bob' });
    await expectOk(provider.grant(orders));
    expect(await customersSeen(bob)).toEqual([4711, 4712, 4713]);
    await expectOk(provider.revoke(orders));

    const since = new Date();
    await expectOk(provider.revoke(grant));
    expect(await expectOk(provider.verifyRevoked!(grant, since))).toEqual({ gone: true });
    const fresh = await connectAs('support_bob');
    await expect(fresh.query('SELECT * FROM invoices')).rejects.toThrow(/permission denied/);
    expect(await leftOf(grant)).toEqual({ role: false, rows: 0 });
  });

  it('keeps one scoped grant whole when another of the same login is revoked', async () => {
    const first = grantOf({ customer: ['4711'] });
    const second = grantOf({ customer: ['4712'] });
    await expectOk(provider.grant(first));
    await expectOk(provider.grant(second));
    expect(await customersSeen(await connectAs('support_alice'))).toEqual([4711, 4712]);

    await expectOk(provider.revoke(first));
    expect(await customersSeen(await connectAs('support_alice'))).toEqual([4712]);
    expect(await expectOk(provider.check(second))).toBe(true);
    expect(await leftOf(second)).toEqual({ role: true, rows: 1 });
    await expectOk(provider.revoke(second));
  });

  it('refuses a table name shaped like SQL, and keeps a value shaped like SQL a value', async () => {
    const injected = grantOf({ tables: ['public.invoices; DROP TABLE secrets'] }, { role: 'read', principal: 'support_bob' });
    const refused = await provider.grant(injected);
    expect(refused).toEqual({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('is not one of the tables this resource grants') } });
    expect(await provider.checkScope!('read', { tables: ['public."invoices"'] })).toMatchObject({ ok: false, failure: { kind: 'permanent' } });
    expect(await leftOf(injected)).toEqual({ role: false, rows: 0 });
    expect((await admin.query('SELECT count(*)::int AS n FROM secrets')).rows).toEqual([{ n: 1 }]);

    // Bound as a parameter to the scopeValues query, it is simply not a customer: refused.
    const value = grantOf({ customer: ["4711' OR '1'='1"] });
    expect(await provider.grant(value)).toEqual({ ok: false, failure: { kind: 'permanent', message: `Latch refused the scoped grant: customer "4711' OR '1'='1" is not one of the values this resource allows for customer` } });
    expect(await leftOf(value)).toEqual({ role: false, rows: 0 });
    // Without that bound, it is granted as the value it is, and matches no row.
    const { scopeValues: _bound, ...unbounded } = SETTINGS;
    const loose = build(unbounded);
    try {
      await expectOk(loose.grant(value));
      expect(await customersSeen(await connectAs('support_alice'))).toEqual([]);
      await expectOk(loose.revoke(value));
    } finally {
      await loose.close?.();
    }
  });

  it('says, before anything is granted, why a scope cannot be', async () => {
    expect(await provider.checkScope!('debug', { customer: ['4711', '4712'] })).toEqual({ ok: true, value: undefined });
    expect(await provider.checkScope!('read', { tables: ['public.invoices'] })).toEqual({ ok: true, value: undefined });
    const refusal = async (role: string, scope: RequestScope) => {
      const result = await provider.checkScope!(role, scope);
      if (result.ok) throw new Error('expected a refusal');
      expect(result.failure.kind).toBe('permanent');
      return result.failure.message;
    };
    expect(await refusal('debug', { customer: ['4711', '9999'] })).toBe('customer "9999" is not one of the values this resource allows for customer');
    expect(await refusal('debug', { region: ['eu'] })).toBe('"region" is not a scope of this resource (it has customer, tables)');
    expect(await refusal('read', { tables: ['public.secrets'] })).toContain('"public.secrets" is not one of the tables this resource grants');
    expect(await refusal('read', { tables: ['public.missing'] })).toContain('table public.missing does not exist');
    expect(await refusal('read', { tables: ['public.audit_log'] })).toContain('the grantor cannot grant SELECT on table public.audit_log (it needs them WITH GRANT OPTION)');
    expect(await refusal('debug', { tables: ['public.invoices'] })).toContain('role debug grants no table privileges here');
    // An install from before table grants (its scoped() counts their rows) is asked to be applied again.
    await admin.query(`CREATE OR REPLACE FUNCTION latch_scopes.scoped() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
      AS $$ SELECT EXISTS (SELECT 1 FROM latch_scopes.grants WHERE login = session_user) $$`);
    expect(await refusal('read', { tables: ['public.invoices'] })).toContain('latch_scopes.scoped() function predates table grants');
    await admin.query(rowScopesInstallSql({ grantor: 'latch_grantor', columns: [{ scope: 'customer', table: 'public.orders', column: 'customer_id' }], tables: INSTALLED_TABLES }));
    expect(await provider.checkScope!('read', { tables: ['public.invoices'] })).toEqual({ ok: true, value: undefined });

    // A bound whose query the target cannot run refuses, and says who must fix what.
    const broken = build({ ...SETTINGS, scopeValues: { customer: 'SELECT id::text FROM no_such_table' } });
    try {
      expect(await broken.checkScope!('debug', { customer: ['4711'] })).toEqual({
        ok: false,
        failure: { kind: 'permanent', message: expect.stringMatching(/^Latch cannot check the customer values: .*SQLSTATE 42P01.*fix settings\.scopeValues\.customer$/) },
      });
    } finally {
      await broken.close?.();
    }

    // A target where the DBA has not applied the install yet.
    await admin.query('CREATE DATABASE bare');
    const bare = build(SETTINGS, 'bare');
    try {
      expect(await bare.checkScope!('debug', { customer: ['4711'] })).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('latch_scopes schema is not installed') } });
      expect(await bare.grant(grantOf({ customer: ['4711'] }))).toMatchObject({ ok: false, failure: { kind: 'permanent', message: expect.stringContaining('latch scopes install') } });
    } finally {
      await bare.close?.();
    }
  });

  it('lists what scoped grants made, for the standing-access scan, and nothing once revoked', async () => {
    const grant = grantOf({ customer: ['4713'] });
    await expectOk(provider.grant(grant));
    const listed = await expectOk(provider.listScopedAccess!());
    expect(listed).toEqual(
      expect.arrayContaining([
        { requestId: grant.requestId, login: 'support_alice', what: `role ${scopedRoleName(grant.requestId)} (a database role)` },
        { requestId: grant.requestId, login: 'support_alice', what: 'scope rows (customer)' },
      ]),
    );
    // The request's role is not a holder of support_read that Latch did not grant.
    expect(await expectOk(provider.list!('debug'))).not.toContain(scopedRoleName(grant.requestId));
    await expectOk(provider.revoke(grant));
    expect((await expectOk(provider.listScopedAccess!())).filter((found) => found.requestId === grant.requestId)).toEqual([]);
  });

  it('scopes a login of its own (credentials: dynamic), keyed on that login, and drops it all at revocation', async () => {
    const dynamic = build({ ...SETTINGS, credentials: 'dynamic' });
    try {
      const requestId = randomUUID();
      const grant = grantOf({ customer: ['4712'] }, { requestId, principal: dynamicLoginName(requestId) });
      await expectOk(dynamic.grant(grant));
      const issued = await expectOk(dynamic.issueCredentials!(grant));
      const login = await connectAs(issued.user, issued.password);
      expect(await customersSeen(login)).toEqual([4712]);
      await login.query('SET ROLE support_read');
      expect(await customersSeen(login)).toEqual([4712]);

      const since = new Date();
      await expectOk(dynamic.revoke(grant));
      await expect(login.query('SELECT 1')).rejects.toThrow();
      expect(await leftOf(grant)).toEqual({ role: false, rows: 0 });
      expect((await admin.query('SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1', [grant.principal])).rows).toEqual([{ n: 0 }]);
      expect(await expectOk(dynamic.verifyRevoked!(grant, since))).toEqual({ gone: true });
      await expectOk(dynamic.revoke(grant));
    } finally {
      await dynamic.close?.();
    }
  });
});
