import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack } from '../../tools/sandbox/fake-slack.ts';
import { FakeOtlpCollector, SPAN_KIND, type CollectedSpan } from '../helpers/fake-otlp-collector.ts';
import { freePort } from '../helpers/free-port.ts';
import { LatchProcess } from '../helpers/latch-process.ts';
import { PrivateRedis } from '../helpers/private-redis.ts';
import { SlackSender } from '../helpers/slack-sender.ts';
import { adminQuery, createTestDatabase, withDatabaseName, type TestDatabase } from '../helpers/test-database.ts';

/**
 * Traces as an operator turns them on: `latch web` and `latch worker` export over OTLP/HTTP (JSON)
 * to a collector on loopback. One Approve click is one trace, across both processes: the click's
 * span with Latch's request id, the use case, its transaction and the grant job it queues; the
 * worker's grant job continues that trace (its parent is the span that queued it, carried in the
 * job's data); the provider's grant and the Slack updates are in it. With tracing off, the same
 * work sends the collector nothing. Nothing secret, nor anything a person typed, reaches a span.
 */
const SIGNING_SECRET = 'traces-signing-secret-0123456789abc';
const BOT_TOKEN = 'xoxb-4444-5555-tracesBotToken';
const APPROVER = 'U0TRACEAPPROVER';
const REQUESTERS = ['U0TRACEREQUESTER', 'U0TRACEREQUESTER2'];
const REASON = 'investigate the secret-looking incident 4711';
const suffix = randomBytes(4).toString('hex');
const targetName = `latch_e2e_traces_${suffix}`;
const managedRole = `latch_e2e_traces_reader_${suffix}`;
const principals = REQUESTERS.map((_, index) => `latch_e2e_traces_user${index}_${suffix}`);

let slack: FakeSlack;
let adminUrl: string;
let admin: pg.Client;
let database: TestDatabase;
let db: Database;
let redis: PrivateRedis;
const collectors: FakeOtlpCollector[] = [];
const processes: LatchProcess[] = [];
let env: Record<string, string>;

beforeAll(async () => {
  slack = await FakeSlack.start({ botToken: BOT_TOKEN });
  adminUrl = inject('adminDatabaseUrl');
  await adminQuery(adminUrl, `CREATE DATABASE ${targetName}`);
  admin = new pg.Client({ connectionString: withDatabaseName(adminUrl, targetName) });
  await admin.connect();
  await admin.query(`CREATE ROLE ${managedRole} NOLOGIN`);
  for (const principal of principals) await admin.query(`CREATE ROLE ${principal} LOGIN`);
  [database, redis] = await Promise.all([createTestDatabase(), PrivateRedis.start()]);
  db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
  const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-traces-')), 'policy.yaml');
  writeFileSync(
    policyFile,
    `
resources:
  - id: target-db
    name: Target database
    provider: { type: postgres, settings: { connectionStringEnv: TARGET_DB_URL, roles: { read: ${managedRole} } } }
    identity:
      from: map-only
      map:
        ${REQUESTERS[0]}: ${principals[0]}
        ${REQUESTERS[1]}: ${principals[1]}
    roles: [read]
    maxDuration: 1h
    approvers: { users: [${APPROVER}] }
    approvalChannel: C0TRACES
`,
  );
  env = {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    LATCH_POLICY_FILE: policyFile,
    TARGET_DB_URL: withDatabaseName(adminUrl, targetName),
    LOG_LEVEL: 'info',
  };
});

afterAll(async () => {
  await Promise.all(processes.map((latch) => latch.kill('SIGKILL')));
  await db?.$disconnect();
  await redis?.stop();
  await database?.drop();
  await admin?.end();
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${targetName} WITH (FORCE)`);
  for (const principal of principals) await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${principal}`);
  await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${managedRole}`);
  await Promise.all(collectors.map((collector) => collector.close()));
  await slack?.close();
});

async function startLatch(role: 'start' | 'web' | 'worker', extra: Record<string, string>): Promise<{ latch: LatchProcess; sender: SlackSender }> {
  const port = await freePort();
  const latch = new LatchProcess([role], { ...env, ...extra, PORT: String(port) });
  processes.push(latch);
  await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
  return { latch, sender: new SlackSender(`http://127.0.0.1:${port}${SLACK_EVENTS_PATH}`, SIGNING_SECRET, (id) => slack.responseUrl(id)) };
}

