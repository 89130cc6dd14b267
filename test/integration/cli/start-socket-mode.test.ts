import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { FakeSocketMode } from '../../helpers/fake-socket-mode.ts';
import { freePort } from '../../helpers/free-port.ts';
import { LatchProcess, runLatch } from '../../helpers/latch-process.ts';
import { overSocketMode, SlackSender } from '../../helpers/slack-sender.ts';
import { postSignedToSlackApp } from '../../../tools/sandbox/slack-signing.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { PROD_DB_POLICY_YAML } from '../../helpers/test-policy.ts';

// `latch start` as an operator runs it with SLACK_APP_TOKEN set: Slack's events come over a
// WebSocket Latch opens (to the fake Socket Mode server), and HTTP serves only the probes.

const SIGNING_SECRET = 'c8e1b0d3f5a7c9e2b4d6f8a0c1e3a5b7';
const BOT_TOKEN = 'xoxb-4444-5555-socketModeBotToken';
const APP_TOKEN = 'xapp-1-A0LATCH-6666-socketModeAppToken';


let slack: FakeSlack;
let socket: FakeSocketMode;
let db: TestDatabase;
let policyFile: string;
const running: LatchProcess[] = [];

beforeAll(async () => {
  [slack, socket, db] = await Promise.all([FakeSlack.start({ botToken: BOT_TOKEN }), FakeSocketMode.start(), createTestDatabase()]);
  slack.acceptSocketMode(APP_TOKEN, () => socket.connectionUrl());
  policyFile = join(mkdtempSync(join(tmpdir(), 'latch-socket-')), 'policy.yaml');
  writeFileSync(policyFile, PROD_DB_POLICY_YAML);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((latch) => latch.kill()));
  slack.reset();
});
afterAll(async () => {
  await Promise.all([slack.close(), socket.close()]);
  await db.drop();
});

async function environment(overrides: Record<string, string | undefined> = {}) {
  return {
    DATABASE_URL: db.url,
    REDIS_URL: inject('redisUrl'),
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_APP_TOKEN: APP_TOKEN,
    SLACK_API_URL: slack.apiUrl,
    LATCH_POLICY_FILE: policyFile,
    TARGET_DB_URL: db.url,
    PORT: String(await freePort()),
    LOG_LEVEL: 'debug',
    ...overrides,
  };
}

async function startLatch(command: 'start' | 'web' | 'worker' = 'start') {
  const env = await environment();
  const latch = new LatchProcess([command], env);
  running.push(latch);
  // Generous: other test files may be starting Latch processes on the same two cores.
  await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
  return { latch, baseUrl: `http://127.0.0.1:${env.PORT}` };
}

async function readiness(baseUrl: string): Promise<{ status: number; checks: Record<string, string> }> {
  const response = await fetch(`${baseUrl}/readyz`);
  return { status: response.status, checks: ((await response.json()) as { checks: Record<string, string> }).checks };
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('latch start with SLACK_APP_TOKEN', { timeout: 120_000 }, () => {
  it('connects over Socket Mode, serves Slack there, reports the socket in /readyz and 404s /slack/events', async () => {
    const connectionsBefore = socket.connections;
    const { latch, baseUrl } = await startLatch();
    expect(socket.connections).toBe(connectionsBefore + 1);
    expect(slack.callsTo('apps.connections.open')).toEqual([expect.objectContaining({ token: APP_TOKEN })]);

    expect(await readiness(baseUrl)).toEqual({ status: 200, checks: { postgres: 'ok', redis: 'ok', policy: 'ok', slackSocket: 'ok' } });
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${baseUrl}/metrics`)).status).toBe(200);

    const body = JSON.stringify({ type: 'url_verification', challenge: 'x' });
    const overHttp = await postSignedToSlackApp(`${baseUrl}/slack/events`, body, { signingSecret: SIGNING_SECRET });
    expect(overHttp.status).toBe(404);
    expect(await overHttp.text()).toMatch(/Socket Mode/);

    const sender = new SlackSender(`${baseUrl}/slack/events`, SIGNING_SECRET, (id) => slack.responseUrl(id), overSocketMode(socket));
    expect((await sender.command('U0REQUESTER')).status).toBe(200);
    await slack.waitForCall('views.open');
    // What is logged while handling an envelope carries its id, as a request's lines carry theirs.
    const envelopeId = socket.sent.at(-1)!.envelope_id;
    await latch.waitForLog((line) => line.requestId === envelopeId);

    await latch.kill('SIGTERM');
    expect((await latch.exited).code).toBe(0);
    await socket.waitForDisconnection();
    expect(socket.envelopesNotAckedOnce()).toEqual([]);
    expect(latch.stdout + latch.stderr).not.toContain(APP_TOKEN);
  });

  it('reports the socket not ready while Slack has it reconnect, and ready again once it has', async () => {
    const { baseUrl } = await startLatch();
    const connections = socket.connections;
    socket.requestDisconnect('refresh_requested');
    await waitFor(async () => {
      const { status, checks } = await readiness(baseUrl);
      return status === 503 && ['disconnected', 'reconnecting', 'connecting'].includes(checks.slackSocket ?? '');
    });
    await socket.waitForConnection(connections + 1, 30_000);
    await waitFor(async () => (await readiness(baseUrl)).status === 200);
  });

  it('refuses to start, in one line, when Slack refuses the app token', async () => {
    const result = await runLatch(['start'], await environment({ SLACK_APP_TOKEN: 'xapp-1-A0LATCH-7777-revokedToken' }));
    expect(result.code).toBe(78);
    expect(result.stderr.trim().split('\n')).toEqual([
      'latch: SLACK_APP_TOKEN was refused by Slack (apps.connections.open: invalid_auth): it is not a valid app-level token of this Slack app (Basic Information → App-Level Tokens)',
    ]);
  });

  it('never opens a socket in `latch worker`', async () => {
    const connectionsBefore = socket.connections;
    const { baseUrl } = await startLatch('worker');
    expect(slack.callsTo('apps.connections.open')).toEqual([]);
    expect(socket.connections).toBe(connectionsBefore);
    expect((await readiness(baseUrl)).checks).not.toHaveProperty('slackSocket');
  });
});
