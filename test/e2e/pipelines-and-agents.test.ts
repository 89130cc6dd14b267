import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { startDynamicLoginsTarget } from '../helpers/dynamic-logins-target.ts';
import { asOpenView, textInput } from '../helpers/latch-harness.ts';
import { LatchOverHttp } from '../helpers/latch-over-http.ts';
import { latchNodeArgs, LatchProcess, runLatch, type LatchExit } from '../helpers/latch-process.ts';
import { LoopbackOidcIssuer } from '../helpers/oidc-issuer.ts';
import type { PrivatePostgres } from '../helpers/private-postgres.ts';
import type { SlackSender } from '../helpers/slack-sender.ts';

/**
 * Issue 16's "done when", through one real `latch start` with only Slack faked: a pipeline step
 * (the `latch` CLI as a child process) proves who it is with an OIDC token of an issuer on
 * loopback, asks for a login on a real, password-checking PostgreSQL (`credentials: dynamic`)
 * that needs two approvals, waits while two approvers click in Slack, and gets credentials that
 * really log in, and really stop working once the access ends. An AI agent does the same through
 * the MCP server over HTTP with its machine token. A machine whose request is denied in Slack sees
 * it in the CLI's exit code.
 */

const APPROVERS = ['U0APPROVER1', 'U0APPROVER2'] as const;
const OWNER = 'U0OWNER01';
const AUDIENCE = 'https://latch.test';
const ROLE = 'app_reader';
/** What GitHub's runner would check before handing a job its OIDC token. */
const ACTIONS_REQUEST_TOKEN = 'actions-request-token-not-for-logs';

const policyYaml = (issuerUrl: string) => `
machines:
  - id: deploy-pipeline
    owner: { user: ${OWNER} }
    authentication: oidc
    oidc:
      issuer: ${issuerUrl}
      audience: ${AUDIENCE}
      claims:
        repository: octo-org/deploy
        ref: refs/heads/main
    account: deploy_bot
  - id: coding-agent
    owner: { user: ${OWNER} }
    authentication: token
    account: coding_agent
  - id: nightly-job
    owner: { user: ${OWNER} }
    authentication: token
    account: nightly_job
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
    requesters: { machines: [deploy-pipeline, coding-agent, nightly-job] }
    approvers: { users: [${APPROVERS.join(', ')}], required: 2 }
    approvalChannel: C0APPROVALS
`;

const JOB_CLAIMS = { aud: AUDIENCE, repository: 'octo-org/deploy', ref: 'refs/heads/main' };

let stack: LatchOverHttp;
let slack: FakeSlack;
let target: PrivatePostgres;
let targetAdmin: pg.Client;
let sql: pg.Client;
let issuer: LoopbackOidcIssuer;
let latch: LatchProcess;
let sender: SlackSender;
let baseUrl: string;
let tokens: Record<string, string>;

