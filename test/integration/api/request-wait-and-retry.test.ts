import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { asOpenView, textInput } from '../../helpers/latch-harness.ts';
import { expectProblem, LatchOverHttp, type ApiCall } from '../../helpers/latch-over-http.ts';
import type { LatchProcess } from '../../helpers/latch-process.ts';
import type { SlackSender } from '../../helpers/slack-sender.ts';
import type { WebhookReceiver } from '../../helpers/webhook-receiver.ts';

/**
 * What a pipeline leans on, through the real `latch start` over HTTP: a long-poll
 * (`GET /requests/{id}?wait=N`) that answers as soon as a person decides in (fake) Slack, or with
 * the request still pending when N runs out, or at once when Latch shuts down; and
 * `Idempotency-Key`, which makes a retried POST answer the request the first one made.
 */

const APPROVER = 'U0APPROVER1';

const POLICY = (hookUrl: string) => `
limits:
  pendingPerPerson: 50
machines:
  - id: deploy-pipeline
    owner: { user: U0OWNER01 }
    authentication: token
    account: deploy_bot
  - id: other-bot
    owner: { user: U0OWNER01 }
    authentication: token
    account: other_bot
resources:
  - id: prod-db
    name: Production database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 4h
    requesters: { machines: [deploy-pipeline, other-bot] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
`;

let stack: LatchOverHttp;
let slack: FakeSlack;
let receiver: WebhookReceiver;
let sql: pg.Client;
let latch: LatchProcess;
let baseUrl: string;
let tokens: Record<string, string>;
let sender: SlackSender;

beforeAll(async () => {
  // The end of a long-poll whose client hung up is logged at debug.
  stack = await LatchOverHttp.start({ name: 'request-wait', policy: ({ hookUrl }) => POLICY(hookUrl), machines: ['deploy-pipeline', 'other-bot'], env: { LOG_LEVEL: 'debug' } });
  ({ slack, receiver, sql, latch, baseUrl, tokens, sender } = stack);
}, 120_000);

afterAll(() => stack?.close());

interface ApiRequest {
  id: string;
  state: string;
  outcome: string | null;
}

/** A call to /api/v1 as deploy-pipeline, unless another token is given. */
const api = (path: string, call: ApiCall = {}) => stack.api(path, { token: tokens['deploy-pipeline'], ...call });

const READ_PROD = { resource: 'prod-db', role: 'read', duration: '15m', reason: 'deploy 4f2a' };

async function ask(reason: string, token = tokens['deploy-pipeline']): Promise<ApiRequest> {
  const made = await api('/requests', { token, method: 'POST', body: { ...READ_PROD, reason } });
  expect(made.status).toBe(201);
  const request = (await made.json()) as ApiRequest;
  // Its card is posted: a person could decide it now.
  await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(request.id));
  return request;
}

/** Tracks whether a pending fetch has answered yet. */
function watch(response: Promise<Response>): { response: Promise<Response>; answered: () => boolean } {
  let answered = false;
  void response.then(
    () => (answered = true),
    () => (answered = true),
  );
  return { response, answered: () => answered };
}

