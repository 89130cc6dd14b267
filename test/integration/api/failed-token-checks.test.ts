import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, LatchOverHttp } from '../../helpers/latch-over-http.ts';

/**
 * Bearer tokens that fail their check, limited per client address on /api/v1 and /mcp together,
 * against a real `latch start` behind one trusted proxy (which passes each caller's address on).
 * A well-formed token with a made-up id costs primary-key reads and a warning line: 30 from one
 * address are checked, then the address is refused with 429 and Retry-After, its tokens not looked
 * at and no line logged per refusal. Good tokens are not counted; another address is untouched.
 */

const policyYaml = (hookUrl: string) => `
machines:
  - id: ci-bot
    owner: { user: U0OWNER01 }
    authentication: token
    account: ci_bot
resources:
  - id: app-db
    name: App database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 1h
    requesters: { machines: [ci-bot] }
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS
`;

let stack: LatchOverHttp;

beforeAll(async () => {
  stack = await LatchOverHttp.start({ name: 'failed-token-checks', policy: ({ hookUrl }) => policyYaml(hookUrl), machines: ['ci-bot'], env: { LATCH_TRUSTED_PROXY_HOPS: '1' } });
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

/** A token of the right shape whose id names no row: what someone guessing or replaying sends. */
const madeUpToken = () => `latch_${randomBytes(16).toString('hex')}_${randomBytes(32).toString('base64url')}`;

/** `GET /api/v1/access` from `address`, as the trusted proxy passes it on. */
const listFrom = (address: string, token: string) => stack.api('/access', { token, headers: { 'x-forwarded-for': address } });

/** `POST /mcp` (tools/list) from `address`. */
const mcpFrom = (address: string, token: string) =>
  fetch(`${stack.baseUrl}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-forwarded-for': address },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });

/** Latch's log lines with this message. */
const logged = (message: string) => stack.latch.logLines().filter((line) => typeof line.msg === 'string' && line.msg.startsWith(message));
const badTokenLines = () => logged('API call refused: bad token').length + logged('MCP call refused: bad token').length;
const refusalWarnings = () => logged('API calls refused unchecked');
/** Time for the lines of the calls answered to come through Latch's stdout. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe('failed token checks, per client address', () => {
  it('checks 30 bad tokens from an address, then refuses its calls unchecked with 429, logging one warning, not a line a call', async () => {
    const before = badTokenLines();
    const statuses: number[] = [];
    for (let n = 0; n < 30; n++) statuses.push((await listFrom('203.0.113.10', madeUpToken())).status);
    expect(statuses).toEqual(Array(30).fill(401));

    for (let n = 0; n < 20; n++) {
      const refused = await listFrom('203.0.113.10', madeUpToken());
      const { detail } = await expectProblem(refused, 429, 'too_many_failed_token_checks');
      expect(detail).toMatch(/bad token came from this address.*try again in \d+ s/);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // Not one of the 20 was looked up: a line for each failed check, one warning for all the refusals.
    await stack.latch.waitForLog((line) => String(line.msg).startsWith('API calls refused unchecked'));
    await settle();
    expect(badTokenLines() - before).toBe(30);
    expect(refusalWarnings()).toHaveLength(1);
    expect(refusalWarnings()[0]).toMatchObject({ level: 'warn', lastIp: '203.0.113.10', path: '/api/v1' });

    // /mcp counts against the same limit: alternating gains nothing.
    await expectProblem(await mcpFrom('203.0.113.10', madeUpToken()), 429, 'too_many_failed_token_checks');
    await settle();
    expect(badTokenLines() - before).toBe(30);
  });

  it("refuses a good token too while its address is refused: checking it would cost what the limit saves; another address's calls go on", async () => {
    for (let n = 0; n < 30; n++) await listFrom('203.0.113.20', madeUpToken());
    await expectProblem(await listFrom('203.0.113.20', stack.tokens['ci-bot']!), 429, 'too_many_failed_token_checks');
    await expectProblem(await mcpFrom('203.0.113.20', stack.tokens['ci-bot']!), 429, 'too_many_failed_token_checks');

    // Another address: its good token works and its bad ones are checked (401), on both endpoints.
    const listed = await listFrom('203.0.113.21', stack.tokens['ci-bot']!);
    expect(listed.status).toBe(200);
    expect(await listed.json()).toEqual({ access: [] });
    expect((await mcpFrom('203.0.113.21', stack.tokens['ci-bot']!)).status).toBe(200);
    await expectProblem(await listFrom('203.0.113.21', madeUpToken()), 401, 'token_invalid');
    await expectProblem(await mcpFrom('203.0.113.21', madeUpToken()), 401, 'token_invalid');
  });

  it('never counts good tokens: an address that made many good calls still has all 30 checks for bad ones', async () => {
    // 25 good calls (the machine's own limit allows a burst of 30), on both endpoints.
    for (let n = 0; n < 13; n++) expect((await listFrom('203.0.113.30', stack.tokens['ci-bot']!)).status).toBe(200);
    for (let n = 0; n < 12; n++) expect((await mcpFrom('203.0.113.30', stack.tokens['ci-bot']!)).status).toBe(200);
    const statuses: number[] = [];
    for (let n = 0; n < 31; n++) statuses.push((await mcpFrom('203.0.113.30', madeUpToken())).status);
    expect(statuses).toEqual([...Array(30).fill(401), 429]);
  });

  it('counts a missing or malformed Authorization header as a failed check', async () => {
    const statuses: number[] = [];
    for (let n = 0; n < 31; n++) statuses.push((await stack.api('/access', { headers: { 'x-forwarded-for': '2001:db8:77:1::1', authorization: n % 2 ? 'Basic eA==' : '' } })).status);
    expect(statuses).toEqual([...Array(30).fill(401), 429]);
    // The address's whole /64 is one caller.
    expect((await stack.api('/access', { headers: { 'x-forwarded-for': '2001:db8:77:1:ffff::9' } })).status).toBe(429);
  });
});
