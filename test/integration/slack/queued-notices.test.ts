import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { APPROVE } from '../../../src/slack/blocks/ids.ts';
import type { FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { PrivateRedis } from '../../helpers/private-redis.ts';
import { emptyRequestTables } from '../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * The Slack notices of a command or click as a Latch process sends them: the listener's use case
 * commits and queues a notify job, and a worker posts the approval message, the DMs and the
 * updates. Without a worker they wait in Redis; with Redis down at the enqueue, the sweep that
 * re-announces unannounced requests posts them once it runs.
 */
const [REQUESTER, OTHER] = ['U0REQUESTER', 'U0OTHERPERSON'];
const APPROVER = 'U0APPROVER1';
const PANEL = ['U0PANEL1', 'U0PANEL2', 'U0PANEL3'];

let redis: PrivateRedis;
let h: LatchHarness;

beforeAll(async () => {
  redis = await PrivateRedis.start();
  h = await LatchHarness.start(
    testPolicy([
      testResource({ approvers: { users: [APPROVER], groups: [], required: 1, oneFrom: [] } }),
      testResource({ id: 'vault', name: 'Vault', approvers: { users: PANEL, groups: [], required: 3, oneFrom: [] } }),
    ]),
    { queuedNotices: { redisUrl: redis.url } },
  );
});
afterAll(async () => {
  await h?.close();
  await redis?.stop();
});
beforeEach(async () => {
  await h.startNoticeWorker();
  h.slack.reset();
  await emptyRequestTables(h.db);
});

const approvalMessage = (call: FakeSlackCall) => call.args.channel === 'C0APPROVALS' && !call.args.thread_ts;

/** Sends `/request-access prod-db read 2h …` and waits until its listener has finished (answered, and queued or failed to queue). */
async function requestAccess(userId: string, resource = 'prod-db'): Promise<string> {
  const response = await h.command(userId, `${resource} read 2h investigating INC-${userId}`);
  expect(response.status).toBe(200);
  await h.latch.listenerWork.idle();
  const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: userId }, orderBy: { createdAt: 'desc' } });
  return request.id;
}

async function waitForAnnounced(requestId: string) {
  await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).approvalMessageTs !== null);
  return h.db.accessRequest.findUniqueOrThrow({ where: { id: requestId } });
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('Slack notices queued by the web side and posted by a worker', () => {
  it('posts the approval message and the DM of a command, then the updates and outcome DM of the approval', async () => {
    const requestId = await requestAccess(REQUESTER);
    await h.slack.waitForCall('chat.postMessage', approvalMessage);
    await h.slack.waitForCall('chat.postMessage', (call) => call.args.channel === REQUESTER);
    await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).requesterMessageTs !== null);
    const { approvalMessageTs } = await h.db.accessRequest.findUniqueOrThrow({ where: { id: requestId } });

    expect((await h.click(APPROVER, APPROVE, requestId)).status).toBe(200);
    await h.slack.waitForCall('chat.update', (call) => call.args.channel === 'C0APPROVALS' && call.args.ts === approvalMessageTs && JSON.stringify(call.args.blocks).includes('Approved'));
    await waitFor(() => h.slack.callsTo('chat.postMessage').filter((call) => call.args.channel === REQUESTER).length === 2);
    expect(h.slack.callsTo('chat.postMessage').filter(approvalMessage)).toHaveLength(1);
  });

  it('keeps what a request queued while no worker runs, and a worker that starts posts it', async () => {
    await h.stopNoticeWorker();
    const requestId = await requestAccess(REQUESTER);
    // The person has their answer; nobody else has heard of the request yet.
    expect(h.slack.callsTo('chat.postMessage')).toEqual([]);
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).approvalMessageTs).toBeNull();

    await h.startNoticeWorker();
    await h.slack.waitForCall('chat.postMessage', (call) => approvalMessage(call) && JSON.stringify(call.args.blocks).includes(requestId));
    await h.slack.waitForCall('chat.postMessage', (call) => call.args.channel === REQUESTER);
    await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).approvalMessageTs !== null);
  });

  it('queues an event published twice after one commit as one job', async () => {
    await h.stopNoticeWorker();
    const requestId = await requestAccess(REQUESTER);
    await h.latch.services.events.publish({ type: 'request.created', requestId });
    expect(await h.noticesWaiting()).toBe(1);

    await h.startNoticeWorker();
    await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).requesterMessageTs !== null);
    expect(h.slack.callsTo('chat.postMessage').filter(approvalMessage)).toHaveLength(1);
  });

  it('queues two votes in a row as two notices, and the same vote published again as none more', async () => {
    await h.stopNoticeWorker();
    const requestId = await requestAccess(REQUESTER, 'vault');
    for (const approver of PANEL.slice(0, 2)) {
      expect((await h.click(approver, APPROVE, requestId)).status).toBe(200);
      await h.latch.listenerWork.idle();
    }
    await h.latch.services.events.publish({ type: 'vote.recorded', requestId });
    // The request's notice, and one for each vote.
    expect(await h.noticesWaiting()).toBe(3);

    await h.startNoticeWorker();
    const { approvalMessageTs } = await waitForAnnounced(requestId);
    // However the jobs ran, the approval message in Slack ends up showing both votes.
    const shown = () => h.slack.callsTo('chat.update').filter((call) => call.args.ts === approvalMessageTs).at(-1) ?? h.slack.callsTo('chat.postMessage').find(approvalMessage);
    await waitFor(() => PANEL.slice(0, 2).every((approver) => JSON.stringify(shown()?.args.blocks).includes(approver)));
  });

  it('announces a request whose notice Redis refused, once the re-announce sweep runs', async () => {
    const port = redis.port;
    await redis.stop();
    try {
      const requestId = await requestAccess(OTHER);
      // Stored and answered; its notice could not be queued, so nothing was posted.
      expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: requestId } })).state).toBe('pending');
      expect(h.slack.callsTo('chat.postMessage')).toEqual([]);
    } finally {
      redis = await PrivateRedis.start(port);
    }
    // The sweep leaves a request alone for a minute after it is made (it may be being announced).
    h.clock.advance(61);
    await h.announceMissedRequests();
    await h.slack.waitForCall('chat.postMessage', approvalMessage);
    await h.slack.waitForCall('chat.postMessage', (call) => call.args.channel === OTHER);
    expect(h.slack.callsTo('chat.postMessage').filter(approvalMessage)).toHaveLength(1);
  });
});