describe('waiting for a decision (long-poll)', { timeout: 90_000 }, () => {
  it('answers as soon as a person approves in Slack, with the access granted', async () => {
    const request = await ask('long-poll until approved');
    const waiting = watch(api(`/requests/${request.id}?wait=60`));
    // Still held while nobody has decided (well short of the 60 s asked for).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(waiting.answered()).toBe(false);
    expect((await sender.click(APPROVER, 'latch_approve', request.id)).status).toBe(200);
    const answer = await waiting.response;
    expect(answer.status).toBe(200);
    expect((await answer.json()) as ApiRequest).toMatchObject({ id: request.id, state: 'active' });
    expect(receiver.hasAccess('deploy_bot', 'read', 'prod-db')).toBe(true);
  });

  it('answers a denial made while it waits, with the reason the approver gave', async () => {
    const request = await ask('long-poll until denied');
    const waiting = watch(api(`/requests/${request.id}?wait=60`));
    expect((await sender.click(APPROVER, 'latch_deny', request.id)).status).toBe(200);
    const modal = await slack.waitForCall('views.open', (call) => JSON.stringify(call.args.view).includes(request.id));
    const submitted = await sender.submit(APPROVER, asOpenView(modal.args.view as Record<string, unknown>, { latch_deny_reason: { latch_deny_reason_input: textInput('use the replica') } }));
    expect(submitted.status).toBe(200);
    const answer = (await (await waiting.response).json()) as ApiRequest;
    expect(answer).toMatchObject({ id: request.id, state: 'denied' });
    expect(answer.outcome).toContain('use the replica');
  });

  it('answers with the request still pending when the wait runs out', async () => {
    const request = await ask('long-poll that times out');
    const answer = await api(`/requests/${request.id}?wait=1`);
    expect(answer.status).toBe(200);
    expect((await answer.json()) as ApiRequest).toMatchObject({ id: request.id, state: 'pending_approval' });
    // wait=0 reads it at once.
    expect(((await (await api(`/requests/${request.id}?wait=0`)).json()) as ApiRequest).state).toBe('pending_approval');
  });

  it('stops waiting when the client hangs up', async () => {
    const request = await ask('long-poll abandoned by its client');
    const hangUp = new AbortController();
    const waiting = api(`/requests/${request.id}?wait=60`, { signal: hangUp.signal }).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    hangUp.abort();
    expect(await waiting).toMatchObject({ name: 'AbortError' });
    // Well before the 60 s asked for: the wait ended with the connection.
    const ended = await latch.waitForLog((line) => line.msg === 'long-poll ended early: the client hung up' && line.accessRequestId === request.id, 20_000);
    expect(ended).toMatchObject({ machine: 'deploy-pipeline' });
  });

  it('refuses a wait that is not a whole number of seconds from 0 to 60', async () => {
    const request = await ask('bad wait values');
    for (const wait of ['61', '-1', '1.5', 'soon', '', '0x10', '1e1']) {
      const refused = await expectProblem(await api(`/requests/${request.id}?wait=${encodeURIComponent(wait)}`), 422, 'invalid_wait');
      expect(refused.detail).toMatch(/whole number of seconds from 0 to 60/);
    }
  });

  it("answers another machine's request id as one that does not exist, at once", async () => {
    const request = await ask('not yours to wait on');
    const waiting = watch(api(`/requests/${request.id}?wait=60`, { token: tokens['other-bot'] }));
    await expectProblem(await waiting.response, 404, 'not_found');
    await expectProblem(await api('/requests/0193e0a0-0000-7000-8000-000000000000?wait=5'), 404, 'not_found');
  });

  it('shows the wait parameter and Idempotency-Key in the OpenAPI document', async () => {
    const document = (await (await fetch(`${baseUrl}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string; schema: Record<string, unknown> }> }>>;
    };
    expect(document.paths['/requests/{id}']!.get!.parameters).toContainEqual({ name: 'wait', in: 'query', required: false, schema: expect.objectContaining({ type: 'integer', minimum: 0, maximum: 60 }) });
    expect(document.paths['/requests']!.post!.parameters).toContainEqual(expect.objectContaining({ name: 'Idempotency-Key', in: 'header', schema: expect.objectContaining({ maxLength: 200 }) }));
  });
});

describe('Idempotency-Key', { timeout: 60_000 }, () => {
  const count = async (reason: string) => Number((await sql.query<{ n: string }>('SELECT count(*) AS n FROM access_requests WHERE reason = $1', [reason])).rows[0]!.n);

  it('answers a retry with the same key and body with the request the first call made', async () => {
    const body = { ...READ_PROD, reason: 'idempotent deploy' };
    const headers = { 'idempotency-key': 'run-1234-attempt-1' };
    const first = await api('/requests', { method: 'POST', body, headers });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const made = (await first.json()) as ApiRequest;
    // The same thing asked in other words (900 s is 15 minutes) is the same request too.
    for (const retry of [body, { ...body, duration: '900s', reason: ' idempotent deploy ' }]) {
      const again = await api('/requests', { method: 'POST', body: retry, headers });
      expect(again.status).toBe(200);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(((await again.json()) as ApiRequest).id).toBe(made.id);
    }
    expect(await count('idempotent deploy')).toBe(1);
    // Without a key every call is a new request.
    expect((await api('/requests', { method: 'POST', body })).status).toBe(201);
    expect(await count('idempotent deploy')).toBe(2);
  });

  it('makes one request from retries sent at the same moment', async () => {
    const body = { ...READ_PROD, reason: 'retried at once' };
    const answers = await Promise.all(Array.from({ length: 5 }, () => api('/requests', { method: 'POST', body, headers: { 'idempotency-key': 'burst-key' } })));
    const ids = await Promise.all(answers.map(async (answer) => ((await answer.json()) as ApiRequest).id));
    expect(new Set(ids).size).toBe(1);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(await count('retried at once')).toBe(1);
  });

  it('refuses the same key with a different body, and makes nothing', async () => {
    const headers = { 'idempotency-key': 'reused-key' };
    expect((await api('/requests', { method: 'POST', body: { ...READ_PROD, reason: 'first use of a key' }, headers })).status).toBe(201);
    const refused = await expectProblem(await api('/requests', { method: 'POST', body: { ...READ_PROD, reason: 'second use of a key' }, headers }), 422, 'idempotency_key_reused');
    expect(refused.detail).toMatch(/already used for request .* use a new key/);
    expect(await count('second use of a key')).toBe(0);
  });

  it("keeps each machine's keys its own", async () => {
    const body = { ...READ_PROD, reason: 'same key, two machines' };
    const headers = { 'idempotency-key': 'shared-looking-key' };
    const mine = (await (await api('/requests', { method: 'POST', body, headers })).json()) as ApiRequest;
    const theirs = await api('/requests', { token: tokens['other-bot'], method: 'POST', body, headers });
    expect(theirs.status).toBe(201);
    expect(((await theirs.json()) as ApiRequest).id).not.toBe(mine.id);
    expect(await count('same key, two machines')).toBe(2);
  });

  it('refuses a key that is too long or not printable', async () => {
    const body = { ...READ_PROD, reason: 'bad keys' };
    const long = await expectProblem(await api('/requests', { method: 'POST', body, headers: { 'idempotency-key': 'k'.repeat(201) } }), 422, 'invalid_idempotency_key');
    expect(long.detail).toMatch(/201 characters long: keep it to 200/);
    const tab = await expectProblem(await api('/requests', { method: 'POST', body, headers: { 'idempotency-key': 'a\tb' } }), 422, 'invalid_idempotency_key');
    expect(tab.detail).toMatch(/printable ASCII/);
    expect(await count('bad keys')).toBe(0);
  });
});

describe('shutting down', { timeout: 30_000 }, () => {
  it('answers a long-poll at once with the request as it is, instead of holding shutdown for its minute', async () => {
    const request = await ask('long-poll during shutdown');
    const waiting = watch(api(`/requests/${request.id}?wait=60`));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(waiting.answered()).toBe(false);
    // This test's own bound (30 s) is half the wait asked for: only an early answer passes.
    const exited = latch.kill('SIGTERM');
    const answer = await waiting.response;
    expect(answer.status).toBe(200);
    expect((await answer.json()) as ApiRequest).toMatchObject({ id: request.id, state: 'pending_approval' });
    expect((await exited).code).toBe(0);
  });
});
