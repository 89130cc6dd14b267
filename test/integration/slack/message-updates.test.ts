import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decideRequest } from '../../../src/services/decide-request.ts';
import { unheardEvents } from '../../../src/services/latch-events.ts';
import { refreshOutdatedMessages } from '../../../src/services/refresh-outdated-messages.ts';
import { APPROVE } from '../../../src/slack/blocks/ids.ts';
import type { FakeSlackAnswer, FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { emptyRequestTables } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * An approval message that keeps its buttons after its request was decided misleads approvers. These
 * force each way a message update could be lost (issue 19: 154 of 3,040 updates missing in one
 * bench run at 40/s) and check that the messages in Slack end up showing the request as it is:
 * a decision made while the request's messages are still being posted, two updates reaching Slack
 * in the wrong order, an update Slack did not take, and a process that stopped between its commit
 * and its update. Real PostgreSQL, signed Slack requests, the fake Slack on loopback.
 */

const REQUESTER = 'U0REQUESTER';
const [APPROVER1, APPROVER2] = ['U0APPROVER1', 'U0APPROVER2'];
const APPROVALS = 'C0APPROVALS';
const TWO_APPROVALS = 'two-keys';

let h: LatchHarness;

beforeAll(async () => {
  h = await LatchHarness.start(
    testPolicy([
      testResource({ approvers: { users: [APPROVER1, APPROVER2], groups: [], required: 1, oneFrom: [] } }),
      testResource({ id: TWO_APPROVALS, name: 'Two keys', approvers: { users: [APPROVER1, APPROVER2], groups: [], required: 2, oneFrom: [] } }),
    ]),
  );
});
afterAll(() => h.close());
beforeEach(async () => {
  h.slack.reset();
  h.slack.removeAllListeners('answer');
  await emptyRequestTables(h.db);
});

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const row = (id: string) => h.db.accessRequest.findUniqueOrThrow({ where: { id } });

/** What Slack shows now of a request's message: its buttons' action ids. */
function buttonsShown(channel: string, ts: string): string[] {
  const message = h.slack.workspace.message(h.slack.workspace.canonicalChannel(channel), ts);
  if (!message) throw new Error(`no message ${ts} in ${channel}`);
  return ((message.blocks ?? []) as Array<{ type: string; elements?: Array<{ action_id?: string }> }>)
    .filter((block) => block.type === 'actions')
    .flatMap((block) => block.elements ?? [])
    .map((element) => String(element.action_id));
}

/** Both of the request's messages in Slack show no button: the approval message, and the requester's Cancel. */
async function messagesShowDecided(id: string): Promise<boolean> {
  const { approvalMessageTs, requesterMessageTs } = await row(id);
  if (!approvalMessageTs || !requesterMessageTs) return false;
  return buttonsShown(APPROVALS, approvalMessageTs).length === 0 && buttonsShown(REQUESTER, requesterMessageTs).length === 0;
}

/** `/request-access`, signed, and its id once both its messages are posted and recorded. */
async function request(resource = 'prod-db'): Promise<string> {
  expect((await h.command(REQUESTER, `${resource} read 2h investigating INC-42`)).status).toBe(200);
  let id = '';
  await waitFor(async () => {
    const made = await h.db.accessRequest.findFirst({ orderBy: { createdAt: 'desc' } });
    id = made?.id ?? '';
    return Boolean(made?.approvalMessageTs && made.requesterMessageTs);
  });
  return id;
}

/** The next call to `method` that `when` accepts is answered only once the returned function is called. */
function holdOnce(method: string, when: (call: FakeSlackCall) => boolean): () => void {
  let held = false;
  return h.slack.hold(method, (call) => {
    if (held || !when(call)) return false;
    held = true;
    return true;
  });
}

const dmsTo = (user: string) => h.slack.callsTo('chat.postMessage').filter((call) => call.args.channel === user);

describe('a decision made while the request is still being announced', () => {
  it('reaches the approval message posted before its ts was recorded', async () => {
    // Slack answers the approval message's post late: the approver has it on screen and clicks
    // Approve before Latch has recorded where it is.
    const answer = holdOnce('chat.postMessage', (call) => call.args.channel === APPROVALS);
    expect((await h.command(REQUESTER, 'prod-db read 2h investigating INC-42')).status).toBe(200);
    await h.slack.waitForCall('chat.postMessage', (call) => call.args.channel === APPROVALS);
    const { id } = await h.db.accessRequest.findFirstOrThrow();
    expect((await h.click(APPROVER1, APPROVE, id)).status).toBe(200);
    await waitFor(() => dmsTo(REQUESTER).length === 1); // the decision's DM to the requester
    expect((await row(id)).state).toBe('approved');
    expect((await row(id)).approvalMessageTs).toBeNull();
    answer();

    await waitFor(() => messagesShowDecided(id));
  });

  it("reaches the requester's confirmation posted before its ts was recorded", async () => {
    const answer = holdOnce('chat.postMessage', (call) => call.args.channel === REQUESTER);
    expect((await h.command(REQUESTER, 'prod-db read 2h investigating INC-42')).status).toBe(200);
    await h.slack.waitForCall('chat.postMessage', (call) => call.args.channel === REQUESTER);
    const { id, approvalMessageTs } = await h.db.accessRequest.findFirstOrThrow();
    expect(approvalMessageTs).not.toBeNull();
    expect((await h.click(APPROVER1, APPROVE, id)).status).toBe(200);
    await waitFor(() => dmsTo(REQUESTER).length === 2); // the held confirmation, and the decision's DM
    expect((await row(id)).state).toBe('approved');
    expect((await row(id)).requesterMessageTs).toBeNull();
    answer();

    await waitFor(() => messagesShowDecided(id));
  });
});

describe('two updates of one message reaching Slack out of order', () => {
  it('leaves the message showing the decision, not the vote before it', async () => {
    const id = await request(TWO_APPROVALS);
    const { approvalMessageTs } = await row(id);
    // The first vote's update of the approval message is answered late; the second approver
    // decides meanwhile, and that update reaches Slack first.
    const answer = holdOnce('chat.update', (call) => call.args.ts === approvalMessageTs);
    const answered: FakeSlackAnswer[] = [];
    h.slack.on('answer', (reply) => answered.push(reply));
    expect((await h.click(APPROVER1, APPROVE, id)).status).toBe(200);
    const voteUpdate = await h.slack.waitForCall('chat.update', (call) => call.args.ts === approvalMessageTs);
    expect((await h.click(APPROVER2, APPROVE, id)).status).toBe(200);
    await waitFor(() => dmsTo(REQUESTER).length === 2); // the decision's messages are written, and its DM sent
    expect((await row(id)).state).toBe('approved');
    answer();
    await waitFor(() => answered.some((reply) => reply.call === voteUpdate));

    await waitFor(() => messagesShowDecided(id));
  });
});

describe('the messages sweep', () => {
  it('rewrites a message whose update Slack did not take, once the grace period is over, and only once', async () => {
    const id = await request();
    const { approvalMessageTs } = await row(id);
    h.slack.failOnce('chat.update', 'internal_error');
    expect((await h.click(APPROVER1, APPROVE, id)).status).toBe(200);
    // The decision's notices are out: the refused update of the approval message, the rest taken.
    await waitFor(() => dmsTo(REQUESTER).length === 2);
    expect((await row(id)).state).toBe('approved');
    expect(buttonsShown(APPROVALS, approvalMessageTs!)).toContain(APPROVE);

    expect(await refreshOutdatedMessages(h.latch.services)).toEqual([]); // within the grace period
    h.clock.advance(120);
    expect(await refreshOutdatedMessages(h.latch.services)).toEqual([id]);
    expect(await messagesShowDecided(id)).toBe(true);
    expect(await refreshOutdatedMessages(h.latch.services)).toEqual([]);
  });

  it('leaves alone a message Slack refused for good (deleted), instead of trying it every run', async () => {
    const id = await request();
    h.slack.failOnce('chat.update', 'message_not_found');
    expect((await h.click(APPROVER1, APPROVE, id)).status).toBe(200);
    await waitFor(() => dmsTo(REQUESTER).length === 2);
    h.clock.advance(120);
    expect(await refreshOutdatedMessages(h.latch.services)).toEqual([]);
  });

  it('rewrites the messages of a decision whose process stopped between its commit and its update', async () => {
    const id = await request();
    // The decision commits, and nobody is told: as when the process ends right after the commit.
    const decided = await decideRequest({ ...h.latch.services, events: unheardEvents }, { requestId: id, deciderId: APPROVER1, decision: 'approve', revision: 1 });
    expect(decided).toMatchObject({ ok: true, outcome: 'approved' });
    expect(h.slack.callsTo('chat.update')).toEqual([]);
    const { approvalMessageTs } = await row(id);
    expect(buttonsShown(APPROVALS, approvalMessageTs!)).toContain(APPROVE);

    h.clock.advance(120);
    expect(await refreshOutdatedMessages(h.latch.services)).toEqual([id]);
    expect(await messagesShowDecided(id)).toBe(true);
    // A rewrite tells nobody: no DM, only the messages updated.
    expect(h.slack.callsTo('chat.postMessage')).toHaveLength(2);
  });

  it('leaves messages that are up to date alone', async () => {
    const id = await request();
    expect((await h.click(APPROVER1, APPROVE, id)).status).toBe(200);
    await waitFor(() => messagesShowDecided(id));
    await waitFor(async () => (await row(id)).messagesSeq !== null && h.slack.callsTo('chat.postMessage').length === 3);
    h.clock.advance(120);
    const updates = h.slack.callsTo('chat.update').length;
    expect(await refreshOutdatedMessages(h.latch.services)).toEqual([]);
    expect(h.slack.callsTo('chat.update')).toHaveLength(updates);
  });
});
