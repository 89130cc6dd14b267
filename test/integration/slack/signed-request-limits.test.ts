import { connect } from 'node:net';
import { request } from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { RedisSeenSignatures } from '../../../src/slack/seen-signatures.ts';
import { LatchHarness, SIGNING_SECRET, TEAM_ID } from '../../helpers/latch-harness.ts';
import { slackSignatureHeaders, slashCommandBody } from '../../../tools/sandbox/slack-signing.ts';
import { testPolicy } from '../../helpers/test-policy.ts';

// Limits on what Slack's endpoint takes over HTTP, through the real Bolt app behind Latch's
// server, with requests signed as Slack signs them: a replayed request is processed once, a
// timestamp from the future is refused, and a body over the limit is refused before it is read.

const REQUESTER = 'U0REQUESTER';
const MIB = 1024 * 1024;

let h: LatchHarness;

beforeAll(async () => {
  h = await LatchHarness.start(testPolicy());
});
afterAll(() => h.close());
beforeEach(() => h.slack.reset());

let commands = 0;
/** `/request-access` with no text: Latch opens the request form (views.open). */
function commandBody(): string {
  commands += 1;
  return slashCommandBody({
    command: '/request-access',
    text: '',
    user_id: REQUESTER,
    team_id: TEAM_ID,
    api_app_id: 'A0LATCH',
    channel_id: 'C0GENERAL',
    trigger_id: `${commands}.${Date.now()}.trigger`,
    response_url: h.slack.responseUrl(`limits-${commands}`),
  });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Waits until Latch has finished with every request it took (the listeners run after their ack). */
const settled = () => h.latch.listenerWork.idle();

describe('a replayed Slack request', () => {
  it('is acknowledged but processed once: the same signed bytes sent again open no second form', async () => {
    const body = commandBody();
    const timestamp = nowSeconds();
    const first = await h.post(body, { timestamp });
    expect(first.status).toBe(200);
    await h.slack.waitForCall('views.open');
    const replayed = await h.post(body, { timestamp });
    expect(replayed.status).toBe(200);
    expect(await replayed.text()).toBe('');
    await settled();
    expect(h.slack.callsTo('views.open')).toHaveLength(1);
  });

  it("is told apart from Slack's own retry, which is signed anew and handled by the listeners", async () => {
    const body = commandBody();
    const timestamp = nowSeconds();
    expect((await h.post(body, { timestamp })).status).toBe(200);
    const retry = await fetch(h.eventsUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout', ...slackSignatureHeaders(body, SIGNING_SECRET, timestamp + 1) },
      body,
    });
    expect(retry.status).toBe(200);
    await settled();
    expect(h.slack.callsTo('views.open')).toHaveLength(2);
  });

  it('is recognised by every process sharing the Redis, and of two copies at once only one is taken', async () => {
    const prefix = `latch-test-replay-${process.pid}-${Date.now()}`;
    const [one, two] = [new Redis(inject('redisUrl')), new Redis(inject('redisUrl'))];
    try {
      const [a, b] = [new RedisSeenSignatures(one, prefix), new RedisSeenSignatures(two, prefix)];
      const signature = `v0=${'ab'.repeat(32)}`;
      const firsts = await Promise.all([a.firstSight(signature, 360), b.firstSight(signature, 360), a.firstSight(signature, 360)]);
      expect(firsts.filter(Boolean)).toHaveLength(1);
      expect(await b.firstSight(`v0=${'cd'.repeat(32)}`, 360)).toBe(true);
      // Remembered as long as a signature's timestamp can be accepted: 5 minutes old, 1 minute ahead.
      const ttl = await one.ttl(`${prefix}:slack-signature:${signature}`);
      expect(ttl).toBeGreaterThan(350);
      expect(ttl).toBeLessThanOrEqual(360);
    } finally {
      await Promise.all([one.quit(), two.quit()]);
    }
  });
});

describe('a Slack request whose signature is written another way', () => {
  it('is refused (upper-case hex, anything appended), so a copy cannot pass the replay check under another key', async () => {
    const body = commandBody();
    const timestamp = nowSeconds();
    const signed = slackSignatureHeaders(body, SIGNING_SECRET, timestamp);
    const hash = signed['x-slack-signature'].slice('v0='.length);
    for (const signature of [`v0=${hash.toUpperCase()}`, `v0=${hash}00`, `v0=${hash}=`, `V0=${hash}`, hash]) {
      const response = await fetch(h.eventsUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature },
        body,
      });
      expect(response.status, signature).toBe(401);
    }
    await settled();
    expect(h.slack.calls).toEqual([]);
    // The same bytes with the signature as Slack wrote it are taken.
    expect((await h.post(body, { timestamp })).status).toBe(200);
    await h.slack.waitForCall('views.open');
  });
});

describe('a Slack request timestamped in the future', () => {
  it('is refused more than a minute ahead, and nothing happens', async () => {
    for (const ahead of [120, 24 * 3600]) {
      const response = await h.post(commandBody(), { timestamp: nowSeconds() + ahead });
      expect(response.status).toBe(401);
    }
    await settled();
    expect(h.slack.calls).toEqual([]);
  });

  it('is taken within a small clock skew', async () => {
    expect((await h.post(commandBody(), { timestamp: nowSeconds() + 30 })).status).toBe(200);
    await h.slack.waitForCall('views.open');
  });
});

describe('a Slack request body over 1 MiB', () => {
  const port = () => Number(new URL(h.eventsUrl).port);
  const headers = () => ({ 'content-type': 'application/json', ...slackSignatureHeaders('{}', SIGNING_SECRET) });

  it('is refused with 413 from its Content-Length alone, before a byte of it is sent', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port(), '127.0.0.1');
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        text += chunk;
        // The status line is enough: the body is never going to be sent.
        if (text.includes('\r\n')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
      const lines = ['POST /slack/events HTTP/1.1', 'Host: 127.0.0.1', `Content-Length: ${2 * MIB}`, ...Object.entries(headers()).map(([k, v]) => `${k}: ${v}`)];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('is dropped once past the limit when sent chunked, without a Content-Length', async () => {
    const total = 2 * MIB;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: port(), method: 'POST', path: '/slack/events', headers: { ...headers(), 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 'a');
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
  });
});
