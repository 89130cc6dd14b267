import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { permanent } from '../../../src/providers/provider.ts';
import type { AccessContext } from '../../../src/services/access-context.ts';
import { decideRequest } from '../../../src/services/decide-request.ts';
import { grantAccess } from '../../../src/services/grant-access.ts';
import type { LatchEvent } from '../../../src/services/latch-events.ts';
import { requestAccess } from '../../../src/services/request-access.ts';
import { revokeGrant } from '../../../src/services/revoke-grant.ts';
import { SlackNotifier } from '../../../src/slack/notifier.ts';
import { PostgresAccessLocks } from '../../../src/store/access-lock.ts';
import { createDatabase, type Database } from '../../../src/store/database.ts';
import { FakeSlack, type FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { MemoryProvider } from '../../helpers/memory-provider.ts';
import { createTestDatabase, emptyRequestTables, type TestDatabase } from '../../helpers/test-database.ts';
import { SECURITY_CHANNEL, testPolicy, testResource } from '../../helpers/test-policy.ts';
import { testServiceContext } from '../../helpers/test-services.ts';

/**
 * The notifier's switch, event by event, against the fake Slack: who is told what. The use cases
 * make the state and record their events; the test hands each event to the notifier itself.
 */

const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';
const APPROVALS = 'C0APPROVALS';

let testDb: TestDatabase;
let db: Database;
let locks: PostgresAccessLocks;
let slack: FakeSlack;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 6 });
  locks = new PostgresAccessLocks({ databaseUrl: testDb.url, poolSize: 2 });
  slack = await FakeSlack.start();
});
afterAll(async () => {
  await slack.close();
  await locks.close();
  await db.$disconnect();
  await testDb.drop();
});
beforeEach(async () => {
  await emptyRequestTables(db);
  slack.reset();
});

const resource = testResource({
  reminders: { afterSeconds: 3600, escalateAfterSeconds: 4 * 3600, escalateTo: ['S0LEADS'] },
  breakGlass: { requesters: { everyone: true }, maxDurationSeconds: 3600, reviewWithinSeconds: 3600, remindEverySeconds: 600 },
});

function setup() {
  const base = testServiceContext(db, testPolicy([resource]));
  const provider = new MemoryProvider();
  const ctx: AccessContext = { ...base.ctx, providerFor: () => provider, locks };
  const notifier = new SlackNotifier(new WebClient(slack.botToken, { slackApiUrl: slack.apiUrl }), { db, policy: ctx.policy, logger: ctx.logger });
  return { ...base, ctx, provider, notifier };
}

/** The Web API calls one event makes, in order: method, channel, and thread where there is one. */
async function callsFor(notifier: SlackNotifier, event: LatchEvent) {
  slack.reset();
  await notifier.publish(event);
  // In the order the fake received them: two calls in the same millisecond have equal timestamps.
  return slack.calls.filter((call) => call.method === 'chat.postMessage' || call.method === 'chat.update').map(describeCall);
}

function describeCall(call: FakeSlackCall) {
  return {
    method: call.method,
    channel: call.args.channel,
    ...(call.args.thread_ts ? { thread: call.args.thread_ts, broadcast: String(call.args.reply_broadcast) === 'true' } : {}),
  };
}

async function announced(ctx: AccessContext, notifier: SlackNotifier, breakGlass = false) {
  const made = await requestAccess(ctx, { requesterId: REQUESTER, resourceId: 'prod-db', role: 'read', duration: '1h', reason: 'incident', ticket: null, breakGlass });
  if (!made.ok) throw new Error(JSON.stringify(made.refusal));
  await notifier.publish({ type: 'request.created', requestId: made.requestId });
  const row = await db.accessRequest.findUniqueOrThrow({ where: { id: made.requestId } });
  return { requestId: made.requestId, row };
}

