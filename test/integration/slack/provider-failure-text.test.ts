import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPostgresProvider } from '../../../src/providers/postgres/postgres-provider.ts';
import type { AccessProvider } from '../../../src/providers/provider.ts';
import { WebhookProvider } from '../../../src/providers/webhook/webhook-provider.ts';
import { REVOCATION_ALERT_AFTER_ATTEMPTS } from '../../../src/services/revoke-grant.ts';
import type { FakeSlackCall } from '../../../tools/sandbox/fake-slack.ts';
import { LatchHarness } from '../../helpers/latch-harness.ts';
import { adminQuery, withDatabaseName } from '../../helpers/test-database.ts';
import { SECURITY_CHANNEL, testPolicy, testResource } from '../../helpers/test-policy.ts';
import { WebhookReceiver } from '../../helpers/webhook-receiver.ts';

/**
 * What a target says when it fails never reaches Slack: a webhook receiver answering 500 with a
 * body that would @channel, disguise a link and name an internal URL, and a PostgreSQL error naming
 * the account, each through the real path (approval → grant job → provider → Slack messages the
 * fake Slack records). People read Latch's short notice with a reference; the details are in the
 * audit event under that reference.
 */

const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER1';
const APPROVALS = 'C0APPROVALS';
const SECRET = 'webhook-secret-provider-failure-text';
const suffix = randomBytes(4).toString('hex');
const INTERNAL_URL = 'http://vault.internal.corp:8200/v1/secret/data/grantor';
const HOSTILE_BODY = `<!channel> grant failed, <https://evil.example|click here> to fix it; see ${INTERNAL_URL}`;
// An account the target does not have, named so that its name alone would @channel if quoted raw.
const GHOST_ACCOUNT = `ghost_<!channel>_${suffix}`;
const GRANTOR = `latch_failtext_grantor_${suffix}`;
const READ_ROLE = `latch_failtext_read_${suffix}`;

let h: LatchHarness;
let receiver: WebhookReceiver;
let postgres: AccessProvider;
const adminUrl = () => inject('adminDatabaseUrl');

beforeAll(async () => {
  receiver = await WebhookReceiver.start(SECRET);
  const ident = pg.escapeIdentifier;
  await adminQuery(adminUrl(), `CREATE ROLE ${ident(READ_ROLE)} NOLOGIN`);
  await adminQuery(adminUrl(), `CREATE ROLE ${ident(GRANTOR)} LOGIN`);
  await adminQuery(adminUrl(), `GRANT ${ident(READ_ROLE)} TO ${ident(GRANTOR)} WITH ADMIN OPTION`);
  const grantorUrl = new URL(withDatabaseName(adminUrl(), 'postgres'));
  grantorUrl.username = GRANTOR;
  const created = createPostgresProvider({ connectionStringEnv: 'FAILTEXT_PG_URL', roles: { read: READ_ROLE } }, { FAILTEXT_PG_URL: grantorUrl.toString() });
  if (!created.ok) throw new Error(created.problems.join('; '));
  postgres = created.provider;
  const webhook = new WebhookProvider({ url: new URL(receiver.url), secret: SECRET, timeoutMs: 5_000, maxAttempts: 1 });
  const policy = testPolicy([
    testResource({ id: 'hooks', name: 'Hooked service', provider: { type: 'webhook', settings: {} }, identity: { map: { [REQUESTER]: 'riley' }, from: 'map-only', template: '{email}' } }),
    testResource({ id: 'prod-db', identity: { map: { [REQUESTER]: GHOST_ACCOUNT }, from: 'map-only', template: '{email}' } }),
  ]);
  h = await LatchHarness.start(policy, {
    provider: webhook,
    providers: { 'prod-db': postgres },
    grantRetry: { attempts: 2, baseDelayMs: 20 },
    revocationBackoff: { quickAttempts: REVOCATION_ALERT_AFTER_ATTEMPTS, quickBaseMs: 20, slowBaseMs: 50, slowMaxMs: 100 },
  });
});

