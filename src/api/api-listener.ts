import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logging/logger.ts';
import { authenticateMachine } from '../services/authenticate-machine.ts';
import { endAccessEarly } from '../services/end-access-early.ts';
import { issueCredentials } from '../services/issue-credentials.ts';
import { listOwnAccess, readOwnRequest, type OwnRequest } from '../services/read-own-request.ts';
import { requestAccess } from '../services/request-access.ts';
import type { Refused } from '../services/refusal.ts';
import type { ServiceContext } from '../services/service-context.ts';
import { readLimitedBody } from '../slack/request-body.ts';
import { createRequestBody, type ApiRequestState, type CredentialsResource, type RequestResource } from './api-schemas.ts';
import { API_PREFIX, openApiDocument } from './openapi.ts';
import { sendProblem, statusOfRefusal } from './problem.ts';
import { PrincipalRateLimiter } from './rate-limiter.ts';

/** A request body is a few short fields: far more than this is not a request for access. */
const MAX_BODY_BYTES = 16 * 1024;

interface Caller {
  requesterId: string;
  machineId: string;
  tokenId: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, caller: Caller, id: string | undefined) => Promise<void>;

/**
 * `/api/v1`: machines ask for access with a bearer token and call the same use cases Slack's
 * listeners call; people still decide in Slack. Every call is authenticated (token.ts rules),
 * rate-limited per machine, and answered with JSON or a problem+json refusal.
 */
