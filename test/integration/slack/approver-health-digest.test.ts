import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { announceDigest } from '../../../src/services/announce-digest.ts';
import { expirePendingRequests } from '../../../src/services/expire-pending-requests.ts';
import { APPROVE } from '../../../src/slack/blocks/ids.ts';
import type { FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Approver health in the digest, from what people did in Slack: requests typed as slash commands
 * and approved with button clicks, all signed as Slack signs them and taken by the real Bolt app,
 * at times the test's clock sets. Then the digest job's use case runs, and the digest the fake
 * Slack receives must name the approver groups, their times, who approved within seconds, who
 * approved each other's requests, and what expired undecided, with the figures worked out here.
 */
const [ANA, BEN, CARL, DAVE, ERIN] = ['U0ANA', 'U0BEN', 'U0CARL', 'U0DAVE', 'U0ERIN'];
const SECURITY_MEMBER = 'U0SEC1';
const DIGEST_CHANNEL = 'C0DIGEST';

let h: LatchHarness;
/** Every digest post, by digest name, in the order posted. */
const digests = new Map<string, FakeSlackCall>();

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const state = async (id: string) => (await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state;

/** `/request-access <text>` by `userId`; resolves once the request is stored and its approval card is posted. */
async function ask(userId: string, text: string): Promise<string> {
  const before = await h.db.accessRequest.count();
  expect((await h.command(userId, text)).status).toBe(200);
  await waitFor(async () => (await h.db.accessRequest.count()) > before);
  const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: userId }, orderBy: { createdAt: 'desc' } });
  await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
  return request.id;
}

/** A click on Approve by `userId`; resolves once the decision is stored, so the clock moves on only after it. */
async function approve(userId: string, id: string): Promise<void> {
  expect((await h.click(userId, APPROVE, id)).status).toBe(200);
  await waitFor(async () => (await state(id)) === 'approved');
}

function sectionsOf(call: FakeSlackCall): string[] {
  return (call.args.blocks as Array<{ type: string; text?: { text: string } }>).filter((block) => block.type === 'section').map((block) => block.text!.text);
}

beforeAll(async () => {
  const policy = testPolicy([
    testResource({ id: 'prod-db', approvers: { users: [ANA, BEN], groups: [], required: 1, oneFrom: [] } }),
    testResource({ id: 'vault', name: 'Vault', approvers: { users: [], groups: ['S0SECURITY'], required: 1, oneFrom: [] }, pendingTimeoutSeconds: 3600 }),
  ]);
  policy.digests = [
    { name: 'daily', schedule: '0 9 * * *', timeZone: 'UTC', channel: DIGEST_CHANNEL, rubberStampUnderSeconds: 10 },
    // The same day under a stricter threshold: nobody approved within 2 s.
    { name: 'strict', schedule: '0 9 * * *', timeZone: 'UTC', channel: DIGEST_CHANNEL, rubberStampUnderSeconds: 2 },
  ];
  h = await LatchHarness.start(policy);
  h.groups.members.set('S0SECURITY', [SECURITY_MEMBER]);

  // The clock starts at 2026-11-24 09:00:00 UTC, the start of the daily digest's period.
  const anas = await ask(ANA, 'prod-db read 1h quarterly report');
  // Ana cannot approve her own request: refused, and counted nowhere (no pair with herself).
  await h.click(ANA, APPROVE, anas);
  await h.slack.waitForCall('chat.postEphemeral', (call) => call.args.user === ANA);
  h.clock.advance(3);
  await approve(BEN, anas); // 3 s: quick

  h.clock.advance(600);
  const bens = await ask(BEN, 'prod-db read 1h checking the replica lag');
  h.clock.advance(1200);
  await approve(ANA, bens); // 20 min; Ana and Ben have now approved each other's requests

  const carls = await ask(CARL, 'prod-db read 1h invoice export');
  h.clock.advance(5);
  await approve(BEN, carls); // 5 s: quick

  const daves = await ask(DAVE, 'vault read 1h rotating the TLS key');
  h.clock.advance(3000);
  await approve(SECURITY_MEMBER, daves); // 50 min, inside vault's hour

  const erins = await ask(ERIN, 'vault read 1h nobody will look at this');
  h.clock.advance(2 * 3600);
  await expirePendingRequests(h.latch.services);
  expect(await state(erins)).toBe('expired');

  // The next morning, a few seconds after the schedule: each digest covers the day before.
  h.clock.advance((new Date('2026-11-25T09:00:05Z').getTime() - h.clock.now().getTime()) / 1000);
  for (const name of ['daily', 'strict']) {
    h.slack.reset();
    await announceDigest(h.latch.services, name);
    digests.set(name, await h.slack.waitForCall('chat.postMessage', (call) => call.args.channel === DIGEST_CHANNEL));
  }
});
afterAll(() => h?.close());

describe('approver health in the digest', () => {
  it('gives the time to decision per approver group, named as the policy names it, slowest first', () => {
    // Vault: one decision after 50 minutes. prod-db: 3 s, 20 min and 5 s, so a median of 5 s and a
    // p90 of 5 + 0.8 × (1200 − 5) = 961 s, shown to the minute.
    expect(sectionsOf(digests.get('daily')!)).toContain(
      [
        '*Time to decision by approver group*',
        '• <!subteam^S0SECURITY> for `vault`: median 50m, p90 50m over 1 decision',
        `• <@${ANA}>, <@${BEN}> for \`prod-db\`: median 5s, p90 16m over 3 decisions`,
      ].join('\n'),
    );
  });

  it('names who approved within the threshold of the request, and how many of their approvals', () => {
    expect(sectionsOf(digests.get('daily')!)).toContain(`*Approved within 10s of the request*: 2 approvals by 1 approver\n• <@${BEN}>: 2 of 2 approvals`);
  });

  it('names the people who approved each other’s requests, with the count each way', () => {
    expect(sectionsOf(digests.get('daily')!)).toContain(`*Approving each other's requests*: 1 pair\n• <@${ANA}> approved 1 of <@${BEN}>'s requests, and <@${BEN}> 1 of <@${ANA}>'s`);
  });

  it('counts the request that expired undecided, under its approver group and resource', () => {
    expect(sectionsOf(digests.get('daily')!)).toContain('*Expired undecided*: 1 request\n• <!subteam^S0SECURITY>: 1 on `vault`');
  });

  it("follows the digest's own threshold: under 2 s nobody rubber-stamped, and that part is left out", () => {
    const strict = sectionsOf(digests.get('strict')!);
    expect(strict.some((text) => text.startsWith('*Approved within'))).toBe(false);
    // The rest of approver health is the same day's.
    expect(strict.some((text) => text.startsWith('*Time to decision by approver group*'))).toBe(true);
    expect(strict).toContain('*Expired undecided*: 1 request\n• <!subteam^S0SECURITY>: 1 on `vault`');
  });

  it('says nothing of approvers for a day in which they did nothing', async () => {
    h.clock.advance(24 * 3600);
    h.slack.reset();
    await announceDigest(h.latch.services, 'daily');
    const quietDay = sectionsOf(await h.slack.waitForCall('chat.postMessage', (call) => call.args.channel === DIGEST_CHANNEL));
    for (const heading of ['*Time to decision by approver group*', '*Approved within', "*Approving each other's", '*Expired undecided*']) {
      expect(quietDay.some((text) => text.startsWith(heading))).toBe(false);
    }
  });
});
