import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  APPROVE,
  APPROVE_WITH_CHANGES,
  DENY,
  REQUEST_DURATION_ACTION,
  REQUEST_DURATION_BLOCK,
  REQUEST_MODAL,
  REQUEST_REASON_ACTION,
  REQUEST_REASON_BLOCK,
  REQUEST_RESOURCE_ACTION,
  REQUEST_RESOURCE_BLOCK,
  REQUEST_ROLE_ACTION,
  REQUEST_TICKET_ACTION,
  REQUEST_TICKET_BLOCK,
  requestRoleBlockId,
} from '../../../src/slack/blocks/ids.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { slackLoggerFrom } from '../../../src/logging/slack-logger.ts';
import { createSlackTransport, SlackConnectionError } from '../../../src/slack/slack-transport.ts';
import type { FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { APP_TOKEN, LatchHarness, selected, textInput, type ModalLike } from '../../helpers/latch-harness.ts';
import { emptyRequestTables } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

// The user story of request-flow.test.ts, with every command, click, submission and event
// arriving as a Socket Mode envelope on the WebSocket Latch opened, instead of a signed request.

const REQUESTER = 'U0REQUESTER';
const [APPROVER1, APPROVER2] = ['U0APPROVER1', 'U0APPROVER2'];

let h: LatchHarness;

beforeAll(async () => {
  h = await LatchHarness.start(testPolicy([testResource({ approvers: { users: [APPROVER1, APPROVER2], groups: [], required: 2, oneFrom: [] } })]), {
    transport: 'socket-mode',
  });
});
afterAll(() => h?.close());
beforeEach(async () => {
  h.slack.reset();
  h.granted.length = 0;
  await emptyRequestTables(h.db);
});
afterEach(() => {
  // Slack redelivers an envelope that is not acked, and an ack cannot be taken back: exactly one each.
  expect(h.socket!.envelopesNotAckedOnce()).toEqual([]);
});

const socket = () => h.socket!;
const state = async (id: string) => (await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state;
const text = (call: FakeSlackCall) => JSON.stringify(call.args.blocks ?? []) + String(call.args.text ?? '');
const buttons = (call: FakeSlackCall) =>
  ((call.args.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string; value?: string }> }>)
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? []);
const lastUpdateOf = (channel: string) => h.slack.callsTo('chat.update').filter((c) => c.args.channel === channel).at(-1)!;

// Each submission is of a modal of its own, as each /request-access opens one: the same view
// submitted twice makes one request.
let views = 0;

