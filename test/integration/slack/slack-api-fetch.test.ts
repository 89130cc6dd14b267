import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { createSlackApiFetch, type SlackApiMetrics } from '../../../src/slack/slack-api-fetch.ts';
import { SlackWebClient } from '../../../src/slack/slack-web-client.ts';
import { SlackUsergroupDirectory } from '../../../src/slack/usergroup-directory.ts';
import { slackErrorIn } from '../../../src/slack/web-api-response.ts';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { freePort } from '../../helpers/free-port.ts';

/**
 * The fetch Latch's Web API clients use (pooled connections, each answer read once): the client
 * gets the same results and errors as through Node's fetch, and the metrics count failures and
 * 429s by method from the status and the answer's text, without parsing it a second time.
 */

let slack: FakeSlack;
let counted: string[];
const metrics: SlackApiMetrics = {
  slackApiError: (method, error) => counted.push(`${method} ${error}`),
  slackRateLimited: (method) => counted.push(`${method} 429`),
};
const client = () => new WebClient(slack.botToken, { slackApiUrl: slack.apiUrl, fetch: createSlackApiFetch({ apiUrl: slack.apiUrl, metrics }), retryConfig: { retries: 0 } });

beforeAll(async () => {
  slack = await FakeSlack.start();
});
afterAll(() => slack.close());
beforeEach(() => {
  slack.reset();
  counted = [];
});

describe('createSlackApiFetch', () => {
  it("gives the Web API client Slack's answer and counts nothing when the call succeeds", async () => {
    const posted = await client().chat.postMessage({ channel: 'C0GENERAL', text: 'hello "ok": false' });
    expect(posted.ok).toBe(true);
    expect(posted.message?.text).toBe('hello "ok": false');
    expect(slack.callsTo('chat.postMessage')[0]!.args.text).toBe('hello "ok": false');
    expect(counted).toEqual([]);
  });

  it("counts Slack's error code by method, and the client still throws it", async () => {
    slack.failOnce('chat.postMessage', 'channel_not_found');
    await expect(client().chat.postMessage({ channel: 'C0NOWHERE', text: 'x' })).rejects.toMatchObject({ data: { ok: false, error: 'channel_not_found' } });
    expect(counted).toEqual(['chat.postMessage channel_not_found']);
  });

  it('counts an HTTP error by its status, and a 429 as rate limited', async () => {
    slack.replyOnce('chat.update', { status: 503, body: 'upstream unavailable' });
    await expect(client().chat.update({ channel: 'C0GENERAL', ts: '1.2', text: 'x' })).rejects.toMatchObject({ code: 'slack_webapi_http_error', statusCode: 503 });
    slack.rateLimitOnce('users.info', 30);
    const impatient = new WebClient(slack.botToken, { slackApiUrl: slack.apiUrl, fetch: createSlackApiFetch({ apiUrl: slack.apiUrl, metrics }), rejectRateLimitedCalls: true });
    await expect(impatient.users.info({ user: 'U1' })).rejects.toMatchObject({ code: 'slack_webapi_rate_limited_error', retryAfter: 30 });
    expect(counted).toEqual(['chat.update http_503', 'users.info 429']);
  });

  it('counts a call that reaches no server as request_failed', async () => {
    const apiUrl = `http://127.0.0.1:${await freePort()}/api/`;
    const unreachable = new WebClient('xoxb-1', { slackApiUrl: apiUrl, fetch: createSlackApiFetch({ apiUrl, metrics }), retryConfig: { retries: 0 } });
    await expect(unreachable.auth.test()).rejects.toMatchObject({ code: 'slack_webapi_request_error' });
    expect(counted).toEqual(['auth.test request_failed']);
  });

  it("counts the fast directory client's calls too (it shares the app's fetch)", async () => {
    slack.rateLimitOnce('usergroups.users.list', 30);
    const fastClient = SlackUsergroupDirectory.fastClient(slack.botToken, slack.apiUrl, createSlackApiFetch({ apiUrl: slack.apiUrl, metrics }));
    expect(await new SlackUsergroupDirectory(fastClient, createLogger({ level: 'silent' })).memberGroups('U1', ['S0DBA'])).toEqual(new Set());
    expect(counted).toEqual(['usergroups.users.list 429']);
  });

  it('delivers posts to a response_url, unobserved (their paths carry tokens)', async () => {
    const fetch = createSlackApiFetch({ apiUrl: slack.apiUrl, metrics });
    const response = await fetch(slack.responseUrl('cmd-1'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'hi' }) });
    expect(response.status).toBe(200);
    expect(response.ok).toBe(true);
    expect(slack.callsTo('response_url')).toMatchObject([{ args: { id: 'cmd-1', text: 'hi' } }]);
    expect(counted).toEqual([]);
  });

  it("answers a used-up response_url's refusal as not ok, for Bolt's respond() to throw", async () => {
    const fetch = createSlackApiFetch({ apiUrl: slack.apiUrl, metrics });
    // Slack takes five posts to a response_url; the sixth is refused with an HTTP error.
    slack.workspace.issueResponseUrl('cmd-2', { userId: 'U1', channel: 'C0GENERAL' });
    const post = () => fetch(slack.responseUrl('cmd-2'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'again' }) });
    for (let i = 0; i < 5; i++) expect((await post()).ok).toBe(true);
    const response = await post();
    expect(response.ok).toBe(false);
    expect(response.status).toBe(404);
    expect(counted).toEqual([]);
  });
});

describe('the connection pool', () => {
  it('opens at most 100 connections to Slack for a burst of calls, the rest waiting their turn', async () => {
    const sockets = new Set<unknown>();
    let inFlight = 0;
    let mostInFlight = 0;
    // Answers each call 50 ms after it arrives, so a burst piles up on the server.
    const server = createServer((req, res) => {
      sockets.add(req.socket);
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      req.resume();
      req.on('end', () =>
        setTimeout(() => {
          inFlight -= 1;
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true,"ts":"1.2"}');
        }, 50),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
    // Latch's client has no queue of its own: the pool is what bounds a burst.
    const burst = new SlackWebClient('xoxb-1', { slackApiUrl: apiUrl, fetch: createSlackApiFetch({ apiUrl, metrics }), retryConfig: { retries: 0 } });
    const results = await Promise.all(Array.from({ length: 150 }, (_, i) => burst.chat.update({ channel: 'C0GENERAL', ts: '1.2', text: `${i}` })));
    expect(results.every((result) => result.ok)).toBe(true);
    expect(sockets.size).toBeLessThanOrEqual(100);
    expect(mostInFlight).toBeLessThanOrEqual(100);
  });
});

describe('slackErrorIn', () => {
  it.each([
    ['{"ok":true,"ts":"1.2"}', null],
    ['{"ok": false, "error": "invalid_auth"}', 'invalid_auth'],
    ['{"ok":false}', 'unknown'],
    // Only the top level says whether the call failed.
    ['{"ok":true,"nested":{"ok":false,"error":"not_me"}}', null],
    // Quotes inside a string value are escaped, so text cannot pass for a failure.
    ['{"ok":true,"text":"\\"ok\\": false"}', null],
    ['<html>Bad gateway "ok":false</html>', null],
  ])('%s → %s', (text, expected) => {
    expect(slackErrorIn(text)).toBe(expected);
  });
});
