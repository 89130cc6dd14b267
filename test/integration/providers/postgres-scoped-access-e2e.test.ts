import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { LatchOverHttp } from '../../helpers/latch-over-http.ts';
import { LatchProcess, runLatch } from '../../helpers/latch-process.ts';
import { PrivatePostgres } from '../../helpers/private-postgres.ts';

/**
 * Scoped access end to end (issue 17), through the real `latch start`, a real password-checking
 * PostgreSQL with row-level security, and people in (fake) Slack: a support engineer asks for one
 * customer's rows for a few seconds, an approver approves, and a query as the engineer's own login
 * returns that customer's rows only, whatever role it switches to; once the time is up it returns
 * none, in the session that stayed open too, also while every Latch process is down (the database
 * alone ends it). The same for a grant of one table. Bad scope values are refused when asked.
 */

const SUPPORT = 'U0SUPPORT01';
const APPROVER = 'U0APPROVER1';
const LOGIN = 'support_alice';
const PASSWORD = 'support-login-password-0123';
const GRANTOR_PASSWORD = 'grantor-password-0123456';

const policyYaml = () => `
resources:
  - id: support-db
    name: Support database
    provider:
      type: postgres
      settings:
        connectionStringEnv: TARGET_DB_URL
        roles: { debug: support_read }
        rowScopes:
          customer: [{ table: public.orders, column: customer_id }]
        tableGrants: { scope: tables, tables: [public.invoices, public.orders, public.payments], privileges: { inspect: [SELECT] } }
    identity: { from: map-only, map: { ${SUPPORT}: ${LOGIN} } }
    roles:
      - id: debug
        scopes:
          customer: { description: The customer's number, pattern: '[0-9]{1,10}', maxValues: 2 }
      - id: inspect
        scopes:
          tables: { description: Tables to read, values: [public.invoices, public.orders, public.payments], maxValues: 2 }
    maxDuration: 1h
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
`;

let target: PrivatePostgres;
let targetAdmin: pg.Client;
let stack: LatchOverHttp;
let slack: FakeSlack;
let sql: pg.Client;
let latch: LatchProcess;
const sessions: pg.Client[] = [];

beforeAll(async () => {
  target = await PrivatePostgres.start();
  targetAdmin = new pg.Client({ connectionString: target.adminUrl });
  await targetAdmin.connect();
  // As a DBA would make it: tables, the role Latch grants, the engineer's own login (holding
  // nothing), the application's login, and a grantor that is not a superuser.
  await targetAdmin.query(`
    CREATE TABLE orders (id serial PRIMARY KEY, customer_id integer NOT NULL, item text NOT NULL);
    INSERT INTO orders (customer_id, item) VALUES (4711, 'lamp'), (4711, 'desk'), (4712, 'chair'), (4713, 'sofa');
    CREATE TABLE invoices (id serial PRIMARY KEY, customer_id integer NOT NULL, total numeric NOT NULL);
    INSERT INTO invoices (customer_id, total) VALUES (4711, 10), (4712, 20);
    CREATE TABLE payments (id serial PRIMARY KEY, customer_id integer NOT NULL, iban text NOT NULL);
    CREATE ROLE support_read NOLOGIN;
    GRANT SELECT ON orders TO support_read;
    CREATE ROLE ${LOGIN} LOGIN PASSWORD '${PASSWORD}';
    CREATE ROLE app_service LOGIN PASSWORD '${PASSWORD}';
    GRANT SELECT ON orders, invoices TO app_service;
    CREATE ROLE latch_grantor LOGIN CREATEROLE PASSWORD '${GRANTOR_PASSWORD}';
    GRANT support_read TO latch_grantor WITH ADMIN OPTION;
    GRANT SELECT ON orders, invoices TO latch_grantor WITH GRANT OPTION;
    GRANT pg_signal_backend TO latch_grantor;
  `);
  stack = await LatchOverHttp.start({
    name: 'scoped-access',
    policy: () => policyYaml(),
    env: { TARGET_DB_URL: target.urlFor('latch_grantor', GRANTOR_PASSWORD) },
    process: { shortGrants: true },
  });
  ({ slack, sql, latch } = stack);
  // The DBA applies what `latch scopes install` prints, once, as the tables' owner.
  const install = await runLatch(['scopes', 'install', 'support-db'], stack.env);
  expect(install.code, install.stderr).toBe(0);
  await targetAdmin.query(install.stdout);
  const checked = await runLatch(['policy', 'check'], stack.env);
  expect(checked.code, checked.stdout + checked.stderr).toBe(0);
  // Everything is in place but the one table the grantor was not given to pass on, and the check says so.
  const scopes = await runLatch(['scopes', 'check', 'support-db'], stack.env);
  expect(scopes.code).toBe(1);
  expect(scopes.stderr).toContain('the grantor cannot grant SELECT on table public.payments (it needs them WITH GRANT OPTION)');
}, 120_000);

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.end().catch(() => undefined)));
  await latch?.kill().catch(() => undefined);
  await stack?.close();
  await targetAdmin?.end();
  await target?.stop();
});

