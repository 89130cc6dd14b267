import { request } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import { freePort } from '../../helpers/free-port.ts';
import { LatchProcess } from '../../helpers/latch-process.ts';
import { SlackSender } from '../../helpers/slack-sender.ts';
import { interactionBody, postSignedToSlackApp, slackSignatureHeaders } from '../../../tools/sandbox/slack-signing.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { PROD_DB_POLICY_YAML } from '../../helpers/test-policy.ts';

// A real `latch start` process takes a battery of hostile requests: odd methods, paths and query
// strings, malformed request targets, bodies over the limit, broken encodings, bad signatures.
// Each gets a plain 4xx (or what Slack's protocol says), never a 5xx, and afterwards the same
// process still answers its probes and serves a signed slash command.

const SIGNING_SECRET = 'f00dfeedf00dfeedf00dfeedf00dfeed';
const BOT_TOKEN = 'xoxb-7777-8888-hostileTestBotToken';
const LIMIT = 1024 * 1024;


let slack: FakeSlack;
let db: TestDatabase;
let latch: LatchProcess;
let port: number;
let baseUrl: string;

beforeAll(async () => {
  slack = await FakeSlack.start({ botToken: BOT_TOKEN });
  db = await createTestDatabase();
  const policyFile = join(mkdtempSync(join(tmpdir(), 'latch-hostile-')), 'policy.yaml');
  writeFileSync(policyFile, PROD_DB_POLICY_YAML);
  port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  latch = new LatchProcess(['start'], {
    DATABASE_URL: db.url,
    REDIS_URL: inject('redisUrl'),
    LATCH_QUEUE_PREFIX: `latch-hostile-${process.pid}`,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    LATCH_POLICY_FILE: policyFile,
    TARGET_DB_URL: db.url,
    PORT: String(port),
    LOG_LEVEL: 'info',
  });
  // Generous: other test files may be starting Latch processes on the same two cores.
  await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
}, 90_000);

afterAll(async () => {
  await latch?.kill();
  await slack?.close();
  await db?.drop();
});

/** Sends `text` as it is on a fresh connection and gives back the status of the answer (null: none). */
function raw(text: string | Buffer): Promise<{ status: number | null; answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    // A server that answers and closes while the request is still arriving makes TCP reset the
    // connection: what was read by then is the answer (possibly none).
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? undefined : reject(error)));
    socket.on('close', () => {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
      resolve({ status: status ? Number(status[1]) : null, answer });
    });
    socket.setTimeout(10_000, () => socket.destroy());
    socket.end(text);
  });
}

/** A request line and headers, closing the connection after the answer. */
function requestText(requestLine: string, headers: Record<string, string> = {}, body = ''): string {
  const lines = [requestLine, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Signed as Slack signs it, with the headers given on top. */
function signed(body: string, contentType: string, extra: Record<string, string> = {}) {
  return postSignedToSlackApp(`${baseUrl}/slack/events`, body, { signingSecret: SIGNING_SECRET, contentType, headers: extra });
}

/**
 * Streams a body of `total` bytes without a Content-Length (chunked), and gives back the status
 * Latch answered with and how much had been sent by then. A connection Latch closes while the
 * client is still writing can be reset before the client reads the 413 (TCP discards what it had
 * received): that is a status of null, with what had been sent when the reset came.
 */
function chunkedUpload(total: number, headers: Record<string, string>): Promise<{ status: number | null; sentWhenAnswered: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/slack/events', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
      const sentWhenAnswered = sent;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, sentWhenAnswered }));
      req.destroy();
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (sent >= total) return;
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') resolve({ status: null, sentWhenAnswered: sent });
      else reject(error);
    });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const pump = () => {
      while (sent < total && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!req.destroyed) req.end();
    };
    pump();
  });
}

