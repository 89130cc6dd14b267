import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REQUEST_DURATION_ACTION,
  REQUEST_DURATION_BLOCK,
  REQUEST_MODAL,
  REQUEST_REASON_ACTION,
  REQUEST_REASON_BLOCK,
  REQUEST_RESOURCE_ACTION,
  REQUEST_RESOURCE_BLOCK,
  REQUEST_ROLE_ACTION,
  REQUEST_TICKET_ACTION,
  REQUEST_TICKET_BLOCK,
  requestRoleBlockId,
} from '../../src/slack/blocks/ids.ts';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { freePort } from '../helpers/free-port.ts';
import { LatchProcess, runLatch, type LatchExit } from '../helpers/latch-process.ts';
import { PrivateRedis } from '../helpers/private-redis.ts';
import { SlackSender, type ModalLike } from '../helpers/slack-sender.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';

/**
 * SIGTERM as an orchestrator sends it, to a real `latch start` in the middle of Slack's traffic
 * and of its jobs. What Latch answered is done whole (rows, audit events, Slack messages); what it
 * did not answer left no trace, so Slack's retry after the restart makes it exactly once; a job
 * running at the signal is either finished before the exit or redone after it, never twice.
 */
const SIGNING_SECRET = 'shutdown-signing-secret-0123456789';
const BOT_TOKEN = 'xoxb-4444-5555-shutdownBotToken';
const HOOK_SECRET = 'shutdown-webhook-secret-0123456789abcdef';
const APPROVER = 'U0SHUTAPPROVER';
const CHANNEL = 'C0SHUTDOWN';
const REQUESTERS = ['U0SHUTA', 'U0SHUTB', 'U0SHUTC', 'U0SHUTD', 'U0SHUTE'];
const BURST_PAIRS = 75; // 75 new requests through the modal and 75 approvals: 150 requests

let slack: FakeSlack;
let database: TestDatabase;
let db: Database;
let redis: PrivateRedis;
let receiver: WebhookReceiver;
let policyFile: string;
const processes: LatchProcess[] = [];

beforeAll(async () => {
  [slack, database, redis, receiver] = await Promise.all([FakeSlack.start({ botToken: BOT_TOKEN }), createTestDatabase(), PrivateRedis.start(), WebhookReceiver.start(HOOK_SECRET)]);
  db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
  policyFile = join(mkdtempSync(join(tmpdir(), 'latch-shutdown-')), 'policy.yaml');
  writeFileSync(
    policyFile,
    `
# 75 requests from five people wait at once: above the default of 10 pending each, which is not
# what this test is about.
limits: { pendingPerPerson: 100 }
resources:
  - id: hook
    name: Webhook target
    provider:
      type: webhook
      # One attempt per job, and a long timeout: a hung receiver holds the job as long as the test needs.
      settings: { url: "${receiver.url}", secretEnv: HOOK_SECRET, timeoutMs: 60000, maxAttempts: 1 }
    identity: { from: slack-user-id }
    roles: [read]
    maxDuration: 4h
    approvers: { users: [${APPROVER}] }
    approvalChannel: ${CHANNEL}
`,
  );
});

afterAll(async () => {
  await Promise.all(processes.map((latch) => latch.kill('SIGKILL')));
  await db?.$disconnect();
  await redis?.stop();
  await database?.drop();
  await receiver?.close();
  await slack?.close();
});

interface Running {
  latch: LatchProcess;
  sender: SlackSender;
}

