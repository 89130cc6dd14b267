import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AUTO_APPROVAL_LIMITS } from '../../../src/domain/policy.ts';
import { transient } from '../../../src/providers/provider.ts';
import { REVOCATION_ALERT_AFTER_ATTEMPTS } from '../../../src/services/revoke-grant.ts';
import { sendReminders } from '../../../src/services/send-reminders.ts';
import {
  CANCEL,
  END_ACCESS,
  EXTEND_ACCESS,
  EXTEND_DURATION_ACTION,
  EXTEND_DURATION_BLOCK,
  EXTEND_REASON_ACTION,
  EXTEND_REASON_BLOCK,
  REVIEW_BREAK_GLASS,
  REQUEST_DURATION_ACTION,
  REQUEST_DURATION_BLOCK,
  REQUEST_MODAL,
  REQUEST_REASON_ACTION,
  REQUEST_REASON_BLOCK,
  REQUEST_RESOURCE_ACTION,
  REQUEST_RESOURCE_BLOCK,
  REQUEST_ROLE_ACTION,
  REQUEST_START_ACTION,
  REQUEST_START_BLOCK,
  REQUESTER_ACTIONS_BLOCK,
  requestRoleBlockId,
} from '../../../src/slack/blocks/ids.ts';
import type { FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { Workspace } from '../../../tools/sandbox/workspace.ts';
import { asOpenView, LatchHarness, textInput } from '../../helpers/latch-harness.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { SECURITY_ADMIN, SECURITY_CHANNEL, testAutoApprovalRule, testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Access as people meet it in Slack, with the real grant and revocation queues behind the app:
 * approve → granted (messages say until when) → "I'm done" → revoked (messages say so), and a
 * revocation that keeps failing reaches the security channel.
 */
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';

let h: LatchHarness;
const provider = new MemoryProvider();

beforeAll(async () => {
  h = await LatchHarness.start(testPolicy([testResource({ identity: { map: { [REQUESTER]: 'alice' }, from: 'map-only', template: '{email}' } })]), {
    provider,
    revocationBackoff: { quickAttempts: REVOCATION_ALERT_AFTER_ATTEMPTS, quickBaseMs: 20, slowBaseMs: 50, slowMaxMs: 100 },
  });
});
afterAll(() => h.close());

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const state = async (id: string) => (await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state;
const text = (call: FakeSlackCall | undefined) => JSON.stringify(call?.args.blocks ?? []) + String(call?.args.text ?? '');
const actionIds = (call: FakeSlackCall | undefined) =>
  ((call?.args.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string }> }>).filter((b) => b.type === 'actions').flatMap((b) => b.elements ?? []).map((e) => e.action_id);
const lastUpdateOf = (channel: string) => h.slack.callsTo('chat.update').filter((c) => c.args.channel === channel).at(-1);

/**
 * The buttons for request `id` the requester can press now: per message in their DM, as Slack
 * holds it after every post and update, the action ids of the buttons that carry this request.
 */
function liveButtonsInDm(id: string): string[][] {
  return h.slack.workspace
    .messagesIn(Workspace.dmChannelOf(REQUESTER), REQUESTER)
    .map((message) =>
      ((message.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string; value?: string }> }>)
        .filter((block) => block.type === 'actions')
        .flatMap((block) => block.elements ?? [])
        .filter((element) => element.value === id)
        .map((element) => element.action_id ?? ''),
    )
    .filter((ids) => ids.length > 0);
}

async function approvedAndActive(): Promise<string> {
  h.slack.reset();
  await h.command(REQUESTER, 'prod-db read 2h restoring the invoice table');
  await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
  const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER }, orderBy: { createdAt: 'desc' } });
  await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
  await h.click(APPROVER, 'latch_approve', request.id);
  await waitFor(async () => (await state(request.id)) === 'active');
  return request.id;
}

// Each submission is of a modal of its own, as each /request-access opens one: the same view
// submitted twice makes one request.
let views = 0;

