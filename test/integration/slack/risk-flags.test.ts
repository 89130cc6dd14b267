import { afterEach, describe, expect, it } from 'vitest';
import type { ResourcePolicy } from '../../../src/domain/policy.ts';
import { LatchMetrics } from '../../../src/metrics/latch-metrics.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * Issue 20, explainable risk flags, through the real Bolt app with only Slack faked: what the
 * approvers' card says about an unusual request, and the extra approval the policy can ask for.
 */
const REQUESTER = 'U0REQUESTER';
const APPROVER1 = 'U0APPROVER1';
const APPROVER2 = 'U0APPROVER2';
const DAY_MS = 24 * 3600 * 1000;

let h: LatchHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Asks through the slash command and gives back the request and the approval card as first posted. */
async function ask(harness: LatchHarness, duration = '1h'): Promise<{ id: string; card: string }> {
  harness.slack.reset();
  expect((await harness.command(REQUESTER, `prod-db read ${duration} restoring the invoice table`)).status).toBe(200);
  const posted = await harness.slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS');
  const request = await harness.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER }, orderBy: { createdAt: 'desc' } });
  await waitFor(async () => (await harness.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
  return { id: request.id, card: JSON.stringify(posted.args.blocks) };
}

/** The requester asked for the same access two days ago, at the same time of day, and it ran its course. */
async function askedBefore(harness: LatchHarness): Promise<void> {
  await harness.db.accessRequest.create({
    data: {
      requesterSlackId: REQUESTER,
      resourceId: 'prod-db',
      role: 'read',
      durationSeconds: 3600,
      reason: 'restoring the invoice table',
      state: 'revoked',
      createdAt: new Date(harness.clock.now().getTime() - 2 * DAY_MS),
    },
  });
}

/** Someone else's earlier request for the same access, a day ago unless said otherwise. */
function earlier(harness: LatchHarness, minutes: number, fields: { createdAt?: Date; extendsRequestId?: string } = {}) {
  return harness.db.accessRequest.create({
    data: {
      requesterSlackId: 'U0SOMEONE',
      resourceId: 'prod-db',
      role: 'read',
      durationSeconds: minutes * 60,
      reason: 'earlier work on the invoice table',
      state: 'revoked',
      createdAt: new Date(harness.clock.now().getTime() - DAY_MS),
      ...fields,
    },
  });
}

const stateOf = async (harness: LatchHarness, id: string) => (await harness.db.accessRequest.findUniqueOrThrow({ where: { id } })).state;

describe('risk flags on the approval card', () => {
  it("shows a first request's flag with its explanation, records it with the request and its audit event, and counts it", async () => {
    const metrics = new LatchMetrics({ db: { pool: { query: async () => ({ rows: [] }) } as never }, queues: [] });
    h = await LatchHarness.start(testPolicy(), { metrics });
    const { id, card } = await ask(h);
    expect(card).toContain('Risk flags (1)');
    expect(card).toContain('first-request');
    expect(card).toContain('First request for this resource by this person.');
    const stored = await h.db.accessRequest.findUniqueOrThrow({ where: { id } });
    expect(stored.riskFlags).toEqual([{ signal: 'first-request', explanation: 'First request for this resource by this person.' }]);
    const created = await h.db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'request.created' } });
    expect((created.data as { riskFlags: unknown }).riskFlags).toEqual(stored.riskFlags);
    const scraped = (await metrics.scrape()).body;
    expect(scraped).toContain('latch_risk_flags_total{signal="first-request"} 1');
    expect(scraped).toContain('latch_risk_flags_total{signal="recent-denial"} 0');
  });

  it('shows no flags for a request like the ones the person made before', async () => {
    h = await LatchHarness.start(testPolicy());
    await askedBefore(h);
    const { id, card } = await ask(h);
    expect(card).not.toContain('Risk flags');
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).riskFlags).toEqual([]);
    await h.click(APPROVER1, 'latch_approve', id);
    await waitFor(async () => (await stateOf(h!, id)) !== 'pending');
  });

  it("flags a duration above the 90th percentile, by nearest rank, of the role's requests by anyone in the last 30 days, extensions left out", async () => {
    h = await LatchHarness.start(testPolicy());
    await askedBefore(h); // 60 min
    const first = await earlier(h, 10);
    for (const minutes of [20, 30, 40, 50, 70, 80, 90, 100, 110, 120]) await earlier(h, minutes);
    // Neither counts: more time on access already held, and a request older than the lookback.
    await earlier(h, 480, { extendsRequestId: first.id });
    await earlier(h, 480, { createdAt: new Date(h.clock.now().getTime() - 31 * DAY_MS) });
    // 10 to 120 min, 12 durations: nearest rank puts p90 at the 11th, 110 min (interpolated it
    // would be 109 min; with the two left out counted, 8 h).
    const { card } = await ask(h, '2h');
    expect(card).toContain('long-duration');
    expect(card).toContain("Duration above this role's usual: 2 h asked, p90 of the last 12 requests is 110 min.");
  });

  it('says nothing about duration up to the percentile, nor before the role has ten earlier requests', async () => {
    h = await LatchHarness.start(testPolicy());
    await askedBefore(h); // 60 min
    for (const minutes of [10, 20, 30, 40, 50, 70, 80, 90]) await earlier(h, minutes);
    // Nine earlier requests: too few to know what is usual.
    expect((await ask(h, '8h')).card).not.toContain('long-duration');
    // Ten now (the 8 h one counts): p90 by nearest rank is the 9th, 90 min, asked exactly.
    expect((await ask(h, '90m')).card).not.toContain('long-duration');
    // Eleven: the 10th, 90 min again; above it is flagged.
    expect((await ask(h, '2h')).card).toContain("Duration above this role's usual: 2 h asked, p90 of the last 11 requests is 90 min.");
  });

  it('asks one more approver of a flagged request when the policy says so, and no more of a usual one', async () => {
    const resource: ResourcePolicy = testResource({ approvers: { users: [APPROVER1, APPROVER2], groups: [], required: 1, oneFrom: [], oneMoreWhenFlagged: true } });
    h = await LatchHarness.start(testPolicy([resource]));
    const flagged = await ask(h);
    expect(flagged.card).toContain('2 more approvals needed');
    await h.click(APPROVER1, 'latch_approve', flagged.id);
    await waitFor(async () => (await h!.db.approval.count({ where: { requestId: flagged.id } })) === 1);
    expect(await stateOf(h, flagged.id)).toBe('pending');
    await h.click(APPROVER2, 'latch_approve', flagged.id);
    await waitFor(async () => (await stateOf(h!, flagged.id)) !== 'pending');
    expect(await stateOf(h, flagged.id)).not.toBe('denied');
    // Audited with the decision: what the approvers weighed.
    const approved = await h.db.auditEvent.findFirstOrThrow({ where: { requestId: flagged.id, action: 'request.approved' } });
    expect((approved.data as { riskFlags: Array<{ signal: string }> }).riskFlags.map((flag) => flag.signal)).toEqual(['first-request']);

    // The same person again, now with history: nothing unusual, one approval is enough.
    const usual = await ask(h);
    expect(usual.card).not.toContain('Risk flags');
    expect(usual.card).toContain('1 more approval needed');
  });
});
