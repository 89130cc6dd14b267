import { request as httpRequest } from 'node:http';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { LatchOverHttp } from '../../helpers/latch-over-http.ts';
import { runLatch, type LatchProcess } from '../../helpers/latch-process.ts';
import { hmacToken, LoopbackOidcIssuer, unsignedToken } from '../../helpers/oidc-issuer.ts';
import type { WebhookReceiver } from '../../helpers/webhook-receiver.ts';

/**
 * Workload identity through the real `latch start` over HTTP: a job's OIDC token, signed by an
 * issuer on loopback (discovery document and JWKS, as GitHub Actions serves them), traded at
 * POST /api/v1/oidc/token for a Latch API token that can ask for access; and every token Latch
 * must refuse (another issuer, another audience, expired, wrongly signed, unsigned or HMAC, replayed,
 * claims of no machine, an unknown key), each answered as problem+json and audited.
 */

const AUDIENCE = 'https://latch.test';
const JOB = { aud: AUDIENCE, repository: 'octo-org/deploy', ref: 'refs/heads/main', environment: 'production' };

const policyYaml = (hookUrl: string, issuerUrl: string) => `
machines:
  - id: deploy-pipeline
    owner: { user: U0OWNER01 }
    authentication: oidc
    oidc:
      issuer: ${issuerUrl}
      audience: ${AUDIENCE}
      claims:
        repository: octo-org/deploy
        ref: [refs/heads/main, 'refs/tags/v*']
    account: deploy_bot
  - id: token-bot
    owner: { user: U0OWNER01 }
    authentication: token
    account: token_bot
resources:
  - id: prod-db
    name: Production database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 4h
    requesters: { machines: [deploy-pipeline, token-bot] }
    approvers: { users: [U0APPROVER1] }
    approvalChannel: C0APPROVALS
`;

let stack: LatchOverHttp;
let slack: FakeSlack;
let receiver: WebhookReceiver;
let issuer: LoopbackOidcIssuer;
let stranger: LoopbackOidcIssuer;
let sql: pg.Client;
let latch: LatchProcess;
let env: Record<string, string>;
let baseUrl: string;

beforeAll(async () => {
  [issuer, stranger] = await Promise.all([LoopbackOidcIssuer.start(), LoopbackOidcIssuer.start()]);
  stack = await LatchOverHttp.start({ name: 'oidc-exchange', policy: ({ hookUrl }) => policyYaml(hookUrl, issuer.url) });
  ({ slack, receiver, sql, latch, env, baseUrl } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await Promise.all([issuer?.close(), stranger?.close()]);
});

function exchange(body: string, contentType = 'application/json'): Promise<Response> {
  return fetch(`${baseUrl}/api/v1/oidc/token`, { method: 'POST', headers: { 'content-type': contentType }, body });
}

const exchangeJwt = (token: string) => exchange(JSON.stringify({ token }));

interface Exchanged {
  access_token: string;
  token_type: string;
  expires_in: number;
  expires_at: string;
  machine: string;
}

async function refusedWith(response: Response, status: number, code: string): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  const body = (await response.json()) as { status: number; code: string; detail: string };
  expect(body).toMatchObject({ status, code, detail: expect.any(String) });
  expect(body.detail).not.toMatch(/at .+\.(ts|js):\d+/);
  return body.detail;
}

/** The `api.refused` events of the exchange so far, by code. */
async function refusalsAudited(): Promise<string[]> {
  const rows = await sql.query<{ data: { code: string; path: string } }>("SELECT data FROM audit_events WHERE action = 'api.refused' ORDER BY seq");
  for (const row of rows.rows) expect(row.data.path).toBe('/oidc/token');
  return rows.rows.map((row) => row.data.code);
}

