import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { LatchOverHttp } from '../../helpers/latch-over-http.ts';
import { runLatch, type LatchProcess } from '../../helpers/latch-process.ts';
import { startDynamicLoginsTarget } from '../../helpers/dynamic-logins-target.ts';
import type { PrivatePostgres } from '../../helpers/private-postgres.ts';

/**
 * Credentials that expire by themselves, through the real `latch start`: a machine asks for a
 * postgres resource with `credentials: dynamic`, a person approves in (fake) Slack, the machine
 * fetches the login's credentials once through /api/v1 and really logs in to a real PostgreSQL
 * that checks passwords; the release drops the login; a login past its VALID UNTIL is refused by
 * the database while Latch is down. The password is in no log line, no Slack call, no table.
 */

const APPROVER = 'U0APPROVER1';
const OWNER = 'U0OWNER01';
const ROLE = 'app_reader';

const policyYaml = (hookUrl: string) => `
machines:
  - id: deploy-pipeline
    owner: { user: ${OWNER} }
    authentication: token
    account: deploy_bot
  - id: other-bot
    owner: { user: ${OWNER} }
    authentication: token
    account: other_bot
resources:
  - id: app-db
    name: App database
    provider:
      type: postgres
      settings:
        connectionStringEnv: TARGET_DB_URL
        credentials: dynamic
        connectionLimit: 2
        roles: { read: ${ROLE}, deploy: ${ROLE} }
    roles:
      - read
      - id: deploy
        uses: 1
    maxDuration: 4h
    requesters: { machines: [deploy-pipeline, other-bot] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
  - id: hooked
    name: Hooked service
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 4h
    requesters: { machines: [deploy-pipeline] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
`;

let stack: LatchOverHttp;
let slack: FakeSlack;
let target: PrivatePostgres;
let targetAdmin: pg.Client;
let sql: pg.Client;
let latch: LatchProcess;
let env: Record<string, string>;
let baseUrl: string;
let tokens: Record<string, string>;
const passwords: string[] = [];

