import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/logging/logger.ts';
import { createLatch, type Latch } from '../../../../src/runtime/create-latch.ts';
import { startSandbox, type RunningSandbox } from '../../../../tools/sandbox/sandbox.ts';
import { SLACK_EVENTS_PATH } from '../../../../src/slack/app.ts';
import { startHttpServer } from '../../../../src/slack/http-server.ts';
import { createDatabase, type Database } from '../../../../src/store/database.ts';
import { freePort } from '../../../helpers/free-port.ts';
import { createTestDatabase, type TestDatabase } from '../../../helpers/test-database.ts';
import { testPolicy, testResource } from '../../../helpers/test-policy.ts';
import { testSeenSignatures } from '../../../helpers/seen-signatures.ts';

/**
 * The sandbox against a real Latch (the Bolt app over HTTP, its own database), driven through the
 * sandbox's own HTTP API, the one its page calls: a person types /request-access, fills the modal,
 * two approvers click Approve, and the page's live feed sees the approval message edited in place.
 * Latch talks only to the sandbox's Web API; no test double sits between them.
 */

const REQUESTER = 'U0REQUESTER';
const APPROVER_1 = 'U0APPROVER1';
const APPROVER_2 = 'U0APPROVER2';
const SECURITY_LEAD = 'U0SECLEAD';
const APPROVALS = 'C0REQUESTS';
const SIGNING_SECRET = 'sandbox-test-signing-secret-0123456789';
const BOT_TOKEN = 'xoxb-sandbox-test-token';

let sandbox: RunningSandbox;
let latch: Latch;
let latchServer: Server;
let replays: ReturnType<typeof testSeenSignatures> | undefined;
let db: Database;
let testDb: TestDatabase;
const granted: string[] = [];

beforeAll(async () => {
  replays = testSeenSignatures();
  testDb = await createTestDatabase();
  db = createDatabase({ databaseUrl: testDb.url, poolSize: 6 });
  const latchPort = await freePort();
  sandbox = await startSandbox({
    port: 0,
    latchUrl: `http://127.0.0.1:${latchPort}${SLACK_EVENTS_PATH}`,
    signingSecret: SIGNING_SECRET,
    botToken: BOT_TOKEN,
    users: [
      { id: REQUESTER, name: 'riley', realName: 'Riley Requester', email: 'riley@example.com', tz: 'Europe/London' },
      { id: APPROVER_1, name: 'avery', realName: 'Avery Approver', email: 'avery@example.com' },
      { id: APPROVER_2, name: 'blake', realName: 'Blake Approver', email: 'blake@example.com' },
      { id: SECURITY_LEAD, name: 'sam', realName: 'Sam Security', email: 'sam@example.com' },
    ],
    channels: [
      { id: APPROVALS, name: 'access-requests' },
      { id: 'C0SECURITY', name: 'security' },
    ],
    // Approvers come from a user group: Latch reads its members from the sandbox.
    usergroups: [{ id: 'S0DBAPPROVERS', handle: 'db-approvers', users: [APPROVER_1, APPROVER_2] }],
    panels: [{ title: 'Granted', read: async () => granted.map((id) => ({ request: id })) }],
  });
  const policy = testPolicy([
    testResource({ approvers: { users: [], groups: ['S0DBAPPROVERS'], required: 2, oneFrom: [] }, approvalChannel: APPROVALS }),
  ]);
  latch = createLatch({
    db,
    policy: () => policy,
    logger: createLogger({ level: 'silent' }),
    botToken: BOT_TOKEN,
    signingSecret: SIGNING_SECRET,
    slackApiUrl: sandbox.apiUrl,
    access: { requestGrant: async (id: string) => void granted.push(id), scheduleRevocation: async () => undefined },
    seenSignatures: replays.seen,
  });
  await latch.init();
  latchServer = await startHttpServer({ port: latchPort, host: '127.0.0.1', slack: latch.transport.requestListener, logger: createLogger({ level: 'silent' }) });
});

afterAll(async () => {
  latchServer?.closeAllConnections();
  await new Promise((resolve) => latchServer?.close(resolve));
  await sandbox?.close();
  await db?.$disconnect();
  await testDb?.drop();
  await replays?.close();
});

