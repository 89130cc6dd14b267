import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { ProviderOnCallDirectory } from '../../../src/oncall/on-call-directory.ts';
import { PagerDutyOnCall } from '../../../src/oncall/pagerduty-on-call.ts';
import { FakePagerDuty } from '../../helpers/fake-pagerduty.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Issue 20: approvers.onCall lets whoever is on call now decide, besides the approvers the policy
 * names, through the real Bolt app (signed slash command and button clicks) and a fake PagerDuty.
 * A provider that cannot answer makes nobody an approver by being on call, and the person who
 * clicked is told why.
 */
const REQUESTER = 'U0REQUESTER';
const ON_CALL = 'U0ONCALL';
const OFF_CALL = 'U0OFFCALL';

let h: LatchHarness | undefined;
let pagerDuty: FakePagerDuty | undefined;
afterEach(async () => {
  await h?.close();
  await pagerDuty?.close();
  h = pagerDuty = undefined;
});

async function start(): Promise<LatchHarness> {
  pagerDuty = await FakePagerDuty.start();
  const onCall = new ProviderOnCallDirectory({ pagerduty: new PagerDutyOnCall(pagerDuty.apiKey, pagerDuty.apiUrl) }, createLogger({ level: 'silent' }), 300);
  const resource = testResource({
    approvers: { users: ['U0APPROVER1'], groups: [], required: 1, oneFrom: [], onCall: { provider: 'pagerduty', schedules: ['PSCHED1'], escalationPolicies: [], maxLevel: null, incidentOpenOn: [] } },
  });
  const harness = await LatchHarness.start(testPolicy([resource]), { onCall });
  harness.slack.addUser({ id: ON_CALL, name: 'ada', email: 'ada@example.com' });
  harness.slack.addUser({ id: OFF_CALL, name: 'bob', email: 'bob@example.com' });
  pagerDuty.addUser('PUSERADA', 'ADA@example.com');
  pagerDuty.putOnCall({ userId: 'PUSERADA', scheduleId: 'PSCHED1', escalationPolicyId: 'PPOL1', level: 1, start: null, end: null });
  return harness;
}

async function ask(harness: LatchHarness): Promise<{ id: string; card: string }> {
  expect((await harness.command(REQUESTER, 'prod-db read 1h restoring the invoice table')).status).toBe(200);
  const posted = await harness.slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS');
  const request = await harness.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER } });
  await expect.poll(async () => (await harness.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs).not.toBeNull();
  return { id: request.id, card: JSON.stringify(posted.args.blocks) };
}

describe('approvers.onCall', () => {
  it('lets the person on call approve, says so on the card, and refuses someone off call', async () => {
    h = await start();
    const { id, card } = await ask(h);
    expect(card).toContain('Whoever is on call now for schedule PSCHED1 in PagerDuty may decide too');
    await h.click(OFF_CALL, 'latch_approve', id);
    const refused = await h.slack.waitForCall('chat.postEphemeral', (call) => call.args.user === OFF_CALL);
    expect(refused.args.text).toBe('You are not an approver for Production database.');
    await h.click(ON_CALL, 'latch_approve', id);
    await expect.poll(async () => (await h!.db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('approved');
    expect((await h.db.approval.findFirstOrThrow({ where: { requestId: id } })).approverSlackId).toBe(ON_CALL);
    expect(pagerDuty!.violations).toEqual([]);
  });

  it("shows the request in the on-call person's App Home, not in someone else's off call", async () => {
    h = await start();
    const { id } = await ask(h);
    const homeOf = async (userId: string) => {
      await h!.event({ type: 'app_home_opened', user: userId, channel: `D0${userId}`, tab: 'home' });
      return JSON.stringify((await h!.slack.waitForCall('views.publish', (call) => call.args.user_id === userId)).args.view);
    };
    expect(await homeOf(ON_CALL)).toContain(`latch_approval_actions:r1:${id}`);
    expect(await homeOf(OFF_CALL)).not.toContain(id);
    // PagerDuty failing: nothing is offered (fail closed), and the Home still opens.
    pagerDuty!.failures.push({ status: 500 }, { status: 500 }, { status: 500 });
    h.slack.reset();
    expect(await homeOf(ON_CALL)).not.toContain(id);
  });

  it('refuses the on-call person while PagerDuty rate-limits, telling them why; a named approver still decides', async () => {
    h = await start();
    const { id } = await ask(h);
    pagerDuty!.failures.push({ status: 429 });
    await h.click(ON_CALL, 'latch_approve', id);
    const refused = await h.slack.waitForCall('chat.postEphemeral', (call) => call.args.user === ON_CALL);
    expect(refused.args.text).toBe("You are not an approver for Production database, and whether you are on call could not be checked: PagerDuty is limiting Latch's requests (429 rate limit).");
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('pending');
    await h.click('U0APPROVER1', 'latch_approve', id);
    await expect.poll(async () => (await h!.db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('approved');
  });
});
