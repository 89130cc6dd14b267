import { WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebAPIRequestError, WebClient, WebClientEvent, type WebClientOptions } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSlackApiFetch, type SlackApiMetrics } from '../../../src/slack/slack-api-fetch.ts';
import { SlackWebClient } from '../../../src/slack/slack-web-client.ts';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { freePort } from '../../helpers/free-port.ts';

/**
 * Latch's Web API client (the Slack app's and the directories'): its hot methods skip the
 * WebClient's queue and retry wrapper, and still give what the WebClient gives (results, the same
 * error classes, the metrics through the app's fetch), wait out a 429 for the method that got it,
 * and never post a message a second time after an attempt Slack may have taken.
 */

let slack: FakeSlack;
let counted: string[];
const metrics: SlackApiMetrics = {
  slackApiError: (method, error) => counted.push(`${method} ${error}`),
  slackRateLimited: (method) => counted.push(`${method} 429`),
};
// Retries without the default's seconds of backoff, so a test can see them.
const quickRetries = { retries: 2, minTimeout: 10, maxTimeout: 10 };
const client = (options: WebClientOptions = {}) =>
  new SlackWebClient(slack.botToken, { slackApiUrl: slack.apiUrl, fetch: createSlackApiFetch({ apiUrl: slack.apiUrl, metrics }), retryConfig: quickRetries, ...options });

beforeAll(async () => {
  slack = await FakeSlack.start();
});
afterAll(() => slack.close());
beforeEach(() => {
  slack.reset();
  counted = [];
});

const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*Access request* & <details>' } }];

