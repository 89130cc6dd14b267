import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { announceMissedRequests } from '../../../src/services/announce-missed-requests.ts';
import { expirePendingRequests } from '../../../src/services/expire-pending-requests.ts';
import { sendReminders } from '../../../src/services/send-reminders.ts';
import {
  APPROVE,
  APPROVE_WITH_CHANGES,
  CANCEL,
  DENY,
  DENY_MODAL,
  DENY_REASON_ACTION,
  DENY_REASON_BLOCK,
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
import type { FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { asOpenView, LatchHarness, selected, textInput, type ModalLike } from '../../helpers/latch-harness.ts';
import { emptyRequestTables } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

const REQUESTER = 'U0REQUESTER';
const [APPROVER1, APPROVER2] = ['U0APPROVER1', 'U0APPROVER2'];

let h: LatchHarness;

beforeAll(async () => {
  h = await LatchHarness.start(
    testPolicy([
      testResource({ approvers: { users: [APPROVER1, APPROVER2, REQUESTER], groups: [], required: 2, oneFrom: [] } }),
      testResource({ id: 'billing', name: 'Billing admin', roles: [{ id: 'admin', maxDurationSeconds: 3600 }], approvers: { users: [APPROVER1], groups: [], required: 1, oneFrom: [] }, approvalChannel: 'C0BILLING' }),
      testResource({ id: 'secret-vault', name: 'Secret vault', requesters: { everyone: false, users: ['U0SOMEONEELSE'], groups: [] } }),
    ]),
  );
});
afterAll(() => h.close());
beforeEach(async () => {
  h.slack.reset();
  h.granted.length = 0;
  await emptyRequestTables(h.db);
});

function modalValues(fields: { resource?: string; role?: string; duration?: string; reason?: string; ticket?: string }) {
  const values: ModalLike['state']['values'] = {
    [REQUEST_DURATION_BLOCK]: { [REQUEST_DURATION_ACTION]: textInput(fields.duration ?? '') },
    [REQUEST_REASON_BLOCK]: { [REQUEST_REASON_ACTION]: textInput(fields.reason ?? '') },
    [REQUEST_TICKET_BLOCK]: { [REQUEST_TICKET_ACTION]: textInput(fields.ticket ?? '') },
  };
  if (fields.resource) values[REQUEST_RESOURCE_BLOCK] = { [REQUEST_RESOURCE_ACTION]: selected(fields.resource) };
  if (fields.resource && fields.role) values[requestRoleBlockId(fields.resource)] = { [REQUEST_ROLE_ACTION]: selected(fields.role) };
  return values;
}

// Each submission is of a modal of its own, as each /request-access opens one: the same view
// submitted twice makes one request.
let views = 0;

function submitRequest(fields: Parameters<typeof modalValues>[0], userId = REQUESTER) {
  return h.submit(userId, { id: `V0REQ${++views}`, callback_id: REQUEST_MODAL, state: { values: modalValues(fields) } });
}

/** Submits a valid request through the modal and returns its id once its messages are out. */
async function requestThroughModal(reason = 'investigating INC-42'): Promise<string> {
  const response = await submitRequest({ resource: 'prod-db', role: 'read', duration: '2h', reason, ticket: 'INC-42' });
  expect(response.status).toBe(200);
  await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
  await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
  const request = await h.db.accessRequest.findFirstOrThrow({ orderBy: { createdAt: 'desc' } });
  await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
  return request.id;
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const text = (call: FakeSlackCall) => JSON.stringify(call.args.blocks ?? []) + String(call.args.text ?? '');
const buttons = (call: FakeSlackCall) =>
  ((call.args.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string; value?: string }> }>)
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? []);
const lastUpdateOf = (channel: string) => h.slack.callsTo('chat.update').filter((c) => c.args.channel === channel).at(-1)!;
const state = async (id: string) => (await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state;

describe('/request-access', () => {
  it('opens the modal offering only the resources the person may request', async () => {
    expect((await h.command(REQUESTER)).status).toBe(200);
    const open = await h.slack.waitForCall('views.open');
    const view = open.args.view as { callback_id: string; blocks: Array<{ block_id?: string; element?: { options?: Array<{ value: string }> } }> };
    expect(view.callback_id).toBe(REQUEST_MODAL);
    const resourceBlock = view.blocks.find((b) => b.block_id === REQUEST_RESOURCE_BLOCK)!;
    expect(resourceBlock.element!.options!.map((o) => o.value)).toEqual(['prod-db', 'billing']);
  });

  it('shows the roles of the resource picked, and only those', async () => {
    await h.command(REQUESTER);
    const open = await h.slack.waitForCall('views.open');
    const opened = asOpenView({ ...(open.args.view as object), id: 'V0OPEN' });
    await h.selectInModal(REQUESTER, opened, REQUEST_RESOURCE_ACTION, REQUEST_RESOURCE_BLOCK, 'billing');
    const update = await h.slack.waitForCall('views.update');
    expect(update.args).toMatchObject({ view_id: 'V0OPEN', hash: 'hash-1' });
    const blocks = (update.args.view as { blocks: Array<{ block_id?: string; element?: { options?: Array<{ value: string }> } }> }).blocks;
    expect(blocks.find((b) => b.block_id === requestRoleBlockId('billing'))!.element!.options!.map((o) => o.value)).toEqual(['admin']);
  });

  it('posts a valid submission to the approval channel with Approve and Deny, and confirms it to the requester', async () => {
    const id = await requestThroughModal();
    const approval = h.slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0APPROVALS')!;
    expect(text(approval)).toContain(`<@${REQUESTER}>`);
    expect(text(approval)).toContain('investigating INC-42');
    expect(text(approval)).toContain('INC-42');
    expect(buttons(approval)).toEqual([
      expect.objectContaining({ action_id: APPROVE, value: id }),
      expect.objectContaining({ action_id: APPROVE_WITH_CHANGES, value: id }),
      expect.objectContaining({ action_id: DENY, value: id }),
    ]);
    const confirmation = h.slack.callsTo('chat.postMessage').find((c) => c.args.channel === REQUESTER)!;
    expect(buttons(confirmation)).toEqual([expect.objectContaining({ action_id: CANCEL, value: id })]);
    expect(await state(id)).toBe('pending');
  });

  it('makes one request of a form submitted again, as a person does when Slack gave up waiting, and twice at once', async () => {
    const form = (id: string, reason: string) => ({ id, callback_id: REQUEST_MODAL, state: { values: modalValues({ resource: 'prod-db', role: 'read', duration: '2h', reason }) } });
    const first = await h.submit(REQUESTER, form('V0AGAIN', 'submitted again'));
    const again = await h.submit(REQUESTER, form('V0AGAIN', 'submitted again'));
    for (const response of [first, again]) expect(response.status).toBe(200);
    const twice = await Promise.all([h.submit(REQUESTER, form('V0TWICE', 'submitted twice at once')), h.submit(REQUESTER, form('V0TWICE', 'submitted twice at once'))]);
    for (const response of twice) expect(response.status).toBe(200);
    for (const reason of ['submitted again', 'submitted twice at once']) {
      const made = await h.db.accessRequest.findMany({ where: { reason } });
      expect(made, reason).toHaveLength(1);
      expect(await h.db.auditEvent.count({ where: { requestId: made[0]!.id, action: 'request.created' } }), reason).toBe(1);
    }
    // Another form, even with the same content, is another request.
    await h.submit(REQUESTER, form('V0OTHER', 'submitted again'));
    expect(await h.db.accessRequest.count({ where: { reason: 'submitted again' } })).toBe(2);
    // Each request announced once, approvers and requester, before the next test counts messages.
    await expect.poll(() => h.db.accessRequest.count({ where: { requesterMessageTs: { not: null } } }), { timeout: 10_000 }).toBe(3);
    expect(h.slack.callsTo('chat.postMessage').filter((call) => call.args.channel === 'C0APPROVALS')).toHaveLength(3);
  });

  it('refuses a person’s 11th waiting request, even among 25 commands sent at once, and says why', async () => {
    const FLOODER = 'U0FLOODER';
    const responses = await Promise.all(Array.from({ length: 25 }, (_, i) => h.command(FLOODER, `prod-db read 30m flood ${i}`, `flood-${i}`)));
    for (const response of responses) expect(response.status).toBe(200);
    const replies = await Promise.all(Array.from({ length: 25 }, (_, i) => h.slack.waitForCall('response_url', (c) => c.args.id === `flood-${i}`)));
    const said = replies.map((reply) => String(reply.args.text));
    expect(said.filter((text) => text.includes('Request sent'))).toHaveLength(10);
    expect(said.filter((text) => text.includes('You already have 10 requests waiting for approvers, the most the policy allows at once.'))).toHaveLength(15);
    expect(await h.db.accessRequest.count({ where: { requesterSlackId: FLOODER } })).toBe(10);
    // Everyone else can still ask.
    await h.command(REQUESTER, 'prod-db read 30m not part of the flood', 'after-flood');
    expect((await h.slack.waitForCall('response_url', (c) => c.args.id === 'after-flood')).args.text).toContain('Request sent');
  });

  it('returns a bad duration and a missing reason as errors on their fields, and stores nothing', async () => {
    const response = await submitRequest({ resource: 'prod-db', role: 'read', duration: '90', reason: '' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      response_action: 'errors',
      errors: {
        [REQUEST_DURATION_BLOCK]: '"90" has no unit: write 90m for minutes or 90h for hours.',
        [REQUEST_REASON_BLOCK]: 'Say why you need this access.',
      },
    });
    expect(await h.db.accessRequest.count()).toBe(0);
    expect(h.slack.callsTo('chat.postMessage')).toEqual([]);
  });

  it('refuses a duration over the role limit on the duration field', async () => {
    const response = await submitRequest({ resource: 'billing', role: 'admin', duration: '2h', reason: 'refund' });
    expect(await response.json()).toMatchObject({ errors: { [REQUEST_DURATION_BLOCK]: 'At most 1h for admin on Billing admin.' } });
  });

  it('requests at once from arguments, and explains what is wrong when they are', async () => {
    await h.command(REQUESTER, 'prod-db read 30m quick look at the slow query', 'inline-ok');
    const ok = await h.slack.waitForCall('response_url', (c) => c.args.id === 'inline-ok');
    expect(ok.args.text).toContain('Request sent');
    expect(await h.db.accessRequest.findFirstOrThrow()).toMatchObject({ resourceId: 'prod-db', role: 'read', durationSeconds: 1800, reason: 'quick look at the slow query' });
    await h.command(REQUESTER, 'no<-such read 1h x', 'inline-bad');
    const bad = await h.slack.waitForCall('response_url', (c) => c.args.id === 'inline-bad');
    expect(bad.args.text).toContain('There is no resource called "no&lt;-such".');
  });

  it('shows the usage help with its <resource> <role> placeholders escaped, so Slack shows them instead of swallowing them as links', async () => {
    await h.command(REQUESTER, 'help', 'usage-help');
    const help = await h.slack.waitForCall('response_url', (c) => c.args.id === 'usage-help');
    expect(help.args.text).toContain('`/request-access &lt;resource&gt; &lt;role&gt; &lt;duration&gt; &lt;reason&gt;`');
    expect(help.args.text).not.toMatch(/<(resource|role|duration|reason)>/);
    await h.command(REQUESTER, 'prod-db', 'usage-after-refusal');
    const refused = await h.slack.waitForCall('response_url', (c) => c.args.id === 'usage-after-refusal');
    expect(refused.args.text).toContain('Your request was not sent');
    expect(refused.args.text).toContain('`/request-access break-glass &lt;resource&gt; &lt;role&gt; &lt;duration&gt; &lt;reason&gt;`');
    expect(refused.args.text).not.toMatch(/<(resource|role|duration|reason)>/);
  });

  it('escapes <!channel> and disguised links in the reason before they reach Slack', async () => {
    await requestThroughModal('<!channel> urgent, see <https://evil.example|the runbook> & hurry');
    const approval = h.slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0APPROVALS')!;
    expect(text(approval)).toContain('&lt;!channel&gt; urgent, see &lt;https://evil.example|the runbook&gt; &amp; hurry');
    expect(text(approval)).not.toContain('<!channel>');
    expect(text(approval)).not.toContain('<https://evil.example');
  });
});

describe('identity from the Slack profile', () => {
  it('reads the requester’s email through users.info, and refuses someone without one in the form', async () => {
    const saved = h.policy;
    h.policy = testPolicy([testResource({ identity: { map: {}, from: 'email', template: 'jit_{localpart}', domains: ['example.com'] } })]);
    try {
      // Someone who has not asked before: Latch keeps a profile it read for ten minutes.
      h.slack.addUser({ id: 'U0RITA', name: 'rita', email: 'rita@example.com' });
      const ok = await submitRequest({ resource: 'prod-db', role: 'read', duration: '1h', reason: 'r' }, 'U0RITA');
      expect(ok.status).toBe(200);
      await waitFor(async () => (await h.db.accessRequest.count()) === 1);
      expect((await h.db.accessRequest.findFirstOrThrow()).principal).toBe('jit_rita');
      expect(h.slack.callsTo('users.info').filter((call) => call.args.user === 'U0RITA')).toHaveLength(1);

      h.slack.addUser({ id: 'U0NOEMAIL', name: 'bot-like' });
      const refused = await submitRequest({ resource: 'prod-db', role: 'read', duration: '1h', reason: 'r' }, 'U0NOEMAIL');
      expect(await refused.json()).toEqual({
        response_action: 'errors',
        errors: { [REQUEST_RESOURCE_BLOCK]: 'Latch cannot tell who you are on Production database: your Slack profile shows no email address.' },
      });
    } finally {
      h.policy = saved;
    }
  });
});

describe('who Slack says the requester is', () => {
  const emailIdentity = () => testPolicy([testResource({ identity: { map: {}, from: 'email', template: '{localpart}', domains: ['example.com'] } })]);

  it.each([
    ['a deactivated account', { deleted: true }, 'Your Slack account is deactivated: Latch gives it no access.'],
    ['a multi-channel guest', { isRestricted: true }, 'Guests of this Slack workspace cannot request Production database.'],
    ['a single-channel guest', { isUltraRestricted: true }, 'Guests of this Slack workspace cannot request Production database.'],
    ['a bot', { isBot: true }, 'Latch gives access to people only, and this Slack account is a bot or an app.'],
    ['an app user', { isAppUser: true }, 'Latch gives access to people only, and this Slack account is a bot or an app.'],
    ['a user of another team', { teamId: 'T0ELSEWHERE' }, 'Your Slack account belongs to another workspace or organisation (Slack Connect): Latch gives access only to members of its own workspace.'],
    ['an email Slack has not confirmed', { emailConfirmed: false }, 'Latch cannot tell who you are on Production database: Slack has not confirmed the email address on your profile. Confirm it in Slack, then ask again.'],
  ] as const)('refuses %s in the form, and stores nothing', async (_name, flags, message) => {
    const saved = h.policy;
    h.policy = emailIdentity();
    try {
      const id = `U0FLAG${Object.keys(flags)[0]!.toUpperCase()}`;
      h.slack.addUser({ id, name: 'someone', email: 'someone@example.com', ...flags });
      const refused = await submitRequest({ resource: 'prod-db', role: 'read', duration: '1h', reason: 'r' }, id);
      expect(await refused.json()).toEqual({ response_action: 'errors', errors: { [REQUEST_RESOURCE_BLOCK]: message } });
      expect(await h.db.accessRequest.count()).toBe(0);
    } finally {
      h.policy = saved;
    }
  });

  it('refuses an account of the workspace that is not a person even when its identity is not the email', async () => {
    // The Slack user id is the identity here (a slack-usergroup resource's default): a guest still gets nothing.
    h.slack.addUser({ id: 'U0GUESTUID', name: 'guest', isRestricted: true });
    const refused = await submitRequest({ resource: 'prod-db', role: 'read', duration: '1h', reason: 'r' }, 'U0GUESTUID');
    expect(await refused.json()).toEqual({ response_action: 'errors', errors: { [REQUEST_RESOURCE_BLOCK]: 'Guests of this Slack workspace cannot request Production database.' } });
    expect(await h.db.accessRequest.count()).toBe(0);
  });

  it('lets a guest ask where the policy allows guests', async () => {
    const saved = h.policy;
    h.policy = testPolicy([testResource({ identity: { map: {}, from: 'email', template: '{localpart}', domains: ['example.com'], allowGuests: true } })]);
    try {
      h.slack.addUser({ id: 'U0GUESTOK', name: 'guest', email: 'guest.ok@example.com', isRestricted: true });
      const response = await submitRequest({ resource: 'prod-db', role: 'read', duration: '1h', reason: 'r' }, 'U0GUESTOK');
      expect(response.status).toBe(200);
      await waitFor(async () => (await h.db.accessRequest.count()) === 1);
      expect((await h.db.accessRequest.findFirstOrThrow()).principal).toBe('guest.ok');
    } finally {
      h.policy = saved;
    }
  });

  it.each([
    ['latch_grantor@anything.example', 'anything.example'],
    ['svc_reporting@gmail.com', 'gmail.com'],
  ])('gives no account to %s, an email at a domain the policy does not list', async (email, domain) => {
    const saved = h.policy;
    h.policy = emailIdentity();
    try {
      const id = `U0DOM${domain.replace(/[^a-z]/g, '').toUpperCase()}`;
      h.slack.addUser({ id, name: 'eve', email });
      const refused = await submitRequest({ resource: 'prod-db', role: 'read', duration: '1h', reason: 'r' }, id);
      expect(await refused.json()).toEqual({
        response_action: 'errors',
        errors: { [REQUEST_RESOURCE_BLOCK]: `Latch cannot tell who you are on Production database: its accounts belong to @example.com addresses, and your Slack profile's email is at @${domain}.` },
      });
      expect(await h.db.accessRequest.count()).toBe(0);
    } finally {
      h.policy = saved;
    }
  });
});

describe('a catalog of more than 100 resources', () => {
  it('switches the resource picker to type-ahead and answers its searches', async () => {
    const saved = h.policy;
    h.policy = testPolicy(Array.from({ length: 101 }, (_, i) => testResource({ id: `db-${i}`, name: `Database ${i}` })));
    try {
      await h.command(REQUESTER);
      const open = await h.slack.waitForCall('views.open');
      const blocks = (open.args.view as { blocks: Array<{ block_id?: string; element?: { type: string } }> }).blocks;
      expect(blocks.find((b) => b.block_id === REQUEST_RESOURCE_BLOCK)!.element!.type).toBe('external_select');
      const response = await h.interact({
        type: 'block_suggestion',
        user: { id: REQUESTER, team_id: 'T0FAKE' },
        team: { id: 'T0FAKE' },
        api_app_id: 'A0LATCH',
        action_id: REQUEST_RESOURCE_ACTION,
        block_id: REQUEST_RESOURCE_BLOCK,
        value: 'database 10',
        view: { id: 'V0OPEN', callback_id: REQUEST_MODAL, state: { values: {} } },
      });
      const { options } = (await response.json()) as { options: Array<{ value: string }> };
      expect(options.map((o) => o.value)).toEqual(['db-10', 'db-100']);
    } finally {
      h.policy = saved;
    }
  });
});

describe('approving and denying', () => {
  it('reaches approved only after two distinct approvers, updating the message in place and removing the buttons', async () => {
    const id = await requestThroughModal();
    await h.click(APPROVER1, APPROVE, id);
    await h.slack.waitForCall('chat.update', (c) => c.args.channel === 'C0APPROVALS');
    expect(await state(id)).toBe('pending');
    expect(text(lastUpdateOf('C0APPROVALS'))).toContain('1 more approval needed');
    expect(buttons(lastUpdateOf('C0APPROVALS')).map((b) => b.action_id)).toEqual([APPROVE, APPROVE_WITH_CHANGES, DENY]);

    h.slack.reset();
    await h.click(APPROVER2, APPROVE, id);
    const dm = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
    expect(await state(id)).toBe('approved');
    expect(h.granted).toEqual([id]);
    expect(buttons(lastUpdateOf('C0APPROVALS'))).toEqual([]);
    expect(text(lastUpdateOf('C0APPROVALS'))).toMatch(/approved/i);
    // The status line says who approved and labels the time as theirs.
    const decidedAt = (await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).decidedAt!;
    expect(text(lastUpdateOf('C0APPROVALS'))).toContain(`✅ *Approved* by <@${APPROVER1}>, <@${APPROVER2}> at <!date^${Math.floor(decidedAt.getTime() / 1000)}^{time} ({date_short_pretty})|`);
    expect(text(dm)).toMatch(/approved/i);
  });

  it('needs 2 of 3 with one from security: two approvals without security leave it pending, saying who is missing', async () => {
    const before = h.policy;
    h.policy = testPolicy([testResource({ approvers: { users: [APPROVER1, APPROVER2], groups: ['S0SECURITY'], required: 2, oneFrom: ['S0SECURITY'] } })]);
    h.groups.members.set('S0SECURITY', ['U0SECLEAD']);
    try {
      const id = await requestThroughModal();
      await h.click(APPROVER1, APPROVE, id);
      await h.click(APPROVER2, APPROVE, id);
      await waitFor(() => h.slack.callsTo('chat.update').filter((c) => c.args.channel === 'C0APPROVALS').length >= 2);
      expect(await state(id)).toBe('pending');
      expect(text(lastUpdateOf('C0APPROVALS'))).toContain('1 more approval needed, including one from <!subteam^S0SECURITY>');
      h.slack.reset();
      await h.click('U0SECLEAD', APPROVE, id);
      await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
      expect(await state(id)).toBe('approved');
      expect(h.granted).toEqual([id]);
    } finally {
      h.policy = before;
      h.groups.members.clear();
    }
  });

  it('tells a requester who approves their own request, and a non-approver, that they cannot — and only them', async () => {
    const id = await requestThroughModal();
    await h.click(REQUESTER, APPROVE, id);
    const own = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === REQUESTER);
    expect(own.args).toMatchObject({ channel: 'C0APPROVALS', text: 'You cannot decide your own request.' });
    await h.click('U0STRANGER', APPROVE, id);
    const stranger = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === 'U0STRANGER');
    expect(stranger.args.text).toBe('You are not an approver for Production database.');
    await h.click('U0STRANGER', DENY, id);
    await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === 'U0STRANGER' && h.slack.callsTo('chat.postEphemeral').length >= 3);
    expect(h.slack.callsTo('views.open')).toEqual([]);
    expect(await h.db.approval.count()).toBe(0);
    expect(await state(id)).toBe('pending');
  });

  it('closes a request a reloaded policy no longer allows at the Approve click, telling the approver and, by DM, the requester why', async () => {
    const before = h.policy;
    try {
      const id = await requestThroughModal();
      // Reloaded: read on prod-db now lasts at most 1h; the request asked for 2h.
      h.policy = testPolicy([testResource({ roles: [{ id: 'read', maxDurationSeconds: 3600 }], approvers: { users: [APPROVER1, APPROVER2], groups: [], required: 2, oneFrom: [] } })]);
      h.slack.reset();
      await h.click(APPROVER1, APPROVE, id);
      const refused = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === APPROVER1);
      const reason = 'The policy now allows at most 1h of read on Production database; this request asks for 2h.';
      expect(refused.args.text).toBe(`This request can no longer be approved: ${reason} It has been closed and the requester told.`);
      const dm = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
      expect(text(dm)).toContain(reason);
      expect(await state(id)).toBe('denied');
      expect(buttons(lastUpdateOf('C0APPROVALS'))).toEqual([]);
      expect(h.granted).toEqual([]);
    } finally {
      h.policy = before;
    }
  });

  it('records one decision for a double click and for clicks that arrive at the same instant', async () => {
    const id = await requestThroughModal();
    const responses = await Promise.all(Array.from({ length: 6 }, () => h.click(APPROVER1, APPROVE, id)));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    await waitFor(() => h.slack.callsTo('chat.postEphemeral').length === 5);
    expect(await h.db.approval.count({ where: { requestId: id } })).toBe(1);
    expect(h.slack.callsTo('chat.postEphemeral').every((c) => c.args.text === 'You have already decided this request.')).toBe(true);
    expect(await state(id)).toBe('pending');
  });

  it('approves only the revision the approver was shown', async () => {
    const id = await requestThroughModal();
    const posted = h.slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'C0APPROVALS')!;
    expect(posted.args.blocks).toContainEqual(expect.objectContaining({ type: 'actions', block_id: 'latch_approval_actions:r1' }));
    // The request changes after the message went out (an edit or an extension bumps the revision).
    await h.db.accessRequest.update({ where: { id }, data: { revision: 2, durationSeconds: 8 * 3600 } });
    await h.click(APPROVER1, APPROVE, id, 'C0APPROVALS', 'latch_approval_actions:r1');
    const stale = await h.slack.waitForCall('chat.postEphemeral');
    expect(stale.args.text).toBe('This request changed after you saw it; look at it again before deciding.');
    await h.click(APPROVER1, APPROVE, id, 'C0APPROVALS', 'not-a-latch-block');
    await waitFor(() => h.slack.callsTo('chat.postEphemeral').length === 2);
    expect(await h.db.approval.count()).toBe(0);
    await h.click(APPROVER1, APPROVE, id, 'C0APPROVALS', 'latch_approval_actions:r2');
    await waitFor(async () => (await h.db.approval.count()) === 1);
  });

  it('refuses a click whose value is not a request id, without touching anything', async () => {
    await requestThroughModal();
    const response = await h.click(APPROVER1, APPROVE, JSON.stringify({ requestId: 'x', approve: true }));
    expect(response.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await h.db.approval.count()).toBe(0);
  });

  it('denies with a reason: asks for it in a modal, then updates the message and tells the requester why', async () => {
    const id = await requestThroughModal();
    h.slack.reset();
    await h.click(APPROVER1, DENY, id);
    const open = await h.slack.waitForCall('views.open');
    const view = open.args.view as { callback_id: string; private_metadata: string };
    expect(view).toMatchObject({ callback_id: DENY_MODAL, private_metadata: id });
    expect(await state(id)).toBe('pending');

    const empty = await h.submit(APPROVER1, asOpenView(open.args.view as Record<string, unknown>, { [DENY_REASON_BLOCK]: { [DENY_REASON_ACTION]: textInput('  ') } }));
    expect(await empty.json()).toMatchObject({ response_action: 'errors', errors: { [DENY_REASON_BLOCK]: expect.any(String) } });

    const response = await h.submit(APPROVER1, asOpenView(open.args.view as Record<string, unknown>, { [DENY_REASON_BLOCK]: { [DENY_REASON_ACTION]: textInput('use the <!here> replica') } }));
    expect(response.status).toBe(200);
    const dm = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
    expect(await state(id)).toBe('denied');
    expect(text(dm)).toContain('use the &lt;!here&gt; replica');
    expect(buttons(dm)).toEqual([]);
    expect(buttons(lastUpdateOf('C0APPROVALS'))).toEqual([]);
    expect(text(lastUpdateOf('C0APPROVALS'))).toMatch(/denied/i);
    // Who denied and when, labelled: not a bare date at the end of the status line.
    expect(text(lastUpdateOf('C0APPROVALS'))).toContain(`⛔ *Denied* by <@${APPROVER1}> at <!date^`);
    // The confirmation's Cancel button is gone too: nothing in the requester's DM can be pressed for it.
    await waitFor(async () => !h.slack.workspace.messagesIn(`D${REQUESTER}`, REQUESTER).some((message) => JSON.stringify(message.blocks ?? []).includes(id)));
  });

  it('shows a refusal in the deny form when the request was decided meanwhile', async () => {
    const id = await requestThroughModal();
    await h.click(APPROVER1, DENY, id);
    const open = await h.slack.waitForCall('views.open');
    await h.db.accessRequest.update({ where: { id }, data: { state: 'cancelled' } });
    const response = await h.submit(APPROVER1, asOpenView(open.args.view as Record<string, unknown>, { [DENY_REASON_BLOCK]: { [DENY_REASON_ACTION]: textInput('no') } }));
    expect(await response.json()).toEqual({ response_action: 'errors', errors: { [DENY_REASON_BLOCK]: 'This request is already cancelled.' } });
  });
});