export function createApiListener({ services, logger, limiter = new PrincipalRateLimiter() }: { services: ServiceContext; logger: Logger; limiter?: PrincipalRateLimiter }) {
  const openapi = JSON.stringify(openApiDocument());
  const routes: Array<{ pattern: RegExp; methods: Record<string, Handler> }> = [
    { pattern: /^\/requests$/, methods: { POST: createRequest } },
    { pattern: /^\/requests\/([^/]+)$/, methods: { GET: getRequest } },
    { pattern: /^\/requests\/([^/]+)\/release$/, methods: { POST: releaseRequest } },
    { pattern: /^\/requests\/([^/]+)\/credentials$/, methods: { POST: fetchCredentials } },
    { pattern: /^\/access$/, methods: { GET: listAccess } },
    // Said plainly, rather than "not found", to a machine (or a person holding its token) that tries.
    { pattern: /^\/requests\/([^/]+)\/(?:approve|deny|review)$/, methods: { POST: refuseDecision } },
  ];

  async function refuseDecision(_req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    logger.warn({ machine: caller.machineId, tokenId: caller.tokenId }, 'a machine tried to decide a request');
    sendProblem(res, 403, 'not_approver', 'Machines can never approve, deny or review requests: only people decide, in Slack.');
  }

  async function createRequest(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const body = await readJsonBody(req, res);
    if (body === undefined) return;
    const parsed = createRequestBody.safeParse(body);
    if (!parsed.success) {
      const errors = Object.fromEntries(parsed.error.issues.map((issue) => [issue.path.join('.') || 'body', issue.message]));
      sendProblem(res, 422, 'invalid_body', `The body is not a valid request: ${Object.entries(errors).map(([field, message]) => `${field}: ${message}`).join('; ')}.`, { errors });
      return;
    }
    const { resource, role, duration, reason, ticket } = parsed.data;
    const made = await requestAccess(services, { requesterId: caller.requesterId, resourceId: resource, role, duration, reason, ticket: ticket ?? null, tokenId: caller.tokenId });
    if (!made.ok) return refused(res, made);
    await answerRequest(res, caller, made.requestId, 201);
  }

  async function getRequest(_req: IncomingMessage, res: ServerResponse, caller: Caller, id: string | undefined): Promise<void> {
    await answerRequest(res, caller, id!, 200);
  }

  async function releaseRequest(_req: IncomingMessage, res: ServerResponse, caller: Caller, id: string | undefined): Promise<void> {
    // Only the caller's own: another's request answers as one that does not exist.
    const own = await readOwnRequest(services, { requesterId: caller.requesterId, requestId: id! });
    if (!own.ok) return refused(res, own);
    const ended = await endAccessEarly(services, { requestId: id!, userId: caller.requesterId, tokenId: caller.tokenId });
    if (!ended.ok) return refused(res, ended);
    await answerRequest(res, caller, id!, 200);
  }

  async function fetchCredentials(_req: IncomingMessage, res: ServerResponse, caller: Caller, id: string | undefined): Promise<void> {
    const issued = await issueCredentials(services, { requestId: id!, requesterId: caller.requesterId, tokenId: caller.tokenId });
    if (!issued.ok) return refused(res, issued);
    const { credentials } = issued;
    // The password is in this answer and nowhere else: the body is never logged, and no-store keeps it out of caches.
    const body: CredentialsResource = { ...credentials, validUntil: iso(credentials.validUntil) };
    sendJson(res, 200, body);
  }

  async function listAccess(_req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const access = await listOwnAccess(services, caller.requesterId);
    sendJson(res, 200, { access: access.map(resourceOf) });
  }

  async function answerRequest(res: ServerResponse, caller: Caller, requestId: string, status: number): Promise<void> {
    const own = await readOwnRequest(services, { requesterId: caller.requesterId, requestId });
    if (!own.ok) return refused(res, own);
    sendJson(res, status, resourceOf(own));
  }

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split(/[?#]/, 1)[0]!.slice(API_PREFIX.length);
    if (path === '/openapi.json') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendProblem(res, 405, 'method_not_allowed', 'Use GET.', { headers: { allow: 'GET, HEAD' } });
      res.writeHead(200, { 'content-type': 'application/json' }).end(openapi);
      return;
    }
    const route = routes.map((candidate) => ({ candidate, match: candidate.pattern.exec(path) })).find(({ match }) => match);
    if (!route) return sendProblem(res, 404, 'not_found', `There is no ${API_PREFIX}${path.slice(0, 100)}: see ${API_PREFIX}/openapi.json.`);
    const handler = route.candidate.methods[req.method ?? ''];
    if (!handler) {
      const allow = Object.keys(route.candidate.methods).join(', ');
      return sendProblem(res, 405, 'method_not_allowed', `Use ${allow} here.`, { headers: { allow } });
    }
    const auth = await authenticateMachine(services, req.headers.authorization);
    if (!auth.ok) {
      // Never the token itself: its id, when it named a real one, is enough to find it.
      logger.warn({ rejection: auth.rejection, tokenId: auth.tokenId, path: route.candidate.pattern.source }, 'API call refused: bad token');
      return sendProblem(res, 401, `token_${auth.rejection}`, auth.message, { headers: { 'www-authenticate': `Bearer realm="latch", error="invalid_token"` } });
    }
    const caller: Caller = { requesterId: auth.requesterId, machineId: auth.machine.id, tokenId: auth.tokenId };
    const wait = limiter.take(caller.requesterId);
    if (wait !== null) {
      return sendProblem(res, 429, 'rate_limited', `Too many calls from ${auth.machine.id}: try again in ${wait} s.`, { headers: { 'retry-after': String(wait) } });
    }
    await handler(req, res, caller, route.match?.[1] === undefined ? undefined : decodeURIComponentSafe(route.match[1]));
  };
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The body as JSON, or undefined once a problem has been answered. */
async function readJsonBody(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  const mediaType = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    sendProblem(res, 415, 'unsupported_media_type', 'Send the body as JSON, with Content-Type: application/json.');
    return undefined;
  }
  const read = await readLimitedBody(req, MAX_BODY_BYTES);
  if (!read.ok) {
    sendProblem(res, read.status, 'unreadable_body', read.status === 413 ? `The body is over ${MAX_BODY_BYTES} bytes.` : 'The body could not be read.', { headers: { connection: 'close' } });
    return undefined;
  }
  try {
    return JSON.parse(read.text) as unknown;
  } catch {
    sendProblem(res, 400, 'malformed_json', 'The body is not valid JSON.');
    return undefined;
  }
}

function refused(res: ServerResponse, { refusal }: Refused): void {
  sendProblem(res, statusOfRefusal(refusal.code), refusal.code, refusal.message, refusal.fields ? { errors: { ...refusal.fields } } : {});
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

const iso = (at: Date | null) => at?.toISOString() ?? null;

function resourceOf(request: OwnRequest): RequestResource {
  const state: ApiRequestState = request.state === 'pending' ? 'pending_approval' : request.state;
  return {
    id: request.id,
    state,
    resource: request.resourceId,
    role: request.role,
    account: request.principal,
    durationSeconds: request.durationSeconds,
    reason: request.reason,
    ticket: request.ticket,
    createdAt: request.createdAt.toISOString(),
    decidedAt: iso(request.decidedAt),
    decidedByRule: request.decidedByRule,
    outcome: request.outcomeReason,
    grant: request.grant ? { grantedAt: iso(request.grant.grantedAt), expiresAt: iso(request.grant.expiresAt), revokedAt: iso(request.grant.revokedAt) } : null,
  };
}