async function connectAs(user: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: target.urlFor(user, PASSWORD) });
  client.on('error', () => undefined);
  await client.connect();
  sessions.push(client);
  return client;
}

/** The customers a session sees in orders; a refusal (no privilege, ended session) as its message. */
async function customersSeen(client: pg.Client, table = 'orders'): Promise<number[] | string> {
  try {
    return (await client.query<{ customer_id: number }>(`SELECT DISTINCT customer_id FROM ${table} ORDER BY 1`)).rows.map((row) => row.customer_id);
  } catch (error) {
    return (error as Error).message;
  }
}

const stateOf = async (requestId: string) => (await sql.query<{ state: string }>('SELECT state FROM access_requests WHERE id = $1', [requestId])).rows[0]?.state;

/** The engineer asks in Slack; the answer they see, and the request it made (if any). */
async function ask(text: string): Promise<{ answer: string; requestId: string | undefined }> {
  const id = `ask-${Math.random()}`;
  await stack.sender.command(SUPPORT, text, id);
  const answer = String((await slack.waitForCall('response_url', (call) => call.args.id === id, 15_000)).args.text);
  const made = await sql.query<{ id: string }>('SELECT id FROM access_requests WHERE requester_slack_id = $1 ORDER BY created_at DESC LIMIT 1', [SUPPORT]);
  return { answer, requestId: answer.startsWith('Request sent') ? made.rows[0]?.id : undefined };
}

async function askAndApprove(text: string): Promise<{ requestId: string; card: string; expiresAt: Date }> {
  const { answer, requestId } = await ask(text);
  expect(answer).toBe('Request sent: you will get a message when it is decided.');
  const posted = await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(requestId!));
  expect((await stack.sender.click(APPROVER, 'latch_approve', requestId!)).status).toBe(200);
  await expect.poll(() => stateOf(requestId!), { timeout: 30_000 }).toBe('active');
  const grant = await sql.query<{ expires_at: Date }>('SELECT expires_at FROM grants WHERE request_id = $1', [requestId]);
  return { requestId: requestId!, card: JSON.stringify(posted.args.blocks), expiresAt: grant.rows[0]!.expires_at };
}

const scopeRowsOf = async (requestId: string) => Number((await targetAdmin.query('SELECT count(*) FROM latch_scopes.grants WHERE request_id = $1', [requestId])).rows[0].count);
const sleepUntil = (at: Date) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at.getTime() - Date.now()) + 500));

