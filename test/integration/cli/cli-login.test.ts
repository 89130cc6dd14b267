import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSlack, FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { startDynamicLoginsTarget } from '../../helpers/dynamic-logins-target.ts';
import { expectProblem, LatchOverHttp } from '../../helpers/latch-over-http.ts';
import { LatchProcess, runLatch } from '../../helpers/latch-process.ts';
import type { PrivatePostgres } from '../../helpers/private-postgres.ts';
import type { SlackSender } from '../../helpers/slack-sender.ts';

/**
 * People fetch their dynamic credentials from a terminal: `latch login` (a child process) prints a
 * code, the person types `/request-access login <code>` in Slack (signed, through the real Bolt
 * app), confirms, and the terminal keeps a token acting as them. With it, `latch request --wait
 * --credentials` asks, waits for a person's approval in Slack, and prints a login that really
 * connects to a real PostgreSQL. The token reads only its person's requests, never decides,
 * stops at `latch logout`; a refused or unconfirmed login gives the terminal nothing.
 */

const ALICE = 'U0ALICE01';
const BOB = 'U0BOB0001';
const APPROVER = 'U0APPROVER1';
const ROLE = 'app_reader';

const policyYaml = `
machines:
  - id: deploy-pipeline
    owner: { user: ${APPROVER} }
    authentication: token
    account: deploy_bot
resources:
  - id: app-db
    name: App database
    provider:
      type: postgres
      settings:
        connectionStringEnv: TARGET_DB_URL
        credentials: dynamic
        roles: { read: ${ROLE} }
    roles: [read]
    maxDuration: 4h
    requesters: { users: [${ALICE}, ${BOB}] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
`;

let stack: LatchOverHttp;
let slack: FakeSlack;
let sql: pg.Client;
let sender: SlackSender;
let baseUrl: string;
let target: PrivatePostgres;
let targetAdmin: pg.Client;

beforeAll(async () => {
  let grantorUrl: string;
  ({ target, admin: targetAdmin, grantorUrl } = await startDynamicLoginsTarget(ROLE));
  stack = await LatchOverHttp.start({ name: 'cli-login', policy: () => policyYaml, machines: ['deploy-pipeline'], env: { TARGET_DB_URL: grantorUrl } });
  ({ slack, sql, sender, baseUrl } = stack);
  slack.addUser({ id: 'U0GONE001', name: 'gone', deleted: true });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await targetAdmin?.end();
  await target?.stop();
});

/** A terminal of its own: the folder `latch login` keeps its token in. */
function terminal(): Record<string, string> {
  return { LATCH_URL: baseUrl, LATCH_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'latch-terminal-')) };
}

/** `latch login` started in `env`'s terminal, once it has printed the command to type in Slack. */
async function startLogin(env: Record<string, string>): Promise<{ login: LatchProcess; code: string }> {
  const login = new LatchProcess(['login'], env);
  await expect.poll(() => login.stderr, { timeout: 30_000 }).toMatch(/\/request-access login [A-Z]{4}-[A-Z]{4}/);
  return { login, code: /\/request-access login ([A-Z]{4}-[A-Z]{4})/.exec(login.stderr)![1]! };
}

let responses = 0;

/** `/request-access <text>` typed by `user`: what Latch answered them (ephemeral, through the response URL). */
async function type(user: string, text: string): Promise<FakeSlackCall> {
  const id = `login-${++responses}`;
  expect((await sender.command(user, text, id)).status).toBe(200);
  return slack.waitForCall('response_url', (call) => call.args.id === id, 15_000);
}

/** A click on the login prompt's button, and what replaced the prompt. */
async function answer(user: string, prompt: FakeSlackCall, actionId: 'latch_cli_login_confirm' | 'latch_cli_login_refuse'): Promise<string> {
  const value = /"value":"([0-9a-f-]{36}\|[A-Z]{4}-[A-Z]{4})"/.exec(JSON.stringify(prompt.args))![1]!;
  const id = `login-${++responses}`;
  expect((await sender.click(user, actionId, value, 'C0GENERAL', 'latch_cli_login_actions', id)).status).toBe(200);
  return String((await slack.waitForCall('response_url', (call) => call.args.id === id, 15_000)).args.text);
}

/** Logs `user` in from a new terminal, through Slack; the terminal's environment. */
async function logIn(user: string): Promise<Record<string, string>> {
  const env = terminal();
  const { login, code } = await startLogin(env);
  const prompt = await type(user, `login ${code}`);
  expect(await answer(user, prompt, 'latch_cli_login_confirm')).toContain(`Login ${code} confirmed`);
  const exit = await login.exited;
  expect(exit.code, exit.stderr).toBe(0);
  return env;
}

