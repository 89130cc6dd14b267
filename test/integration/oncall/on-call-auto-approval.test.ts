import { afterEach, describe, expect, it } from 'vitest';
import type { OnCallCondition } from '../../../src/domain/on-call.ts';
import type { AutoApprovalRule, ResourcePolicy } from '../../../src/domain/policy.ts';
import { DEFAULT_AUTO_APPROVAL_LIMITS } from '../../../src/domain/policy.ts';
import { createLogger } from '../../../src/logging/logger.ts';
import { ProviderOnCallDirectory } from '../../../src/oncall/on-call-directory.ts';
import { OpsgenieOnCall } from '../../../src/oncall/opsgenie-on-call.ts';
import { PagerDutyOnCall } from '../../../src/oncall/pagerduty-on-call.ts';
import { FakeOpsgenie } from '../../helpers/fake-opsgenie.ts';
import { FakePagerDuty } from '../../helpers/fake-pagerduty.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Issue 20, on-call aware policy, through the real Bolt app (a signed slash command) with Slack,
 * PagerDuty and Opsgenie faked on loopback: whoever is on call is approved by the rule, until their
 * shift ends; anyone else, and everyone while the provider cannot answer, waits for people, and the
 * approval card says why.
 */
const ON_CALL = 'U0ONCALL';
const OFF_CALL = 'U0OFFCALL';
const HOUR_MS = 3600 * 1000;
const logger = createLogger({ level: 'silent' });

let h: LatchHarness | undefined;
let pagerDuty: FakePagerDuty | undefined;
let opsgenie: FakeOpsgenie | undefined;
afterEach(async () => {
  await h?.close();
  await pagerDuty?.close();
  await opsgenie?.close();
  h = pagerDuty = opsgenie = undefined;
});

function onCallResource(onCall: OnCallCondition): ResourcePolicy {
  const rule: AutoApprovalRule = { name: 'on-call-read', roles: ['read'], maxDurationSeconds: 4 * 3600, requesters: { everyone: true }, schedule: null, limits: DEFAULT_AUTO_APPROVAL_LIMITS, onCall };
  return testResource({ autoApprove: [rule] });
}

async function startWithPagerDuty(onCall: Partial<OnCallCondition> = {}, timeoutMs = 2000): Promise<LatchHarness> {
  pagerDuty = await FakePagerDuty.start();
  const directory = new ProviderOnCallDirectory({ pagerduty: new PagerDutyOnCall(pagerDuty.apiKey, pagerDuty.apiUrl) }, logger, timeoutMs);
  const harness = await LatchHarness.start(testPolicy([onCallResource({ provider: 'pagerduty', schedules: ['PSCHED1'], escalationPolicies: [], maxLevel: null, incidentOpenOn: [], ...onCall })]), { onCall: directory });
  // The Slack profile's email in another case than PagerDuty's: matched all the same.
  harness.slack.addUser({ id: ON_CALL, name: 'ada', email: 'Ada.Lovelace@Example.com' });
  harness.slack.addUser({ id: OFF_CALL, name: 'bob', email: 'bob@example.com' });
  pagerDuty.addUser('PUSERADA', 'ada.lovelace@example.com');
  pagerDuty.addUser('PUSERBOB', 'bob@example.com');
  return harness;
}

async function ask(harness: LatchHarness, who: string, duration = '2h'): Promise<{ id: string; card: string }> {
  harness.slack.reset();
  expect((await harness.command(who, `prod-db read ${duration} paged for the checkout outage`)).status).toBe(200);
  const posted = await harness.slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS');
  const request = await harness.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: who }, orderBy: { createdAt: 'desc' } });
  return { id: request.id, card: JSON.stringify(posted.args.blocks) };
}

