import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ANSWER_IN_ACK_WHILE_IN_FLIGHT_AT_MOST, ANSWER_IN_ACK_WITHIN_MS } from '../../../src/slack/listeners/command-reply.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { emptyRequestTables } from '../../helpers/test-database.ts';
import { waitForValue } from '../../helpers/wait-for-value.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

// A slash command's answer travels in its ack when the work is done in time, so Latch makes no
// second HTTP request to Slack for it (issue 19); when the work is slow, the ack goes out empty
// before Slack's 3 s run out and the answer follows through response_url.

const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';

let h: LatchHarness;

beforeAll(async () => {
  h = await LatchHarness.start(testPolicy([testResource({ approvers: { users: [APPROVER], groups: [], required: 1, oneFrom: [] } })]));
});
afterAll(() => h.close());
beforeEach(async () => {
  h.slack.reset();
  await emptyRequestTables(h.db);
});

/** What Latch itself posted to a command's response_url (not the ack's answer, which the sender hands over marked `from: 'ack'`). */
function postedByLatch(id: string) {
  return h.slack.callsTo('response_url').filter((call) => call.args.id === id && call.args.from !== 'ack');
}

describe('a slash command answered in its ack', () => {
  it('carries "Request sent" in the HTTP response to Slack, and posts nothing to response_url', async () => {
    const acked = await h.command(REQUESTER, 'prod-db read 30m looking at the slow query', 'in-ack');
    expect(acked.status).toBe(200);
    expect(acked.headers.get('content-type')).toContain('application/json');
    expect(await acked.json()).toEqual({ response_type: 'ephemeral', text: 'Request sent: you will get a message when it is decided.' });
    expect(await h.db.accessRequest.count({ where: { requesterSlackId: REQUESTER, state: 'pending' } })).toBe(1);
    // The approval message is posted by the worker's notice; the person's answer came with the ack only.
    await h.slack.waitForCall('chat.postMessage', (call) => call.args.channel === 'C0APPROVALS');
    await h.latch.listenerWork.idle();
    expect(postedByLatch('in-ack')).toEqual([]);
  });

  it('carries a refusal and the usage help in the ack too, escaped as before', async () => {
    const refused = await h.command(REQUESTER, 'no<-such read 1h x', 'refused');
    expect(await refused.json()).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('There is no resource called "no&lt;-such".') });
    const help = await h.command(REQUESTER, 'help', 'help');
    expect(String(((await help.json()) as { text: string }).text)).toContain('`/request-access &lt;resource&gt; &lt;role&gt; &lt;duration&gt; &lt;reason&gt;`');
    await h.latch.listenerWork.idle();
    expect([...postedByLatch('refused'), ...postedByLatch('help')]).toEqual([]);
    expect(await h.db.accessRequest.count()).toBe(0);
  });

  it('acks the form command empty at once and opens the modal, as before', async () => {
    const acked = await h.command(REQUESTER, '', 'form');
    expect(await acked.text()).toBe('');
    await h.slack.waitForCall('views.open');
  });
});

describe('a slash command whose work outlasts the ack bound', () => {
  it(`acks empty after ${ANSWER_IN_ACK_WITHIN_MS} ms and answers through response_url once the work is done`, async () => {
    // Another transaction holds this requester's lock (as their concurrent request would): the
    // command's transaction waits for it, so its answer cannot be ready when the ack must go.
    const holder = new pg.Client({ connectionString: h.databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [4918, REQUESTER]);
      const acked = await h.command(REQUESTER, 'prod-db read 30m while someone else holds the lock', 'slow');
      expect(acked.status).toBe(200);
      expect(await acked.text()).toBe('');
      // Acked while the work is still waiting: nothing stored, nothing said yet.
      expect(await h.db.accessRequest.count()).toBe(0);
      expect(h.slack.callsTo('response_url').filter((call) => call.args.id === 'slow')).toEqual([]);
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    const answer = await h.slack.waitForCall('response_url', (call) => call.args.id === 'slow');
    expect(answer.args).toMatchObject({ text: 'Request sent: you will get a message when it is decided.', response_type: 'ephemeral' });
    expect(answer.args.from).toBeUndefined();
    await h.latch.listenerWork.idle();
    expect(h.slack.callsTo('response_url').filter((call) => call.args.id === 'slow')).toHaveLength(1);
    expect(await h.db.accessRequest.count({ where: { requesterSlackId: REQUESTER } })).toBe(1);
  });
});

describe('a slash command while much Slack work is in flight', () => {
  it(`acks at once and answers through response_url when more than ${ANSWER_IN_ACK_WHILE_IN_FLIGHT_AT_MOST} requests are being worked on`, async () => {
    const busy = Array.from({ length: ANSWER_IN_ACK_WHILE_IN_FLIGHT_AT_MOST }, (_, i) => `U0BUSY${i}`);
    const holder = new pg.Client({ connectionString: h.databaseUrl });
    await holder.connect();
    let held: Promise<Response[]>;
    try {
      // Their requesters' locks held elsewhere: these commands stay in flight.
      await holder.query('BEGIN');
      for (const user of busy) await holder.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [4918, user]);
      held = Promise.all(busy.map((user, i) => h.command(user, `prod-db read 30m held ${i}`, `held-${i}`)));
      await waitForValue(async () => h.latch.listenerWork.count >= busy.length || null);
      // This one's work has nothing to wait for, yet the process is busy: no answer in its ack.
      const acked = await h.command(REQUESTER, 'prod-db read 30m while Latch is busy', 'while-busy');
      expect(acked.status).toBe(200);
      expect(await acked.text()).toBe('');
      const answer = await h.slack.waitForCall('response_url', (call) => call.args.id === 'while-busy');
      expect(answer.args).toMatchObject({ text: 'Request sent: you will get a message when it is decided.' });
      expect(answer.args.from).toBeUndefined();
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    // The held ones are answered too, each once, and stored.
    await held;
    await h.latch.listenerWork.idle();
    for (const [i] of busy.entries()) expect(h.slack.callsTo('response_url').filter((call) => call.args.id === `held-${i}`).map((call) => call.args.text)).toEqual([expect.stringMatching(/Request sent/)]);
    expect(await h.db.accessRequest.count()).toBe(busy.length + 1);
  });
});
