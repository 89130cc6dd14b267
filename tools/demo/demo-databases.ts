import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../src/logging/logger.ts';
import { grantAppRole } from '../../src/store/app-role.ts';
import { migrateDatabase } from '../../src/store/migrate.ts';
import { rowScopesInstallSql } from '../../src/providers/postgres/row-scopes.ts';
import { databaseLoginOf, REQUESTER, SECURITY_LEAD } from './demo-cast.ts';
import type { DemoNames } from './demo-names.ts';

/** The customer the support story asks for; the orders table has others that stay hidden. */
export const DEMO_CUSTOMER = 4711;
/** The column the `customer` scope narrows. */
export const DEMO_SCOPED_COLUMN = { scope: 'customer', table: 'public.orders', column: 'customer_id' } as const;

/** People who get a login on the analytics database: those who may hold its role. */
const LOGIN_HOLDERS = [REQUESTER, SECURITY_LEAD];

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export function withUser(url: string, user: string, password = ''): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password;
  return parsed.toString();
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, migrated Latch database: each demo starts with no requests, so what the page shows is
 * what the person just did. Split as the README says to run Latch: the superuser migrates (and
 * owns the tables), and Latch gets the URL of the app role, which holds only what
 * prisma/app-role.sql grants, so even the demo's Latch cannot switch off the audit triggers.
 */
export async function resetLatchDatabase(adminUrl: string, names: DemoNames, logger: Logger): Promise<string> {
  // A password, though the demo's server trusts loopback: the URL works on a server that does not.
  const password = randomBytes(12).toString('hex');
  await withClient(adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${ident(names.latchDatabase)} WITH (FORCE)`);
    await client.query(`DROP ROLE IF EXISTS ${ident(names.appRole)}`);
    await client.query(`CREATE DATABASE ${ident(names.latchDatabase)}`);
    await client.query(`CREATE ROLE ${ident(names.appRole)} LOGIN PASSWORD '${password}'`);
  });
  const ownerUrl = withDatabase(adminUrl, names.latchDatabase);
  await migrateDatabase({ databaseUrl: ownerUrl, logger });
  await grantAppRole(ownerUrl, names.appRole);
  return withUser(ownerUrl, names.appRole, password);
}

export interface AnalyticsDatabase {
  /** The grantor's connection string: what the policy's connectionStringEnv holds. */
  grantorUrl: string;
  /** A superuser connection to the analytics database, for reading memberships. */
  adminUrl: string;
  /** Database logins of the people who may hold the role. */
  logins: string[];
}

/**
 * The target of the demo's grants, made as a DBA would (see src/providers/postgres/README.md): a
 * database with a revenue table, the role `readRole` that may SELECT it and nothing else, a login
 * for each person who may hold it (named by the policy's identity template), and a grantor role
 * that is not a superuser: ADMIN OPTION on readRole and supportRole, CREATEROLE for the per-request
 * roles of scoped grants, and pg_signal_backend to end sessions at revoke. The orders table has
 * Latch's row-level scopes installed, as `latch scopes install` prints them. Everything from an
 * earlier run is dropped first, memberships and a stopped demo's per-request roles included.
 */
export async function resetAnalyticsDatabase(adminUrl: string, names: DemoNames): Promise<AnalyticsDatabase> {
  const logins = LOGIN_HOLDERS.map((person) => databaseLoginOf(person, names.suffix));
  await withClient(adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${ident(names.targetDatabase)} WITH (FORCE)`);
    await dropScopedRolesOf(client, logins);
    for (const role of [...logins, names.grantorRole, names.readRole, names.supportRole]) await client.query(`DROP ROLE IF EXISTS ${ident(role)}`);
    await client.query(`CREATE DATABASE ${ident(names.targetDatabase)}`);
    await client.query(`CREATE ROLE ${ident(names.readRole)} NOLOGIN`);
    await client.query(`CREATE ROLE ${ident(names.supportRole)} NOLOGIN`);
    for (const login of logins) await client.query(`CREATE ROLE ${ident(login)} LOGIN`);
    // CREATEROLE: a scoped grant (the support story) is a role of its own per request, which the
    // grantor creates and drops (src/providers/postgres/README.md, scoped grants).
    await client.query(`CREATE ROLE ${ident(names.grantorRole)} LOGIN CREATEROLE`);
    await client.query(`GRANT ${ident(names.readRole)} TO ${ident(names.grantorRole)} WITH ADMIN OPTION`);
    await client.query(`GRANT ${ident(names.supportRole)} TO ${ident(names.grantorRole)} WITH ADMIN OPTION`);
    await client.query(`GRANT pg_signal_backend TO ${ident(names.grantorRole)}`);
  });
  const targetAdminUrl = withDatabase(adminUrl, names.targetDatabase);
  await withClient(targetAdminUrl, async (client) => {
    await client.query(`CREATE TABLE revenue (month date PRIMARY KEY, region text NOT NULL, amount_eur numeric(12, 2) NOT NULL)`);
    await client.query(`INSERT INTO revenue VALUES ('2026-09-01', 'EMEA', 182000), ('2026-10-01', 'EMEA', 194500), ('2026-11-01', 'EMEA', 201250)`);
    await client.query(`REVOKE ALL ON revenue FROM PUBLIC`);
    await client.query(`GRANT SELECT ON revenue TO ${ident(names.readRole)}`);
    // The support story: orders of several customers, and a role that reads them all, which Latch
    // lends narrowed to the customers asked for, through the row-level scopes a DBA installs once.
    await client.query(`CREATE TABLE orders (id serial PRIMARY KEY, customer_id integer NOT NULL, item text NOT NULL, total_eur numeric(10, 2) NOT NULL)`);
    await client.query(
      `INSERT INTO orders (customer_id, item, total_eur) VALUES (${DEMO_CUSTOMER}, 'Standing desk', 489), (${DEMO_CUSTOMER}, 'Desk lamp', 39.90), (4712, 'Office chair', 329), (4713, 'Monitor arm', 119)`,
    );
    await client.query(`REVOKE ALL ON orders FROM PUBLIC`);
    await client.query(`GRANT SELECT ON orders TO ${ident(names.supportRole)}`);
    await client.query(rowScopesInstallSql({ grantor: names.grantorRole, columns: [DEMO_SCOPED_COLUMN] }));
  });
  return { grantorUrl: withUser(targetAdminUrl, names.grantorRole), adminUrl: targetAdminUrl, logins };
}