async function startCollector(): Promise<FakeOtlpCollector> {
  const collector = await FakeOtlpCollector.start();
  collectors.push(collector);
  return collector;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A request typed as a command and approved with a click, until granted; resolves with both answers and the request's id. */
async function requestAndApprove(sender: SlackSender, requester: string): Promise<{ command: Response; click: Response; requestId: string }> {
  const before = await db.accessRequest.count();
  const command = await sender.command(requester, `target-db read 10m ${REASON}`);
  expect(command.status).toBe(200);
  await waitFor(async () => (await db.accessRequest.count({ where: { approvalMessageTs: { not: null } } })) > before, 30_000);
  const request = await db.accessRequest.findFirstOrThrow({ orderBy: { createdAt: 'desc' } });
  const click = await sender.click(APPROVER, 'latch_approve', request.id, 'C0TRACES');
  expect(click.status).toBe(200);
  await waitFor(async () => (await db.accessRequest.findUniqueOrThrow({ where: { id: request.id } })).state === 'active', 60_000);
  return { command, click, requestId: request.id };
}

/** Whether `ancestor` is `span`'s parent, or its parent's, and so on, within the spans of one trace. */
function descendsFrom(span: CollectedSpan, ancestor: CollectedSpan, spans: CollectedSpan[]): boolean {
  const byId = new Map(spans.map((each) => [each.spanId, each]));
  for (let parent = byId.get(span.parentSpanId); parent; parent = byId.get(parent.parentSpanId)) if (parent.spanId === ancestor.spanId) return true;
  return false;
}

describe('OpenTelemetry traces from latch web and latch worker', { timeout: 240_000 }, () => {
  it('follows an Approve click from the Slack request to the grant job, the provider call and the Slack updates', async () => {
    const collector = await startCollector();
    const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' };
    const web = await startLatch('web', tracing);
    const worker = await startLatch('worker', tracing);
    expect(web.latch.logLines().some((line) => line.msg === `traces are exported over OTLP (http/json) to ${collector.endpoint}`)).toBe(true);

    const { command, click, requestId } = await requestAndApprove(web.sender, REQUESTERS[0]!);

    // The click: its span carries the x-request-id the response had, like every log line of it.
    const clickRequestId = click.headers.get('x-request-id');
    expect(clickRequestId).toBeTruthy();
    const clickSpan = await collector.waitForSpan((span) => span.name === 'slack action latch_approve' && span.attributes['latch.request_id'] === clickRequestId);
    expect(clickSpan).toMatchObject({ kind: SPAN_KIND.server, parentSpanId: '', attributes: { 'latch.access_request.id': requestId, 'slack.action_id': 'latch_approve' } });
    expect(clickSpan.resource).toMatchObject({ 'service.name': 'latch', 'latch.process.role': 'web' });

    // The worker's grant job continues the click's trace, under the span that queued it.
    const jobSpan = await collector.waitForSpan((span) => span.name === 'job grant' && span.attributes['latch.access_request.id'] === requestId);
    expect(jobSpan.traceId).toBe(clickSpan.traceId);
    expect(jobSpan).toMatchObject({ kind: SPAN_KIND.consumer, attributes: { 'latch.job.id': `grant-${requestId}`, 'latch.job.name': 'grant', 'latch.job.attempt': 1 } });
    expect(jobSpan.resource).toMatchObject({ 'latch.process.role': 'worker' });
    const providerSpan = await collector.waitForSpan((span) => span.name === 'provider grant' && span.traceId === clickSpan.traceId);
    // The worker's update of the approval message once the access exists.
    await collector.waitForSpan((span) => span.name === 'slack chat.update' && span.traceId === clickSpan.traceId && span.resource['latch.process.role'] === 'worker');

    const trace = collector.trace(clickSpan.traceId);
    const decision = trace.find((span) => span.name === 'use case record your approval');
    expect(decision).toMatchObject({ parentSpanId: clickSpan.spanId, kind: SPAN_KIND.internal, attributes: { 'latch.access_request.id': requestId, 'latch.outcome': 'done' } });
    expect(trace.some((span) => span.name === 'db transaction' && descendsFrom(span, decision!, trace))).toBe(true);
    const enqueue = trace.find((span) => span.name === 'enqueue grant');
    expect(enqueue).toMatchObject({ kind: SPAN_KIND.producer, attributes: { 'latch.job.id': `grant-${requestId}`, 'messaging.system': 'bullmq' } });
    expect(descendsFrom(enqueue!, decision!, trace)).toBe(true);
    expect(jobSpan.parentSpanId).toBe(enqueue!.spanId);

    expect(providerSpan).toMatchObject({
      kind: SPAN_KIND.client,
      attributes: { 'latch.provider.type': 'postgres', 'latch.provider.operation': 'grant', 'latch.resource.id': 'target-db', 'latch.access_request.id': requestId },
    });
    expect(descendsFrom(providerSpan, jobSpan, trace)).toBe(true);
    const updates = trace.filter((span) => span.name === 'slack chat.update');
    expect(updates.every((update) => update.kind === SPAN_KIND.client && update.attributes['slack.method'] === 'chat.update' && update.attributes['http.response.status_code'] === 200)).toBe(true);
    // The decision's update (its notify job) and the grant's (the grant job), each within the click's trace.
    expect(updates.some((update) => descendsFrom(update, clickSpan, trace) && !descendsFrom(update, jobSpan, trace))).toBe(true);
    expect(updates.some((update) => descendsFrom(update, jobSpan, trace))).toBe(true);

    // The command is a trace of its own, with its request id, and names the request it made.
    const commandSpan = await collector.waitForSpan((span) => span.name === 'slack command /request-access' && span.attributes['latch.request_id'] === command.headers.get('x-request-id'));
    await collector.waitForSpan((span) => span.name === 'use case send your request' && span.parentSpanId === commandSpan.spanId && span.attributes['latch.access_request.id'] === requestId);

    // Shutdown sends what is left; nothing exported holds a secret or the person's words.
    await Promise.all([web.latch.kill('SIGTERM'), worker.latch.kill('SIGTERM')]);
    const exported = JSON.stringify(collector.spans);
    for (const secret of [BOT_TOKEN, SIGNING_SECRET, REASON, 'secret-looking', '/response/', database.url, env.TARGET_DB_URL!]) expect(exported).not.toContain(secret);
    expect(collector.refused).toEqual([]);
  });

  it('exports nothing when tracing is turned off, even with an endpoint set', async () => {
    const collector = await startCollector();
    const { latch, sender } = await startLatch('start', { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' });
    await requestAndApprove(sender, REQUESTERS[1]!);
    // A clean stop waits for the work in hand (the grant's Slack updates) and would send whatever was batched: there is nothing.
    const exit = await latch.kill('SIGTERM');
    expect(exit.code).toBe(0);
    expect(latch.logLines().some((line) => typeof line.msg === 'string' && line.msg.startsWith('traces are exported'))).toBe(false);
    expect(collector.spans).toEqual([]);
    expect(collector.refused).toEqual([]);
  });
});
