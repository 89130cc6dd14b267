import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LatchMetrics } from '../../../src/metrics/latch-metrics.ts';
import { requestAccess } from '../../../src/services/request-access.ts';
import {
  REQUEST_DURATION_ACTION,
  REQUEST_DURATION_BLOCK,
  REQUEST_REASON_ACTION,
  REQUEST_REASON_BLOCK,
  REQUEST_RESOURCE_ACTION,
  REQUEST_RESOURCE_BLOCK,
  REQUEST_ROLE_ACTION,
  REQUEST_TICKET_ACTION,
  REQUEST_TICKET_BLOCK,
  requestRoleBlockId,
} from '../../../src/slack/blocks/ids.ts';
import { asOpenView, LatchHarness, selected, textInput, type ModalLike } from '../../helpers/latch-harness.ts';
import { testPolicy } from '../../helpers/test-policy.ts';

/**
 * Latch acks a Slack request before its listener touches PostgreSQL, so work it cannot serve must
 * be refused before the ack, with a message, never acked and then lost. These drive the real Bolt
 * app over HTTP, signed as Slack signs it.
 */
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';
const BUSY = /Latch is busy right now/;

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** What the ack carried: Bolt answers an empty body for a plain ack(). */
async function ackBody(response: Response): Promise<Record<string, unknown>> {
  expect(response.status).toBe(200);
  const text = await response.text();
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

describe('with the listener work bound reached', { timeout: 120_000 }, () => {
  const BOUND = 2;
  let h: LatchHarness;
  const metrics = new LatchMetrics({ db: { pool: { query: async () => ({ rows: [] }) } as never }, queues: [] });

  beforeAll(async () => {
    h = await LatchHarness.start(testPolicy(), { maxListenerWork: BOUND, metrics });
  });
  afterAll(() => h.close());

  it('refuses a command, a click and a submission at the door, saying so, and takes them once the work in hand is done', async () => {
    const pending = await requestAccess(h.latch.services, { requesterId: REQUESTER, resourceId: 'prod-db', role: 'read', duration: '1h', reason: 'to be approved', ticket: null });
    if (!pending.ok) throw new Error(JSON.stringify(pending.refusal));
    await h.command(REQUESTER, '');
    const view = asOpenView({ ...((await h.slack.waitForCall('views.open')).args.view as object), id: 'V0OPEN' }, filledRequestForm());
    await h.latch.listenerWork.idle();
    h.slack.reset();

    // Two requests take the whole bound and hold it while Slack is slow to take their messages.
    h.slack.slowDown('chat.postMessage', 5_000);
    const held = [h.command('U0HOLDER1', 'prod-db read 1h holding one'), h.command('U0HOLDER2', 'prod-db read 1h holding two')];
    await waitFor(() => h.slack.callsTo('chat.postMessage').length >= 2);
    expect(h.latch.listenerWork.count).toBe(BOUND);
    const storedWhileHeld = await h.db.accessRequest.count();

    const command = await ackBody(await h.command(REQUESTER, 'prod-db read 2h refused at the door', 'refused-command'));
    expect(command).toMatchObject({ response_type: 'ephemeral', text: expect.stringMatching(BUSY) });

    expect(await ackBody(await h.click(APPROVER, 'latch_approve', pending.requestId, 'C0APPROVALS', 'latch_approval_actions:r1', 'refused-click'))).toEqual({});
    const told = await h.slack.waitForCall('response_url', (call) => call.args.id === 'refused-click');
    expect(told.args).toMatchObject({ response_type: 'ephemeral', replace_original: false, text: expect.stringMatching(/busy.*Nothing was decided/s) });

    const submission = await ackBody(await h.submit(REQUESTER, view));
    expect(submission.response_action).toBe('errors');
    const errors = submission.errors as Record<string, string>;
    const firstInput = (view.blocks as Array<{ type: string; block_id: string }>).find((block) => block.type === 'input')!.block_id;
    expect(errors).toEqual({ [firstInput]: expect.stringMatching(BUSY) });

    // Nothing was written for any of them.
    expect(await h.db.accessRequest.count()).toBe(storedWhileHeld);
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id: pending.requestId } })).state).toBe('pending');
    expect(await h.db.accessRequest.count({ where: { reason: { in: ['refused at the door', 'from the form'] } } })).toBe(0);
    const refused = await metrics.registry.getSingleMetricAsString('latch_slack_requests_refused_total');
    expect(refused).toMatch(/kind="command"} 1\b/);
    expect(refused).toMatch(/kind="action"} 1\b/);
    expect(refused).toMatch(/kind="view_submission"} 1\b/);

    // Once the held work is done, the same requests are taken.
    await Promise.all(held);
    await h.latch.listenerWork.idle();
    h.slack.reset();
    // Taken: its answer is in the ack (or, had the work been slow, posted after an empty one).
    expect(String((await ackBody(await h.command(REQUESTER, 'prod-db read 2h refused at the door', 'retried-command'))).text ?? '')).not.toMatch(BUSY);
    const sent = await h.slack.waitForCall('response_url', (call) => call.args.id === 'retried-command');
    expect(sent.args.text).toMatch(/Request sent/);
    await h.click(APPROVER, 'latch_approve', pending.requestId, 'C0APPROVALS', 'latch_approval_actions:r1', 'retried-click');
    await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: pending.requestId } })).state !== 'pending');
    expect(await ackBody(await h.submit(REQUESTER, view))).toEqual({});
    await h.latch.listenerWork.idle();
    expect(await h.db.accessRequest.count({ where: { reason: 'refused at the door' } })).toBe(1);
    expect(await h.db.accessRequest.count({ where: { reason: 'from the form' } })).toBe(1);
  });
});