describe('workload identity (OIDC) token exchange', { timeout: 90_000 }, () => {
  it("trades a job's OIDC token for a short-lived API token that can ask for access", async () => {
    const jwt = await issuer.sign(JOB);
    const response = await exchangeJwt(jwt);
    expect(response.status).toBe(200);
    const exchanged = (await response.json()) as Exchanged;
    expect(exchanged).toMatchObject({ token_type: 'Bearer', machine: 'deploy-pipeline' });
    expect(exchanged.access_token).toMatch(/^latch_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    // Never beyond the OIDC token's own expiry (5 minutes).
    expect(exchanged.expires_in).toBeLessThanOrEqual(300);
    expect(exchanged.expires_in).toBeGreaterThan(0);

    // Found through the discovery document, as a client of GitHub's issuer would.
    expect(issuer.requests).toContain('/.well-known/openid-configuration');
    expect(issuer.requests).toContain('/.well-known/jwks');

    const rows = await sql.query<{ machine_id: string; source: string; oidc_subject: string; secret_hash: string }>('SELECT machine_id, source, oidc_subject, secret_hash FROM machine_tokens');
    expect(rows.rows).toEqual([expect.objectContaining({ machine_id: 'deploy-pipeline', source: 'oidc', oidc_subject: 'repo:octo-org/deploy:ref:refs/heads/main' })]);
    expect(rows.rows[0]!.secret_hash).not.toContain(exchanged.access_token.slice(39));
    const audited = await sql.query<{ actor: string; data: { machineId: string; issuer: string; subject: string } }>("SELECT actor, data FROM audit_events WHERE action = 'token.exchanged'");
    expect(audited.rows).toEqual([{ actor: 'machine:deploy-pipeline', data: expect.objectContaining({ machineId: 'deploy-pipeline', issuer: issuer.url, subject: 'repo:octo-org/deploy:ref:refs/heads/main' }) }]);

    const made = await fetch(`${baseUrl}/api/v1/requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${exchanged.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'prod-db', role: 'read', duration: '15m', reason: 'deploy 4f2a' }),
    });
    expect(made.status).toBe(201);
    expect(await made.json()).toMatchObject({ state: 'pending_approval', account: 'deploy_bot', resource: 'prod-db' });
    await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args.blocks).includes('machine `deploy-pipeline`'));
    expect(latch.stdout).not.toContain(jwt);
    expect(latch.stdout).not.toContain(exchanged.access_token);
  });

  it('takes the token as a form too, signed with ES256, and a tag matching a glob', async () => {
    const jwt = await issuer.sign({ ...JOB, ref: 'refs/tags/v2.1.0' }, { key: 'ES256' });
    const response = await exchange(new URLSearchParams({ token: jwt }).toString(), 'application/x-www-form-urlencoded');
    expect(response.status).toBe(200);
    expect(((await response.json()) as Exchanged).machine).toBe('deploy-pipeline');
  });

  it('refuses every token it must, each with a 401 or 403 that says why, audited, and issues nothing', async () => {
    const tokensBefore = (await sql.query('SELECT 1 FROM machine_tokens')).rowCount;
    const now = Math.floor(Date.now() / 1000);
    const payload = { iss: issuer.url, sub: 'repo:octo-org/deploy:ref:refs/heads/main', jti: 'forged-1', iat: now, exp: now + 300, ...JOB };

    await refusedWith(await exchangeJwt(await stranger.sign(JOB)), 401, 'oidc_issuer_untrusted');
    // A token names its issuer; one the policy does not trust is never asked for keys.
    expect(stranger.requests).toEqual([]);
    await refusedWith(await exchangeJwt(await issuer.sign({ ...JOB, aud: 'https://someone-else.test' })), 401, 'oidc_audience_wrong');
    const expired = await refusedWith(await exchangeJwt(await issuer.sign({ ...JOB, iat: now - 900, nbf: now - 900, exp: now - 600 })), 401, 'oidc_expired');
    expect(expired).toContain('expired');
    await refusedWith(await exchangeJwt(await issuer.sign({ ...JOB, nbf: now + 600, iat: now + 600, exp: now + 900 })), 401, 'oidc_not_yet_valid');
    // Signed with a key the issuer does not publish, under the kid of one it does.
    await refusedWith(await exchangeJwt(await issuer.sign(JOB, { key: 'unpublished', kid: 'rs-1' })), 401, 'oidc_signature_invalid');
    await refusedWith(await exchangeJwt(await issuer.sign(JOB, { key: 'unpublished' })), 401, 'oidc_key_unknown');
    await refusedWith(await exchangeJwt(unsignedToken(payload)), 401, 'oidc_algorithm_refused');
    await refusedWith(await exchangeJwt(await hmacToken(payload, 'anyone-can-read-this-key')), 401, 'oidc_algorithm_refused');
    await refusedWith(await exchangeJwt(await issuer.sign({ ...JOB, jti: undefined })), 401, 'oidc_claims_missing');
    const noMachine = await refusedWith(await exchangeJwt(await issuer.sign({ ...JOB, repository: 'octo-org/other' })), 403, 'oidc_no_machine');
    expect(noMachine).toContain('match no machine');
    await refusedWith(await exchangeJwt(await issuer.sign({ ...JOB, ref: 'refs/heads/feature' })), 403, 'oidc_no_machine');
    await refusedWith(await exchangeJwt('not.a.jwt'), 401, 'oidc_malformed');
    await refusedWith(await exchange(JSON.stringify({})), 401, 'oidc_malformed');

    expect(await refusalsAudited()).toEqual([
      'oidc_issuer_untrusted',
      'oidc_audience_wrong',
      'oidc_expired',
      'oidc_not_yet_valid',
      'oidc_signature_invalid',
      'oidc_key_unknown',
      'oidc_algorithm_refused',
      'oidc_algorithm_refused',
      'oidc_claims_missing',
      'oidc_no_machine',
      'oidc_no_machine',
      'oidc_malformed',
      'oidc_malformed',
    ]);
    expect((await sql.query('SELECT 1 FROM machine_tokens')).rowCount).toBe(tokensBefore);
    const logged = latch.stdout.split('\n').filter((line) => line.includes('OIDC token exchange refused'));
    expect(logged.length).toBeGreaterThanOrEqual(13);
    for (const line of logged) expect(line).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });

  it('accepts an OIDC token once: a replay is refused, even when both copies arrive together', async () => {
    const jwt = await issuer.sign(JOB);
    const answers = await Promise.all([exchangeJwt(jwt), exchangeJwt(jwt)]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401]);
    await refusedWith(answers.find((answer) => answer.status === 401)!, 401, 'oidc_replayed');
    await refusedWith(await exchangeJwt(jwt), 401, 'oidc_replayed');
    expect((await refusalsAudited()).filter((code) => code === 'oidc_replayed')).toHaveLength(2);
  });

  it('refuses to make an operator token for a machine that authenticates with OIDC, and lists the exchanged ones', async () => {
    const created = await runLatch(['token', 'create', 'deploy-pipeline', '--expires', '1h'], env);
    expect(created.code).not.toBe(0);
    expect(created.stderr).toContain('does not authenticate with tokens');
    // The exchanged tokens are listed like any, saying whose OIDC token each was given for.
    const listed = await runLatch(['token', 'list', 'deploy-pipeline'], env);
    expect(listed.stdout).toMatch(/deploy-pipeline {2}created .* valid until .* exchanged for the OIDC token of repo:octo-org\/deploy:ref:refs\/heads\/main/);
  });

  it("keeps an audit trail that `latch audit verify` accepts, with the exchanges and refusals", async () => {
    const verified = await runLatch(['audit', 'verify'], env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });

  it('slows down an address that hammers the exchange, without slowing the others', async () => {
    const fromAddress = (localAddress: string, body: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
        const call = httpRequest(`${baseUrl}/api/v1/oidc/token`, { method: 'POST', localAddress, headers: { 'content-type': 'application/json', ...headers } }, (response) => {
          response.resume();
          response.on('end', () => resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] as string | undefined }));
        });
        call.on('error', reject);
        call.end(body);
      });
    const statuses: number[] = [];
    let limited: { status: number; retryAfter: string | undefined } | undefined;
    for (let call = 0; call < 60 && !limited; call++) {
      const answer = await fromAddress('127.0.0.2', JSON.stringify({ token: 'junk' }));
      statuses.push(answer.status);
      if (answer.status === 429) limited = answer;
    }
    expect(limited, `statuses: ${statuses.join(',')}`).toBeDefined();
    expect(statuses.filter((status) => status === 401).length).toBeGreaterThanOrEqual(10);
    expect(Number(limited!.retryAfter)).toBeGreaterThanOrEqual(1);
    // With no proxy trusted (LATCH_TRUSTED_PROXY_HOPS unset), a caller cannot name another address to escape its limit.
    expect((await fromAddress('127.0.0.2', JSON.stringify({ token: 'junk' }), { 'x-forwarded-for': '198.51.100.9' })).status).toBe(429);
    // Another address still exchanges.
    const other = await fromAddress('127.0.0.3', JSON.stringify({ token: await issuer.sign(JOB) }));
    expect(other.status).toBe(200);
  });
});