/**
 * The per-request roles of scoped grants (latch_s_…) whose members are these logins: roles are
 * cluster-wide, so a demo stopped while a scoped grant was active leaves one behind once its
 * database is dropped. Others' (a test's, another demo's) are left alone.
 */
async function dropScopedRolesOf(client: pg.Client, logins: string[]): Promise<void> {
  const { rows } = await client.query<{ role: string }>(
    `SELECT DISTINCT r.rolname::text AS role FROM pg_roles r JOIN pg_auth_members m ON m.roleid = r.oid JOIN pg_roles l ON l.oid = m.member
      WHERE r.rolname ~ '^latch_s_[0-9a-f]{32}$' AND l.rolname = ANY($1::text[])`,
    [logins],
  );
  for (const { role } of rows) await client.query(`DROP ROLE IF EXISTS ${ident(role)}`);
}

/** Drops what resetAnalyticsDatabase and resetLatchDatabase made (for tests; the demo keeps them for a look afterwards). */
export async function dropDemoDatabases(adminUrl: string, names: DemoNames): Promise<void> {
  const logins = LOGIN_HOLDERS.map((person) => databaseLoginOf(person, names.suffix));
  await withClient(adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${ident(names.latchDatabase)} WITH (FORCE)`);
    await client.query(`DROP DATABASE IF EXISTS ${ident(names.targetDatabase)} WITH (FORCE)`);
    await dropScopedRolesOf(client, logins);
    for (const role of [...logins, names.grantorRole, names.readRole, names.supportRole, names.appRole]) await client.query(`DROP ROLE IF EXISTS ${ident(role)}`);
  });
}
