import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientAddress } from '../api/client-address.ts';
import { FailedTokenChecks, refuseUnchecked } from '../api/failed-token-checks.ts';
import { sendProblem } from '../api/problem.ts';
import { PrincipalRateLimiter } from '../api/rate-limiter.ts';
import type { Logger } from '../logging/logger.ts';
import { RefusalLog } from '../logging/refusal-log.ts';
import { authenticateMachine } from '../services/authenticate-machine.ts';
import type { ServiceContext } from '../services/service-context.ts';
import { markAuthenticated } from '../slack/authenticated-requests.ts';
import { readLimitedBody } from '../slack/request-body.ts';
import type { McpCaller } from './latch-mcp-server.ts';
import { MCP_PATH } from './mcp-path.ts';

/** One JSON-RPC message of an agent: an initialize with its capabilities is a few kB. */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * The MCP SDK and Latch's tools on it, loaded by the first call that gets past the token check,
 * not at start-up: a `latch web` no agent calls never holds them (the SDK and its JSON-schema
 * validators came to about 10 MiB of its heap). A load that fails is tried again by the next call.
 */
let mcpParts: Promise<[typeof import('@modelcontextprotocol/sdk/server/streamableHttp.js'), typeof import('./latch-mcp-server.ts')]> | undefined;
function loadMcpParts() {
  mcpParts ??= Promise.all([import('@modelcontextprotocol/sdk/server/streamableHttp.js'), import('./latch-mcp-server.ts')]).catch((error: unknown) => {
    mcpParts = undefined;
    throw error;
  });
  return mcpParts;
}

/**
 * `POST /mcp`: the MCP Streamable HTTP transport, stateless (no session: each POST is answered on
 * its own, so any `latch web` behind a load balancer can answer any call). Every call is
 * authenticated with a machine's API token, exactly as /api/v1 is, and counted against the same
 * per-machine rate limit (pass /api/v1's limiter), before anything of it is read. Bad tokens are
 * limited per client address (pass /api/v1's failedTokenChecks too).
 */
export function createMcpListener({
  services,
  logger,
  limiter = new PrincipalRateLimiter(),
  stopping,
  trustedProxyHops = 0,
  failedTokenChecks = new FailedTokenChecks(logger),
}: {
  services: ServiceContext;
  logger: Logger;
  limiter?: PrincipalRateLimiter;
  /** Reverse proxies in front of Latch that append to X-Forwarded-For (client-address.ts); 0 when none. */
  trustedProxyHops?: number;
  failedTokenChecks?: FailedTokenChecks;
  /** Aborted when the process begins to shut down: a call waiting for a decision answers at once. */
  stopping?: AbortSignal;
}) {
  // Refusals anyone can send as fast as they like: each kind logged once a minute, with how many more.
  const refusals = new RefusalLog(logger);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // The MCP specification asks servers to check Origin against DNS rebinding. Agents are
    // programs, which send none; a browser always sends one with a POST, so a web page gets no
    // further, whatever it holds, even before a token would stop it.
    if (req.headers.origin !== undefined) {
      refusals.refused('mcp origin', { path: MCP_PATH }, 'MCP call refused: sent from a web page (Origin header)');
      return sendProblem(res, 403, 'origin_refused', "Latch's MCP endpoint answers agents, not web pages: a call with an Origin header is refused.");
    }
    const checked = await failedTokenChecks.check(clientAddress(req, trustedProxyHops), MCP_PATH, () => authenticateMachine(services, req.headers.authorization), (auth) => !auth.ok);
    if (!checked.ok) return refuseUnchecked(res, checked.waitSeconds);
    const auth = checked.result;
    if (!auth.ok) {
      // Never the token itself: its id, when it named a real one, is enough to find it. One line a
      // check: failedTokenChecks already bounds them to 30 an address, then one every 2 s.
      logger.warn({ rejection: auth.rejection, tokenId: auth.tokenId, path: MCP_PATH }, 'MCP call refused: bad token');
      return sendProblem(res, 401, `token_${auth.rejection}`, auth.message, { headers: { 'www-authenticate': `Bearer realm="latch", error="invalid_token"` } });
    }
    markAuthenticated(req);
    const caller: McpCaller = { requesterId: auth.requesterId, machineId: auth.machine.id, tokenId: auth.tokenId };
    const wait = limiter.take(caller.requesterId);
    if (wait !== null) {
      return sendProblem(res, 429, 'rate_limited', `Too many calls from ${auth.machine.id}: try again in ${wait} s.`, { headers: { 'retry-after': String(wait) } });
    }
    const read = await readLimitedBody(req, MAX_BODY_BYTES);
    if (!read.ok) {
      const detail = read.status === 413 ? `The body is over ${MAX_BODY_BYTES} bytes.` : read.status === 415 ? 'Send the body as JSON, with Content-Type: application/json.' : 'The body could not be read.';
      return sendProblem(res, read.status, 'unreadable_body', detail, { headers: { connection: 'close' } });
    }
    let body: unknown;
    try {
      body = JSON.parse(read.text) as unknown;
    } catch {
      return sendProblem(res, 400, 'malformed_json', 'The body is not valid JSON.');
    }

    const [{ StreamableHTTPServerTransport }, { createLatchMcpServer }] = await loadMcpParts();
    const hangUp = new AbortController();
    const ending = stopping ? AbortSignal.any([hangUp.signal, stopping]) : hangUp.signal;
    const server = createLatchMcpServer({ services, logger, caller, ending });
    // Stateless: no session id, and plain JSON answers (nothing is streamed back to an agent).
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.once('close', () => {
      hangUp.abort();
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };
}