describe('App Home', () => {
  const homeOf = async (userId: string) => {
    await h.event({ type: 'app_home_opened', user: userId, channel: `D0${userId}`, tab: 'home' });
    return JSON.stringify((await h.slack.waitForCall('views.publish', (c) => c.args.user_id === userId)).args.view);
  };

  it('shows the requester what waits for approval, and an approver what waits for them, who can approve from it', async () => {
    const id = await requestThroughModal();
    h.slack.reset();
    const requesterHome = await homeOf(REQUESTER);
    expect(requesterHome).toContain('Waiting for approval');
    expect(requesterHome).toContain(`"action_id":"${CANCEL}"`);
    expect(requesterHome).toContain('Nothing waits for you.');

    const approverHome = await homeOf(APPROVER1);
    expect(approverHome).toContain(`<@${REQUESTER}> asks for`);
    expect(approverHome).toContain(`"block_id":"latch_approval_actions:r1:${id}"`);

    h.slack.reset();
    await h.clickInHome(APPROVER1, APPROVE, id, `latch_approval_actions:r1:${id}`);
    const republished = await h.slack.waitForCall('views.publish', (c) => c.args.user_id === APPROVER1);
    expect(await h.db.approval.count({ where: { requestId: id, approverSlackId: APPROVER1 } })).toBe(1);
    expect(JSON.stringify(republished.args.view)).toContain('Nothing waits for you.');
  });
});

