import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { freePort } from '../../helpers/free-port.ts';
import { LatchOverHttp } from '../../helpers/latch-over-http.ts';
import { LatchProcess, latchNodeArgs, runLatch } from '../../helpers/latch-process.ts';
import type { WebhookReceiver } from '../../helpers/webhook-receiver.ts';

/**
 * AI agents through the real `latch start`, with the MCP SDK's own client: over Streamable HTTP at
 * /mcp, and over stdio through `latch mcp` run as a child process. An agent asks, a person
 * approves with a signed click in (fake) Slack, the agent's wait sees the grant, it lists and
 * releases its access; a bad token, another machine's request id and a request beyond the policy
 * are each refused.
 */

const APPROVER = 'U0APPROVER1';
const OWNER = 'U0OWNER01';
const MACHINES = ['http-agent', 'stdio-agent', 'other-agent', 'chatty-agent'] as const;
type Machine = (typeof MACHINES)[number];

const policyYaml = (hookUrl: string) => `
machines:
${MACHINES.map((id) => `  - id: ${id}\n    owner: { user: ${OWNER} }\n    authentication: token\n    account: ${id.replace('-', '_')}`).join('\n')}
resources:
  - id: prod-db
    name: Production database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 4h
    requesters: { machines: [${MACHINES.join(', ')}] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
`;

let stack: LatchOverHttp;
let slack: FakeSlack;
let receiver: WebhookReceiver;
let sql: pg.Client;
let latch: LatchProcess;
let env: Record<string, string>;
let baseUrl: string;
let tokens: Record<Machine, string>;
const clients: Client[] = [];

beforeAll(async () => {
  stack = await LatchOverHttp.start({ name: 'mcp-server', policy: ({ hookUrl }) => policyYaml(hookUrl), machines: MACHINES });
  ({ slack, receiver, sql, latch, env, baseUrl } = stack);
  tokens = stack.tokens as Record<Machine, string>;
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await stack?.close();
});

function httpTransport(token: string | undefined): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(new URL('/mcp', baseUrl), token === undefined ? {} : { requestInit: { headers: { authorization: `Bearer ${token}` } } });
}

async function httpClient(machine: Machine): Promise<Client> {
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(httpTransport(tokens[machine]));
  clients.push(client);
  return client;
}

/** `latch mcp` as an agent's host starts it: a child process speaking MCP on its stdin and stdout. */
async function stdioClient(machine: Machine): Promise<Client> {
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [...latchNodeArgs(), 'mcp'],
      env: { PATH: process.env.PATH ?? '', LATCH_URL: baseUrl, LATCH_TOKEN: tokens[machine] },
      stderr: 'pipe',
    }),
  );
  clients.push(client);
  return client;
}

