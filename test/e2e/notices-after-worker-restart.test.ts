import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLACK_EVENTS_PATH } from '../../src/slack/app.ts';
import { createDatabase, type Database } from '../../src/store/database.ts';
import { FakeSlack, type FakeSlackCall } from '../../tools/sandbox/fake-slack.ts';
import { freePort } from '../helpers/free-port.ts';
import { LatchProcess } from '../helpers/latch-process.ts';
import { PrivateRedis } from '../helpers/private-redis.ts';
import { SlackSender } from '../helpers/slack-sender.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

/**
 * `latch web` answers a slash command and queues its Slack notices; a `latch worker` posts them.
 * A worker killed outright (SIGKILL, a lost host) loses none: a request made while no worker runs
 * is announced in the approval channel, and confirmed to its requester, once a worker starts.
 */
const SIGNING_SECRET = 'notices-signing-secret-0123456789ab';
const BOT_TOKEN = 'xoxb-2222-3333-noticesBotToken';
const CHANNEL = 'C0NOTICES';
const [FIRST, SECOND] = ['U0NOTICEFIRST', 'U0NOTICESECOND'];

let slack: FakeSlack;
let database: TestDatabase;
let db: Database;
let redis: PrivateRedis;
let env: Record<string, string>;
const processes: LatchProcess[] = [];

beforeAll(async () => {
  [slack, database, redis] = await Promise.all([FakeSlack.start({ botToken: BOT_TOKEN }), createTestDatabase(), PrivateRedis.start()]);
  db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
  const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-notices-')), 'policy.yaml');
  writeFileSync(
    policyFile,
    `
resources:
  - id: reports
    name: Reports service
    provider: { type: webhook, settings: { url: "http://127.0.0.1:9/never-called", secretEnv: HOOK_SECRET } }
    identity: { from: slack-user-id }
    roles: [read]
    maxDuration: 4h
    approvers: { users: [U0NOTICEAPPROVER] }
    approvalChannel: ${CHANNEL}
`,
  );
  env = {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    LATCH_POLICY_FILE: policyFile,
    HOOK_SECRET: 'notices-webhook-secret-0123456789abcdef',
    LOG_LEVEL: 'info',
  };
});

afterAll(async () => {
  await Promise.all(processes.map((latch) => latch.kill('SIGKILL')));
  await db?.$disconnect();
  await redis?.stop();
  await database?.drop();
  await slack?.close();
});

async function startLatch(role: 'web' | 'worker'): Promise<{ latch: LatchProcess; port: number }> {
  const port = await freePort();
  const latch = new LatchProcess([role], { ...env, PORT: String(port) });
  processes.push(latch);
  await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
  return { latch, port };
}

const approvalMessageOf = (requestId: string) => (call: FakeSlackCall) => call.args.channel === CHANNEL && JSON.stringify(call.args.blocks).includes(requestId);

async function requestAccess(sender: SlackSender, userId: string): Promise<string> {
  const response = await sender.command(userId, `reports read 2h checking the ${userId} report`, `ask-${userId}`);
  expect(response.status).toBe(200);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const request = await db.accessRequest.findFirst({ where: { requesterSlackId: userId } });
    if (request) return request.id;
    if (Date.now() > deadline) throw new Error(`no request of ${userId} stored within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('Slack notices across a worker restart', { timeout: 240_000 }, () => {
  it('posts the card of a request made while no worker ran, once a worker starts', async () => {
    const web = await startLatch('web');
    const sender = new SlackSender(`http://127.0.0.1:${web.port}${SLACK_EVENTS_PATH}`, SIGNING_SECRET, (id) => slack.responseUrl(id));
    const first = await startLatch('worker');

    const announced = await requestAccess(sender, FIRST);
    await slack.waitForCall('chat.postMessage', approvalMessageOf(announced), 30_000);

    await first.latch.kill('SIGKILL');
    const waiting = await requestAccess(sender, SECOND);
    // The web process answered the person (the response_url answer) and posted nothing else.
    expect((await slack.waitForCall('response_url', (call) => call.args.id === `ask-${SECOND}`, 30_000)).args.text).toBe('Request sent: you will get a message when it is decided.');
    expect(slack.callsTo('chat.postMessage').filter(approvalMessageOf(waiting))).toEqual([]);
    expect(slack.callsTo('chat.postMessage').filter((call) => call.args.channel === SECOND)).toEqual([]);

    await startLatch('worker');
    await slack.waitForCall('chat.postMessage', approvalMessageOf(waiting), 30_000);
    await slack.waitForCall('chat.postMessage', (call) => call.args.channel === SECOND, 30_000);
    expect(slack.callsTo('chat.postMessage').filter(approvalMessageOf(waiting))).toHaveLength(1);
    expect(web.latch.stderr).toBe('');
  });
});