describe('reminders and escalation', () => {
  it('reminds the approvers in the thread, then escalates to the leads, who may then approve', async () => {
    const before = h.policy;
    h.policy = testPolicy([
      testResource({ approvers: { users: [APPROVER1], groups: [], required: 1, oneFrom: [] }, reminders: { afterSeconds: 3600, escalateAfterSeconds: 4 * 3600, escalateTo: ['S0LEADS'] } }),
    ]);
    h.groups.members.set('S0LEADS', ['U0LEAD']);
    try {
      const id = await requestThroughModal();
      const ts = (await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).approvalMessageTs;
      const threadReplies = () => h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0APPROVALS' && c.args.thread_ts === ts);
      h.clock.advance(3600);
      await sendReminders(h.latch.services);
      expect(threadReplies()).toHaveLength(1);
      expect(String(threadReplies()[0]!.args.reply_broadcast)).toBe('true');
      expect(text(threadReplies()[0]!)).toContain(`⏰ <@${APPROVER1}>: <@${REQUESTER}> is still waiting for`);

      h.clock.advance(3 * 3600);
      await sendReminders(h.latch.services);
      const escalation = threadReplies().find((c) => text(c).includes('Escalated to <!subteam^S0LEADS>'));
      expect(escalation).toBeDefined();
      await waitFor(() => text(lastUpdateOf('C0APPROVALS')).includes('Escalated: members of <!subteam^S0LEADS> may decide too'));

      h.slack.reset();
      await h.click('U0LEAD', APPROVE, id);
      await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
      expect(await state(id)).toBe('approved');
    } finally {
      h.policy = before;
      h.groups.members.clear();
    }
  });
});