async function startLatch(env: Record<string, string> = {}): Promise<Running> {
  const port = await freePort();
  const latch = new LatchProcess(['start'], {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    LATCH_POLICY_FILE: policyFile,
    HOOK_SECRET,
    PORT: String(port),
    LOG_LEVEL: 'info',
    ...env,
  });
  processes.push(latch);
  await latch.waitForLog((line) => String(line.msg).startsWith('latch is listening'), 60_000);
  return { latch, sender: new SlackSender(`http://127.0.0.1:${port}${SLACK_EVENTS_PATH}`, SIGNING_SECRET, (id) => slack.responseUrl(id)) };
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What Slack saw: an answer (HTTP 200), or none (refused, reset, 503), which it would retry. */
type Outcome = 'answered' | 'unanswered';

/**
 * What Slack saw of one request to `latch`. Once `latch` has exited, its port is free, and another
 * test file's server on these cores may take it and answer (a fake Slack's 404): that answer is
 * not Latch's, and to Slack it is a request nobody took.
 */
async function outcomeOf(latch: LatchProcess, send: () => Promise<Response>): Promise<Outcome> {
  let gone = false;
  void latch.exited.then(() => (gone = true));
  let response: Response;
  try {
    response = await send();
  } catch (error) {
    // fetch failed: ECONNREFUSED, ECONNRESET or a socket closed before any answer.
    if (error instanceof TypeError) return 'unanswered';
    throw error;
  }
  await response.arrayBuffer();
  if (response.status === 200) return 'answered';
  if (response.status === 503) return 'unanswered';
  if (gone) return 'unanswered';
  throw new Error(`Latch answered ${response.status}: neither done nor refused`);
}

function requestModal(reason: string): ModalLike {
  return {
    id: `V0${reason.replace(/\W/g, '')}`,
    callback_id: REQUEST_MODAL,
    state: {
      values: {
        [REQUEST_RESOURCE_BLOCK]: { [REQUEST_RESOURCE_ACTION]: { type: 'external_select', selected_option: { value: 'hook' } } },
        [requestRoleBlockId('hook')]: { [REQUEST_ROLE_ACTION]: { type: 'static_select', selected_option: { value: 'read' } } },
        [REQUEST_DURATION_BLOCK]: { [REQUEST_DURATION_ACTION]: { type: 'plain_text_input', value: '1h' } },
        [REQUEST_REASON_BLOCK]: { [REQUEST_REASON_ACTION]: { type: 'plain_text_input', value: reason } },
        [REQUEST_TICKET_BLOCK]: { [REQUEST_TICKET_ACTION]: { type: 'plain_text_input', value: '' } },
      },
    },
  };
}

/** Runs `tasks` with at most `width` at once, calling `onStart(index)` as each one starts. */
async function inParallel<T>(tasks: Array<() => Promise<T>>, width: number, onStart: (index: number) => void = () => {}): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const index = next++;
        onStart(index);
        results[index] = await tasks[index]!();
      }
    }),
  );
  return results;
}

async function auditVerifies(): Promise<LatchExit> {
  return runLatch(['audit', 'verify'], { DATABASE_URL: database.url });
}

/** Requests made through the slash command, announced (their approval message posted), ids in order. */
async function makeRequests(sender: SlackSender, reasons: string[]): Promise<string[]> {
  await inParallel(
    reasons.map((reason, i) => async () => {
      const response = await sender.command(REQUESTERS[i % REQUESTERS.length]!, `hook read 1h ${reason}`);
      expect(response.status).toBe(200);
    }),
    4,
  );
  await waitFor('every request announced', async () => (await db.accessRequest.count({ where: { reason: { in: reasons }, approvalMessageTs: { not: null } } })) === reasons.length, 60_000);
  const rows = await db.accessRequest.findMany({ where: { reason: { in: reasons } } });
  return reasons.map((reason) => rows.find((row) => row.reason === reason)!.id);
}

const grantedEvents = (requestId: string) => db.auditEvent.count({ where: { requestId, action: 'grant.granted' } });

