import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  APPROVE,
  APPROVE_WITH_CHANGES,
  APPROVE_WITH_CHANGES_MODAL,
  CHANGE_DURATION_ACTION,
  CHANGE_DURATION_BLOCK,
  CHANGE_ROLE_ACTION,
  CHANGE_ROLE_BLOCK,
  approvalActionsBlockId,
} from '../../../src/slack/blocks/ids.ts';
import { verifyAuditRecords } from '../../../src/services/verify-audit-records.ts';
import { decisionInteractions } from '../../../src/slack/decision-interactions.ts';
import type { FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { Workspace } from '../../../tools/sandbox/workspace.ts';
import { asOpenView, LatchHarness, selected, SIGNING_SECRET, textInput } from '../../helpers/latch-harness.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * "Approve with changes…" through the real Bolt app and the fake Slack: an approver narrows a
 * request (a shorter duration, a role the policy lists as lesser) and approves it in one step; what
 * is granted is the narrowed request, the requester is told what changed, and nothing can widen a
 * request or approve a revision the approver did not see.
 */
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';
const SECOND_APPROVER = 'U0APPROVER2';
const CHANNEL = 'C0APPROVALS';

let h: LatchHarness;
const provider = new MemoryProvider();

const roles = [
  { id: 'read', description: 'SELECT only', maxDurationSeconds: 8 * 3600 },
  { id: 'write', description: 'INSERT, UPDATE, DELETE', maxDurationSeconds: 4 * 3600, lesser: ['read'] },
  { id: 'admin', description: 'Everything', maxDurationSeconds: 4 * 3600 },
];

beforeAll(async () => {
  const identity = { map: { [REQUESTER]: 'alice' }, from: 'map-only' as const, template: '{email}' };
  h = await LatchHarness.start(
    testPolicy([
      testResource({ identity, roles }),
      testResource({ id: 'billing-db', name: 'Billing database', identity, roles, approvers: { users: [APPROVER, SECOND_APPROVER], groups: [], required: 2, oneFrom: [] } }),
    ]),
    { provider },
  );
});
afterAll(() => h.close());

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const request = (id: string) => h.db.accessRequest.findUniqueOrThrow({ where: { id } });
const text = (call: FakeSlackCall | undefined) => JSON.stringify(call?.args.blocks ?? []) + String(call?.args.text ?? '');

/** A request made with the inline command, once its approval message is posted. */
async function asked(command: string): Promise<string> {
  h.slack.reset();
  await h.command(REQUESTER, command);
  await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === CHANNEL);
  const made = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER }, orderBy: { createdAt: 'desc' } });
  await waitFor(async () => (await request(made.id)).approvalMessageTs !== null);
  return made.id;
}

/** "Approve with changes…" clicked on the card showing `revision`; the modal Latch opened. */
async function openChanges(approver: string, id: string, revision = 1): Promise<Record<string, unknown>> {
  h.slack.reset();
  const response = await h.click(approver, APPROVE_WITH_CHANGES, id, CHANNEL, approvalActionsBlockId(revision));
  expect(response.status).toBe(200);
  const open = await h.slack.waitForCall('views.open');
  return open.args.view as Record<string, unknown>;
}

/** The modal submitted with a role (omitted when `role` is null) and a duration; Slack's answer. */
async function submitChanges(approver: string, view: Record<string, unknown>, role: string | null, duration: string): Promise<{ response_action?: string; errors?: Record<string, string> } | null> {
  const values = {
    ...(role === null ? {} : { [CHANGE_ROLE_BLOCK]: { [CHANGE_ROLE_ACTION]: selected(role) } }),
    [CHANGE_DURATION_BLOCK]: { [CHANGE_DURATION_ACTION]: textInput(duration) },
  };
  const response = await h.submit(approver, asOpenView(view, values));
  expect(response.status).toBe(200);
  const body = await response.text();
  return body ? (JSON.parse(body) as { response_action?: string; errors?: Record<string, string> }) : null;
}

const changeEvents = (id: string) => h.db.auditEvent.findMany({ where: { requestId: id, action: 'request.changed' } });