describe('a latch start process under hostile requests', { timeout: 120_000 }, () => {
  it('answers requests it does not serve with a plain 404 or 405, probes with or without a query', async () => {
    const cases: Array<[method: string, path: string, status: number, allow?: string]> = [
      ['GET', '/', 404],
      ['HEAD', '/healthz', 200],
      ['GET', '/healthz?probe=1&x', 200],
      ['GET', '/slack/events', 405, 'POST'],
      ['HEAD', '/slack/events', 405, 'POST'],
      ['PUT', '/slack/events?x=1', 405, 'POST'],
      ['GET', '/metrics?x=1', 200],
      ['HEAD', '/readyz', 200],
      ['POST', '/healthz', 405, 'GET, HEAD'],
      ['DELETE', '/readyz', 405, 'GET, HEAD'],
      ['PATCH', '/metrics', 405, 'GET, HEAD'],
      ['OPTIONS', '/', 404],
      ['GET', '/slack/install', 404],
      ['GET', '/slack/events/', 404],
      ['POST', '/slack/oauth_redirect?code=1', 404],
      ['GET', '/favicon.ico', 404],
    ];
    for (const [method, path, status, allow] of cases) {
      const response = await fetch(`${baseUrl}${path}`, { method, ...(method === 'POST' || method === 'PUT' ? { body: '{}' } : {}) });
      await response.arrayBuffer();
      expect({ method, path, status: response.status, allow: response.headers.get('allow') ?? undefined }).toEqual({ method, path, status, allow });
    }
  });

  it('answers malformed and oversized request targets with a 4xx', async () => {
    // Node refuses some before Latch sees them (400, 431); Latch answers the rest: none is ours.
    const targets: Array<[target: string, status: number]> = [
      ['GET // HTTP/1.1', 404],
      ['GET //healthz HTTP/1.1', 404],
      ['GET % HTTP/1.1', 400],
      ['GET /%zz?%%%=%G0 HTTP/1.1', 404],
      ['GET /slack/events/../healthz HTTP/1.1', 404],
      ['OPTIONS * HTTP/1.1', 400],
      ['GET ?x=1 HTTP/1.1', 400],
      [`GET /${'a'.repeat(8_000)} HTTP/1.1`, 404],
      ['BREW /pot HTTP/1.1', 400],
      ['GET /\u0000 HTTP/1.1', 400],
      ['GET http://[::1 HTTP/1.1', 400],
      ['POST http://evil.example/metrics HTTP/1.1', 405],
      ['GET /healthz HTTP/9.9', 400],
    ];
    const answered = [];
    for (const [target] of targets) answered.push([target, (await raw(requestText(target))).status]);
    expect(answered).toEqual(targets);
    // Node refuses a request line over its header limit at once, often while the rest is still
    // being sent: the 431 can be lost in the reset that follows.
    expect([431, null]).toContain((await raw(requestText(`GET /${'a'.repeat(100_000)} HTTP/1.1`))).status);
    // A probe's path is served whatever its query, however long; so is the absolute form of it.
    expect((await raw(requestText(`GET /healthz?${'q'.repeat(8_000)} HTTP/1.1`))).status).toBe(200);
    expect((await raw('hello there\r\n\r\n')).status).toBe(400);
    expect((await raw(requestText('GET http://latch.example/healthz HTTP/1.1'))).status).toBe(200);
  });

  it('refuses a body over the limit before reading it, with or without a Content-Length', async () => {
    const headers = { 'content-type': 'application/json', ...slackSignatureHeaders('{}', SIGNING_SECRET) };
    // Announced too large: answered at once, though not one byte of the body was sent.
    const announced = await raw(requestText('POST /slack/events HTTP/1.1', { ...headers, 'content-length': String(50 * LIMIT) }));
    expect(announced.status).toBe(413);
    // Chunked: dropped once past the limit, long before the 16 MiB being sent have all gone.
    const streamed = await chunkedUpload(16 * LIMIT, headers);
    expect([413, null]).toContain(streamed.status);
    expect(streamed.sentWhenAnswered).toBeLessThan(16 * LIMIT);
    // Just under the limit is read (and then refused for its signature, being junk).
    const under = await fetch(`${baseUrl}/slack/events`, { method: 'POST', headers, body: `{"pad":"${'a'.repeat(LIMIT - 20)}"}` });
    expect(under.status).toBe(401);
    const lying = await raw(requestText('POST /slack/events HTTP/1.1', { ...headers, 'content-length': '10' }, '{}'));
    expect(lying.status === null || (lying.status >= 400 && lying.status < 500)).toBe(true);
  });

  it('refuses broken encodings and bodies Slack never sends, signed or not', async () => {
    const bad: Array<[what: string, response: Promise<Response>, status: number]> = [
      ['gzip', signed('{"type":"event_callback"}', 'application/json', { 'content-encoding': 'gzip' }), 415],
      ['unknown encoding', signed('{}', 'application/json', { 'content-encoding': 'br, zstd' }), 415],
      ['text/plain', signed('{}', 'text/plain'), 415],
      ['no content type', fetch(`${baseUrl}/slack/events`, { method: 'POST', body: new Uint8Array([123, 125]) }), 415],
      ['bad JSON, signed', signed('{"type": "event_callback", ', 'application/json'), 400],
      ['JSON null, signed', signed('null', 'application/json'), 400],
      ['JSON array, signed', signed('[1,2]', 'application/json'), 400],
      ['JSON string, signed', signed('"x"', 'application/json'), 400],
      ['payload not JSON, signed', signed('payload=%7Bnot+json', 'application/x-www-form-urlencoded'), 400],
      ['payload null, signed', signed(interactionBody(null), 'application/x-www-form-urlencoded'), 400],
      // Read leniently as a command Latch does not have: Bolt answers 404 once nothing acked it.
      ['bad percent-encoding, signed', signed('command=%E0%A4%A&text=%%%&team_id=T0FAKE&api_app_id=A0LATCH', 'application/x-www-form-urlencoded'), 404],
      // Signed, but from another workspace: acknowledged (Slack must not retry it) and dropped.
      ['another workspace, signed', signed('command=%2Frequest-access&team_id=T0OTHER&api_app_id=A0LATCH&user_id=U0REQUESTER&trigger_id=1.2', 'application/x-www-form-urlencoded'), 200],
      ['form with a charset, signed', signed('command=%2Frequest-access', 'application/x-www-form-urlencoded; charset=utf-8'), 400],
      ['unsigned', fetch(`${baseUrl}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"url_verification","challenge":"x"}' }), 401],
      ['forged', postSignedToSlackApp(`${baseUrl}/slack/events`, '{"type":"url_verification","challenge":"x"}', { signingSecret: 'wrong-secret' }), 401],
      ['stale', postSignedToSlackApp(`${baseUrl}/slack/events`, '{"type":"url_verification","challenge":"x"}', { signingSecret: SIGNING_SECRET, timestamp: Math.floor(Date.now() / 1000) - 301 }), 401],
      ['future', postSignedToSlackApp(`${baseUrl}/slack/events`, '{"type":"url_verification","challenge":"x"}', { signingSecret: SIGNING_SECRET, timestamp: Math.floor(Date.now() / 1000) + 3600 }), 401],
      ['timestamp not a number', signed('{}', 'application/json', { 'x-slack-request-timestamp': 'soon' }), 401],
      ['signature not v0', signed('{}', 'application/json', { 'x-slack-signature': 'v1=abc' }), 401],
    ];
    for (const [what, pending, status] of bad) {
      const response = await pending;
      await response.arrayBuffer();
      expect({ what, status: response.status }).toEqual({ what, status });
    }
    // Bytes that are not UTF-8, signed over those very bytes.
    const invalidUtf8 = Buffer.concat([Buffer.from('{"type":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const { createHmac } = await import('node:crypto');
    const signature = `v0=${createHmac('sha256', SIGNING_SECRET).update(Buffer.concat([Buffer.from(`v0:${timestamp}:`), invalidUtf8])).digest('hex')}`;
    const utf8 = await fetch(`${baseUrl}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature },
      body: invalidUtf8,
    });
    expect(utf8.status).toBe(400);
  });

  it('answers hostile calls to /api/v1 and /mcp with a problem, never a 5xx or a stack trace', async () => {
    const api = (path: string, init: RequestInit = {}) => fetch(`${baseUrl}/api/v1${path}`, init);
    const json = { 'content-type': 'application/json' };
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const fakeToken = `latch_${'0'.repeat(32)}_${'A'.repeat(43)}`;
    const cases: Array<[what: string, response: Promise<Response>, status: number]> = [
      ['no token', api('/access'), 401],
      ['basic auth', api('/access', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } }), 401],
      ['a token of no row', api('/access', { headers: bearer(fakeToken) }), 401],
      ['a token with a SQL id', api('/access', { headers: bearer("latch_0'||1--_x") }), 401],
      ['a huge header token', api('/access', { headers: bearer(`latch_${'a'.repeat(6_000)}`) }), 401],
      ['an unknown route', api('/admin'), 404],
      ['a wrong method', api('/requests', { method: 'DELETE', headers: bearer(fakeToken) }), 405],
      ['an encoded traversal', api('/requests/..%2F..%2Fmetrics', { headers: bearer(fakeToken) }), 401],
      ['a body over 16 KiB', api('/requests', { method: 'POST', headers: { ...json, ...bearer(fakeToken) }, body: `{"reason":"${'x'.repeat(40_000)}"}` }), 401],
      ['logins: not JSON', api('/logins', { method: 'POST', headers: json, body: '{"client":' }), 400],
      ['logins: a form', api('/logins', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client=x' }), 415],
      ['logins: GET', api('/logins'), 405],
      ['logins: a body over 16 KiB', api('/logins', { method: 'POST', headers: json, body: `{"client":"${'x'.repeat(40_000)}"}` }), 413],
      ['login token: a guessed device code', api('/logins/token', { method: 'POST', headers: json, body: '{"deviceCode":"latchdevice_AAAA"}' }), 400],
      ['login token: a device code of another type', api('/logins/token', { method: 'POST', headers: json, body: '{"deviceCode":["x"]}' }), 422],
      ['login token: JSON null', api('/logins/token', { method: 'POST', headers: json, body: 'null' }), 422],
      ['logout without a token', api('/logout', { method: 'POST' }), 401],
      ['oidc: not a JWT', api('/oidc/token', { method: 'POST', headers: json, body: '{"token":"not.a.jwt"}' }), 401],
      ['mcp: no token', fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { ...json, accept: 'application/json, text/event-stream' }, body: '{}' }), 401],
      ['mcp: a browser origin', fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { ...json, ...bearer(fakeToken), origin: 'https://evil.example', accept: 'application/json, text/event-stream' }, body: '{}' }), 403],
    ];
    for (const [what, pending, status] of cases) {
      const response = await pending;
      const text = await response.text();
      expect({ what, status: response.status }).toEqual({ what, status });
      expect(text, what).not.toMatch(/at .+\.(ts|js):\d+|Prisma|pg_|SELECT /);
      if (!what.startsWith('mcp')) expect({ what, type: response.headers.get('content-type') }).toEqual({ what, type: 'application/problem+json' });
    }
  });

  it('is still alive afterwards: /healthz answers and a signed slash command is served', async () => {
    expect(await Promise.race([latch.exited.then(() => 'exited'), new Promise((resolve) => setTimeout(() => resolve('running'), 200))])).toBe('running');
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${baseUrl}/readyz`)).status).toBe(200);
    const sender = new SlackSender(`${baseUrl}/slack/events`, SIGNING_SECRET, (id) => slack.responseUrl(id));
    expect((await sender.command('U0REQUESTER', '')).status).toBe(200);
    const open = await slack.waitForCall('views.open');
    expect(JSON.stringify(open.args.view)).toContain('Production database');
    // Nothing in the battery was a server error.
    const serverErrors = latch.logLines().filter((line) => line.msg === 'http request' && Number(line.status) >= 500);
    expect(serverErrors).toEqual([]);
    // Refusals are logged at warn, naming why, never with what was typed.
    const warnings = latch.logLines().filter((line) => line.level === 'warn').map((line) => String(line.msg));
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^refused a Slack request: it is from another workspace/), expect.stringMatching(/^refused an unverified request/), expect.stringMatching(/over the limit/)]));
    expect(latch.stderr).toBe('');
  });
});
