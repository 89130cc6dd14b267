import { connect, type Socket } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.ts';
import { drainHttpServer, HTTP_TIMEOUTS, portOf, startHttpServer, type HttpTimeouts } from '../../../src/slack/http-server.ts';
import { readLimitedBody } from '../../../src/slack/request-body.ts';

/**
 * Latch's HTTP server bounds how long a client may take to send its request, so a client that
 * sends slowly (slow-loris) holds a connection for seconds, not minutes; and it does not bound how
 * long Latch takes to answer, since the API's and MCP's waits for a decision answer after up to a
 * minute. Real sockets on loopback, with the bounds shortened so the test sees them act: 0.5 s for
 * the headers, 1 s for the whole request, looked at every 100 ms.
 */

const SHORT: HttpTimeouts = { headersMs: 500, requestMs: 1_000, checkEveryMs: 100, keepAliveMs: HTTP_TIMEOUTS.keepAliveMs };
/** What the check's interval and a loaded machine's scheduling may add to a bound. */
const LATE_MS = 700;
const WAIT_MS = 2_500;

let server: Server | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  if (server) await drainHttpServer(server);
  server = undefined;
});

/**
 * A server like `latch web`'s: `/api/v1/echo` reads the body as the API does and answers it,
 * `/api/v1/wait` answers after WAIT_MS (after reading the body, if any), as a long-poll does.
 */
async function start(timeouts?: HttpTimeouts): Promise<number> {
  server = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    logger: createLogger({ level: 'silent' }),
    ...(timeouts ? { timeouts } : {}),
    api: {
      prefix: '/api/v1',
      serve: async (req, res) => {
        const read = req.method === 'POST' ? await readLimitedBody(req, 16 * 1024) : { ok: true as const, text: '' };
        if (!read.ok) return void res.writeHead(read.status).end();
        if (req.url === '/api/v1/wait') await new Promise((resolve) => setTimeout(resolve, WAIT_MS));
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`got ${read.text.length} bytes`);
      },
    },
  });
  return portOf(server);
}

/** A raw connection: what it received, and when it was closed (ms after it opened). */
async function open(port: number): Promise<{ socket: Socket; received: () => string; closedAfterMs: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  const openedAt = Date.now();
  const closedAfterMs = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - openedAt)));
  return { socket, received: () => received, closedAfterMs };
}

/** Sends `text` a byte at a time, every `everyMs`, until it is all sent or the socket is closed. */
function trickle(socket: Socket, text: string, everyMs: number): void {
  let sent = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || sent >= text.length) return clearInterval(timer);
    socket.write(text[sent++]!);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

const postHeaders = (path: string, length: number) => `POST ${path} HTTP/1.1\r\nHost: latch\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

describe("Latch's HTTP server, against a client that sends slowly", () => {
  it('cuts off a client that sends its headers and then trickles its body, once the request bound passes', async () => {
    const port = await start(SHORT);
    const { socket, received, closedAfterMs } = await open(port);
    socket.write(postHeaders('/api/v1/echo', 200));
    // 200 bytes, one every 50 ms: 10 s to send them all, if it were let.
    trickle(socket, `"${'x'.repeat(198)}"`, 50);
    const after = await closedAfterMs;
    expect(after).toBeGreaterThanOrEqual(SHORT.requestMs - 50);
    expect(after).toBeLessThan(SHORT.requestMs + LATE_MS);
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('cuts off a client that trickles its headers, once the headers bound passes', async () => {
    const port = await start(SHORT);
    const { socket, received, closedAfterMs } = await open(port);
    trickle(socket, `GET /healthz HTTP/1.1\r\nHost: latch\r\nX-Padding: ${'p'.repeat(200)}\r\n\r\n`, 20);
    const after = await closedAfterMs;
    expect(after).toBeLessThan(SHORT.headersMs + LATE_MS);
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection on which nothing is ever sent, once the headers bound passes', async () => {
    const port = await start(SHORT);
    const { closedAfterMs } = await open(port);
    expect(await closedAfterMs).toBeLessThan(SHORT.headersMs + LATE_MS);
  });

  it('still answers everyone else while a slow client is being cut off', async () => {
    const port = await start(SHORT);
    const slow = await open(port);
    slow.socket.write(postHeaders('/api/v1/echo', 100));
    trickle(slow.socket, `"${'x'.repeat(98)}"`, 50);
    const answer = await fetch(`http://127.0.0.1:${port}/api/v1/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '"hello"' });
    expect(await answer.text()).toBe('got 7 bytes');
    await slow.closedAfterMs;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });
});

describe("Latch's HTTP server, taking its time to answer", () => {
  it('answers a request received in full however long after the request bound its answer takes, as a long-poll does', async () => {
    const port = await start(SHORT);
    const startedAt = Date.now();
    const polled = await fetch(`http://127.0.0.1:${port}/api/v1/wait`);
    expect(polled.status).toBe(200);
    expect(await polled.text()).toBe('got 0 bytes');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(WAIT_MS);
  });

  it('answers a POST whose body arrived, after the request bound, as an MCP wait or a slow ack does', async () => {
    const port = await start(SHORT);
    const answer = await fetch(`http://127.0.0.1:${port}/api/v1/wait`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"wait":60}' });
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('got 11 bytes');
  });

  it('keeps an idle connection past both bounds for the next request, and tells the client for how long', async () => {
    const port = await start(SHORT);
    const { socket, received, closedAfterMs } = await open(port);
    let closed = false;
    void closedAfterMs.then(() => (closed = true));
    socket.write('GET /healthz HTTP/1.1\r\nHost: latch\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, SHORT.requestMs + LATE_MS));
    expect(closed).toBe(false);
    socket.write('GET /healthz HTTP/1.1\r\nHost: latch\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received().match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
    expect(received()).toMatch(/keep-alive: timeout=65/i);
  });
});

describe("Latch's HTTP server's own bounds", () => {
  it('gives 10 s for the headers and 30 s for a request, and keeps an idle connection longer than a load balancer does (60 s)', async () => {
    await start();
    expect({ headers: server!.headersTimeout, request: server!.requestTimeout, keepAlive: server!.keepAliveTimeout }).toEqual({ headers: 10_000, request: 30_000, keepAlive: 65_000 });
  });
});
