import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CliError } from '../../../src/cli/cli-error.ts';
import { LatchApiClient } from '../../../src/cli/latch-api-client.ts';

/** The client `latch request` calls the API with, against a small server of the test's own. */

const TOKEN = 'latch_0123456789abcdef0123456789abcdef_secretPartOfTheToken';
const REQUEST = {
  id: '0193e0a0-0000-7000-8000-000000000001',
  state: 'pending_approval',
  resource: 'prod-db',
  role: 'read',
  account: 'deploy_bot',
  durationSeconds: 900,
  reason: 'deploy 4f2a',
  ticket: null,
  createdAt: '2026-12-04T10:00:00.000Z',
  decidedAt: null,
  decidedByRule: null,
  outcome: null,
  grant: null,
};

let server: Server | undefined;

afterEach(async () => {
  vi.restoreAllMocks();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function serve(answer: (req: IncomingMessage, res: ServerResponse, call: number) => void): Promise<{ url: string; calls: IncomingMessage[] }> {
  const calls: IncomingMessage[] = [];
  server = createServer((req, res) => {
    calls.push(req);
    answer(req, res, calls.length);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, calls };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

describe('LatchApiClient', () => {
  it('sends the token as a bearer token and the idempotency key as its header, and reads the request', async () => {
    const { url, calls } = await serve((_req, res) => json(res, 201, REQUEST));
    const answer = await LatchApiClient.fromEnv({ LATCH_URL: `${url}/`, LATCH_TOKEN: TOKEN }).createRequest({ resource: 'prod-db' }, 'key-1');
    expect(answer).toMatchObject({ ok: true, status: 201, request: { id: REQUEST.id }, replayed: false });
    expect(calls[0]!.url).toBe('/api/v1/requests');
    expect(calls[0]!.headers).toMatchObject({ authorization: `Bearer ${TOKEN}`, 'idempotency-key': 'key-1' });
  });

  it('tries again after a 503, as long as Retry-After says, and then answers', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    const { url, calls } = await serve((_req, res, call) => (call === 1 ? json(res, 503, {}, { 'retry-after': '1' }) : json(res, 200, { ...REQUEST, state: 'active' })));
    const answer = await LatchApiClient.fromEnv({ LATCH_URL: url, LATCH_TOKEN: TOKEN }).waitForRequest(REQUEST.id, 60);
    expect(answer).toMatchObject({ ok: true, request: { state: 'active' } });
    expect(calls.map((call) => call.url)).toEqual([`/api/v1/requests/${REQUEST.id}?wait=60`, `/api/v1/requests/${REQUEST.id}?wait=60`]);
    expect(String(stderr.mock.calls[0]![0])).toMatch(/Latch answered 503; trying again/);
  });

  it('gives a refusal back as its problem, without trying again', async () => {
    const { url, calls } = await serve((_req, res) => json(res, 409, { type: 'https://latch.dev/problems/not-active', title: 'Conflict', status: 409, detail: 'This access is not active.', code: 'not_active' }));
    const answer = await LatchApiClient.fromEnv({ LATCH_URL: url, LATCH_TOKEN: TOKEN }).releaseRequest(REQUEST.id);
    expect(answer).toMatchObject({ ok: false, status: 409, problem: { code: 'not_active', detail: 'This access is not active.' } });
    expect(calls).toHaveLength(1);
  });

  it('says LATCH_URL may be wrong when what answers is not the API (exit 69)', async () => {
    const { url } = await serve((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>a login page</html>'));
    const failed = await LatchApiClient.fromEnv({ LATCH_URL: url, LATCH_TOKEN: TOKEN }).releaseRequest(REQUEST.id).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(CliError);
    expect(failed).toMatchObject({ exitCode: 69, message: expect.stringMatching(/is LATCH_URL the address of Latch\?/) });
  });

  it('refuses a missing or ill-formed LATCH_URL or LATCH_TOKEN (exit 78) without repeating the token', () => {
    const problem = (env: Record<string, string | undefined>) => {
      try {
        LatchApiClient.fromEnv(env);
      } catch (error) {
        return error as CliError;
      }
      throw new Error('accepted');
    };
    expect(problem({})).toMatchObject({ exitCode: 78, message: expect.stringMatching(/LATCH_URL is missing.*\nLATCH_TOKEN is missing/s) });
    expect(problem({ LATCH_URL: 'file:///etc/passwd', LATCH_TOKEN: TOKEN }).message).toMatch(/LATCH_URL must be the http:\/\/ or https:\/\/ address/);
    const badToken = problem({ LATCH_URL: 'https://latch.example.com', LATCH_TOKEN: 'hunter2-not-a-latch-token' });
    expect(badToken.message).toMatch(/LATCH_TOKEN does not look like a Latch token/);
    expect(badToken.message).not.toContain('hunter2');
  });
});
