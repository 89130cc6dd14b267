import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MachinePolicy } from '../../../src/domain/machine.ts';
import type { Policy } from '../../../src/domain/policy.ts';
import { requestAccess } from '../../../src/services/request-access.ts';
import { requestAccessBundle } from '../../../src/services/request-access-bundle.ts';
import { APPROVE, APPROVE_ALL, APPROVE_WITH_CHANGES, DENY, DENY_REASON_ACTION, DENY_REASON_BLOCK } from '../../../src/slack/blocks/ids.ts';
import { asOpenView, LatchHarness, textInput } from '../../helpers/latch-harness.ts';
import { emptyRequestTables } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Who may decide, through the real Bolt app over signed HTTP (only Slack faked): the person who
 * answers for a machine may deny what it asks but never approve it (four eyes), and a decider's
 * Slack account is judged as a requester's is: a guest or a deactivated account in an approver
 * list decides nothing, and a profile Slack cannot give refuses the click until it can.
 */

const OWNER = 'U0OWNER01';
const APPROVER = 'U0APPROVER1';
const PLATFORM_MEMBER = 'U0PLATFORM1';
const GUEST = 'U0GUESTAPPR';
const DEACTIVATED = 'U0GONEAPPR';
const FLAKY = 'U0FLAKYAPPR';
const FRESH = 'U0FRESHAPPR';
const REQUESTER = 'U0REQUESTER';

const machines: MachinePolicy[] = [
  { id: 'deploy-pipeline', owner: { user: OWNER }, authentication: { type: 'token' }, account: 'deploy_bot' },
  { id: 'platform-bot', owner: { group: 'S0PLATFORM' }, authentication: { type: 'token' }, account: 'platform_bot' },
];
const requesters = { everyone: false as const, users: [REQUESTER], groups: [], machines: machines.map((machine) => machine.id) };
const approvers = { users: [OWNER, APPROVER, GUEST, DEACTIVATED, FLAKY, FRESH], groups: ['S0PLATFORM'], required: 1, oneFrom: [] };

function policy(): Policy {
  return {
    ...testPolicy([
      testResource({ requesters, approvers }),
      testResource({ id: 'billing-db', name: 'Billing database', roles: [{ id: 'admin', maxDurationSeconds: 3600 }], requesters, approvers }),
    ]),
    machines,
  };
}

let h: LatchHarness;

beforeAll(async () => {
  h = await LatchHarness.start(policy());
  h.groups.members.set('S0PLATFORM', [PLATFORM_MEMBER]);
  h.slack.addUser({ id: GUEST, name: 'guest', isRestricted: true });
  h.slack.addUser({ id: DEACTIVATED, name: 'gone', deleted: true });
});
afterAll(() => h.close());
beforeEach(async () => {
  h.slack.reset();
  h.granted.length = 0;
  await emptyRequestTables(h.db);
});

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A request by `requesterId` (a machine's id, or a person's), once its approval card is out. */
async function requestFrom(requesterId: string, resourceId = 'prod-db', role = 'read'): Promise<string> {
  const made = await requestAccess(h.latch.services, { requesterId, resourceId, role, duration: '1h', reason: 'deploy 4f2a' });
  if (!made.ok) throw new Error(made.refusal.message);
  await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: made.requestId } })).approvalMessageTs !== null);
  return made.requestId;
}