/** The request modal submitted for `prod-db`/`read` with a start picked in the datetimepicker. */
function submitWithStart(startsAtSeconds: number, duration = '1h') {
  return h.submit(REQUESTER, {
    id: `V0REQ${++views}`,
    callback_id: REQUEST_MODAL,
    state: {
      values: {
        [REQUEST_RESOURCE_BLOCK]: { [REQUEST_RESOURCE_ACTION]: { type: 'external_select', selected_option: { value: 'prod-db' } } },
        [requestRoleBlockId('prod-db')]: { [REQUEST_ROLE_ACTION]: { type: 'static_select', selected_option: { value: 'read' } } },
        [REQUEST_DURATION_BLOCK]: { [REQUEST_DURATION_ACTION]: { type: 'plain_text_input', value: duration } },
        [REQUEST_REASON_BLOCK]: { [REQUEST_REASON_ACTION]: { type: 'plain_text_input', value: 'maintenance window tonight' } },
        [REQUEST_START_BLOCK]: { [REQUEST_START_ACTION]: { type: 'datetimepicker', selected_date_time: startsAtSeconds } },
      },
    },
  });
}

describe('access through Slack', () => {
  it('waits for a later start before granting, and counts the duration from it', async () => {
    h.slack.reset();
    const startsAtSeconds = Math.ceil(Date.now() / 1000) + 3;
    const response = await submitWithStart(startsAtSeconds);
    expect(response.status).toBe(200);
    const posted = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
    expect(text(posted)).toContain(`*Starts*\\n<!date^${startsAtSeconds}^`);
    const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER }, orderBy: { createdAt: 'desc' } });
    await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
    await h.click(APPROVER, 'latch_approve', request.id);
    await waitFor(() => text(lastUpdateOf('C0APPROVALS')).includes('access starts'));

    // Approved, but nothing is granted before the start.
    expect(await state(request.id)).toBe('approved');
    expect(provider.holds('alice', 'read')).toBe(false);
    await waitFor(async () => (await state(request.id)) === 'active');
    const grant = await h.db.grant.findUniqueOrThrow({ where: { requestId: request.id } });
    expect(grant.grantedAt!.getTime()).toBeGreaterThanOrEqual(startsAtSeconds * 1000);
    expect(grant.expiresAt!.getTime() - grant.grantedAt!.getTime()).toBe(3600 * 1000);
    expect(provider.holds('alice', 'read')).toBe(true);

    await h.click(REQUESTER, END_ACCESS, request.id, 'D0REQUESTER', 'latch_active_access_actions');
    await waitFor(async () => (await state(request.id)) === 'revoked');
  });

  it('calls off auto-approved access booked for later from the requester’s DM: nothing is granted at the start', async () => {
    const before = h.policy;
    h.policy = testPolicy([
      testResource({ identity: { map: { [REQUESTER]: 'alice' }, from: 'map-only', template: '{email}' }, autoApprove: [testAutoApprovalRule({ name: 'short-reads', roles: ['read'] })] }),
    ]);
    try {
      h.slack.reset();
      const grantsBefore = provider.callsOf('grant');
      const startsAtSeconds = Math.ceil(Date.now() / 1000) + 4;
      expect((await submitWithStart(startsAtSeconds, '30m')).status).toBe(200);
      // (The previous test's last DM may still arrive after the reset: wait for this one.)
      const confirmation = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER && text(c).includes('Approved by policy rule `short-reads`'));
      const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER }, orderBy: { createdAt: 'desc' } });
      expect(request).toMatchObject({ state: 'approved', decidedByRule: 'short-reads' });
      expect(actionIds(confirmation)).toEqual([CANCEL]);
      await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).requesterMessageTs !== null);

      await h.click('U0STRANGER', CANCEL, request.id, 'D0STRANGER', REQUESTER_ACTIONS_BLOCK);
      const refusal = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === 'U0STRANGER');
      expect(refusal.args.text).toBe('Only the person who asked or a security admin named in the policy can cancel approved access.');
      await h.click(REQUESTER, CANCEL, request.id, 'D0REQUESTER', REQUESTER_ACTIONS_BLOCK);
      await waitFor(async () => (await state(request.id)) === 'cancelled');
      await waitFor(() => text(lastUpdateOf(REQUESTER)).includes('Cancelled by the requester before access began. Nothing was granted.'));
      expect(actionIds(lastUpdateOf(REQUESTER))).toEqual([]);
      expect(await h.db.auditEvent.findFirst({ where: { requestId: request.id, action: 'request.cancelled' } })).toMatchObject({ actor: REQUESTER });

      // The start passes with nothing granted: the grant job was withdrawn.
      await waitFor(() => Date.now() > startsAtSeconds * 1000 + 2_000);
      expect(await h.db.grant.count({ where: { requestId: request.id } })).toBe(0);
      expect(provider.callsOf('grant')).toBe(grantsBefore);
      expect(provider.holds('alice', 'read')).toBe(false);
    } finally {
      h.policy = before;
    }
  });

  it('refuses a start in the past on the start field, and keeps nothing', async () => {
    const before = await h.db.accessRequest.count();
    const response = await submitWithStart(Math.floor(Date.now() / 1000) - 3600);
    expect(await response.json()).toEqual({
      response_action: 'errors',
      errors: { [REQUEST_START_BLOCK]: 'Pick a start time in the future, or leave it empty to start once approved.' },
    });
    expect(await h.db.accessRequest.count()).toBe(before);
  });

  it('grants on approval, shows until when, and ends the access when the holder is done', async () => {
    const id = await approvedAndActive();
    expect(provider.holds('alice', 'read')).toBe(true);
    const grant = await h.db.grant.findUniqueOrThrow({ where: { requestId: id } });
    const until = `<!date^${Math.floor(grant.expiresAt!.getTime() / 1000)}^`;

    await waitFor(() => text(lastUpdateOf('C0APPROVALS')).includes('access is active until'));
    expect(text(lastUpdateOf('C0APPROVALS'))).toContain(until);
    expect(actionIds(lastUpdateOf('C0APPROVALS'))).toEqual([END_ACCESS]);
    const granted = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER && text(c).includes('Access granted until'));
    expect(text(granted)).toContain(until);
    // The notice is plain and points at the confirmation, whose buttons are the requester's one set.
    expect(actionIds(granted)).toEqual([]);
    expect(text(granted)).toContain('are on your request above');
    await waitFor(() => liveButtonsInDm(id).some((ids) => ids.includes(END_ACCESS)));
    expect(liveButtonsInDm(id)).toEqual([[END_ACCESS, EXTEND_ACCESS]]);

    await h.click(REQUESTER, END_ACCESS, id, 'D0REQUESTER', 'latch_active_access_actions');
    await waitFor(async () => (await state(id)) === 'revoked');
    expect(provider.holds('alice', 'read')).toBe(false);
    await waitFor(() => text(lastUpdateOf('C0APPROVALS')).includes('Access ended'));
    expect(text(lastUpdateOf('C0APPROVALS'))).toContain('Ended early by the requester.');
    expect(text(lastUpdateOf('C0APPROVALS'))).toContain(`Approved by <@${APPROVER}> at <!date^`);
    expect(actionIds(lastUpdateOf('C0APPROVALS'))).toEqual([]);
    const ended = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER && text(c).includes('Your access has ended'));
    expect(actionIds(ended)).toEqual([]);
    // Once the access ended, nothing in the DM can be pressed for it.
    await waitFor(() => liveButtonsInDm(id).length === 0);
    expect(liveButtonsInDm(id)).toEqual([]);
  });

  it('refuses "Revoke now" from someone who is neither the holder nor a security admin, and keeps the access', async () => {
    const id = await approvedAndActive();
    await h.click('U0STRANGER', END_ACCESS, id, 'C0APPROVALS', 'latch_active_access_actions');
    const refusal = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === 'U0STRANGER');
    expect(refusal.args.text).toBe('Only the person who holds this access or a security admin named in the policy can end it.');
    expect(await state(id)).toBe('active');
    expect(provider.holds('alice', 'read')).toBe(true);
    await h.click(REQUESTER, END_ACCESS, id, 'D0REQUESTER', 'latch_active_access_actions');
    await waitFor(async () => (await state(id)) === 'revoked');
  });

  it('alerts the security channel once when a revocation keeps failing, shows it overdue, and says when it is done', async () => {
    const id = await approvedAndActive();
    provider.failNext('revoke', transient('connect ECONNREFUSED 10.0.0.5:5432'), REVOCATION_ALERT_AFTER_ATTEMPTS);
    await h.click(REQUESTER, END_ACCESS, id, 'D0REQUESTER', 'latch_active_access_actions');

    const alert = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === SECURITY_CHANNEL && text(c).includes('Revocation overdue'));
    const grant = await h.db.grant.findUniqueOrThrow({ where: { requestId: id } });
    expect(text(alert)).toContain(grant.id);
    // Latch's own words with a reference; the provider's (an internal address) stay in the log and the audit trail.
    expect(text(alert)).toMatch(/Last error\*: The target system could not complete the revocation \(reference [0-9a-f]{8}\)/);
    expect(text(alert)).not.toContain('10.0.0.5');
    await waitFor(async () => (await state(id)) === 'revoked');
    await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === SECURITY_CHANNEL && text(c).includes('overdue revocation'));
    expect(h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === SECURITY_CHANNEL && text(c).includes('Revocation overdue'))).toHaveLength(1);
    expect(provider.holds('alice', 'read')).toBe(false);
  });

  it('tells the requester and the approvers why, when granting fails', async () => {
    provider.failNext('grant', { ok: false, failure: { kind: 'permanent', message: 'role "read" does not exist on the target' } });
    h.slack.reset();
    await h.command(REQUESTER, 'prod-db read 1h needs the role');
    await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
    const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER }, orderBy: { createdAt: 'desc' } });
    await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
    await h.click(APPROVER, 'latch_approve', request.id);
    await waitFor(async () => (await state(request.id)) === 'failed');
    const notice = /^The target system refused the grant \(reference [0-9a-f]{8}\)$/;
    const { outcomeReason } = await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } });
    expect(outcomeReason).toMatch(notice);
    const thread = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS' && c.args.thread_ts !== undefined);
    expect(String(thread.args.text)).toContain(outcomeReason);
    const dm = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER && text(c).includes('could not complete'));
    expect(text(dm)).toContain(outcomeReason);
    expect(text(dm)).not.toContain('does not exist');
  });

  it('asks the approvers for more time from the DM, runs the access on from its end once approved, and "I\'m done" ends it all', async () => {
    const id = await approvedAndActive();
    const originalEnd = (await h.db.grant.findUniqueOrThrow({ where: { requestId: id } })).expiresAt!;
    h.slack.reset();
    await h.click(REQUESTER, EXTEND_ACCESS, id, 'D0REQUESTER', 'latch_active_access_actions');
    const opened = await h.slack.waitForCall('views.open');
    const form = opened.args.view as Record<string, unknown>;
    expect(JSON.stringify(form)).toContain('At most 6h more');

    const refused = await h.submit(REQUESTER, asOpenView(form, { [EXTEND_DURATION_BLOCK]: { [EXTEND_DURATION_ACTION]: textInput('7h') }, [EXTEND_REASON_BLOCK]: { [EXTEND_REASON_ACTION]: textInput('overran') } }));
    expect(await refused.json()).toEqual({ response_action: 'errors', errors: { [EXTEND_DURATION_BLOCK]: 'At most 6h more: read may be held for 8h in all.' } });
    const response = await h.submit(REQUESTER, asOpenView(form, { [EXTEND_DURATION_BLOCK]: { [EXTEND_DURATION_ACTION]: textInput('1h') }, [EXTEND_REASON_BLOCK]: { [EXTEND_REASON_ACTION]: textInput('the restore is slower than planned') } }));
    expect(response.status).toBe(200);
    const asked = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
    expect(text(asked)).toContain('Request for more time');
    expect(text(asked)).toContain('+1h');
    const extension = await h.db.accessRequest.findFirstOrThrow({ where: { extendsRequestId: id } });
    await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: extension.id } })).approvalMessageTs !== null);

    await h.click(APPROVER, 'latch_approve', extension.id);
    await waitFor(async () => (await state(extension.id)) === 'active');
    const newEnd = (await h.db.grant.findUniqueOrThrow({ where: { requestId: extension.id } })).expiresAt!;
    expect(newEnd.getTime()).toBe(originalEnd.getTime() + 3600_000);
    const newEndShown = `<!date^${Math.floor(newEnd.getTime() / 1000)}^`;
    const granted = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER && text(c).includes(newEndShown));
    expect(text(granted)).toContain('for *1h* more');
    expect(text(granted)).toContain('Access granted until');
    // The first request's messages now say the access lasts longer.
    await waitFor(() => h.slack.callsTo('chat.update').some((c) => text(c).includes('Access extended')));
    // One set of buttons for the whole access, on the latest confirmation: the extension's.
    await waitFor(() => liveButtonsInDm(id).length === 0 && liveButtonsInDm(extension.id).length === 1);
    expect(liveButtonsInDm(extension.id)).toEqual([[END_ACCESS, EXTEND_ACCESS]]);

    await h.click(REQUESTER, END_ACCESS, extension.id, 'D0REQUESTER', 'latch_active_access_actions');
    await waitFor(async () => (await state(id)) === 'revoked' && (await state(extension.id)) === 'revoked');
    expect(provider.holds('alice', 'read')).toBe(false);
    await waitFor(() => liveButtonsInDm(id).length === 0 && liveButtonsInDm(extension.id).length === 0);
  });

  it('tells someone who may not ask for more time why, without opening the form', async () => {
    const id = await approvedAndActive();
    h.slack.reset();
    await h.click('U0STRANGER', EXTEND_ACCESS, id, 'D0STRANGER', 'latch_active_access_actions');
    const refusal = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === 'U0STRANGER');
    expect(refusal.args.text).toBe('Only the person who holds this access can ask for more time.');
    expect(h.slack.callsTo('views.open')).toEqual([]);
    await h.click(REQUESTER, END_ACCESS, id, 'D0REQUESTER', 'latch_active_access_actions');
    await waitFor(async () => (await state(id)) === 'revoked');
  });

  it('grants a request an auto-approval rule covers without anyone clicking, and says which rule approved it', async () => {
    const before = h.policy;
    h.policy = testPolicy([
      testResource({
        identity: { map: { [REQUESTER]: 'alice' }, from: 'map-only', template: '{email}' },
        autoApprove: [{ name: 'short-reads', roles: ['read'], maxDurationSeconds: 3600, requesters: { everyone: true }, schedule: null, limits: DEFAULT_AUTO_APPROVAL_LIMITS }],
      }),
    ]);
    try {
      h.slack.reset();
      const response = await h.command(REQUESTER, 'prod-db read 30m checking the replica lag');
      expect(response.status).toBe(200);
      const request = await waitForValue(() => h.db.accessRequest.findFirst({ where: { requesterSlackId: REQUESTER, decidedByRule: 'short-reads', state: 'active' } }));
      expect(provider.holds('alice', 'read')).toBe(true);
      expect(await h.db.approval.count({ where: { requestId: request.id } })).toBe(0);
      const posted = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS');
      expect(text(posted)).toContain('by policy rule `short-reads`');
      expect(actionIds(posted)).not.toContain('latch_approve');
      const reply = await h.slack.waitForCall('response_url');
      expect(reply.args.text).toBe('Approved by policy rule short-reads: your access is being granted, and you will get a message when it is.');
      await h.click(REQUESTER, END_ACCESS, request.id, 'D0REQUESTER', 'latch_active_access_actions');
      await waitFor(async () => (await state(request.id)) === 'revoked');
    } finally {
      h.policy = before;
    }
  });
});