describe('on-call auto-approval with PagerDuty', () => {
  it('approves the person on call for the schedule, with the access ending when their shift does', async () => {
    h = await startWithPagerDuty();
    const shiftEnd = new Date(h.clock.now().getTime() + HOUR_MS);
    pagerDuty!.putOnCall({ userId: 'PUSERADA', scheduleId: 'PSCHED1', escalationPolicyId: 'PPOL1', level: 1, start: new Date(h.clock.now().getTime() - HOUR_MS), end: shiftEnd });
    const { id } = await ask(h, ON_CALL, '2h');
    const request = await h.db.accessRequest.findUniqueOrThrow({ where: { id } });
    expect(request.state).toBe('approved');
    expect(request.decidedByRule).toBe('on-call-read');
    // Asked for two hours; the shift ends in one.
    expect(request.durationSeconds).toBe(3600);
    expect(h.granted).toEqual([id]);
    const approved = await h.db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'request.approved' } });
    expect(approved.data).toMatchObject({ rule: 'on-call-read', onCallUntil: shiftEnd.toISOString(), askedSeconds: 7200 });
    // What PagerDuty was asked, as its API takes it.
    expect(pagerDuty!.requests.some((line) => line.startsWith('GET /oncalls?') && line.includes('schedule_ids%5B%5D=PSCHED1') && line.includes('include%5B%5D=users'))).toBe(true);
    expect(pagerDuty!.violations).toEqual([]);
  });

  it('leaves someone off call to people, with no word about on-call on the card', async () => {
    h = await startWithPagerDuty();
    pagerDuty!.putOnCall({ userId: 'PUSERADA', scheduleId: 'PSCHED1', escalationPolicyId: 'PPOL1', level: 1, start: null, end: new Date(h.clock.now().getTime() + HOUR_MS) });
    const { id, card } = await ask(h, OFF_CALL);
    const request = await h.db.accessRequest.findUniqueOrThrow({ where: { id } });
    expect(request.state).toBe('pending');
    expect(request.onCallNote).toBeNull();
    expect(card).not.toContain('On-call could not be checked');
    expect(h.granted).toEqual([]);
  });

  it('counts only the escalation levels the rule allows, reading every page PagerDuty lists', async () => {
    h = await startWithPagerDuty({ schedules: [], escalationPolicies: ['PPOL1'], maxLevel: 1 });
    const end = new Date(h.clock.now().getTime() + HOUR_MS);
    // 150 other people first: the requester's entry is on the second page of 100.
    for (let index = 0; index < 150; index++) {
      pagerDuty!.addUser(`PFILL${index}`, `filler${index}@example.com`);
      pagerDuty!.putOnCall({ userId: `PFILL${index}`, scheduleId: null, escalationPolicyId: 'PPOL1', level: 1, start: null, end });
    }
    pagerDuty!.putOnCall({ userId: 'PUSERBOB', scheduleId: null, escalationPolicyId: 'PPOL1', level: 2, start: null, end });
    pagerDuty!.putOnCall({ userId: 'PUSERADA', scheduleId: null, escalationPolicyId: 'PPOL1', level: 1, start: null, end });
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: (await ask(h, OFF_CALL)).id } })).state).toBe('pending');
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: (await ask(h, ON_CALL)).id } })).state).toBe('approved');
    expect(pagerDuty!.requests.filter((line) => line.includes('offset=100')).length).toBeGreaterThan(0);
    expect(pagerDuty!.violations).toEqual([]);
  });

  it('approves only while an incident is open on the service', async () => {
    h = await startWithPagerDuty({ incidentOpenOn: ['PSVC1'] });
    pagerDuty!.putOnCall({ userId: 'PUSERADA', scheduleId: 'PSCHED1', escalationPolicyId: 'PPOL1', level: 1, start: null, end: null });
    pagerDuty!.incidents.push({ id: 'PINC1', serviceId: 'PSVC1', status: 'resolved' });
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: (await ask(h, ON_CALL)).id } })).state).toBe('pending');
    pagerDuty!.incidents.push({ id: 'PINC2', serviceId: 'PSVC1', status: 'acknowledged' });
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: (await ask(h, ON_CALL)).id } })).state).toBe('approved');
    expect(pagerDuty!.requests.some((line) => line.startsWith('GET /incidents?') && line.includes('statuses%5B%5D=triggered&statuses%5B%5D=acknowledged') && line.includes('service_ids%5B%5D=PSVC1'))).toBe(true);
  });

  it.each([
    { label: 'rate-limits (429)', breakIt: (fake: FakePagerDuty) => fake.failures.push({ status: 429, headers: { 'ratelimit-reset': '30' }, body: { error: { message: 'Rate Limit Exceeded', code: 2020 } } }), says: "PagerDuty is limiting Latch's requests (429 rate limit)" },
    { label: 'is down', breakIt: (fake: FakePagerDuty) => void (fake.down = true), says: 'PagerDuty could not be reached' },
    { label: 'answers too slowly', breakIt: (fake: FakePagerDuty) => void (fake.delayMs = 1500), says: 'PagerDuty did not answer in time' },
    { label: 'refuses the key', breakIt: (fake: FakePagerDuty) => fake.failures.push({ status: 401 }), says: "PagerDuty refused Latch's API key (401)" },
    { label: 'answers in a shape it never documented', breakIt: (fake: FakePagerDuty) => fake.failures.push({ status: 200, body: { oncalls: [{ user: 'PUSERADA', end: 42 }] } }), says: 'PagerDuty answered in a shape Latch does not know' },
    { label: 'answers 500', breakIt: (fake: FakePagerDuty) => fake.failures.push({ status: 500 }), says: 'PagerDuty answered with an error (500)' },
  ])('fails closed when PagerDuty $label: people decide, and the card says why', async ({ breakIt, says }) => {
    h = await startWithPagerDuty({}, 300);
    pagerDuty!.putOnCall({ userId: 'PUSERADA', scheduleId: 'PSCHED1', escalationPolicyId: 'PPOL1', level: 1, start: null, end: null });
    breakIt(pagerDuty!);
    const { id, card } = await ask(h, ON_CALL);
    const request = await h.db.accessRequest.findUniqueOrThrow({ where: { id } });
    expect(request.state).toBe('pending');
    expect(request.onCallNote).toContain(`On-call could not be checked: ${says}`);
    expect(card).toContain(`On-call could not be checked: ${says}`);
    expect(card).toContain('People decide this request, not the on-call rule.');
    expect(card).not.toContain(pagerDuty!.apiKey);
    const created = await h.db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'request.created' } });
    expect((created.data as { onCallNote?: string }).onCallNote).toBe(request.onCallNote);
    // A person can still approve it.
    await h.click('U0APPROVER1', 'latch_approve', id);
    await expect.poll(async () => (await h!.db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('approved');
  });

  it('does not take an unconfirmed Slack email for the on-call person', async () => {
    h = await startWithPagerDuty();
    h.slack.addUser({ id: 'U0CLAIMER', name: 'claimer', email: 'ada.lovelace@example.com', emailConfirmed: false });
    pagerDuty!.putOnCall({ userId: 'PUSERADA', scheduleId: 'PSCHED1', escalationPolicyId: 'PPOL1', level: 1, start: null, end: null });
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: (await ask(h, 'U0CLAIMER')).id } })).state).toBe('pending');
  });
});