const storedToken = (env: Record<string, string>) => (JSON.parse(readFileSync(join(env.LATCH_CONFIG_DIR!, 'login.json'), 'utf8')) as { token: string }).token;
const stateOf = async (id: string) => (await sql.query<{ state: string }>('SELECT state FROM access_requests WHERE id = $1', [id])).rows[0]?.state;

async function connectAs(output: string): Promise<{ rows: unknown[] } | { refused: string }> {
  const value = (name: string) => new RegExp(`^${name}='([^']*)'$`, 'm').exec(output)?.[1];
  const client = new pg.Client({ host: value('PGHOST'), port: Number(value('PGPORT')), database: value('PGDATABASE'), user: value('PGUSER'), password: value('PGPASSWORD') });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return { rows: (await client.query('SELECT version FROM deployments')).rows };
  } catch (error) {
    return { refused: String((error as { code?: string }).code ?? (error as Error).message) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('latch login: people use Latch from a terminal', { timeout: 120_000 }, () => {
  it('logs a person in through Slack, then asks, waits for approval and prints a login that works, for them only', async () => {
    const env = terminal();
    const { login, code } = await startLogin(env);
    expect(login.stderr).toMatch(/Waiting for you to confirm code/);

    // What the person sees in Slack before anything changes: where the login came from, and the choice.
    const prompt = await type(ALICE, `login ${code.toLowerCase().replace('-', ' ')}`);
    const shown = JSON.stringify(prompt.args);
    expect(prompt.args.response_type).toBe('ephemeral');
    expect(shown).toContain(`code *${code}*`);
    expect(shown).toContain('127.0.0.1');
    expect(shown).toContain('Confirm login');
    expect(shown).toContain('It was not me');
    expect((await sql.query("SELECT 1 FROM audit_events WHERE action = 'login.confirmed'")).rowCount).toBe(0);

    expect(await answer(ALICE, prompt, 'latch_cli_login_confirm')).toContain('confirmed');
    const exit = await login.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toContain(`as Slack user ${ALICE}`);
    // The token is kept for its owner alone, and never printed.
    const file = join(env.LATCH_CONFIG_DIR!, 'login.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = storedToken(env);
    expect(token).toMatch(/^latch_[0-9a-f]{32}_/);
    expect(exit.stdout + exit.stderr).not.toContain(token);
    const audited = await sql.query<{ action: string; actor: string }>("SELECT action, actor FROM audit_events WHERE action LIKE 'login.%' ORDER BY seq");
    expect(audited.rows).toEqual([
      { action: 'login.started', actor: 'anonymous' },
      { action: 'login.confirmed', actor: ALICE },
      { action: 'login.token_issued', actor: ALICE },
    ]);

    // Alice asks from her terminal and waits while the approver decides in Slack.
    const step = new LatchProcess(['request', 'app-db', 'read', '30m', '--reason', 'debug INC-77', '--wait', '--credentials', '--format', 'env'], env);
    const card = await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes('debug INC-77'), 30_000);
    const id = /[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(JSON.stringify(card.args))![0];
    expect(JSON.stringify(card.args)).toContain(`<@${ALICE}>`);
    expect((await sender.click(APPROVER, 'latch_approve', id)).status).toBe(200);
    const asked = await step.exited;
    expect(asked.code, asked.stderr).toBe(0);
    expect(await connectAs(asked.stdout)).toEqual({ rows: [{ version: '4f2a' }] });
    const issued = await sql.query<{ actor: string; token: string }>("SELECT actor, data->>'tokenId' AS token FROM audit_events WHERE action = 'credentials.issued' AND request_id = $1", [id]);
    expect(issued.rows).toEqual([{ actor: ALICE, token: expect.stringMatching(/^[0-9a-f-]{36}$/) }]);

    // Bob, logged in too, cannot read or fetch Alice's: her request is, to him, one that does not exist.
    const bob = await logIn(BOB);
    const stolen = await runLatch(['credentials', id], bob);
    expect(stolen.code).toBe(5);
    expect(stolen.stderr).toContain('There is no request with this id among yours');
    await expectProblem(await stack.api(`/requests/${id}`, { token: storedToken(bob) }), 404, 'not_found');

    // An operator sees Bob's terminal among the tokens the API accepts, and ends it at once.
    const bobLogin = /^latch_([0-9a-f]{32})_/.exec(storedToken(bob))![1]!.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
    const listed = await runLatch(['token', 'list'], stack.env);
    expect(listed.stdout).toMatch(new RegExp(`${bobLogin}  person ${BOB}  .*valid until`));
    const revoked = await runLatch(['token', 'revoke', bobLogin], stack.env);
    expect(revoked.code, revoked.stderr).toBe(0);
    await expectProblem(await stack.api('/access', { token: storedToken(bob) }), 401, 'token_revoked');

    // A person's token never decides, and is no machine's token for the MCP server.
    await expectProblem(await stack.api(`/requests/${id}/approve`, { token: token, method: 'POST' }), 403, 'not_approver');
    const mcp = await fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    expect(mcp.status).toBe(401);

    // Alice releases from her terminal, then logs out: the token is refused from then on.
    const released = await runLatch(['release', id], env);
    expect(released.code, released.stderr).toBe(0);
    await expect.poll(() => stateOf(id), { timeout: 30_000 }).toBe('revoked');
    expect(await connectAs(asked.stdout)).toEqual({ refused: '28P01' });
    const out = await runLatch(['logout'], env);
    expect(out.code, out.stderr).toBe(0);
    expect(existsSync(file)).toBe(false);
    await expectProblem(await stack.api('/access', { token }), 401, 'token_revoked');
    const after = await runLatch(['credentials', id], env);
    expect(after.code).toBe(78);
    expect(after.stderr).toContain('a person runs `latch login`');
  });

  it('gives the terminal nothing when the person says it was not them, and keeps the refusal in the audit trail', async () => {
    const env = terminal();
    const { login, code } = await startLogin(env);
    const prompt = await type(BOB, `login ${code}`);
    expect(await answer(BOB, prompt, 'latch_cli_login_refuse')).toContain('refused');
    const exit = await login.exited;
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('refused in Slack');
    expect(existsSync(join(env.LATCH_CONFIG_DIR!, 'login.json'))).toBe(false);
    const refused = await sql.query("SELECT actor FROM audit_events WHERE action = 'login.refused'");
    expect(refused.rows).toEqual([{ actor: BOB }]);
    // The same code, typed again, names no login any more.
    expect(String((await type(BOB, `login ${code}`)).args.text)).toContain(`No login is waiting for code ${code}`);
  });

  it('refuses codes that name no login, and accounts that are no person of the workspace', async () => {
    expect(String((await type(ALICE, 'login BCDF-GHJK')).args.text)).toContain('No login is waiting for code BCDF-GHJK');
    expect(String((await type(ALICE, 'login 12345')).args.text)).toContain('is not a login code');

    const env = terminal();
    const { login, code } = await startLogin(env);
    const prompt = await type('U0GONE001', `login ${code}`);
    expect(await answer('U0GONE001', prompt, 'latch_cli_login_confirm')).toContain('deactivated');
    // Still waiting for a person who may confirm it; nobody does, and the terminal is stopped.
    expect((await login.kill()).code).not.toBe(0);
    expect((await sql.query("SELECT 1 FROM cli_logins WHERE slack_user_id = 'U0GONE001'")).rowCount).toBe(0);
  });

  it('answers the login endpoints with clear problems: bad bodies, unknown device codes, a machine logging out', async () => {
    await expectProblem(await stack.api('/logins', { method: 'POST', body: { client: 'x', extra: 1 } }), 422, 'invalid_body');
    await expectProblem(await stack.api('/logins/token', { method: 'POST', body: { deviceCode: 'latchdevice_nothing' } }), 400, 'invalid_grant');
    await expectProblem(await stack.api('/logins/token', { method: 'POST', body: {} }), 422, 'invalid_body');
    const started = await stack.api('/logins', { method: 'POST', body: { client: 'laptop <script>' } });
    expect(started.status).toBe(201);
    const { deviceCode, userCode, slackCommand, interval } = (await started.json()) as { deviceCode: string; userCode: string; slackCommand: string; interval: number };
    expect(slackCommand).toBe(`/request-access login ${userCode}`);
    expect(interval).toBeGreaterThan(0);
    await expectProblem(await stack.api('/logins/token', { method: 'POST', body: { deviceCode } }), 400, 'authorization_pending');
    // The terminal's name is its own word: shown to the person, stripped of markup.
    expect(JSON.stringify((await type(ALICE, `login ${userCode}`)).args)).toContain('`laptop script`');
    await expectProblem(await stack.api('/logout', { token: stack.tokens['deploy-pipeline'], method: 'POST' }), 403, 'not_a_login');
  });

  it("keeps an audit trail that `latch audit verify` accepts, people's logins included", async () => {
    const verified = await runLatch(['audit', 'verify'], stack.env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });
});