describe('scoped access on a real PostgreSQL, end to end', { timeout: 120_000 }, () => {
  it("grants one customer's rows, whatever role the session switches to, and takes them away at the end", async () => {
    const { requestId, card } = await askAndApprove('support-db debug 8s customer=4711 ticket 88: refund stuck');
    expect(card).toContain('4711');

    const alice = await connectAs(LOGIN);
    expect(await customersSeen(alice)).toEqual([4711]);
    await alice.query('SET ROLE support_read');
    expect(await customersSeen(alice)).toEqual([4711]);
    await alice.query('RESET ROLE');
    expect(await customersSeen(alice)).toEqual([4711]);
    await alice.query('SET SESSION AUTHORIZATION DEFAULT');
    expect(await customersSeen(alice)).toEqual([4711]);
    // Only what was asked: invoices were not part of it.
    expect(await customersSeen(alice, 'invoices')).toMatch(/permission denied/);
    // The application's own login is not narrowed.
    expect(await customersSeen(await connectAs('app_service'))).toEqual([4711, 4712, 4713]);

    await expect.poll(() => stateOf(requestId), { timeout: 30_000 }).toBe('revoked');
    const verified = await sql.query<{ verified_revoked_at: Date | null }>('SELECT verified_revoked_at FROM grants WHERE request_id = $1', [requestId]);
    expect(verified.rows[0]!.verified_revoked_at).not.toBeNull();
    expect(await scopeRowsOf(requestId)).toBe(0);
    // The session that stayed open was ended; a new one has no privilege left.
    expect(await customersSeen(alice)).not.toEqual([4711]);
    expect(await customersSeen(await connectAs(LOGIN))).toMatch(/permission denied/);

    const audit = await runLatch(['audit', 'verify'], stack.env);
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);
  });

  it('stops honouring the scope at its end with every Latch process down, and Latch cleans up once back', async () => {
    const { requestId, expiresAt } = await askAndApprove('support-db debug 5s customer=4711 ticket 89');
    const alice = await connectAs(LOGIN);
    expect(await customersSeen(alice)).toEqual([4711]);

    await latch.kill('SIGKILL');
    await sleepUntil(expiresAt);
    // Nobody revoked: the membership is still there, and the database alone shows nothing.
    expect(await customersSeen(alice)).toEqual([]);
    expect(await customersSeen(await connectAs(LOGIN))).toEqual([]);
    expect(await scopeRowsOf(requestId)).toBeGreaterThan(0);

    latch = new LatchProcess(['start'], stack.env, { shortGrants: true });
    await expect.poll(() => stateOf(requestId), { timeout: 60_000 }).toBe('revoked');
    expect(await scopeRowsOf(requestId)).toBe(0);
    expect(await customersSeen(await connectAs(LOGIN))).toMatch(/permission denied/);
  });

  it('grants one table and nothing else in the database, until the end', async () => {
    const { requestId, card } = await askAndApprove('support-db inspect 8s tables=public.invoices ticket 90');
    expect(card).toContain('public.invoices');
    const alice = await connectAs(LOGIN);
    expect(await customersSeen(alice, 'invoices')).toEqual([4711, 4712]);
    expect(await customersSeen(alice, 'orders')).toMatch(/permission denied/);
    await expect.poll(() => stateOf(requestId), { timeout: 30_000 }).toBe('revoked');
    expect(await customersSeen(await connectAs(LOGIN), 'invoices')).toMatch(/permission denied/);
  });

  it('stops honouring a table grant at its end with every Latch process down', async () => {
    const { requestId, expiresAt } = await askAndApprove('support-db inspect 5s tables=public.invoices ticket 92');
    const alice = await connectAs(LOGIN);
    expect(await customersSeen(alice, 'invoices')).toEqual([4711, 4712]);

    await latch.kill('SIGKILL');
    await sleepUntil(expiresAt);
    // The privilege is still granted (nobody revoked it); the database hides every row on its own.
    expect(await customersSeen(alice, 'invoices')).toEqual([]);
    expect(await customersSeen(await connectAs(LOGIN), 'invoices')).toEqual([]);
    await expect(alice.query('INSERT INTO invoices (customer_id, total) VALUES (4711, 1)')).rejects.toThrow(/permission denied|row-level security/);

    latch = new LatchProcess(['start'], stack.env, { shortGrants: true });
    await expect.poll(() => stateOf(requestId), { timeout: 60_000 }).toBe('revoked');
    expect(await scopeRowsOf(requestId)).toBe(0);
    expect(await customersSeen(await connectAs(LOGIN), 'invoices')).toMatch(/permission denied/);
  });

  it('refuses scope values outside the policy when asked, with a message fit for a person', async () => {
    /** The first line of the answer after "Your request was not sent:" (the usage text follows). */
    const refusal = async (text: string) => {
      const { answer, requestId } = await ask(text);
      expect(requestId).toBeUndefined();
      expect(answer.split('\n')[0]).toBe('Your request was not sent:');
      return answer.split('\n')[1];
    };
    expect(await refusal('support-db debug 5m customer=47x1 ticket 91')).toBe('• customer "47x1" does not match [0-9]{1,10}.');
    expect(await refusal('support-db debug 5m customer=1,2,3 ticket 91')).toBe('• At most 2 values of customer (3 given).');
    expect(await refusal("support-db debug 5m customer=4711');DROP-TABLE-orders;-- ticket 91")).toBe(`• customer "4711');DROP-TABLE-orders;--" does not match [0-9]{1,10}.`);
    expect(await refusal('support-db inspect 5m tables=public.secrets ticket 91')).toBe('• tables: public.secrets is not one of public.invoices, public.orders, public.payments.');
    expect(await refusal('support-db debug 5m ticket 91, no customer')).toBe('• Give customer: the role debug is only granted for a customer matching [0-9]{1,10}.');
    // Allowed by the policy, but the grantor may not pass it on: the provider's own check refuses it when asked.
    expect(await refusal('support-db inspect 5m tables=public.payments ticket 91')).toBe(
      '• Support database cannot grant tables public.payments: the database is not ready for this scope: the grantor cannot grant SELECT on table public.payments (it needs them WITH GRANT OPTION).',
    );
    expect(Number((await targetAdmin.query('SELECT count(*) FROM orders')).rows[0].count)).toBe(4);
  });
});
