import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../../../tools/sandbox/sandbox.ts';
import { freePort } from '../../../helpers/free-port.ts';

/**
 * The sandbox acts as any person of its workspace, so another web page the developer opens must not
 * be able to drive it: not by a cross-site POST, not by a `text/plain` body (which needs no CORS
 * preflight), not by DNS rebinding (a foreign name pointed at 127.0.0.1, seen in the Host header).
 * Real HTTP requests, with the headers a browser would send, to a running sandbox.
 */

const REQUESTER = 'U0REQUESTER';
const CHANNEL = 'C0REQUESTS';
const BOT_TOKEN = 'xoxb-sandbox-cross-site';

let sandbox: RunningSandbox;
let port: number;

beforeAll(async () => {
  sandbox = await startSandbox({
    port: 0,
    // Nothing listens there: these tests never reach Latch.
    latchUrl: `http://127.0.0.1:${await freePort()}/slack/events`,
    signingSecret: 'sandbox-cross-site-secret',
    botToken: BOT_TOKEN,
    users: [{ id: REQUESTER, name: 'riley', realName: 'Riley Requester', email: 'riley@example.com' }],
    channels: [{ id: CHANNEL, name: 'access-requests' }],
    usergroups: [],
  });
  port = Number(new URL(sandbox.url).port);
});

afterAll(async () => {
  await sandbox?.close();
});

interface RawAnswer {
  status: number;
  body: string;
}

/** One HTTP request with exactly these headers (fetch would not let a test set Host). */
function send(method: string, path: string, headers: Record<string, string>, body?: string, toPort = port): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: toPort, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const own = () => ({ host: `127.0.0.1:${port}` });
const say = (text: string) => JSON.stringify({ user: REQUESTER, channel: CHANNEL, text });

async function messagesInChannel(): Promise<string[]> {
  const answer = await send('GET', `/sandbox/api/conversation?user=${REQUESTER}&channel=${CHANNEL}`, own());
  expect(answer.status).toBe(200);
  return (JSON.parse(answer.body) as { messages: Array<{ text: string }> }).messages.map((message) => message.text);
}

describe('the sandbox refuses other web pages', () => {
  it('refuses a POST from another origin, even with a JSON body, and acts on nothing', async () => {
    const answer = await send('POST', '/sandbox/api/messages', { ...own(), origin: 'https://evil.example', 'content-type': 'application/json' }, say('sent by evil.example'));
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toMatchObject({ ok: false, error: expect.stringMatching(/another origin/) });
    // A cross-site HTML form posts as application/x-www-form-urlencoded with its Origin.
    const form = await send('POST', '/sandbox/api/home/open', { ...own(), origin: 'null', 'content-type': 'application/x-www-form-urlencoded' }, `user=${REQUESTER}`);
    expect(form.status).toBe(403);
    expect(await messagesInChannel()).not.toContain('sent by evil.example');
  });

  it('refuses a body that is not application/json (a text/plain fetch needs no preflight)', async () => {
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const answer = await send('POST', '/sandbox/api/messages', { ...own(), 'content-type': type }, say(`as ${type}`));
      expect(answer.status, type).toBe(415);
      expect(JSON.parse(answer.body).error).toMatch(/application\/json/);
    }
    const none = await send('POST', '/sandbox/api/messages', own(), say('no content type'));
    expect(none.status).toBe(415);
    expect((await messagesInChannel()).filter((text) => text.startsWith('as ') || text === 'no content type')).toEqual([]);
  });

  it('refuses a Host header that is not the sandbox (DNS rebinding), for the page, its API and its feed', async () => {
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1:${port + 1}`, `127.0.0.1.evil.example:${port}`]) {
      for (const path of ['/', '/sandbox/api/directory', `/sandbox/api/conversation?user=${REQUESTER}&channel=${CHANNEL}`, '/sandbox/api/log']) {
        const answer = await send('GET', path, { host });
        expect(answer.status, `${host} ${path}`).toBe(403);
        expect(answer.body).not.toContain('riley@example.com');
      }
      const post = await send('POST', '/sandbox/api/messages', { host, 'content-type': 'application/json' }, say(`via ${host}`));
      expect(post.status).toBe(403);
    }
    // Slack's Web API part too: a rebound page could otherwise post as the bot with the demo's token.
    const api = await send('POST', '/api/chat.postMessage', { host: `evil.example:${port}`, 'content-type': 'application/json', authorization: `Bearer ${BOT_TOKEN}` }, JSON.stringify({ channel: CHANNEL, text: 'as the bot' }));
    expect(api.status).toBe(403);
    expect(await messagesInChannel()).toEqual([]);
  });

  it("still serves its own page's requests: same-origin JSON, loopback names, and Latch's Web API calls", async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const page = await send('GET', '/', { host });
      expect(page.status, host).toBe(200);
      const posted = await send('POST', '/sandbox/api/messages', { host, origin: `http://${host}`, 'content-type': 'application/json' }, say(`from the page at ${host}`));
      expect(posted.status, posted.body).toBe(200);
    }
    expect((await messagesInChannel()).filter((text) => text.startsWith('from the page'))).toEqual([`from the page at 127.0.0.1:${port}`, `from the page at localhost:${port}`]);
    // Latch calls the Web API with form bodies and no Origin, as @slack/web-api does.
    const api = await send('POST', '/api/auth.test', { ...own(), 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${BOT_TOKEN}` }, '');
    expect(api.status).toBe(200);
    expect(JSON.parse(api.body)).toMatchObject({ ok: true });
  });

  it('answers another name only when it is allowed (a DNS name of this machine)', async () => {
    const named = await startSandbox({
      port: 0,
      allowedHosts: ['Latch-Demo.example.'],
      latchUrl: `http://127.0.0.1:${await freePort()}/slack/events`,
      signingSecret: 'sandbox-cross-site-secret',
      botToken: BOT_TOKEN,
      users: [{ id: REQUESTER, name: 'riley', realName: 'Riley Requester', email: 'riley@example.com' }],
      channels: [{ id: CHANNEL, name: 'access-requests' }],
      usergroups: [],
    });
    try {
      const namedPort = Number(new URL(named.url).port);
      const host = `latch-demo.example:${namedPort}`;
      const answer = await send('POST', '/sandbox/api/messages', { host, origin: `http://${host}`, 'content-type': 'application/json' }, say('via the allowed name'), namedPort);
      expect(answer.status, answer.body).toBe(200);
      // The allowed name does not open the door to other origins.
      const foreign = await send('POST', '/sandbox/api/messages', { host, origin: 'http://evil.example', 'content-type': 'application/json' }, say('from evil'), namedPort);
      expect(foreign.status).toBe(403);
    } finally {
      await named.close();
    }
  });
});