describe('SlackWebClient', () => {
  it('gives the same result as the WebClient for a message, its blocks arriving as sent', async () => {
    const lean = await client().chat.postMessage({ channel: 'C0GENERAL', text: 'hello', blocks });
    const plain = await new WebClient(slack.botToken, { slackApiUrl: slack.apiUrl }).chat.postMessage({ channel: 'C0GENERAL', text: 'hello', blocks });
    expect(lean).toMatchObject({ ok: true, channel: 'C0GENERAL', message: { text: 'hello', blocks } });
    expect(Object.keys(lean).sort()).toEqual(Object.keys(plain).sort());
    const [leanCall, plainCall] = slack.callsTo('chat.postMessage');
    expect(leanCall!.args).toEqual(plainCall!.args);
    expect(leanCall!.token).toBe(slack.botToken);
  });

  it('reads a profile with users.info, sent as a form', async () => {
    const { user } = await client().users.info({ user: 'U0ALICE' });
    expect(user?.id).toBe('U0ALICE');
    expect(slack.callsTo('users.info')[0]!.args).toEqual({ user: 'U0ALICE' });
  });

  it("throws Slack's ok: false as the WebClient does, and the metrics count it", async () => {
    slack.failOnce('chat.update', 'message_not_found');
    const failure = await client()
      .chat.update({ channel: 'C0GENERAL', ts: '1.2', text: 'x' })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WebAPIPlatformError);
    expect(failure).toMatchObject({ code: 'slack_webapi_platform_error', data: { ok: false, error: 'message_not_found' } });
    expect(counted).toEqual(['chat.update message_not_found']);
  });

  it('waits out a 429 for Retry-After, then makes the call once more', async () => {
    slack.rateLimitOnce('chat.postMessage', 1);
    const posted = await client().chat.postMessage({ channel: 'C0GENERAL', text: 'patience' });
    expect(posted.ok).toBe(true);
    const [limited, delivered] = slack.callsTo('chat.postMessage');
    expect(delivered!.at.getTime() - limited!.at.getTime()).toBeGreaterThanOrEqual(900);
    expect(slack.callsTo('chat.postMessage')).toHaveLength(2);
    expect(counted).toEqual(['chat.postMessage 429']);
  });

  it('holds back the rate-limited method only: other methods go on while it waits', async () => {
    const lean = client();
    const { ts } = await lean.chat.postMessage({ channel: 'C0GENERAL', text: 'to update' });
    slack.rateLimitOnce('chat.postMessage', 2);
    const toldOfLimit = new Promise<number>((resolve) => lean.once(WebClientEvent.RATE_LIMITED, resolve));
    const posting = lean.chat.postMessage({ channel: 'C0GENERAL', text: 'later' });
    const limited = await slack.waitForCall('chat.postMessage', (call) => call.args.text === 'later');
    // Once the 429 is in (the client says so, as the WebClient does), a second post waits for the same Retry-After; an update does not.
    expect(await toldOfLimit).toBe(2);
    const secondPost = lean.chat.postMessage({ channel: 'C0GENERAL', text: 'also later' });
    expect((await lean.chat.update({ channel: 'C0GENERAL', ts: ts!, text: 'updated' })).ok).toBe(true);
    expect(slack.callsTo('chat.postMessage').map((call) => call.args.text)).toEqual(['to update', 'later']);
    await Promise.all([posting, secondPost]);
    const after = slack.callsTo('chat.postMessage').slice(2);
    expect(after.map((call) => call.args.text).sort()).toEqual(['also later', 'later']);
    for (const call of after) expect(call.at.getTime() - limited.at.getTime()).toBeGreaterThanOrEqual(1_900);
  });

  it('refuses a rate-limited call at once when asked to (the fast client of lookups before an ack)', async () => {
    slack.rateLimitOnce('users.info', 30);
    await expect(client({ rejectRateLimitedCalls: true }).users.info({ user: 'U0ALICE' })).rejects.toSatisfy(
      (error) => error instanceof WebAPIRateLimitedError && error.retryAfter === 30,
    );
    expect(slack.callsTo('users.info')).toHaveLength(1);
  });

  it('makes an update again after an HTTP error, with the configured backoff', async () => {
    const { ts } = await client().chat.postMessage({ channel: 'C0GENERAL', text: 'v1' });
    slack.replyOnce('chat.update', { status: 503, body: 'upstream unavailable' });
    const updated = await client().chat.update({ channel: 'C0GENERAL', ts: ts!, text: 'v2' });
    expect(updated.ok).toBe(true);
    expect(slack.callsTo('chat.update')).toHaveLength(2);
    expect(counted).toEqual(['chat.update http_503']);
  });

  it('never posts a message again after an HTTP error: Slack may have posted it', async () => {
    slack.replyOnce('chat.postMessage', { status: 503, body: 'upstream unavailable' });
    const failure = await client()
      .chat.postMessage({ channel: 'C0GENERAL', text: 'once at most' })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WebAPIHTTPError);
    expect(failure).toMatchObject({ code: 'slack_webapi_http_error', statusCode: 503, body: 'upstream unavailable' });
    expect(slack.callsTo('chat.postMessage')).toHaveLength(1);
  });

  it('gives up on a server that never answers with a request error, after its retries (a post too: it never reached Slack)', async () => {
    const apiUrl = `http://127.0.0.1:${await freePort()}/api/`;
    const unreachable = new SlackWebClient('xoxb-1', { slackApiUrl: apiUrl, fetch: createSlackApiFetch({ apiUrl, metrics }), retryConfig: quickRetries, logger: silentLogger });
    const failure = await unreachable.chat.postMessage({ channel: 'C0GENERAL', text: 'x' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WebAPIRequestError);
    expect(failure).toMatchObject({ code: 'slack_webapi_request_error' });
    expect(counted).toEqual(Array.from({ length: 3 }, () => 'chat.postMessage request_failed'));
  });

  it('leaves every other method, and a call with a token of its own, to the WebClient', async () => {
    expect(await client().auth.test()).toMatchObject({ ok: true, team_id: slack.teamId });
    await expect(client().chat.postMessage({ channel: 'C0GENERAL', text: 'x', token: 'xoxb-someone-else' })).rejects.toMatchObject({ data: { error: 'invalid_auth' } });
    expect(slack.callsTo('chat.postMessage')[0]!.token).toBe('xoxb-someone-else');
  });
});

const silentLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, setLevel: () => {}, getLevel: () => 'error' as never, setName: () => {} };
