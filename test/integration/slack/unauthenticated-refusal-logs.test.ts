import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { RefusalLog } from '../../../src/logging/refusal-log.ts';
import { postSignedToSlackApp } from '../../../tools/sandbox/slack-signing.ts';
import { LatchHarness, SIGNING_SECRET } from '../../helpers/latch-harness.ts';
import { testPolicy } from '../../helpers/test-policy.ts';

// Whoever reaches Latch's port can send Slack's endpoint unsigned or forged requests as fast as
// they like: each is refused, but the log must not grow a line (or two) for each of them.

const FLOOD = 200;
const lines: Array<Record<string, unknown>> = [];
let h: LatchHarness;

beforeAll(async () => {
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  h = await LatchHarness.start(testPolicy(), { logger });
});
afterAll(() => h.close());

/** `count` requests made by `send`, twenty at a time: their statuses. */
async function flood(count: number, send: () => Promise<Response>): Promise<number[]> {
  const statuses: number[] = [];
  while (statuses.length < count) {
    const batch = await Promise.all(Array.from({ length: Math.min(20, count - statuses.length) }, async () => {
      const response = await send();
      await response.arrayBuffer();
      return response.status;
    }));
    statuses.push(...batch);
  }
  return statuses;
}

const body = '{"type":"url_verification","challenge":"x"}';
const messages = (test: (msg: string) => boolean) => lines.filter((line) => test(String(line.msg)));

describe('a flood of unverified requests to the Slack endpoint', () => {
  it('is refused 401 each time, but logged once per kind with how many more came', async () => {
    const unsigned = await flood(FLOOD, () => fetch(h.eventsUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body }));
    const forged = await flood(30, () => postSignedToSlackApp(h.eventsUrl, body, { signingSecret: 'not-the-signing-secret' }));
    expect(unsigned).toEqual(Array(FLOOD).fill(401));
    expect(forged).toEqual(Array(30).fill(401));

    // Within the minute: the first of each kind, in full, as before; nothing for the rest.
    const missing = 'refused an unverified request to the Slack endpoint: missing x-slack-signature or x-slack-request-timestamp';
    const mismatch = 'refused an unverified request to the Slack endpoint: signature mismatch';
    expect(messages((msg) => msg.includes('refused an unverified request')).map((line) => line.msg)).toEqual([missing, mismatch]);
    const accessLines = messages((msg) => msg === 'http request');
    expect(accessLines).toEqual([expect.objectContaining({ path: '/slack/events', status: 401, level: 'info' })]);

    // Shutdown (or the minute's end) says how many more there were, in one line each.
    RefusalLog.flushAll();
    const summaries = messages((msg) => / more like this in the last \d+ s: /.test(msg));
    expect(summaries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 'warn', more: FLOOD - 1, msg: expect.stringContaining(`${FLOOD - 1} more like this`) }),
        expect.objectContaining({ level: 'warn', more: 29, msg: expect.stringMatching(/signature mismatch$/) }),
        // Both floods' access lines share a path and status.
        expect.objectContaining({ level: 'info', more: FLOOD + 30 - 1, refusal: 'http /slack/events 401' }),
      ]),
    );
    expect(summaries).toHaveLength(3);
    expect(lines.length).toBeLessThan(20);
  });

  it("still logs a signed request's own refusal in full: Slack vouches for it", async () => {
    lines.length = 0;
    for (let i = 0; i < 3; i++) expect((await postSignedToSlackApp(h.eventsUrl, 'null', { signingSecret: SIGNING_SECRET, contentType: 'application/json' })).status).toBe(400);
    expect(messages((msg) => msg.startsWith('refused a malformed Slack request'))).toHaveLength(3);
    expect(messages((msg) => msg === 'http request')).toHaveLength(3);
  });
});
