import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamicLoginsTarget } from '../helpers/dynamic-logins-target.ts';
import { asOpenView, textInput } from '../helpers/latch-harness.ts';
import { LatchOverHttp } from '../helpers/latch-over-http.ts';
import { LatchProcess } from '../helpers/latch-process.ts';
import { LoopbackOidcIssuer } from '../helpers/oidc-issuer.ts';
import type { PrivatePostgres } from '../helpers/private-postgres.ts';

/**
 * Issue 16's promise, end to end through the real `latch start`: a pipeline step (`latch request`
 * as a child process) that holds no Latch secret, only its job's OIDC token from an issuer on
 * loopback, asks for a database; two people approve in (fake) Slack; the step exits 0 with
 * credentials of a login of its own that really connect to a real PostgreSQL that checks
 * passwords, and that the database refuses once the access has ended. An AI agent does the same
 * through /mcp with the MCP SDK's own client. A token-authenticated machine that is denied exits
 * with the denial code.
 */

const APPROVERS = ['U0APPROVER1', 'U0APPROVER2'] as const;
const OWNER = 'U0OWNER01';
const ROLE = 'app_reader';
const AUDIENCE = 'https://latch.test';
const JOB = { aud: AUDIENCE, repository: 'octo-org/deploy', ref: 'refs/heads/main' };

const policyYaml = (issuerUrl: string) => `
machines:
  - id: deploy-pipeline
    owner: { user: ${OWNER} }
    authentication: oidc
    oidc:
      issuer: ${issuerUrl}
      audience: ${AUDIENCE}
      claims: { repository: octo-org/deploy, ref: refs/heads/main }
    account: deploy_bot
  - id: release-agent
    owner: { user: ${OWNER} }
    authentication: token
    account: release_agent
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
    maxDuration: 1h
    requesters: { machines: [deploy-pipeline, release-agent, nightly-job] }
    approvers: { users: [${APPROVERS.join(', ')}], required: 2 }
    approvalChannel: C0APPROVALS
`;

let target: PrivatePostgres;
let targetAdmin: pg.Client;
let issuer: LoopbackOidcIssuer;
let stack: LatchOverHttp;

beforeAll(async () => {
  let grantorUrl: string;
  [{ target, admin: targetAdmin, grantorUrl }, issuer] = await Promise.all([startDynamicLoginsTarget(ROLE), LoopbackOidcIssuer.start()]);
  stack = await LatchOverHttp.start({
    name: 'pipelines-and-agents',
    policy: () => policyYaml(issuer.url),
    machines: ['release-agent', 'nightly-job'],
    env: { TARGET_DB_URL: grantorUrl },
    // Durations from a second, so the end of access comes within the test.
    process: { shortGrants: true },
  });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await targetAdmin?.end();
  await Promise.all([target?.stop(), issuer?.close()]);
});

/** The id of the request the approval card with `reason` is for, once it is posted. */
async function cardFor(reason: string): Promise<string> {
  const card = await stack.slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(reason), 30_000);
  return /[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(JSON.stringify(card.args))![0];
}

/** Both approvers click Approve on the card, as Slack sends the clicks, signed. */
async function approveTwice(id: string): Promise<void> {
  for (const approver of APPROVERS) expect((await stack.sender.click(approver, 'latch_approve', id)).status).toBe(200);
}