async function call<T = Record<string, any>>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(new URL(path, sandbox.url), {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${json.error}`);
  return json;
}

/** Polls until `read` returns something, within a generous deadline. */
async function eventually<T>(what: string, read: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const modalOf = (user: string) => call('GET', `/sandbox/api/modal?user=${user}`).then((r) => r.view as { id: string; callbackId: string; html: string } | null);
const conversation = (user: string, channel: string) =>
  call('GET', `/sandbox/api/conversation?user=${user}&channel=${channel}`).then((r) => r.messages as Array<{ ts: string; html: string; text: string; visibleTo?: string }>);

/** The page's live feed, as the browser's EventSource reads it. */
class FeedReader {
  readonly events: Array<{ event: string; data: any }> = [];
  private readonly controller = new AbortController();

  async open(): Promise<void> {
    const response = await fetch(new URL('/sandbox/events', sandbox.url), { signal: this.controller.signal });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    void this.read(response.body!);
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event && data) this.events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // Aborted at the end of the test.
    }
  }

  close(): void {
    this.controller.abort();
  }
}

describe('the sandbox with a real Latch', () => {
  it('takes a request through the modal, two approvals, and shows the approval message edited in place, live', async () => {
    const feed = new FeedReader();
    await feed.open();
    try {
      // /request-access in the DM with the app opens Latch's modal for the requester only.
      expect(await call('POST', '/sandbox/api/messages', { user: REQUESTER, channel: `D${REQUESTER}`, text: '/request-access' })).toMatchObject({ ok: true, kind: 'command', status: 200 });
      const modal = await eventually('the request modal', () => modalOf(REQUESTER));
      expect(modal.callbackId).toBe('latch_request_modal');
      expect(await modalOf(APPROVER_1)).toBeNull();

      // Picking the resource dispatches block_actions; Latch rebuilds the view with its roles.
      await call('POST', '/sandbox/api/actions', { user: REQUESTER, container: { type: 'view', viewId: modal.id }, blockId: 'latch_request_resource', actionId: 'latch_request_resource_select', value: 'prod-db', values: {} });
      const withRoles = await eventually('the roles of prod-db', async () => {
        const view = await modalOf(REQUESTER);
        return view?.html.includes('latch_request_role_select') ? view : undefined;
      });
      expect(withRoles.id).toBe(modal.id);

      const values = (duration: string, reason: string) => ({
        latch_request_resource: { latch_request_resource_select: 'prod-db' },
        'latch_request_role:prod-db': { latch_request_role_select: 'read' },
        latch_request_duration: { latch_request_duration_input: duration },
        latch_request_reason: { latch_request_reason_input: reason },
        latch_request_ticket: { latch_request_ticket_input: '' },
        latch_request_start: { latch_request_start_input: null },
      });
      // An empty required field is refused by the "client", as Slack's is, before Latch hears of it.
      expect(await call('POST', `/sandbox/api/views/${modal.id}/submit`, { user: REQUESTER, values: values('2h', '') })).toMatchObject({
        outcome: 'errors',
        sent: false,
        errors: { latch_request_reason: 'Please complete this required field.' },
      });
      // Latch's own validation comes back as response_action: errors, shown under the field.
      const refused = await call('POST', `/sandbox/api/views/${modal.id}/submit`, { user: REQUESTER, values: values('99d', 'investigating INC-42') });
      expect(refused).toMatchObject({ outcome: 'errors', sent: true });
      expect(Object.keys(refused.errors)).toEqual(['latch_request_duration']);
      expect((await modalOf(REQUESTER))!.html).toMatch(/role="alert"[^>]*>[^<]*8h/);

      expect(await call('POST', `/sandbox/api/views/${modal.id}/submit`, { user: REQUESTER, values: values('2h', 'investigating INC-42') })).toMatchObject({ outcome: 'closed' });
      expect(await modalOf(REQUESTER)).toBeNull();

      // The approval message, as the approvers see it, with mentions shown as names.
      const posted = await eventually('the approval message', async () => (await conversation(APPROVER_1, APPROVALS)).find((message) => message.html.includes('latch_approve')));
      expect(posted.html).toContain('@Riley Requester');
      expect(posted.html).toMatch(/class="bk-button bk-button-primary"[^>]*data-action-id="latch_approve"/);
      const confirmation = await eventually('the requester DM', async () => (await conversation(REQUESTER, `D${REQUESTER}`)).find((message) => message.text !== ''));
      expect(confirmation.html).toContain('data-testid="message"');

      const approve = (user: string) =>
        call('POST', '/sandbox/api/actions', { user, container: { type: 'message', channel: APPROVALS, ts: posted.ts }, blockId: 'latch_approval_actions:r1', actionId: 'latch_approve' });

      // The requester may not approve: the refusal is ephemeral, shown only to them.
      expect(await approve(REQUESTER)).toMatchObject({ ok: true, status: 200 });
      const refusal = await eventually('the ephemeral refusal', async () => (await conversation(REQUESTER, APPROVALS)).find((message) => message.visibleTo === REQUESTER));
      expect(refusal.html).toContain('Only visible to you');
      expect((await conversation(APPROVER_1, APPROVALS)).some((message) => message.visibleTo)).toBe(false);

      await approve(APPROVER_1);
      await eventually('the first approval shown', async () => (await conversation(APPROVER_2, APPROVALS)).find((m) => m.ts === posted.ts && m.html.includes('@Avery Approver</span> approved')));
      await approve(APPROVER_2);

      // The same message (same ts) now says approved, without buttons; the feed carried the edit.
      const decided = await eventually('the approved message', async () => (await conversation(APPROVER_1, APPROVALS)).find((m) => m.ts === posted.ts && m.html.includes('Approved')));
      expect(decided.html).not.toContain('latch_approve');
      expect(decided.html).toContain('data-edited="true"');
      expect((await conversation(APPROVER_1, APPROVALS)).filter((m) => !m.visibleTo)).toHaveLength(1);
      const live = await eventually('the live edit', async () => feed.events.find((e) => e.event === 'message' && e.data.ts === posted.ts && String(e.data.html).includes('Approved')));
      expect(live.data.channel).toBe(APPROVALS);
      expect(granted).toHaveLength(1);

      // The API log saw each of Latch's calls with its method and body, live too.
      const methods = feed.events.filter((e) => e.event === 'call').map((e) => e.data.method as string);
      expect(methods).toEqual(expect.arrayContaining(['command /request-access', 'views.open', 'block_actions', 'views.update', 'view_submission', 'chat.postMessage', 'chat.postEphemeral', 'chat.update']));
      const update = feed.events.find((e) => e.event === 'call' && e.data.method === 'chat.update' && e.data.body.ts === posted.ts);
      expect(update?.data).toMatchObject({ direction: 'from-latch', ok: true, body: { channel: APPROVALS, blocks: expect.any(Array) } });
      // The panel shows what the access recorder holds, refreshed while the page listens.
      await eventually('the panel', async () => feed.events.find((e) => e.event === 'panel' && e.data.rows.length === 1));
    } finally {
      feed.close();
    }
  });

  it("opens Deny's reason modal with the click's own trigger_id, and the denial edits the message", async () => {
    await call('POST', '/sandbox/api/messages', { user: REQUESTER, channel: APPROVALS, text: '/request-access prod-db read 1h checking a deploy' });
    const posted = await eventually('the second approval message', async () =>
      (await conversation(APPROVER_2, APPROVALS)).find((message) => message.html.includes('checking a deploy') && message.html.includes('latch_deny')),
    );
    await call('POST', '/sandbox/api/actions', { user: APPROVER_2, container: { type: 'message', channel: APPROVALS, ts: posted.ts }, blockId: 'latch_approval_actions:r1', actionId: 'latch_deny' });
    const modal = await eventually('the deny modal', () => modalOf(APPROVER_2));
    expect(modal.callbackId).toBe('latch_deny_modal');
    expect(await call('POST', `/sandbox/api/views/${modal.id}/submit`, { user: APPROVER_2, values: { latch_deny_reason: { latch_deny_reason_input: 'use the replica' } } })).toMatchObject({ outcome: 'closed' });
    const denied = await eventually('the denied message', async () => (await conversation(APPROVER_1, APPROVALS)).find((m) => m.ts === posted.ts && m.html.includes('Denied')));
    expect(denied.html).toContain('use the replica');
  });

  it('sends app_home_opened when the Home tab is opened, and shows the view Latch publishes for that person', async () => {
    expect(await call('POST', '/sandbox/api/home/open', { user: APPROVER_1 })).toMatchObject({ ok: true, status: 200 });
    const home = await eventually('the Home tab', () => call('GET', `/sandbox/api/home?user=${APPROVER_1}`).then((r) => r.view as { html: string } | null));
    expect(home.html).toContain('Your access');
    expect((await call('GET', `/sandbox/api/home?user=${APPROVER_2}`)).view).toBeNull();
  });

  it('answers a command the app does not have as Slack does, and runs /request-access help through the response_url', async () => {
    await call('POST', '/sandbox/api/messages', { user: SECURITY_LEAD, channel: APPROVALS, text: '/nope' });
    await call('POST', '/sandbox/api/messages', { user: SECURITY_LEAD, channel: APPROVALS, text: '/request-access help' });
    const seen = await eventually('the usage', async () => {
      const messages = await conversation(SECURITY_LEAD, APPROVALS);
      return messages.some((m) => m.text.startsWith('Type `/request-access`')) ? messages : undefined;
    });
    expect(seen.find((m) => m.text.startsWith('/nope is not a valid command'))?.visibleTo).toBe(SECURITY_LEAD);
    expect(seen.find((m) => m.text.startsWith('Type `/request-access`'))?.visibleTo).toBe(SECURITY_LEAD);
    expect((await conversation(APPROVER_2, APPROVALS)).some((m) => m.text.startsWith('Type `/request-access`'))).toBe(false);
  });

  it('refuses what a person could not do in Slack, with a reason', async () => {
    await expect(call('POST', '/sandbox/api/messages', { user: REQUESTER, channel: `D${APPROVER_1}`, text: 'hi' })).rejects.toThrow(/400.*another person's DM/);
    await expect(call('POST', '/sandbox/api/actions', { user: 'U0NOBODY', container: { type: 'message', channel: APPROVALS, ts: '1.000000' }, blockId: 'b', actionId: 'a' })).rejects.toThrow(/400.*no such user/);
  });
});