describe('a burst of commands well above the pool while PostgreSQL stalls', { timeout: 300_000 }, () => {
  const BURST = 150;
  /** Longer than the 5 s a queued transaction used to wait for a connection before failing. */
  const STALL_MS = 8_000;
  let h: LatchHarness;

  beforeAll(async () => {
    h = await LatchHarness.start(testPolicy(), { poolSize: 3, stallableDatabase: true });
  });
  afterAll(() => h.close());

  it(`stores exactly the commands it took out of ${BURST}, each once with its audit trail, and says so for the ones it refused`, async () => {
    // PostgreSQL stops answering for a while (a checkpoint, a saturated disk, a stalled host) as
    // the burst arrives: every command taken has to wait for it, longer than it used to be allowed.
    h.dbProxy!.freeze();
    const arriving = Promise.all(
      Array.from({ length: BURST }, async (_, i) => ({ i, body: await ackBody(await h.command(`U0BURST${i}`, `prod-db read 1h burst ${i}`, `burst-${i}`)) })),
    );
    await new Promise((resolve) => setTimeout(resolve, STALL_MS));
    h.dbProxy!.thaw();
    const acks = await arriving;
    await h.latch.listenerWork.idle();

    const refused = acks.filter(({ body }) => BUSY.test(String(body.text ?? '')));
    const taken = acks.filter(({ body }) => !BUSY.test(String(body.text ?? '')));
    console.log(`burst of ${BURST} with PostgreSQL stalled ${STALL_MS} ms: ${taken.length} taken, ${refused.length} refused, ${await h.db.accessRequest.count()} stored`);
    // A command taken is acked with its answer, or empty when PostgreSQL held it past the ack's bound.
    for (const { body } of taken) expect(body).toEqual(Object.keys(body).length === 0 ? {} : { response_type: 'ephemeral', text: expect.stringMatching(/Request sent/) });
    const stored = await h.db.accessRequest.findMany({ select: { id: true, reason: true } });
    // Acked and not refused == stored: nothing taken was lost, nothing refused was written.
    expect(stored.map((request) => request.reason).sort()).toEqual(taken.map(({ i }) => `burst ${i}`).sort());
    // Every stored request has its audit event, and every person taken was told it was sent.
    const audited = await h.db.auditEvent.groupBy({ by: ['requestId'], where: { action: 'request.created' }, _count: true });
    expect(audited.length).toBe(stored.length);
    for (const { i } of taken) {
      const told = h.slack.callsTo('response_url').filter((call) => call.args.id === `burst-${i}`);
      expect(told.map((call) => call.args.text)).toEqual([expect.stringMatching(/Request sent/)]);
    }
    // A refused one is told so in its ack, and nothing else.
    for (const { i } of refused) expect(h.slack.callsTo('response_url').filter((call) => call.args.id === `burst-${i}`).map((call) => call.args.text)).toEqual([expect.stringMatching(BUSY)]);
  });
});

/** The request form filled in for prod-db/read, as Slack sends its state back. */
function filledRequestForm(): ModalLike['state']['values'] {
  return {
    [REQUEST_RESOURCE_BLOCK]: { [REQUEST_RESOURCE_ACTION]: selected('prod-db') },
    [requestRoleBlockId('prod-db')]: { [REQUEST_ROLE_ACTION]: selected('read') },
    [REQUEST_DURATION_BLOCK]: { [REQUEST_DURATION_ACTION]: textInput('2h') },
    [REQUEST_REASON_BLOCK]: { [REQUEST_REASON_ACTION]: textInput('from the form') },
    [REQUEST_TICKET_BLOCK]: { [REQUEST_TICKET_ACTION]: textInput('') },
  };
}