const state = async (id: string) => (await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state;
const ephemeralTo = async (userId: string, count = 1) => {
  await waitFor(() => h.slack.callsTo('chat.postEphemeral').filter((call) => call.args.user === userId).length >= count);
  return String(h.slack.callsTo('chat.postEphemeral').filter((call) => call.args.user === userId)[count - 1]!.args.text);
};

describe("a machine's owner", () => {
  it('may not approve what the machine asks, in any way, and nothing is recorded; another approver may', async () => {
    const id = await requestFrom('machine:deploy-pipeline');
    const refusal = 'You own the machine deploy-pipeline: someone else must approve its requests.';
    await h.click(OWNER, APPROVE, id);
    expect(await ephemeralTo(OWNER)).toBe(refusal);
    // "Approve with changes" is refused before its form opens.
    await h.click(OWNER, APPROVE_WITH_CHANGES, id);
    expect(await ephemeralTo(OWNER, 2)).toBe(refusal);
    expect(h.slack.callsTo('views.open')).toEqual([]);
    expect(await h.db.approval.count()).toBe(0);
    expect(await h.db.auditEvent.count({ where: { requestId: id, action: { not: 'request.created' } } })).toBe(0);
    expect(await state(id)).toBe('pending');

    await h.click(APPROVER, APPROVE, id);
    await waitFor(async () => (await state(id)) === 'approved');
    expect(h.granted).toEqual([id]);
  });

  it('may deny what the machine asks: denying gives nothing', async () => {
    const id = await requestFrom('machine:deploy-pipeline');
    await h.click(OWNER, DENY, id);
    const open = await h.slack.waitForCall('views.open');
    const response = await h.submit(OWNER, asOpenView(open.args.view as Record<string, unknown>, { [DENY_REASON_BLOCK]: { [DENY_REASON_ACTION]: textInput('not during the freeze') } }));
    expect(response.status).toBe(200);
    await waitFor(async () => (await state(id)) === 'denied');
    expect(await h.db.approval.findMany({ where: { requestId: id }, select: { approverSlackId: true, decision: true } })).toEqual([{ approverSlackId: OWNER, decision: 'deny' }]);
  });

  it('includes every member of a user group that owns the machine, while they may still approve a person’s request', async () => {
    const id = await requestFrom('machine:platform-bot');
    await h.click(PLATFORM_MEMBER, APPROVE, id);
    expect(await ephemeralTo(PLATFORM_MEMBER)).toBe('You are in the user group that owns the machine platform-bot: someone else must approve its requests.');
    expect(await h.db.approval.count()).toBe(0);

    const persons = await requestFrom(REQUESTER);
    await h.click(PLATFORM_MEMBER, APPROVE, persons);
    await waitFor(async () => (await state(persons)) === 'approved');
    expect(await state(id)).toBe('pending');
  });

  it('is judged by the policy in force at the click: a reload that makes the approver the owner refuses them', async () => {
    const id = await requestFrom('machine:deploy-pipeline');
    h.policy = { ...policy(), machines: [{ ...machines[0]!, owner: { user: APPROVER } }, machines[1]!] };
    try {
      await h.click(APPROVER, APPROVE, id);
      expect(await ephemeralTo(APPROVER)).toBe('You own the machine deploy-pipeline: someone else must approve its requests.');
      await h.click(OWNER, APPROVE, id);
      await waitFor(async () => (await state(id)) === 'approved');
    } finally {
      h.policy = policy();
    }
  });

  it('approves none of the items of a machine’s request for several resources with Approve all; another approver approves them all', async () => {
    const made = await requestAccessBundle(h.latch.services, {
      requesterId: 'machine:deploy-pipeline',
      items: [
        { resourceId: 'prod-db', role: 'read' },
        { resourceId: 'billing-db', role: 'admin' },
      ],
      duration: '1h',
      reason: 'release 12',
    });
    if (!made.ok) throw new Error(made.refusal.message);
    const card = await h.slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS');
    const approveAll = (card.args.blocks as Array<{ type: string; block_id?: string; elements?: Array<{ action_id?: string }> }>).find((block) => block.type === 'actions' && block.elements?.some((element) => element.action_id === APPROVE_ALL))!.block_id!;
    await waitFor(async () => (await h.db.accessRequest.count({ where: { approvalMessageTs: null } })) === 0);

    await h.click(OWNER, APPROVE_ALL, made.bundleId, 'C0APPROVALS', approveAll);
    const told = await ephemeralTo(OWNER);
    expect(told).toContain('Your approval was not recorded on any item.');
    expect(told).toContain('`prod-db:read`: You own the machine deploy-pipeline: someone else must approve its requests.');
    expect(told).toContain('`billing-db:admin`: You own the machine deploy-pipeline');
    expect(await h.db.approval.count()).toBe(0);

    await h.click(APPROVER, APPROVE_ALL, made.bundleId, 'C0APPROVALS', approveAll);
    await waitFor(async () => (await h.db.accessRequest.count({ where: { state: 'approved' } })) === 2);
  });
});

describe("a decider's Slack account", () => {
  it.each([
    ['a guest', GUEST, 'Guests of this Slack workspace cannot approve, deny or review requests: only its members can.'],
    ['a deactivated account', DEACTIVATED, 'Your Slack account is deactivated: Latch gives it no access.'],
  ])('refuses %s named as an approver, for Approve and for Deny, and records nothing', async (_who, userId, message) => {
    const id = await requestFrom(REQUESTER);
    await h.click(userId, APPROVE, id);
    expect(await ephemeralTo(userId)).toBe(message);
    await h.click(userId, DENY, id);
    expect(await ephemeralTo(userId, 2)).toBe(message);
    expect(h.slack.callsTo('views.open')).toEqual([]);
    expect(await h.db.approval.count()).toBe(0);
    expect(await state(id)).toBe('pending');
  });

  it('refuses with a "try again" while Slack cannot give the profile, and lets the same click through once it can', async () => {
    const id = await requestFrom(REQUESTER);
    h.slack.failOnce('users.info', 'internal_error');
    await h.click(FLAKY, APPROVE, id);
    expect(await ephemeralTo(FLAKY)).toBe('Latch could not read your Slack profile just now; try again in a minute.');
    expect(await h.db.approval.count()).toBe(0);
    await h.click(FLAKY, APPROVE, id);
    await waitFor(async () => (await state(id)) === 'approved');
  });

  it('is read from Slack once for a Deny and its form: a known approver’s next decision costs no call', async () => {
    const id = await requestFrom(REQUESTER);
    const second = await requestFrom(REQUESTER, 'billing-db', 'admin');
    const infoCalls = () => h.slack.callsTo('users.info').filter((call) => call.args.user === FRESH).length;
    await h.click(FRESH, DENY, id);
    const open = await h.slack.waitForCall('views.open');
    await h.submit(FRESH, asOpenView(open.args.view as Record<string, unknown>, { [DENY_REASON_BLOCK]: { [DENY_REASON_ACTION]: textInput('no') } }));
    await waitFor(async () => (await state(id)) === 'denied');
    await h.click(FRESH, APPROVE, second);
    await waitFor(async () => (await state(second)) === 'approved');
    expect(infoCalls()).toBe(1);
  });
});
