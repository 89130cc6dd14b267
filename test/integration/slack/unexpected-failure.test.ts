import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  APPROVE,
  REQUEST_DURATION_ACTION,
  REQUEST_DURATION_BLOCK,
  REQUEST_MODAL,
  REQUEST_REASON_ACTION,
  REQUEST_REASON_BLOCK,
  REQUEST_RESOURCE_ACTION,
  REQUEST_RESOURCE_BLOCK,
  REQUEST_ROLE_ACTION,
  requestRoleBlockId,
} from '../../../src/slack/blocks/ids.ts';
import { LatchHarness, selected, textInput } from '../../helpers/latch-harness.ts';
import { testPolicy, testResource } from '../../helpers/test-policy.ts';

/**
 * A use case that fails unexpectedly, through the real Bolt app over HTTP: PostgreSQL refuses a
 * write halfway through its transaction (a trigger raises, as a full disk or a broken constraint
 * would). The person is told it failed and that nothing was changed, with a reference and none of
 * the error's text; and indeed nothing was stored.
 */
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';
const FAILURE = 'simulated failure with internal detail';
const NOTHING_CHANGED = /^Latch could not (.+) because something went wrong on its side\. Nothing was changed\. Try again in a minute; if it keeps failing, give whoever runs Latch this reference: [0-9a-f]{8}\.$/;

let h: LatchHarness;

beforeAll(async () => {
  h = await LatchHarness.start(testPolicy([testResource()]));
  await h.db.$executeRawUnsafe(`CREATE FUNCTION test_refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${FAILURE}'; END $$`);
});
afterAll(() => h.close());
afterEach(() => failNothing());

/** From now on PostgreSQL refuses to insert into `table` rows matching `when`. */
async function failInserts(table: string, when = 'true'): Promise<void> {
  await h.db.$executeRawUnsafe(`CREATE TRIGGER test_refuse_write BEFORE INSERT ON ${table} FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION test_refuse_write()`);
}

async function failNothing(): Promise<void> {
  await h.db.$executeRawUnsafe('DROP TRIGGER IF EXISTS test_refuse_write ON audit_events');
  await h.db.$executeRawUnsafe('DROP TRIGGER IF EXISTS test_refuse_write ON access_requests');
}

function expectNothingChanged(text: unknown, what: string): void {
  expect(String(text)).toMatch(NOTHING_CHANGED);
  expect(NOTHING_CHANGED.exec(String(text))?.[1]).toBe(what);
  expect(String(text)).not.toContain(FAILURE);
}

async function pendingRequest(): Promise<string> {
  h.slack.reset();
  await h.command(REQUESTER, 'prod-db read 2h restoring the invoice table', 'made');
  expect((await h.slack.waitForCall('response_url', (c) => c.args.id === 'made')).args.text).toContain('Request sent');
  const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER, state: 'pending' }, orderBy: { createdAt: 'desc' } });
  await expect.poll(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs, { timeout: 10_000 }).not.toBeNull();
  return request.id;
}

describe('a use case that throws after Slack was answered', () => {
  it('tells the approver nothing was changed, and records no vote: the transaction rolled back', async () => {
    const id = await pendingRequest();
    // The vote's row is written, then its audit event is refused: both or neither.
    await failInserts('audit_events', `NEW.action = 'approval.recorded'`);
    const response = await h.click(APPROVER, APPROVE, id);
    expect(response.status).toBe(200);
    const told = await h.slack.waitForCall('chat.postEphemeral', (c) => c.args.user === APPROVER);
    expect(told.args.channel).toBe('C0APPROVALS');
    expectNothingChanged(told.args.text, 'record your approval');
    expect(await h.db.approval.count({ where: { requestId: id } })).toBe(0);
    expect((await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state).toBe('pending');
    expect((await h.db.auditEvent.findMany({ where: { requestId: id }, orderBy: { seq: 'asc' } })).map((event) => event.action)).toEqual(['request.created']);
    expect(h.granted).toEqual([]);

    // True to its word: once PostgreSQL takes writes again, the same click approves.
    await failNothing();
    await h.click(APPROVER, APPROVE, id);
    await expect.poll(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id } })).state, { timeout: 10_000 }).toBe('approved');
    // Its messages are out before the next test counts messages.
    await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER && String(c.args.text).endsWith('approved'));
  });

  it('tells the person who typed the command nothing was changed, and stores no request', async () => {
    h.slack.reset();
    const before = await h.db.accessRequest.count();
    await failInserts('access_requests');
    await h.command(REQUESTER, 'prod-db read 2h looking at a slow query', 'failed');
    const told = await h.slack.waitForCall('response_url', (c) => c.args.id === 'failed');
    expect(told.args.response_type).toBe('ephemeral');
    expectNothingChanged(told.args.text, 'send your request');
    expect(await h.db.accessRequest.count()).toBe(before);
    expect(h.slack.callsTo('chat.postMessage')).toEqual([]);
  });
});

describe('a use case that throws before a form is answered', () => {
  it('answers the form with the failure on the resource field, and stores no request', async () => {
    h.slack.reset();
    const before = await h.db.accessRequest.count();
    await failInserts('access_requests');
    const response = await h.submit(REQUESTER, {
      id: 'V0FAILED',
      callback_id: REQUEST_MODAL,
      state: {
        values: {
          [REQUEST_RESOURCE_BLOCK]: { [REQUEST_RESOURCE_ACTION]: selected('prod-db', 'external_select') },
          [requestRoleBlockId('prod-db')]: { [REQUEST_ROLE_ACTION]: selected('read') },
          [REQUEST_DURATION_BLOCK]: { [REQUEST_DURATION_ACTION]: textInput('2h') },
          [REQUEST_REASON_BLOCK]: { [REQUEST_REASON_ACTION]: textInput('looking at a slow query') },
        },
      },
    });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { response_action: string; errors: Record<string, string> };
    expect(answer.response_action).toBe('errors');
    expect(Object.keys(answer.errors)).toEqual([REQUEST_RESOURCE_BLOCK]);
    expectNothingChanged(answer.errors[REQUEST_RESOURCE_BLOCK], 'send your request');
    expect(await h.db.accessRequest.count()).toBe(before);
    expect(h.slack.callsTo('chat.postMessage')).toEqual([]);
  });
});