function requestView(fields: { duration: string; reason: string }): ModalLike {
  return {
    id: `V0REQ${++views}`,
    callback_id: REQUEST_MODAL,
    state: {
      values: {
        [REQUEST_RESOURCE_BLOCK]: { [REQUEST_RESOURCE_ACTION]: selected('prod-db') },
        [requestRoleBlockId('prod-db')]: { [REQUEST_ROLE_ACTION]: selected('read') },
        [REQUEST_DURATION_BLOCK]: { [REQUEST_DURATION_ACTION]: textInput(fields.duration) },
        [REQUEST_REASON_BLOCK]: { [REQUEST_REASON_ACTION]: textInput(fields.reason) },
        [REQUEST_TICKET_BLOCK]: { [REQUEST_TICKET_ACTION]: textInput('INC-42') },
      },
    },
  };
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Submits a valid request through the modal; resolves with its id once it is posted for approval. */
async function requestThroughModal(): Promise<string> {
  const response = await h.submit(REQUESTER, requestView({ duration: '2h', reason: 'investigating INC-42' }));
  expect(await response.text()).toBe('');
  await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
  const request = await h.db.accessRequest.findFirstOrThrow({ orderBy: { createdAt: 'desc' } });
  await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
  return request.id;
}

describe('Socket Mode', { timeout: 60_000 }, () => {
  it('connected with the app token, through the Web API URL it was given', () => {
    expect(socket().connections).toBe(1);
    expect(h.latch.transport.socketState()).toBe('connected');
  });

  it('opens the request modal for /request-access, acking the command envelope', async () => {
    const response = await h.command(REQUESTER);
    expect(response.status).toBe(200);
    const open = await h.slack.waitForCall('views.open');
    expect((open.args.view as { callback_id: string }).callback_id).toBe(REQUEST_MODAL);
    expect(socket().sent.at(-1)).toMatchObject({ type: 'slash_commands', accepts_response_payload: true });
  });

  it('answers a bad submission with the field errors in its ack, and stores nothing', async () => {
    const response = await h.submit(REQUESTER, requestView({ duration: '90', reason: '' }));
    expect(await response.json()).toEqual({
      response_action: 'errors',
      errors: {
        [REQUEST_DURATION_BLOCK]: '"90" has no unit: write 90m for minutes or 90h for hours.',
        [REQUEST_REASON_BLOCK]: 'Say why you need this access.',
      },
    });
    expect(await h.db.accessRequest.count()).toBe(0);
  });

  it('creates the request from a valid submission and posts it for approval, with Approve, Approve with changes and Deny', async () => {
    const id = await requestThroughModal();
    const approval = h.slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0APPROVALS')!;
    expect(text(approval)).toContain('investigating INC-42');
    expect(buttons(approval)).toEqual([
      expect.objectContaining({ action_id: APPROVE, value: id }),
      expect.objectContaining({ action_id: APPROVE_WITH_CHANGES, value: id }),
      expect.objectContaining({ action_id: DENY, value: id }),
    ]);
    await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
    expect(await state(id)).toBe('pending');
  });

  it('approves once two approvers click Approve: message updated, decision audited, grant requested', async () => {
    const id = await requestThroughModal();
    await h.click(APPROVER1, APPROVE, id);
    await h.slack.waitForCall('chat.update', (c) => c.args.channel === 'C0APPROVALS');
    expect(await state(id)).toBe('pending');
    h.slack.reset();
    await h.click(APPROVER2, APPROVE, id);
    await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
    expect(await state(id)).toBe('approved');
    expect(h.granted).toEqual([id]);
    expect(buttons(lastUpdateOf('C0APPROVALS'))).toEqual([]);
    expect(text(lastUpdateOf('C0APPROVALS'))).toMatch(/approved/i);
    const audit = await h.db.auditEvent.findMany({ where: { requestId: id }, orderBy: { seq: 'asc' } });
    expect(audit.map((event) => [event.action, event.actor])).toEqual([
      ['request.created', REQUESTER],
      ['approval.recorded', APPROVER1],
      ['approval.recorded', APPROVER2],
      ['request.approved', APPROVER2],
    ]);
    // Socket Mode carries no Slack signature: the decisions say how they came, and keep no evidence.
    expect(audit.slice(1).map((event) => (event.data as { transport?: string }).transport)).toEqual(['socket-mode', 'socket-mode', 'socket-mode']);
    expect(await h.db.decisionEvidence.count()).toBe(0);
  });

  it('refuses a click from someone who is not an approver, telling only them', async () => {
    const id = await requestThroughModal();
    await h.click('U0STRANGER', APPROVE, id);
    const refusal = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === 'U0STRANGER');
    expect(refusal.args.text).toBe('You are not an approver for Production database.');
    expect(await h.db.approval.count()).toBe(0);
    expect(await state(id)).toBe('pending');
  });

  it('publishes App Home for an app_home_opened event', async () => {
    await h.event({ type: 'app_home_opened', user: REQUESTER, channel: `D0${REQUESTER}`, tab: 'home' });
    const publish = await h.slack.waitForCall('views.publish', (c) => c.args.user_id === REQUESTER);
    expect((publish.args.view as { type: string }).type).toBe('home');
    expect(socket().sent.at(-1)).toMatchObject({ type: 'events_api', accepts_response_payload: false });
  });

  it('reconnects when Slack asks it to, through a new apps.connections.open, and the next envelope still works', async () => {
    expect(h.latch.transport.socketState()).toBe('connected');
    socket().requestDisconnect('refresh_requested');
    await socket().waitForDisconnection();
    await waitFor(() => h.latch.transport.socketState() !== 'connected');
    await socket().waitForConnection(2, 30_000);
    expect(h.slack.callsTo('apps.connections.open')).toEqual([expect.objectContaining({ token: APP_TOKEN })]);
    await waitFor(() => h.latch.transport.socketState() === 'connected');

    const id = await requestThroughModal();
    await h.click(APPROVER1, APPROVE, id);
    await h.click(APPROVER2, APPROVE, id);
    await waitFor(async () => (await state(id)) === 'approved');
  });
});

describe('Socket Mode start-up', { timeout: 60_000 }, () => {
  it.each([
    ['the bot token', 'xoxb-fake-bot-token', /^SLACK_APP_TOKEN was refused by Slack \(apps\.connections\.open: not_allowed_token_type\): it must be an app-level token/],
    ['an unknown app token', 'xapp-1-A0OTHER-not-this-apps-token', /^SLACK_APP_TOKEN was refused by Slack \(apps\.connections\.open: invalid_auth\)/],
  ])('fails at once, saying why, when Slack refuses %s', async (_what, appToken, message) => {
    const slack = h.slack;
    const transport = createSlackTransport({ signingSecret: 'unused', appToken, apiUrl: slack.apiUrl, logger: slackLoggerFrom(createLogger({ level: 'silent' })) });
    const error = await transport.connect().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SlackConnectionError);
    expect((error as SlackConnectionError).reason).toBe('refused');
    expect((error as Error).message).toMatch(message);
    expect(transport.socketState()).not.toBe('connected');
  });

  it('waits out a rate-limited apps.connections.open instead of failing', async () => {
    h.slack.rateLimitOnce('apps.connections.open', 1);
    const transport = createSlackTransport({ signingSecret: 'unused', appToken: APP_TOKEN, apiUrl: h.slack.apiUrl, logger: slackLoggerFrom(createLogger({ level: 'silent' })) });
    try {
      await transport.connect();
      expect(transport.socketState()).toBe('connected');
      expect(h.slack.callsTo('apps.connections.open')).toHaveLength(2);
    } finally {
      await transport.disconnect();
    }
  });
});