describe('cancel and expiry', () => {
  it('lets the requester cancel from the DM: both messages update and the requester is told', async () => {
    const id = await requestThroughModal();
    h.slack.reset();
    await h.click(REQUESTER, CANCEL, id, `D${REQUESTER}`);
    const dm = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
    expect(await state(id)).toBe('cancelled');
    expect(text(dm)).toMatch(/cancelled/i);
    expect(buttons(lastUpdateOf('C0APPROVALS'))).toEqual([]);
    expect(text(lastUpdateOf('C0APPROVALS'))).toMatch(/cancelled/i);
  });

  it('expires what nobody decided within the pending timeout, updating the messages and telling the requester', async () => {
    const id = await requestThroughModal();
    h.slack.reset();
    h.clock.advance(23 * 3600);
    await expirePendingRequests(h.latch.services);
    expect(await state(id)).toBe('pending');
    h.clock.advance(3600);
    await expirePendingRequests(h.latch.services);
    expect(await state(id)).toBe('expired');
    const dm = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
    expect(text(dm)).toMatch(/expired|in time/i);
    expect(buttons(lastUpdateOf('C0APPROVALS'))).toEqual([]);
    // An expired request cannot be approved afterwards.
    await h.click(APPROVER1, APPROVE, id);
    const refused = await h.slack.waitForCall('chat.postEphemeral');
    expect(refused.args.text).toBe('This request is already expired.');
  });
});

