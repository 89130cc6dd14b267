import { writeFileSync } from 'node:fs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { expectProblem, LatchOverHttp, type ApiCall } from '../../helpers/latch-over-http.ts';
import { runLatch, type LatchProcess } from '../../helpers/latch-process.ts';
import type { WebhookReceiver } from '../../helpers/webhook-receiver.ts';

/**
 * Machines through the real `latch start` over HTTP: a token made by the CLI, a request made
 * through /api/v1, approved by a person's signed click in (fake) Slack, read back and released
 * through the API; and every refusal a machine can meet, each as problem+json.
 */

const APPROVER = 'U0APPROVER1';
const OWNER = 'U0OWNER01';

const policyYaml = (hookUrl: string) => `
machines:
  - id: deploy-pipeline
    owner: { user: ${OWNER} }
    authentication: token
    account: deploy_bot
  - id: other-bot
    owner: { group: S0PLATFORM }
    authentication: token
    account: other_bot
  - id: chatty-bot
    owner: { user: ${OWNER} }
    authentication: token
    account: chatty_bot
resources:
  - id: prod-db
    name: Production database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET, verifyRevocations: true } }
    roles: [read]
    maxDuration: 4h
    requesters: { machines: [deploy-pipeline, other-bot, chatty-bot] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
  - id: logs-db
    name: Logs database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 4h
    requesters: { machines: [other-bot] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
  - id: support-db
    name: Support database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET, acceptsScopes: true } }
    roles:
      - id: debug
        scopes:
          customer: { pattern: '[0-9]+', maxValues: 2 }
          tables: { values: [public.orders, public.invoices], minValues: 0 }
    maxDuration: 4h
    requesters: { machines: [other-bot] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
  - id: billing-db
    name: Billing database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 4h
    requesters: { users: [U0SOMEONE] }
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
let tokens: Record<string, string>;

beforeAll(async () => {
  stack = await LatchOverHttp.start({ name: 'machine-api', policy: ({ hookUrl }) => policyYaml(hookUrl), machines: ['deploy-pipeline', 'other-bot', 'chatty-bot'] });
  ({ slack, receiver, sql, latch, env, baseUrl, tokens } = stack);
}, 120_000);

afterAll(() => stack?.close());

const api = (path: string, call?: ApiCall) => stack.api(path, call);
const ask = (token: string | undefined, request: Record<string, unknown>) => api('/requests', { token, method: 'POST', body: JSON.stringify(request) });
const READ_PROD = { resource: 'prod-db', role: 'read', duration: '15m', reason: 'deploy 4f2a' };

/**
 * Polling a machine's own API: slower than the API's refill rate for one machine (120 calls a minute,
 * src/api/rate-limiter.ts), so a grant that takes a while on a busy machine does not drain the
 * bucket and leave the test's next call refused with 429, as it did once in CI.
 */
const POLL_WITHIN_RATE = { timeout: 30_000, interval: 600 };

describe('the machines API', { timeout: 90_000 }, () => {
  it('prints a token once with a well-known prefix, and keeps only a hash of its secret', async () => {
    expect(tokens['deploy-pipeline']).toMatch(/^latch_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    const rows = await sql.query<{ secret_hash: string }>('SELECT secret_hash FROM machine_tokens');
    expect(rows.rows).toHaveLength(3);
    const secret = tokens['deploy-pipeline']!.slice(39);
    for (const row of rows.rows) expect(row.secret_hash).not.toContain(secret);
    const created = await sql.query<{ actor: string; data: { machineId: string } }>("SELECT actor, data FROM audit_events WHERE action = 'token.created' ORDER BY seq");
    expect(created.rows.map((row) => row.data.machineId)).toEqual(['deploy-pipeline', 'other-bot', 'chatty-bot']);
    expect(created.rows[0]!.actor).toMatch(/^cli:/);
    const listed = await runLatch(['token', 'list', 'deploy-pipeline'], env);
    expect(listed.stdout).toMatch(/deploy-pipeline {2}created .* valid until /);
    expect(listed.stdout).not.toContain(secret);
  });

  it('takes a request, lets a person approve it in Slack, reads it back, and releases it', async () => {
    const token = tokens['deploy-pipeline'];
    const made = await ask(token, READ_PROD);
    expect(made.status).toBe(201);
    const request = (await made.json()) as { id: string; state: string; account: string };
    expect(request).toMatchObject({ state: 'pending_approval', account: 'deploy_bot', resource: 'prod-db', role: 'read', durationSeconds: 900 });

    // The approval card names the machine and its owner; the owner is told it asked.
    const card = await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(request.id));
    expect(JSON.stringify(card.args.blocks)).toContain('machine `deploy-pipeline` (owner <@U0OWNER01>)');
    await slack.waitForCall('chat.postMessage', (call) => call.args.channel === OWNER);

    const created = await sql.query<{ actor: string; data: { tokenId: string } }>("SELECT actor, data FROM audit_events WHERE action = 'request.created' AND request_id = $1", [request.id]);
    expect(created.rows[0]).toMatchObject({ actor: 'machine:deploy-pipeline', data: { tokenId: expect.stringMatching(/^[0-9a-f-]{36}$/) } });

    const sender = stack.sender;
    expect((await sender.click(APPROVER, 'latch_approve', request.id)).status).toBe(200);
    await expect.poll(async () => ((await (await api(`/requests/${request.id}`, { token })).json()) as { state: string }).state, POLL_WITHIN_RATE).toBe('active');
    expect(receiver.hasAccess('deploy_bot', 'read', 'prod-db')).toBe(true);
    // The owner hears the outcome too.
    await expect.poll(() => slack.callsTo('chat.postMessage').filter((call) => call.args.channel === OWNER).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);

    const access = (await (await api('/access', { token })).json()) as { access: Array<{ id: string; state: string; grant: { expiresAt: string } }> };
    expect(access.access).toEqual([expect.objectContaining({ id: request.id, state: 'active', grant: expect.objectContaining({ expiresAt: expect.any(String), revokedAt: null, verifiedRevokedAt: null }) })]);

    const released = await api(`/requests/${request.id}/release`, { token, method: 'POST' });
    expect(released.status).toBe(200);
    await expect.poll(async () => ((await (await api(`/requests/${request.id}`, { token })).json()) as { state: string }).state, POLL_WITHIN_RATE).toBe('revoked');
    expect(receiver.hasAccess('deploy_bot', 'read', 'prod-db')).toBe(false);
    // The receiver answers check (verifyRevocations): the machine reads when its access was verified gone.
    const revoked = (await (await api(`/requests/${request.id}`, { token })).json()) as { grant: { revokedAt: string; verifiedRevokedAt: string | null } };
    expect(revoked.grant.verifiedRevokedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(revoked.grant.verifiedRevokedAt).toBe(revoked.grant.revokedAt);
    const ended = await sql.query("SELECT actor, data FROM audit_events WHERE action = 'grant.end_requested' AND request_id = $1", [request.id]);
    expect(ended.rows).toEqual([{ actor: 'machine:deploy-pipeline', data: expect.objectContaining({ tokenId: created.rows[0]!.data.tokenId }) }]);
    expect(((await (await api('/access', { token })).json()) as { access: unknown[] }).access).toEqual([]);
    await expectProblem(await api(`/requests/${request.id}/release`, { token, method: 'POST' }), 409, 'not_active');
  });

  it("shows a machine owned by a user group with that group, and tells the group in the approval thread", async () => {
    const made = (await (await ask(tokens['other-bot'], { ...READ_PROD, reason: 'nightly export' })).json()) as { id: string };
    const card = await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(made.id));
    expect(JSON.stringify(card.args.blocks)).toContain('machine `other-bot` (owner <!subteam^S0PLATFORM>)');
    const sender = stack.sender;
    expect((await sender.click(APPROVER, 'latch_approve', made.id)).status).toBe(200);
    const told = await slack.waitForCall('chat.postMessage', (call) => typeof call.args.thread_ts === 'string' && String(call.args.text).startsWith('<!subteam^S0PLATFORM>'), 30_000);
    expect(told.args.channel).toBe('C0APPROVALS');
    // A group gets no DM: Slack has no direct message to a user group.
    expect(slack.callsTo('chat.postMessage').some((call) => call.args.channel === 'S0PLATFORM')).toBe(false);
  });

  it("keeps an audit trail that `latch audit verify` accepts, machines' requests and tokens included", async () => {
    const verified = await runLatch(['audit', 'verify'], env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });

  it('takes a scope: refuses a bad value field by field, and grants exactly the scope asked for', async () => {
    const token = tokens['other-bot'];
    const debug = { resource: 'support-db', role: 'debug', duration: '15m', reason: 'ticket 99' };
    await expectProblem(await ask(token, { ...debug, scope: { customer: ['47x1'], tables: ['public.secrets'] } }), 422, 'invalid_input');
    const refused = (await (await ask(token, { ...debug, scope: { customer: ['47x1'] } })).json()) as { errors: Record<string, string> };
    expect(refused.errors).toEqual({ 'scope.customer': 'customer "47x1" does not match [0-9]+.' });
    const missing = (await (await ask(token, debug)).json()) as { errors: Record<string, string> };
    expect(missing.errors['scope.customer']).toContain('Give customer');
    expect((await (await ask(token, { ...READ_PROD, resource: 'logs-db', scope: { customer: ['4711'] } })).json()) as { errors: Record<string, string> }).toMatchObject({ errors: { scope: expect.stringContaining('takes no scope') } });

    const made = await ask(token, { ...debug, scope: { customer: [' 4711 '], tables: ['public.orders'] } });
    expect(made.status).toBe(201);
    const request = (await made.json()) as { id: string; scope: unknown };
    expect(request.scope).toEqual({ customer: ['4711'], tables: ['public.orders'] });
    expect((await stack.sender.click(APPROVER, 'latch_approve', request.id)).status).toBe(200);
    await expect.poll(async () => ((await (await api(`/requests/${request.id}`, { token })).json()) as { state: string }).state, POLL_WITHIN_RATE).toBe('active');
    // The receiver was told the scope, and grants only that.
    const grant = receiver.callsFor('grant').find((call) => call.body?.requestId === request.id);
    expect(grant?.body).toMatchObject({ resource: 'support-db', role: 'debug', user: 'other_bot', scope: { customer: ['4711'], tables: ['public.orders'] } });
    // Other grants' bodies are as they always were: no scope field.
    expect(receiver.callsFor('grant').filter((call) => call.body?.resource !== 'support-db').every((call) => !('scope' in (call.body ?? {})))).toBe(true);
    expect((await api(`/requests/${request.id}/release`, { token, method: 'POST' })).status).toBe(200);

    // Several at once: each item has its own scope; an item without the scope its role needs refuses them all.
    const items = (scope?: Record<string, string[]>) => ({ items: [{ resource: 'support-db', role: 'debug', ...(scope ? { scope } : {}) }, { resource: 'logs-db', role: 'read' }], duration: '15m', reason: 'ticket 100' });
    const refusedItems = await ask(token, items());
    expect(refusedItems.status).toBe(422);
    expect(JSON.stringify(await refusedItems.json())).toContain('Give customer');
    const both = await ask(token, items({ customer: ['4712'] }));
    expect(both.status).toBe(201);
    const bundle = (await both.json()) as { requests: Array<{ resource: string; scope: unknown }> };
    expect(bundle.requests.map((item) => [item.resource, item.scope])).toEqual([
      ['support-db', { customer: ['4712'] }],
      ['logs-db', null],
    ]);
  });

  it('refuses calls without a valid token, with a 401 that says why', async () => {
    await expectProblem(await ask(undefined, READ_PROD), 401, 'token_missing');
    await expectProblem(await ask('latch_not-a-token', READ_PROD), 401, 'token_invalid');
    // A real token's id with another secret: the same answer as a made-up token.
    const forged = `${tokens['deploy-pipeline']!.slice(0, 39)}${'A'.repeat(43)}`;
    await expectProblem(await ask(forged, READ_PROD), 401, 'token_invalid');
    const response = await api('/access');
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(latch.stdout).not.toContain(tokens['deploy-pipeline']);
  });

  it('refuses an expired token and a revoked one', async () => {
    const expiring = (await runLatch(['token', 'create', 'chatty-bot', '--expires', '1h'], env)).stdout.trim();
    const revoking = (await runLatch(['token', 'create', 'chatty-bot', '--expires', '1h'], env)).stdout.trim();
    expect((await api('/access', { token: expiring })).status).toBe(200);
    // An hour passing, as far as this token is concerned.
    const expiringId = /^latch_([0-9a-f]{32})_/.exec(expiring)![1]!;
    await sql.query("UPDATE machine_tokens SET expires_at = now() - interval '1 second' WHERE replace(id::text, '-', '') = $1", [expiringId]);
    const expired = await expectProblem(await api('/access', { token: expiring }), 401, 'token_expired');
    expect(expired.detail).toContain('expired');

    const revokingId = /^latch_([0-9a-f]{32})_/.exec(revoking)![1]!;
    const uuid = `${revokingId.slice(0, 8)}-${revokingId.slice(8, 12)}-${revokingId.slice(12, 16)}-${revokingId.slice(16, 20)}-${revokingId.slice(20)}`;
    const revoked = await runLatch(['token', 'revoke', uuid], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    await expectProblem(await api('/access', { token: revoking }), 401, 'token_revoked');
    const audited = await sql.query("SELECT 1 FROM audit_events WHERE action = 'token.revoked' AND data->>'tokenId' = $1", [uuid]);
    expect(audited.rowCount).toBe(1);
  });

  it("answers another machine's request as one that does not exist, and never lets a machine decide", async () => {
    const made = (await (await ask(tokens['deploy-pipeline'], { ...READ_PROD, reason: 'not yours' })).json()) as { id: string };
    const other = tokens['other-bot'];
    const read = await expectProblem(await api(`/requests/${made.id}`, { token: other }), 404, 'not_found');
    await expectProblem(await api('/requests/00000000-0000-7000-8000-000000000000', { token: other }), 404, 'not_found');
    expect(read.detail).toBe('There is no request with this id among yours.');
    await expectProblem(await api(`/requests/${made.id}/release`, { token: other, method: 'POST' }), 404, 'not_found');
    await expectProblem(await api(`/requests/${made.id}/approve`, { token: other, method: 'POST' }), 403, 'not_approver');
    await expectProblem(await api(`/requests/${made.id}/approve`, { token: tokens['deploy-pipeline'], method: 'POST' }), 403, 'not_approver');
    // Nor through Slack: a click signed as if a machine had pressed Approve decides nothing.
    const sender = stack.sender;
    await sender.click('machine:deploy-pipeline', 'latch_approve', made.id);
    await sender.click('machine:other-bot', 'latch_approve', made.id);
    const state = await sql.query<{ state: string }>('SELECT state FROM access_requests WHERE id = $1', [made.id]);
    expect(state.rows[0]!.state).toBe('pending');
    expect((await sql.query('SELECT 1 FROM approvals WHERE request_id = $1', [made.id])).rowCount).toBe(0);
  });

  it('refuses a bad body and a request beyond the policy with the words a person gets', async () => {
    const token = tokens['other-bot'];
    const missing = await expectProblem(await ask(token, { resource: 'prod-db', role: 'read', duration: '15m' }), 422, 'invalid_body');
    expect(missing.errors).toHaveProperty('reason');
    await expectProblem(await ask(token, { ...READ_PROD, extra: 1 }), 422, 'invalid_body');
    await expectProblem(await api('/requests', { token, method: 'POST', body: '{not json' }), 400, 'malformed_json');
    await expectProblem(await api('/requests', { token, method: 'POST', body: 'resource=prod-db', contentType: 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
    await expectProblem(await api('/requests', { token, method: 'POST', body: JSON.stringify({ ...READ_PROD, reason: 'x'.repeat(20_000) }) }), 413, 'unreadable_body');

    const tooLong = await expectProblem(await ask(token, { ...READ_PROD, duration: '8h' }), 422, 'invalid_input');
    expect(tooLong.errors).toEqual({ duration: 'At most 4h for read on Production database.' });
    const notListed = await expectProblem(await ask(token, { ...READ_PROD, resource: 'billing-db' }), 422, 'invalid_input');
    expect(notListed.errors).toEqual({ resource: 'You may not request access to Billing database: the policy does not list you as a requester.' });
    // Several at once: one item beyond the policy refuses them all, naming it, and none is made.
    const before = await sql.query("SELECT count(*)::int AS n FROM access_requests WHERE requester_slack_id = 'machine:other-bot'");
    const bundle = { items: [{ resource: 'prod-db', role: 'read' }, { resource: 'billing-db', role: 'read' }], duration: '15m', reason: 'deploy 4f2a' };
    const oneRefused = await expectProblem(await ask(token, bundle), 422, 'invalid_input');
    expect(oneRefused.errors?.resource).toContain('billing-db:read (item 2 of 2): You may not request access to Billing database');
    expect((await sql.query("SELECT count(*)::int AS n FROM access_requests WHERE requester_slack_id = 'machine:other-bot'")).rows).toEqual(before.rows);
    const both = await expectProblem(await ask(token, { ...bundle, resource: 'prod-db', role: 'read' }), 422, 'invalid_body');
    expect(both.errors).toHaveProperty('items');
    await expectProblem(await ask(token, { duration: '15m', reason: 'deploy 4f2a' }), 422, 'invalid_body');
    await expectProblem(await api('/nothing-here', { token }), 404, 'not_found');
    await expectProblem(await api('/access', { token, method: 'DELETE' }), 405, 'method_not_allowed');
  });

  it('takes several resources at once: one request an item, one card, Approve all grants each; a retry replays them', async () => {
    const token = tokens['other-bot'];
    const body = { items: [{ resource: 'prod-db', role: 'read' }, { resource: 'logs-db', role: 'read' }], duration: '15m', reason: 'nightly export with logs' };
    const headers = { 'idempotency-key': 'bundle-export-1' };
    const made = await api('/requests', { token, method: 'POST', body: JSON.stringify(body), headers });
    expect(made.status).toBe(201);
    const answer = (await made.json()) as { bundle: string; requests: Array<{ id: string; state: string; resource: string; account: string }> };
    expect(answer.requests.map((request) => [request.resource, request.state, request.account])).toEqual([
      ['prod-db', 'pending_approval', 'other_bot'],
      ['logs-db', 'pending_approval', 'other_bot'],
    ]);
    expect(answer.bundle).toBe(answer.requests[0]!.id);

    // The same key and body: the same requests; the same key for other items: refused.
    const replay = await api('/requests', { token, method: 'POST', body: JSON.stringify(body), headers });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(((await replay.json()) as { requests: Array<{ id: string }> }).requests.map((request) => request.id)).toEqual(answer.requests.map((request) => request.id));
    await expectProblem(await api('/requests', { token, method: 'POST', body: JSON.stringify({ ...body, items: body.items.slice(0, 1) }), headers }), 422, 'idempotency_key_reused');
    // Nor does a single request with the key of several find one of them.
    await expectProblem(await api('/requests', { token, method: 'POST', body: JSON.stringify({ resource: 'prod-db', role: 'read', duration: '15m', reason: body.reason }), headers }), 422, 'invalid_input');

    const card = await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(answer.bundle) && JSON.stringify(call.args).includes('Logs database'));
    const approveAll = (card.args.blocks as Array<{ type: string; block_id?: string; elements?: Array<{ action_id?: string }> }>).find((block) => block.elements?.some((element) => element.action_id === 'latch_approve_all'));
    expect((await stack.sender.click(APPROVER, 'latch_approve_all', answer.bundle, 'C0APPROVALS', approveAll?.block_id)).status).toBe(200);
    for (const request of answer.requests) {
      await expect.poll(async () => ((await (await api(`/requests/${request.id}`, { token })).json()) as { state: string }).state, POLL_WITHIN_RATE).toBe('active');
    }
    expect(receiver.hasAccess('other_bot', 'read', 'prod-db')).toBe(true);
    expect(receiver.hasAccess('other_bot', 'read', 'logs-db')).toBe(true);
    for (const request of answer.requests) expect((await api(`/requests/${request.id}/release`, { token, method: 'POST' })).status).toBe(200);
    await expect.poll(() => receiver.hasAccess('other_bot', 'read', 'logs-db'), { timeout: 30_000 }).toBe(false);
  });

  it('limits how fast one machine may call, without slowing the others', async () => {
    const token = tokens['chatty-bot'];
    const statuses: number[] = [];
    for (let call = 0; call < 40; call++) statuses.push((await api('/access', { token })).status);
    expect(statuses.slice(0, 20).every((status) => status === 200)).toBe(true);
    const limited = await api('/access', { token });
    await expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await api('/access', { token: tokens['deploy-pipeline'] })).status).toBe(200);
  });

  it('refuses the tokens of a machine taken out of the policy, from the reload on', async () => {
    const token = tokens['deploy-pipeline'];
    expect((await api('/access', { token })).status).toBe(200);
    const without = policyYaml(receiver.url).replace(/  - id: deploy-pipeline\n(    .*\n){3}/, '').replace('machines: [deploy-pipeline, ', 'machines: [');
    expect(without).not.toContain('deploy-pipeline');
    writeFileSync(env.LATCH_POLICY_FILE!, without);
    await expect.poll(async () => (await api('/access', { token })).status, { timeout: 30_000 }).toBe(401);
    await expectProblem(await api('/access', { token }), 401, 'token_machine_unknown');
    const listed = await runLatch(['token', 'list', 'deploy-pipeline'], env);
    expect(listed.stdout).toContain('refused: the machine is no longer in the policy');
  });

  it('serves an OpenAPI document generated from the schemas the handlers use', async () => {
    const response = await fetch(`${baseUrl}/api/v1/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, { required?: string[]; additionalProperties?: boolean }> } };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(['/requests', '/requests/{id}', '/requests/{id}/release', '/requests/{id}/credentials', '/access', '/logins', '/logins/token', '/logout', '/oidc/token']);
    // resource and role, or items (several at once): the handler refuses a body with neither or both.
    expect(document.components.schemas.CreateRequest).toMatchObject({ required: ['duration', 'reason'], additionalProperties: false });
    expect(document.components.schemas).toHaveProperty('RequestBundle');
    // A scope per request, or per item of several (issue 17).
    expect(document.components.schemas.CreateRequest).toMatchObject({ properties: { scope: { description: expect.stringContaining('scope parameters') } } });
    expect(document.components.schemas).toHaveProperty('Problem');
    const request = document.components.schemas.Request as { properties: { grant: { anyOf?: Array<{ properties?: Record<string, unknown>; required?: string[] }> } } };
    const grant = request.properties.grant.anyOf?.find((option) => option.properties);
    expect(grant?.required).toEqual(['grantedAt', 'expiresAt', 'revokedAt']);
    expect(grant?.properties?.verifiedRevokedAt).toMatchObject({ description: expect.stringContaining('found the access gone') });
  });
});
