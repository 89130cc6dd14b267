import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { withLogContext } from '../logging/log-context.ts';
import type { Logger } from '../logging/logger.ts';
import { RefusalLog } from '../logging/refusal-log.ts';
import { wasAuthenticated } from './authenticated-requests.ts';
import { requestPathOf, routeRequest, type Route } from './http-routes.ts';
import { SLACK_EVENTS_PATH } from './slack-transport.ts';

// Per server: requests being answered (for shutdown's log), and its drain once begun.
const inProgress = new WeakMap<Server, { inProgress: number }>();
const drains = new WeakMap<Server, Promise<void>>();
const IDLE_CHECK_MS = 100;

/**
 * How long a client has to send its request, so that nobody holds a connection (a socket, a
 * parser, a place in the process's file descriptors) by sending it slowly. Node's defaults allow
 * 60 s for the headers and 300 s for the whole request, checked every 30 s.
 * - headersMs: from the connection's first moment (or, on a kept-alive one, the request's first
 *   byte) to its last header. A proxy, Slack or a CLI sends its headers in one go.
 * - requestMs: to the last byte of the body. It bounds receiving the request only: once a request
 *   has arrived, its answer may take as long as it takes, so the API's and MCP's waits for a
 *   decision (up to 60 s) and Slack's acks are untouched. Latch's bodies are at most 1 MiB.
 * - checkEveryMs: Node enforces both by looking over its connections this often; at its default
 *   (30 s) a request trickled in could hold its connection for requestMs + 30 s.
 * - keepAliveMs: how long an idle connection is kept for the next request. Above the idle timeout
 *   of the load balancers put in front of Latch (60 s for AWS's ALB and nginx's upstream
 *   keep-alive by default): when Latch closed first (Node's default is 5 s), a request the
 *   balancer sent on a connection just as Latch closed it failed with a 502, Slack's included.
 */
export interface HttpTimeouts {
  headersMs: number;
  requestMs: number;
  checkEveryMs: number;
  keepAliveMs: number;
}

export const HTTP_TIMEOUTS: HttpTimeouts = { headersMs: 10_000, requestMs: 30_000, checkEveryMs: 1_000, keepAliveMs: 65_000 };

/** Answers a request; a rejection is logged and answered 500 by the server. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpServerOptions {
  port: number;
  host?: string;
  /** Handles Slack's requests (Bolt's receiver); absent in a worker, which answers only probes. */
  slack?: RequestListener;
  /** Answers `GET /readyz`: 200 when ready, 503 otherwise, with each check in JSON. */
  readiness?: () => Promise<{ ready: boolean; checks: Record<string, string> }>;
  /** Answers `GET /metrics` in Prometheus' text format (LatchMetrics.scrape). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Serves every path under `prefix` (the machines' API, `/api/v1`); absent in a worker. */
  api?: { prefix: string; serve: RequestListener };
  /** Serves `POST <path>` (`/mcp`), the MCP endpoint for AI agents; absent in a worker. */
  mcp?: { path: string; serve: RequestListener };
  logger: Logger;
  /** HTTP_TIMEOUTS unless given: tests shorten them to see them act. */
  timeouts?: HttpTimeouts;
}

/**
 * The HTTP front door: Slack's requests go to Bolt (`POST /slack/events`), `GET /healthz` answers
 * that the process is alive, `GET /readyz` whether it can do its work, `GET /metrics` gives
 * Prometheus its numbers. Anything else gets a plain 404, or 405 with Allow for a wrong method on
 * one of these paths; nothing else reaches Bolt, whose listener throws for what it does not route.
 * No request can end the process: whatever a handler throws or rejects with is logged and answered
 * 500, without its details. Each request runs in its own log context, so every line logged while
 * handling it, by Latch or by Bolt, carries the same `requestId`.
 */