beforeAll(async () => {
  let grantorUrl: string;
  [{ target, admin: targetAdmin, grantorUrl }, issuer] = await Promise.all([startDynamicLoginsTarget(ROLE), LoopbackOidcIssuer.start()]);
  stack = await LatchOverHttp.start({
    name: 'pipelines-agents',
    policy: () => policyYaml(issuer.url),
    machines: ['coding-agent', 'nightly-job'],
    env: { TARGET_DB_URL: grantorUrl },
  });
  ({ slack, sql, latch, sender, baseUrl, tokens } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await targetAdmin?.end();
  await Promise.all([issuer?.close(), target?.stop()]);
});

/** The id of the request whose approval card says `reason`, once Latch has posted it. */
async function cardFor(reason: string): Promise<string> {
  const card = await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(reason), 30_000);
  return /[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(JSON.stringify(card.args))![0];
}

// Read from Latch's database, not the API, so waiting spends no machine's rate limit.
const stateOf = async (requestId: string) => (await sql.query<{ state: string }>('SELECT state FROM access_requests WHERE id = $1', [requestId])).rows[0]?.state;

/** Both approvers click Approve; after the first, the request still waits for the second. */
async function approveByBoth(id: string): Promise<void> {
  expect((await sender.click(APPROVERS[0], 'latch_approve', id)).status).toBe(200);
  await expect.poll(async () => (await sql.query("SELECT 1 FROM audit_events WHERE action = 'approval.recorded' AND request_id = $1", [id])).rowCount, { timeout: 15_000 }).toBe(1);
  expect(await stateOf(id)).toBe('pending');
  expect((await sender.click(APPROVERS[1], 'latch_approve', id)).status).toBe(200);
}

interface Credentials {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

/** Logs in with the credentials and reads what the role may read; or the SQLSTATE the login was refused with. */
async function readAs(credentials: Credentials): Promise<{ rows: unknown[] } | { refused: string }> {
  const client = new pg.Client({ ...credentials });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    return { refused: String((error as { code?: string }).code ?? (error as Error).message) };
  }
  try {
    return { rows: (await client.query('SELECT version FROM deployments')).rows };
  } finally {
    await client.end();
  }
}

/** GitHub Actions' OIDC token endpoint as a runner offers it to a job with `id-token: write`. */
async function actionsTokenEndpoint(): Promise<{ url: string; audiences: string[]; close: () => Promise<void> }> {
  const audiences: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://runner');
    if (req.headers.authorization !== `bearer ${ACTIONS_REQUEST_TOKEN}`) return void res.writeHead(401).end();
    audiences.push(url.searchParams.get('audience') ?? '');
    void issuer.sign({ ...JOB_CLAIMS, aud: url.searchParams.get('audience') }).then((value) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // As GitHub gives it: a URL that already has a query, to which the job appends &audience=.
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token?api-version=2.0`;
  return { url, audiences, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('pipelines and agents, end to end', { timeout: 180_000 }, () => {
  it('a pipeline step with an OIDC token waits for two approvals and gets a login that works until it releases it', async () => {
    const jwt = await issuer.sign(JOB_CLAIMS);
    const step = new LatchProcess(['request', 'app-db', 'read', '15m', '--reason', 'deploy 4f2a migration', '--wait', '--credentials', '--format', 'env'], { LATCH_URL: baseUrl, LATCH_OIDC_TOKEN: jwt });
    const id = await cardFor('deploy 4f2a migration');
    await expect.poll(() => step.stderr, { timeout: 30_000 }).toContain(`request ${id} is waiting for approval in Slack`);
    await approveByBoth(id);
    const exit: LatchExit = await step.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toContain('shown once');
    // Neither the OIDC token nor the API token it was traded for is printed.
    expect(exit.stdout + exit.stderr).not.toContain(jwt.split('.')[2]);
    expect(exit.stdout + exit.stderr).not.toMatch(/latch_[0-9a-f]{32}_/);

    // What a later step does with it: source the lines, and connect with the PG* variables.
    const sourced = execFileSync('bash', ['-c', 'eval "$OUTPUT"; printf "%s\\n" "$LATCH_REQUEST_ID" "$LATCH_REQUEST_STATE" "$PGHOST" "$PGPORT" "$PGDATABASE" "$PGUSER" "$PGPASSWORD"'], { env: { PATH: process.env.PATH, OUTPUT: exit.stdout }, encoding: 'utf8' }).split('\n');
    const [requestId, state, host, port, database, user, password] = sourced;
    expect([requestId, state, user]).toEqual([id, 'active', `latch_${id.replaceAll('-', '')}`]);
    const credentials = { host: host!, port: Number(port), database: database!, user: user!, password: password! };
    expect(credentials).toMatchObject(target.endpoint());
    expect(await readAs(credentials)).toEqual({ rows: [{ version: '4f2a' }] });
    const audited = await sql.query<{ action: string }>("SELECT action FROM audit_events WHERE request_id = $1 AND action = 'credentials.issued'", [id]);
    expect(audited.rowCount).toBe(1);

    // Given once: a second fetch (a fresh OIDC token, as a later step would have) is refused.
    const again = await runLatch(['credentials', id], { LATCH_URL: baseUrl, LATCH_OIDC_TOKEN: await issuer.sign(JOB_CLAIMS) });
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/handed out already/);
    expect(again.stdout).not.toContain(credentials.password);

    // The task is done: released from a GitHub Actions step, whose OIDC token the CLI asks the runner for.
    const runner = await actionsTokenEndpoint();
    try {
      const released = await runLatch(['release', id], { LATCH_URL: baseUrl, LATCH_OIDC_AUDIENCE: AUDIENCE, ACTIONS_ID_TOKEN_REQUEST_URL: runner.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: ACTIONS_REQUEST_TOKEN });
      expect(released.code, released.stderr).toBe(0);
      expect(runner.audiences).toEqual([AUDIENCE]);
      expect(released.stdout + released.stderr).not.toContain(ACTIONS_REQUEST_TOKEN);
    } finally {
      await runner.close();
    }
    await expect.poll(() => stateOf(id), { timeout: 30_000 }).toBe('revoked');
    expect(await readAs(credentials)).toEqual({ refused: '28P01' });
  });

  it('refuses an OIDC token Latch does not accept with the config exit code and its reason', async () => {
    const wrongAudience = await issuer.sign({ ...JOB_CLAIMS, aud: 'https://someone-else.test' });
    const exit = await runLatch(['request', 'app-db', 'read', '15m', '--reason', 'never asked'], { LATCH_URL: baseUrl, LATCH_OIDC_TOKEN: wrongAudience });
    expect(exit.code).toBe(78);
    expect(exit.stderr).toMatch(/^latch: Latch refused the job's OIDC token: .*audience/i);
    expect(exit.stderr).not.toContain(wrongAudience.split('.')[2]);
    expect(await sql.query("SELECT 1 FROM access_requests WHERE reason = 'never asked'").then((r) => r.rowCount)).toBe(0);
  });

  // Over HTTP to Latch's /mcp, and through `latch mcp` on stdio as an agent's host starts it locally.
  it.each(['http', 'stdio'] as const)('an agent over MCP (%s) asks, waits for two approvals, gets its login once, and gives it back', async (transport) => {
    const client = new Client({ name: 'e2e-agent', version: '1.0.0' });
    await client.connect(
      transport === 'http'
        ? new StreamableHTTPClientTransport(new URL('/mcp', baseUrl), { requestInit: { headers: { authorization: `Bearer ${tokens['coding-agent']}` } } })
        : new StdioClientTransport({ command: process.execPath, args: [...latchNodeArgs(), 'mcp'], env: { PATH: process.env.PATH ?? '', LATCH_URL: baseUrl, LATCH_TOKEN: tokens['coding-agent']! }, stderr: 'pipe' }),
    );
    try {
      const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallToolResult;
      const made = await call('request_access', { resource: 'app-db', role: 'read', duration: '15m', reason: `agent over ${transport}: fix the failing report query` });
      expect(made.isError, JSON.stringify(made.content)).toBeFalsy();
      const request = made.structuredContent as { id: string; state: string; account: string };
      expect(request.state).toBe('pending_approval');
      expect(await cardFor(request.id)).toBe(request.id);

      const early = await call('get_credentials', { id: request.id });
      expect(early.isError).toBe(true);
      expect(JSON.stringify(early.content)).toContain('not_granted');

      await approveByBoth(request.id);
      let state = request.state;
      for (let tries = 0; state !== 'active' && tries < 10; tries++) {
        const waited = await call('wait_for_decision', { id: request.id, seconds: 20 });
        expect(waited.isError, JSON.stringify(waited.content)).toBeFalsy();
        state = (waited.structuredContent as { state: string }).state;
      }
      expect(state).toBe('active');

      const fetched = await call('get_credentials', { id: request.id });
      expect(fetched.isError, JSON.stringify(fetched.content)).toBeFalsy();
      const credentials = fetched.structuredContent as unknown as Credentials;
      expect(credentials).toMatchObject({ ...target.endpoint(), user: request.account });
      expect(JSON.stringify(fetched.content)).toContain('shown once');
      expect(await readAs(credentials)).toEqual({ rows: [{ version: '4f2a' }] });
      const second = await call('get_credentials', { id: request.id });
      expect(second.isError).toBe(true);
      expect(JSON.stringify(second.content)).toContain('credentials_issued');
      expect(JSON.stringify(second.content)).not.toContain(credentials.password);

      const released = await call('release_access', { id: request.id });
      expect(released.isError, JSON.stringify(released.content)).toBeFalsy();
      await expect.poll(() => stateOf(request.id), { timeout: 30_000 }).toBe('revoked');
      expect(await readAs(credentials)).toEqual({ refused: '28P01' });
    } finally {
      await client.close();
    }
  });

  it('a token-authenticated machine denied in Slack sees the denial in the exit code', async () => {
    const step = new LatchProcess(['request', 'app-db', 'read', '15m', '--reason', 'nightly export to be denied', '--wait', '--credentials'], { LATCH_URL: baseUrl, LATCH_TOKEN: tokens['nightly-job'] });
    const id = await cardFor('nightly export to be denied');
    await expect.poll(() => step.stderr, { timeout: 30_000 }).toContain(`request ${id} is waiting for approval in Slack`);
    expect((await sender.click(APPROVERS[1], 'latch_deny', id)).status).toBe(200);
    const modal = await slack.waitForCall('views.open', (call) => JSON.stringify(call.args.view).includes(id));
    expect((await sender.submit(APPROVERS[1], asOpenView(modal.args.view as Record<string, unknown>, { latch_deny_reason: { latch_deny_reason_input: textInput('use the export bucket') } }))).status).toBe(200);
    const exit = await step.exited;
    expect(exit.code, exit.stderr).toBe(2);
    expect(exit.stderr).toContain(`request ${id} was denied`);
    expect(exit.stderr).toContain('use the export bucket');
    expect(exit.stderr).not.toContain('shown once');
  });
});