describe('the Slack notifier', () => {
  it('announces a request to its approvers and its requester, once, recording where each message is', async () => {
    const { ctx, notifier } = setup();
    const made = await requestAccess(ctx, { requesterId: REQUESTER, resourceId: 'prod-db', role: 'read', duration: '1h', reason: 'incident', ticket: null });
    if (!made.ok) throw new Error(JSON.stringify(made.refusal));
    const calls = await callsFor(notifier, { type: 'request.created', requestId: made.requestId });
    expect(calls).toEqual([
      { method: 'chat.postMessage', channel: APPROVALS },
      { method: 'chat.postMessage', channel: REQUESTER },
    ]);
    const row = await db.accessRequest.findUniqueOrThrow({ where: { id: made.requestId } });
    expect(row.approvalMessageTs).toEqual(expect.any(String));
    expect(row.requesterMessageTs).toEqual(expect.any(String));
    expect(row.requesterChannelId).toEqual(expect.any(String));
    // The re-announce sweep posts only what is missing: nothing here.
    expect(await callsFor(notifier, { type: 'request.unannounced', requestId: made.requestId })).toEqual([]);
  });

  it('announces break-glass use to the security channel too, and reminds there, in the alert thread', async () => {
    const { ctx, notifier } = setup();
    const made = await requestAccess(ctx, { requesterId: REQUESTER, resourceId: 'prod-db', role: 'read', duration: '1h', reason: 'outage', ticket: null, breakGlass: true });
    if (!made.ok) throw new Error(JSON.stringify(made.refusal));
    expect(await callsFor(notifier, { type: 'request.created', requestId: made.requestId })).toEqual([
      { method: 'chat.postMessage', channel: APPROVALS },
      { method: 'chat.postMessage', channel: SECURITY_CHANNEL },
      { method: 'chat.postMessage', channel: REQUESTER },
    ]);
    const { securityMessageTs, requesterChannelId } = await db.accessRequest.findUniqueOrThrow({ where: { id: made.requestId } });
    expect(await callsFor(notifier, { type: 'break_glass.review_overdue', requestId: made.requestId })).toEqual([
      { method: 'chat.postMessage', channel: SECURITY_CHANNEL, thread: securityMessageTs, broadcast: true },
    ]);
    expect(await callsFor(notifier, { type: 'break_glass.reviewed', requestId: made.requestId })).toEqual([
      { method: 'chat.update', channel: SECURITY_CHANNEL },
      { method: 'chat.update', channel: APPROVALS },
      { method: 'chat.update', channel: requesterChannelId },
    ]);
  });

  it('rewrites the messages for a vote, and also tells the requester of a decision', async () => {
    const { ctx, notifier } = setup();
    const { requestId, row } = await announced(ctx, notifier);
    expect(await callsFor(notifier, { type: 'vote.recorded', requestId })).toEqual([
      { method: 'chat.update', channel: APPROVALS },
      { method: 'chat.update', channel: row.requesterChannelId },
    ]);
    expect(await callsFor(notifier, { type: 'access.end_requested', requestId })).toHaveLength(2);
    await decideRequest(ctx, { requestId, deciderId: APPROVER, decision: 'deny', comment: 'no' });
    for (const type of ['request.decided', 'request.expired', 'request.cancelled'] as const) {
      const event: LatchEvent = type === 'request.decided' ? { type, requestId, outcome: 'denied' } : { type, requestId };
      expect(await callsFor(notifier, event)).toEqual([
        { method: 'chat.update', channel: APPROVALS },
        { method: 'chat.update', channel: row.requesterChannelId },
        { method: 'chat.postMessage', channel: REQUESTER },
      ]);
    }
  });

  it('reminds the approvers and announces an escalation in the approval thread, broadcast', async () => {
    const { ctx, notifier } = setup();
    const { requestId, row } = await announced(ctx, notifier);
    expect(await callsFor(notifier, { type: 'reminder.due', requestId })).toEqual([{ method: 'chat.postMessage', channel: APPROVALS, thread: row.approvalMessageTs, broadcast: true }]);
    expect(await callsFor(notifier, { type: 'request.escalated', requestId })).toEqual([
      { method: 'chat.postMessage', channel: APPROVALS, thread: row.approvalMessageTs, broadcast: true },
      { method: 'chat.update', channel: APPROVALS },
      { method: 'chat.update', channel: row.requesterChannelId },
    ]);
  });

  it('tells of a grant, a failed grant (the approvers too, in the thread) and the end of access', async () => {
    const { ctx, notifier, provider } = setup();
    const failed = await announced(ctx, notifier);
    await decideRequest(ctx, { requestId: failed.requestId, deciderId: APPROVER, decision: 'approve' });
    provider.failNext('grant', permanent('no such role'));
    await grantAccess(ctx, { requestId: failed.requestId, finalAttempt: false });
    expect(await callsFor(notifier, { type: 'grant.failed', requestId: failed.requestId })).toEqual([
      { method: 'chat.update', channel: APPROVALS },
      { method: 'chat.update', channel: failed.row.requesterChannelId },
      { method: 'chat.postMessage', channel: REQUESTER },
      { method: 'chat.postMessage', channel: APPROVALS, thread: failed.row.approvalMessageTs, broadcast: false },
    ]);

    const { requestId, row } = await announced(ctx, notifier);
    await decideRequest(ctx, { requestId, deciderId: APPROVER, decision: 'approve' });
    const granted = await grantAccess(ctx, { requestId, finalAttempt: false });
    if (granted.outcome !== 'granted') throw new Error(JSON.stringify(granted));
    const outcome = [
      { method: 'chat.update', channel: APPROVALS },
      { method: 'chat.update', channel: row.requesterChannelId },
      { method: 'chat.postMessage', channel: REQUESTER },
    ];
    expect(await callsFor(notifier, { type: 'access.granted', requestId, grantId: granted.grantId })).toEqual(outcome);
    expect(await callsFor(notifier, { type: 'access.ended', requestId, grantId: granted.grantId })).toEqual(outcome);
  });

  it('alerts the security channel of an overdue revocation and of its recovery, and rewrites the messages', async () => {
    const { ctx, clock, notifier, provider } = setup();
    const { requestId, row } = await announced(ctx, notifier);
    await decideRequest(ctx, { requestId, deciderId: APPROVER, decision: 'approve' });
    const granted = await grantAccess(ctx, { requestId, finalAttempt: false });
    if (granted.outcome !== 'granted') throw new Error(JSON.stringify(granted));
    clock.advance(3600);
    provider.failNext('revoke', permanent('target refused'));
    await revokeGrant(ctx, granted.grantId);
    const alerted = [
      { method: 'chat.postMessage', channel: SECURITY_CHANNEL },
      { method: 'chat.update', channel: APPROVALS },
      { method: 'chat.update', channel: row.requesterChannelId },
    ];
    expect(await callsFor(notifier, { type: 'revocation.overdue', requestId, grantId: granted.grantId })).toEqual(alerted);
    expect(String(slack.callsTo('chat.postMessage')[0]?.args.text)).toMatch(/^Revocation overdue/);
    expect(await callsFor(notifier, { type: 'revocation.recovered', requestId, grantId: granted.grantId })).toEqual(alerted);
    expect(String(slack.callsTo('chat.postMessage')[0]?.args.text)).toMatch(/^Overdue revocation done/);
  });

  it('alerts the security channel of standing access, naming the resource', async () => {
    const { notifier } = setup();
    const found = [{ resourceId: 'prod-db', role: 'read', principal: 'mallory' }];
    expect(await callsFor(notifier, { type: 'standing_access.changed', found, resolved: [] })).toEqual([{ method: 'chat.postMessage', channel: SECURITY_CHANNEL }]);
    expect(JSON.stringify(slack.callsTo('chat.postMessage')[0]?.args.blocks)).toContain('Production database');
  });

  it("posts a due digest to its own channel, and throws when Slack refuses it so the digest's job is retried", async () => {
    const policy = { ...testPolicy([resource]), digests: [{ name: 'weekly', schedule: '0 9 * * 1', timeZone: 'UTC', channel: 'C0DIGEST', rubberStampUnderSeconds: 10 }] };
    const notifier = new SlackNotifier(new WebClient(slack.botToken, { slackApiUrl: slack.apiUrl }), { db, policy: () => policy, logger: setup().ctx.logger });
    const due = { type: 'digest.due', name: 'weekly', at: new Date('2026-12-07T09:00:05Z') } satisfies LatchEvent;
    expect(await callsFor(notifier, due)).toEqual([{ method: 'chat.postMessage', channel: 'C0DIGEST' }]);
    expect(JSON.stringify(slack.callsTo('chat.postMessage')[0]?.args.blocks)).toContain('weekly');

    slack.failOnce('chat.postMessage', 'channel_not_found');
    await expect(notifier.publish(due)).rejects.toThrow(/channel_not_found/);
  });

  it('says nothing of a request that no longer exists', async () => {
    const { notifier } = setup();
    const requestId = '00000000-0000-4000-8000-000000000000';
    for (const event of [
      { type: 'request.created', requestId },
      { type: 'vote.recorded', requestId },
      { type: 'request.decided', requestId, outcome: 'approved' },
      { type: 'grant.failed', requestId },
      { type: 'reminder.due', requestId },
      { type: 'revocation.overdue', requestId, grantId: requestId },
    ] satisfies LatchEvent[]) {
      expect(await callsFor(notifier, event)).toEqual([]);
    }
  });
});