describe('on-call auto-approval with Opsgenie', () => {
  async function startWithOpsgenie(onCall: Partial<OnCallCondition> = {}): Promise<LatchHarness> {
    opsgenie = await FakeOpsgenie.start();
    const directory = new ProviderOnCallDirectory({ opsgenie: new OpsgenieOnCall(opsgenie.apiKey, opsgenie.apiUrl) }, logger, 2000);
    const harness = await LatchHarness.start(testPolicy([onCallResource({ provider: 'opsgenie', schedules: ['5f2b1c3e-aaaa-4bbb-8ccc-000000000001'], escalationPolicies: [], maxLevel: null, incidentOpenOn: [], ...onCall })]), { onCall: directory });
    harness.slack.addUser({ id: ON_CALL, name: 'ada', email: 'ada@example.com' });
    harness.slack.addUser({ id: OFF_CALL, name: 'bob', email: 'bob@example.com' });
    opsgenie.schedules.set('5f2b1c3e-aaaa-4bbb-8ccc-000000000001', { name: 'sre_schedule', onCall: ['ADA@example.com'] });
    return harness;
  }

  it('approves whoever Opsgenie has on call and leaves the others to people', async () => {
    h = await startWithOpsgenie();
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: (await ask(h, ON_CALL)).id } })).state).toBe('approved');
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: (await ask(h, OFF_CALL)).id } })).state).toBe('pending');
    expect(opsgenie!.requests[0]).toMatch(/^GET \/v2\/schedules\/5f2b1c3e-aaaa-4bbb-8ccc-000000000001\/on-calls\?scheduleIdentifierType=id&flat=true&date=/);
    expect(opsgenie!.violations).toEqual([]);
  });

  it('needs an open incident on an impacted service when the rule says so', async () => {
    h = await startWithOpsgenie({ incidentOpenOn: ['svc-checkout'] });
    opsgenie!.incidents.push({ id: 'i1', status: 'closed', impactedServices: ['svc-checkout'] }, { id: 'i2', status: 'open', impactedServices: ['svc-search'] });
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: (await ask(h, ON_CALL)).id } })).state).toBe('pending');
    opsgenie!.incidents.push({ id: 'i3', status: 'open', impactedServices: ['svc-checkout'] });
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: (await ask(h, ON_CALL)).id } })).state).toBe('approved');
    expect(opsgenie!.violations).toEqual([]);
  });

  it('fails closed on a 429 from Opsgenie, and the card says so', async () => {
    h = await startWithOpsgenie();
    opsgenie!.failures.push({ status: 429, body: { message: 'You are making too many requests! To avoid errors, we recommend you limit requests.' } });
    const { id, card } = await ask(h, ON_CALL);
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('pending');
    expect(card).toContain("On-call could not be checked: Opsgenie is limiting Latch's requests (429 rate limit)");
  });
});