describe('the standing-access scan', () => {
  it('tells the security channel who holds a role without a grant, and when that is gone', async () => {
    h.slack.reset();
    provider.access.add('mallory/read');
    try {
      await h.scanStandingAccess();
      const alert = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === SECURITY_CHANNEL && text(c).includes('Standing access found'));
      expect(text(alert)).toContain('`mallory` holds `read` on *Production database*');
      // Found once: the next scan does not repeat it.
      await h.scanStandingAccess();
      expect(h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === SECURITY_CHANNEL)).toHaveLength(1);
    } finally {
      provider.access.delete('mallory/read');
    }
    await h.scanStandingAccess();
    const resolved = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === SECURITY_CHANNEL && text(c).includes('No longer held without a grant'));
    expect(text(resolved)).toContain('`mallory`');
  });
});

describe('break-glass through Slack', () => {
  it('grants at once, alerts the security channel, reminds until someone other than the user reviews it', async () => {
    const before = h.policy;
    h.policy = testPolicy([
      testResource({
        identity: { map: { [REQUESTER]: 'alice' }, from: 'map-only', template: '{email}' },
        // Not a requester by approval at all: break-glass has its own list.
        requesters: { everyone: false, users: [], groups: [] },
        breakGlass: { requesters: { everyone: false, users: [REQUESTER], groups: [] }, maxDurationSeconds: 3600, reviewWithinSeconds: 1, remindEverySeconds: 1 },
      }),
    ]);
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      h.slack.reset();
      expect((await h.command(REQUESTER, 'break-glass prod-db read 30m the primary is down and writes fail')).status).toBe(200);
      const request = await waitForValue(() => h.db.accessRequest.findFirst({ where: { requesterSlackId: REQUESTER, breakGlass: true, state: 'active' } }));
      expect(provider.holds('alice', 'read')).toBe(true);
      expect(request.decidedByRule).toBe('break-glass');
      const reply = await h.slack.waitForCall('response_url');
      expect(String(reply.args.text)).toMatch(/^Break-glass: your access is being granted now\./);
      const alert = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === SECURITY_CHANNEL && text(c).includes('Break-glass access used'));
      expect(text(alert)).toContain('the primary is down and writes fail');
      expect(actionIds(alert)).toEqual([REVIEW_BREAK_GLASS]);
      const alertTs = await waitForValue(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).securityMessageTs);

      // Overdue after a second: one reminder in the alert's thread per interval, not per sweep.
      await sleep(1_100);
      await sendReminders(h.latch.services);
      await sendReminders(h.latch.services);
      const reminders = () => h.slack.callsTo('chat.postMessage').filter((c) => c.args.channel === SECURITY_CHANNEL && c.args.thread_ts === alertTs);
      expect(reminders()).toHaveLength(1);
      expect(text(reminders()[0])).toContain('is still not reviewed');
      await sleep(1_100);
      await sendReminders(h.latch.services);
      expect(reminders()).toHaveLength(2);

      await h.click(REQUESTER, REVIEW_BREAK_GLASS, request.id, SECURITY_CHANNEL, 'latch_break_glass_actions');
      const refusal = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === REQUESTER);
      expect(refusal.args.text).toBe('Someone other than the person who used break-glass must review it.');
      await h.click(SECURITY_ADMIN, REVIEW_BREAK_GLASS, request.id, SECURITY_CHANNEL, 'latch_break_glass_actions');
      await waitFor(() => h.slack.callsTo('chat.update').some((c) => c.args.channel === SECURITY_CHANNEL && text(c).includes(`Reviewed by <@${SECURITY_ADMIN}>`)));
      const updated = h.slack.callsTo('chat.update').filter((c) => c.args.channel === SECURITY_CHANNEL).at(-1);
      expect(actionIds(updated)).toEqual([]);
      expect((await h.db.auditEvent.findMany({ where: { requestId: request.id }, orderBy: { seq: 'asc' } })).map((e) => e.action)).toEqual([
        'request.created',
        'request.approved',
        'grant.granted',
        'request.reviewed',
      ]);
      await sleep(1_100);
      await sendReminders(h.latch.services);
      expect(reminders()).toHaveLength(2);

      await h.click(REQUESTER, END_ACCESS, request.id, 'D0REQUESTER', 'latch_active_access_actions');
      await waitFor(async () => (await state(request.id)) === 'revoked');
    } finally {
      h.policy = before;
    }
  });

  it('refuses break-glass to someone the policy does not list for it, and grants nothing', async () => {
    const before = h.policy;
    h.policy = testPolicy([testResource({ breakGlass: { requesters: { everyone: false, users: ['U0ONCALL'], groups: [] }, maxDurationSeconds: 3600, reviewWithinSeconds: 3600, remindEverySeconds: 3600 } })]);
    try {
      h.slack.reset();
      const count = await h.db.accessRequest.count();
      await h.command(REQUESTER, 'break-glass prod-db read 30m let me in');
      const reply = await h.slack.waitForCall('response_url');
      expect(String(reply.args.text)).toContain('You may not use break-glass on Production database: the policy does not list you for it.');
      expect(await h.db.accessRequest.count()).toBe(count);
    } finally {
      h.policy = before;
    }
  });
});

async function waitForValue<T>(find: () => Promise<T | null | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await find();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('value not found in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