interface RequestShown {
  id: string;
  state: string;
  resource: string;
  role: string;
  account: string | null;
  durationSeconds: number;
  reason: string;
  grant: { expiresAt: string | null } | null;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function textOf(result: CallToolResult): string {
  return result.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');
}

function requestOf(result: CallToolResult): RequestShown {
  expect(result.isError, textOf(result)).toBeFalsy();
  return result.structuredContent as unknown as RequestShown;
}

/** Waits (as an agent does, a wait at a time) until the request is no longer pending or being granted. */
async function waitUntilSettled(client: Client, id: string): Promise<RequestShown> {
  for (let attempt = 0; attempt < 6; attempt++) {
    const request = requestOf(await call(client, 'wait_for_decision', { id, seconds: 10 }));
    if (request.state !== 'pending_approval' && request.state !== 'approved') return request;
  }
  throw new Error(`request ${id} did not settle`);
}

const sender = () => stack.sender;
const TASK = 'Run the read-only report for incident INC-42';

/** An agent's whole journey: ask, a person approves in Slack, wait, list, release. */
async function askApproveUseRelease(client: Client, machine: Machine): Promise<void> {
  const account = machine.replace('-', '_');
  const asked = await call(client, 'request_access', { resource: 'prod-db', role: 'read', duration: '15m', reason: TASK });
  const request = requestOf(asked);
  expect(request).toMatchObject({ state: 'pending_approval', resource: 'prod-db', role: 'read', account, durationSeconds: 900, reason: TASK });
  expect(textOf(asked)).toContain(`pending_approval`);
  expect(textOf(asked)).toContain(request.id);

  // The card names the agent, its owner and the task it stated.
  const card = await slack.waitForCall('chat.postMessage', (posted) => posted.args.channel === 'C0APPROVALS' && JSON.stringify(posted.args).includes(request.id));
  const blocks = JSON.stringify(card.args.blocks);
  expect(blocks).toContain(`machine \`${machine}\` (owner <@${OWNER}>)`);
  expect(blocks).toContain(JSON.stringify(`*Task stated by machine \`${machine}\`*\n${TASK}`).slice(1, -1));
  // Audited as the machine, with the token it asked with.
  const created = await sql.query<{ actor: string; token_id: string }>("SELECT actor, data->>'tokenId' AS token_id FROM audit_events WHERE action = 'request.created' AND request_id = $1", [request.id]);
  expect(created.rows).toHaveLength(1);
  expect(created.rows[0]!.actor).toBe(`machine:${machine}`);
  expect(created.rows[0]!.token_id.replaceAll('-', '')).toBe(/^latch_([0-9a-f]{32})_/.exec(tokens[machine])![1]);

  // Nobody decided yet: a short wait answers that it is still pending.
  expect(requestOf(await call(client, 'wait_for_decision', { id: request.id, seconds: 1 })).state).toBe('pending_approval');
  expect((await sender().click(APPROVER, 'latch_approve', request.id)).status).toBe(200);
  const granted = await waitUntilSettled(client, request.id);
  expect(granted).toMatchObject({ id: request.id, state: 'active', grant: { expiresAt: expect.any(String) } });
  expect(receiver.hasAccess(account, 'read', 'prod-db')).toBe(true);

  const listed = await call(client, 'list_access');
  expect((listed.structuredContent as { access: RequestShown[] }).access).toEqual([expect.objectContaining({ id: request.id, state: 'active' })]);
  expect(textOf(listed)).toContain(request.id);

  expect(requestOf(await call(client, 'release_access', { id: request.id })).id).toBe(request.id);
  await expect.poll(async () => requestOf(await call(client, 'check_request', { id: request.id })).state, { timeout: 30_000 }).toBe('revoked');
  expect(receiver.hasAccess(account, 'read', 'prod-db')).toBe(false);
  expect((((await call(client, 'list_access')).structuredContent as { access: unknown[] }).access)).toEqual([]);
  const released = await call(client, 'release_access', { id: request.id });
  expect(released.isError).toBe(true);
}

describe('the MCP server', { timeout: 120_000 }, () => {
  it('offers the six access tools, each with an input schema, and no way to approve', async () => {
    const client = await httpClient('http-agent');
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['check_request', 'get_credentials', 'list_access', 'release_access', 'request_access', 'wait_for_decision']);
    const requestTool = tools.find((tool) => tool.name === 'request_access')!;
    expect(requestTool.inputSchema.required).toEqual(expect.arrayContaining(['resource', 'role', 'duration', 'reason']));
    expect(requestTool.outputSchema).toBeDefined();
    expect(client.getServerVersion()?.name).toBe('latch');
    // As the README's curl asks: one POST, no session, plain JSON back.
    const listed = await fetch(`${baseUrl}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens['http-agent']}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(listed.status).toBe(200);
    expect(listed.headers.get('mcp-session-id')).toBeNull();
    const body = (await listed.json()) as { result: { tools: Array<{ name: string }> } };
    expect(body.result.tools).toHaveLength(6);
    expect((await fetch(`${baseUrl}/mcp`, { headers: { authorization: `Bearer ${tokens['http-agent']}` } })).status).toBe(405);
    const approve = await client.callTool({ name: 'approve_request', arguments: { id: '00000000-0000-7000-8000-000000000000' } }).catch((error: Error) => ({ isError: true, content: [{ type: 'text', text: error.message }] }));
    expect(approve.isError).toBe(true);
    expect(JSON.stringify(approve.content)).toContain('Tool approve_request not found');
  });

  it('over HTTP: asks, is approved in Slack, sees the grant while waiting, lists and releases it', async () => {
    await askApproveUseRelease(await httpClient('http-agent'), 'http-agent');
  });

  it('over stdio through `latch mcp`: the same journey', async () => {
    await askApproveUseRelease(await stdioClient('stdio-agent'), 'stdio-agent');
  });

  it('refuses a connection without a valid token with 401, over HTTP and from `latch mcp`', async () => {
    for (const token of [undefined, 'latch_not-a-token', `${tokens['http-agent'].slice(0, 39)}${'A'.repeat(43)}`]) {
      const client = new Client({ name: 'test-agent', version: '1.0.0' });
      const failed = await client.connect(httpTransport(token)).then(() => null, (error: unknown) => error);
      expect(failed).toBeInstanceOf(StreamableHTTPError);
      expect((failed as StreamableHTTPError).code).toBe(401);
    }
    const raw = await fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    expect(raw.status).toBe(401);
    expect(raw.headers.get('www-authenticate')).toMatch(/^Bearer /);

    // From a web page (DNS rebinding, a page that got hold of a token): refused whatever it holds.
    const fromPage = await fetch(`${baseUrl}/mcp`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', authorization: `Bearer ${tokens['http-agent']}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(fromPage.status).toBe(403);
    expect(((await fromPage.json()) as { code: string }).code).toBe('origin_refused');

    const proxy = new LatchProcess(['mcp'], { LATCH_URL: baseUrl, LATCH_TOKEN: 'latch_not-a-token' });
    const exit = await proxy.exited;
    expect(exit.code).toBe(78);
    expect(exit.stderr).toContain(`latch: Latch at ${baseUrl} refused LATCH_TOKEN: This is not a valid Latch API token.`);
    expect(latch.stdout).not.toContain(tokens['http-agent']);
  });

  it('has `latch mcp` say what is wrong with its settings, or that Latch is unreachable, and exit', async () => {
    const unset = await runLatch(['mcp'], {});
    expect(unset.code).toBe(78);
    expect(unset.stderr).toContain('latch: LATCH_URL is missing: set it to the http(s) URL of the Latch server');
    expect(unset.stderr).toContain('latch: LATCH_TOKEN is missing: set it to a machine API token');
    const wrong = await runLatch(['mcp'], { LATCH_URL: 'ftp://latch.example.com', LATCH_TOKEN: 'xoxb-not-latch' });
    expect(wrong.code).toBe(78);
    expect(wrong.stderr).toContain('latch: LATCH_URL is not a valid http:// or https:// URL');
    expect(wrong.stderr).toContain('latch: LATCH_TOKEN does not look like a machine API token');
    expect(wrong.stderr).not.toContain('xoxb-not-latch');
    const nobodyThere = `http://127.0.0.1:${await freePort()}`;
    const unreachable = await runLatch(['mcp'], { LATCH_URL: nobodyThere, LATCH_TOKEN: tokens['http-agent'] });
    expect(unreachable.code).toBe(69);
    expect(unreachable.stderr).toContain(`latch: could not reach Latch at ${nobodyThere}`);
    expect(unreachable.stderr).not.toContain(tokens['http-agent']);
  });

  it("answers another machine's request id as one that does not exist", async () => {
    const owner = await httpClient('http-agent');
    const mine = requestOf(await call(owner, 'request_access', { resource: 'prod-db', role: 'read', duration: '15m', reason: 'not yours' }));
    const other = await httpClient('other-agent');
    for (const tool of ['check_request', 'wait_for_decision', 'release_access']) {
      const result = await call(other, tool, { id: mine.id, ...(tool === 'wait_for_decision' ? { seconds: 1 } : {}) });
      expect(result.isError, tool).toBe(true);
      expect(textOf(result)).toBe('Refused (not_found): There is no request with this id among yours.');
    }
    expect(requestOf(await call(owner, 'check_request', { id: mine.id })).state).toBe('pending_approval');
    const state = await sql.query<{ state: string }>('SELECT state FROM access_requests WHERE id = $1', [mine.id]);
    expect(state.rows[0]!.state).toBe('pending');
  });

  it('refuses a request beyond the policy with the words a person gets, and bad arguments with what is wrong', async () => {
    const client = await httpClient('other-agent');
    const tooLong = await call(client, 'request_access', { resource: 'prod-db', role: 'read', duration: '8h', reason: 'a long job' });
    expect(tooLong.isError).toBe(true);
    expect(textOf(tooLong)).toContain('duration: At most 4h for read on Production database.');
    // A scope reaches the same checks as through the API: this role takes none.
    const scoped = await call(client, 'request_access', { resource: 'prod-db', role: 'read', duration: '15m', reason: 'one customer', scope: { customer: ['4711'] } });
    expect(scoped.isError).toBe(true);
    expect(textOf(scoped)).toContain('The role read takes no scope (customer)');
    const missing = await call(client, 'request_access', { resource: 'prod-db', role: 'read', duration: '15m' });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/Input validation error: .*reason/s);
    const tooMuchWait = await call(client, 'wait_for_decision', { id: '00000000-0000-7000-8000-000000000000', seconds: 600 });
    expect(tooMuchWait.isError).toBe(true);
    expect(textOf(tooMuchWait)).toMatch(/seconds/);
  });

  it('refuses a body that is not JSON, too large, or not JSON-RPC, with a problem or a JSON-RPC error', async () => {
    const post = (body: string, contentType = 'application/json') =>
      fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${tokens['other-agent']}`, 'content-type': contentType, accept: 'application/json, text/event-stream' }, body });
    const malformed = await post('{not json');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { code: string }).code).toBe('malformed_json');
    const huge = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { padding: 'x'.repeat(100_000) } }));
    expect(huge.status).toBe(413);
    expect((await post('resource=prod-db', 'text/plain')).status).toBe(415);
    const notRpc = await post(JSON.stringify({ hello: 'world' }));
    expect(notRpc.status).toBe(400);
    expect(JSON.stringify(await notRpc.json())).toMatch(/"jsonrpc":"2.0"/);
  });

  it('counts MCP calls against the same per-machine rate limit as /api/v1', async () => {
    const token = tokens['chatty-agent'];
    let status = 200;
    for (let calls = 0; calls < 60 && status === 200; calls++) status = (await fetch(`${baseUrl}/api/v1/access`, { headers: { authorization: `Bearer ${token}` } })).status;
    expect(status).toBe(429);
    const limited = await fetch(`${baseUrl}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another machine is not slowed.
    await httpClient('other-agent');
  });
});
