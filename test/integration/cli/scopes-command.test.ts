import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLatch } from '../../helpers/latch-process.ts';
import { PrivatePostgres } from '../../helpers/private-postgres.ts';

/**
 * `latch scopes install` and `latch scopes check` on a real PostgreSQL: check says what is
 * missing until a DBA applies the printed SQL as the tables' owner, then that all is in place;
 * the grantor's password is in neither output.
 */

const GRANTOR_PASSWORD = 'grantor-password-0123456789';
let target: PrivatePostgres;
let admin: pg.Client;
let env: Record<string, string>;

beforeAll(async () => {
  target = await PrivatePostgres.start();
  admin = new pg.Client({ connectionString: target.adminUrl });
  await admin.connect();
  await admin.query(`CREATE TABLE orders (id serial PRIMARY KEY, customer_id integer NOT NULL); CREATE ROLE support_read NOLOGIN; CREATE ROLE latch_grantor LOGIN CREATEROLE PASSWORD '${GRANTOR_PASSWORD}'`);
  const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-scopes-')), 'policy.yaml');
  writeFileSync(
    policyFile,
    `resources:
  - id: support-db
    name: Support database
    provider:
      type: postgres
      settings:
        connectionStringEnv: SUPPORT_DB_URL
        roles: { debug: support_read }
        rowScopes:
          customer: [{ table: public.orders, column: customer_id }]
    identity: { domains: [example.com] }
    roles: [debug]
    maxDuration: 1h
    requesters: { users: [U0SUPPORT1] }
    approvers: { users: [U0LEAD0001] }
    approvalChannel: C0APPROVALS
  - id: reports-db
    name: Reports database
    provider:
      type: postgres
      settings:
        connectionStringEnv: SUPPORT_DB_URL
        tableGrants:
          scope: tables
          tables: [public.invoices]
          privileges: { read: [SELECT] }
    identity: { domains: [example.com] }
    roles: [read]
    maxDuration: 1h
    requesters: { users: [U0SUPPORT1] }
    approvers: { users: [U0LEAD0001] }
    approvalChannel: C0APPROVALS
  - id: hook
    name: Hook
    provider: { type: webhook, settings: { url: 'https://hooks.example.com', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 1h
    requesters: { users: [U0SUPPORT1] }
    approvers: { users: [U0LEAD0001] }
    approvalChannel: C0APPROVALS
`,
  );
  env = { LATCH_POLICY_FILE: policyFile, SUPPORT_DB_URL: target.urlFor('latch_grantor', GRANTOR_PASSWORD) };
}, 60_000);

afterAll(async () => {
  await admin?.end();
  await target?.stop();
});

describe('latch scopes', { timeout: 60_000 }, () => {
  it('checks, prints the SQL to install, and checks again', async () => {
    const before = await runLatch(['scopes', 'check', 'support-db'], env);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain('latch_scopes schema is not installed');

    const install = await runLatch(['scopes', 'install', 'support-db'], env);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toContain('GRANT SELECT, INSERT, UPDATE, DELETE ON "latch_scopes".grants TO "latch_grantor"');
    expect(install.stdout).toContain('CREATE POLICY "latch_scope_customer_customer_id" ON "public"."orders" AS RESTRICTIVE');
    await admin.query(install.stdout);

    const after = await runLatch(['scopes', 'check', 'support-db'], env);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toContain('row-level scopes in place for customer (public.orders.customer_id)');
    for (const output of [before, install, after]) expect(output.stdout + output.stderr).not.toContain(GRANTOR_PASSWORD);
  });

  it('checks table grants: the table, the grantor’s grant option, and the expiry policy the install adds', async () => {
    const missing = await runLatch(['scopes', 'check', 'reports-db'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('table public.invoices does not exist');
    await admin.query('CREATE TABLE invoices (id integer)');
    const noOption = await runLatch(['scopes', 'check', 'reports-db'], env);
    expect(noOption.stderr).toContain('the grantor cannot grant SELECT on table public.invoices (it needs them WITH GRANT OPTION)');
    expect(noOption.stderr).toContain("lacks Latch's restrictive policy latch_table_grant_expiry");
    await admin.query('GRANT SELECT ON invoices TO latch_grantor WITH GRANT OPTION');
    const install = await runLatch(['scopes', 'install', 'reports-db'], env);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toContain('CREATE POLICY latch_table_grant_expiry ON "public"."invoices" AS RESTRICTIVE');
    await admin.query(install.stdout);
    const after = await runLatch(['scopes', 'check', 'reports-db'], env);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toContain('reports-db: table grants (tables) in place for public.invoices');
  });

  it('says plainly what it needs: a postgres resource with rowScopes, and its connection string', async () => {
    const webhook = await runLatch(['scopes', 'check', 'hook'], env);
    expect(webhook.code).toBe(78);
    expect(webhook.stderr).toContain('row-level scopes are for postgres resources');
    const unknown = await runLatch(['scopes', 'install', 'nothing'], env);
    expect(unknown.stderr).toContain('the policy has no resource "nothing"');
    const noUrl = await runLatch(['scopes', 'install', 'support-db'], { LATCH_POLICY_FILE: env.LATCH_POLICY_FILE! });
    expect(noUrl.code).toBe(78);
    expect(noUrl.stderr).toContain('SUPPORT_DB_URL is not set');
    const usage = await runLatch(['scopes', 'drop', 'support-db'], env);
    expect(usage.code).toBe(64);
  });
});
