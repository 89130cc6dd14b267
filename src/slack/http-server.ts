import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { withLogContext } from '../logging/log-context.ts';
import type { Logger } from '../logging/logger.ts';

// Per server: requests being answered (for shutdown's log), and its drain once begun.
const inProgress = new WeakMap<Server, { inProgress: number }>();
const drains = new WeakMap<Server, Promise<void>>();
const IDLE_CHECK_MS = 100;

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface HttpServerOptions {
  port: number;
  host?: string;
  /** Handles Slack's requests (Bolt's receiver); absent in a worker, which answers only probes. */
  slack?: RequestListener;
  /** Answers `GET /readyz`: 200 when ready, 503 otherwise, with each check in JSON. */
  readiness?: () => Promise<{ ready: boolean; checks: Record<string, string> }>;
  /** Answers `GET /metrics` in Prometheus' text format (LatchMetrics.scrape). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  logger: Logger;
}

/**
 * The HTTP front door: Slack's requests go to Bolt, `GET /healthz` answers that the process is
 * alive, `GET /readyz` whether it can do its work, `GET /metrics` gives Prometheus its numbers.
 * Each request runs in its own log context, so every line logged while handling it, by
 * Latch or by Bolt, carries the same `requestId`.
 */
export async function startHttpServer({ port, host, slack, readiness, metrics, logger }: HttpServerOptions): Promise<Server> {
  const requests = { inProgress: 0 };
  const server = createServer((req, res) => {
    const requestId = randomUUID();
    const startedAt = process.hrtime.bigint();
    requests.inProgress += 1;
    res.once('close', () => (requests.inProgress -= 1));
    withLogContext({ requestId }, () => {
      res.setHeader('x-request-id', requestId);
      // Closed by drainHttpServer, yet a request came on a connection opened before: answer it
      // as a process going away, and have the client reconnect (elsewhere) for the next one.
      const draining = !server.listening;
      if (draining) res.setHeader('connection', 'close');
      res.on('finish', () => {
        const durationMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
        // Probes and scrapes arrive every few seconds; at info they would drown everything else.
        const level = req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' ? 'debug' : 'info';
        logger[level](
          { method: req.method, path: req.url?.split('?')[0], status: res.statusCode, durationMs, slackRetry: req.headers['x-slack-retry-num'] },
          'http request',
        );
      });
      if (req.method === 'GET' && req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      }
      if (draining && req.url !== '/healthz') {
        // Slack retries what was not acknowledged; the work is left to a process that stays.
        const report = { ready: false, checks: { shutdown: 'shutting down' } };
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify(report));
        return;
      }
      if (req.method === 'GET' && req.url === '/readyz' && readiness) {
        void readiness().then(
          (report) => res.writeHead(report.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(report)),
          () => res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: false, checks: {} })),
        );
        return;
      }
      if (req.method === 'GET' && req.url === '/metrics' && metrics) {
        void metrics().then(
          ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
          (error: unknown) => {
            logger.error({ err: error }, 'could not gather the metrics');
            res.writeHead(500, { 'content-type': 'text/plain' }).end('could not gather the metrics\n');
          },
        );
        return;
      }
      if (slack) slack(req, res);
      else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: this process runs jobs only\n');
    });
  });
  inProgress.set(server, requests);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** HTTP requests `server` has received and not finished answering. */
export function requestsInProgress(server: Server): number {
  return inProgress.get(server)?.inProgress ?? 0;
}

/**
 * Stops accepting connections and resolves once every open one has closed: requests already
 * received are answered, a keep-alive connection closes as soon as it is idle (Node closes only
 * those idle at the moment of close(), so this keeps asking), and a request that still arrives on
 * one gets 503 (see startHttpServer). Bolt's listeners may still be working after their ack:
 * waiting for them is the caller's business.
 */
export function drainHttpServer(server: Server): Promise<void> {
  let drained = drains.get(server);
  if (drained) return drained;
  drained = new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const idleCheck = setInterval(() => server.closeIdleConnections(), IDLE_CHECK_MS);
    server.close(() => {
      clearInterval(idleCheck);
      resolve();
    });
    server.closeIdleConnections();
  });
  drains.set(server, drained);
  return drained;
}