interface Login {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

/** Logs in with `login` and reads the table the role allows; the database's refusal code when it will not. */
async function readAs(login: Login): Promise<string> {
  const client = new pg.Client({ ...login, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<{ version: string }>('SELECT version FROM deployments')).rows[0]!.version;
  } catch (error) {
    return `refused: ${(error as { code?: string }).code ?? (error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('pipelines and agents, end to end', { timeout: 120_000 }, () => {
  it('a pipeline step with only its OIDC token waits for two approvals and gets a login that works until the access ends', async () => {
    const reason = 'deploy 4f2a from octo-org/deploy';
    // What a GitHub Actions step has: the address of Latch and its job's OIDC token, no Latch secret.
    const step = new LatchProcess(['request', 'app-db', 'read', '8s', '--reason', reason, '--wait', '--credentials', '--format', 'env'], {
      LATCH_URL: stack.baseUrl,
      LATCH_OIDC_TOKEN: await issuer.sign(JOB),
    });
    const id = await cardFor(reason);
    await expect.poll(() => step.stderr, { timeout: 30_000 }).toContain(`request ${id} is waiting for approval in Slack`);
    // One approval of the two needed: still waiting.
    expect((await stack.sender.click(APPROVERS[0], 'latch_approve', id)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(step.stderr).not.toContain('shown once');
    expect((await stack.sender.click(APPROVERS[1], 'latch_approve', id)).status).toBe(200);

    const exit = await step.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toContain('these credentials are shown once');
    const vars = Object.fromEntries(exit.stdout.trim().split('\n').map((line) => /^([A-Z_]+)='(.*)'$/.exec(line)!.slice(1, 3) as [string, string]));
    expect(vars).toMatchObject({ LATCH_REQUEST_ID: id, LATCH_REQUEST_STATE: 'active', PGUSER: `latch_${id.replaceAll('-', '')}` });
    const login = { host: vars.PGHOST!, port: Number(vars.PGPORT), database: vars.PGDATABASE!, user: vars.PGUSER!, password: vars.PGPASSWORD! };
    expect(await readAs(login)).toBe('4f2a');
    // Someone who read the login's name but not its password gets nothing.
    expect(await readAs({ ...login, password: 'not-the-password' })).toBe('refused: 28P01');

    // At the end of its 8 s the access is revoked: the login is gone, and the database refuses it.
    await expect.poll(() => readAs(login), { timeout: 60_000, interval: 1_000 }).toMatch(/^refused: /);
    const events = await stack.sql.query<{ action: string }>('SELECT action FROM audit_events WHERE request_id = $1 ORDER BY seq', [id]);
    expect(events.rows.map((row) => row.action)).toEqual(expect.arrayContaining(['request.created', 'credentials.issued']));
    // The password is in no log line of Latch and no call to Slack.
    expect(stack.latch.stdout + stack.latch.stderr).not.toContain(login.password);
    expect(JSON.stringify(stack.slack.calls)).not.toContain(login.password);
  });

  it('an agent over MCP asks, waits for the two approvals, gets its login once, and releases it', async () => {
    const agent = new Client({ name: 'release-agent', version: '1.0.0' });
    await agent.connect(new StreamableHTTPClientTransport(new URL('/mcp', stack.baseUrl), { requestInit: { headers: { authorization: `Bearer ${stack.tokens['release-agent']}` } } }));
    try {
      const asked = await agent.callTool({ name: 'request_access', arguments: { resource: 'app-db', role: 'read', duration: '10m', reason: 'check the 4f2a release' } });
      expect(asked.structuredContent).toMatchObject({ state: 'pending_approval' });
      const id = (asked.structuredContent as { id: string }).id;
      await cardFor('check the 4f2a release');
      await approveTwice(id);
      const decided = await agent.callTool({ name: 'wait_for_decision', arguments: { id, seconds: 30 } });
      expect(decided.structuredContent).toMatchObject({ id, state: 'active' });

      const issued = await agent.callTool({ name: 'get_credentials', arguments: { id } });
      const login = issued.structuredContent as unknown as Login;
      expect(login.user).toBe(`latch_${id.replaceAll('-', '')}`);
      expect(await readAs(login)).toBe('4f2a');
      // Once only: Latch keeps no copy.
      const again = await agent.callTool({ name: 'get_credentials', arguments: { id } });
      expect(again.isError).toBe(true);

      const released = await agent.callTool({ name: 'release_access', arguments: { id } });
      expect(released.structuredContent).toMatchObject({ id });
      await expect.poll(() => readAs(login), { timeout: 30_000, interval: 500 }).toMatch(/^refused: /);
    } finally {
      await agent.close();
    }
  });

  it('a token-authenticated machine that is denied exits with the denial code', async () => {
    const reason = 'nightly export of app-db';
    const step = new LatchProcess(['request', 'app-db', 'read', '10m', '--reason', reason, '--wait', '--credentials'], { LATCH_URL: stack.baseUrl, LATCH_TOKEN: stack.tokens['nightly-job']! });
    const id = await cardFor(reason);
    await expect.poll(() => step.stderr, { timeout: 30_000 }).toContain(`request ${id} is waiting for approval in Slack`);
    expect((await stack.sender.click(APPROVERS[0], 'latch_deny', id)).status).toBe(200);
    const modal = await stack.slack.waitForCall('views.open', (call) => JSON.stringify(call.args.view).includes(id));
    const denied = asOpenView(modal.args.view as Record<string, unknown>, { latch_deny_reason: { latch_deny_reason_input: textInput('use the replica') } });
    expect((await stack.sender.submit(APPROVERS[0], denied)).status).toBe(200);
    const exit = await step.exited;
    expect(exit.code, exit.stderr).toBe(2);
    expect(exit.stderr).toContain('use the replica');
    expect(exit.stderr).not.toContain('shown once');
    // Nothing was created on the database for a request that was never granted.
    expect((await targetAdmin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [`latch_${id.replaceAll('-', '')}`])).rowCount).toBe(0);
  });
});
