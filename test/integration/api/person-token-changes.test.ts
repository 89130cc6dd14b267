import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTEND_ACCESS, EXTEND_DURATION_ACTION, EXTEND_DURATION_BLOCK, EXTEND_REASON_ACTION, EXTEND_REASON_BLOCK } from '../../../src/slack/blocks/ids.ts';
import type { FakeSlack, FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { FakePagerDuty } from '../../helpers/fake-pagerduty.ts';
import { asOpenView, textInput } from '../../helpers/latch-harness.ts';
import { expectProblem, LatchOverHttp, type ApiCall } from '../../helpers/latch-over-http.ts';
import type { SlackSender } from '../../helpers/slack-sender.ts';

/**
 * A person's terminal token (`latch login`) through the real `latch start` over HTTP, where what
 * the token asked meets what Slack and the on-call provider changed since: a retry with the same
 * Idempotency-Key after an on-call rule cut the access at the end of the shift, and a release that
 * cancels the request for more time the person asked in Slack. PagerDuty and Slack are faked.
 */

const ALICE = 'U0ALICE01';
const APPROVER = 'U0APPROVER1';
const HOUR_MS = 3600_000;

const policyYaml = (hookUrl: string) => `
resources:
  - id: oncall-db
    name: On-call database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 4h
    requesters: { users: [${ALICE}] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
    autoApprove:
      - name: on-call-read
        roles: [read]
        maxDuration: 4h
        onCall: { provider: pagerduty, schedules: [PSCHED1] }
  - id: prod-db
    name: Production database
    provider: { type: webhook, settings: { url: '${hookUrl}', secretEnv: HOOK_SECRET } }
    roles: [read]
    maxDuration: 8h
    requesters: { users: [${ALICE}] }
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0APPROVALS
`;

let pagerDuty: FakePagerDuty;
let stack: LatchOverHttp;
let slack: FakeSlack;
let sql: pg.Client;
let sender: SlackSender;
let token: string;
let tokenId: string;

beforeAll(async () => {
  pagerDuty = await FakePagerDuty.start();
  stack = await LatchOverHttp.start({ name: 'person-token', policy: ({ hookUrl }) => policyYaml(hookUrl), env: { PAGERDUTY_API_KEY: pagerDuty.apiKey, PAGERDUTY_API_URL: pagerDuty.apiUrl } });
  ({ slack, sql, sender } = stack);
  slack.addUser({ id: ALICE, name: 'ada', email: 'ada@example.com' });
  pagerDuty.addUser('PUSERADA', 'ada@example.com');
  // On call for another hour: access asked for longer ends with the shift.
  pagerDuty.putOnCall({ userId: 'PUSERADA', scheduleId: 'PSCHED1', escalationPolicyId: 'PPOL1', level: 1, start: new Date(Date.now() - HOUR_MS), end: new Date(Date.now() + HOUR_MS) });
  ({ token, tokenId } = await logIn(ALICE));
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await pagerDuty?.close();
});

let responses = 0;

/** Logs `user` in as a terminal would (POST /logins, confirmed in Slack, POST /logins/token): their token and its id. */
async function logIn(user: string): Promise<{ token: string; tokenId: string }> {
  const started = await stack.api('/logins', { method: 'POST', body: { client: 'laptop' } });
  expect(started.status).toBe(201);
  const { deviceCode, userCode } = (await started.json()) as { deviceCode: string; userCode: string };
  const typed = `login-${++responses}`;
  expect((await sender.command(user, `login ${userCode}`, typed)).status).toBe(200);
  const prompt: FakeSlackCall = await slack.waitForCall('response_url', (call) => call.args.id === typed, 15_000);
  const value = /"value":"([0-9a-f-]{36}\|[A-Z]{4}-[A-Z]{4})"/.exec(JSON.stringify(prompt.args))![1]!;
  const clicked = `login-${++responses}`;
  expect((await sender.click(user, 'latch_cli_login_confirm', value, 'C0GENERAL', 'latch_cli_login_actions', clicked)).status).toBe(200);
  expect(String((await slack.waitForCall('response_url', (call) => call.args.id === clicked, 15_000)).args.text)).toContain(`Login ${userCode} confirmed`);
  const collected = await stack.api('/logins/token', { method: 'POST', body: { deviceCode } });
  expect(collected.status).toBe(200);
  const { access_token } = (await collected.json()) as { access_token: string };
  return { token: access_token, tokenId: value.split('|')[0]! };
}

const api = (path: string, call: ApiCall = {}) => stack.api(path, { token, ...call });

interface ApiRequest {
  id: string;
  state: string;
  durationSeconds: number;
}

const stateOf = async (id: string) => ((await (await api(`/requests/${id}`)).json()) as ApiRequest).state;

describe("a person's terminal token", { timeout: 90_000 }, () => {
  it('replays a request an on-call rule cut at the end of the shift, for the same key and body, and still refuses another body', async () => {
    const body = { resource: 'oncall-db', role: 'read', duration: '2h', reason: 'paged for the checkout outage' };
    const headers = { 'idempotency-key': 'page-4711' };
    const first = await api('/requests', { method: 'POST', body, headers });
    expect(first.status).toBe(201);
    const made = (await first.json()) as ApiRequest;
    // Asked for two hours; the shift ends in one, and so does the access.
    expect(made.state).not.toBe('pending_approval');
    expect(made.durationSeconds).toBeLessThanOrEqual(3600);

    // The pipeline's network blipped: it sends the same again, in the same or other words.
    for (const retry of [body, { ...body, duration: '120m', reason: ' paged for the checkout outage ' }]) {
      const again = await api('/requests', { method: 'POST', body: retry, headers });
      expect(again.status).toBe(200);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(((await again.json()) as ApiRequest).id).toBe(made.id);
    }
    // Asking for what the access was cut to is not what was asked.
    for (const other of [{ ...body, duration: `${made.durationSeconds}s` }, { ...body, duration: '3h' }, { ...body, reason: 'another outage' }]) {
      await expectProblem(await api('/requests', { method: 'POST', body: other, headers }), 422, 'idempotency_key_reused');
    }
    const count = await sql.query("SELECT 1 FROM access_requests WHERE resource_id = 'oncall-db'");
    expect(count.rowCount).toBe(1);
  });

  it('records the token on the cancellation of a pending request for more time when it releases the access', async () => {
    const made = await api('/requests', { method: 'POST', body: { resource: 'prod-db', role: 'read', duration: '1h', reason: 'restore the orders table' } });
    expect(made.status).toBe(201);
    const { id } = (await made.json()) as ApiRequest;
    await slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS' && JSON.stringify(call.args).includes(id));
    expect((await sender.click(APPROVER, 'latch_approve', id)).status).toBe(200);
    await expect.poll(() => stateOf(id), { timeout: 30_000, interval: 500 }).toBe('active');

    // More time, asked in Slack and still waiting for the approvers.
    expect((await sender.click(ALICE, EXTEND_ACCESS, id, 'D0ALICE', 'latch_active_access_actions')).status).toBe(200);
    const form = (await slack.waitForCall('views.open', (call) => JSON.stringify(call.args.view).includes(EXTEND_DURATION_BLOCK))).args.view as Record<string, unknown>;
    const values = { [EXTEND_DURATION_BLOCK]: { [EXTEND_DURATION_ACTION]: textInput('1h') }, [EXTEND_REASON_BLOCK]: { [EXTEND_REASON_ACTION]: textInput('the restore is slower than planned') } };
    expect((await sender.submit(ALICE, asOpenView(form, values))).status).toBe(200);
    const pendingExtension = async () => (await sql.query<{ id: string }>("SELECT id FROM access_requests WHERE extends_request_id = $1 AND state = 'pending'", [id])).rows[0]?.id;
    await expect.poll(pendingExtension, { timeout: 15_000 }).toBeDefined();
    const extension = (await pendingExtension())!;

    const released = await api(`/requests/${id}/release`, { method: 'POST' });
    expect(released.status).toBe(200);
    const events = await sql.query<{ request_id: string; action: string; actor: string; data: { tokenId?: string } }>(
      "SELECT request_id, action, actor, data FROM audit_events WHERE request_id = ANY($1::uuid[]) AND action IN ('request.cancelled', 'grant.end_requested') ORDER BY seq",
      [[id, extension]],
    );
    expect(events.rows.map((row) => [row.request_id, row.action])).toEqual(expect.arrayContaining([[extension, 'request.cancelled'], [id, 'grant.end_requested']]));
    for (const event of events.rows) expect(event, event.action).toMatchObject({ actor: ALICE, data: { tokenId } });
  });
});
