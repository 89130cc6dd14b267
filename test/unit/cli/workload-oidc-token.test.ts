import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError } from '../../../src/cli/cli-error.ts';
import { LatchApiClient } from '../../../src/cli/latch-api-client.ts';
import { readWorkloadOidcToken } from '../../../src/cli/workload-oidc-token.ts';

/** The OIDC token `latch request` trades when no LATCH_TOKEN is set, against a runner of the test's own. */

const REQUEST_TOKEN = 'runner-request-token-secret';
const LATCH_URL = 'https://latch.example.com';

let server: Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function runner(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; asked: URL[] }> {
  const asked: URL[] = [];
  server = createServer((req, res) => {
    asked.push(new URL(req.url ?? '/', 'http://runner'));
    answer(req, res);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/idtoken?api-version=2.0`, asked };
}

describe('readWorkloadOidcToken', () => {
  it('takes LATCH_OIDC_TOKEN as given, and is null without any OIDC token', async () => {
    expect(await readWorkloadOidcToken({ LATCH_OIDC_TOKEN: ' a.b.c\n' }, LATCH_URL)).toBe('a.b.c');
    expect(await readWorkloadOidcToken({}, LATCH_URL)).toBeNull();
    expect(await readWorkloadOidcToken({ ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/x' }, LATCH_URL)).toBeNull();
  });

  it("asks GitHub Actions' runner as GitHub documents it, for LATCH_OIDC_AUDIENCE or else LATCH_URL", async () => {
    const { url, asked } = await runner((req, res) => {
      if (req.headers.authorization !== `bearer ${REQUEST_TOKEN}`) return void res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value: 'the.job.jwt' }));
    });
    const env = { ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN };
    expect(await readWorkloadOidcToken({ ...env, LATCH_OIDC_AUDIENCE: 'latch-prod' }, LATCH_URL)).toBe('the.job.jwt');
    expect(await readWorkloadOidcToken(env, LATCH_URL)).toBe('the.job.jwt');
    expect(asked.map((u) => [u.searchParams.get('api-version'), u.searchParams.get('audience')])).toEqual([
      ['2.0', 'latch-prod'],
      ['2.0', LATCH_URL],
    ]);
  });

  it('says the job may lack id-token: write when the runner refuses (exit 78), without the request token', async () => {
    const { url } = await runner((_req, res) => res.writeHead(403).end());
    const failed = await readWorkloadOidcToken({ ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN }, LATCH_URL).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(CliError);
    expect(failed).toMatchObject({ exitCode: 78, message: expect.stringContaining('id-token: write') });
    expect((failed as CliError).message).not.toContain(REQUEST_TOKEN);
  });
});

describe('LatchApiClient.connect with an OIDC token', () => {
  const REQUEST = {
    id: '0193e0a0-0000-7000-8000-000000000001',
    state: 'pending_approval',
    resource: 'prod-db',
    role: 'read',
    account: 'deploy_bot',
    durationSeconds: 900,
    reason: 'deploy',
    ticket: null,
    createdAt: '2026-12-04T10:00:00.000Z',
    decidedAt: null,
    decidedByRule: null,
    outcome: null,
    grant: null,
  };

  /**
   * A runner and a Latch in one: the runner hands out jwt-1, jwt-2, …; Latch trades jwt-N for
   * api-N, and treats api-1 as expired, as it is once the first OIDC token's minutes are up.
   */
  async function runnerAndLatch(): Promise<{ url: string; exchanged: string[] }> {
    let issued = 0;
    const exchanged: string[] = [];
    const { url } = await runner((req, res) => {
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.url?.startsWith('/idtoken')) return json(200, { value: `jwt-${++issued}` });
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        if (req.url === '/api/v1/oidc/token') {
          const jwt = (JSON.parse(body) as { token: string }).token;
          exchanged.push(jwt);
          return json(200, { access_token: jwt.replace('jwt', 'api'), token_type: 'Bearer', expires_in: 300, expires_at: '2026-12-04T10:05:00.000Z', machine: 'deploy-pipeline' });
        }
        if (req.headers.authorization === 'Bearer api-1') return json(401, { type: 'about:blank', title: 'Unauthorized', status: 401, code: 'token_expired', detail: 'This token has expired.' });
        json(201, REQUEST);
      });
    });
    return { url: new URL(url).origin, exchanged };
  }

  it("trades a fresh GitHub Actions OIDC token when the first one's API token has expired, and goes on", async () => {
    const { url, exchanged } = await runnerAndLatch();
    const client = await LatchApiClient.connect({ LATCH_URL: url, ACTIONS_ID_TOKEN_REQUEST_URL: `${url}/idtoken?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN });
    const answer = await client.createRequest({ resource: 'prod-db' }, 'key-1');
    expect(answer).toMatchObject({ ok: true, request: { id: REQUEST.id } });
    expect(exchanged).toEqual(['jwt-1', 'jwt-2']);
  });

  it('uses a given LATCH_OIDC_TOKEN once: an expired API token is a refusal, not a replay of it', async () => {
    const { url, exchanged } = await runnerAndLatch();
    const client = await LatchApiClient.connect({ LATCH_URL: url, LATCH_OIDC_TOKEN: 'jwt-1' });
    expect(await client.createRequest({ resource: 'prod-db' }, 'key-1')).toMatchObject({ ok: false, status: 401 });
    expect(exchanged).toEqual(['jwt-1']);
  });
});