describe('graceful shutdown of latch start', { timeout: 420_000 }, () => {
  it('loses nothing when SIGTERM lands in a burst of requests and approvals: done whole or not at all, and exactly once after the restart', async () => {
    let running = await startLatch({ LATCH_SHUTDOWN_TIMEOUT_SECONDS: '20' });
    const existing = await makeRequests(
      running.sender,
      Array.from({ length: BURST_PAIRS }, (_, i) => `existing-${i}`),
    );
    // Grants take a while at the target, so some are running and some still queued at the signal;
    // and Slack is slow to take a new request's approval message, so the handlers that post it
    // after their ack are still at work when the jobs are done: shutdown must wait for them.
    receiver.latencyMs = 500;
    slack.slowDown('chat.postMessage', 2_000, (call) => call.args.channel === CHANNEL && !call.args.thread_ts);

    const burst: Array<{ kind: 'submit'; reason: string; requester: string } | { kind: 'approve'; requestId: string }> = [];
    for (let i = 0; i < BURST_PAIRS; i++) {
      burst.push({ kind: 'submit', reason: `burst-${i}`, requester: REQUESTERS[i % REQUESTERS.length]! });
      burst.push({ kind: 'approve', requestId: existing[i]! });
    }
    const send = (sender: SlackSender, item: (typeof burst)[number]) =>
      item.kind === 'submit' ? sender.submit(item.requester, requestModal(item.reason)) : sender.click(APPROVER, 'latch_approve', item.requestId, CHANNEL);

    let exited: Promise<LatchExit> | undefined;
    const { latch, sender } = running;
    const outcomes = await inParallel(
      burst.map((item) => () => outcomeOf(latch, () => send(sender, item))),
      6,
      (index) => {
        if (index === 60) exited = latch.kill('SIGTERM');
      },
    );
    const exit = await exited!;
    const answered = burst.filter((_, i) => outcomes[i] === 'answered');
    const unanswered = burst.filter((_, i) => outcomes[i] === 'unanswered');

    // A clean stop, after waiting for the work in hand.
    expect(exit.code, exit.stderr).toBe(0);
    // It said what it waited for: among others, handlers still posting to Slack after their ack.
    expect(latch.logLines().find((line) => String(line.msg).startsWith('shutting down'))).toMatchObject({
      reason: 'SIGTERM',
      waitingFor: expect.arrayContaining([expect.stringMatching(/\d+ Slack handlers?/)]),
    });
    expect(latch.logLines().at(-1)).toMatchObject({ msg: 'shutdown complete', complete: true });
    // The signal landed in the burst: some requests answered, some left for Slack to retry. Sent
    // 6 at a time, up to 5 of the first 60 were still on their way when the signal went: one that
    // reaches the server after it is answered 503 by design, so 55 is what is certain.
    expect(answered.length).toBeGreaterThanOrEqual(55);
    expect(unanswered.length).toBeGreaterThan(0);

    // Everything answered is there whole: the row, its audit events, its Slack messages.
    for (const item of answered) {
      if (item.kind === 'submit') {
        const rows = await db.accessRequest.findMany({ where: { reason: item.reason } });
        expect(rows, item.reason).toHaveLength(1);
        const request = rows[0]!;
        expect(request.approvalMessageTs, `${item.reason} posted to the approvers`).not.toBeNull();
        expect(request.requesterMessageTs, `${item.reason} confirmed to the requester`).not.toBeNull();
        expect(await db.auditEvent.count({ where: { requestId: request.id, action: 'request.created' } })).toBe(1);
      } else {
        const request = await db.accessRequest.findUniqueOrThrow({ where: { id: item.requestId }, include: { approvals: true } });
        expect(request.approvals.map((approval) => approval.approverSlackId)).toEqual([APPROVER]);
        expect(['approved', 'active']).toContain(request.state);
        expect(await db.auditEvent.count({ where: { requestId: request.id, action: 'approval.recorded' } })).toBe(1);
        expect(slack.callsTo('chat.update').some((call) => call.args.channel === CHANNEL && call.args.ts === request.approvalMessageTs), `${request.reason} message updated`).toBe(true);
      }
    }
    // Everything unanswered left no trace.
    for (const item of unanswered) {
      if (item.kind === 'submit') expect(await db.accessRequest.count({ where: { reason: item.reason } }), item.reason).toBe(0);
      else {
        const request = await db.accessRequest.findUniqueOrThrow({ where: { id: item.requestId }, include: { approvals: true } });
        expect([request.state, request.approvals.length]).toEqual(['pending', 0]);
      }
    }
    // Nothing recorded as granted that the target did not do; the grants not yet run wait in Redis.
    for (const grant of await db.grant.findMany({ where: { grantedAt: { not: null } } })) expect(receiver.hasAccess(grant.principal, 'read', 'hook')).toBe(true);
    const queuedAtSignal = await db.accessRequest.findMany({ where: { state: 'approved' } });
    expect(queuedAtSignal.length, 'approved requests whose grant had not run at the signal').toBeGreaterThan(0);
    const verified = await auditVerifies();
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);

    // Slack retries what it got no answer to; the restarted Latch takes it, and runs the queued grants.
    running = await startLatch();
    const retried = await inParallel(
      unanswered.map((item) => () => outcomeOf(running.latch, () => send(running.sender, item))),
      6,
    );
    expect(retried.every((outcome) => outcome === 'answered')).toBe(true);
    await waitFor('every approval granted', async () => (await db.accessRequest.count({ where: { state: 'active' } })) === BURST_PAIRS, 120_000);

    // Exactly once each: every request, every decision, every grant (one attempt, one event, one call that acted).
    for (let i = 0; i < BURST_PAIRS; i++) expect(await db.accessRequest.count({ where: { reason: `burst-${i}` } }), `burst-${i}`).toBe(1);
    const approved = await db.accessRequest.findMany({ where: { id: { in: existing } }, include: { approvals: true, grant: true } });
    for (const request of approved) {
      expect(request.approvals, request.reason).toHaveLength(1);
      expect(request.grant?.grantAttempts, request.reason).toBe(1);
      expect(await grantedEvents(request.id), request.reason).toBe(1);
      expect(receiver.hasAccess(request.principal!, 'read', 'hook')).toBe(true);
    }
    for (const request of queuedAtSignal) expect(approved.find((row) => row.id === request.id)?.state).toBe('active');
    const acted = receiver.callsFor('grant').filter((call) => call.status === 200 && !call.replayed);
    expect(acted).toHaveLength(BURST_PAIRS);
    expect(new Set(acted.map((call) => call.idempotencyKey)).size).toBe(BURST_PAIRS);
    // Each new request's approval message was posted once.
    const burstRequests = await db.accessRequest.findMany({ where: { reason: { startsWith: 'burst-' } } });
    for (const request of burstRequests) {
      const posts = slack.callsTo('chat.postMessage').filter((call) => call.args.channel === CHANNEL && !call.args.thread_ts && JSON.stringify(call.args.blocks).includes(request.id));
      expect(posts, request.reason).toHaveLength(1);
    }
    expect((await auditVerifies()).code).toBe(0);

    receiver.latencyMs = 0;
    slack.reset();
    expect((await running.latch.kill('SIGTERM')).code).toBe(0);
  });

  it('lets a slow grant finish, with its audit event, before it exits', async () => {
    const { latch, sender } = await startLatch({ LATCH_SHUTDOWN_TIMEOUT_SECONDS: '20' });
    const [requestId] = await makeRequests(sender, ['slow-grant']);
    receiver.latencyMs = 4_000;
    const callsBefore = receiver.callsFor('grant').length;
    await sender.click(APPROVER, 'latch_approve', requestId!, CHANNEL);
    await waitFor('the grant reaches the target', () => receiver.callsFor('grant').length > callsBefore, 20_000);

    const exit = await latch.kill('SIGTERM');
    receiver.latencyMs = 0;
    expect(exit.code, exit.stderr).toBe(0);
    expect(latch.logLines().find((line) => String(line.msg).startsWith('shutting down'))).toMatchObject({ waitingFor: ['1 grant job'] });
    const request = await db.accessRequest.findUniqueOrThrow({ where: { id: requestId! }, include: { grant: true } });
    expect(request.state).toBe('active');
    expect(request.grant?.grantAttempts).toBe(1);
    expect(await grantedEvents(requestId!)).toBe(1);
  });

  it('past its bound, leaves a stuck grant as it was, and the restarted Latch grants it once', async () => {
    const { latch, sender } = await startLatch({ LATCH_SHUTDOWN_TIMEOUT_SECONDS: '2' });
    const [requestId] = await makeRequests(sender, ['stuck-grant']);
    receiver.failNext(1, 'hang');
    const callsBefore = receiver.callsFor('grant').length;
    await sender.click(APPROVER, 'latch_approve', requestId!, CHANNEL);
    await waitFor('the grant reaches the target', () => receiver.callsFor('grant').length > callsBefore, 20_000);

    const exit = await latch.kill('SIGTERM');
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain('with work still running; it is left to be retried');
    expect(latch.logLines().map((line) => line.msg)).toContain('shutdown bound of 2 s reached: leaving 1 grant job to be retried');
    // Not done, and not recorded as done.
    const left = await db.accessRequest.findUniqueOrThrow({ where: { id: requestId! }, include: { grant: true } });
    expect([left.state, left.grant?.grantedAt, await grantedEvents(requestId!)]).toEqual(['approved', null, 0]);

    const restarted = await startLatch();
    // BullMQ hands the job out again once its lock (15 s) has expired and a stalled check saw it.
    await waitFor('the stuck grant redone', async () => (await db.accessRequest.findUniqueOrThrow({ where: { id: requestId! } })).state === 'active', 90_000);
    const done = await db.accessRequest.findUniqueOrThrow({ where: { id: requestId! }, include: { grant: true } });
    expect(done.grant?.grantAttempts).toBe(2);
    expect(await grantedEvents(requestId!)).toBe(1);
    expect(receiver.hasAccess(done.principal!, 'read', 'hook')).toBe(true);
    expect((await restarted.latch.kill('SIGTERM')).code).toBe(0);
  });

  it('exits at once on a second SIGTERM while it waits for a stuck grant, which the restart redoes', async () => {
    const { latch, sender } = await startLatch({ LATCH_SHUTDOWN_TIMEOUT_SECONDS: '60' });
    const [requestId] = await makeRequests(sender, ['second-signal']);
    receiver.failNext(1, 'hang');
    const callsBefore = receiver.callsFor('grant').length;
    await sender.click(APPROVER, 'latch_approve', requestId!, CHANNEL);
    await waitFor('the grant reaches the target', () => receiver.callsFor('grant').length > callsBefore, 20_000);

    void latch.kill('SIGTERM');
    await latch.waitForLog((line) => String(line.msg) === 'shutdown is waiting for 1 grant job', 20_000);
    const secondAt = Date.now();
    const exit = await latch.kill('SIGTERM');
    const exitedInMs = Date.now() - secondAt;
    expect(exitedInMs).toBeLessThan(3_000);
    expect(exit.code).toBe(143);
    expect(latch.logLines().at(-1)).toMatchObject({ level: 'error', msg: 'second SIGTERM: exiting at once; work still running is left to be retried', left: ['1 grant job'] });
    const left = await db.accessRequest.findUniqueOrThrow({ where: { id: requestId! } });
    expect([left.state, await grantedEvents(requestId!)]).toEqual(['approved', 0]);

    const restarted = await startLatch();
    await waitFor('the stuck grant redone', async () => (await db.accessRequest.findUniqueOrThrow({ where: { id: requestId! } })).state === 'active', 90_000);
    expect(await grantedEvents(requestId!)).toBe(1);
    expect((await restarted.latch.kill('SIGTERM')).code).toBe(0);
    expect((await auditVerifies()).code).toBe(0);
  });
});