export async function startHttpServer({ port, host, slack, readiness, metrics, api, mcp, logger, timeouts = HTTP_TIMEOUTS }: HttpServerOptions): Promise<Server> {
  const requests = { inProgress: 0 };
  const routes = routesOf({ slack, readiness, metrics, mcp, logger });
  const refusals = new RefusalLog(logger);
  // No cap on connections (maxConnections): a cap is a number an attacker fills to lock Slack and
  // the probes out too; the timeouts make each connection cost its holder, and a proxy in front
  // (TLS ends there) is the place to cap connections per client. Headers stay within Node's 16 KiB.
  const serverOptions = { headersTimeout: timeouts.headersMs, requestTimeout: timeouts.requestMs, connectionsCheckingInterval: timeouts.checkEveryMs, keepAliveTimeout: timeouts.keepAliveMs };
  const server = createServer(serverOptions, (req, res) => {
    const requestId = randomUUID();
    const startedAt = process.hrtime.bigint();
    const path = requestPathOf(req);
    const underApi = api !== undefined && path !== null && path.startsWith(`${api.prefix}/`);
    requests.inProgress += 1;
    res.once('close', () => (requests.inProgress -= 1));
    withLogContext({ requestId }, () => {
      res.setHeader('x-request-id', requestId);
      // Closed by drainHttpServer, yet a request came on a connection opened before: answer it
      // as a process going away, and have the client reconnect (elsewhere) for the next one.
      const draining = !server.listening;
      if (draining) res.setHeader('connection', 'close');
      res.on('finish', () => {
        const level = accessLogLevel(path, res.statusCode);
        if (!logger.isLevelEnabled(level)) return;
        const durationMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
        // The path only when it is ours: a made-up one (or its query) is not worth a log line's room.
        const loggedPath = path !== null && routes.has(path) ? path : underApi ? api!.prefix : 'other';
        const fields = { method: req.method, path: loggedPath, status: res.statusCode, durationMs, slackRetry: req.headers['x-slack-retry-num'] };
        // Anyone can send requests that are refused before they say who they are, as fast as they
        // like: those lines are summarised per path and status, not written one a request.
        if (level === 'info' && res.statusCode < 500 && !wasAuthenticated(req)) refusals.refused(`http ${loggedPath} ${res.statusCode}`, fields, 'http request', 'info');
        else logger[level](fields, 'http request');
      });
      const routing: ReturnType<typeof routeRequest> = underApi ? { route: { methods: [], serve: api.serve } } : routeRequest(req.method, path, routes);
      if (!('route' in routing)) {
        refuse(res, routing.status, routing.allow);
        return;
      }
      if (draining && path !== '/healthz') {
        // Slack retries what was not acknowledged; the work is left to a process that stays.
        const report = { ready: false, checks: { shutdown: 'shutting down' } };
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify(report));
        return;
      }
      serveSafely(routing.route, req, res, logger);
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

const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The level of a request's access line. A request refused or failed (4xx, 5xx) is logged at info,
 * except a probe's; a 4xx of a request whose sender was never authenticated is summarised with
 * the others of its path and status (RefusalLog). A Slack request answered is logged at debug:
 * what it did is logged at info by its use case ('access requested', 'decision recorded', a
 * refusal), with the same requestId, and a line for each ack besides would double the log and its
 * cost per request under load. Probes and scrapes arrive every few seconds: at info they would
 * drown everything else.
 */
function accessLogLevel(path: string | null, status: number): 'debug' | 'info' {
  if (path !== null && PROBES.has(path)) return 'debug';
  return status >= 400 ? 'info' : 'debug';
}

function routesOf({ slack, readiness, metrics, mcp, logger }: Omit<HttpServerOptions, 'port' | 'host'>): Map<string, Route> {
  const routes = new Map<string, Route>();
  routes.set('/healthz', { methods: ['GET'], serve: (_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n') });
  if (readiness) {
    routes.set('/readyz', {
      methods: ['GET'],
      serve: async (_req, res) => {
        const report = await readiness().catch(() => ({ ready: false, checks: {} }));
        res.writeHead(report.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(report));
      },
    });
  }
  if (metrics) {
    routes.set('/metrics', {
      methods: ['GET'],
      serve: async (_req, res) => {
        let scraped;
        try {
          scraped = await metrics();
        } catch (error) {
          logger.error({ err: error }, 'could not gather the metrics');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('could not gather the metrics\n');
          return;
        }
        res.writeHead(200, { 'content-type': scraped.contentType }).end(scraped.body);
      },
    });
  }
  const jobsOnly: RequestListener = (_req, res) => void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: this process runs jobs only\n');
  routes.set(SLACK_EVENTS_PATH, { methods: ['POST'], serve: slack ?? jobsOnly });
  // Stateless MCP has no stream to GET and no session to DELETE: a client is told 405 and goes on.
  if (mcp) routes.set(mcp.path, { methods: ['POST'], serve: mcp.serve });
  return routes;
}

/** A plain-text 4xx for a request Latch does not serve; the body of the request is not read. */
function refuse(res: ServerResponse, status: 400 | 404 | 405, allow: string | undefined): void {
  const text = { 400: 'bad request\n', 404: 'not found\n', 405: 'method not allowed\n' }[status];
  res.writeHead(status, { 'content-type': 'text/plain', ...(allow !== undefined ? { allow } : {}) }).end(text);
}

/** Runs a route; what it throws or rejects with is logged and answered 500, never rethrown. */
function serveSafely(route: Route, req: IncomingMessage, res: ServerResponse, logger: Logger): void {
  const failed = (error: unknown) => {
    logger.error({ err: error, method: req.method }, 'unexpected error while answering an HTTP request');
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' }).end('internal error\n');
    else res.destroy();
  };
  try {
    const served = route.serve(req, res);
    if (served) served.catch(failed);
  } catch (error) {
    failed(error);
  }
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