describe('approve with changes', () => {
  it('shortens the duration and narrows the role; the grant is what was approved, and the requester is told what changed', async () => {
    const id = await asked('prod-db write 2h migrating the invoice table');
    const view = await openChanges(APPROVER, id);
    expect(view.callback_id).toBe(APPROVE_WITH_CHANGES_MODAL);
    // The roles offered: the asked one and those the policy lists below it, never a wider one.
    const roleBlock = (view.blocks as Array<{ block_id?: string; element?: { options?: Array<{ value: string }> } }>).find((b) => b.block_id === CHANGE_ROLE_BLOCK)!;
    expect(roleBlock.element!.options!.map((o) => o.value)).toEqual(['write', 'read']);

    expect(await submitChanges(APPROVER, view, 'read', '30m')).toBeNull();
    await waitFor(async () => (await request(id)).state === 'active');

    const narrowed = await request(id);
    expect({ role: narrowed.role, durationSeconds: narrowed.durationSeconds, revision: narrowed.revision }).toEqual({ role: 'read', durationSeconds: 1800, revision: 2 });
    const grant = await h.db.grant.findUniqueOrThrow({ where: { requestId: id } });
    expect(grant.expiresAt!.getTime() - grant.grantedAt!.getTime()).toBe(30 * 60 * 1000);
    expect(provider.holds('alice', 'read')).toBe(true);
    expect(provider.holds('alice', 'write')).toBe(false);

    // The requester's DM names who changed what.
    const dm = Workspace.dmChannelOf(REQUESTER);
    await waitFor(() => h.slack.callsTo('chat.postMessage').some((c) => (c.args.channel === dm || c.args.channel === REQUESTER) && text(c).includes('changed it before approving')));
    const notice = h.slack.callsTo('chat.postMessage').find((c) => (c.args.channel === dm || c.args.channel === REQUESTER) && text(c).includes('changed it before approving'));
    expect(text(notice)).toContain(`<@${APPROVER}> changed it before approving`);
    expect(text(notice)).toContain('role `write` → `read`');
    expect(text(notice)).toContain('duration 2h → 30m');

    // One audit event says what changed, committed with the approval it came with.
    const [changed] = await changeEvents(id);
    expect(changed!.actor).toBe(APPROVER);
    expect(changed!.data).toMatchObject({ from: { role: 'write', durationSeconds: 7200 }, role: 'read', durationSeconds: 1800, revision: 2 });
    const approvals = await h.db.approval.findMany({ where: { requestId: id } });
    expect(approvals.map((a) => ({ by: a.approverSlackId, revision: a.requestRevision }))).toEqual([{ by: APPROVER, revision: 2 }]);
  });

  it('only shortens a role with no lesser one: the form offers no role choice', async () => {
    const id = await asked('prod-db admin 2h rotating keys');
    const view = await openChanges(APPROVER, id);
    expect((view.blocks as Array<{ block_id?: string }>).some((b) => b.block_id === CHANGE_ROLE_BLOCK)).toBe(false);
    expect(await submitChanges(APPROVER, view, null, '1h')).toBeNull();
    await waitFor(async () => (await request(id)).state === 'active');
    expect(await request(id)).toMatchObject({ role: 'admin', durationSeconds: 3600 });
  });

  it('refuses an edit that makes the request longer or wider, even from a forged form, and changes nothing', async () => {
    const id = await asked('prod-db read 1h checking the invoices');
    const view = await openChanges(APPROVER, id);

    const longer = await submitChanges(APPROVER, view, 'read', '3h');
    expect(longer?.response_action).toBe('errors');
    expect(Object.values(longer!.errors!).join(' ')).toContain('longer than the 1h asked for');

    // `read` lists no lesser role: a forged form naming a wider one is refused by the use case.
    const wider = await submitChanges(APPROVER, view, 'write', '30m');
    expect(wider?.response_action).toBe('errors');
    expect(Object.values(wider!.errors!).join(' ')).toContain('is not a lesser role than `read`');

    const unknown = await submitChanges(APPROVER, view, 'superuser', '30m');
    expect(unknown?.response_action).toBe('errors');

    expect(await request(id)).toMatchObject({ state: 'pending', role: 'read', durationSeconds: 3600, revision: 1 });
    expect(await changeEvents(id)).toEqual([]);
    expect(await h.db.approval.count({ where: { requestId: id } })).toBe(0);
  });

  it('shows later approvers the changed request, and refuses a click on the card from before the change', async () => {
    const id = await asked('billing-db write 2h reconciling payments');
    const view = await openChanges(APPROVER, id);
    expect(await submitChanges(APPROVER, view, 'read', '1h')).toBeNull();
    // Two approvals are needed: it waits, changed, on a new revision.
    await waitFor(async () => (await request(id)).revision === 2);
    expect((await request(id)).state).toBe('pending');

    // The card is rewritten: the narrowed request, its change, and buttons for the new revision.
    const update = await h.slack.waitForCall('chat.update', (c) => c.args.channel === CHANNEL && JSON.stringify(c.args.blocks).includes(approvalActionsBlockId(2)));
    expect(text(update)).toContain('changed it before approving');
    expect(text(update)).toContain('`read`');

    // The second approver clicks Approve on the card as it was before the change: refused, to them only.
    h.slack.reset();
    await h.click(SECOND_APPROVER, APPROVE, id, CHANNEL, approvalActionsBlockId(1));
    const refusal = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === SECOND_APPROVER);
    expect(String(refusal.args.text)).toContain('changed after you saw it');
    // "Approve with changes…" on the old card does not even open the form.
    await h.click(SECOND_APPROVER, APPROVE_WITH_CHANGES, id, CHANNEL, approvalActionsBlockId(1));
    const second = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === SECOND_APPROVER && String(c.args.text).includes('changed after this message showed it'));
    expect(second).toBeDefined();
    expect(h.slack.callsTo('views.open')).toEqual([]);
    // A form opened on the card before the change (as the first approver's was) is refused too.
    const staleForm = await submitChanges(SECOND_APPROVER, view, 'read', '30m');
    expect(Object.values(staleForm?.errors ?? {}).join(' ')).toContain('changed after you saw it');
    expect(await request(id)).toMatchObject({ state: 'pending', revision: 2, durationSeconds: 3600 });

    // On the card they see now, their approval completes it: the narrowed request is granted.
    await h.click(SECOND_APPROVER, APPROVE, id, CHANNEL, approvalActionsBlockId(2));
    await waitFor(async () => (await request(id)).state === 'active');
    const grant = await h.db.grant.findUniqueOrThrow({ where: { requestId: id } });
    expect(grant.expiresAt!.getTime() - grant.grantedAt!.getTime()).toBe(3600 * 1000);
  });

  it("works from the approver's App Home too, which then no longer shows the request", async () => {
    const id = await asked('prod-db write 1h tidying the invoice table');
    h.slack.reset();
    await h.event({ type: 'app_home_opened', user: APPROVER, channel: `D0${APPROVER}`, tab: 'home' });
    const home = await h.slack.waitForCall('views.publish', (c) => c.args.user_id === APPROVER);
    const blockId = approvalActionsBlockId(1, id);
    expect(JSON.stringify(home.args.view)).toContain(`"block_id":"${blockId}"`);
    expect(JSON.stringify(home.args.view)).toContain(`"action_id":"${APPROVE_WITH_CHANGES}"`);

    h.slack.reset();
    await h.clickInHome(APPROVER, APPROVE_WITH_CHANGES, id, blockId);
    const view = (await h.slack.waitForCall('views.open')).args.view as Record<string, unknown>;
    expect(await submitChanges(APPROVER, view, 'read', '15m')).toBeNull();
    await waitFor(async () => (await request(id)).state === 'active');
    expect(await request(id)).toMatchObject({ role: 'read', durationSeconds: 900, revision: 2 });
    const republished = await h.slack.waitForCall('views.publish', (c) => c.args.user_id === APPROVER);
    expect(JSON.stringify(republished.args.view)).not.toContain(id);
  });

  it('leaves an audit trail that accounts for every narrowed request, each change signed by the approver in the form', async () => {
    const report = await verifyAuditRecords(h.db, { signingSecret: SIGNING_SECRET, interactions: decisionInteractions });
    expect(report.mismatches).toEqual([]);
    expect(report.decisions.problems).toEqual([]);
    expect(await h.db.auditEvent.count({ where: { action: 'request.changed' } })).toBe(4);
  });
});
