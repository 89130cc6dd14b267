import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeScopeRows, rowScopesInstallSql, rowScopesProblems, scopedColumnProblem, writeScopeRows, type ScopedColumn } from '../../../src/providers/postgres/row-scopes.ts';
import { PrivatePostgres } from '../../helpers/private-postgres.ts';

/**
 * Row-level scopes on a real, password-checking PostgreSQL: after the DBA applies the install SQL,
 * a support login granted customer 4711 for a few seconds reads 4711's rows and none of 4712's,
 * whatever role it switches to, and none at all once the time is up, in the session it kept open,
 * with nothing else running (the database alone enforces it). The application's own role keeps
 * seeing every row. Values are bound parameters: a value shaped like SQL is only a value.
 */

const COLUMNS: ScopedColumn[] = [{ scope: 'customer', table: 'public.orders', column: 'customer_id' }];
const PASSWORD = 'scoped-login-password-0123';
const REQUEST = '01930000-0000-7000-8000-000000000001';
const OTHER_REQUEST = '01930000-0000-7000-8000-000000000002';

let target: PrivatePostgres;
let admin: pg.Client;
let grantor: pg.Client;
const sessions: pg.Client[] = [];

async function connectAs(user: string, password = PASSWORD): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: target.urlFor(user, password) });
  await client.connect();
  sessions.push(client);
  return client;
}

const customersSeen = async (client: pg.Client) => (await client.query<{ customer_id: number }>('SELECT DISTINCT customer_id FROM orders ORDER BY 1')).rows.map((row) => row.customer_id);

beforeAll(async () => {
  target = await PrivatePostgres.start();
  admin = new pg.Client({ connectionString: target.adminUrl });
  await admin.connect();
  await admin.query(`
    CREATE TABLE orders (id serial PRIMARY KEY, customer_id integer NOT NULL, item text NOT NULL);
    INSERT INTO orders (customer_id, item) VALUES (4711, 'lamp'), (4711, 'desk'), (4712, 'chair'), (4713, 'sofa');
    CREATE ROLE support_read NOLOGIN;
    GRANT SELECT ON orders TO support_read;
    CREATE ROLE app_service LOGIN PASSWORD '${PASSWORD}';
    GRANT SELECT, INSERT ON orders TO app_service;
    GRANT USAGE ON SEQUENCE orders_id_seq TO app_service;
    CREATE ROLE latch_grantor LOGIN CREATEROLE PASSWORD '${PASSWORD}';
    CREATE ROLE support_alice LOGIN PASSWORD '${PASSWORD}';
    GRANT support_read TO support_alice;
  `);
  grantor = await connectAs('latch_grantor');
}, 60_000);

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end().catch(() => undefined)));
  await admin?.end();
  await target?.stop();
});

describe('row-level scopes on PostgreSQL', { timeout: 60_000 }, () => {
  it('reports what is missing before the DBA installs, and nothing after', async () => {
    expect(await rowScopesProblems(grantor, COLUMNS)).toEqual([expect.stringContaining('latch_scopes schema is not installed')]);
    await admin.query(rowScopesInstallSql({ grantor: 'latch_grantor', columns: COLUMNS }));
    // Applying it twice changes nothing.
    await admin.query(rowScopesInstallSql({ grantor: 'latch_grantor', columns: COLUMNS }));
    expect(await rowScopesProblems(grantor, COLUMNS)).toEqual([]);
    expect(await rowScopesProblems(grantor, [{ scope: 'customer', table: 'public.invoices', column: 'customer_id' }, { scope: 'customer', table: 'orders', column: 'tenant' }])).toEqual([
      'table public.invoices does not exist',
      'table orders has no column tenant',
    ]);
  });

  it("shows a scoped login only its customer's rows, whatever role it switches to; the application sees all", async () => {
    const alice = await connectAs('support_alice');
    // Not scoped yet: the role it holds reads every row, as before the install.
    expect(await customersSeen(alice)).toEqual([4711, 4712, 4713]);

    await writeScopeRows(grantor, { login: 'support_alice', requestId: REQUEST, expiresAt: new Date(Date.now() + 4_000), values: { customer: ['4711'] } });
    expect(await customersSeen(alice)).toEqual([4711]);
    await alice.query('SET ROLE support_read');
    expect(await customersSeen(alice)).toEqual([4711]);
    await alice.query('RESET ROLE');
    expect(await customersSeen(alice)).toEqual([4711]);
    await alice.query('SET SESSION AUTHORIZATION DEFAULT');
    expect(await customersSeen(alice)).toEqual([4711]);

    // Nor can it widen its own scope, or read whose scopes exist.
    await expect(alice.query(`INSERT INTO latch_scopes.grants VALUES ('support_alice', 'customer', '4712', '${OTHER_REQUEST}', now() + interval '1 day')`)).rejects.toThrow(/permission denied/);
    await expect(alice.query('SELECT * FROM latch_scopes.grants')).rejects.toThrow(/permission denied/);

    const app = await connectAs('app_service');
    expect(await customersSeen(app)).toEqual([4711, 4712, 4713]);
    await app.query("INSERT INTO orders (customer_id, item) VALUES (4714, 'rug')");
    expect(await customersSeen(app)).toEqual([4711, 4712, 4713, 4714]);
  });

  it('stops honouring the scope at its expiry by itself, in a session that stayed open, with nothing else running', async () => {
    const alice = sessions.find((session) => (session as unknown as { user: string }).user === 'support_alice')!;
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    // The grantor never ran again: the database alone decided. Expired rows still mark the login as scoped.
    expect(await customersSeen(alice)).toEqual([]);
    const fresh = await connectAs('support_alice');
    expect(await customersSeen(fresh)).toEqual([]);
  });

  it('keeps a login’s other grants when one request’s rows go, and takes a value shaped like SQL as a value', async () => {
    const alice = await connectAs('support_alice');
    await writeScopeRows(grantor, { login: 'support_alice', requestId: OTHER_REQUEST, expiresAt: new Date(Date.now() + 60_000), values: { customer: ['4712', "4713' OR '1'='1"] } });
    expect(await customersSeen(alice)).toEqual([4712]);
    expect(await removeScopeRows(grantor, { login: 'support_alice', requestId: REQUEST })).toBe(1);
    expect(await customersSeen(alice)).toEqual([4712]);
    expect(await removeScopeRows(grantor, { login: 'support_alice', requestId: OTHER_REQUEST })).toBe(2);
  });

  it('refuses to write SQL for names that are not plain identifiers', () => {
    expect(scopedColumnProblem({ scope: 'customer', table: 'public.orders', column: 'customer_id' })).toBeNull();
    expect(scopedColumnProblem({ scope: 'customer', table: 'orders; DROP TABLE x', column: 'id' })).toMatch(/table/);
    expect(scopedColumnProblem({ scope: 'customer', table: 'orders', column: 'id"--' })).toMatch(/column/);
    expect(scopedColumnProblem({ scope: "c'", table: 'orders', column: 'id' })).toMatch(/scope/);
    expect(() => rowScopesInstallSql({ grantor: 'g', columns: [{ scope: 'customer', table: 'a.b.c', column: 'id' }] })).toThrow(/table/);
  });
});