afterAll(async () => {
  await h?.close();
  await postgres?.close?.();
  await receiver?.close();
  for (const role of [GRANTOR, READ_ROLE]) await adminQuery(adminUrl(), `DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`).catch(() => undefined);
});

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const text = (call: FakeSlackCall) => JSON.stringify(call.args.blocks ?? []) + String(call.args.text ?? '');
/** Everything Latch sent Slack that people could read. */
const everythingSent = () => h.slack.calls.filter((call) => /^(chat\.|views\.)/.test(call.method)).map(text);

/** Asks for `resource`, has it approved, and waits until Latch gives up granting it. */
async function requestThatFails(resource: string): Promise<{ id: string; outcomeReason: string }> {
  h.slack.reset();
  await h.command(REQUESTER, `${resource} read 1h checking the failure path`);
  await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === APPROVALS);
  const request = await h.db.accessRequest.findFirstOrThrow({ where: { requesterSlackId: REQUESTER, resourceId: resource }, orderBy: { createdAt: 'desc' } });
  await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).approvalMessageTs !== null);
  await h.click(APPROVER, 'latch_approve', request.id);
  await waitFor(async () => (await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).state === 'failed');
  const failed = await h.db.accessRequest.findUniqueOrThrow({ where: { id: request.id } });
  return { id: request.id, outcomeReason: failed.outcomeReason! };
}

describe("a target's failure text in Slack", () => {
  it('tells people a short notice, never the webhook body: no @channel, no disguised link, no internal URL, in no message', async () => {
    // Every call fails: both grant attempts, then the clean-up revocation until it is overdue.
    receiver.failNext(100, { status: 500, body: HOSTILE_BODY });
    const { id, outcomeReason } = await requestThatFails('hooks');
    const dm = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER && text(c).includes('could not complete this request'));
    const thread = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === APPROVALS && c.args.thread_ts !== undefined);
    // The clean-up revocation keeps failing the same way: the security channel hears of it too.
    const alert = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === SECURITY_CHANNEL && text(c).includes('Revocation overdue'));
    for (const sent of everythingSent()) {
      expect(sent).not.toContain('<!channel>');
      expect(sent).not.toContain('evil.example');
      expect(sent).not.toContain('vault.internal');
      expect(sent).not.toContain(receiver.url);
      expect(sent).not.toContain('HTTP 500');
    }

    // What they read instead: Latch's own words, with a reference.
    expect(outcomeReason).toMatch(/^The access webhook could not complete the grant \(reference [0-9a-f]{8}\)$/);
    const ref = /reference ([0-9a-f]{8})/.exec(outcomeReason)![1];
    expect(text(dm)).toContain(`Latch could not complete this request: The access webhook could not complete the grant (reference ${ref})`);
    expect(text(thread)).toContain(`The access webhook could not complete the grant (reference ${ref})`);
    expect(text(alert)).toMatch(/The access webhook could not complete the revocation \(reference [0-9a-f]{8}\)/);
    // The details are kept for whoever investigates, under the same reference.
    const event = await h.db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'grant.failed' } });
    expect(event.data).toMatchObject({ ref, message: expect.stringContaining('vault.internal.corp') });
  });

  it('tells people a short notice, never the PostgreSQL error naming the account', async () => {
    const { id, outcomeReason } = await requestThatFails('prod-db');
    const dm = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === REQUESTER && text(c).includes('could not complete this request'));
    const thread = await h.slack.waitForCall('chat.postMessage', (c) => c.args.channel === APPROVALS && c.args.thread_ts !== undefined);
    for (const sent of everythingSent()) {
      expect(sent).not.toContain('<!channel>');
      expect(sent).not.toContain('does not exist');
    }
    expect(outcomeReason).toMatch(/^The database refused the grant \(reference [0-9a-f]{8}\)$/);
    expect(text(dm)).toContain(`Latch could not complete this request: ${outcomeReason}`);
    expect(String(thread.args.text)).toBe(`⚠️ Latch could not grant this access, and the request is failed. ${outcomeReason}`);
    const event = await h.db.auditEvent.findFirstOrThrow({ where: { requestId: id, action: 'grant.failed' } });
    expect(event.data).toMatchObject({ message: expect.stringContaining(GHOST_ACCOUNT) });
  });
});