describe('past the pending timeout, before the sweep', () => {
  it('refuses the approval, expires the request and tells the requester', async () => {
    const id = await requestThroughModal();
    h.slack.reset();
    h.clock.advance(24 * 3600);
    await h.click(APPROVER1, APPROVE, id);
    const refused = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === APPROVER1);
    expect(refused.args.text).toBe('This request can no longer be approved: nobody decided in time, so it has expired. The requester has been told.');
    const dm = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
    expect(text(dm)).toMatch(/expired/i);
    expect(await state(id)).toBe('expired');
    expect(await h.db.approval.count({ where: { requestId: id } })).toBe(0);
  });
});

describe('when Slack refuses the approval message', () => {
  it('keeps the request, and the sweep posts the message later without a second DM', async () => {
    h.slack.failOnce('chat.postMessage', 'internal_error');
    await submitRequest({ resource: 'prod-db', role: 'read', duration: '2h', reason: 'slack was down' });
    await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER);
    const request = await h.db.accessRequest.findFirstOrThrow();
    await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).requesterMessageTs !== null);
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs).toBeNull();

    await announceMissedRequests(h.latch.services);
    expect(h.slack.callsTo('chat.postMessage')).toHaveLength(2); // within the grace period: left alone
    h.clock.advance(120);
    await announceMissedRequests(h.latch.services);
    const posted = h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0APPROVALS');
    expect(posted).toHaveLength(2); // the refused attempt and the sweep's
    expect(h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === REQUESTER)).toHaveLength(1);
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs).not.toBeNull();
    await announceMissedRequests(h.latch.services);
    expect(h.slack.callsTo('chat.postMessage')).toHaveLength(3);
  });
});

describe('signatures', () => {
  it('refuses a forged or stale request before anything happens', async () => {
    const body = new URLSearchParams({ command: '/request-access', text: '', user_id: REQUESTER, channel_id: 'C1', trigger_id: '1.2' }).toString();
    expect((await h.post(body, { signingSecret: 'forged' })).status).toBe(401);
    expect((await h.post(body, { timestamp: Math.floor(Date.now() / 1000) - 301 })).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(h.slack.calls).toEqual([]);
  });
});
