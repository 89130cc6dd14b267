import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import type { App } from '@slack/bolt';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { LatchMetrics } from '../../../src/metrics/latch-metrics.ts';
import { createSlackApp, SLACK_EVENTS_PATH } from '../../../src/slack/app.ts';
import { portOf, startHttpServer } from '../../../src/slack/http-server.ts';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { testSeenSignatures } from '../../helpers/seen-signatures.ts';
import { postSignedToSlackApp, slashCommandBody } from '../../../tools/sandbox/slack-signing.ts';

/**
 * The real Bolt app, served over HTTP by Latch's server, receiving requests signed as Slack signs
 * them, and calling the fake Web API: the arrangement every Slack feature's tests build on.
 */

const SIGNING_SECRET = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const BOT_TOKEN = 'xoxb-4444-5555-boltTestBotToken';

let slack: FakeSlack;
let app: App;
let server: Server;
let eventsUrl: string;
const logLines: Array<Record<string, unknown>> = [];
const outcomes: Array<{ ok: boolean; error?: string }> = [];

let replays: ReturnType<typeof testSeenSignatures>;

beforeAll(async () => {
  replays = testSeenSignatures();
  slack = await FakeSlack.start({ botToken: BOT_TOKEN });
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger({ level: 'info', destination, secrets: [BOT_TOKEN, SIGNING_SECRET] });
  const slackApp = createSlackApp({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, apiUrl: slack.apiUrl, logger, seenSignatures: replays.seen });
  app = slackApp.app;
  await app.init();
  // A listener standing in for a feature: ack, then answer through the Web API.
  app.command('/echo', async ({ ack, command, client }) => {
    await ack();
    logger.info({ command: command.command }, 'echoing');
    try {
      await client.chat.postMessage({ channel: command.channel_id, text: `you said: ${command.text}` });
      outcomes.push({ ok: true });
    } catch (error) {
      outcomes.push({ ok: false, error: (error as { data?: { error?: string } }).data?.error });
    }
  });
  server = await startHttpServer({ port: 0, host: '127.0.0.1', slack: slackApp.transport.requestListener, logger });
  eventsUrl = `http://127.0.0.1:${portOf(server)}${SLACK_EVENTS_PATH}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await slack.close();
  await replays.close();
});

beforeEach(() => {
  outcomes.length = 0;
  logLines.length = 0;
  slack.reset();
});

function echo(text: string, channel = 'C0ECHO') {
  const body = slashCommandBody({ command: '/echo', text, user_id: 'U1', channel_id: channel, team_id: 'T0FAKE', trigger_id: '1.2.3' });
  return postSignedToSlackApp(eventsUrl, body, { signingSecret: SIGNING_SECRET });
}

async function settled(count = 1) {
  const deadline = Date.now() + 10_000;
  while (outcomes.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return outcomes;
}

describe('Bolt behind Latch, talking to the fake Slack', () => {
  it('acknowledges a signed slash command and posts through the Web API with the bot token', async () => {
    const response = await echo('hello');
    expect(response.status).toBe(200);
    expect(await settled()).toEqual([{ ok: true }]);
    expect(slack.callsTo('chat.postMessage')).toEqual([
      expect.objectContaining({ token: BOT_TOKEN, args: expect.objectContaining({ channel: 'C0ECHO', text: 'you said: hello' }) }),
    ]);
  });

  it("carries the HTTP request's id onto lines logged inside the listener", async () => {
    const response = await echo('trace me');
    await settled();
    const requestId = response.headers.get('x-request-id');
    expect(logLines.find((line) => line.msg === 'echoing')).toMatchObject({ requestId });
  });

  it("surfaces Slack's ok: false as an error the listener can read", async () => {
    slack.failOnce('chat.postMessage', 'channel_not_found');
    await echo('nowhere');
    expect(await settled()).toEqual([{ ok: false, error: 'channel_not_found' }]);
  });

  it('waits out HTTP 429 for Retry-After seconds, then delivers the message once', async () => {
    slack.rateLimitOnce('chat.postMessage', 1);
    await echo('patience');
    expect(await settled()).toEqual([{ ok: true }]);
    const [limited, delivered] = slack.callsTo('chat.postMessage');
    expect(delivered!.at.getTime() - limited!.at.getTime()).toBeGreaterThanOrEqual(900);
    expect(slack.callsTo('chat.postMessage')).toHaveLength(2);
  });

  it("counts a 429 and Slack's error codes by method, for calls made from a listener's own client", async () => {
    // An app of its own, with metrics; the database gauges are not what this test reads.
    const metrics = new LatchMetrics({ db: { pool: { query: async () => ({ rows: [] }) } as never }, queues: [], logger: createLogger({ level: 'silent' }) });
    const countedReplays = testSeenSignatures();
    onTestFinished(() => countedReplays.close());
    const counted = createSlackApp({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, apiUrl: slack.apiUrl, logger: createLogger({ level: 'silent' }), metrics, seenSignatures: countedReplays.seen });
    await counted.app.init();
    const posted: string[] = [];
    counted.app.command('/echo', async ({ ack, command, client }) => {
      await ack();
      await client.chat.postMessage({ channel: command.channel_id, text: command.text }).then(
        () => posted.push('ok'),
        (error: { data?: { error?: string } }) => posted.push(error.data?.error ?? 'error'),
      );
    });
    const countedServer = await startHttpServer({ port: 0, host: '127.0.0.1', slack: counted.transport.requestListener, logger: createLogger({ level: 'silent' }) });
    const send = (text: string) =>
      postSignedToSlackApp(
        `http://127.0.0.1:${portOf(countedServer)}${SLACK_EVENTS_PATH}`,
        slashCommandBody({ command: '/echo', text, user_id: 'U1', channel_id: 'C0ECHO', team_id: 'T0FAKE', trigger_id: '1.2.3' }),
        { signingSecret: SIGNING_SECRET },
      );
    const line = async (series: string) => (await metrics.scrape()).body.split('\n').find((l) => l.startsWith(`${series} `));
    try {
      slack.rateLimitOnce('chat.postMessage', 1);
      await send('patience');
      await expect.poll(() => posted, { timeout: 10_000 }).toEqual(['ok']);
      expect(await line('latch_slack_rate_limited_total{method="chat.postMessage"}')).toMatch(/ 1$/);
      expect(await line('latch_slack_api_errors_total{method="chat.postMessage",error="channel_not_found"}')).toBeUndefined();

      slack.failOnce('chat.postMessage', 'channel_not_found');
      await send('nowhere');
      await expect.poll(() => posted, { timeout: 10_000 }).toEqual(['ok', 'channel_not_found']);
      expect(await line('latch_slack_api_errors_total{method="chat.postMessage",error="channel_not_found"}')).toMatch(/ 1$/);
      expect(await line('latch_slack_rate_limited_total{method="chat.postMessage"}')).toMatch(/ 1$/);
    } finally {
      countedServer.closeAllConnections();
      await new Promise((resolve) => countedServer.close(resolve));
    }
  });

  it('refuses a request signed with another secret before any listener runs', async () => {
    const body = slashCommandBody({ command: '/echo', text: 'forged', user_id: 'U1', channel_id: 'C0ECHO' });
    const response = await postSignedToSlackApp(eventsUrl, body, { signingSecret: 'someone-elses-secret' });
    expect(response.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(outcomes).toEqual([]);
    expect(slack.callsTo('chat.postMessage')).toEqual([]);
  });
});
