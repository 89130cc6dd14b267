import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unheardEvents } from '../../../src/services/latch-events.ts';
import { requestAccess } from '../../../src/services/request-access.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { testPolicy } from '../../helpers/test-policy.ts';

/**
 * A burst of approval messages while Slack rate-limits: every message must reach Slack, once,
 * with Latch waiting out each Retry-After instead of dropping the message.
 */
const BURST = 500;
let h: LatchHarness;

beforeAll(async () => {
  h = await LatchHarness.start(testPolicy());
});
afterAll(() => h.close());

describe('a burst of approval messages', { timeout: 120_000 }, () => {
  it(`posts all ${BURST} approval messages and DMs despite HTTP 429s, and none twice`, async () => {
    const ids: string[] = [];
    // Stored without being told, so their announcements can reach Slack as one burst below.
    const untold = { ...h.latch.services, events: unheardEvents };
    for (let i = 0; i < BURST; i++) {
      const made = await requestAccess(untold, { requesterId: `U0BURST${i}`, resourceId: 'prod-db', role: 'read', duration: '1h', reason: `burst ${i}`, ticket: null });
      if (!made.ok) throw new Error(JSON.stringify(made.refusal));
      ids.push(made.requestId);
    }
    h.slack.reset();
    // Slack refuses a run of calls in the middle of the burst with 429 and Retry-After: 1.
    for (let i = 0; i < 25; i++) h.slack.rateLimitOnce('chat.postMessage', 1);

    await Promise.all(ids.map((requestId) => h.latch.notifier.publish({ type: 'request.created', requestId })));

    expect(await h.db.accessRequest.count({ where: { approvalMessageTs: { not: null }, requesterMessageTs: { not: null } } })).toBe(BURST);
    const posted = h.slack.callsTo('chat.postMessage');
    const approvals = posted.filter((call) => call.args.channel === 'C0APPROVALS').map((call) => String(call.args.text));
    // Every message and DM once, plus the 25 calls Slack refused and Latch made again.
    expect(posted.length).toBe(2 * BURST + 25);
    expect(new Set(approvals).size).toBe(BURST);
  });
});
