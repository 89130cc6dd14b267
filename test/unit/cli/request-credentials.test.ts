import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CliError } from '../../../src/cli/cli-error.ts';
import { credentialsCommand, requestCommand } from '../../../src/cli/commands/request.ts';
import { LatchApiClient } from '../../../src/cli/latch-api-client.ts';

/**
 * `latch request --wait --credentials` and `latch credentials <id>` against a small API of the
 * test's own: what they print in each format, what they say on stderr, and their exit codes.
 */

const TOKEN = 'latch_0123456789abcdef0123456789abcdef_secretPartOfTheToken';
const ID = '0193e0a0-0000-7000-8000-000000000001';
const ACTIVE = {
  id: ID,
  state: 'active',
  resource: 'app-db',
  role: 'read',
  account: 'latch_0193e0a0000070008000000000000001',
  durationSeconds: 900,
  reason: 'migrate',
  ticket: null,
  createdAt: '2026-12-04T10:00:00.000Z',
  decidedAt: '2026-12-04T10:01:00.000Z',
  decidedByRule: null,
  outcome: null,
  grant: { grantedAt: '2026-12-04T10:01:01.000Z', expiresAt: '2026-12-04T10:16:01.000Z', revokedAt: null },
};
const CREDENTIALS = { host: 'db.internal', port: 5432, database: 'app', user: ACTIVE.account, password: "pa'ss$(x)", validUntil: '2026-12-04T10:16:01.000Z' };

let server: Server | undefined;

afterEach(async () => {
  vi.restoreAllMocks();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** An API whose requests are granted at once and whose credentials are given once, then 409. */
async function api(): Promise<LatchApiClient> {
  let fetched = 0;
  server = createServer((req, res) => {
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': status < 400 ? 'application/json' : 'application/problem+json' }).end(JSON.stringify(body));
    if (req.url === '/api/v1/requests') return json(201, ACTIVE);
    if (req.url === `/api/v1/requests/${ID}/credentials`) {
      if (fetched++ === 0) return json(200, CREDENTIALS);
      return json(409, { type: 'about:blank', title: 'Conflict', status: 409, code: 'credentials_issued', detail: 'The credentials of this access were handed out already.' });
    }
    json(404, { type: 'about:blank', title: 'Not Found', status: 404, code: 'not_found', detail: 'no' });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return LatchApiClient.fromEnv({ LATCH_URL: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, LATCH_TOKEN: TOKEN });
}

function captured(): { stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
  return { stdout: () => out.join(''), stderr: () => err.join('') };
}

const options = { resource: 'app-db', role: 'read', duration: '15m', reason: 'migrate', wait: true, credentials: true } as const;

describe('credentials in the CLI', () => {
  it('prints the request then the PG* variables, single-quoted, and warns on stderr that they are shown once', async () => {
    const client = await api();
    const io = captured();
    await requestCommand({ ...options, format: 'env' }, client);
    expect(io.stdout()).toContain(`LATCH_REQUEST_ID='${ID}'\n`);
    expect(io.stdout()).toContain(`PGHOST='db.internal'\nPGPORT='5432'\nPGDATABASE='app'\nPGUSER='${ACTIVE.account}'\nPGPASSWORD='pa'\\''ss$(x)'\n`);
    expect(io.stderr()).toContain('shown once');
    expect(io.stderr()).not.toContain(CREDENTIALS.password);
  });

  it('prints them as text lines and as JSON beside the request', async () => {
    let io = captured();
    await requestCommand({ ...options, format: 'text' }, await api());
    expect(io.stdout()).toMatch(new RegExp(`request ${ID}: granted read on app-db.*\\nhost: db.internal\\nport: 5432\\ndatabase: app\\nuser: ${ACTIVE.account}\\npassword: pa'ss\\$\\(x\\)\\nvalid until: 2026-12-04T10:16:01.000Z\\n$`));
    vi.restoreAllMocks();
    await new Promise((resolve) => server?.close(resolve));
    io = captured();
    await requestCommand({ ...options, format: 'json' }, await api());
    expect(JSON.parse(io.stdout())).toEqual({ ...ACTIVE, credentials: CREDENTIALS });
  });

  it('refuses a second fetch with the refused exit code (5) and the API’s words', async () => {
    const client = await api();
    const io = captured();
    await credentialsCommand(ID, 'json', client);
    expect(JSON.parse(io.stdout())).toEqual(CREDENTIALS);
    const failed = await credentialsCommand(ID, 'json', client).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(CliError);
    expect(failed).toMatchObject({ exitCode: 5, message: expect.stringContaining('handed out already') });
  });
});