beforeAll(async () => {
  let grantorUrl: string;
  ({ target, admin: targetAdmin, grantorUrl } = await startDynamicLoginsTarget(ROLE));
  stack = await LatchOverHttp.start({
    name: 'dynamic-credentials',
    policy: ({ hookUrl }) => policyYaml(hookUrl),
    machines: ['deploy-pipeline', 'other-bot'],
    env: { TARGET_DB_URL: grantorUrl, LOG_LEVEL: 'debug' },
    process: { shortGrants: true },
  });
  ({ slack, sql, latch, env, baseUrl, tokens } = stack);
  const checked = await runLatch(['policy', 'check'], env);
  expect(checked.code, checked.stdout + checked.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await targetAdmin?.end();
  await target?.stop();
});

function api(path: string, token: string | undefined, method = 'GET', body?: unknown): Promise<Response> {
  return fetch(`${baseUrl}/api/v1${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

const fetchCredentials = (requestId: string, token = tokens['deploy-pipeline']) => api(`/requests/${requestId}/credentials`, token, 'POST');

async function problem(response: Response, status: number, code: string): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  const body = (await response.json()) as { code: string; detail: string };
  expect(body.code).toBe(code);
  return body.detail;
}

async function askAndApprove(resource: string, duration: string, role = 'read'): Promise<{ id: string; account: string }> {
  const made = await api('/requests', tokens['deploy-pipeline'], 'POST', { resource, role, duration, reason: 'deploy 4f2a' });
  expect(made.status).toBe(201);
  const request = (await made.json()) as { id: string; account: string };
  await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(request.id));
  const sender = stack.sender;
  expect((await sender.click(APPROVER, 'latch_approve', request.id)).status).toBe(200);
  await expect.poll(() => stateOf(request.id), { timeout: 30_000 }).toBe('active');
  return request;
}

interface Credentials {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  validUntil: string;
}

async function logIn(credentials: Credentials): Promise<{ client: pg.Client } | { refused: string }> {
  const client = new pg.Client({ host: credentials.host, port: credentials.port, database: credentials.database, user: credentials.user, password: credentials.password });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return { client };
  } catch (error) {
    await client.end().catch(() => undefined);
    return { refused: String((error as { code?: string }).code ?? (error as Error).message) };
  }
}

// Read from Latch's database, not the API, so waiting does not spend the machine's rate limit.
const stateOf = async (requestId: string) => (await sql.query<{ state: string }>('SELECT state FROM access_requests WHERE id = $1', [requestId])).rows[0]?.state;

const loginExists = async (user: string) => (await targetAdmin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user])).rowCount === 1;

describe('dynamic postgres credentials through the API', { timeout: 120_000 }, () => {
  it('grants a login of Latch’s own, hands its credentials to the requester once, and drops it at release', async () => {
    const made = await api('/requests', tokens['deploy-pipeline'], 'POST', { resource: 'app-db', role: 'read', duration: '15m', reason: 'deploy 4f2a' });
    const request = (await made.json()) as { id: string; account: string };
    // The login is named after the request, and shown as the account on the request.
    expect(request.account).toBe(`latch_${request.id.replaceAll('-', '')}`);
    expect(await problem(await fetchCredentials(request.id), 409, 'not_granted')).toMatch(/not granted yet .*waiting for approval/);

    await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(request.id));
    const sender = stack.sender;
    expect((await sender.click(APPROVER, 'latch_approve', request.id)).status).toBe(200);
    await expect.poll(() => stateOf(request.id), { timeout: 30_000 }).toBe('active');
    expect(await loginExists(request.account)).toBe(true);

    // Another machine: as if the request did not exist; nothing is claimed by asking.
    expect(await problem(await fetchCredentials(request.id, tokens['other-bot']), 404, 'not_found')).toBe('There is no request with this id among yours.');

    const fetched = await fetchCredentials(request.id);
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get('cache-control')).toBe('no-store');
    const credentials = (await fetched.json()) as Credentials;
    passwords.push(credentials.password);
    expect(credentials).toMatchObject({ ...target.endpoint(), user: request.account, password: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    const grant = await sql.query<{ expires_at: Date }>('SELECT expires_at FROM grants WHERE request_id = $1', [request.id]);
    // VALID UNTIL is the grant's end, give or take the moment the grant took.
    expect(Math.abs(new Date(credentials.validUntil).getTime() - grant.rows[0]!.expires_at.getTime())).toBeLessThan(5_000);

    const session = await logIn(credentials);
    if (!('client' in session)) throw new Error(`the login was refused: ${session.refused}`);
    expect((await session.client.query('SELECT version FROM deployments')).rows).toEqual([{ version: '4f2a' }]);

    expect(await problem(await fetchCredentials(request.id), 409, 'credentials_issued')).toMatch(/handed out already, at .*keeps no copy/);
    const audited = await sql.query<{ actor: string; data: Record<string, unknown> }>("SELECT actor, data FROM audit_events WHERE action = 'credentials.issued' AND request_id = $1", [request.id]);
    expect(audited.rows).toEqual([{ actor: 'machine:deploy-pipeline', data: expect.objectContaining({ user: request.account, tokenId: expect.any(String) }) }]);

    const ended = new Promise((resolve) => session.client.once('error', resolve));
    expect((await api(`/requests/${request.id}/release`, tokens['deploy-pipeline'], 'POST')).status).toBe(200);
    await expect.poll(() => stateOf(request.id), { timeout: 30_000 }).toBe('revoked');
    await ended;
    expect(await loginExists(request.account)).toBe(false);
    expect(await logIn(credentials)).toEqual({ refused: '28P01' });
    expect(await problem(await fetchCredentials(request.id), 409, 'not_active')).toContain('revoked');
  });

  it('has no credentials for a resource that grants to existing accounts', async () => {
    const request = await askAndApprove('hooked', '15m');
    expect(await problem(await fetchCredentials(request.id), 409, 'no_credentials')).toBe('Hooked service grants its roles to your own account: it has no credentials to hand out.');
    await problem(await fetchCredentials('not-a-uuid'), 404, 'not_found');
    await problem(await api(`/requests/${request.id}/credentials`, undefined, 'POST'), 401, 'token_missing');
  });

  it('lists the credentials operation in the OpenAPI document', async () => {
    const document = (await (await fetch(`${baseUrl}/api/v1/openapi.json`)).json()) as { paths: Record<string, unknown>; components: { schemas: Record<string, { required?: string[] }> } };
    expect(document.paths).toHaveProperty(['/requests/{id}/credentials', 'post']);
    expect(document.components.schemas.Credentials?.required).toEqual(['host', 'port', 'database', 'user', 'password', 'validUntil']);
  });

  it('ends single-use access (uses: 1) as soon as its one session ends, without waiting for the expiry', async () => {
    const request = await askAndApprove('app-db', '1h', 'deploy');
    const credentials = (await (await fetchCredentials(request.id)).json()) as Credentials;
    passwords.push(credentials.password);
    const session = await logIn(credentials);
    if (!('client' in session)) throw new Error(`the login was refused: ${session.refused}`);
    // One session only: a second beside it is refused, at once by the connection limit, and after
    // Latch has seen the first, by the login being closed.
    expect(await logIn(credentials)).toHaveProperty('refused');
    expect((await session.client.query('SELECT version FROM deployments')).rows).toEqual([{ version: '4f2a' }]);
    await expect.poll(async () => (await targetAdmin.query<{ rolcanlogin: boolean }>('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [request.account])).rows[0]?.rolcanlogin, { timeout: 30_000 }).toBe(false);
    expect((await (await api(`/requests/${request.id}`, tokens['deploy-pipeline'])).json()) as { state: string }).toMatchObject({ state: 'active' });

    await session.client.end();
    await expect.poll(() => stateOf(request.id), { timeout: 30_000 }).toBe('revoked');
    expect(await loginExists(request.account)).toBe(false);
    expect(await logIn(credentials)).toEqual({ refused: '28P01' });
    const ended = await sql.query<{ actor: string; data: { reason: string } }>("SELECT actor, data FROM audit_events WHERE action = 'grant.end_requested' AND request_id = $1", [request.id]);
    expect(ended.rows).toEqual([{ actor: 'latch', data: expect.objectContaining({ reason: 'its single session ended' }) }]);
  });

  it('lets the database refuse the login after VALID UNTIL while Latch is down, and never logged nor posted the password', async () => {
    const request = await askAndApprove('app-db', '4s');
    const credentials = (await (await fetchCredentials(request.id)).json()) as Credentials;
    passwords.push(credentials.password);
    const before = await logIn(credentials);
    if (!('client' in before)) throw new Error(`the login was refused: ${before.refused}`);
    await before.client.end();

    await latch.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, new Date(credentials.validUntil).getTime() - Date.now()) + 500));
    expect(await logIn(credentials)).toEqual({ refused: '28P01' });
    // Latch never got to revoke it: the database alone keeps the end.
    expect(await loginExists(request.account)).toBe(true);

    expect(passwords).toHaveLength(3);
    const slackCalls = JSON.stringify(slack.calls);
    const tables = JSON.stringify((await sql.query('SELECT * FROM grants')).rows) + JSON.stringify((await sql.query('SELECT * FROM audit_events')).rows);
    for (const password of passwords) {
      expect(latch.stdout + latch.stderr).not.toContain(password);
      expect(slackCalls).not.toContain(password);
      expect(tables).not.toContain(password);
      expect(target.serverLog()).not.toContain(password);
    }
    expect(latch.stdout).toContain('credentials handed to the requester');

    // The once-only claim is a state row its audit events account for: clearing it (to fetch again) shows.
    const verified = await runLatch(['audit', 'verify'], env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    await sql.query('UPDATE grants SET credentials_issued_at = NULL WHERE request_id = $1', [request.id]);
    const tampered = await runLatch(['audit', 'verify'], env);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout + tampered.stderr).toContain('credentialsIssuedAt');
  });
});
